//! Shared listings: people whose scope resolves to the same CRM query (entity, filter
//! parameters, window bounds) share one listing per TTL. Each person's collection then
//! reconciles the shared records on its own (local predicates, identity map, change log).
//!
//! A listing is reused when it finished less than a TTL ago, no write went through a collection of
//! its query since it started (a write bumps the query's generation, so a record a phone just
//! created cannot be missing from the listing the next refresh reads), and it covers what the
//! caller asks: a full listing covers everything, an incremental one covers a caller whose
//! watermark is not older than its own.

use super::tenant::CrmTenant;
use crate::connector::{ConnectorError, ListQuery, Record};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a listing is keyed by inside one tenant: whose credential lists, the entity and the
/// resolved CRM query. Local predicates are not part of it: they are applied per person after
/// the listing. People on the tenant's service credential share listings; a person with their
/// own credential (`crm::credentials`) has their own, since the CRM then decides what each
/// listing holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct ListingKey {
    /// The person whose own credential lists; `None` for the tenant's service credential.
    pub(super) lister: Option<String>,
    /// Connector entity.
    pub(super) entity: String,
    /// Scope filter parameters and window bounds, resolved.
    pub(super) query: ListQuery,
}

/// The records of one listing run.
struct Listed {
    records: Arc<Vec<Record>>,
    /// The modified-since bound it asked for; `None` for a full listing.
    since: Option<DateTime<Utc>>,
    /// When it finished: the TTL counts from there, so callers that waited for a listing
    /// slower than the TTL reuse it rather than list again.
    finished: Instant,
    generation: u64,
}

/// One query's single-flight lock and its last listing.
#[derive(Default)]
pub(super) struct SharedListing {
    lock: tokio::sync::Mutex<()>,
    last: Mutex<Option<Listed>>,
    generation: AtomicU64,
}

/// The shared listings of a tenant.
#[derive(Default)]
pub(super) struct Listings {
    map: Mutex<HashMap<ListingKey, Arc<SharedListing>>>,
    /// Listings that went to the CRM (not reused), for tests and metrics.
    pub(super) runs: AtomicU64,
}

/// A listing handed to one collection's refresh.
pub(super) struct Listing {
    /// The records (every page).
    pub(super) records: Arc<Vec<Record>>,
    /// Whether it lists everything of the query (so absent records may be gone).
    pub(super) full: bool,
    /// CRM calls (pages) this caller's listing made; 0 when it reused a shared one.
    pub(super) calls: u64,
}

impl SharedListing {
    fn reusable(&self, since: Option<DateTime<Utc>>, ttl: Duration) -> Option<Listing> {
        let last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let l = last.as_ref()?;
        let covers = match (l.since, since) {
            (None, _) => true,
            (Some(had), Some(want)) => had <= want,
            (Some(_), None) => false,
        };
        (covers
            && l.finished.elapsed() < ttl
            && l.generation == self.generation.load(Ordering::Acquire))
        .then(|| Listing {
            records: l.records.clone(),
            full: l.since.is_none(),
            calls: 0,
        })
    }
}

impl Listings {
    fn shared(&self, key: &ListingKey, keep: Duration) -> Arc<SharedListing> {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = m.get(key) {
            return s.clone();
        }
        // Forget queries nobody asked for in a while (yesterday's window bounds, people gone).
        m.retain(|_, s| {
            Arc::strong_count(s) > 1
                || s.last
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                    .is_some_and(|l| l.finished.elapsed() < keep)
        });
        m.entry(key.clone()).or_default().clone()
    }

    /// A write went through a collection of `key`: its last listing is no longer reused.
    pub(super) fn written(&self, key: &ListingKey) {
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = m.get(key) {
            s.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Listings {
    /// No last listing is reused any more.
    pub(super) fn written_all(&self) {
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        for s in m.values() {
            s.generation.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl CrmTenant {
    /// The records of `key` modified after `since` (everything when `None`), from a listing
    /// that finished less than `ttl` ago and covers it, or from a new listing (every page) that concurrent
    /// callers of the same query wait for.
    pub(super) async fn shared_listing(
        &self,
        key: &ListingKey,
        since: Option<DateTime<Utc>>,
        ttl: Duration,
    ) -> Result<Listing, ConnectorError> {
        let keep = Duration::from_secs(self.opts.full_scan_secs.max(self.opts.refresh_ttl_secs))
            .saturating_mul(2);
        let s = self.listings.shared(key, keep);
        if let Some(l) = s.reusable(since, ttl) {
            return Ok(l);
        }
        let _g = s.lock.lock().await;
        if let Some(l) = s.reusable(since, ttl) {
            return Ok(l);
        }
        let generation = s.generation.load(Ordering::Acquire);
        let mut records = Vec::new();
        let mut page = None;
        let connector = self.connector_of(key.lister.as_deref());
        let mut calls = 0;
        loop {
            calls += 1;
            let p = connector
                .list_query(&key.entity, since, page, &key.query)
                .await?;
            records.extend(p.records);
            match p.next {
                Some(n) => page = Some(n),
                None => break,
            }
        }
        self.listings.runs.fetch_add(1, Ordering::Relaxed);
        let records = Arc::new(records);
        *s.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Listed {
            records: records.clone(),
            since,
            finished: Instant::now(),
            generation,
        });
        Ok(Listing {
            records,
            full: since.is_none(),
            calls,
        })
    }
}
