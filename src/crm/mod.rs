//! CRM-backed collections: the read path (refresh: CRM records → rendered items with stable
//! ETags and a moving change log) and the write path (a phone's PUT/DELETE → the CRM, then the
//! identity map and the client's copy). See `docs/crm-sync.md`.
//!
//! Invariants:
//! * the identity map (`crm_items`) is written once per item and never re-derived: CRM-created
//!   items are named after the mapping's deterministic UID, phone-created ones keep the
//!   client's href and UID; restarts create no duplicates;
//! * a collection's refresh and its writes run one at a time (a per-collection async mutex), so
//!   a record the phone just created can never be imported a second time by a refresh;
//! * an item is written (and the sequence moves) only when its rendered bytes change;
//! * a refresh within the tenant's TTL costs nothing, an idle one costs one listing per page.

pub mod definitions;
pub mod overlay;

use crate::config::{option_vars, CollectionKindConfig, ConnectorKind, ServerConfig, SyncOptions};
use crate::connector::rest::def::ConnectorDef;
use crate::connector::{
    Connector, ConnectorError, DeleteStyle, Record, RestConnector, StoredToken, TokenStore,
};
use crate::mapping::{ComponentKind, Mapping, MappingError, VCardVersion};
use crate::store::{
    calendar_index, card_index, Collection, CollectionKind, CrmIdentity, ItemIndex, RenderedItem,
    Store, StoreError, WriteCondition,
};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One collection's CRM entity and mapping.
pub struct Binding {
    /// Connector entity.
    pub entity: String,
    /// The mapping.
    pub mapping: Mapping,
    /// Upper-case property names the mapping owns (overlaid from the CRM on render).
    pub mapped: BTreeSet<String>,
}

impl Binding {
    /// Build from a mapping's text.
    pub fn new(
        crm: &str,
        entity: &str,
        text: &str,
        vars: &HashMap<String, String>,
    ) -> Result<Self, String> {
        let mapping =
            Mapping::from_toml_str(text, vars, Some(crm.to_string()), Some(entity.to_string()))?;
        Ok(Binding {
            entity: entity.to_string(),
            mapped: mapping.mapped_properties(),
            mapping,
        })
    }

    fn extension(&self) -> &'static str {
        match self.mapping.component() {
            ComponentKind::Vcard => "vcf",
            _ => "ics",
        }
    }

    fn content_type(&self) -> &'static str {
        match self.mapping.component() {
            ComponentKind::Vcard => "text/vcard; charset=utf-8",
            _ => "text/calendar; charset=utf-8",
        }
    }

    fn component_name(&self) -> &'static str {
        self.mapping.component().as_str()
    }

    /// The record rendered plainly with `uid` (vCards in `version` when given).
    fn render_plain(&self, record: &Record, uid: &str, version: Option<VCardVersion>) -> String {
        match (self.mapping.component(), version) {
            (ComponentKind::Vcard, Some(v)) => {
                // to_vcard uses the mapping's UID; put the item's own back.
                let out = self.mapping.to_vcard(record, v);
                overlay::replace_uid(&out, uid)
            }
            _ => self.mapping.to_component_with_uid(record, uid),
        }
    }

    /// What an item serves for `record`: the client's copy with the CRM's changed values laid
    /// over it when the phone wrote the item, the plain rendering otherwise.
    pub fn render(&self, ident: &CrmIdentity, record: &Record) -> String {
        if let (Some(copy), Some(base)) = (&ident.client_copy, &ident.base_record) {
            if let (Ok(copy), Ok(base_data)) = (
                std::str::from_utf8(copy),
                serde_json::from_str::<serde_json::Value>(base),
            ) {
                let version = (self.mapping.component() == ComponentKind::Vcard).then(|| {
                    if overlay::vcard_version(copy).as_deref() == Some("4.0") {
                        VCardVersion::V4
                    } else {
                        VCardVersion::V3
                    }
                });
                let base_rec = Record {
                    data: base_data,
                    ..record.clone()
                };
                let base_r = self.render_plain(&base_rec, &ident.uid, version);
                let cur_r = self.render_plain(record, &ident.uid, version);
                if let Some(out) =
                    overlay::overlay(copy, &base_r, &cur_r, self.component_name(), &self.mapped)
                {
                    return out;
                }
            }
        }
        self.render_plain(record, &ident.uid, None)
    }
}

