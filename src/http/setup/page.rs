//! The page's HTML: one layout (inline CSS, no script, no external asset), one escaping
//! helper for everything that comes from a person, a configuration or a provider.

use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// Escape text for HTML element content and double- or single-quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Dark text on white and a dark blue accent: every pair is above WCAG AA's 4.5:1.
const CSS: &str = "body{font-family:system-ui,sans-serif;color:#1a1a1a;background:#fff;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}\
h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem}\
a{color:#0b4f9c}button,.button{background:#0b4f9c;color:#fff;border:0;border-radius:4px;padding:.5rem 1rem;font-size:1rem;cursor:pointer;text-decoration:none;display:inline-block}\
button.danger{background:#a4161a}\
input[type=text]{font-size:1rem;padding:.4rem;border:1px solid #555;border-radius:4px;min-width:16rem}\
label{display:block;font-weight:600;margin-bottom:.25rem}\
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.4rem;border-bottom:1px solid #bbb}\
code,.secret{font-family:ui-monospace,monospace;background:#f1f1f1;padding:.1rem .3rem;word-break:break-all}\
.notice{border-left:4px solid #0b4f9c;padding:.5rem 1rem;background:#eef4fb}\
.error{border-left:4px solid #a4161a;padding:.5rem 1rem;background:#fbeeee}\
.qr svg{width:220px;height:220px}form.inline{display:inline}";

/// The `Content-Security-Policy`: no script at all, the one stylesheet by its hash, forms
/// only to this origin, never in a frame.
pub fn csp() -> &'static str {
    static CSP: OnceLock<String> = OnceLock::new();
    CSP.get_or_init(|| {
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(CSS));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; img-src 'self' data:; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
    })
}

/// A whole page: `title` (escaped here) and `body` (already HTML).
pub fn layout(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{t} · crmdav</title><style>{CSS}</style></head>\
<body><main>\n<h1>{t}</h1>\n{body}\n</main></body></html>\n",
        t = escape(title)
    )
}

/// A page that says one thing and offers one link.
pub fn message(title: &str, text: &str, link: Option<(&str, &str)>) -> String {
    let link = link
        .map(|(href, label)| {
            format!(
                "<p><a class=\"button\" href=\"{}\">{}</a></p>",
                escape(href),
                escape(label)
            )
        })
        .unwrap_or_default();
    layout(
        title,
        &format!(
            "<p class=\"error\" role=\"alert\">{}</p>{link}",
            escape(text)
        ),
    )
}

/// A page that reports success.
pub fn message_ok(title: &str, text: &str) -> String {
    layout(
        title,
        &format!("<p class=\"notice\" role=\"status\">{}</p>", escape(text)),
    )
}

/// The sign-in page of a tenant.
pub fn sign_in(tenant: &str, notice: Option<&str>) -> String {
    let notice = notice
        .map(|n| format!("<p class=\"notice\" role=\"status\">{}</p>", escape(n)))
        .unwrap_or_default();
    layout(
        "Set up your phone",
        &format!(
            "{notice}<p>Sign in with your company account to see your calendars and address \
books and to connect a phone or a computer.</p>\
<p><a class=\"button\" id=\"sign-in\" href=\"/setup/{}/login\">Sign in</a></p>",
            escape(tenant)
        ),
    )
}

/// A collection as the page lists it.
pub struct CollectionView {
    /// Display name.
    pub name: String,
    /// "Calendar" or "Address book".
    pub kind: &'static str,
    /// Absolute URL.
    pub url: String,
}

/// A device as the page lists it.
pub struct DeviceView {
    /// Public id.
    pub id: String,
    /// Label.
    pub label: String,
    /// Created, as text.
    pub created: String,
    /// Last used, as text.
    pub last_used: String,
}

/// The secret just created, shown once.
pub struct CreatedView {
    /// Device id (names the profile to download).
    pub id: String,
    /// Its label.
    pub label: String,
    /// The app password.
    pub password: String,
    /// The DAVx5 link.
    pub davx5: String,
    /// The link as an inline SVG QR code.
    pub qr: Option<String>,
}

