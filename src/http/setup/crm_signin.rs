//! "Connect your CRM account": a signed-in person connects their own CRM account by OAuth2
//! authorization code with PKCE (RFC 6749 §4.1, RFC 7636), where the tenant's connector offers
//! it (`[person_oauth]`). The form post (CSRF-checked) sends the browser to the CRM with a
//! fresh `state` bound to the page session; the callback takes that `state` once (a wrong,
//! replayed or foreign one gets a clear page and a log line, and nothing is written), checks
//! that the same session is still signed in, and hands the code to the tenant
//! (`CrmTenant::connect_crm_account`), which stores the tokens sealed and uses them for the
//! person's reads and writes.

use super::sessions::{bounded, same_secret};
use super::signin::Callback;
use super::{
    client, html, not_found, oidc, page, posted_session, see_other, session, tenant, AppState,
    CsrfForm, Setup,
};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use std::net::IpAddr;

/// A CRM sign-in sent to the CRM, under its `state` (in the state store, sealed under it).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct CrmPending {
    tenant: String,
    user: String,
    /// The page session that started it.
    session: String,
    verifier: String,
    client: IpAddr,
}

fn redirect_uri(public_url: &str, tenant: &str) -> String {
    format!("{public_url}/setup/{tenant}/crm/callback")
}

/// POST `/setup/<tenant>/crm/connect`: send the browser to the CRM's authorization page.
pub(super) async fn connect(
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
    let (sid, s) = match posted_session(&req, &setup, &t.name, client, &form.csrf).await {
        Ok(x) => x,
        Err(page) => return *page,
    };
    let crm = state.collections.crm();
    let Some(crm_tenant) = crm.tenant(&t.name).filter(|c| c.offers_crm_signin()) else {
        return not_found();
    };
    let (verifier, challenge) = oidc::pkce();
    let pending = CrmPending {
        tenant: t.name.clone(),
        user: s.user.clone(),
        session: sid,
        verifier,
        client,
    };
    let tags = super::sessions::Tags {
        tenant: &t.name,
        owner: None,
        client: Some(client),
        lookup: None,
    };
    let st = match setup.crm_pending.insert(tags, &pending, None).await {
        Ok(st) => st,
        Err(r) => return super::refused(&t.name, client, r),
    };
    match crm_tenant.crm_authorize_url(&redirect_uri(&o.public_url, &t.name), &st, &challenge) {
        Some(url) => {
            tracing::info!(tenant = %t.name, user = %s.user, client = %client, "setup: CRM sign-in started");
            see_other(&url).finish()
        }
        None => {
            let _ = setup.crm_pending.remove(&st).await;
            failed(
                &t.name,
                &s.user,
                client,
                "the connector's authorize_url is not a URL",
            )
        }
    }
}

/// GET `/setup/<tenant>/crm/callback`: the CRM sends the browser back with a code.
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
    // Single use: the pending CRM sign-in is gone whatever happens next.
    let taken = match q.state.as_deref().filter(|s| s.len() <= 64) {
        Some(st) => match setup.crm_pending.take(st).await {
            Ok(p) => p,
            Err(e) => return super::unavailable(&t.name, client, &e),
        },
        None => None,
    };
    let pending = taken.filter(|p| p.tenant == t.name);
    let live = session(&req, &setup, &t.name, client).await.ok();
    let Some(p) = pending else {
        let user = live.as_ref().map_or("-", |(_, s)| s.user.as_str());
        tracing::warn!(tenant = %t.name, user = %user, client = %client, "setup: CRM sign-in refused: unknown, replayed or foreign state");
        return refused(&t.name);
    };
    // Bound to the page session that started it: the same session, still signed in.
    let Some((_, s)) = live.filter(|(sid, s)| same_secret(sid, &p.session) && s.user == p.user)
    else {
        tracing::warn!(tenant = %t.name, user = %p.user, client = %client, "setup: CRM sign-in refused: it came back to another or an ended session");
        return refused(&t.name);
    };
    if let Some(e) = q.error {
        return failed(
            &t.name,
            &s.user,
            client,
            &format!("the CRM said: {}", bounded(&e, 100)),
        );
    }
    let Some(code) = q.code.filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return failed(&t.name, &s.user, client, "no code in the callback");
    };
    let crm = state.collections.crm();
    let Some(crm_tenant) = crm.tenant(&t.name).filter(|c| c.offers_crm_signin()) else {
        return not_found();
    };
    match crm_tenant
        .connect_crm_account(
            &s.user,
            &code,
            &p.verifier,
            &redirect_uri(&o.public_url, &t.name),
        )
        .await
    {
        Ok(()) => {
            tracing::info!(tenant = %t.name, user = %s.user, client = %client, "setup: CRM account connected");
            see_other(&format!("/setup/{}/", t.name)).finish()
        }
        Err(e) => failed(&t.name, &s.user, client, &e.to_string()),
    }
}

fn refused(tenant: &str) -> HttpResponse {
    html(
        StatusCode::BAD_REQUEST,
        page::message(
            "This CRM sign-in link is no longer valid",
            "It has expired, was already used, or was started in another session. Nothing was saved.",
            Some((&format!("/setup/{tenant}/"), "Back")),
        ),
    )
}

fn failed(tenant: &str, user: &str, client: IpAddr, why: &str) -> HttpResponse {
    tracing::warn!(tenant = %tenant, user = %user, client = %client, reason = %why, "setup: CRM account not connected");
    html(
        StatusCode::BAD_GATEWAY,
        page::message(
            "Your CRM account was not connected",
            &format!("{why}. Nothing was saved."),
            Some((&format!("/setup/{tenant}/"), "Back")),
        ),
    )
}
