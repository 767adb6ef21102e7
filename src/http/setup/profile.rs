//! What a phone is set up with: an Apple configuration profile (a CalDAV and a CardDAV
//! account payload), the `davx5://` link DAVx5 opens (DAVx5 reads `davx5://`, `caldavs://`
//! and `carddavs://` as https, `caldav://` as http, and takes `user:password` from the user
//! info), and that link as a QR code in inline SVG.
//!
//! The profile is unsigned: iOS shows it as "Not Verified", which is expected for a profile
//! served by the organisation's own gateway over TLS.

use super::page::escape;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Where and as whom a phone connects.
pub struct Account<'a> {
    /// The gateway's public URL (`https://dav.example.com`).
    pub public_url: &'a str,
    /// The login name (`alice@acme`).
    pub login: &'a str,
    /// The app password.
    pub password: &'a str,
    /// The device label (the profile's description).
    pub label: &'a str,
    /// Principal URL path (`/dav/principals/alice/`).
    pub principal: &'a str,
}

/// Host, port and TLS flag of a public URL.
fn host_port(public_url: &str) -> (String, u16, bool) {
    let tls = public_url.starts_with("https://");
    let rest = public_url
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(public_url);
    let authority = rest.split('/').next().unwrap_or(rest);
    let default = if tls { 443 } else { 80 };
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse() {
            Ok(port) => (h.to_string(), port, tls),
            Err(_) => (authority.to_string(), default, tls),
        },
        _ => (authority.to_string(), default, tls),
    }
}

/// A reverse-DNS identifier part from a host name.
fn reverse_dns(host: &str) -> String {
    let mut parts: Vec<String> = host
        .split('.')
        .map(|p| {
            p.chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect()
        })
        .filter(|p: &String| !p.is_empty())
        .collect();
    parts.reverse();
    if parts.is_empty() {
        "crmdav".into()
    } else {
        parts.join(".")
    }
}

/// The `.mobileconfig` (an XML property list), served as `application/x-apple-aspen-config`.
pub fn mobileconfig(a: &Account<'_>) -> String {
    let (host, port, tls) = host_port(a.public_url);
    let base = reverse_dns(&host);
    let uuid = || uuid::Uuid::new_v4().to_string().to_uppercase();
    let ssl = if tls { "<true/>" } else { "<false/>" };
    let (login, password, principal) = (escape(a.login), escape(a.password), escape(a.principal));
    let label = escape(a.label);
    let payload = |kind: &str, what: &str| {
        format!(
            "    <dict>
      <key>PayloadType</key><string>com.apple.{kind}.account</string>
      <key>PayloadVersion</key><integer>1</integer>
      <key>PayloadIdentifier</key><string>{base}.crmdav.{kind}.{id}</string>
      <key>PayloadUUID</key><string>{id}</string>
      <key>PayloadDisplayName</key><string>{what} ({label})</string>
      <key>{Kind}AccountDescription</key><string>{what}</string>
      <key>{Kind}HostName</key><string>{host}</string>
      <key>{Kind}Port</key><integer>{port}</integer>
      <key>{Kind}UseSSL</key>{ssl}
      <key>{Kind}PrincipalURL</key><string>{principal}</string>
      <key>{Kind}Username</key><string>{login}</string>
      <key>{Kind}Password</key><string>{password}</string>
    </dict>
",
            id = uuid(),
            Kind = if kind == "caldav" {
                "CalDAV"
            } else {
                "CardDAV"
            },
            host = escape(&host),
        )
    };
    let top = uuid();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>PayloadContent</key>
  <array>
{cal}{card}  </array>
  <key>PayloadDisplayName</key><string>Calendars and contacts ({label})</string>
  <key>PayloadDescription</key><string>CalDAV and CardDAV accounts for {login}</string>
  <key>PayloadIdentifier</key><string>{base}.crmdav.{top}</string>
  <key>PayloadType</key><string>Configuration</string>
  <key>PayloadUUID</key><string>{top}</string>
  <key>PayloadVersion</key><integer>1</integer>
  <key>PayloadRemovalDisallowed</key><false/>
</dict>
</plist>
"#,
        cal = payload("caldav", "Calendars"),
        card = payload("carddav", "Contacts"),
    )
}

/// Characters escaped in the user info of the DAVx5 link (`@` and `:` above all).
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// The link DAVx5 opens with the account filled in.
pub fn davx5_link(a: &Account<'_>) -> String {
    let (host, port, tls) = host_port(a.public_url);
    let scheme = if tls { "davx5" } else { "caldav" };
    let default = if tls { 443 } else { 80 };
    let authority = if port == default {
        host
    } else {
        format!("{host}:{port}")
    };
    format!(
        "{scheme}://{}:{}@{authority}{}",
        utf8_percent_encode(a.login, USERINFO),
        utf8_percent_encode(a.password, USERINFO),
        crate::tree::CONTEXT
    )
}

/// `text` as a QR code, an inline SVG (no external asset).
pub fn qr_svg(text: &str) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account<'static> {
        Account {
            public_url: "https://dav.example.com",
            login: "alice@acme",
            password: "0123456789-abcdefghjkmnpqrstvwxyz0123",
            label: "Alice's <phone>",
            principal: "/dav/principals/alice/",
        }
    }

    #[test]
    fn host_port_and_tls() {
        assert_eq!(host_port("https://a.b"), ("a.b".into(), 443, true));
        assert_eq!(
            host_port("http://127.0.0.1:8080/x"),
            ("127.0.0.1".into(), 8080, false)
        );
    }

    #[test]
    fn profile_escapes_and_carries_both_payloads() {
        let p = mobileconfig(&account());
        assert!(p.contains("com.apple.caldav.account") && p.contains("com.apple.carddav.account"));
        assert!(p.contains("Alice&#39;s &lt;phone&gt;"));
        assert!(p.contains("<key>CalDAVPort</key><integer>443</integer>"));
        assert!(p.contains("<key>CardDAVUseSSL</key><true/>"));
    }

    #[test]
    fn davx5_link_and_qr() {
        let l = davx5_link(&account());
        assert_eq!(
            l,
            "davx5://alice%40acme:0123456789-abcdefghjkmnpqrstvwxyz0123@dav.example.com/dav/"
        );
        let svg = qr_svg(&l).unwrap();
        assert!(svg.starts_with("<?xml") || svg.starts_with("<svg"));
    }
}
