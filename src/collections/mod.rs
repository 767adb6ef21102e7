//! The one seam between the DAV handlers and whatever holds a collection's items.
//!
//! Every collection is served from the state store; a collection the tenant file binds to a CRM
//! entity is also kept in step with the CRM. The handlers call this module for every
//! collection (read-before, put, delete, guard) and never learn which kind it is: reads are
//! refreshed here, writes are routed here, and what a backend cannot express is refused here.

pub mod provision;
mod quota;

pub use quota::{Growth, OverQuota, QuotaError};

use crate::config::Quota;
use crate::connector::ConnectorError;
use crate::crm::{Binding, CrmRegistry, CrmTenant, CrmWriteError};
use crate::store::{Collection, ItemIndex, Store, StoreError, WriteCondition};
use crate::tree::{CollectionPath, StorePath};
use std::sync::Arc;

/// Why a write to a collection was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The state store refused it (412, UID conflict, …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The collection's backend cannot represent this item.
    #[error("the CRM cannot take this item: {reason}")]
    Unrepresentable {
        /// What the backend said.
        reason: String,
    },
    /// The backend behind the collection refused or failed.
    #[error(transparent)]
    Upstream(ConnectorError),
    /// The write would pass a quota (RFC 4331).
    #[error(transparent)]
    OverQuota(OverQuota),
}

impl From<QuotaError> for WriteError {
    fn from(e: QuotaError) -> Self {
        match e {
            QuotaError::Over(o) => WriteError::OverQuota(o),
            QuotaError::Db(e) => WriteError::Store(StoreError::Db(e)),
        }
    }
}

impl From<sqlx::Error> for WriteError {
    fn from(e: sqlx::Error) -> Self {
        WriteError::Store(StoreError::Db(e))
    }
}

impl From<CrmWriteError> for WriteError {
    fn from(e: CrmWriteError) -> Self {
        match e {
            CrmWriteError::Store(e) => WriteError::Store(e),
            CrmWriteError::Mapping(m) => WriteError::Unrepresentable {
                reason: m.to_string(),
            },
            CrmWriteError::Connector(c) => WriteError::Upstream(c),
        }
    }
}

/// An operation a collection's backend cannot express.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// COPY or MOVE into or out of a CRM-backed collection.
    #[error(
        "items of a CRM-backed collection cannot be copied or moved; create or delete them instead"
    )]
    CopyMove,
    /// DELETE, MKCOL or MKCALENDAR of a CRM-backed collection itself.
    #[error(
        "a CRM-backed collection is declared in the tenant file and cannot be deleted or recreated"
    )]
    Declared,
    /// A write by a person whose CRM role may only read (RFC 3744 §7.1.1).
    #[error("your CRM role may only read: this collection is read-only")]
    ReadOnly,
}

/// Where a collection's items come from.
enum Backend {
    /// Only the state store.
    Local,
    /// A CRM entity, mirrored in the state store.
    Crm(Arc<CrmTenant>, Arc<Binding>),
}

/// Every collection of every tenant.
pub struct Collections {
    store: Arc<Store>,
    /// Swapped whole when tenant files are reloaded; read once per call, never locked.
    crm: arc_swap::ArcSwap<CrmRegistry>,
    quota: Quota,
}

impl Collections {
    /// Collections in `store`, some of them bound to CRM entities by `crm`.
    pub fn new(store: Arc<Store>, crm: CrmRegistry) -> Self {
        Collections {
            store,
            crm: arc_swap::ArcSwap::from_pointee(crm),
            quota: Quota::default(),
        }
    }

    /// The CRM tenants and bindings now in force.
    pub fn crm(&self) -> Arc<CrmRegistry> {
        self.crm.load_full()
    }

    /// Serve from `crm` from now on (a reload of tenant files); calls under way finish with
    /// the bindings they started with.
    pub fn replace_crm(&self, crm: CrmRegistry) {
        self.crm.store(Arc::new(crm));
    }

    fn backend(&self, tenant: &str, coll: &CollectionPath) -> Backend {
        match self.crm.load().binding(tenant, coll) {
            Some((t, b)) => Backend::Crm(t, b),
            None => Backend::Local,
        }
    }

