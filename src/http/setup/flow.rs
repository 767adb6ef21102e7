//! DAVx5's browser login, the Nextcloud Login Flow v2 as DAVx5 drives it: the app posts to
//! `/index.php/login/v2` and gets a login URL and a poll token; the person opens the URL,
//! signs in on the page and allows the device, which creates an app password labelled with
//! the app's name; the app polls `/index.php/login/v2/poll` with the token and receives the
//! credentials once (404 before and after).
//!
//! Poll tokens are random (256 bits), live ten minutes, are used once and are bounded in
//! number. The login URL carries a separate random id, never the poll token: the browser
//! never learns what the app polls with.

use super::signin::start_sign_in;
use super::{
    client, html, not_found, page, posted_session, session, sessions, tenant, tenant_for_host,
    AppState, Setup,
};
use crate::auth::{app_password, devices};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a Login Flow v2 grant waits for the person and the app.
pub const FLOW_TTL: Duration = Duration::from_secs(600);

/// The credentials handed to the app.
#[derive(Clone, Serialize, Deserialize)]
pub struct Credentials {
    server: String,
    login: String,
    password: String,
}

/// One login under way, under its poll token and found by its login id (sealed under the
/// login id, which is wrapped under the poll token: see `sessions`).
#[derive(Clone, Serialize, Deserialize)]
pub struct Flow {
    tenant: String,
    label: String,
    result: Option<Credentials>,
}

