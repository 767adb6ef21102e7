//! The sign-in page over HTTP, against a real OpenID Connect provider (oidc-provider under
//! Node, support/oidc.rs) and the real binary: sign-in, app passwords, the profile, revoke;
//! and every "bad input and failure" rule: a replayed or wrong `state`, a forged form post,
//! an expired session, an identity that matches nobody, an unverified email; and DAVx5's
//! Login Flow v2; and `crmdav revoke --all` ending a person's app passwords and page
//! sessions. One provider and one gateway per process, with four tenants: `acme`
//! (fifteen-minute sessions), `brief` (one-second sessions, for expiry), `ops` (for the
//! revoke, so it touches no other test's people) and `down` (its provider does not answer).

use crate::support::gateway::{bin, free_port, Gateway, StateDir};
use crate::support::oidc::{node_present, required, Provider};
use reqwest::blocking::{Client, Response};
use reqwest::{Method, StatusCode};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const CLIENT_ID: &str = "crmdav-test";
pub const CLIENT_SECRET: &str = "test-client-secret-3f9a";

/// The provider's users: alice and bob are people of both tenants (alice's email differs in
/// case from the tenant file's), mallory is nobody, eve claims bob's email unverified.
pub const USERS: &str = r#"{
  "alice": {"email": "alice@example.com", "email_verified": true},
  "bob": {"email": "bob@example.com", "email_verified": true},
  "mallory": {"email": "mallory@example.com", "email_verified": true},
  "eve": {"email": "bob@example.com", "email_verified": false}
}"#;

/// A CRM that refuses every credential as amagi does (401 `missing or invalid bearer
/// token`), on a loopback port, for the life of the process: the `refused` tenant's CRM.
fn refusing_crm() -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr");
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            let mut buf = [0u8; 8192];
            let mut got = Vec::new();
            while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                }
            }
            let body = r#"{"detail":"missing or invalid bearer token"}"#;
            let _ = write!(
                s,
                "HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\nwww-authenticate: Bearer\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    format!("http://{addr}/api")
}

/// Tenant `refused`: alice on her own amagi token, which the CRM refuses.
fn refused_tenant_file(crm: &str, issuer: &str, base: &str) -> String {
    format!(
        r#"name = "refused"
[connector]
kind = "amagi-crm"
options = {{ base_url = "{crm}", token = "acrm_service-token" }}
[[users]]
name = "alice"
email = "Alice@Example.com"
crm_token = "acrm_alice-revoked-token"
[[collections]]
id = "meetings"
kind = "calendar"
entity = "appointments"
users = ["alice"]
[oidc]
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret_file = "../oidc-client-secret"
public_url = "{base}"
allowed_domains = ["example.com"]
"#
    )
}

/// One provider and one gateway for the process.
pub struct Fixture {
    /// The gateway's URL.
    pub base: String,
    /// Its config file.
    pub config: PathBuf,
    /// The provider.
    pub provider: Provider,
    /// The CRM (and its OAuth endpoints) of tenant `crmoauth` (setup_crm.rs mounts on it).
    pub crm: wiremock::MockServer,
    /// The gateway's state file, and its `secrets_key` (hex).
    pub state_db: PathBuf,
    pub secrets_key: String,
    gateway: Gateway,
}

impl Fixture {
    /// The gateway's log.
    pub fn log(&self) -> String {
        self.gateway.log()
    }
}

pub fn tenant_file(name: &str, issuer: &str, base: &str, session_secs: u64) -> String {
    format!(
        r#"name = "{name}"
connector = "local"
[[users]]
name = "alice"
email = "Alice@Example.com"
display_name = "Alice Example"
[[users]]
name = "bob"
email = "bob@example.com"
[[collections]]
id = "work"
kind = "calendar"
display_name = "Work calendar"
components = ["VEVENT"]
users = ["alice", "bob"]
[[collections]]
id = "people"
kind = "addressbook"
display_name = "Customers"
users = ["alice", "bob"]
[oidc]
issuer = "{issuer}"
client_id = "{CLIENT_ID}"
client_secret_file = "../oidc-client-secret"
public_url = "{base}"
session_secs = {session_secs}
allowed_domains = ["example.com"]
"#
    )
}

