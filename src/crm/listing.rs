//! Shared listings: people whose scope resolves to the same CRM query (entity, filter
//! parameters, window bounds) share one listing per TTL. Each person's collection then
//! reconciles the shared records on its own (local predicates, identity map, change log).
//! A refresh reads a listing a page at a time and applies each page before the next; the
//! listing is kept for the TTL as JSON text, LZ4 compressed, so no refresh holds a whole listing
//! parsed.
//!
//! A listing is reused when it finished less than a TTL ago, no write went through a collection of
//! its query since it started (a write bumps the query's generation, so a record a phone just
//! created cannot be missing from the listing the next refresh reads), and it covers what the
//! caller asks: a full listing covers everything, an incremental one covers a caller whose
//! watermark is not older than its own.

use super::binding::json_hash;
use super::tenant::CrmTenant;
use crate::connector::{Connector, ConnectorError, ListQuery, Record};
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

/// One listed page kept for reuse within the TTL: its records' JSON text end to end, LZ4
/// compressed (a parsed `serde_json::Value` takes several times the bytes of its text, one
/// allocation per record would add its own overhead, and CRM JSON repeats its keys: a page
/// of 1,000 of the benchmark's contacts is 241 KB of text and 26 KB packed, 0.12 ms to pack
/// and 0.16 ms to unpack) and what a refresh reads beside each record.
struct KeptPage {
    /// The text, packed by [`lz4_flex::compress_prepend_size`].
    packed: Vec<u8>,
    rows: Vec<KeptRow>,
}

struct KeptRow {
    id: Box<str>,
    /// Where its JSON ends in the page's text (it starts where the previous one ends).
    end: usize,
    modified: Option<DateTime<Utc>>,
    version: Option<Box<str>>,
}

/// A listed record handed to a refresh, with its [`record_hash`](super::binding::record_hash).
pub(super) struct Row {
    pub(super) record: Record,
    pub(super) hash: String,
}

/// The pages of one finished listing, kept for the query's callers within the TTL.
struct Listed {
    pages: Arc<Vec<KeptPage>>,
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
    /// Held by the caller that lists, from its first page to its last.
    lock: Arc<tokio::sync::Mutex<()>>,
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

/// A listing handed to one collection's refresh, read a page at a time
/// ([`Listing::next_page`]): only the page being applied is held as parsed records.
pub(super) struct Listing {
    source: Source,
    full: bool,
    calls: u64,
}

enum Source {
    /// A listing of the query that finished within the TTL, its pages parsed again one at a
    /// time.
    Kept {
        pages: Arc<Vec<KeptPage>>,
        next: usize,
    },
    /// This caller lists, holding the query's lock until its last page.
    Live(Box<Live>),
    Done,
}

struct Live {
    _lock: tokio::sync::OwnedMutexGuard<()>,
    shared: Arc<SharedListing>,
    connector: Arc<dyn Connector>,
    key: ListingKey,
    since: Option<DateTime<Utc>>,
    /// The page token of the next page; `None` before the first.
    page: Option<String>,
    generation: u64,
    kept: Vec<KeptPage>,
}

impl Listing {
    /// Whether it lists everything of the query (so absent records may be gone).
    pub(super) fn full(&self) -> bool {
        self.full
    }

    /// CRM calls (pages) this caller's listing made so far; 0 when it reuses a shared one.
    pub(super) fn calls(&self) -> u64 {
        self.calls
    }

    /// The next page, `None` after the last. A live listing keeps each page as text; after
    /// its last page the whole listing is handed to the query's later callers within the TTL
    /// and its lock released. A listing that fails keeps nothing.
    pub(super) async fn next_page(&mut self) -> Result<Option<Vec<Row>>, ConnectorError> {
        match &mut self.source {
            Source::Done => Ok(None),
            Source::Kept { pages, next } => {
                let Some(page) = pages.get(*next) else {
                    self.source = Source::Done;
                    return Ok(None);
                };
                *next += 1;
                page.rows().map(Some)
            }
            Source::Live(live) => {
                self.calls += 1;
                let p = live
                    .connector
                    .list_query(
                        &live.key.entity,
                        live.since,
                        live.page.take(),
                        &live.key.query,
                    )
                    .await?;
                let mut rows = Vec::with_capacity(p.records.len());
                let mut text = String::new();
                let mut kept_rows = Vec::with_capacity(p.records.len());
                for record in p.records {
                    // The text is hashed and kept: one serialization per record.
                    let json = serde_json::to_string(&record.data).unwrap_or_default();
                    text.push_str(&json);
                    kept_rows.push(KeptRow {
                        id: record.id.as_str().into(),
                        end: text.len(),
                        modified: record.modified,
                        version: record.version.as_deref().map(Into::into),
                    });
                    rows.push(Row {
                        record,
                        hash: json_hash(&json),
                    });
                }
                live.kept.push(KeptPage {
                    packed: lz4_flex::compress_prepend_size(text.as_bytes()),
                    rows: kept_rows,
                });
                match p.next {
                    Some(n) => live.page = Some(n),
                    None => {
                        if let Source::Live(live) =
                            std::mem::replace(&mut self.source, Source::Done)
                        {
                            live.finish();
                        }
                    }
                }
                Ok(Some(rows))
            }
        }
    }
}

impl Live {
    /// The last page was read: the listing becomes the query's last one.
    fn finish(self) {
        *self.shared.last.lock().unwrap_or_else(|p| p.into_inner()) = Some(Listed {
            pages: Arc::new(self.kept),
            since: self.since,
            finished: Instant::now(),
            generation: self.generation,
        });
    }
}

impl KeptPage {
    /// The page's records parsed again, with their hashes.
    fn rows(&self) -> Result<Vec<Row>, ConnectorError> {
        let unreadable = |e: &dyn std::fmt::Display| ConnectorError::Protocol {
            message: format!("a kept listing's page no longer unpacks: {e}"),
        };
        let bytes =
            lz4_flex::decompress_size_prepended(&self.packed).map_err(|e| unreadable(&e))?;
        let text = String::from_utf8(bytes).map_err(|e| unreadable(&e))?;
        let mut start = 0;
        self.rows
            .iter()
            .map(|k| {
                let json = text.get(start..k.end).unwrap_or_default();
                start = k.end;
                let data = serde_json::from_str(json).map_err(|e| ConnectorError::Protocol {
                    message: format!("a kept listing's record {} no longer parses: {e}", k.id),
                })?;
                Ok(Row {
                    record: Record {
                        id: k.id.to_string(),
                        data,
                        modified: k.modified,
                        version: k.version.as_deref().map(str::to_string),
                    },
                    hash: json_hash(json),
                })
            })
            .collect()
    }
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
            source: Source::Kept {
                pages: l.pages.clone(),
                next: 0,
            },
            full: l.since.is_none(),
            calls: 0,
        })
    }
}