/// Hash of a CRM record's data (serde_json maps are ordered, so this is canonical).
pub fn record_hash(r: &Record) -> String {
    let s = serde_json::to_string(&r.data).unwrap_or_default();
    hex::encode(&Sha256::digest(s.as_bytes())[..16])
}

/// A member name from a UID: safe characters kept, the rest replaced.
fn member_name(uid: &str, ext: &str) -> String {
    let base: String = uid
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{base}.{ext}")
}

#[derive(Default)]
struct Flight {
    lock: tokio::sync::Mutex<()>,
    /// When the collection was last refreshed (or a refresh last failed).
    checked: std::sync::Mutex<Option<(Instant, bool)>>,
}

/// A CRM tenant: its connector, its collections' bindings and refresh state.
pub struct CrmTenant {
    /// Tenant name.
    pub name: String,
    connector: Arc<dyn Connector>,
    calls: Box<dyn Fn() -> u64 + Send + Sync>,
    opts: SyncOptions,
    bindings: HashMap<(bool, String), Arc<Binding>>,
    flights: std::sync::Mutex<HashMap<i64, Arc<Flight>>>,
    failures: AtomicU64,
    refreshes: AtomicU64,
    max_instances: usize,
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
}

/// Why a write to a CRM collection failed.
#[derive(Debug, thiserror::Error)]
pub enum CrmWriteError {
    /// The gateway's state refused it (412, UID conflict, …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The body cannot become a CRM record.
    #[error("{0}")]
    Mapping(#[from] MappingError),
    /// The CRM refused or failed.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
}

impl From<sqlx::Error> for CrmWriteError {
    fn from(e: sqlx::Error) -> Self {
        CrmWriteError::Store(StoreError::Db(e))
    }
}

impl CrmTenant {
    /// A tenant over any connector (tests use fakes); `calls` reports upstream calls.
    pub fn new(
        name: &str,
        connector: Arc<dyn Connector>,
        calls: Box<dyn Fn() -> u64 + Send + Sync>,
        opts: SyncOptions,
        max_instances: usize,
    ) -> Self {
        CrmTenant {
            name: name.to_string(),
            connector,
            calls,
            opts,
            bindings: HashMap::new(),
            flights: Default::default(),
            failures: AtomicU64::new(0),
            refreshes: AtomicU64::new(0),
            max_instances,
        }
    }

    /// Bind a declared collection (`kind`, config `id`) to an entity.
    pub fn bind(&mut self, kind: CollectionKind, id: &str, binding: Binding) {
        self.bindings.insert(
            (kind == CollectionKind::Calendar, id.to_string()),
            Arc::new(binding),
        );
    }

    /// Upstream calls so far.
    pub fn calls(&self) -> u64 {
        (self.calls)()
    }

    /// The connector.
    pub fn connector(&self) -> &Arc<dyn Connector> {
        &self.connector
    }

    /// The binding of a store collection path (`calendars/<user>/<id>/`).
    pub fn binding(&self, path: &str) -> Option<Arc<Binding>> {
        let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let [home, _user, id] = segs[..] else {
            return None;
        };
        let kind = match home {
            "calendars" => CollectionKind::Calendar,
            "addressbooks" => CollectionKind::Addressbook,
            _ => return None,
        };
        self.bindings
            .get(&(kind == CollectionKind::Calendar, id.to_string()))
            .cloned()
    }

