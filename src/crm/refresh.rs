//! The read path: CRM records become rendered items with stable ETags and a moving change log.
//! A refresh runs at most once per TTL per collection, counted from when the last one finished.
//! A read that finds a stale state is served from it while one background refresh runs
//! (stale-while-revalidate); only a collection's first import makes reads wait, all on one.

use super::binding::{member_name, Binding};
use super::known::Known;
use super::lease;
use super::listing::ListingKey;
use super::scope::Resolved;
use super::tenant::{CrmTenant, Flight};
use crate::connector::{ConnectorError, Record};
use crate::store::{
    calendar_index, card_index, Collection, CollectionKind, CrmBatchOp, CrmBatchOutcome,
    CrmIdentity, ItemIndex, RenderedItem, Store, StoreError,
};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Records written per store transaction: one commit for many, while a phone's write waits
/// at most for one batch.
const BATCH: usize = 256;

/// A rendered record waiting for the next batch.
struct Pending {
    ident: CrmIdentity,
    body: String,
    index: ItemIndex,
    /// New to this refresh: refused if another name holds its CRM id by now.
    import: bool,
    /// The listed record's modified time.
    modified: Option<DateTime<Utc>>,
}

/// What a refresh did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RefreshStats {
    /// Records listed.
    pub listed: usize,
    /// Items written (new or changed bytes).
    pub written: usize,
    /// Items removed.
    pub removed: usize,
    /// Whether it was a full scan.
    pub full: bool,
    /// CRM calls it made: listing pages (none when a shared listing was reused) and by-id
    /// checks of records a full scan missed.
    pub crm_calls: u64,
}

/// Where a refresh applies what it listed: the collection's flight, and whether its lock is
/// held for the whole refresh already (a first import, a read-through).
struct Apply<'a> {
    flight: &'a Flight,
    held: bool,
    /// The flight's write generation before the listing (`WriteLog`).
    listed_at: u64,
    /// The oldest listed modified time of a record left to the next refresh: the watermark
    /// stays at or before it.
    floor: std::sync::Mutex<Option<DateTime<Utc>>>,
}

impl Apply<'_> {
    /// Whether a phone wrote (or deleted) `crm_id` since the listing started.
    fn written(&self, crm_id: &str) -> bool {
        self.flight.writes.since(crm_id, self.listed_at)
    }

    /// A record left to the next refresh: its incremental listing must show it again.
    fn keep_listing_from(&self, modified: Option<DateTime<Utc>>) {
        if let Some(m) = modified {
            let mut f = self.floor.lock().unwrap_or_else(|p| p.into_inner());
            *f = Some(f.map_or(m, |x| x.min(m)));
        }
    }

    /// The flight lock for one step of applying, unless the whole refresh holds it.
    async fn lock(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        if self.held {
            None
        } else {
            Some(self.flight.lock.lock().await)
        }
    }
}