/// The shared provider and gateway; `None` (after a note) when Node is missing outside CI.
pub fn fixture() -> Option<&'static Fixture> {
    static F: OnceLock<Option<Fixture>> = OnceLock::new();
    crate::support::oidc::tls();
    F.get_or_init(|| {
        if !required("node/npm", node_present(), "the sign-in tests run oidc-provider") {
            return None;
        }
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let redirects: Vec<String> = ["acme", "brief", "refused", "crmoauth", "ops"]
            .iter()
            .map(|t| format!("{base}/setup/{t}/callback"))
            .collect();
        let provider = Provider::start(CLIENT_ID, CLIENT_SECRET, &redirects, USERS);
        let dir = StateDir::for_process("setup");
        let secrets_key = "5e".repeat(32);
        let crm = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(wiremock::MockServer::start());
        std::fs::write(
            dir.join("crmdav.toml"),
            format!(
                "state = \"sqlite://{}\"\ndefault_tenant = \"acme\"\nsecrets_key = \"{secrets_key}\"\nconnectors_dir = \"{fixtures}/connectors\"\nmappings_dir = \"{fixtures}/mappings\"\n[auth]\nuser_address_failures = 1000\naddress_failures = 1000\nuser_failures = 1000\n",
                dir.join("state.db").display(),
                fixtures = crate::support::gateway::repo("tests/fixtures/person-oauth").display(),
            ),
        )
        .expect("write crmdav.toml");
        std::fs::write(dir.join("oidc-client-secret"), format!("{CLIENT_SECRET}\n"))
            .expect("write the client secret");
        let tenants = dir.join("tenants");
        std::fs::create_dir_all(&tenants).expect("tenants folder");
        // `down`'s provider is a port nobody listens on.
        let nowhere = format!("http://127.0.0.1:{}", free_port());
        for (name, issuer, secs) in [
            ("acme", &provider.issuer, 900),
            ("brief", &provider.issuer, 1),
            ("ops", &provider.issuer, 900),
            ("down", &nowhere, 900),
        ] {
            std::fs::write(
                tenants.join(format!("{name}.toml")),
                tenant_file(name, issuer, &base, secs),
            )
            .expect("write a tenant file");
        }
        std::fs::write(
            tenants.join("refused.toml"),
            refused_tenant_file(&refusing_crm(), &provider.issuer, &base),
        )
        .expect("write a tenant file");
        std::fs::write(
            tenants.join("crmoauth.toml"),
            crate::setup_crm::tenant_file(&crm.uri(), &provider.issuer, &base),
        )
        .expect("write a tenant file");
        let gateway = Gateway::new(&dir, port).start();
        Some(Fixture {
            base,
            config: dir.join("crmdav.toml"),
            provider,
            crm,
            state_db: dir.join("state.db"),
            secrets_key,
            gateway,
        })
    })
    .as_ref()
}

/// A browser without a browser: one cookie jar for the gateway and the provider (cookies are
/// per host, not per port), redirects followed by hand.
pub struct Web {
    http: Client,
    jar: BTreeMap<String, String>,
}

impl Default for Web {
    fn default() -> Self {
        Web::new()
    }
}

