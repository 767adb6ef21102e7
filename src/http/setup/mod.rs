//! The sign-in page that sets up a phone (`/setup/<tenant>/`): a person signs in with the
//! tenant's OpenID Connect provider, sees their collections, creates an app password per
//! device (with an Apple configuration profile, a DAVx5 link and QR code, and the plain
//! settings), and revokes devices; plus DAVx5's browser login (Nextcloud Login Flow v2,
//! [`flow`]).
//!
//! The tenant is named in the path (`/setup/<tenant>/`); `/setup` redirects there, choosing
//! the tenant by the Host header among tenants with an `[oidc]` section, else the default
//! tenant, else the only one. Every form post carries the session's CSRF token; sessions live
//! server-side ([`sessions`]) behind an `HttpOnly; SameSite=Lax` cookie (`Secure` when the
//! tenant's `public_url` is https); no secret ever appears in a URL; every page is
//! `no-store`, framed by nobody and runs no script.
//!
//! [`signin`] signs people in and out, [`account`] is the signed-in page (collections,
//! devices, new app passwords, the profile), [`crm_signin`] connects a person's own CRM
//! account by OAuth, [`oidc`] the relying party, [`profile`] what a phone is set up with,
//! [`page`] the HTML, [`sessions`] the bounded server-side state (in the state store, so every
//! instance behind a round-robin front shares it).

mod account;
mod crm_signin;
mod flow;
mod oidc;
mod page;
mod profile;
mod sessions;
mod signin;

use crate::app::AppState;
use crate::config::{OidcConfig, ServerConfig, TenantConfig};
use crate::store::{SetupKind, Store};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use sessions::{same_secret, Expiring};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// The session cookie.
const SESSION_COOKIE: &str = "crmdav_setup";
/// Binds a sign-in under way to the browser that started it.
const LOGIN_COOKIE: &str = "crmdav_login";
/// A sign-in must come back from the provider within this.
const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Most sessions, sign-ins under way and Login Flow v2 grants kept at once (each).
const CAPACITY: u64 = 10_000;
/// Most sign-ins under way, and Login Flow v2 grants, started from one client address: one
/// client cannot fill the stores for everyone.
const PER_CLIENT: u64 = 20;
/// The longest a page session may live (a tenant's `session_secs` is capped to it).
const SESSION_MAX: Duration = Duration::from_secs(86_400);

/// A signed-in person.
#[derive(Clone, Serialize, Deserialize)]
struct Session {
    tenant: String,
    user: String,
    email: String,
    csrf: String,
    /// App passwords created in this session: (device id, label, password), for the
    /// profile download; stored sealed under the session id, they leave with the session.
    created: Vec<(String, String, String)>,
}

/// A sign-in sent to the provider, under its `state`.
#[derive(Clone, Serialize, Deserialize)]
struct Pending {
    tenant: String,
    nonce: String,
    verifier: String,
    browser: String,
    /// The Login Flow v2 login id this sign-in continues, if any.
    flow: Option<String>,
    /// Who started it (for the per-client bound).
    client: IpAddr,
}

/// The page's state, shared by every worker and (through the state store) every instance.
pub struct Setup {
    oidc: oidc::Oidc,
    sessions: Expiring<Session>,
    pending: Expiring<Pending>,
    flows: Expiring<flow::Flow>,
    /// CRM sign-ins under way ("connect your CRM account").
    crm_pending: Expiring<crm_signin::CrmPending>,
}

impl Setup {
    /// The page's tables in `store` and an OIDC client.
    pub fn new(store: Arc<Store>) -> anyhow::Result<Self> {
        Ok(Setup {
            oidc: oidc::Oidc::new()?,
            sessions: Expiring::new(
                store.clone(),
                SetupKind::Session,
                CAPACITY,
                None,
                SESSION_MAX,
            ),
            pending: Expiring::new(
                store.clone(),
                SetupKind::SignIn,
                CAPACITY,
                Some(PER_CLIENT),
                LOGIN_TTL,
            ),
            flows: Expiring::new(
                store.clone(),
                SetupKind::LoginFlow,
                1_000,
                Some(PER_CLIENT),
                flow::FLOW_TTL,
            ),
            crm_pending: Expiring::new(
                store,
                SetupKind::CrmSignIn,
                CAPACITY,
                Some(PER_CLIENT),
                LOGIN_TTL,
            ),
        })
    }
}

