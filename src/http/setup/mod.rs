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

mod flow;
mod oidc;
mod page;
mod profile;
mod sessions;

use crate::app::AppState;
use crate::auth::devices;
use crate::config::{OidcConfig, ServerConfig, TenantConfig};
use crate::tree::HomeKind;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use sessions::{bounded, random_token, same_secret, Expiring};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// The session cookie.
const SESSION_COOKIE: &str = "crmdav_setup";
/// Binds a sign-in under way to the browser that started it.
const LOGIN_COOKIE: &str = "crmdav_login";
/// A sign-in must come back from the provider within this.
const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Most sessions, sign-ins under way and Login Flow v2 grants kept at once (each).
const CAPACITY: usize = 10_000;

/// A signed-in person.
#[derive(Clone)]
struct Session {
    tenant: String,
    user: String,
    email: String,
    csrf: String,
    expires: Instant,
    /// App passwords created in this session: (device id, label, password), for the
    /// profile download; they leave memory with the session.
    created: Vec<(String, String, String)>,
}

/// A sign-in sent to the provider, under its `state`.
#[derive(Clone)]
struct Pending {
    tenant: String,
    nonce: String,
    verifier: String,
    browser: String,
    /// The Login Flow v2 login id this sign-in continues, if any.
    flow: Option<String>,
}

/// The page's state, shared by every worker.
pub struct Setup {
    oidc: oidc::Oidc,
    sessions: Expiring<Session>,
    pending: Expiring<Pending>,
    flows: Expiring<flow::Flow>,
}

impl Setup {
    /// Empty stores and an OIDC client.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Setup {
            oidc: oidc::Oidc::new()?,
            sessions: Expiring::new(CAPACITY, Duration::from_secs(86_400)),
            pending: Expiring::new(CAPACITY, LOGIN_TTL),
            flows: Expiring::new(1_000, flow::FLOW_TTL),
        })
    }
}

/// The page's routes (and Login Flow v2's).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/setup", web::get().to(choose_tenant))
        .route("/setup/", web::get().to(choose_tenant))
        .route("/setup/{tenant}", web::get().to(index))
        .route("/setup/{tenant}/", web::get().to(index))
        .route("/setup/{tenant}/login", web::get().to(login))
        .route("/setup/{tenant}/callback", web::get().to(callback))
        .route("/setup/{tenant}/logout", web::post().to(logout))
        .route("/setup/{tenant}/devices", web::post().to(create_device))
        .route(
            "/setup/{tenant}/devices/{id}/revoke",
            web::post().to(revoke),
        )
        .route("/setup/{tenant}/profile", web::post().to(download_profile))
        .route("/setup/{tenant}/flow/{login}", web::get().to(flow::consent))
        .route("/setup/{tenant}/flow/{login}", web::post().to(flow::grant))
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
fn session(
    req: &HttpRequest,
    setup: &Setup,
    tenant: &str,
    client: IpAddr,
) -> Result<(String, Session), Refused> {
    let sid = read_cookie(req, SESSION_COOKIE);
    let live = sid.as_deref().and_then(|id| {
        let s = setup.sessions.get(id)?;
        if s.expires <= Instant::now() {
            setup.sessions.remove(id);
            return None;
        }
        (s.tenant == tenant).then(|| (id.to_string(), s))
    });
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
    match tenant_for_host(&state.cfg, &req) {
        Some(t) => see_other(&format!("/setup/{}/", t.name)).finish(),
        None => not_found(),
    }
}

async fn index(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let name = path.into_inner();
    let Some((t, _)) = tenant(&state.cfg, &name) else {
        return not_found();
    };
    let client = client(&req, &state);
    if read_cookie(&req, SESSION_COOKIE).is_none() {
        return html(StatusCode::OK, page::sign_in(&t.name, None));
    }
    match session(&req, &setup, &t.name, client) {
        Ok((_, s)) => dashboard(&state, &s, None, None).await,
        Err(_) => html(
            StatusCode::OK,
            page::sign_in(
                &t.name,
                Some("Your session has ended. Please sign in again."),
            ),
        ),
    }
}

#[derive(Deserialize)]
struct LoginQuery {
    flow: Option<String>,
}

async fn login(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<LoginQuery>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let name = path.into_inner();
    let Some((t, o)) = tenant(&state.cfg, &name) else {
        return not_found();
    };
    start_sign_in(&req, &state, &setup, t, o, query.into_inner().flow).await
}