impl Web {
    /// An empty jar.
    pub fn new() -> Web {
        Web {
            http: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(30))
                .build()
                .expect("HTTP client"),
            jar: BTreeMap::new(),
        }
    }

    fn keep(&mut self, r: &Response) {
        for v in r.headers().get_all("set-cookie") {
            let Ok(v) = v.to_str() else { continue };
            let pair = v.split(';').next().unwrap_or("");
            if let Some((k, val)) = pair.split_once('=') {
                let expired = v.to_ascii_lowercase().contains("max-age=0")
                    || v.to_ascii_lowercase().contains("expires=thu, 01 jan 1970");
                if expired || val.is_empty() {
                    self.jar.remove(k.trim());
                } else {
                    self.jar.insert(k.trim().to_string(), val.to_string());
                }
            }
        }
    }

    fn cookies(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A cookie's value.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.jar.get(name).map(String::as_str)
    }

    /// GET with the jar.
    pub fn get(&mut self, url: &str) -> Response {
        let r = self
            .http
            .get(url)
            .header("cookie", self.cookies())
            .send()
            .expect("GET");
        self.keep(&r);
        r
    }

    /// POST a form with the jar.
    pub fn post(&mut self, url: &str, form: &[(&str, &str)]) -> Response {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let r = self
            .http
            .post(url)
            .header("cookie", self.cookies())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .expect("POST");
        self.keep(&r);
        r
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `Location` of a redirect, absolute.
pub fn location(r: &Response, base: &str) -> String {
    assert!(
        r.status().is_redirection(),
        "expected a redirect from {}, got {}",
        r.url(),
        r.status()
    );
    let l = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .expect("Location")
        .to_string();
    if l.starts_with('/') {
        format!("{base}{l}")
    } else {
        l
    }
}

/// Walk from the gateway's `login` URL through the provider as `login` and return the
/// callback URL the provider sends the browser back to (not yet visited).
pub fn through_provider(web: &mut Web, f: &Fixture, start: &str) -> String {
    let r = web.get(start);
    let authorize = location(&r, &f.base);
    assert!(authorize.starts_with(&f.provider.issuer), "{authorize}");
    for p in [
        "code_challenge_method=S256",
        "state=",
        "nonce=",
        "code_challenge=",
    ] {
        assert!(authorize.contains(p), "{p} in {authorize}");
    }
    let r = web.get(&authorize);
    location(&r, &f.provider.issuer)
}

/// Sign in at the provider's form as `login`; returns the callback URL.
pub fn provider_login(web: &mut Web, f: &Fixture, interaction: &str, login: &str) -> String {
    let r = web.post(interaction, &[("login", login)]);
    let resume = location(&r, &f.provider.issuer);
    let r = web.get(&resume);
    let callback = location(&r, &f.provider.issuer);
    assert!(callback.starts_with(&f.base), "{callback}");
    callback
}

/// Sign `login` in to `tenant`: the session cookie is in the jar; returns the signed-in page.
pub fn sign_in(web: &mut Web, f: &Fixture, tenant: &str, login: &str) -> String {
    let interaction = through_provider(web, f, &format!("{}/setup/{tenant}/login", f.base));
    let callback = provider_login(web, f, &interaction, login);
    let r = web.get(&callback);
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", f.log());
    let set = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("crmdav_setup="))
        .expect("a session cookie")
        .to_string();
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/setup"] {
        assert!(set.contains(attr), "{attr} in {set}");
    }
    let r = web.get(&location(&r, &f.base));
    assert_eq!(r.status(), StatusCode::OK);
    r.text().expect("page")
}

/// The value of the first `name="<field>" value="…"` in a page.
pub fn field(page: &str, name: &str) -> String {
    let key = format!("name=\"{name}\" value=\"");
    let i = page
        .find(&key)
        .unwrap_or_else(|| panic!("no {name} in {page}"))
        + key.len();
    page[i..].split('"').next().unwrap_or("").to_string()
}

/// The text of the element with `id` (its first text run).
pub fn by_id(page: &str, id: &str) -> String {
    let key = format!("id=\"{id}\">");
    let i = page
        .find(&key)
        .unwrap_or_else(|| panic!("no #{id} in {page}"))
        + key.len();
    page[i..].split('<').next().unwrap_or("").to_string()
}

/// PROPFIND Depth 0 on alice's principal with Basic credentials: the status.
pub fn propfind(base: &str, login: &str, password: &str) -> StatusCode {
    Client::new()
        .request(
            Method::from_bytes(b"PROPFIND").expect("method"),
            format!(
                "{base}/dav/principals/{}/",
                login.split('@').next().unwrap_or("")
            ),
        )
        .basic_auth(login, Some(password))
        .header("Depth", "0")
        .send()
        .expect("PROPFIND")
        .status()
}

