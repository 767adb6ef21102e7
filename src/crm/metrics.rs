//! Prometheus text for the CRM counters (upstream calls, refreshes, their failures and time).

use super::registry::CrmRegistry;
use std::sync::atomic::Ordering;

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
            ]
        };
        let mut series: Vec<(String, [u64; 8])> = Vec::new();
        if tenant_names {
            for n in names {
                series.push((format!("{{tenant=\"{n}\"}}"), counts(n)));
            }
        } else if !names.is_empty() {
            let mut sum = [0u64; 8];
            for n in names {
                for (s, c) in sum.iter_mut().zip(counts(n)) {
                    *s += c;
                }
            }
            series.push((String::new(), sum));
        }
        for (labels, [c, f, r, l, u, p, ro, rf]) in series {
            personal.push_str(&format!("crmdav_crm_personal_calls_total{labels} {p}\n"));
            roles.push_str(&format!("crmdav_crm_role_lookups_total{labels} {ro}\n"));
            refused.push_str(&format!(
                "crmdav_crm_credential_refusals_total{labels} {rf}\n"
            ));
            calls.push_str(&format!("crmdav_crm_calls_total{labels} {c}\n"));
            fails.push_str(&format!("crmdav_refresh_failures_total{labels} {f}\n"));
            runs.push_str(&format!("crmdav_refreshes_total{labels} {r}\n"));
            lists.push_str(&format!("crmdav_crm_listings_total{labels} {l}\n"));
            users.push_str(&format!("crmdav_crm_user_listings_total{labels} {u}\n"));
        }
        let secs = format!(
            "# HELP crmdav_refresh_seconds Time spent refreshing CRM collections.\n# TYPE crmdav_refresh_seconds summary\ncrmdav_refresh_seconds_sum {:.6}\ncrmdav_refresh_seconds_count {}\n",
            self.refresh_micros.load(Ordering::Relaxed) as f64 / 1e6,
            self.refresh_count.load(Ordering::Relaxed)
        );
        calls + &fails + &runs + &lists + &users + &personal + &roles + &refused + &secs
    }
}
