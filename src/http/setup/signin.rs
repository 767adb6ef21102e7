//! Signing in and out: the sign-in page, the authorization request, the provider's callback
//! (single-use `state` bound to the browser, the code exchanged and the ID token verified,
//! the identity matched to a person by email), and signing out.

use super::{
    client, cookie, html, not_found, oidc, page, posted_session, read_cookie, refused, secure,
    see_other, session, sessions, tenant, unavailable, AppState, CsrfForm, Pending, Session, Setup,
    LOGIN_COOKIE, LOGIN_TTL, SESSION_COOKIE,
};
use crate::auth::devices;
use crate::config::{OidcConfig, TenantConfig};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use sessions::{bounded, random_token, same_secret};
use std::net::IpAddr;
use std::time::Duration;

pub(super) async fn index(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let name = path.into_inner();
    let cfg = state.config();
    let Some((t, _)) = tenant(&cfg, &name) else {
        return not_found();
    };
    let client = client(&req, &state);
    if read_cookie(&req, SESSION_COOKIE).is_none() {
        return html(StatusCode::OK, page::sign_in(&t.name, None));
    }
    match session(&req, &setup, &t.name, client).await {
        Ok((_, s)) => super::account::dashboard(&state, &s, None, None).await,
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
pub(super) struct LoginQuery {
    flow: Option<String>,
}

pub(super) async fn login(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<LoginQuery>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let name = path.into_inner();
    let cfg = state.config();
    let Some((t, o)) = tenant(&cfg, &name) else {
        return not_found();
    };
    // The flow id comes back into a redirect after sign-in: only the shape we issue.
    let flow = query.into_inner().flow.filter(|f| {
        f.len() == 43
            && f.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    start_sign_in(&req, &state, &setup, t, o, flow).await
}

/// Send the browser to the provider, remembering `state`, `nonce` and the PKCE verifier.
pub(super) async fn start_sign_in(
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
        client,
    };
    let tags = sessions::Tags {
        tenant: &t.name,
        owner: None,
        client: Some(client),
        lookup: None,
    };
    let st = match setup.pending.insert(tags, &pending, None).await {
        Ok(st) => st,
        Err(r) => return refused(&t.name, client, r),
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

/// The query of an OAuth2 redirect back to the page (RFC 6749 §4.1.2): the identity provider's
/// and the CRM's callbacks alike.
#[derive(Deserialize)]
pub(super) struct Callback {
    pub(super) state: Option<String>,
    pub(super) code: Option<String>,
    pub(super) error: Option<String>,
}

pub(super) async fn callback(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<Callback>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let name = path.into_inner();
    let cfg = state.config();
    let Some((t, o)) = tenant(&cfg, &name) else {
        return not_found();
    };
    let client = client(&req, &state);
    let q = query.into_inner();
    // Single use: the pending sign-in is gone whatever happens next.
    let pending = match q.state.as_deref().filter(|s| s.len() <= 64) {
        Some(s) => match setup.pending.take(s).await {
            Ok(p) => p,
            Err(e) => return unavailable(&t.name, client, &e),
        },
        None => None,
    };
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
        created: Vec::new(),
    };
    let tags = sessions::Tags {
        tenant: &t.name,
        owner: Some(&user.name),
        client: Some(client),
        lookup: None,
    };
    let life = Duration::from_secs(o.session_secs);
    let sid = match setup.sessions.insert(tags, &s, Some(life)).await {
        Ok(sid) => sid,
        Err(r) => return refused(&t.name, client, r),
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

pub(super) async fn logout(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<CsrfForm>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let name = path.into_inner();
    let cfg = state.config();
    let Some((t, o)) = tenant(&cfg, &name) else {
        return not_found();
    };
    let client = client(&req, &state);
    let (sid, _) = match posted_session(&req, &setup, &t.name, client, &form.csrf).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    if let Err(e) = setup.sessions.remove(&sid).await {
        return unavailable(&t.name, client, &e);
    }
    see_other(&format!("/setup/{}/", t.name))
        .insert_header(("Set-Cookie", cookie(SESSION_COOKIE, "", 0, secure(o))))
        .finish()
}