/// `POST /index.php/login/v2`: start a login.
pub async fn init(
    req: HttpRequest,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let cfg = state.config();
    let Some(t) = tenant_for_host(&cfg, &req) else {
        return HttpResponse::NotFound().finish();
    };
    let Some(o) = t.oidc.as_ref() else {
        return HttpResponse::NotFound().finish();
    };
    let agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let label = app_password::label(&sessions::bounded(agent, 64))
        .map(str::to_string)
        .unwrap_or_else(|_| "App".into());
    let client = client(&req, &state);
    let login_id = sessions::random_token();
    let flow = Flow {
        tenant: t.name.clone(),
        label,
        result: None,
    };
    let tags = sessions::Tags {
        tenant: &t.name,
        owner: None,
        client: Some(client),
        lookup: Some(&login_id),
    };
    let token = match setup.flows.insert(tags, &flow, None).await {
        Ok(token) => token,
        Err(sessions::Refusal::TooManyFromClient) => {
            tracing::warn!(tenant = %t.name, client = %client, "setup: too many login flows from one client");
            return HttpResponse::TooManyRequests()
                .insert_header(("Retry-After", "600"))
                .finish();
        }
        Err(e) => {
            tracing::error!(tenant = %t.name, client = %client, error = %e, "setup: login flow not stored");
            return HttpResponse::ServiceUnavailable().finish();
        }
    };
    tracing::info!(tenant = %t.name, client = %client, "setup: login flow started");
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(serde_json::json!({
            "poll": {
                "token": token,
                "endpoint": format!("{}/index.php/login/v2/poll", o.public_url),
            },
            "login": format!("{}/setup/{}/flow/{}", o.public_url, t.name, login_id),
        }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PollForm {
    token: String,
}

/// `POST /index.php/login/v2/poll`: the credentials once the person allowed, once (across
/// instances: the take is atomic in the store).
pub async fn poll(setup: web::Data<Setup>, form: web::Form<PollForm>) -> HttpResponse {
    if form.token.is_empty() || form.token.len() > 64 {
        return HttpResponse::NotFound().finish();
    }
    let ready = match setup.flows.get(&form.token).await {
        Ok(f) => f.is_some_and(|f| f.result.is_some()),
        Err(e) => {
            tracing::error!(error = %e, "setup: login flow poll: state store failed");
            return HttpResponse::ServiceUnavailable().finish();
        }
    };
    let taken = match ready {
        true => setup.flows.take(&form.token).await.ok().flatten(),
        false => None,
    };
    match taken.and_then(|f| f.result) {
        Some(c) => HttpResponse::Ok()
            .insert_header(("Cache-Control", "no-store"))
            .json(serde_json::json!({
                "server": c.server,
                "loginName": c.login,
                "appPassword": c.password,
            })),
        None => HttpResponse::NotFound().finish(),
    }
}

/// The flow of this login id, still waiting for the person (a failing store counts as none:
/// the person is told to start again, nothing was written).
async fn waiting(setup: &Setup, tenant: &str, login_id: &str) -> Option<(sessions::Found, Flow)> {
    if login_id.len() > 64 {
        return None;
    }
    match setup.flows.find(tenant, login_id).await {
        Ok(f) => f.filter(|(_, f)| f.tenant == tenant && f.result.is_none()),
        Err(e) => {
            tracing::error!(tenant = %tenant, error = %e, "setup: login flow lookup: state store failed");
            None
        }
    }
}

fn gone(tenant: &str) -> HttpResponse {
    html(
        StatusCode::NOT_FOUND,
        page::message(
            "This connection request has expired",
            "Start again from the app.",
            Some((&format!("/setup/{tenant}/"), "Go to the sign-in page")),
        ),
    )
}

/// `GET /setup/<tenant>/flow/<id>`: sign in if needed, then ask.
pub async fn consent(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let (name, login_id) = path.into_inner();
    let cfg = state.config();
    let Some((t, o)) = tenant(&cfg, &name) else {
        return not_found();
    };
    let Some((_, flow)) = waiting(&setup, &t.name, &login_id).await else {
        return gone(&t.name);
    };
    let client = client(&req, &state);
    match session(&req, &setup, &t.name, client).await {
        Ok((_, s)) => html(
            StatusCode::OK,
            page::consent(&t.name, &login_id, &flow.label, &s.user, &s.csrf),
        ),
        Err(_) => start_sign_in(&req, &state, &setup, t, o, Some(login_id)).await,
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct GrantForm {
    csrf: String,
}

/// `POST /setup/<tenant>/flow/<id>`: the person allows; an app password is made for the app.
pub async fn grant(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<GrantForm>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let (name, login_id) = path.into_inner();
    let cfg = state.config();
    let Some((t, o)) = tenant(&cfg, &name) else {
        return not_found();
    };
    let client = client(&req, &state);
    let (_, s) = match posted_session(&req, &setup, &t.name, client, &form.csrf).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let Some((found, flow)) = waiting(&setup, &t.name, &login_id).await else {
        return gone(&t.name);
    };
    let made = match devices::create(&state.store, &cfg, &t.name, &s.user, &flow.label).await {
        Ok(m) => m,
        Err(e) => return super::account::internal(&t.name, &s.user, &e.to_string()),
    };
    let creds = Credentials {
        server: o.public_url.clone(),
        login: format!("{}@{}", s.user, t.name),
        password: made.secret.reveal(),
    };
    let done = Flow {
        result: Some(creds),
        ..flow.clone()
    };
    if !setup
        .flows
        .update_found(&found, &done)
        .await
        .unwrap_or(false)
    {
        // The flow expired meanwhile: the password would reach nobody.
        let _ = devices::revoke_own(&state.store, &cfg, &t.name, &s.user, &made.device.id).await;
        return gone(&t.name);
    }
    tracing::info!(tenant = %t.name, user = %s.user, client = %client, device = %made.device.id, "setup: app password created for a login flow");
    html(
        StatusCode::OK,
        page::message_ok(
            "Connected",
            &format!(
                "{} is now connected. You can close this page and return to the app.",
                flow.label
            ),
        ),
    )
}

/// `/remote.php/dav`: where a Login Flow client looks for the DAV service.
pub async fn to_context() -> HttpResponse {
    HttpResponse::MovedPermanently()
        .insert_header(("Location", crate::tree::CONTEXT))
        .finish()
}
