//! The application: the state every request handler holds, and the composition root that
//! builds it from the configuration (state store, CRM tenants, the collections seam, users'
//! homes).

use crate::auth::{Authenticator, Principal};
use crate::collections::{provision, Collections};
use crate::config::ServerConfig;
use crate::crm::CrmRegistry;
use crate::store::Store;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Everything a request handler needs.
pub struct AppState {
    /// The configuration as started. Its server-file settings hold for the whole run; its
    /// tenants are those at start: use [`AppState::config`] for the tenants now in force.
    pub cfg: ServerConfig,
    /// The configuration now in force, swapped whole when tenant files are reloaded
    /// (`crate::reload`).
    pub live: arc_swap::ArcSwap<ServerConfig>,
    /// The state store (reads; writes to collections go through `collections`).
    pub store: Arc<Store>,
    /// Every collection's read-before, writes and guards, local or CRM-backed.
    pub collections: Collections,
    /// Credential checks: verified credentials, argon2 pool, login throttle.
    pub auth: Authenticator,
    /// Homes and declared collections already ensured, by tenant and user.
    pub ensured: provision::Ensured,
    /// Counters for `/metrics`.
    pub metrics: Metrics,
}

impl AppState {
    /// The configuration now in force (tenant files as last reloaded): a snapshot, read
    /// once per request without a lock.
    pub fn config(&self) -> Arc<ServerConfig> {
        self.live.load_full()
    }

    /// Make sure the principal's homes and declared collections exist (once per process).
    pub async fn ensure_user(&self, principal: &Principal) -> anyhow::Result<()> {
        let (tenant, user) = (&principal.tenant, &principal.user.name);
        self.ensured
            .ensure(tenant, user, async {
                let cfg = self.config();
                let t = cfg
                    .tenant(tenant)
                    .ok_or_else(|| anyhow::anyhow!("tenant {tenant} vanished"))?;
                let u = t
                    .user(user)
                    .ok_or_else(|| anyhow::anyhow!("user {user} vanished"))?;
                provision::ensure_user(&self.store, &self.cfg.limits, t, u).await
            })
            .await
    }
}

/// Build the state: open the store, create declared collections and seed demo data.
pub async fn build_state(cfg: ServerConfig) -> anyhow::Result<Arc<AppState>> {
    let store = Store::open(&cfg.state).await.map_err(|e| {
        let url = crate::store::redact_url(&cfg.state);
        anyhow::anyhow!("cannot open state store {url}: {e}")
    })?;
    let store = Arc::new(store);
    let crm = CrmRegistry::build(&cfg, &store)?;
    crate::crm::check_stored_tokens(&cfg, &store).await;
    let auth = Authenticator::new(&cfg, store.clone());
    let state = Arc::new(AppState {
        collections: Collections::new(store.clone(), crm).with_quota(cfg.quota.clone()),
        live: arc_swap::ArcSwap::from_pointee(cfg.clone()),
        cfg,
        store,
        auth,
        ensured: Default::default(),
        metrics: Metrics::default(),
    });
    // Cards stored before the field index existed (or before its last change) get indexed
    // once, a page at a time: memory stays bounded by the page, not the store.
    let (mut after, mut indexed) = (0, 0usize);
    loop {
        let page = state.store.cards_without_fields(after, 500).await?;
        let Some(last) = page.last().map(|(id, _)| *id) else {
            break;
        };
        for (id, body) in page {
            let fields = crate::store::card_fields(&String::from_utf8_lossy(&body));
            state.store.set_fields(id, &fields).await?;
            indexed += 1;
        }
        after = last;
    }
    if indexed > 0 {
        tracing::info!(cards = indexed, "indexed vCard fields");
    }
    for t in &state.cfg.tenants {
        for u in &t.users {
            provision::ensure_user(&state.store, &state.cfg.limits, t, u).await?;
            state.ensured.record(&t.name, &u.name);
        }
    }
    Ok(state)
}

/// Upper bounds (seconds) of the request latency histogram's buckets (`+Inf` follows).
const LATENCY_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// One method's latency histogram: counts per bucket (the last is `+Inf`), sum, count.
#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len() + 1],
    sum: f64,
    count: u64,
}

/// Request counters for `/metrics`: by method and status, with total time; a latency
/// histogram by method; and by tenant and status class when tenants may be named. Every
/// label comes from a bounded set: methods from a fixed list (else `other`), tenants from
/// the configuration only.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<MethodStatus, (u64, f64)>>,
    latency: Mutex<BTreeMap<&'static str, Histogram>>,
    tenants: Mutex<BTreeMap<(String, &'static str), u64>>,
}