impl SharedListing {
    /// Forget the last listing once nobody may reuse it (older than the TTL, or written
    /// through): a new listing of the query is about to be read, and holding both would
    /// double what a refresh keeps (at 100,000 records, the import's listing beside the
    /// refresh's).
    fn forget_stale(&self, ttl: Duration) {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_ref().is_some_and(|l| {
            l.finished.elapsed() >= ttl || l.generation != self.generation.load(Ordering::Acquire)
        }) {
            *last = None;
        }
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
    /// that finished less than `ttl` ago and covers it, or from a new listing that this caller
    /// reads page by page while concurrent callers of the same query wait for it to finish.
    pub(super) async fn shared_listing(
        &self,
        key: &ListingKey,
        since: Option<DateTime<Utc>>,
        ttl: Duration,
    ) -> Listing {
        let keep = Duration::from_secs(self.opts.full_scan_secs.max(self.opts.refresh_ttl_secs))
            .saturating_mul(2);
        let s = self.listings.shared(key, keep);
        if let Some(l) = s.reusable(since, ttl) {
            return l;
        }
        let lock = s.lock.clone().lock_owned().await;
        if let Some(l) = s.reusable(since, ttl) {
            return l;
        }
        s.forget_stale(ttl);
        self.listings.runs.fetch_add(1, Ordering::Relaxed);
        Listing {
            source: Source::Live(Box::new(Live {
                _lock: lock,
                generation: s.generation.load(Ordering::Acquire),
                shared: s,
                connector: self.connector_of(key.lister.as_deref()),
                key: key.clone(),
                since,
                page: None,
                kept: Vec::new(),
            })),
            full: since.is_none(),
            calls: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(age: Duration, generation: u64) -> Option<Listed> {
        Some(Listed {
            pages: Arc::new(vec![KeptPage {
                packed: lz4_flex::compress_prepend_size(br#"{"a":1}"#),
                rows: vec![KeptRow {
                    id: "1".into(),
                    end: 7,
                    modified: None,
                    version: None,
                }],
            }]),
            since: None,
            finished: Instant::now().checked_sub(age).unwrap_or_else(Instant::now),
            generation,
        })
    }

    /// A new listing of a query forgets the last one only once nobody may reuse it: older
    /// than the TTL, or written through.
    #[test]
    fn a_new_listing_forgets_a_last_one_nobody_may_reuse() {
        let ttl = Duration::from_secs(10);
        let s = SharedListing::default();
        *s.last.lock().unwrap() = listed(Duration::from_secs(1), 0);
        s.forget_stale(ttl);
        assert!(s.last.lock().unwrap().is_some(), "fresh: kept");
        s.generation.fetch_add(1, Ordering::AcqRel);
        s.forget_stale(ttl);
        assert!(
            s.last.lock().unwrap().is_none(),
            "written through: forgotten"
        );
        *s.last.lock().unwrap() = listed(Duration::from_secs(11), 1);
        s.forget_stale(ttl);
        assert!(
            s.last.lock().unwrap().is_none(),
            "older than the TTL: forgotten"
        );
    }

    /// A kept page unpacks to the records it was made of, with the same hashes.
    #[test]
    fn a_kept_page_unpacks_to_its_records() {
        let page = listed(Duration::ZERO, 0).unwrap().pages[0].rows().unwrap();
        assert_eq!(page.len(), 1);
        assert_eq!(page[0].record.id, "1");
        assert_eq!(page[0].record.data, serde_json::json!({"a": 1}));
        assert_eq!(page[0].hash, json_hash(r#"{"a":1}"#));
        let broken = KeptPage {
            // Says 100 bytes, holds none.
            packed: vec![100, 0, 0, 0],
            rows: Vec::new(),
        };
        assert!(matches!(
            broken.rows(),
            Err(ConnectorError::Protocol { .. })
        ));
    }
}