/// The page's routes (and Login Flow v2's).
pub fn routes(cfg: &mut web::ServiceConfig) {
    // One scope: a DAV path is rejected by its static prefix, where a route per pattern
    // ran a regular expression for each (~3 % of a GET's CPU). What no route here takes
    // goes to the DAV handler, as when these were routes of the app.
    cfg.service(
        web::scope("/setup")
            .route("", web::get().to(choose_tenant))
            .route("/", web::get().to(choose_tenant))
            .route("/{tenant}", web::get().to(signin::index))
            .route("/{tenant}/", web::get().to(signin::index))
            .route("/{tenant}/login", web::get().to(signin::login))
            .route("/{tenant}/callback", web::get().to(signin::callback))
            .route("/{tenant}/logout", web::post().to(signin::logout))
            .route("/{tenant}/devices", web::post().to(account::create_device))
            .route(
                "/{tenant}/devices/{id}/revoke",
                web::post().to(account::revoke),
            )
            .route(
                "/{tenant}/profile",
                web::post().to(account::download_profile),
            )
            .route("/{tenant}/crm/connect", web::post().to(crm_signin::connect))
            .route(
                "/{tenant}/crm/callback",
                web::get().to(crm_signin::callback),
            )
            .route("/{tenant}/flow/{login}", web::get().to(flow::consent))
            .route("/{tenant}/flow/{login}", web::post().to(flow::grant))
            .default_service(web::to(super::handle)),
    )
    .route("/index.php/login/v2", web::post().to(flow::init))
    .route("/index.php/login/v2/poll", web::post().to(flow::poll))
    // DAVx5 looks for the DAV service of a Login Flow server here.
    .route("/remote.php/dav", web::route().to(flow::to_context))
    .route("/remote.php/dav/", web::route().to(flow::to_context));
}

// ---- responses --------------------------------------------------------------------------------

/// A page with the security headers every page carries.
fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header(("Content-Security-Policy", page::csp()))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(body)
}

fn see_other(to: &str) -> actix_web::HttpResponseBuilder {
    let mut b = HttpResponse::SeeOther();
    b.insert_header(("Location", to))
        .insert_header(("Cache-Control", "no-store"));
    b
}

fn too_many(tenant: &str, client: IpAddr) -> HttpResponse {
    tracing::warn!(tenant = %tenant, client = %client, "setup: too many sign-ins under way from one client");
    let mut r = html(
        StatusCode::TOO_MANY_REQUESTS,
        page::message(
            "Too many attempts",
            "Too many sign-ins were started from your address. Try again in a few minutes.",
            None,
        ),
    );
    r.headers_mut().insert(
        actix_web::http::header::RETRY_AFTER,
        actix_web::http::header::HeaderValue::from_static("600"),
    );
    r
}

/// The state store failed: 503, logged, nothing changed.
fn unavailable(tenant: &str, client: IpAddr, why: &dyn std::fmt::Display) -> HttpResponse {
    tracing::error!(tenant = %tenant, client = %client, error = %why, "setup: state store failed");
    html(
        StatusCode::SERVICE_UNAVAILABLE,
        page::message(
            "Temporarily unavailable",
            "The service could not reach its storage. Nothing was changed; please try again.",
            None,
        ),
    )
}

/// A refused insert's page: 429 for one client's share, else 503.
fn refused(tenant: &str, client: IpAddr, r: sessions::Refusal) -> HttpResponse {
    match r {
        sessions::Refusal::TooManyFromClient => too_many(tenant, client),
        sessions::Refusal::Full => html(
            StatusCode::SERVICE_UNAVAILABLE,
            page::message("Busy", &r.to_string(), None),
        ),
        sessions::Refusal::Store(e) => unavailable(tenant, client, &e),
    }
}

fn not_found() -> HttpResponse {
    html(
        StatusCode::NOT_FOUND,
        page::message("Not found", "There is no sign-in page here.", None),
    )
}

