//! `/metrics`: the request counters and the collections' (CRM) counters as Prometheus text.

use crate::app::AppState;
use actix_web::{web, HttpResponse};

pub(super) async fn render(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.text() + &state.collections.metrics_text())
}
