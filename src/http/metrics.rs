//! Prometheus counters for `/metrics`.

use actix_web::{web, HttpResponse};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

/// Request counters by method and status, and total latency.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), (u64, f64)>>,
}

impl Metrics {
    /// Count one request.
    pub fn record(&self, method: &str, status: u16, took: Duration) {
        if let Ok(mut m) = self.requests.lock() {
            let e = m.entry((method.to_string(), status)).or_insert((0, 0.0));
            e.0 += 1;
            e.1 += took.as_secs_f64();
        }
    }

    /// Prometheus text exposition.
    pub fn text(&self) -> String {
        let mut out = String::from(
            "# HELP crmdav_requests_total DAV requests by method and status.\n# TYPE crmdav_requests_total counter\n",
        );
        let mut secs = String::from(
            "# HELP crmdav_request_seconds_total Time spent answering, by method and status.\n# TYPE crmdav_request_seconds_total counter\n",
        );
        if let Ok(m) = self.requests.lock() {
            for ((method, status), (n, s)) in m.iter() {
                out.push_str(&format!(
                    "crmdav_requests_total{{method=\"{method}\",status=\"{status}\"}} {n}\n"
                ));
                secs.push_str(&format!(
                    "crmdav_request_seconds_total{{method=\"{method}\",status=\"{status}\"}} {s:.6}\n"
                ));
            }
        }
        out + &secs
    }
}

pub(super) async fn render(state: web::Data<super::AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.text() + &state.crm.metrics_text())
}
