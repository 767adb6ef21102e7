//! `/metrics`: the request counters, the authentication counters and the collections' (CRM)
//! counters as Prometheus text. Every label comes from a bounded set: a method the gateway
//! does not know is `other`, and tenants are named only when configured to.

use crate::app::AppState;
use actix_web::http::Method;
use actix_web::{web, HttpResponse};

/// Methods counted under their own name; anything else is `other`, so made-up methods
/// (answered 401 or 405) cannot grow the series.
const KNOWN: &[&str] = &[
    "OPTIONS",
    "GET",
    "HEAD",
    "PUT",
    "POST",
    "DELETE",
    "PATCH",
    "TRACE",
    "CONNECT",
    "PROPFIND",
    "PROPPATCH",
    "REPORT",
    "MKCOL",
    "MKCALENDAR",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "ACL",
    "SEARCH",
];

/// The metrics label of a request method.
pub(super) fn method_label(method: &Method) -> &'static str {
    KNOWN
        .iter()
        .copied()
        .find(|m| *m == method.as_str())
        .unwrap_or("other")
}

pub(super) async fn render(state: web::Data<AppState>) -> HttpResponse {
    let auth = &state.auth;
    let auth_text = format!(
        "# HELP crmdav_password_verifications_total Password hashes verified (argon2), for known users or not.\n# TYPE crmdav_password_verifications_total counter\ncrmdav_password_verifications_total {}\n\
         # HELP crmdav_logins_throttled_total Login attempts refused by the throttle without verifying.\n# TYPE crmdav_logins_throttled_total counter\ncrmdav_logins_throttled_total {}\n\
         # HELP crmdav_login_throttle_entries Addresses and logins the throttle remembers.\n# TYPE crmdav_login_throttle_entries gauge\ncrmdav_login_throttle_entries {}\n",
        auth.verifications(),
        auth.throttled(),
        auth.throttle_entries()
    );
    let cfg = state.config();
    let tenants: Vec<&str> = if state.cfg.http.metrics_tenant_names {
        cfg.tenants.iter().map(|t| t.name.as_str()).collect()
    } else {
        Vec::new()
    };
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(
            state.metrics.text(&tenants)
                + &auth_text
                + &state
                    .collections
                    .metrics_text(state.cfg.http.metrics_tenant_names),
        )
}
