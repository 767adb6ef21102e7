//! Stale-while-revalidate: what a read of a CRM collection waits for. A collection within its
//! TTL costs nothing; a stale one that has a stored state is served from it at once while one
//! background refresh runs (shared by every read that finds it stale meanwhile, and through the
//! shared listing by every person with the same scope); only a collection that was never
//! imported makes its first reads wait, all on the one import. With a TTL of 0 every read
//! waits for its refresh, and so does a read after the person's own CRM credential changed
//! (the stored state was listed with the previous one).

use super::binding::Binding;
use super::metrics::RefreshMetrics;
use super::tenant::{CrmTenant, Flight};
use crate::store::{Collection, Store};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Clears a flight's `revalidating` mark when the background refresh ends, also when it
/// panics, so the next stale read can start another; counts it in the tenant's pending ones.
struct Revalidating(Arc<Flight>, Arc<CrmTenant>);

impl Revalidating {
    fn new(f: Arc<Flight>, t: Arc<CrmTenant>) -> Self {
        t.background.fetch_add(1, Ordering::AcqRel);
        Revalidating(f, t)
    }
}

impl Drop for Revalidating {
    fn drop(&mut self) {
        self.0.revalidating.store(false, Ordering::Release);
        self.1.background.fetch_sub(1, Ordering::AcqRel);
    }
}

impl CrmTenant {
    /// Before a read of `coll`: nothing when it is fresh; a background refresh (at most one at
    /// a time) when it is stale and has a stored state; otherwise its first import, waited for.
    pub async fn read_fresh(
        self: &Arc<Self>,
        store: &Arc<Store>,
        b: &Arc<Binding>,
        coll: &Collection,
        metrics: &Arc<RefreshMetrics>,
    ) {
        let f = self.flight(coll.id);
        self.credential_catch_up(&f, coll);
        if self.is_fresh(&f) {
            return;
        }
        // What is stored was listed with the person's previous credential: not served.
        let new_credential =
            f.credential_at.load(Ordering::Acquire) > f.refreshed_under.load(Ordering::Acquire);
        // A TTL of 0 asks the CRM on every read, and the read waits for the answer (a
        // read-through setting for tests and debugging).
        if new_credential
            || self.opts.refresh_ttl_secs == 0
            || !self.has_state(store, &f, coll).await
        {
            if let Some((took, res)) = self.ensure_fresh(store, b, coll).await {
                metrics.refreshed(took, res.map_or(0, |s| s.crm_calls));
            }
            return;
        }
        if f.revalidating.swap(true, Ordering::AcqRel) {
            return;
        }
        let guard = Revalidating::new(f, self.clone());
        let (t, store, b, coll, metrics) = (
            self.clone(),
            store.clone(),
            b.clone(),
            coll.clone(),
            metrics.clone(),
        );
        tokio::spawn(async move {
            let _guard = guard;
            if let Some((took, res)) = t.ensure_fresh(&store, &b, &coll).await {
                metrics.refreshed(took, res.map_or(0, |s| s.crm_calls));
            }
        });
    }

    /// Whether `coll` has a stored state to serve: a refresh completed here, or the store
    /// holds another instance's (or an earlier process's) refresh bookkeeping.
    async fn has_state(&self, store: &Store, f: &Flight, coll: &Collection) -> bool {
        if f.has_state.load(Ordering::Acquire) {
            return true;
        }
        let stored = match store.crm_state(coll).await {
            Ok(st) => st.full_scan_at.is_some() || st.watermark.is_some(),
            Err(e) => {
                tracing::warn!(tenant = %self.name, collection = %coll.path, error = %e, "the refresh state could not be read; the read waits for a refresh");
                false
            }
        };
        if stored {
            f.has_state.store(true, Ordering::Release);
        }
        stored
    }
}
