//! The application: the state every request handler holds, and the composition root that
//! builds it from the configuration (state store, CRM tenants, the collections seam, users'
//! homes).

use crate::auth::{Authenticator, Principal};
use crate::collections::{provision, Collections};
use crate::config::ServerConfig;
use crate::crm::CrmRegistry;
use crate::store::Store;
use std::collections::{BTreeMap, HashSet};
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
    /// Homes and declared collections already ensured, by (tenant, user).
    pub ensured: tokio::sync::Mutex<HashSet<(String, String)>>,
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
        let key = (principal.tenant.clone(), principal.user.name.clone());
        let mut ensured = self.ensured.lock().await;
        if ensured.contains(&key) {
            return Ok(());
        }
        let cfg = self.config();
        let tenant = cfg
            .tenant(&principal.tenant)
            .ok_or_else(|| anyhow::anyhow!("tenant {} vanished", principal.tenant))?;
        let user = tenant
            .user(&principal.user.name)
            .ok_or_else(|| anyhow::anyhow!("user {} vanished", principal.user.name))?;
        provision::ensure_user(&self.store, &self.cfg.limits, tenant, user).await?;
        ensured.insert(key);
        Ok(())
    }
}

/// Build the state: open the store, create declared collections and seed demo data.
pub async fn build_state(cfg: ServerConfig) -> anyhow::Result<Arc<AppState>> {
    let store = Store::open(&cfg.state)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open state store {}: {e}", cfg.state))?;
    let store = Arc::new(store);
    let crm = CrmRegistry::build(&cfg, &store)?;
    let auth = Authenticator::new(&cfg);
    let state = Arc::new(AppState {
        collections: Collections::new(store.clone(), crm).with_quota(cfg.quota.clone()),
        live: arc_swap::ArcSwap::from_pointee(cfg.clone()),
        cfg,
        store,
        auth,
        ensured: Default::default(),
        metrics: Metrics::default(),
    });
    // Cards stored before the field index existed get indexed once.
    let missing = state.store.cards_without_fields().await?;
    if !missing.is_empty() {
        tracing::info!(cards = missing.len(), "indexing vCard fields");
        for (id, body) in missing {
            let fields = crate::store::card_fields(&String::from_utf8_lossy(&body));
            state.store.set_fields(id, &fields).await?;
        }
    }
    for t in &state.cfg.tenants {
        for u in &t.users {
            provision::ensure_user(&state.store, &state.cfg.limits, t, u).await?;
            state
                .ensured
                .lock()
                .await
                .insert((t.name.clone(), u.name.clone()));
        }
    }
    Ok(state)
}

/// Request counters by method and status, and total latency, for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, u16), (u64, f64)>>,
}

impl Metrics {
    /// Count one request.
    pub fn record(&self, method: &'static str, status: u16, took: Duration) {
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