    /// Paths of the bound collections in a user's home (`calendars/<user>/`).
    pub fn bound_paths_under(&self, home: &str) -> Vec<String> {
        let kind = if home.starts_with("calendars/") {
            CollectionKind::Calendar
        } else {
            CollectionKind::Addressbook
        };
        self.bindings
            .keys()
            .filter(|(k, _)| *k == (kind == CollectionKind::Calendar))
            .map(|(_, id)| format!("{home}{id}/"))
            .collect()
    }

    fn flight(&self, coll: i64) -> Arc<Flight> {
        let mut f = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        f.entry(coll).or_default().clone()
    }

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
    ) -> Option<(Duration, Result<RefreshStats, String>)> {
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

    /// Forget freshness (the next read refreshes).
    pub fn invalidate(&self, coll: i64) {
        *self
            .flight(coll)
            .checked
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
    }

    async fn refresh(
        &self,
        store: &Store,
        b: &Binding,
        coll: &Collection,
    ) -> Result<RefreshStats, String> {
        let caps = self.connector.capabilities(&b.entity);
        let mut st = store.crm_state(coll).await.map_err(|e| e.to_string())?;
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
            let p = self
                .connector
                .list(&b.entity, since, page)
                .await
                .map_err(|e| e.to_string())?;
            records.extend(p.records);
            match p.next {
                Some(n) => page = Some(n),
                None => break,
            }
        }
        let idents = store
            .crm_identities(coll)
            .await
            .map_err(|e| e.to_string())?;
        let present: HashSet<String> = store
            .list_items(coll)
            .await
            .map_err(|e| e.to_string())?
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
            let before = store
                .item_meta(coll, &ident.name)
                .await
                .map_err(|e| e.to_string())?
                .map(|m| m.etag);
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
                .await
                .map_err(|e| e.to_string())?;
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
                    store
                        .crm_forget(coll, &i.crm_id)
                        .await
                        .map_err(|e| e.to_string())?;
                } else {
                    store
                        .crm_remove(coll, &i.name, false)
                        .await
                        .map_err(|e| e.to_string())?;
                    store
                        .drop_props(&self.name, &format!("{}{}", coll.path, i.name))
                        .await
                        .map_err(|e| e.to_string())?;
                    stats.removed += 1;
                }
            }
            st.full_scan_at = Some(now.timestamp());
        }
        st.watermark = wm.map(|w| w.to_rfc3339());
        store
            .set_crm_state(coll, &st)
            .await
            .map_err(|e| e.to_string())?;
        Ok(stats)
    }

    fn index(&self, coll: &Collection, body: &str) -> Result<ItemIndex, String> {
        match coll.kind {
            CollectionKind::Addressbook => card_index(body).map_err(|e| e.to_string()),
            _ => calendar_index(body, coll, self.max_instances).map_err(|e| e.to_string()),
        }
    }

    /// A phone's PUT: the CRM first (create or update), then the identity, the client's copy
    /// and the stored item, all or nothing. Returns the stored ETag and whether it was created.
    #[allow(clippy::too_many_arguments)]
    pub async fn put(
        &self,
        store: &Store,
        b: &Binding,
        coll: &Collection,
        name: &str,
        body: &[u8],
        index: &ItemIndex,
        content_type: &str,
        cond: &WriteCondition,
    ) -> Result<(String, bool), CrmWriteError> {
        let f = self.flight(coll.id);
        let _g = f.lock.lock().await;
        // Preconditions before any CRM call.
        let current = store.item_meta(coll, name).await?;
        if !cond.check(current.as_ref().map(|m| m.etag.as_str())) {
            return Err(StoreError::PreconditionFailed.into());
        }
        let uid = index.uid.clone().unwrap_or_default();
        if let Some(other) = store.item_name_by_uid(coll, &uid, name).await? {
            return Err(StoreError::UidConflict(other).into());
        }
        let text = std::str::from_utf8(body)
            .map_err(|_| MappingError::Parse("the body is not UTF-8".into()))?;
        let patch = b.mapping.to_record(text)?;
        let existing = store.crm_identity(coll, name).await?;
        let record = match &existing {
            Some(i) => {
                self.connector
                    .update(&b.entity, &i.crm_id, &patch, i.version.as_deref())
                    .await?
            }
            None => self.connector.create(&b.entity, &patch).await?,
        };
        let ident = CrmIdentity {
            name: name.to_string(),
            crm_id: record.id.clone(),
            uid,
            client_copy: Some(body.to_vec()),
            base_record: Some(serde_json::to_string(&record.data).unwrap_or_default()),
            record_hash: Some(record_hash(&record)),
            version: record.version.clone(),
            deleted: false,
        };
        let saved = store
            .crm_save(
                coll,
                &ident,
                Some(RenderedItem {
                    content_type,
                    body,
                    index,
                }),
            )
            .await;
        let etag = match saved {
            Ok(Some(e)) => e,
            Ok(None) => crate::store::etag_of(body),
            Err(e) => {
                // The CRM has the record but our state could not be written: the next refresh
                // would import it under a CRM href. Say so loudly.
                tracing::error!(tenant = %self.name, crm_id = %record.id, error = %e, "the CRM accepted a write the state store then refused");
                return Err(e.into());
            }
        };
        tracing::info!(tenant = %self.name, collection = %coll.path, %name, crm_id = %record.id, created = existing.is_none(), "written to the CRM");
        Ok((etag, current.is_none()))
    }

    /// A phone's DELETE: delete (or cancel) in the CRM, then remove the item.
    pub async fn delete(
        &self,
        store: &Store,
        b: &Binding,
        coll: &Collection,
        name: &str,
        cond: &WriteCondition,
    ) -> Result<(), CrmWriteError> {
        let f = self.flight(coll.id);
        let _g = f.lock.lock().await;
        let current = store
            .item_meta(coll, name)
            .await?
            .ok_or(StoreError::NotFound)?;
        if !cond.check(Some(&current.etag)) {
            return Err(StoreError::PreconditionFailed.into());
        }
        let ident = store.crm_identity(coll, name).await?;
        let Some(ident) = ident else {
            store.crm_remove(coll, name, false).await?;
            return Ok(());
        };
        match self.connector.delete(&b.entity, &ident.crm_id).await {
            Ok(()) | Err(ConnectorError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // A CRM that only cancels keeps listing the record: remember it was deleted here.
        let keep = self.connector.capabilities(&b.entity).delete == DeleteStyle::StatusChange;
        store.crm_remove(coll, name, keep).await?;
        tracing::info!(tenant = %self.name, collection = %coll.path, %name, crm_id = %ident.crm_id, "deleted in the CRM");
        Ok(())
    }
}

/// A [`TokenStore`] over the state store's `kv` table, so rotated OAuth2 refresh tokens
/// survive restarts.
pub struct KvTokenStore {
    store: Arc<Store>,
    tenant: String,
}

impl KvTokenStore {
    /// Tokens of `tenant`.
    pub fn new(store: Arc<Store>, tenant: &str) -> Self {
        KvTokenStore {
            store,
            tenant: tenant.to_string(),
        }
    }
}

const TOKEN_KEY: &str = "crm:oauth2-token";

#[async_trait::async_trait]
impl TokenStore for KvTokenStore {
    async fn load(&self) -> Result<Option<StoredToken>, String> {
        let v = self
            .store
            .kv_get(&self.tenant, TOKEN_KEY)
            .await
            .map_err(|e| e.to_string())?;
        let Some(v) = v else { return Ok(None) };
        let j: serde_json::Value = serde_json::from_str(&v).map_err(|e| e.to_string())?;
        let s = |k: &str| j.get(k).and_then(|x| x.as_str()).map(String::from);
        Ok(Some(StoredToken {
            access_token: s("access_token"),
            refresh_token: s("refresh_token"),
            expires_at: s("expires_at")
                .and_then(|e| DateTime::parse_from_rfc3339(&e).ok())
                .map(|d| d.with_timezone(&Utc)),
            api_base: s("api_base"),
        }))
    }

    async fn save(&self, token: &StoredToken) -> Result<(), String> {
        let j = serde_json::json!({
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "expires_at": token.expires_at.map(|e| e.to_rfc3339()),
            "api_base": token.api_base,
        });
        self.store
            .kv_set(&self.tenant, TOKEN_KEY, &j.to_string())
            .await
            .map_err(|e| e.to_string())
    }
}

/// Every CRM tenant of the server, and refresh metrics.
#[derive(Default)]
pub struct CrmRegistry {
    tenants: HashMap<String, Arc<CrmTenant>>,
    refresh_count: AtomicU64,
    refresh_micros: AtomicU64,
}

impl CrmRegistry {
    /// Build connectors and bindings for every CRM tenant of `cfg`.
    pub fn build(cfg: &ServerConfig, store: &Arc<Store>) -> anyhow::Result<Self> {
        let mut reg = CrmRegistry::default();
        for t in &cfg.tenants {
            let ConnectorKind::Rest {
                definition,
                options,
            } = &t.connector
            else {
                continue;
            };
            let file = t.path.display();
            let vars = option_vars(options);
            let src = cfg
                .catalog
                .connector(definition)
                .map_err(|e| anyhow::anyhow!("{file}: connector.kind: {e}"))?;
            let def = ConnectorDef::from_toml_str(&src.text, &vars)
                .map_err(|e| anyhow::anyhow!("{file}: connector: {}: {e}", src.origin))?;
            let ts: Arc<dyn TokenStore> = Arc::new(KvTokenStore::new(store.clone(), &t.name));
            let rest = Arc::new(
                RestConnector::new(def, Some(ts))
                    .map_err(|e| anyhow::anyhow!("{file}: connector: {e}"))?,
            );
            let counter = rest.clone();
            let mut tenant = CrmTenant::new(
                &t.name,
                rest,
                Box::new(move || counter.calls()),
                t.sync,
                cfg.limits.max_instances,
            );
            for (i, c) in t.collections.iter().enumerate() {
                let Some(entity) = &c.entity else { continue };
                let name = c.mapping_name().unwrap_or(entity);
                let msrc = cfg
                    .catalog
                    .mapping(definition, name)
                    .map_err(|e| anyhow::anyhow!("{file}: collections[{i}].mapping: {e}"))?;
                let b = Binding::new(definition, entity, &msrc.text, &vars).map_err(|e| {
                    anyhow::anyhow!("{file}: collections[{i}].mapping: {}: {e}", msrc.origin)
                })?;
                let kind = match c.kind {
                    CollectionKindConfig::Calendar => CollectionKind::Calendar,
                    CollectionKindConfig::Addressbook => CollectionKind::Addressbook,
                };
                tenant.bind(kind, &c.id, b);
            }
            reg.tenants.insert(t.name.clone(), Arc::new(tenant));
        }
        Ok(reg)
    }

    /// Add a tenant (tests).
    pub fn insert(&mut self, t: CrmTenant) {
        self.tenants.insert(t.name.clone(), Arc::new(t));
    }

    /// The CRM tenant `name`, if it is one.
    pub fn tenant(&self, name: &str) -> Option<&Arc<CrmTenant>> {
        self.tenants.get(name)
    }

    /// The tenant and binding of a store collection path, when it is CRM-backed.
    pub fn binding(&self, tenant: &str, path: &str) -> Option<(Arc<CrmTenant>, Arc<Binding>)> {
        let t = self.tenants.get(tenant)?;
        t.binding(path).map(|b| (t.clone(), b))
    }

    /// Refresh the CRM collection at `path` if it is one and is stale.
    pub async fn ensure_fresh(&self, store: &Store, tenant: &str, path: &str) {
        let Some((t, b)) = self.binding(tenant, path) else {
            return;
        };
        let coll = match store.collection(tenant, path).await {
            Ok(Some(c)) => c,
            _ => return,
        };
        if let Some((took, _)) = t.ensure_fresh(store, &b, &coll).await {
            self.refresh_count.fetch_add(1, Ordering::Relaxed);
            self.refresh_micros
                .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::{Capabilities, Page};
    use serde_json::{json, Value};
    use std::sync::Mutex;

    #[derive(Default)]
    struct Fake {
        records: Mutex<Vec<Record>>,
        calls: AtomicU64,
        since_seen: Mutex<Vec<Option<DateTime<Utc>>>>,
        next_id: AtomicU64,
    }

    fn rec(id: &str, title: &str, modified: &str) -> Record {
        Record {
            id: id.into(),
            data: json!({"id": id, "title": title, "start": "2030-01-15T10:00:00+01:00", "end": "2030-01-15T11:00:00+01:00", "updated_at": modified}),
            modified: Some(
                DateTime::parse_from_rfc3339(modified)
                    .unwrap()
                    .with_timezone(&Utc),
            ),
            version: None,
        }
    }

    #[async_trait::async_trait]
    impl Connector for Fake {
        fn capabilities(&self, _: &str) -> Capabilities {
            Capabilities {
                modified_since: true,
                ..Default::default()
            }
        }
        async fn list(
            &self,
            _: &str,
            since: Option<DateTime<Utc>>,
            _: Option<String>,
        ) -> Result<Page, ConnectorError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            self.since_seen.lock().unwrap().push(since);
            let records = self
                .records
                .lock()
                .unwrap()
                .iter()
                .filter(|r| since.is_none_or(|s| r.modified.unwrap() > s))
                .cloned()
                .collect();
            Ok(Page {
                records,
                next: None,
            })
        }
        async fn get(&self, _: &str, _: &str) -> Result<Option<Record>, ConnectorError> {
            unreachable!()
        }
        async fn create(&self, _: &str, data: &Value) -> Result<Record, ConnectorError> {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let id = format!("n{}", self.next_id.fetch_add(1, Ordering::Relaxed));
            let mut d = data.clone();
            d["id"] = json!(id);
            d["updated_at"] = json!("2030-01-01T00:00:00Z");
            let r = Record {
                id,
                modified: Some(Utc::now()),
                data: d,
                version: None,
            };
            self.records.lock().unwrap().push(r.clone());
            Ok(r)
        }
        async fn update(
            &self,
            _: &str,
            _: &str,
            _: &Value,
            _: Option<&str>,
        ) -> Result<Record, ConnectorError> {
            unreachable!()
        }
        async fn delete(&self, _: &str, _: &str) -> Result<(), ConnectorError> {
            unreachable!()
        }
    }

    const MAPPING: &str = r#"
component = "VEVENT"
timezone = "Europe/Berlin"
[[field]]
property = "SUMMARY"
path = "title"
[[field]]
property = "DTSTART"
path = "start"
type = "datetime"
[[field]]
property = "DTEND"
path = "end"
type = "datetime"
"#;

    fn tenant(fake: Arc<Fake>, full_scan_secs: u64) -> CrmTenant {
        let f2 = fake.clone();
        let mut t = CrmTenant::new(
            "t",
            fake,
            Box::new(move || f2.calls.load(Ordering::Relaxed)),
            SyncOptions {
                refresh_ttl_secs: 0,
                full_scan_secs,
            },
            1000,
        );
        t.bind(
            CollectionKind::Calendar,
            "m",
            Binding::new("fake", "things", MAPPING, &HashMap::new()).unwrap(),
        );
        t
    }

    #[tokio::test]
    async fn refresh_incremental_full_and_writes() {
        let store = Store::open("sqlite://:memory:").await.unwrap();
        let coll = store
            .create_collection(
                "t",
                "calendars/u/m/",
                CollectionKind::Calendar,
                &["VEVENT".into()],
                false,
            )
            .await
            .unwrap();
        let fake = Arc::new(Fake::default());
        fake.records
            .lock()
            .unwrap()
            .push(rec("1", "One", "2030-01-01T10:00:00Z"));
        fake.records
            .lock()
            .unwrap()
            .push(rec("2", "Two", "2030-01-01T11:00:00Z"));
        let t = tenant(fake.clone(), 600);
        let b = t.binding("calendars/u/m/").unwrap();
        assert!(t.binding("calendars/u/other/").is_none());

        let (_, r) = t.ensure_fresh(&store, &b, &coll).await.unwrap();
        assert_eq!(
            r.unwrap(),
            RefreshStats {
                listed: 2,
                written: 2,
                removed: 0,
                full: true
            }
        );
        let c1 = store
            .collection("t", "calendars/u/m/")
            .await
            .unwrap()
            .unwrap();
        let items = store.list_items(&c1).await.unwrap();
        let names: Vec<_> = items.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            ["fake-things-1@crmdav.ics", "fake-things-2@crmdav.ics"]
        );

        // Idle: an incremental listing from the watermark (10 s overlap: record 2 again, skipped by
        // its hash), nothing written, no seq move.
        let (_, r) = t.ensure_fresh(&store, &b, &c1).await.unwrap();
        assert_eq!(
            r.unwrap(),
            RefreshStats {
                listed: 1,
                written: 0,
                removed: 0,
                full: false
            }
        );
        let since = fake
            .since_seen
            .lock()
            .unwrap()
            .last()
            .copied()
            .flatten()
            .unwrap();
        assert_eq!(since.to_rfc3339(), "2030-01-01T10:59:50+00:00");
        assert_eq!(
            store
                .collection("t", "calendars/u/m/")
                .await
                .unwrap()
                .unwrap()
                .seq,
            c1.seq
        );
        assert_eq!(fake.calls.load(Ordering::Relaxed), 2);

        // A change upstream moves exactly one item.
        fake.records.lock().unwrap()[0] = rec("1", "One (edited)", "2030-01-02T09:00:00Z");
        let (_, r) = t.ensure_fresh(&store, &b, &c1).await.unwrap();
        assert_eq!(r.unwrap().written, 1);
        let c2 = store
            .collection("t", "calendars/u/m/")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(c2.seq, c1.seq + 1);
        let body = store
            .item(&c2, "fake-things-1@crmdav.ics")
            .await
            .unwrap()
            .unwrap()
            .body;
        assert!(String::from_utf8(body)
            .unwrap()
            .contains("SUMMARY:One (edited)"));

        // A phone create goes to the CRM once, and the next refresh does not import it again.
        let phone = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:p1\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:Phone\r\nDTSTART:20300301T090000Z\r\nDTEND:20300301T100000Z\r\nX-KEEP:yes\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let idx = ItemIndex {
            uid: Some("p1".into()),
            component: Some(crate::vocab::ComponentKind::Vevent),
            ..Default::default()
        };
        let (etag, created) = t
            .put(
                &store,
                &b,
                &c2,
                "p1.ics",
                phone.as_bytes(),
                &idx,
                "text/calendar",
                &WriteCondition::default(),
            )
            .await
            .unwrap();
        assert!(created);
        assert_eq!(etag, crate::store::etag_of(phone.as_bytes()));
        let stale = WriteCondition {
            if_match: Some(vec!["\"old\"".into()]),
            if_none_match: None,
        };
        let calls = fake.calls.load(Ordering::Relaxed);
        assert!(matches!(
            t.put(
                &store,
                &b,
                &c2,
                "p1.ics",
                phone.as_bytes(),
                &idx,
                "text/calendar",
                &stale
            )
            .await,
            Err(CrmWriteError::Store(StoreError::PreconditionFailed))
        ));
        assert_eq!(
            fake.calls.load(Ordering::Relaxed),
            calls,
            "412 before any CRM call"
        );

        // Deletions need a full scan.
        fake.records.lock().unwrap().remove(1);
        let t_full = tenant(fake.clone(), 0);
        let c3 = store
            .collection("t", "calendars/u/m/")
            .await
            .unwrap()
            .unwrap();
        let (_, r) = t_full.ensure_fresh(&store, &b, &c3).await.unwrap();
        let r = r.unwrap();
        assert_eq!((r.full, r.removed), (true, 1));
        let c4 = store
            .collection("t", "calendars/u/m/")
            .await
            .unwrap()
            .unwrap();
        let names: Vec<_> = store
            .list_items(&c4)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        assert_eq!(
            names,
            ["fake-things-1@crmdav.ics", "p1.ics"],
            "no duplicate of the phone's item"
        );
        assert_eq!(
            store.item(&c4, "p1.ics").await.unwrap().unwrap().body,
            phone.as_bytes()
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_reads_share_one_refresh() {
        let store = Arc::new(Store::open("sqlite://:memory:").await.unwrap());
        let coll = store
            .create_collection(
                "t",
                "calendars/u/m/",
                CollectionKind::Calendar,
                &["VEVENT".into()],
                false,
            )
            .await
            .unwrap();
        let fake = Arc::new(Fake::default());
        fake.records
            .lock()
            .unwrap()
            .push(rec("1", "One", "2030-01-01T10:00:00Z"));
        let f2 = fake.clone();
        let mut t = CrmTenant::new(
            "t",
            fake.clone(),
            Box::new(move || f2.calls.load(Ordering::Relaxed)),
            SyncOptions {
                refresh_ttl_secs: 30,
                full_scan_secs: 600,
            },
            1000,
        );
        t.bind(
            CollectionKind::Calendar,
            "m",
            Binding::new("fake", "things", MAPPING, &HashMap::new()).unwrap(),
        );
        let t = Arc::new(t);
        let b = t.binding("calendars/u/m/").unwrap();
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (t, b, store, coll) = (t.clone(), b.clone(), store.clone(), coll.clone());
            tasks.push(tokio::spawn(async move {
                t.ensure_fresh(&store, &b, &coll).await.is_some()
            }));
        }
        let mut ran = 0;
        for h in tasks {
            ran += h.await.unwrap() as usize;
        }
        assert_eq!(ran, 1, "one refresh for 16 concurrent readers");
        assert_eq!(fake.calls.load(Ordering::Relaxed), 1);
        assert_eq!(store.list_items(&coll).await.unwrap().len(), 1);
        t.invalidate(coll.id);
        assert!(t.ensure_fresh(&store, &b, &coll).await.is_some());
        assert_eq!(t.calls(), 2);
    }

    #[tokio::test]
    async fn tokens_survive_in_the_kv_table() {
        let store = Arc::new(Store::open("sqlite://:memory:").await.unwrap());
        let a = KvTokenStore::new(store.clone(), "a");
        assert_eq!(a.load().await.unwrap(), None);
        let tok = StoredToken {
            access_token: Some("at".into()),
            refresh_token: Some("rt-rotated".into()),
            expires_at: Some(
                DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc),
            ),
            api_base: Some("https://eu12.my.salesforce.com/".into()),
        };
        a.save(&tok).await.unwrap();
        assert_eq!(
            KvTokenStore::new(store.clone(), "a").load().await.unwrap(),
            Some(tok)
        );
        assert_eq!(
            KvTokenStore::new(store, "b").load().await.unwrap(),
            None,
            "per tenant"
        );
    }
}