/// The app passwords of a tenant, as `crmdav app-password list` prints them.
pub fn device_list(f: &Fixture, tenant: &str) -> String {
    let out = std::process::Command::new(bin())
        .args(["app-password", "list", "--config"])
        .arg(&f.config)
        .args(["--tenant", tenant])
        .output()
        .expect("crmdav app-password list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn check_page_headers(r: &Response) {
    let h = |n: &str| {
        r.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(h("cache-control"), "no-store");
    assert_eq!(h("x-frame-options"), "DENY");
    let csp = h("content-security-policy");
    assert!(
        csp.contains("frame-ancestors 'none'")
            && !csp.contains("unsafe-inline")
            && !csp.contains("script-src"),
        "{csp}"
    );
}

#[test]
fn sign_in_create_profile_and_revoke() {
    let Some(f) = fixture() else { return };
    let mut web = Web::new();
    let page = sign_in(&mut web, f, "acme", "alice");
    assert!(
        page.contains("Signed in as <strong>alice</strong>"),
        "{page}"
    );
    assert!(
        page.contains("Work calendar") && page.contains("Customers"),
        "{page}"
    );
    assert!(page.contains(&format!("{}/dav/calendars/alice/work/", f.base)));
    let csrf = field(&page, "csrf");

    let r = web.post(
        &format!("{}/setup/acme/devices", f.base),
        &[("csrf", &csrf), ("label", "Alice's <iPhone>")],
    );
    assert_eq!(r.status(), StatusCode::OK);
    check_page_headers(&r);
    let page = r.text().expect("page");
    assert!(
        page.contains("App password for Alice&#39;s &lt;iPhone&gt;"),
        "{page}"
    );
    let password = by_id(&page, "password");
    let login = by_id(&page, "login");
    assert_eq!(login, "alice@acme");
    assert_eq!(password.len(), 37, "{password}");
    assert!(page.contains("<svg"), "an inline QR code");
    assert!(
        page.contains(&format!("caldav://alice%40acme:{password}@127.0.0.1:")),
        "{page}"
    );
    assert_eq!(
        propfind(&f.base, &login, &password),
        StatusCode::MULTI_STATUS
    );

    // The profile: a property list with a CalDAV and a CardDAV account carrying the password.
    let device = field(&page, "device");
    let r = web.post(
        &format!("{}/setup/acme/profile", f.base),
        &[("csrf", &csrf), ("device", &device)],
    );
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/x-apple-aspen-config")
    );
    let bytes = r.bytes().expect("profile");
    check_profile(&bytes, &password, f);

    // Revoke on the page: the password stops working at once.
    let r = web.post(
        &format!("{}/setup/acme/devices/{device}/revoke", f.base),
        &[("csrf", &csrf)],
    );
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().expect("page").contains("no longer works"));
    assert_eq!(
        propfind(&f.base, &login, &password),
        StatusCode::UNAUTHORIZED
    );
    assert!(!device_list(f, "acme").contains(&device));
    let log = f.log();
    assert!(log.contains("setup: signed in") && log.contains("setup: app password revoked"));
    assert!(!log.contains(&password), "the secret is never logged");
}

/// The profile parses as a property list with both account payloads.
pub fn check_profile(bytes: &[u8], password: &str, f: &Fixture) {
    let v: plist::Value = plist::from_bytes(bytes).expect("a valid property list");
    let top = v.as_dictionary().expect("a dictionary");
    assert_eq!(
        top.get("PayloadType").and_then(|x| x.as_string()),
        Some("Configuration")
    );
    let content = top
        .get("PayloadContent")
        .and_then(|x| x.as_array())
        .expect("PayloadContent");
    let port: i64 = f
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    for (kind, prefix) in [
        ("com.apple.caldav.account", "CalDAV"),
        ("com.apple.carddav.account", "CardDAV"),
    ] {
        let p = content
            .iter()
            .filter_map(|x| x.as_dictionary())
            .find(|d| d.get("PayloadType").and_then(|x| x.as_string()) == Some(kind))
            .unwrap_or_else(|| panic!("no {kind} payload"));
        let s = |k: &str| {
            p.get(&format!("{prefix}{k}"))
                .and_then(|x| x.as_string())
                .map(str::to_string)
        };
        assert_eq!(s("HostName").as_deref(), Some("127.0.0.1"));
        assert_eq!(s("Username").as_deref(), Some("alice@acme"));
        assert_eq!(s("Password").as_deref(), Some(password));
        assert_eq!(s("PrincipalURL").as_deref(), Some("/dav/principals/alice/"));
        assert_eq!(
            p.get(&format!("{prefix}Port"))
                .and_then(|x| x.as_signed_integer()),
            Some(port)
        );
        assert_eq!(
            p.get(&format!("{prefix}UseSSL"))
                .and_then(|x| x.as_boolean()),
            Some(false)
        );
    }
}

