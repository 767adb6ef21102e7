//! The boundary between the model and a database: one trait per concern, [`StateStore`] for all
//! of them, and [`Store`], the handle callers hold. A backend implements the concern traits;
//! callers never name it. Each write is atomic inside the backend (its transactions and any
//! lock never cross this boundary).

use std::collections::HashMap;

use async_trait::async_trait;
use futures_util::stream::BoxStream;

use super::model::{
    AppPassword, Change, Collection, CollectionKind, CrmBatchOp, CrmBatchOutcome,
    CrmCollectionState, CrmIdentity, CrmKnown, DeadProperty, Item, ItemIndex, ItemMeta, ItemRef,
    RenderedItem, SetupEntry, SetupInsert, SetupKind, WriteCondition,
};
use super::postgres::PgStore;
use super::sqlite::SqliteStore;
use super::StoreError;

/// Database errors as backends report them (sqlx serves SQLite and PostgreSQL alike).
pub type DbError = sqlx::Error;

/// Collections: lookup, listing, creation, deletion, copy and move of whole trees.
#[async_trait]
pub trait CollectionStore {
    /// A collection by path.
    async fn collection(&self, tenant: &str, path: &str) -> Result<Option<Collection>, DbError>;

    /// Direct child collections of `parent` (a path with a trailing slash).
    async fn child_collections(
        &self,
        tenant: &str,
        parent: &str,
    ) -> Result<Vec<Collection>, DbError>;

    /// Create a collection; its parent must exist unless `parent_required` is false.
    async fn create_collection(
        &self,
        tenant: &str,
        path: &str,
        kind: CollectionKind,
        components: &[String],
        parent_required: bool,
    ) -> Result<Collection, StoreError>;

    /// Delete a collection, everything below it, and their dead properties.
    async fn delete_collection(&self, tenant: &str, path: &str) -> Result<(), StoreError>;

    /// Copy a collection tree (collections, items, dead properties) from `src` to `dst`
    /// (both with trailing slashes). `depth_zero` copies only the collection itself.
    async fn copy_tree(
        &self,
        tenant: &str,
        src: &str,
        dst: &str,
        depth_zero: bool,
    ) -> Result<(), StoreError>;

    /// Move a collection tree: rename every path below `src` to `dst`. Sync tokens of moved
    /// collections stay valid (their instance does not change).
    async fn move_tree(&self, tenant: &str, src: &str, dst: &str) -> Result<(), StoreError>;

    /// The bytes and the number of items stored in the collection `path` (with its trailing
    /// slash) and, with `below`, in every collection under it: for quotas.
    async fn usage(&self, tenant: &str, path: &str, below: bool) -> Result<(u64, u64), DbError>;
}

/// Items: their bytes, ETags and index, read and written under write preconditions.
#[async_trait]
pub trait ItemStore {
    /// Item metadata of every member of a collection.
    async fn list_items(&self, coll: &Collection) -> Result<Vec<ItemMeta>, DbError>;

    /// Every member with its body (for queries that must look inside).
    async fn list_items_with_body(&self, coll: &Collection) -> Result<Vec<Item>, DbError>;