/// Send the browser to the provider, remembering `state`, `nonce` and the PKCE verifier.
async fn start_sign_in(
    req: &HttpRequest,
    state: &AppState,
    setup: &Setup,
    t: &TenantConfig,
    o: &OidcConfig,
    flow: Option<String>,
) -> HttpResponse {
    let client = client(req, state);
    let (d, _) = match setup.oidc.discover(o, false).await {
        Ok(x) => x,
        Err(e) => return provider_failed(&t.name, None, client, &e.to_string()),
    };
    let browser = read_cookie(req, LOGIN_COOKIE)
        .filter(|b| b.len() == 43)
        .unwrap_or_else(random_token);
    let nonce = random_token();
    let (verifier, challenge) = oidc::pkce();
    let pending = Pending {
        tenant: t.name.clone(),
        nonce: nonce.clone(),
        verifier,
        browser: browser.clone(),
        flow,
    };
    let Ok(st) = setup.pending.insert(pending) else {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            page::message("Busy", &sessions::Full.to_string(), None),
        );
    };
    let redirect = format!("{}/setup/{}/callback", o.public_url, t.name);
    let req = oidc::AuthRequest {
        redirect_uri: &redirect,
        state: &st,
        nonce: &nonce,
        challenge: &challenge,
    };
    match setup.oidc.authorize_url(&d, o, &req) {
        Ok(url) => see_other(&url)
            .insert_header((
                "Set-Cookie",
                cookie(LOGIN_COOKIE, &browser, LOGIN_TTL.as_secs(), secure(o)),
            ))
            .finish(),
        Err(e) => provider_failed(&t.name, None, client, &e.to_string()),
    }
}

fn provider_failed(tenant: &str, user: Option<&str>, client: IpAddr, why: &str) -> HttpResponse {
    tracing::warn!(tenant = %tenant, user = %user.unwrap_or("-"), client = %client, error = %why, "setup: identity provider failed");
    html(
        StatusCode::BAD_GATEWAY,
        page::message(
            "Sign-in failed",
            "The identity provider could not sign you in right now. Please try again later.",
            Some((&format!("/setup/{tenant}/"), "Try again")),
        ),
    )
}

#[derive(Deserialize)]
struct Callback {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
}