/// Why a refresh failed (the last known state keeps being served).
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// The CRM could not be listed.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// The state store refused a read or a write.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state store failed.
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl CrmTenant {
    /// The TTL counts from when the last refresh finished (so a CRM slower than the TTL is
    /// never listed back to back), less a little slack, so a client polling every TTL (or
    /// every TTL/n) refreshes on that poll rather than a few milliseconds too early and then
    /// one whole interval late.
    pub(super) fn ttl(&self) -> Duration {
        let full = Duration::from_secs(self.opts.refresh_ttl_secs);
        full.saturating_sub((full / 10).min(Duration::from_secs(1)))
    }

    pub(super) fn is_fresh(&self, f: &Flight) -> bool {
        let ttl = self.ttl();
        // After a failure, retry sooner (but not on every request).
        let retry = ttl.min(Duration::from_secs(5));
        match *f.checked.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((t, ok)) => t.elapsed() < if ok { ttl } else { retry },
            None => false,
        }
    }

    /// Refresh `coll` unless a refresh finished within the TTL, and wait for it. Concurrent
    /// callers wait on one refresh. A failure is logged and counted, and the last known state
    /// keeps being served. Returns the time spent refreshing when a refresh ran. Reads go
    /// through [`CrmTenant::read_fresh`], which waits only for a first import.
    pub async fn ensure_fresh(
        &self,
        store: &Store,
        b: &Binding,
        coll: &Collection,
    ) -> Option<(Duration, Result<RefreshStats, RefreshError>)> {
        let f = self.flight(coll.id);
        self.credential_catch_up(&f, coll);
        if self.is_fresh(&f) {
            return None;
        }
        let _g = f.refresh.lock().await;
        if self.is_fresh(&f) {
            return None;
        }
        // Across instances: one of them refreshes per TTL, the others serve what it stored.
        let key = lease::refresh_key(coll.id);
        let forced_at = f.forced_at.load(Ordering::Acquire);
        let credential_at = f.credential_at.load(Ordering::Acquire);
        match lease::claim(store, &key, self.ttl(), forced_at).await {
            lease::Claim::Refresh => {}
            lease::Claim::Fresh(age) => {
                // Another instance's refresh, from after the last credential change.
                f.refreshed_under.fetch_max(credential_at, Ordering::AcqRel);
                let at = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
                *f.checked.lock().unwrap_or_else(|p| p.into_inner()) = Some((at, true));
                f.has_state.store(true, Ordering::Release);
                return None;
            }
            lease::Claim::Waited => {
                // Another instance is slow: serve what is stored, and ask again after the
                // failure retry interval rather than wait on every request.
                *f.checked.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((Instant::now(), false));
                return None;
            }
        }
        let started = Instant::now();
        // A first import and a read-through keep phone writes out for the whole refresh (the
        // phone has nothing to write yet, or asked for the CRM's answer on every read); any
        // other refresh lists without the lock and takes it only to apply.
        let whole = self.opts.refresh_ttl_secs == 0 || !f.has_state.load(Ordering::Acquire);
        let _w = if whole {
            Some(f.lock.lock().await)
        } else {
            None
        };
        // Before the listing: a record a phone writes from here on is left to the next refresh.
        let apply = Apply {
            flight: &f,
            held: whole,
            listed_at: f.writes.generation(),
            floor: Default::default(),
        };
        let res = self.refresh(store, b, coll, &apply).await;
        drop(_w);
        // Done when it finished: the next refresh, here or on another instance, is one TTL on.
        lease::release(store, &key, res.is_ok().then(lease::now)).await;
        let took = started.elapsed();
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        *f.checked.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), res.is_ok()));
        let res = match res {
            Ok(s) => {
                f.has_state.store(true, Ordering::Release);
                f.refreshed_under.fetch_max(credential_at, Ordering::AcqRel);
                tracing::debug!(tenant = %self.name, collection = %coll.path, listed = s.listed, written = s.written, removed = s.removed, full = s.full, crm_calls = s.crm_calls, ms = took.as_millis() as u64, "refreshed");
                Ok(s)
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(tenant = %self.name, collection = %coll.path, error = %e, "refresh failed; serving the last known state");
                Err(e)
            }
        };
        Some((took, res))
    }
    async fn refresh(
        &self,
        store: &Store,
        b: &Binding,
        coll: &Collection,
        apply: &Apply<'_>,
    ) -> Result<RefreshStats, RefreshError> {
        let res = self.list_and_apply(store, b, coll, apply).await;
        if res.is_ok() {
            let _g = apply.lock().await;
            apply.flight.writes.prune(apply.listed_at);
        }
        res
    }

    async fn list_and_apply(
        &self,
        store: &Store,
        b: &Binding,
        coll: &Collection,
        apply: &Apply<'_>,
    ) -> Result<RefreshStats, RefreshError> {
        let caps = self.connector.capabilities(&b.entity);
        let mut st = store.crm_state(coll).await?;
        let now = Utc::now();
        let owner = owner_of(coll);
        if b.scope.scope != crate::config::ScopeConfig::All {
            self.ensure_people().await;
        }
        self.ensure_personal(&owner).await;
        let scope = match b.scope.resolve(&self.person(&owner), now) {
            Ok(r) => r,
            Err(e) => {
                // Served empty (and emptied, if the person was linked before): never someone
                // else's records, and no CRM call.
                tracing::warn!(tenant = %self.name, collection = %coll.path, reason = %e, "a scoped collection is served empty");
                let _g = apply.lock().await;
                return self.empty_out(store, coll).await;
            }
        };
        let watermark = st
            .watermark
            .as_deref()
            .and_then(|w| DateTime::parse_from_rfc3339(w).ok())
            .map(|d| d.with_timezone(&Utc));
        // A changed definition or mapping re-renders every item once (`rerender`).
        let rerender = super::rerender::needed(&st, b);
        let full = !caps.modified_since
            || watermark.is_none()
            || rerender
            || st
                .full_scan_at
                .is_none_or(|t| now.timestamp() - t >= self.full_scan_interval(&caps, &st) as i64);
        // A little overlap: records are compared by hash, so seeing one twice costs nothing.
        let since = if full {
            None
        } else {
            watermark.map(|w| w - chrono::Duration::seconds(10))
        };
        let key = ListingKey {
            lister: self.lister(&owner),
            entity: b.entity.clone(),
            query: scope.query.clone(),
        };
        let mut listing = self.shared_listing(&key, since, self.ttl()).await;
        // A shared full listing serves an incremental caller as a full one.
        let full = listing.full();
        // The identity map narrowed to what deciding needs (`known`); a row to render again
        // reads its whole identity then.
        let mut known = Known::new(store.crm_known(coll).await?);
        let mut saved: HashMap<String, String> = HashMap::new();
        // Member names this refresh gives (new records).
        let mut names: HashSet<String> = HashSet::new();
        let mut stats = RefreshStats {
            full,
            ..Default::default()
        };
        let mut pending: Vec<Pending> = Vec::with_capacity(BATCH);
        let mut queued: HashSet<String> = HashSet::new();
        let mut wm = watermark;
        let windowed = scope.window.is_some();
        let every = windowed || rerender;
        // A page at a time: parsed, rendered and written, then dropped.
        while let Some(rows) = listing.next_page().await? {
            stats.listed += rows.len();
            // The whole records of the rows to render (`detail`: read only for new or changed
            // rows).
            let held = super::rows::Held {
                known: &known,
                saved: &saved,
                every,
            };
            let whole = self
                .rows_to_render(b, &owner, &rows, &held, |r| scope.admits(&r.data))
                .await?;
            // The whole identities of the held rows rendered again, one read per page.
            let again_named: Vec<&str> = rows
                .iter()
                .filter(|r| whole.contains_key(&r.record.id))
                .filter_map(|r| known.get(&r.record.id))
                .filter(|k| !k.deleted)
                .map(|k| &*k.name)
                .collect();
            let idents: HashMap<String, CrmIdentity> = store
                .crm_identities_named(coll, &again_named)
                .await?
                .into_iter()
                .map(|i| (i.name.clone(), i))
                .collect();
            drop(again_named);
            for super::listing::Row { record: r, hash: h } in rows {
                if let Some(m) = r.modified {
                    wm = Some(wm.map_or(m, |w| w.max(m)));
                }
                let at = known.find(&r.id);
                if !scope.admits(&r.data) {
                    // Someone else's (or reassigned away): never held here.
                    if let Some(i) = at {
                        known.mark_out_of_scope(i);
                    }
                    continue;
                }
                // The identity this record is held under, whole, and whether it is held with
                // this very hash and its item: saved by this refresh already (listed twice),
                // or as the refresh found it.
                let again = match saved.get(&r.id) {
                    Some(name) => store.crm_identity(coll, name).await?,
                    None => None,
                };
                let held: Option<(CrmIdentity, bool)> = match (again, at) {
                    (Some(a), _) => {
                        let same = a.record_hash.as_deref() == Some(&h);
                        if same && !every {
                            if let Some(i) = at {
                                known.mark_seen(i);
                            }
                            continue;
                        }
                        Some((a, same))
                    }
                    (None, Some(i)) => {
                        let k = known.row(i);
                        if k.deleted || (!every && k.unchanged(&h)) {
                            known.mark_seen(i);
                            continue;
                        }
                        if !whole.contains_key(&r.id) {
                            // Gone before its detail was read: a full scan checks it by id.
                            continue;
                        }
                        let same = k.unchanged(&h);
                        // Cloned, not taken: a record listed twice on a page needs it again.
                        match idents.get(&*k.name).cloned() {
                            Some(full) => Some((full, same)),
                            None => {
                                // Removed since the refresh began (a phone's delete): the
                                // next refresh sees the record anew.
                                known.mark_seen(i);
                                continue;
                            }
                        }
                    }
                    (None, None) => None,
                };
                let import = held.is_none();
                let same = held.as_ref().is_some_and(|(_, same)| *same);
                let ident = match held {
                    Some((i, _)) => CrmIdentity {
                        record_hash: Some(h),
                        version: r.version.clone(),
                        ..i
                    },
                    None => {
                        let Some(r) = whole.get(&r.id) else {
                            continue;
                        };
                        let uid = b.mapping.uid_for(r);
                        let mut name = member_name(&uid, b.extension());
                        if known.name_taken(&name) || names.contains(&name) {
                            name = member_name(&format!("{uid}-{}", r.id), b.extension());
                        }
                        CrmIdentity {
                            name,
                            crm_id: r.id.clone(),
                            uid,
                            record_hash: Some(h),
                            version: r.version.clone(),
                            ..Default::default()
                        }
                    }
                };
                let Some(r) = whole.get(&r.id) else {
                    // Gone before its detail was read: a full scan checks it by id.
                    continue;
                };
                let body = b.render(&ident, r);
                let index = match self.index(coll, &body) {
                    Ok(i) => i,
                    Err(e) => {
                        tracing::warn!(tenant = %self.name, collection = %coll.path, crm_id = %r.id, error = %e, "a CRM record renders to an invalid item; skipped");
                        if let Some(i) = at {
                            known.mark_seen(i);
                        }
                        continue;
                    }
                };
                if !scope.in_window(index.first_start, index.last_end) {
                    // Outside the window: not seen, so a full scan removes what is held of it
                    // (a phone's write outside the window stays until then).
                    continue;
                }
                if let Some(i) = at {
                    known.mark_seen(i);
                }
                if !rerender && same {
                    continue;
                }
                if import {
                    names.insert(ident.name.clone());
                }
                if !queued.insert(r.id.clone()) {
                    // Listed twice (the listing shifted while it paged): the later copy wins,
                    // after the earlier one is written.
                    self.write_batch(store, b, coll, apply, &mut pending, &mut saved, &mut stats)
                        .await?;
                    queued.clear();
                    queued.insert(r.id.clone());
                }
                pending.push(Pending {
                    modified: r.modified,
                    import,
                    ident,
                    body,
                    index,
                });
                if pending.len() >= BATCH {
                    self.write_batch(store, b, coll, apply, &mut pending, &mut saved, &mut stats)
                        .await?;
                    queued.clear();
                }
            }
            // The page is written before the next is read: a listing that fails later keeps
            // what it applied.
            self.write_batch(store, b, coll, apply, &mut pending, &mut saved, &mut stats)
                .await?;
            queued.clear();
        }
        let mut crm_calls = listing.calls();
        drop(listing);
        // The removals, the deletion feed and the state are applied under the flight lock.
        let _g = apply.lock().await;
        for (i, outside) in known.not_seen() {
            if apply.written(&i.crm_id) {
                continue;
            }
            let gone = if outside {
                true
            } else if !full {
                false
            } else if i.deleted {
                store.crm_forget(coll, &i.crm_id).await?;
                continue;
            } else if caps.get {
                crm_calls += 1;
                match self.connector_for(&owner).get(&b.entity, &i.crm_id).await? {
                    Some(r)
                        if self
                            .still_inside(store, b, coll, &scope, &i.name, &r)
                            .await? =>
                    {
                        // On no page, yet still there: the listing shifted under the scan (a
                        // record deleted or reordered while it paged). Not a deletion.
                        tracing::info!(tenant = %self.name, collection = %coll.path, crm_id = %i.crm_id, "a record missing from a full scan still exists; kept");
                        false
                    }
                    _ => true,
                }
            } else {
                true
            };
            if gone && !i.deleted {
                store.crm_remove(coll, &i.name, false).await?;
                store
                    .drop_props(&self.name, &format!("{}{}", coll.path, i.name))
                    .await?;
                stats.removed += 1;
            }
        }
        if full {
            st.full_scan_at = Some(now.timestamp());
            if caps.deletion_feed {
                // The scan saw every deletion up to its start; the feed goes on from there.
                st.deletions_watermark = Some(now.to_rfc3339());
            }
        } else if caps.deletion_feed {
            stats.removed += self
                .apply_deletion_feed(store, b, coll, &owner, &mut st, &known)
                .await?;
        }
        super::rerender::done(&mut st, b);
        if let Some(floor) = *apply.floor.lock().unwrap_or_else(|p| p.into_inner()) {
            // A record left to the next refresh is listed by it again, however far the other
            // records moved the watermark.
            wm = wm.map(|w| w.min(floor));
        }
        st.watermark = wm.map(|w| w.to_rfc3339());
        store.set_crm_state(coll, &st).await?;
        stats.crm_calls = crm_calls;
        Ok(stats)
    }

    /// Write the rendered records of `pending` in one store transaction, and note what each
    /// did: a new or changed item counts as written; an import whose record another name
    /// holds by now (another instance, a phone's create) is left where it is.
    #[allow(clippy::too_many_arguments)]
    async fn write_batch(
        &self,
        store: &Store,
        b: &Binding,
        coll: &Collection,
        apply: &Apply<'_>,
        pending: &mut Vec<Pending>,
        saved: &mut HashMap<String, String>,
        stats: &mut RefreshStats,
    ) -> Result<(), RefreshError> {
        if pending.is_empty() {
            return Ok(());
        }
        let _g = apply.lock().await;
        // A record a phone wrote (or deleted) since the listing started: its listed copy may
        // be older than the phone's, so it is left to the next refresh.
        pending.retain(|p| {
            let written = apply.written(&p.ident.crm_id);
            if written {
                apply.keep_listing_from(p.modified);
                tracing::debug!(tenant = %self.name, collection = %coll.path, crm_id = %p.ident.crm_id, "written by a phone while the CRM was listed; left to the next refresh");
            }
            !written
        });
        let content_type = b.content_type();
        let ops = pending
            .iter()
            .map(|p| CrmBatchOp::Save {
                ident: &p.ident,
                item: Some(RenderedItem {
                    content_type,
                    body: p.body.as_bytes(),
                    index: &p.index,
                }),
                import: p.import,
            })
            .collect();
        let outcomes = store.crm_batch(coll, ops).await?;
        for (p, o) in pending.drain(..).zip(outcomes) {
            match o {
                CrmBatchOutcome::Saved { written, .. } => {
                    stats.written += usize::from(written);
                    saved.insert(p.ident.crm_id, p.ident.name);
                }
                CrmBatchOutcome::Exists => {
                    tracing::debug!(tenant = %self.name, collection = %coll.path, crm_id = %p.ident.crm_id, "a record saved meanwhile under another name; kept there");
                }
                CrmBatchOutcome::Removed => {}
            }
        }
        Ok(())
    }

    /// Whether a record fetched by id, held as `name`, still belongs in the collection (its
    /// scope and window).
    async fn still_inside(
        &self,
        store: &Store,
        b: &Binding,
        coll: &Collection,
        scope: &Resolved,
        name: &str,
        r: &Record,
    ) -> Result<bool, StoreError> {
        if !scope.admits(&r.data) {
            return Ok(false);
        }
        if scope.window.is_none() {
            return Ok(true);
        }
        // Only a windowed calendar renders it, with its whole identity (an overlay may move it).
        let Some(ident) = store.crm_identity(coll, name).await? else {
            return Ok(false);
        };
        Ok(self
            .index(coll, &b.render(&ident, r))
            .is_ok_and(|ix| scope.in_window(ix.first_start, ix.last_end)))
    }

    /// Remove every item of a collection whose person has no scope.
    async fn empty_out(
        &self,
        store: &Store,
        coll: &Collection,
    ) -> Result<RefreshStats, RefreshError> {
        let mut stats = RefreshStats {
            full: true,
            ..Default::default()
        };
        for i in store.crm_identities(coll).await? {
            store.crm_remove(coll, &i.name, false).await?;
            store
                .drop_props(&self.name, &format!("{}{}", coll.path, i.name))
                .await?;
            stats.removed += 1;
        }
        Ok(stats)
    }

    fn index(&self, coll: &Collection, body: &str) -> Result<ItemIndex, String> {
        match coll.kind {
            CollectionKind::Addressbook => card_index(body).map_err(|e| e.to_string()),
            _ => calendar_index(body, coll, self.max_instances).map_err(|e| e.to_string()),
        }
    }
}

/// The owner of a collection in a home (`calendars/<owner>/<id>/`).
pub(super) fn owner_of(coll: &Collection) -> String {
    crate::tree::CollectionPath::of_stored(&coll.path)
        .in_home()
        .map(|(_, owner, _)| owner.to_string())
        .unwrap_or_default()
}