    /// Every member in name order as a stream of rows (with bodies when `with_body`), so a
    /// large collection is never held in memory at once.
    fn stream_items<'a>(
        &'a self,
        coll: &Collection,
        with_body: bool,
    ) -> BoxStream<'a, Result<Item, DbError>>;

    /// Members of a calendar whose indexed instance bounds may overlap `[start, end)`, of
    /// component `component` when given.
    async fn candidates(
        &self,
        coll: &Collection,
        component: Option<&str>,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Vec<Item>, DbError>;

    /// One item by collection and name.
    async fn item(&self, coll: &Collection, name: &str) -> Result<Option<Item>, DbError>;

    /// Metadata of one item by collection and name.
    async fn item_meta(&self, coll: &Collection, name: &str) -> Result<Option<ItemMeta>, DbError>;

    /// Items by names (multiget), in the order found.
    async fn items_named(&self, coll: &Collection, names: &[String]) -> Result<Vec<Item>, DbError>;

    /// The member (other than `name`) whose UID is `uid`, if any.
    async fn item_name_by_uid(
        &self,
        coll: &Collection,
        uid: &str,
        name: &str,
    ) -> Result<Option<String>, DbError>;

    /// The stored index of an item.
    async fn item_index(&self, coll: &Collection, name: &str) -> Result<ItemIndex, DbError>;

    /// Create or replace an item, atomically checking `cond` and (when `uid` is indexed)
    /// that no other member of the collection has the same UID (RFC 4791 §5.3.2.1,
    /// RFC 6352 §6.3.2.1). Returns the new ETag and whether the item was created.
    async fn put_item(
        &self,
        coll: &Collection,
        name: &str,
        content_type: &str,
        body: &[u8],
        index: &ItemIndex,
        cond: &WriteCondition,
    ) -> Result<(String, bool), StoreError>;

    /// Delete an item, checking `cond`; leaves a tombstone for sync-collection.
    async fn delete_item(
        &self,
        coll: &Collection,
        name: &str,
        cond: &WriteCondition,
    ) -> Result<(), StoreError>;

    /// Copy an item (with its dead properties) to another collection and name, and with
    /// `delete_source` remove the source, all in one transaction. `src_etag` is the source as
    /// the caller validated it (`index` is its index): a source gone since is `NotFound`, a
    /// source replaced since is `PreconditionFailed`. Returns whether the destination was
    /// created (vs. overwritten).
    #[allow(clippy::too_many_arguments)]
    async fn copy_item(
        &self,
        tenant: &str,
        src: ItemRef<'_>,
        src_etag: &str,
        dst: ItemRef<'_>,
        index: &ItemIndex,
        delete_source: bool,
    ) -> Result<bool, StoreError>;

    /// [`ItemStore::candidates`] as a stream of rows in name order, so a calendar-query holds
    /// one candidate body at a time, not all of them.
    fn stream_candidates<'a>(
        &'a self,
        coll: &Collection,
        component: Option<&str>,
        start: Option<i64>,
        end: Option<i64>,
    ) -> BoxStream<'a, Result<Item, DbError>>;
}

/// The per-collection change log behind sync tokens and CTags (RFC 6578).
#[async_trait]
pub trait ChangeLog {
    /// Changes after `since`, at most `limit` (ordered by sequence), and the sequence the
    /// answer is complete up to. No `since` is an initial sync: members only (RFC 6578 §3.8).
    async fn changes_since(
        &self,
        coll: &Collection,
        since: Option<i64>,
        limit: Option<usize>,
    ) -> Result<(Vec<Change>, i64), DbError>;

    /// Every change after `since` (ordered by sequence) as a stream of rows: what
    /// [`ChangeLog::changes_since`] lists without a limit, complete up to the `coll.seq` the
    /// caller read (later changes may show too, and are sent again next time).
    fn stream_changes<'a>(
        &'a self,
        coll: &Collection,
        since: Option<i64>,
    ) -> BoxStream<'a, Result<Change, DbError>>;
}

/// Dead properties (RFC 4918 §4.2), by tenant and path.
#[async_trait]
pub trait DeadPropertyStore {
    /// Dead properties of a resource, ordered by namespace and name.
    async fn dead_props(&self, tenant: &str, path: &str) -> Result<Vec<DeadProperty>, DbError>;

    /// Dead properties of every path that starts with `prefix`, grouped by path.
    async fn dead_props_under(
        &self,
        tenant: &str,
        prefix: &str,
    ) -> Result<HashMap<String, Vec<DeadProperty>>, DbError>;

    /// Apply a PROPPATCH's dead-property changes atomically, as (ns, name, xml):
    /// `Some(xml)` sets, `None` removes.
    async fn patch_dead_props(
        &self,
        tenant: &str,
        path: &str,
        changes: &[(String, String, Option<String>)],
    ) -> Result<(), DbError>;

    /// Replace the dead properties of `dst` (and, with `tree`, everything below it) by those of `src`.
    async fn copy_props(
        &self,
        tenant: &str,
        src: &str,
        dst: &str,
        tree: bool,
    ) -> Result<(), DbError>;

    /// Remove the dead properties of one path.
    async fn drop_props(&self, tenant: &str, path: &str) -> Result<(), DbError>;
}

/// A small per-tenant key-value table (e.g. seeding done, rotated refresh tokens).
#[async_trait]
pub trait KvStore {
    /// A per-tenant value.
    async fn kv_get(&self, tenant: &str, key: &str) -> Result<Option<String>, DbError>;

    /// Set a per-tenant value.
    async fn kv_set(&self, tenant: &str, key: &str, value: &str) -> Result<(), DbError>;