async fn callback(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<Callback>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let name = path.into_inner();
    let Some((t, o)) = tenant(&state.cfg, &name) else {
        return not_found();
    };
    let client = client(&req, &state);
    let q = query.into_inner();
    // Single use: the pending sign-in is gone whatever happens next.
    let pending = q.state.as_deref().and_then(|s| setup.pending.take(s));
    let browser = read_cookie(&req, LOGIN_COOKIE);
    let pending = pending.filter(|p| {
        p.tenant == t.name
            && browser
                .as_deref()
                .is_some_and(|b| same_secret(b, &p.browser))
    });
    let Some(p) = pending else {
        tracing::warn!(tenant = %t.name, client = %client, "setup: sign-in refused: unknown, replayed or foreign state");
        return html(
            StatusCode::BAD_REQUEST,
            page::message(
                "This sign-in link is no longer valid",
                "It has expired, was already used, or was started in another browser. Nothing was changed.",
                Some((&format!("/setup/{}/", t.name), "Sign in again")),
            ),
        );
    };
    if let Some(e) = q.error {
        return provider_failed(
            &t.name,
            None,
            client,
            &format!("provider error: {}", bounded(&e, 100)),
        );
    }
    let Some(code) = q.code else {
        return provider_failed(&t.name, None, client, "no code in the callback");
    };
    let redirect = format!("{}/setup/{}/callback", o.public_url, t.name);
    let claims = match setup
        .oidc
        .sign_in(o, &code, &p.verifier, &redirect, &p.nonce)
        .await
    {
        Ok(c) => c,
        Err(e) => return provider_failed(&t.name, None, client, &e.to_string()),
    };
    let email = claims
        .get(&o.email_claim)
        .and_then(|e| e.as_str())
        .map(|e| bounded(e, 254));
    let verified = claims.get("email_verified").and_then(|v| v.as_bool()) != Some(false);
    let person = email
        .as_deref()
        .filter(|e| verified && o.domain_allowed(e))
        .and_then(|e| t.user_by_email(e))
        .filter(|u| devices::is_person(t, &u.name));
    let (Some(email), Some(user)) = (email.clone(), person) else {
        let shown = email.unwrap_or_default();
        tracing::warn!(tenant = %t.name, email = %shown, verified, client = %client, "setup: signed-in identity matches no person");
        return html(
            StatusCode::FORBIDDEN,
            page::message(
                "No account here",
                &format!(
                    "You signed in as {} but that identity is not set up for this service. Please ask your administrator.",
                    if shown.is_empty() { "someone without an email address" } else { &shown }
                ),
                None,
            ),
        );
    };
    let s = Session {
        tenant: t.name.clone(),
        user: user.name.clone(),
        email,
        csrf: random_token(),
        expires: Instant::now() + Duration::from_secs(o.session_secs),
        created: Vec::new(),
    };
    let Ok(sid) = setup.sessions.insert(s) else {
        return html(
            StatusCode::SERVICE_UNAVAILABLE,
            page::message("Busy", &sessions::Full.to_string(), None),
        );
    };
    tracing::info!(tenant = %t.name, user = %user.name, client = %client, "setup: signed in");
    let to = match p.flow {
        Some(f) => format!("/setup/{}/flow/{}", t.name, f),
        None => format!("/setup/{}/", t.name),
    };
    see_other(&to)
        .append_header((
            "Set-Cookie",
            cookie(SESSION_COOKIE, &sid, o.session_secs, secure(o)),
        ))
        .append_header(("Set-Cookie", cookie(LOGIN_COOKIE, "", 0, secure(o))))
        .finish()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct CsrfForm {
    csrf: String,
}

async fn logout(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let name = path.into_inner();
    let Some((t, o)) = tenant(&state.cfg, &name) else {
        return not_found();
    };
    let client = client(&req, &state);
    let (sid, s) = match session(&req, &setup, &t.name, client) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if let Err(r) = check_csrf(&s, &form.csrf, client) {
        return *r;
    }
    setup.sessions.remove(&sid);
    see_other(&format!("/setup/{}/", t.name))
        .insert_header(("Set-Cookie", cookie(SESSION_COOKIE, "", 0, secure(o))))
        .finish()
}

/// The signed-in page, with a secret just created or a notice.
async fn dashboard(
    state: &AppState,
    s: &Session,
    created: Option<page::CreatedView>,
    notice: Option<String>,
) -> HttpResponse {
    let Some((t, o)) = tenant(&state.cfg, &s.tenant) else {
        return not_found();
    };
    let mut collections = Vec::new();
    for (kind, label) in [
        (HomeKind::Calendars, "Calendar"),
        (HomeKind::Addressbooks, "Address book"),
    ] {
        let home = crate::tree::home_path(kind, &s.user);
        let list = match state.store.child_collections(&t.name, &home).await {
            Ok(l) => l,
            Err(e) => return internal(&t.name, &s.user, &e.to_string()),
        };
        for c in list {
            let id = c
                .path
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or("");
            let name = t
                .collections
                .iter()
                .find(|d| d.id == id)
                .map(|d| d.display_name.clone())
                .unwrap_or_else(|| id.to_string());
            collections.push(page::CollectionView {
                name,
                kind: label,
                url: format!("{}{}", o.public_url, crate::tree::href(&c.path)),
            });
        }
    }
    let devices = match devices::list(&state.store, &state.cfg, &t.name, Some(&s.user)).await {
        Ok(d) => d,
        Err(e) => return internal(&t.name, &s.user, &e.to_string()),
    };
    let when = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default()
    };
    let devices = devices
        .into_iter()
        .map(|d| page::DeviceView {
            id: d.id,
            label: d.label,
            created: when(d.created),
            last_used: d.last_used.map(when).unwrap_or_else(|| "never".into()),
        })
        .collect();
    let login = format!("{}@{}", s.user, t.name);
    let server_url = format!("{}{}", o.public_url, crate::tree::CONTEXT);
    html(
        StatusCode::OK,
        page::dashboard(&page::Dashboard {
            tenant: &t.name,
            user: &s.user,
            login: &login,
            email: &s.email,
            csrf: &s.csrf,
            server_url: &server_url,
            collections,
            devices,
            created,
            notice,
        }),
    )
}