    fn is_bound(&self, tenant: &str, coll: &CollectionPath) -> bool {
        self.crm.load().binding(tenant, coll).is_some()
    }

    /// The bound collection a URL is or is in (a member URL may name a collection without its
    /// trailing slash).
    fn bound_of(&self, tenant: &str, path: &StorePath) -> Option<CollectionPath> {
        let candidates = match path {
            StorePath::Collection(c) => vec![c.clone()],
            StorePath::Member(m) => vec![m.as_collection(), m.collection.clone()],
        };
        candidates.into_iter().find(|c| self.is_bound(tenant, c))
    }

    /// Before a read (PROPFIND, REPORT, GET, HEAD) of `path`: bring the collection it is or is
    /// in up to date (within its TTL this costs nothing). `lists_home` says the read lists a
    /// home's members with their CTags (PROPFIND Depth 1), which refreshes every bound
    /// collection in it.
    pub async fn before_read(&self, tenant: &str, path: &StorePath, lists_home: bool) {
        let crm = self.crm.load_full();
        if let Some(c) = self.bound_of(tenant, path) {
            crm.ensure_fresh(&self.store, tenant, &c).await;
            return;
        }
        let StorePath::Collection(home) = path else {
            return;
        };
        if !lists_home || home.as_home().is_none() {
            return;
        }
        let Some(t) = crm.tenant(tenant) else {
            return;
        };
        for c in t.bound_under(home) {
            crm.ensure_fresh(&self.store, tenant, &c).await;
        }
    }

    /// Before a COPY or MOVE from `src` to `dest` (`None`: not a path in a home).
    pub fn guard_copy_move(
        &self,
        tenant: &str,
        src: &StorePath,
        dest: Option<&StorePath>,
    ) -> Result<(), Refused> {
        let dest_bound = dest.is_some_and(|d| {
            let inside = match d {
                StorePath::Collection(c) => c.parent(),
                StorePath::Member(m) => Some(m.collection.clone()),
            };
            inside.is_some_and(|c| self.is_bound(tenant, &c))
                || self.is_bound(tenant, &d.as_collection())
        });
        if dest_bound || self.bound_of(tenant, src).is_some() {
            return Err(Refused::CopyMove);
        }
        Ok(())
    }

    /// The CRM-backed collections in `user`'s homes that are read-only for them (their own
    /// CRM credential's role may only read), as stored paths. Costs nothing for a person on the
    /// tenant's credential; otherwise a role lookup cached per `[me].ttl_secs`.
    pub async fn read_only_collections(&self, tenant: &str, user: &str) -> Vec<String> {
        let crm = self.crm.load_full();
        let Some(t) = crm.tenant(tenant) else {
            return Vec::new();
        };
        if !t.read_only(user).await {
            return Vec::new();
        }
        [
            crate::tree::HomeKind::Calendars,
            crate::tree::HomeKind::Addressbooks,
        ]
        .into_iter()
        .flat_map(|k| t.bound_under(&CollectionPath::home(k, user)))
        .map(|c| c.as_str().to_string())
        .collect()
    }

    /// Before a write (PUT, DELETE, MOVE, PROPPATCH) in or of `path` by `user`: a CRM-backed
    /// collection of a person whose CRM role may only read refuses it, before any CRM call.
    pub async fn guard_write(
        &self,
        tenant: &str,
        user: &str,
        path: &StorePath,
    ) -> Result<(), Refused> {
        let Some(c) = self.bound_of(tenant, path) else {
            return Ok(());
        };
        let crm = self.crm.load_full();
        match crm.tenant(tenant) {
            Some(t) if t.read_only(user).await => {
                tracing::info!(%tenant, %user, collection = %c.as_str(), "write refused: the person's CRM role may only read");
                Err(Refused::ReadOnly)
            }
            _ => Ok(()),
        }
    }

    /// Before a DELETE, MKCOL or MKCALENDAR of `path`: a bound collection is declared by the
    /// tenant file and stays.
    pub fn guard_replace(&self, tenant: &str, path: &StorePath) -> Result<(), Refused> {
        if self.is_bound(tenant, &path.as_collection()) {
            return Err(Refused::Declared);
        }
        Ok(())
    }