    /// Remove a per-tenant value (absent is fine).
    async fn kv_delete(&self, tenant: &str, key: &str) -> Result<(), DbError>;
}

/// The identity map of CRM-backed collections and their refresh bookkeeping.
#[async_trait]
pub trait CrmIdentityStore {
    /// The identity map of a collection (deleted rows included).
    async fn crm_identities(&self, coll: &Collection) -> Result<Vec<CrmIdentity>, DbError>;

    /// The narrow identity map a refresh compares a listing with: per row its name, CRM id,
    /// record hash, deleted flag and whether its item is there, and the names of items without
    /// an identity row ([`CrmKnown`]).
    async fn crm_known(&self, coll: &Collection) -> Result<CrmKnown, DbError>;

    /// The identity of one member.
    async fn crm_identity(
        &self,
        coll: &Collection,
        name: &str,
    ) -> Result<Option<CrmIdentity>, DbError>;

    /// The identities (not deleted) of the members `names` of a collection, in no particular
    /// order; a name without one is left out. A refresh reads the rows of a page it renders
    /// again with one call.
    async fn crm_identities_named(
        &self,
        coll: &Collection,
        names: &[&str],
    ) -> Result<Vec<CrmIdentity>, DbError>;

    /// Store an identity and, when `item` is given and its bytes differ from what is stored,
    /// the item (one transaction; the collection's sequence moves only when the bytes move).
    /// A row that held the same CRM id under another name gives way, and its item goes too
    /// (with a tombstone), so a CRM record is one item. Returns the item's current ETag.
    async fn crm_save(
        &self,
        coll: &Collection,
        ident: &CrmIdentity,
        item: Option<RenderedItem<'_>>,
    ) -> Result<Option<String>, StoreError>;

    /// As [`CrmIdentityStore::crm_save`], for a record a refresh has not seen before: when the
    /// CRM id is already held under another name (another instance, or a phone's create, saved
    /// it meanwhile), nothing is written and the answer is `StoreError::Exists`: one CRM record
    /// is never two items.
    async fn crm_import(
        &self,
        coll: &Collection,
        ident: &CrmIdentity,
        item: Option<RenderedItem<'_>>,
    ) -> Result<Option<String>, StoreError>;

    /// Remove a member of a CRM collection (leaving a tombstone). With `keep_identity`, the
    /// identity row stays, marked deleted, so the CRM record is not imported again.
    async fn crm_remove(
        &self,
        coll: &Collection,
        name: &str,
        keep_identity: bool,
    ) -> Result<(), StoreError>;

    /// A refresh's writes, in order, in one transaction (one commit for many records; the
    /// collection's sequence moves once per item whose bytes change, as with single saves).
    /// An import that finds its CRM id held elsewhere is skipped (`Exists`), not an error.
    async fn crm_batch(
        &self,
        coll: &Collection,
        ops: Vec<CrmBatchOp<'_>>,
    ) -> Result<Vec<CrmBatchOutcome>, StoreError>;

    /// Forget deleted identity rows whose CRM ids are no longer listed.
    async fn crm_forget(&self, coll: &Collection, crm_id: &str) -> Result<(), DbError>;

    /// Refresh bookkeeping of a collection.
    async fn crm_state(&self, coll: &Collection) -> Result<CrmCollectionState, DbError>;

    /// Save refresh bookkeeping.
    async fn set_crm_state(
        &self,
        coll: &Collection,
        st: &CrmCollectionState,
    ) -> Result<(), DbError>;
}

/// The searchable vCard fields addressbook-query narrows candidates with.
#[async_trait]
pub trait CardFieldIndex {
    /// Names of the cards in `coll` with a field `prop` whose folded value contains `needle`.
    async fn card_candidates(
        &self,
        coll: &Collection,
        prop: &str,
        needle: &str,
    ) -> Result<Vec<String>, DbError>;

