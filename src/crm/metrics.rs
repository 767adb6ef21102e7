//! Prometheus text for the CRM counters (upstream calls, refreshes, their failures and time),
//! and the refresh histograms: how long phone requests waited for the CRM, and the CRM calls
//! each refresh made.

use super::registry::CrmRegistry;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds (seconds) of the wait histogram: a read served from the stored state waits
/// well under the first; a first import waits as long as the CRM lists.
const WAIT_BOUNDS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Upper bounds of the calls-per-refresh histogram (0: the listing was shared or reused).
const CALL_BOUNDS: [f64; 10] = [0.0, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0];

/// A Prometheus histogram with fixed bounds; the sum is kept in `1/scale` units.
struct Histogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    sum: AtomicU64,
    scale: f64,
}

impl Histogram {
    fn new(bounds: &'static [f64], scale: f64) -> Self {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            scale,
        }
    }

    fn observe(&self, v: f64) {
        for (b, n) in self.bounds.iter().zip(&self.buckets) {
            if v <= *b {
                n.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum
            .fetch_add((v * self.scale).round() as u64, Ordering::Relaxed);
    }

    fn text(&self, name: &str, help: &str) -> String {
        let mut out = format!("# HELP {name} {help}\n# TYPE {name} histogram\n");
        for (b, n) in self.bounds.iter().zip(&self.buckets) {
            out.push_str(&format!(
                "{name}_bucket{{le=\"{b}\"}} {}\n",
                n.load(Ordering::Relaxed)
            ));
        }
        let count = self.count.load(Ordering::Relaxed);
        out.push_str(&format!("{name}_bucket{{le=\"+Inf\"}} {count}\n"));
        out.push_str(&format!(
            "{name}_sum {}\n{name}_count {count}\n",
            self.sum.load(Ordering::Relaxed) as f64 / self.scale
        ));
        out
    }
}

/// What refreshes and the reads waiting on them cost, over every tenant (kept across reloads).
pub struct RefreshMetrics {
    refreshes: AtomicU64,
    micros: AtomicU64,
    waits: Histogram,
    calls: Histogram,
}

impl Default for RefreshMetrics {
    fn default() -> Self {
        RefreshMetrics {
            refreshes: AtomicU64::new(0),
            micros: AtomicU64::new(0),
            waits: Histogram::new(&WAIT_BOUNDS, 1e6),
            calls: Histogram::new(&CALL_BOUNDS, 1.0),
        }
    }
}

impl RefreshMetrics {
    /// A refresh ran for `took` and made `calls` CRM calls.
    pub(super) fn refreshed(&self, took: Duration, calls: u64) {
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        self.micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        self.calls.observe(calls as f64);
    }

    /// A read of a CRM collection waited `waited` for the CRM (about nothing when served from
    /// the stored state).
    pub(super) fn waited(&self, waited: Duration) {
        self.waits.observe(waited.as_secs_f64());
    }

    fn text(&self) -> String {
        let secs = format!(
            "# HELP crmdav_refresh_seconds Time spent refreshing CRM collections.\n# TYPE crmdav_refresh_seconds summary\ncrmdav_refresh_seconds_sum {:.6}\ncrmdav_refresh_seconds_count {}\n",
            self.micros.load(Ordering::Relaxed) as f64 / 1e6,
            self.refreshes.load(Ordering::Relaxed)
        );
        secs + &self.waits.text(
            "crmdav_crm_wait_seconds",
            "Time a read of a CRM collection waited for the CRM (a stale state is served at once; only a first import waits).",
        ) + &self.calls.text(
            "crmdav_refresh_crm_calls",
            "CRM calls per collection refresh (listing pages it ran, by-id checks; 0 when the listing was shared).",
        )
    }
}

impl CrmRegistry {
    /// Prometheus text for the CRM counters: per tenant when `tenant_names`, else summed
    /// over tenants (`/metrics` may be public; tenant names are customers' names).
    pub fn metrics_text(&self, tenant_names: bool) -> String {
        let mut names: Vec<&String> = self.tenants.keys().collect();
        names.sort();
        let mut calls = String::from("# HELP crmdav_crm_calls_total HTTP calls made to the CRM (API calls, retries, token requests).\n# TYPE crmdav_crm_calls_total counter\n");
        let mut fails = String::from("# HELP crmdav_refresh_failures_total Collection refreshes that failed (the last known state was served).\n# TYPE crmdav_refresh_failures_total counter\n");
        let mut runs = String::from("# HELP crmdav_refreshes_total Collection refreshes run (within the TTL none runs).\n# TYPE crmdav_refreshes_total counter\n");
        let mut lists = String::from("# HELP crmdav_crm_listings_total Listings of the CRM run for refreshes (people sharing a scope share one).\n# TYPE crmdav_crm_listings_total counter\n");
        let mut users = String::from("# HELP crmdav_crm_user_listings_total Reads of the CRM's user list (linking people by e-mail).\n# TYPE crmdav_crm_user_listings_total counter\n");
        let mut personal = String::from("# HELP crmdav_crm_personal_calls_total Of crmdav_crm_calls_total, the calls made with people's own CRM credentials.\n# TYPE crmdav_crm_personal_calls_total counter\n");
        let mut roles = String::from("# HELP crmdav_crm_role_lookups_total Requests asking the CRM a person's role ([me]).\n# TYPE crmdav_crm_role_lookups_total counter\n");
        let mut refused = String::from("# HELP crmdav_crm_credential_refusals_total Calls the CRM refused with a person's own credential (revoked or expired).\n# TYPE crmdav_crm_credential_refusals_total counter\n");
        let mut pending = String::from("# HELP crmdav_refreshes_pending Background refreshes that stale reads started and that have not finished.\n# TYPE crmdav_refreshes_pending gauge\n");
        let counts = |n: &String| {
            let t = &self.tenants[n];
            [
                t.calls(),
                t.failures.load(Ordering::Relaxed),
                t.refreshes.load(Ordering::Relaxed),
                t.listings_run(),
                t.user_listings(),
                t.personal_calls(),
                t.role_lookups(),
                t.credential_refusals(),
                t.background.load(Ordering::Relaxed),
            ]
        };
        let mut series: Vec<(String, [u64; 9])> = Vec::new();
        if tenant_names {
            for n in names {
                series.push((format!("{{tenant=\"{n}\"}}"), counts(n)));
            }
        } else if !names.is_empty() {
            let mut sum = [0u64; 9];
            for n in names {
                for (s, c) in sum.iter_mut().zip(counts(n)) {
                    *s += c;
                }
            }
            series.push((String::new(), sum));
        }
        for (labels, [c, f, r, l, u, p, ro, rf, bg]) in series {
            personal.push_str(&format!("crmdav_crm_personal_calls_total{labels} {p}\n"));
            roles.push_str(&format!("crmdav_crm_role_lookups_total{labels} {ro}\n"));
            refused.push_str(&format!(
                "crmdav_crm_credential_refusals_total{labels} {rf}\n"
            ));
            pending.push_str(&format!("crmdav_refreshes_pending{labels} {bg}\n"));
            calls.push_str(&format!("crmdav_crm_calls_total{labels} {c}\n"));
            fails.push_str(&format!("crmdav_refresh_failures_total{labels} {f}\n"));
            runs.push_str(&format!("crmdav_refreshes_total{labels} {r}\n"));
            lists.push_str(&format!("crmdav_crm_listings_total{labels} {l}\n"));
            users.push_str(&format!("crmdav_crm_user_listings_total{labels} {u}\n"));
        }
        calls
            + &fails
            + &runs
            + &lists
            + &users
            + &personal
            + &roles
            + &refused
            + &pending
            + &self.metrics.text()
    }
}
