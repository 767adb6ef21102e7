//! Prometheus text for the CRM counters (upstream calls, refreshes, their failures and time).

use super::registry::CrmRegistry;
use std::sync::atomic::Ordering;

impl CrmRegistry {
    /// Prometheus text for the CRM counters.
    pub fn metrics_text(&self) -> String {
        let mut names: Vec<&String> = self.tenants.keys().collect();
        names.sort();
        let mut calls = String::from("# HELP crmdav_crm_calls_total HTTP calls made to the CRM (API calls, retries, token requests).\n# TYPE crmdav_crm_calls_total counter\n");
        let mut fails = String::from("# HELP crmdav_refresh_failures_total Collection refreshes that failed (the last known state was served).\n# TYPE crmdav_refresh_failures_total counter\n");
        let mut runs = String::from("# HELP crmdav_refreshes_total Collection refreshes run (within the TTL none runs).\n# TYPE crmdav_refreshes_total counter\n");
        for n in names {
            let t = &self.tenants[n];
            calls.push_str(&format!(
                "crmdav_crm_calls_total{{tenant=\"{n}\"}} {}\n",
                t.calls()
            ));
            fails.push_str(&format!(
                "crmdav_refresh_failures_total{{tenant=\"{n}\"}} {}\n",
                t.failures.load(Ordering::Relaxed)
            ));
            runs.push_str(&format!(
                "crmdav_refreshes_total{{tenant=\"{n}\"}} {}\n",
                t.refreshes.load(Ordering::Relaxed)
            ));
        }
        let secs = format!(
            "# HELP crmdav_refresh_seconds Time spent refreshing CRM collections.\n# TYPE crmdav_refresh_seconds summary\ncrmdav_refresh_seconds_sum {:.6}\ncrmdav_refresh_seconds_count {}\n",
            self.refresh_micros.load(Ordering::Relaxed) as f64 / 1e6,
            self.refresh_count.load(Ordering::Relaxed)
        );
        calls + &fails + &runs + &secs
    }
}