    /// vCards stored before the field index existed: (item id, body), at most `limit` of
    /// them with ids above `after`, by id (a page at a time, so indexing a large store does
    /// not hold every card in memory).
    async fn cards_without_fields(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>, DbError>;

    /// Replace the indexed fields of one item.
    async fn set_fields(&self, item_id: i64, fields: &[(String, String)]) -> Result<(), DbError>;

    /// Names of the cards in `coll` that `probe` matches, decided from the index alone (no
    /// card is read): the same cards `carddav::matches` accepts for that one text-match.
    async fn card_matches(
        &self,
        coll: &Collection,
        probe: &crate::carddav::ExactProbe,
    ) -> Result<Vec<String>, DbError>;
}

/// App passwords, per (tenant, user): tenants never see each other's rows. Kept small on
/// purpose: hashing, the secret's format and who may create one are the caller's (`auth`).
#[async_trait]
pub trait AppPasswordStore {
    /// Store a new app password; `StoreError::Exists` when its id is taken in the tenant.
    async fn create_app_password(&self, pw: &AppPassword) -> Result<(), StoreError>;

    /// An app password by tenant and public id.
    async fn app_password(&self, tenant: &str, id: &str) -> Result<Option<AppPassword>, DbError>;

    /// The tenant's app passwords, of one user when `user` is given, oldest first.
    async fn app_passwords(
        &self,
        tenant: &str,
        user: Option<&str>,
    ) -> Result<Vec<AppPassword>, DbError>;

    /// Revoke (delete) one app password; false when there was none with that id.
    async fn revoke_app_password(&self, tenant: &str, id: &str) -> Result<bool, DbError>;

    /// Revoke every app password of a user; returns how many there were.
    async fn revoke_app_passwords(&self, tenant: &str, user: &str) -> Result<u64, DbError>;

    /// Record a successful login at `at` (epoch seconds); a revoked id is ignored.
    async fn touch_app_password(&self, tenant: &str, id: &str, at: i64) -> Result<(), DbError>;
}

/// What [`LeaseStore::lease_claim`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// The caller holds the lease until it releases it (or the lease runs out): do the work.
    Claimed,
    /// The work was done at this time (epoch milliseconds), within the freshness asked for:
    /// reuse what it stored.
    Done(i64),
    /// Another holder is doing it now: wait and ask again.
    Busy,
}

/// Leases: work that instances sharing one state do once for all of them (a CRM collection's
/// refresh per TTL, an OAuth token refresh). Times are epoch milliseconds of the caller's
/// clock; a lease runs out on its own, so a crashed holder blocks nobody for long.
#[async_trait]
pub trait LeaseStore {
    /// Claim `key` for `holder` until `now_ms + lease_ms`, unless it was done after
    /// `fresh_after_ms` (→ [`Lease::Done`]) or another holder's lease has not run out
    /// (→ [`Lease::Busy`]). Atomic across instances.
    async fn lease_claim(
        &self,
        key: &str,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
        fresh_after_ms: i64,
    ) -> Result<Lease, DbError>;

    /// Release `key` if `holder` still holds it; with `done_ms`, record when the work was done.
    async fn lease_release(
        &self,
        key: &str,
        holder: &str,
        done_ms: Option<i64>,
    ) -> Result<(), DbError>;
}

/// The sign-in page's server-side state (page sessions, sign-ins under way, Login Flow v2
/// grants), shared by every instance on the store: bounded per kind and per client, expiring,
/// and single use where the caller takes a row. Times are epoch milliseconds of the caller's
/// clock; a row whose `expires_ms` is not after `now_ms` is gone for every method.
#[async_trait]
pub trait SetupStateStore {
    /// Store `entry` (its expired rows of the kind are purged first) unless the kind holds
    /// `capacity` live rows or, with `per_client`, the entry's client holds that many.
    async fn setup_insert(
        &self,
        entry: &SetupEntry,
        now_ms: i64,
        capacity: u64,
        per_client: Option<u64>,
    ) -> Result<SetupInsert, DbError>;

