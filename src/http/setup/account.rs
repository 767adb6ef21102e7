//! The signed-in page: a person's collections and devices, creating an app password (shown
//! once, with the profile, the DAVx5 link and QR code), the profile download, and revoking.

use super::{
    client, html, not_found, page, posted_session, profile, sessions, tenant, AppState, CsrfForm,
    Session, Setup,
};
use crate::auth::devices;
use crate::tree::HomeKind;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use sessions::bounded;

pub(super) async fn dashboard(
    state: &AppState,
    s: &Session,
    created: Option<page::CreatedView>,
    notice: Option<String>,
) -> HttpResponse {
    let cfg = state.config();
    let Some((t, o)) = tenant(&cfg, &s.tenant) else {
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
    let devices = match devices::list(&state.store, &cfg, &t.name, Some(&s.user)).await {
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
    let crm_account = crm_account(state, &t.name, &s.user).await;
    let crm_connect = state
        .collections
        .crm()
        .tenant(&t.name)
        .is_some_and(|c| c.offers_crm_signin());
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
            crm_account,
            crm_connect,
        }),
    )
}

/// The state of the person's own CRM credential, when they have one.
async fn crm_account(state: &AppState, tenant: &str, user: &str) -> Option<page::CrmAccountView> {
    let crm = state.collections.crm();
    let t = crm.tenant(tenant)?;
    // The role lookup (cached) picks up tokens connected on another instance, and may itself
    // learn that the credential is refused.
    let read_only = t.read_only(user).await;
    if !t.has_personal(user) {
        return None;
    }
    Some(match t.credential_refused(user) {
        Some(r) => page::CrmAccountView::Refused {
            at: r.at.format("%Y-%m-%d %H:%M UTC").to_string(),
            reason: r.reason,
        },
        None => page::CrmAccountView::Working { read_only },
    })
}

pub(super) fn internal(tenant: &str, user: &str, why: &str) -> HttpResponse {
    tracing::error!(tenant = %tenant, user = %user, error = %why, "setup: page failed");
    html(
        StatusCode::INTERNAL_SERVER_ERROR,
        page::message("Something went wrong", "Please try again later.", None),
    )
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct DeviceForm {
    csrf: String,
    label: String,
}

pub(super) async fn create_device(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<DeviceForm>,
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
        Err(r) => return *r,
    };
    let made = match devices::create(&state.store, &cfg, &t.name, &s.user, &form.label).await {
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
    let kept = setup
        .sessions
        .update(&sid, |x| {
            x.created.push((
                made.device.id.clone(),
                made.device.label.clone(),
                password.clone(),
            ));
            s.created = x.created.clone();
        })
        .await;
    if let Err(e) = kept {
        // The password works; only its profile download in this session is lost.
        tracing::warn!(tenant = %t.name, user = %s.user, client = %client, error = %e, "setup: session not updated with the new device");
    }
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
pub(super) struct ProfileForm {
    csrf: String,
    device: String,
}

pub(super) async fn download_profile(
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<ProfileForm>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let name = path.into_inner();
    let cfg = state.config();
    let Some((t, o)) = tenant(&cfg, &name) else {
        return not_found();
    };
    let client = client(&req, &state);
    let (_, s) = match posted_session(&req, &setup, &t.name, client, &form.csrf).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
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

pub(super) async fn revoke(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<CsrfForm>,
    state: web::Data<AppState>,
    setup: web::Data<Setup>,
) -> HttpResponse {
    let (name, id) = path.into_inner();
    let cfg = state.config();
    let Some((t, _)) = tenant(&cfg, &name) else {
        return not_found();
    };
    let client = client(&req, &state);
    let (_, s) = match posted_session(&req, &setup, &t.name, client, &form.csrf).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let notice = match devices::revoke_own(&state.store, &cfg, &t.name, &s.user, &id).await {
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