/// A person whose own CRM credential the CRM refuses sees it on the page (when, and the
/// CRM's reason), and the log names tenant, user and reason, never the token.
#[test]
fn a_refused_crm_credential_shows_on_the_page() {
    let Some(f) = fixture() else { return };
    let mut web = Web::new();
    let page = sign_in(&mut web, f, "refused", "alice");
    let notice = by_id(&page, "crm-account");
    assert!(
        notice.starts_with("Your CRM account was refused at ")
            && notice.contains("missing or invalid bearer token")
            && notice.contains("connect again"),
        "{page}"
    );
    let log = f.log();
    let line = log
        .lines()
        .find(|l| l.contains("refused this person's own credential"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert!(
        line.contains("tenant=refused") && line.contains("user=alice"),
        "{line}"
    );
    assert!(
        !log.contains("acrm_alice-revoked-token"),
        "a token in the log"
    );
    // The other tenants' people have no CRM credential of their own: no such section.
    let page = sign_in(&mut Web::new(), f, "acme", "alice");
    assert!(!page.contains("crm-account"), "{page}");
}

#[test]
fn replayed_or_wrong_state_is_refused_and_nothing_is_written() {
    let Some(f) = fixture() else { return };
    let mut web = Web::new();
    let interaction = through_provider(&mut web, f, &format!("{}/setup/acme/login", f.base));
    let callback = provider_login(&mut web, f, &interaction, "bob");

    // A state we never issued.
    let wrong = callback.replace("state=", "state=x");
    let r = web.get(&wrong);
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r
        .headers()
        .get("set-cookie")
        .is_none_or(|c| !c.to_str().unwrap_or("").starts_with("crmdav_setup=")));
    assert!(r.text().expect("page").contains("no longer valid"));

    // The real one works once; a replay (even with the session it made) is refused.
    let r = web.get(&callback);
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let r = web.get(&callback);
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.headers().get("set-cookie").is_none());

    // A callback that reaches another browser (without the binding cookie) is refused too.
    let (mut started, mut other) = (Web::new(), Web::new());
    let interaction = through_provider(&mut started, f, &format!("{}/setup/acme/login", f.base));
    let callback = provider_login(&mut started, f, &interaction, "bob");
    let r = other.get(&callback);
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(other.cookie("crmdav_setup").is_none());
    // Nothing was written: no session for any of the refused callbacks.
    let log = f.log();
    assert!(log.contains("unknown, replayed or foreign state"), "{log}");
    assert!(log.contains("client=127.0.0.1"));
}

#[test]
fn forged_posts_are_refused_with_403() {
    let Some(f) = fixture() else { return };
    let mut web = Web::new();
    let page = sign_in(&mut web, f, "acme", "bob");
    let csrf = field(&page, "csrf");
    let mut other = Web::new();
    let other_csrf = field(&sign_in(&mut other, f, "acme", "alice"), "csrf");
    let url = format!("{}/setup/acme/devices", f.base);
    for form in [
        vec![("label", "forged")],
        vec![("label", "forged"), ("csrf", "not-the-token")],
        vec![("label", "forged"), ("csrf", other_csrf.as_str())],
    ] {
        let r = web.post(&url, &form);
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{form:?}");
        assert!(r.text().expect("page").contains("Nothing was changed"));
    }
    let r = web.post(
        &format!("{}/setup/acme/devices/0123456789/revoke", f.base),
        &[],
    );
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        !device_list(f, "acme").contains("forged"),
        "nothing written"
    );
    // The right token works.
    let r = web.post(&url, &[("label", "bob laptop"), ("csrf", &csrf)]);
    assert_eq!(r.status(), StatusCode::OK);
    assert!(f.log().contains("bad CSRF token refused"));
}

#[test]
fn an_expired_session_signs_in_again() {
    let Some(f) = fixture() else { return };
    let mut web = Web::new();
    let page = sign_in(&mut web, f, "brief", "alice");
    let csrf = field(&page, "csrf");
    // The session lasts one second: wait for the page to say so, with a deadline.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = web
            .get(&format!("{}/setup/brief/", f.base))
            .text()
            .expect("page");
        if text.contains("Your session has ended") {
            assert!(text.contains("id=\"sign-in\""));
            break;
        }
        assert!(Instant::now() < deadline, "the session never expired");
        std::thread::sleep(Duration::from_millis(200));
    }
    let r = web.post(
        &format!("{}/setup/brief/devices", f.base),
        &[("label", "late"), ("csrf", &csrf)],
    );
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(r.text().expect("page").contains("Sign in again"));
    assert!(!device_list(f, "brief").contains("late"), "nothing written");
}