    /// The live row `(kind, id)`.
    async fn setup_get(
        &self,
        kind: SetupKind,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<SetupEntry>, DbError>;

    /// Remove and return the live row `(kind, id)`: of two instances taking it at once,
    /// exactly one gets it.
    async fn setup_take(
        &self,
        kind: SetupKind,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<SetupEntry>, DbError>;

    /// Replace the body of the live row `(kind, id)`, only if it still holds `old_body`
    /// (compare and swap); false when it is gone or was changed meanwhile.
    async fn setup_update(
        &self,
        kind: SetupKind,
        id: &str,
        old_body: &str,
        new_body: &str,
        now_ms: i64,
    ) -> Result<bool, DbError>;

    /// Record that the live row `(kind, id)` was used at `now_ms`.
    async fn setup_touch(&self, kind: SetupKind, id: &str, now_ms: i64) -> Result<(), DbError>;

    /// The live row of `kind` in `tenant` under `lookup`.
    async fn setup_find(
        &self,
        kind: SetupKind,
        tenant: &str,
        lookup: &str,
        now_ms: i64,
    ) -> Result<Option<SetupEntry>, DbError>;

    /// Remove the row `(kind, id)`.
    async fn setup_remove(&self, kind: SetupKind, id: &str) -> Result<(), DbError>;

    /// The live rows owned by `owner` in `tenant` (every kind), oldest expiry first.
    async fn setup_owned(
        &self,
        tenant: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<Vec<SetupEntry>, DbError>;

    /// Remove every row owned by `owner` in `tenant`; returns how many live ones there were.
    async fn setup_remove_owned(
        &self,
        tenant: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<u64, DbError>;
}

/// Everything the gateway keeps: what a backend implements in full.
#[async_trait]
pub trait StateStore:
    CollectionStore
    + ItemStore
    + ChangeLog
    + DeadPropertyStore
    + KvStore
    + CrmIdentityStore
    + CardFieldIndex
    + AppPasswordStore
    + LeaseStore
    + SetupStateStore
    + Send
    + Sync
{
    /// The schema version the state is at (the latest migration applied).
    async fn schema_version(&self) -> Result<i64, DbError>;

    /// The schema version this build brings its state to.
    fn latest_schema_version(&self) -> i64;

    /// Make every committed write part of the main database file, so a copy of that file
    /// alone holds no superseded bytes (SQLite: checkpoint and truncate the write-ahead log;
    /// a no-op where there is no such log). Called after a secret is rewritten sealed.
    async fn flush(&self) -> Result<(), DbError>;

    /// Start a new epoch after the state was restored from a backup: every collection moves to
    /// one new random epoch and remembers its previous epoch and sequence, so sync tokens
    /// handed out after the backup are refused (RFC 6578 §3.2) while older ones stay valid.
    /// Returns the new epoch. Run with no gateway serving the state.
    async fn new_epoch(&self) -> Result<String, DbError>;
}

/// The state store callers hold (as `Arc<Store>` or `&Store`): the backend `open` chose. Every
/// [`StateStore`] method is callable on it directly.
pub struct Store(Box<dyn StateStore>);

impl Store {
    /// Open the store at `url` and bring its schema up to date: `sqlite://path` (created if
    /// needed; one process per file) or `sqlite://:memory:`, or a PostgreSQL database
    /// (`postgres://…` or `postgresql://…`, shared by any number of instances).
    pub async fn open(url: &str) -> Result<Store, DbError> {
        if is_postgres(url) {
            Ok(Store(Box::new(PgStore::open(url).await?)))
        } else {
            Ok(Store(Box::new(SqliteStore::open(url).await?)))
        }
    }

    /// Open the store at `url` for a short command (`crmdav app-password`) that may run while
    /// a gateway serves the same state: as [`Store::open`], except that a SQLite file is not
    /// locked against the gateway (see `SqliteStore::open_beside_server` for what that allows).
    pub async fn open_beside_server(url: &str) -> Result<Store, DbError> {
        if is_postgres(url) {
            Ok(Store(Box::new(PgStore::open(url).await?)))
        } else {
            Ok(Store(Box::new(SqliteStore::open_beside_server(url).await?)))
        }
    }
}

/// True for a PostgreSQL URL (`postgres://` or `postgresql://`).
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// `url` fit for logs and messages: the password of a `scheme://user:password@host` URL is
/// replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    // The userinfo ends at the last '@' before the path (a password may hold '@' unescaped).
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    match rest[..at].split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
        None => url.to_string(),
    }
}

impl std::ops::Deref for Store {
    type Target = dyn StateStore;

    fn deref(&self) -> &Self::Target {
        &*self.0
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            redact_url("postgres://crm:s3cr@t@db.local:5432/crmdav?sslmode=require"),
            "postgres://crm:***@db.local:5432/crmdav?sslmode=require"
        );
        assert_eq!(
            redact_url("postgresql://crm@db/crmdav"),
            "postgresql://crm@db/crmdav"
        );
        assert_eq!(
            redact_url("sqlite:///var/lib/x.db"),
            "sqlite:///var/lib/x.db"
        );
    }
}