/// A request counter's labels: the method (from a fixed list) and the status code.
type MethodStatus = (&'static str, u16);

/// `2xx`, `4xx`, … of a status code.
fn status_class(status: u16) -> &'static str {
    match status / 100 {
        1 => "1xx",
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    /// Count one request. `tenant` is a configured tenant's name (or `None`), given only when
    /// `http.metrics_tenant_names` is on.
    pub fn record(&self, method: &'static str, status: u16, took: Duration, tenant: Option<&str>) {
        let secs = took.as_secs_f64();
        if let Ok(mut m) = self.requests.lock() {
            let e = m.entry((method, status)).or_insert((0, 0.0));
            e.0 += 1;
            e.1 += secs;
        }
        if let Ok(mut m) = self.latency.lock() {
            let h = m.entry(method).or_default();
            let i = LATENCY_BUCKETS
                .iter()
                .position(|b| secs <= *b)
                .unwrap_or(LATENCY_BUCKETS.len());
            h.buckets[i] += 1;
            h.sum += secs;
            h.count += 1;
        }
        if let Some(t) = tenant {
            if let Ok(mut m) = self.tenants.lock() {
                *m.entry((t.to_string(), status_class(status))).or_insert(0) += 1;
            }
        }
    }

    /// Prometheus text exposition. `tenants` are the tenants now configured, named in the
    /// per-tenant series (empty: no per-tenant series).
    pub fn text(&self, tenants: &[&str]) -> String {
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
        let mut hist = String::from(
            "# HELP crmdav_request_duration_seconds DAV request latency by method.\n# TYPE crmdav_request_duration_seconds histogram\n",
        );
        if let Ok(m) = self.latency.lock() {
            for (method, h) in m.iter() {
                let mut cumulative = 0;
                for (i, n) in h.buckets.iter().enumerate() {
                    cumulative += n;
                    let le = LATENCY_BUCKETS
                        .get(i)
                        .map(|b| b.to_string())
                        .unwrap_or_else(|| "+Inf".into());
                    hist.push_str(&format!(
                        "crmdav_request_duration_seconds_bucket{{method=\"{method}\",le=\"{le}\"}} {cumulative}\n"
                    ));
                }
                hist.push_str(&format!(
                    "crmdav_request_duration_seconds_sum{{method=\"{method}\"}} {:.6}\ncrmdav_request_duration_seconds_count{{method=\"{method}\"}} {}\n",
                    h.sum, h.count
                ));
            }
        }
        let mut per_tenant = String::new();
        if !tenants.is_empty() {
            per_tenant.push_str("# HELP crmdav_tenant_requests_total DAV requests by tenant (as configured) and status class.\n# TYPE crmdav_tenant_requests_total counter\n");
            if let Ok(m) = self.tenants.lock() {
                for ((tenant, class), n) in m.iter() {
                    if tenants.contains(&tenant.as_str()) {
                        per_tenant.push_str(&format!(
                            "crmdav_tenant_requests_total{{tenant=\"{tenant}\",class=\"{class}\"}} {n}\n"
                        ));
                    }
                }
            }
        }
        out + &secs + &hist + &per_tenant
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_tenants_only_configured_ones() {
        let m = Metrics::default();
        m.record("GET", 200, Duration::from_millis(3), Some("a"));
        m.record("GET", 404, Duration::from_millis(300), Some("gone"));
        m.record("GET", 200, Duration::from_secs(60), None);
        let text = m.text(&["a"]);
        assert!(
            text.contains(
                "crmdav_request_duration_seconds_bucket{method=\"GET\",le=\"0.005\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("crmdav_request_duration_seconds_bucket{method=\"GET\",le=\"0.5\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("crmdav_request_duration_seconds_bucket{method=\"GET\",le=\"30\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("crmdav_request_duration_seconds_bucket{method=\"GET\",le=\"+Inf\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("crmdav_request_duration_seconds_count{method=\"GET\"} 3\n"),
            "{text}"
        );
        assert!(
            text.contains("crmdav_tenant_requests_total{tenant=\"a\",class=\"2xx\"} 1\n"),
            "{text}"
        );
        assert!(!text.contains("gone"), "{text}");
        assert!(!m.text(&[]).contains("crmdav_tenant_requests_total"));
    }
}