fn internal(tenant: &str, user: &str, why: &str) -> HttpResponse {
    tracing::error!(tenant = %tenant, user = %user, error = %why, "setup: page failed");
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        page::message("Something went wrong", "Please try again later.", None),
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct DeviceForm {
    csrf: String,
    label: String,
}

async fn create_device(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<DeviceForm>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let name = path.into_inner();
    let Some((t, o)) = tenant(&state.cfg, &name) else {
        return not_found();
    };
    let client = client(&req, &state);
    let (sid, s) = match session(&req, &setup, &t.name, client) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if let Err(r) = check_csrf(&s, &form.csrf, client) {
        return *r;
    }
    let made = match devices::create(&state.store, &state.cfg, &t.name, &s.user, &form.label).await
    {
        Ok(m) => m,
        Err(devices::DeviceError::Label(e)) => {
            return dashboard(
                &state,
                &s,
                None,
                Some(format!("That device name was refused: {e}.")),
            )
            .await
        }
        Err(e) => return internal(&t.name, &s.user, &e.to_string()),
    };
    tracing::info!(tenant = %t.name, user = %s.user, client = %client, device = %made.device.id, "setup: app password created");
    let password = made.secret.reveal();
    let mut s = s;
    setup.sessions.update(&sid, |x| {
        x.created.push((
            made.device.id.clone(),
            made.device.label.clone(),
            password.clone(),
        ));
        s.created = x.created.clone();
    });
    let login = format!("{}@{}", s.user, t.name);
    let principal = crate::tree::principal_href(&s.user);
    let account = profile::Account {
        public_url: &o.public_url,
        login: &login,
        password: &password,
        label: &made.device.label,
        principal: &principal,
    };
    let davx5 = profile::davx5_link(&account);
    let created = page::CreatedView {
        id: made.device.id.clone(),
        label: made.device.label.clone(),
        qr: profile::qr_svg(&davx5),
        davx5,
        password: password.clone(),
    };
    dashboard(&state, &s, Some(created), None).await
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ProfileForm {
    csrf: String,
    device: String,
}

async fn download_profile(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<ProfileForm>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let name = path.into_inner();
    let Some((t, o)) = tenant(&state.cfg, &name) else {
        return not_found();
    };
    let client = client(&req, &state);
    let (_, s) = match session(&req, &setup, &t.name, client) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if let Err(r) = check_csrf(&s, &form.csrf, client) {
        return *r;
    }
    let Some((_, label, password)) = s.created.iter().find(|(id, _, _)| *id == form.device) else {
        return html(
            StatusCode::NOT_FOUND,
            page::message(
                "Profile no longer available",
                "A profile can be downloaded only in the session that created its app password. Create a new one.",
                Some((&format!("/setup/{}/", t.name), "Back")),
            ),
        );
    };
    let login = format!("{}@{}", s.user, t.name);
    let principal = crate::tree::principal_href(&s.user);
    let body = profile::mobileconfig(&profile::Account {
        public_url: &o.public_url,
        login: &login,
        password,
        label,
        principal: &principal,
    });
    HttpResponse::Ok()
        .content_type("application/x-apple-aspen-config")
        .insert_header(("Cache-Control", "no-store"))
        .insert_header((
            "Content-Disposition",
            format!(
                "attachment; filename=\"{}-{}.mobileconfig\"",
                t.name, s.user
            ),
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .body(body)
}

async fn revoke(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let (name, id) = path.into_inner();
    let Some((t, _)) = tenant(&state.cfg, &name) else {
        return not_found();
    };
    let client = client(&req, &state);
    let (_, s) = match session(&req, &setup, &t.name, client) {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if let Err(r) = check_csrf(&s, &form.csrf, client) {
        return *r;
    }
    let notice = match devices::revoke_own(&state.store, &state.cfg, &t.name, &s.user, &id).await {
        Ok(()) => {
            tracing::info!(tenant = %t.name, user = %s.user, client = %client, device = %bounded(&id, 16), "setup: app password revoked");
            "The device was disconnected: its app password no longer works.".to_string()
        }
        Err(devices::DeviceError::UnknownId { .. }) => {
            tracing::warn!(tenant = %t.name, user = %s.user, client = %client, device = %bounded(&id, 16), "setup: revoke of an unknown or already revoked device");
            "That device was already disconnected.".to_string()
        }
        Err(e) => return internal(&t.name, &s.user, &e.to_string()),
    };
    dashboard(&state, &s, None, Some(notice)).await
}
