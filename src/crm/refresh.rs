//! The read path: CRM records become rendered items with stable ETags and a moving change log.
//! A refresh runs at most once per TTL per collection, and concurrent readers wait on one.

use super::binding::{member_name, record_hash, Binding};
use super::tenant::{CrmTenant, Flight};
use crate::connector::ConnectorError;
use crate::store::{
    calendar_index, card_index, Collection, CollectionKind, CrmIdentity, ItemIndex, RenderedItem,
    Store, StoreError,
};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

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
    fn is_fresh(&self, f: &Flight) -> bool {
        // The TTL counts from when the last listing started (the data's age), less a little
        // slack, so a client polling every TTL (or every TTL/n) refreshes on that poll rather
        // than a few milliseconds too early and then one whole interval late.
        let full = Duration::from_secs(self.opts.refresh_ttl_secs);
        let ttl = full.saturating_sub((full / 10).min(Duration::from_secs(1)));
        // After a failure, retry sooner (but not on every request).
        let retry = ttl.min(Duration::from_secs(5));
        match *f.checked.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((t, ok)) => t.elapsed() < if ok { ttl } else { retry },
            None => false,
        }
    }

    /// Refresh `coll` unless it was refreshed within the TTL. Concurrent callers wait on one
    /// refresh. A failure is logged and counted, and the last known state keeps being served.
    /// Returns the time spent refreshing when a refresh ran.
    pub async fn ensure_fresh(
        &self,
        store: &Store,
        b: &Binding,
        coll: &Collection,
    ) -> Option<(Duration, Result<RefreshStats, RefreshError>)> {
        let f = self.flight(coll.id);
        if self.is_fresh(&f) {
            return None;
        }
        let _g = f.lock.lock().await;
        if self.is_fresh(&f) {
            return None;
        }
        let started = Instant::now();
        let res = self.refresh(store, b, coll).await;
        let took = started.elapsed();
        self.refreshes.fetch_add(1, Ordering::Relaxed);
        *f.checked.lock().unwrap_or_else(|p| p.into_inner()) = Some((started, res.is_ok()));
        let res = match res {
            Ok(s) => {
                tracing::debug!(tenant = %self.name, collection = %coll.path, listed = s.listed, written = s.written, removed = s.removed, full = s.full, ms = took.as_millis() as u64, "refreshed");
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
    ) -> Result<RefreshStats, RefreshError> {
        let caps = self.connector.capabilities(&b.entity);
        let mut st = store.crm_state(coll).await?;
        let now = Utc::now();
        let watermark = st
            .watermark
            .as_deref()
            .and_then(|w| DateTime::parse_from_rfc3339(w).ok())
            .map(|d| d.with_timezone(&Utc));
        let full = !caps.modified_since
            || watermark.is_none()
            || st
                .full_scan_at
                .is_none_or(|t| now.timestamp() - t >= self.opts.full_scan_secs as i64);
        // A little overlap: records are compared by hash, so seeing one twice costs nothing.
        let since = if full {
            None
        } else {
            watermark.map(|w| w - chrono::Duration::seconds(10))
        };
        let mut records = Vec::new();
        let mut page = None;
        loop {
            let p = self.connector.list(&b.entity, since, page).await?;
            records.extend(p.records);
            match p.next {
                Some(n) => page = Some(n),
                None => break,
            }
        }
        let idents = store.crm_identities(coll).await?;
        let present: HashSet<String> = store
            .list_items(coll)
            .await?
            .into_iter()
            .map(|m| m.name)
            .collect();
        let mut by_crm: HashMap<String, CrmIdentity> = idents
            .iter()
            .map(|i| (i.crm_id.clone(), i.clone()))
            .collect();
        let mut names: HashSet<String> = idents.iter().map(|i| i.name.clone()).collect();
        names.extend(present.iter().cloned());
        let mut stats = RefreshStats {
            listed: records.len(),
            full,
            ..Default::default()
        };
        let mut seen = HashSet::new();
        let mut wm = watermark;
        for r in &records {
            seen.insert(r.id.clone());
            if let Some(m) = r.modified {
                wm = Some(wm.map_or(m, |w| w.max(m)));
            }
            let h = record_hash(r);
            let ident = match by_crm.get(&r.id) {
                Some(i) if i.deleted => continue,
                Some(i) if i.record_hash.as_deref() == Some(&h) && present.contains(&i.name) => {
                    continue
                }
                Some(i) => CrmIdentity {
                    record_hash: Some(h),
                    version: r.version.clone(),
                    ..i.clone()
                },
                None => {
                    let uid = b.mapping.uid_for(r);
                    let mut name = member_name(&uid, b.extension());
                    if names.contains(&name) {
                        name = member_name(&format!("{uid}-{}", r.id), b.extension());
                    }
                    names.insert(name.clone());
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
            let body = b.render(&ident, r);
            let index = match self.index(coll, &body) {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!(tenant = %self.name, collection = %coll.path, crm_id = %r.id, error = %e, "a CRM record renders to an invalid item; skipped");
                    continue;
                }
            };
            let before = store.item_meta(coll, &ident.name).await?.map(|m| m.etag);
            let etag = store
                .crm_save(
                    coll,
                    &ident,
                    Some(RenderedItem {
                        content_type: b.content_type(),
                        body: body.as_bytes(),
                        index: &index,
                    }),
                )
                .await?;
            if etag != before {
                stats.written += 1;
            }
            by_crm.insert(r.id.clone(), ident);
        }
        if full {
            for i in &idents {
                if seen.contains(&i.crm_id) {
                    continue;
                }
                if i.deleted {
                    store.crm_forget(coll, &i.crm_id).await?;
                } else if caps.get && self.connector.get(&b.entity, &i.crm_id).await?.is_some() {
                    // On no page, yet still there: the listing shifted under the scan (a
                    // record deleted or reordered while it paged). Not a deletion.
                    tracing::info!(tenant = %self.name, collection = %coll.path, crm_id = %i.crm_id, "a record missing from a full scan still exists; kept");
                } else {
                    store.crm_remove(coll, &i.name, false).await?;
                    store
                        .drop_props(&self.name, &format!("{}{}", coll.path, i.name))
                        .await?;
                    stats.removed += 1;
                }
            }
            st.full_scan_at = Some(now.timestamp());
        }
        st.watermark = wm.map(|w| w.to_rfc3339());
        store.set_crm_state(coll, &st).await?;
        Ok(stats)
    }

    fn index(&self, coll: &Collection, body: &str) -> Result<ItemIndex, String> {
        match coll.kind {
            CollectionKind::Addressbook => card_index(body).map_err(|e| e.to_string()),
            _ => calendar_index(body, coll, self.max_instances).map_err(|e| e.to_string()),
        }
    }
}