#[test]
fn an_identity_matching_nobody_gets_a_clear_page() {
    let Some(f) = fixture() else { return };
    for (login, email) in [
        ("mallory", "mallory@example.com"),
        ("eve", "bob@example.com"),
    ] {
        let mut web = Web::new();
        let interaction = through_provider(&mut web, f, &format!("{}/setup/acme/login", f.base));
        let callback = provider_login(&mut web, f, &interaction, login);
        let r = web.get(&callback);
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{login}");
        assert!(web.cookie("crmdav_setup").is_none());
        let page = r.text().expect("page");
        assert!(page.contains("ask your administrator"), "{page}");
        assert!(page.contains(email), "{page}");
    }
    let log = f.log();
    assert!(
        log.contains("matches no person") && log.contains("mallory@example.com"),
        "{log}"
    );
}

#[test]
fn login_flow_v2_hands_credentials_once() {
    let Some(f) = fixture() else { return };
    let http = Client::new();
    let init: serde_json::Value = http
        .post(format!("{}/index.php/login/v2", f.base))
        .header("user-agent", "DAVx5/4.4.2-ose (test)")
        .send()
        .expect("init")
        .json()
        .expect("JSON");
    let token = init["poll"]["token"].as_str().expect("token").to_string();
    let endpoint = init["poll"]["endpoint"]
        .as_str()
        .expect("endpoint")
        .to_string();
    let login_url = init["login"].as_str().expect("login").to_string();
    assert_eq!(endpoint, format!("{}/index.php/login/v2/poll", f.base));
    assert!(login_url.starts_with(&format!("{}/setup/acme/flow/", f.base)));
    assert!(
        !login_url.contains(&token),
        "the browser never sees the poll token"
    );
    let poll = || {
        http.post(&endpoint)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .expect("poll")
    };
    assert_eq!(poll().status(), StatusCode::NOT_FOUND, "before consent");

    // The person opens the login URL: sign in first, then back to the consent page.
    let mut web = Web::new();
    let interaction = through_provider(&mut web, f, &login_url);
    let callback = provider_login(&mut web, f, &interaction, "alice");
    let r = web.get(&callback);
    assert_eq!(location(&r, &f.base), login_url);
    let page = web.get(&login_url).text().expect("consent");
    assert!(page.contains("DAVx5/4.4.2-ose (test)"), "{page}");
    assert_eq!(
        poll().status(),
        StatusCode::NOT_FOUND,
        "before the person allows"
    );
    let forged = web.post(&login_url, &[("csrf", "nope")]);
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let r = web.post(&login_url, &[("csrf", &field(&page, "csrf"))]);
    assert_eq!(r.status(), StatusCode::OK);

    let r = poll();
    assert_eq!(r.status(), StatusCode::OK);
    let creds: serde_json::Value = r.json().expect("credentials");
    assert_eq!(creds["server"], f.base.as_str());
    assert_eq!(creds["loginName"], "alice@acme");
    let password = creds["appPassword"].as_str().expect("password");
    assert_eq!(
        propfind(&f.base, "alice@acme", password),
        StatusCode::MULTI_STATUS
    );
    assert_eq!(poll().status(), StatusCode::NOT_FOUND, "once only");
    assert!(device_list(f, "acme").contains("DAVx5/4.4.2-ose (test)"));
    // DAVx5 looks for the DAV service under /remote.php/dav.
    let r = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(format!("{}/remote.php/dav/", f.base))
        .send()
        .expect("remote.php");
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("/dav/")
    );
}