/// The person's own CRM credential, as the page shows it.
pub enum CrmAccountView {
    /// In use (`read_only`: their CRM role may only read).
    Working {
        /// Whether the role may only read.
        read_only: bool,
    },
    /// The CRM refused it.
    Refused {
        /// When, as text.
        at: String,
        /// The CRM's reason.
        reason: String,
    },
}

/// What the signed-in page shows.
pub struct Dashboard<'a> {
    /// Tenant name.
    pub tenant: &'a str,
    /// Who is signed in.
    pub user: &'a str,
    /// Their login name for clients.
    pub login: &'a str,
    /// Their email.
    pub email: &'a str,
    /// The session's CSRF token.
    pub csrf: &'a str,
    /// Server URL for other clients.
    pub server_url: &'a str,
    /// Collections.
    pub collections: Vec<CollectionView>,
    /// Devices.
    pub devices: Vec<DeviceView>,
    /// A secret just created.
    pub created: Option<CreatedView>,
    /// A notice (a device revoked, a label refused).
    pub notice: Option<String>,
    /// The person's own CRM credential, when they have one.
    pub crm_account: Option<CrmAccountView>,
    /// Whether the page offers connecting a CRM account (OAuth on the person's behalf).
    pub crm_connect: bool,
}

fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        escape(csrf)
    )
}

/// The signed-in page.
pub fn dashboard(d: &Dashboard<'_>) -> String {
    let t = escape(d.tenant);
    let mut b = String::new();
    b.push_str(&format!(
        "<div><p>Signed in as <strong>{}</strong> ({}).</p>\
<form method=\"post\" action=\"/setup/{t}/logout\">{}<button type=\"submit\" id=\"sign-out\">Sign out</button></form></div>",
        escape(d.user),
        escape(d.email),
        csrf_field(d.csrf)
    ));
    if let Some(n) = &d.notice {
        b.push_str(&format!(
            "<p class=\"notice\" role=\"status\">{}</p>",
            escape(n)
        ));
    }
    if let Some(c) = &d.created {
        b.push_str(&created(d, c));
    }
    match &d.crm_account {
        None => {}
        Some(CrmAccountView::Working { read_only }) => b.push_str(&format!(
            "<h2>Your CRM account</h2><p id=\"crm-account\">Your calendars and address books use your own CRM account{}.</p>",
            if *read_only {
                ", whose role may only read: they are read-only on your phone"
            } else {
                ""
            }
        )),
        Some(CrmAccountView::Refused { at, reason }) => b.push_str(&format!(
            "<h2>Your CRM account</h2><p class=\"notice\" role=\"alert\" id=\"crm-account\">Your CRM account was refused at {}: {}. \
Your phone keeps showing what it had, and changes cannot be saved; connect again{}.</p>",
            escape(at),
            escape(reason),
            if d.crm_connect {
                " below"
            } else {
                " (ask your administrator for a new CRM token)"
            }
        )),
    }
    if d.crm_connect {
        if d.crm_account.is_none() {
            b.push_str("<h2>Your CRM account</h2><p id=\"crm-account\">Your calendars and address books use the company's CRM access. Connect your own CRM account so that they show what the CRM lets you see and your changes carry your name.</p>");
        }
        b.push_str(&format!(
            "<form method=\"post\" action=\"/setup/{t}/crm/connect\">{}<button type=\"submit\" id=\"crm-connect\">{}</button></form>",
            csrf_field(d.csrf),
            if matches!(d.crm_account, Some(CrmAccountView::Working { .. })) {
                "Connect again"
            } else {
                "Connect your CRM account"
            }
        ));
    }
    b.push_str("<h2>Your calendars and address books</h2>");
    if d.collections.is_empty() {
        b.push_str("<p>None yet.</p>");
    } else {
        b.push_str("<table><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Kind</th><th scope=\"col\">URL</th></tr></thead><tbody>");
        for c in &d.collections {
            b.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
                escape(&c.name),
                c.kind,
                escape(&c.url)
            ));
        }
        b.push_str("</tbody></table>");
    }
    b.push_str(&format!(
        "<h2>Connect a device</h2>\
<form method=\"post\" action=\"/setup/{t}/devices\">{}\
<label for=\"label\">Device name</label>\
<input type=\"text\" id=\"label\" name=\"label\" required maxlength=\"64\" placeholder=\"e.g. Work iPhone\"> \
<button type=\"submit\" id=\"create\">Create an app password</button></form>",
        csrf_field(d.csrf)
    ));
    b.push_str("<h2>Your devices</h2>");
    if d.devices.is_empty() {
        b.push_str("<p>No device is connected.</p>");
    } else {
        b.push_str("<table><thead><tr><th scope=\"col\">Device</th><th scope=\"col\">Created</th><th scope=\"col\">Last used</th><th scope=\"col\"><span>Action</span></th></tr></thead><tbody>");
        for dev in &d.devices {
            let id = escape(&dev.id);
            b.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>\
<form class=\"inline\" method=\"post\" action=\"/setup/{t}/devices/{id}/revoke\">{}\
<button type=\"submit\" class=\"danger\" id=\"revoke-{id}\" aria-label=\"Revoke {}\">Revoke</button></form></td></tr>",
                escape(&dev.label),
                escape(&dev.created),
                escape(&dev.last_used),
                csrf_field(d.csrf),
                escape(&dev.label),
            ));
        }
        b.push_str("</tbody></table>");
    }
    layout("Set up your phone", &b)
}