    /// Write item `name` of `coll` (a validated body with its index). Returns the stored ETag
    /// and whether the item was created.
    #[allow(clippy::too_many_arguments)]
    pub async fn put(
        &self,
        tenant: &str,
        coll: &Collection,
        name: &str,
        body: &[u8],
        index: &ItemIndex,
        content_type: &str,
        cond: &WriteCondition,
    ) -> Result<(String, bool), WriteError> {
        self.admit_put(tenant, coll, name, body.len()).await?;
        match self.backend(tenant, &CollectionPath::of_stored(&coll.path)) {
            Backend::Crm(t, b) => Ok(t
                .put(&self.store, &b, coll, name, body, index, content_type, cond)
                .await?),
            Backend::Local => {
                let (etag, created) = self
                    .store
                    .put_item(coll, name, content_type, body, index, cond)
                    .await?;
                tracing::info!(%name, created, "stored");
                Ok((etag, created))
            }
        }
    }

    /// Delete item `name` of `coll`, and its dead properties.
    pub async fn delete(
        &self,
        tenant: &str,
        coll: &Collection,
        name: &str,
        cond: &WriteCondition,
    ) -> Result<(), WriteError> {
        let path = CollectionPath::of_stored(&coll.path);
        match self.backend(tenant, &path) {
            Backend::Crm(t, b) => {
                t.delete(&self.store, &b, coll, name, cond).await?;
                self.store
                    .drop_props(tenant, &path.member(name).path())
                    .await?;
            }
            Backend::Local => {
                self.store.delete_item(coll, name, cond).await?;
                self.store
                    .drop_props(tenant, &path.member(name).path())
                    .await?;
                tracing::info!(%name, "deleted");
            }
        }
        Ok(())
    }