#[test]
fn an_identity_provider_error_gets_a_clear_page() {
    let Some(f) = fixture() else { return };
    // The person refuses at the provider: it sends `error=access_denied` back.
    let mut web = Web::new();
    let interaction = through_provider(&mut web, f, &format!("{}/setup/acme/login", f.base));
    let r = web.post(&interaction, &[("deny", "1")]);
    let r = web.get(&location(&r, &f.provider.issuer));
    let callback = location(&r, &f.provider.issuer);
    assert!(callback.contains("error=access_denied"), "{callback}");
    let r = web.get(&callback);
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    assert!(web.cookie("crmdav_setup").is_none());
    assert!(r.text().expect("page").contains("could not sign you in"));

    // A provider that does not answer.
    let r = Web::new().get(&format!("{}/setup/down/login", f.base));
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let log = f.log();
    assert!(log.contains("provider error: access_denied"), "{log}");
    assert!(
        log.contains("tenant=\"down\"") || log.contains("tenant=down"),
        "{log}"
    );
}

/// Run `crmdav <args> --config F --tenant ops --user bob`: (success, stdout, stderr).
fn person_cmd(f: &Fixture, args: &[&str]) -> (bool, String, String) {
    let out = std::process::Command::new(bin())
        .args(args)
        .arg("--config")
        .arg(&f.config)
        .args(["--tenant", "ops", "--user", "bob"])
        .output()
        .expect("run crmdav");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn revoke_all_ends_every_app_password_and_page_session_of_a_person() {
    let Some(f) = fixture() else { return };
    // bob: a device made on the page, one from the command line, and the page session.
    let mut web = Web::new();
    let page = sign_in(&mut web, f, "ops", "bob");
    let csrf = field(&page, "csrf");
    let r = web.post(
        &format!("{}/setup/ops/devices", f.base),
        &[("csrf", &csrf), ("label", "bob phone")],
    );
    let on_page = by_id(&r.text().expect("page"), "password");
    let (ok, cli, err) = person_cmd(f, &["app-password", "create", "--label", "bob tablet"]);
    assert!(ok, "{err}");
    let cli = cli.trim().to_string();
    // alice of the same tenant keeps everything.
    let mut alice = Web::new();
    sign_in(&mut alice, f, "ops", "alice");
    for pw in [&on_page, &cli] {
        assert_eq!(propfind(&f.base, "bob@ops", pw), StatusCode::MULTI_STATUS);
    }
    let (ok, list, err) = person_cmd(f, &["devices"]);
    assert!(ok, "{err}");
    assert!(
        list.starts_with("kind\tid\tlabel\tcreated\tlast_used\texpires\n"),
        "{list}"
    );
    assert_eq!(list.matches("\napp-password\t").count(), 2, "{list}");
    assert!(
        list.contains("bob phone") && list.contains("bob tablet"),
        "{list}"
    );
    let sessions: Vec<&str> = list
        .lines()
        .filter(|l| l.starts_with("page-session\t"))
        .collect();
    assert_eq!(sessions.len(), 1, "{list}");
    assert!(
        !sessions[0].contains("never"),
        "the session was used: {list}"
    );
    assert!(
        !list.contains(&on_page[11..]) && !list.contains(&cli[11..]),
        "no secret listed"
    );

    let (ok, out, err) = person_cmd(f, &["revoke", "--all"]);
    assert!(ok, "{err}");
    assert!(
        out.contains("revoked 2 app password(s) and 1 sign-in page session(s) of bob@ops"),
        "{out}"
    );
    for pw in [&on_page, &cli] {
        assert_eq!(propfind(&f.base, "bob@ops", pw), StatusCode::UNAUTHORIZED);
    }
    let text = web
        .get(&format!("{}/setup/ops/", f.base))
        .text()
        .expect("page");
    assert!(text.contains("Your session has ended"), "{text}");
    let r = web.post(
        &format!("{}/setup/ops/devices", f.base),
        &[("csrf", &csrf), ("label", "after revoke")],
    );
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (_, list, _) = person_cmd(f, &["devices"]);
    assert_eq!(list.lines().count(), 1, "only the header is left: {list}");
    let text = alice
        .get(&format!("{}/setup/ops/", f.base))
        .text()
        .expect("page");
    assert!(
        text.contains("Signed in as <strong>alice</strong>"),
        "alice is untouched"
    );
    let (ok, _, err) = person_cmd(f, &["revoke"]);
    assert!(
        !ok && err.contains("--all"),
        "revoke without --all is refused: {err}"
    );
}