fn created(d: &Dashboard<'_>, c: &CreatedView) -> String {
    let t = escape(d.tenant);
    let qr = c
        .qr
        .as_deref()
        .map(|svg| {
            // The SVG goes inline: drop its XML declaration.
            let svg = svg.find("<svg").map(|i| &svg[i..]).unwrap_or(svg);
            format!("<figure class=\"qr\" role=\"img\" aria-label=\"QR code for DAVx5\">{svg}<figcaption>Scan with the phone's camera to open DAVx5.</figcaption></figure>")
        })
        .unwrap_or_default();
    format!(
        "<section aria-labelledby=\"new-device\"><h2 id=\"new-device\">App password for {label}</h2>\
<p class=\"notice\" role=\"status\">This password is shown only now. Set the device up before you leave this page.</p>\
<h3>iPhone, iPad or Mac</h3>\
<form method=\"post\" action=\"/setup/{t}/profile\">{csrf}<input type=\"hidden\" name=\"device\" value=\"{id}\">\
<button type=\"submit\" id=\"profile\">Download the configuration profile</button></form>\
<h3>Android (DAVx5)</h3>{qr}<p><a id=\"davx5\" href=\"{davx5}\">Open in DAVx5</a></p>\
<h3>Other apps</h3><dl><dt>Server URL</dt><dd><code id=\"server-url\">{server}</code></dd>\
<dt>User name</dt><dd><code id=\"login\">{login}</code></dd>\
<dt>Password</dt><dd><code class=\"secret\" id=\"password\">{password}</code></dd></dl></section>",
        label = escape(&c.label),
        csrf = csrf_field(d.csrf),
        id = escape(&c.id),
        davx5 = escape(&c.davx5),
        server = escape(d.server_url),
        login = escape(d.login),
        password = escape(&c.password),
    )
}

/// The Login Flow v2 consent page.
pub fn consent(tenant: &str, flow: &str, device: &str, user: &str, csrf: &str) -> String {
    layout(
        "Connect an app",
        &format!(
            "<p><strong>{}</strong> asks to sync the calendars and address books of <strong>{}</strong>.</p>\
<form method=\"post\" action=\"/setup/{}/flow/{}\">{}\
<button type=\"submit\" id=\"allow\">Allow</button></form>",
            escape(device),
            escape(user),
            escape(tenant),
            escape(flow),
            csrf_field(csrf)
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_policy() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert!(csp().contains("style-src 'sha256-") && !csp().contains("script"));
        let p = sign_in("t<x>", Some("bye"));
        assert!(p.contains("lang=\"en\"") && p.contains("/setup/t&lt;x&gt;/login"));
    }
}