    /// Prometheus text for the backends' counters.
    pub fn metrics_text(&self, tenant_names: bool) -> String {
        self.crm.load().metrics_text(tenant_names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SyncOptions;
    use crate::connector::{Capabilities, Connector, Page, Record};
    use crate::store::CollectionKind;
    use crate::tree::{HomeKind, MemberPath};
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A CRM with no records that refuses every create, counting its listings.
    #[derive(Default)]
    struct Nothing {
        lists: AtomicU64,
    }

    #[async_trait::async_trait]
    impl Connector for Nothing {
        fn capabilities(&self, _: &str) -> Capabilities {
            Capabilities::default()
        }
        async fn list(
            &self,
            _: &str,
            _: Option<chrono::DateTime<chrono::Utc>>,
            _: Option<String>,
        ) -> Result<Page, ConnectorError> {
            self.lists.fetch_add(1, Ordering::Relaxed);
            Ok(Page {
                records: vec![],
                next: None,
            })
        }
        async fn get(&self, _: &str, _: &str) -> Result<Option<Record>, ConnectorError> {
            Ok(None)
        }
        async fn create(&self, _: &str, _: &serde_json::Value) -> Result<Record, ConnectorError> {
            Err(ConnectorError::NotFound {
                message: "no".into(),
            })
        }
        async fn update(
            &self,
            _: &str,
            _: &str,
            _: &serde_json::Value,
            _: Option<&str>,
        ) -> Result<Record, ConnectorError> {
            Err(ConnectorError::NotFound {
                message: "no".into(),
            })
        }
        async fn delete(&self, _: &str, _: &str) -> Result<(), ConnectorError> {
            Ok(())
        }
    }

    const MAPPING: &str =
        "component = \"VEVENT\"\n[[field]]\nproperty = \"SUMMARY\"\npath = \"title\"\n";

    async fn seam() -> Collections {
        seam_over(Arc::new(Nothing::default())).await
    }

    async fn seam_over(crm: Arc<Nothing>) -> Collections {
        let store = Arc::new(Store::open("sqlite://:memory:").await.unwrap());
        let mut t = CrmTenant::new(
            "t",
            crm,
            Box::new(|| 0),
            SyncOptions {
                refresh_ttl_secs: 30,
                full_scan_secs: 600,
                ..Default::default()
            },
            1000,
        );
        t.bind(
            CollectionKind::Calendar,
            "crm",
            Binding::new("fake", "things", MAPPING, &Default::default()).unwrap(),
        );
        let mut reg = CrmRegistry::default();
        reg.insert(t);
        Collections::new(store, reg)
    }

    fn home() -> CollectionPath {
        CollectionPath::home(HomeKind::Calendars, "u")
    }

    #[tokio::test]
    async fn guards_follow_the_bindings() {
        let s = seam().await;
        let crm = StorePath::Collection(home().child("crm"));
        let crm_bare = StorePath::Member(home().member("crm"));
        let in_crm = StorePath::Member(home().child("crm").member("x.ics"));
        let local = StorePath::Member(home().child("work").member("x.ics"));
        let local_coll = StorePath::Collection(home().child("work"));
        assert_eq!(s.guard_replace("t", &crm), Err(Refused::Declared));
        assert_eq!(s.guard_replace("t", &crm_bare), Err(Refused::Declared));
        assert_eq!(s.guard_replace("t", &in_crm), Ok(()));
        assert_eq!(s.guard_replace("other", &crm), Ok(()));
        assert_eq!(s.guard_copy_move("t", &local, Some(&local)), Ok(()));
        assert_eq!(s.guard_copy_move("t", &local, None), Ok(()));
        assert_eq!(
            s.guard_copy_move("t", &in_crm, Some(&local)),
            Err(Refused::CopyMove)
        );
        assert_eq!(
            s.guard_copy_move("t", &local, Some(&in_crm)),
            Err(Refused::CopyMove)
        );
        assert_eq!(
            s.guard_copy_move("t", &local_coll, Some(&crm_bare)),
            Err(Refused::CopyMove)
        );
        let below = StorePath::Collection(home().child("crm").child("sub"));
        assert_eq!(
            s.guard_copy_move("t", &local_coll, Some(&below)),
            Err(Refused::CopyMove)
        );
        let _: MemberPath = in_crm.as_member();
    }

    #[tokio::test]
    async fn routes_writes_and_refreshes() {
        let crm = Arc::new(Nothing::default());
        let s = seam_over(crm.clone()).await;
        let mut colls = Vec::new();
        for (path, kind) in [
            ("calendars/u/", CollectionKind::Plain),
            ("calendars/u/work/", CollectionKind::Calendar),
            ("calendars/u/crm/", CollectionKind::Calendar),
        ] {
            let comps = ["VEVENT".to_string()];
            colls.push(
                s.store
                    .create_collection("t", path, kind, &comps, false)
                    .await
                    .unwrap(),
            );
        }
        let body = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:A\r\nDTSTART:20300301T090000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let index = ItemIndex {
            uid: Some("a".into()),
            component: Some(crate::vocab::ComponentKind::Vevent),
            ..Default::default()
        };
        let none = WriteCondition::default();
        let ct = "text/calendar; charset=utf-8";

        // A local collection: the state store only.
        let (_, created) = s
            .put("t", &colls[1], "a.ics", body, &index, ct, &none)
            .await
            .unwrap();
        assert!(created);
        assert!(s
            .store
            .item_meta(&colls[1], "a.ics")
            .await
            .unwrap()
            .is_some());
        s.delete("t", &colls[1], "a.ics", &none).await.unwrap();
        assert!(s
            .store
            .item_meta(&colls[1], "a.ics")
            .await
            .unwrap()
            .is_none());

        // A bound collection: the CRM first, whose refusal comes back as an upstream error.
        let e = s
            .put("t", &colls[2], "a.ics", body, &index, ct, &none)
            .await
            .unwrap_err();
        assert!(matches!(e, WriteError::Upstream(_)), "{e:?}");
        assert!(s
            .store
            .item_meta(&colls[2], "a.ics")
            .await
            .unwrap()
            .is_none());

        // Reads refresh the bound collection they are in; a home listing refreshes those in it.
        let home = StorePath::Collection(home());
        s.before_read("t", &home, false).await;
        assert_eq!(crm.lists.load(Ordering::Relaxed), 0);
        s.before_read("t", &home, true).await;
        assert_eq!(crm.lists.load(Ordering::Relaxed), 1);
        let local =
            StorePath::Member(CollectionPath::of_stored("calendars/u/work/").member("a.ics"));
        s.before_read("t", &local, false).await;
        assert_eq!(crm.lists.load(Ordering::Relaxed), 1);
    }
}