fn cookie(name: &str, value: &str, max_age: u64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/setup; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The value of cookie `name` in the request.
fn read_cookie(req: &HttpRequest, name: &str) -> Option<String> {
    req.headers()
        .get_all("cookie")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Cookies are `Secure` when the gateway is reached over https.
fn secure(o: &OidcConfig) -> bool {
    o.public_url.starts_with("https://")
}

/// A refusal page (boxed: a response is large).
type Refused = Box<HttpResponse>;

// ---- context ---------------------------------------------------------------------------------

fn client(req: &HttpRequest, state: &AppState) -> IpAddr {
    super::client::address(req, &state.cfg.http.trusted_proxies)
}

/// A tenant with a sign-in page.
fn tenant<'a>(cfg: &'a ServerConfig, name: &str) -> Option<(&'a TenantConfig, &'a OidcConfig)> {
    let t = cfg.tenant(name)?;
    Some((t, t.oidc.as_ref()?))
}

/// The tenant `/setup` and Login Flow v2 serve: by Host among tenants with a sign-in page,
/// else the default tenant, else the only one with a sign-in page.
fn tenant_for_host<'a>(cfg: &'a ServerConfig, req: &HttpRequest) -> Option<&'a TenantConfig> {
    let with_page = || cfg.tenants.iter().filter(|t| t.oidc.is_some());
    let host = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map(|h| h.rsplit_once(':').map(|(a, _)| a).unwrap_or(h));
    if let Some(h) = host {
        if let Some(t) = with_page().find(|t| t.hosts.iter().any(|x| x.eq_ignore_ascii_case(h))) {
            return Some(t);
        }
    }
    if let Some(t) = cfg.default_tenant.as_deref().and_then(|d| cfg.tenant(d)) {
        if t.oidc.is_some() {
            return Some(t);
        }
    }
    let mut all = with_page();
    match (all.next(), all.next()) {
        (Some(t), None) => Some(t),
        _ => None,
    }
}

/// The signed-in session of this tenant, or the page that says why there is none.
async fn session(
    req: &HttpRequest,
    setup: &Setup,
    tenant: &str,
    client: IpAddr,
) -> Result<(String, Session), Refused> {
    let sid = read_cookie(req, SESSION_COOKIE).filter(|s| s.len() <= 64);
    let found = match sid.as_deref() {
        Some(id) => setup
            .sessions
            .get(id)
            .await
            .map_err(|e| Box::new(unavailable(tenant, client, &e)))?
            .map(|s| (id.to_string(), s)),
        None => None,
    };
    let live = found.filter(|(_, s)| s.tenant == tenant);
    live.ok_or_else(|| {
        tracing::warn!(tenant = %tenant, client = %client, had_cookie = sid.is_some(), "setup: no live session");
        Box::new(html(
            StatusCode::UNAUTHORIZED,
            page::message(
                "Please sign in again",
                "Your session has ended. Sign in again to continue.",
                Some((&format!("/setup/{tenant}/"), "Sign in")),
            ),
        ))
    })
}

/// A form post's session: live for this tenant and sent with its CSRF token, or the page
/// that says why not (nothing is written either way).
async fn posted_session(
    req: &HttpRequest,
    setup: &Setup,
    tenant: &str,
    client: IpAddr,
    csrf: &str,
) -> Result<(String, Session), Refused> {
    let (sid, s) = session(req, setup, tenant, client).await?;
    check_csrf(&s, csrf, client)?;
    Ok((sid, s))
}

/// The form's CSRF token matches the session's, or the 403 page.
fn check_csrf(s: &Session, given: &str, client: IpAddr) -> Result<(), Refused> {
    if same_secret(&s.csrf, given) {
        return Ok(());
    }
    tracing::warn!(tenant = %s.tenant, user = %s.user, client = %client, "setup: form post with a bad CSRF token refused");
    Err(Box::new(html(
        StatusCode::FORBIDDEN,
        page::message(
            "Request refused",
            "This form was not sent from your sign-in page. Nothing was changed.",
            Some((&format!("/setup/{}/", s.tenant), "Back")),
        ),
    )))
}

// ---- handlers ---------------------------------------------------------------------------------

async fn choose_tenant(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let cfg = state.config();
    match tenant_for_host(&cfg, &req) {
        Some(t) => see_other(&format!("/setup/{}/", t.name)).finish(),
        None => not_found(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn cookies_are_http_only_lax_and_secure_over_https() {
        let c = cookie(SESSION_COOKIE, "abc", 900, true);
        assert_eq!(
            c,
            "crmdav_setup=abc; Path=/setup; HttpOnly; SameSite=Lax; Max-Age=900; Secure"
        );
        assert!(!cookie(LOGIN_COOKIE, "x", 1, false).contains("Secure"));
        let req = TestRequest::default()
            .insert_header(("cookie", "a=1; crmdav_setup=s1d; b=2"))
            .to_http_request();
        assert_eq!(read_cookie(&req, SESSION_COOKIE).as_deref(), Some("s1d"));
        assert_eq!(read_cookie(&req, LOGIN_COOKIE), None);
    }
}
