use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{AssertSqlSafe, Row, SqlitePool};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::Mutex;

pub use crate::vocab::CollectionKind;

/// A collection row.
#[derive(Debug, Clone)]
pub struct Collection {
    /// Row id.
    pub id: i64,
    /// Path below the DAV root, with a trailing slash (`calendars/alice/work/`).
    pub path: String,
    /// Kind.
    pub kind: CollectionKind,
    /// Supported components (calendars): `VEVENT,VTODO`.
    pub components: Vec<String>,
    /// Last sequence number handed out.
    pub seq: i64,
    /// Oldest sequence a sync token may still name.
    pub min_seq: i64,
    /// Random per-collection id, so that a token of a deleted-and-recreated collection is refused.
    pub instance: String,
    /// Last modification, epoch seconds.
    pub modified: i64,
    /// Creation, epoch seconds.
    pub created: i64,
}

impl Collection {
    /// The sync token for sequence `seq` (RFC 6578 §6.2: a URI).
    pub fn token(&self, seq: i64) -> String {
        format!("urn:crmdav:sync:{}:{}", self.instance, seq)
    }
    /// The current sync token.
    pub fn sync_token(&self) -> String {
        self.token(self.seq)
    }
    /// The CalendarServer `getctag`, moving exactly when the sync token moves.
    pub fn ctag(&self) -> String {
        format!("\"{}-{}\"", self.instance, self.seq)
    }
    /// Parse a token of this collection; `None` when it is not ours, or expired.
    pub fn parse_token(&self, token: &str) -> Option<i64> {
        let rest = token.strip_prefix("urn:crmdav:sync:")?;
        let (inst, seq) = rest.rsplit_once(':')?;
        let seq: i64 = seq.parse().ok()?;
        (inst == self.instance && seq >= self.min_seq && seq <= self.seq).then_some(seq)
    }
    /// True for calendars and address books.
    pub fn is_dav_collection(&self) -> bool {
        self.kind != CollectionKind::Plain
    }
}

/// An item's metadata (no body).
#[derive(Debug, Clone)]
pub struct ItemMeta {
    /// Member name within the collection.
    pub name: String,
    /// Media type.
    pub content_type: String,
    /// Quoted strong ETag.
    pub etag: String,
    /// Length of the body in bytes.
    pub size: i64,
    /// Last modification, epoch seconds.
    pub modified: i64,
    /// Creation, epoch seconds.
    pub created: i64,
}

/// An item with its body.
#[derive(Debug, Clone)]
pub struct Item {
    /// Metadata.
    pub meta: ItemMeta,
    /// The bytes as served.
    pub body: Vec<u8>,
}

/// What the DAV layer indexes about an item on write.
#[derive(Debug, Clone, Default)]
pub struct ItemIndex {
    /// iCalendar/vCard UID.
    pub uid: Option<String>,
    /// Component type (VEVENT, VTODO, VCARD).
    pub component: Option<String>,
    /// Earliest instance start (epoch seconds), `None` = unbounded.
    pub first_start: Option<i64>,
    /// Latest instance end (epoch seconds), `None` = unbounded.
    pub last_end: Option<i64>,
    /// Searchable vCard fields as (PROPERTY, folded value), for addressbook-query.
    pub fields: Vec<(String, String)>,
}

/// A change since a sync token.
#[derive(Debug, Clone)]
pub enum Change {
    /// Created or modified.
    Changed(ItemMeta, i64),
    /// Deleted.
    Deleted(String, i64),
}

/// An item named by its collection and member name.
#[derive(Debug, Clone, Copy)]
pub struct ItemRef<'a> {
    /// The collection.
    pub coll: &'a Collection,
    /// The member name.
    pub name: &'a str,
}

/// Why a write was refused by the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state store: {0}")]
    Db(#[from] sqlx::Error),
    #[error("precondition failed")]
    PreconditionFailed,
    #[error("the UID is already used by {0}")]
    UidConflict(String),
    #[error("not found")]
    NotFound,
    #[error("already exists")]
    Exists,
    #[error("the parent collection does not exist")]
    NoParent,
}

/// A write precondition (RFC 7232 / RFC 4918 §10.4), checked inside the write transaction.
#[derive(Debug, Clone, Default)]
pub struct WriteCondition {
    /// `If-Match` ETags (`*` = must exist).
    pub if_match: Option<Vec<String>>,
    /// `If-None-Match` ETags (`*` = must not exist).
    pub if_none_match: Option<Vec<String>>,
}

impl WriteCondition {
    /// Check against the current ETag of the target (`None` = it does not exist).
    pub fn check(&self, current: Option<&str>) -> bool {
        if let Some(m) = &self.if_match {
            match current {
                None => return false,
                Some(cur) => {
                    if !m.iter().any(|t| t == "*" || t == cur) {
                        return false;
                    }
                }
            }
        }
        if let Some(m) = &self.if_none_match {
            if let Some(cur) = current {
                if m.iter().any(|t| t == "*" || t == cur) {
                    return false;
                }
            }
        }
        true
    }
}

/// The quoted strong ETag of a body.
pub fn etag_of(body: &[u8]) -> String {
    let d = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&d[..16]))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The state store. Writes go through one async mutex: SQLite has one writer anyway, and the
/// mutex makes every check-then-write (If-Match, UID uniqueness) atomic.
pub struct Store {
    pool: SqlitePool,
    write: Mutex<()>,
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    components TEXT NOT NULL DEFAULT '',
    seq INTEGER NOT NULL DEFAULT 0,
    min_seq INTEGER NOT NULL DEFAULT 0,
    instance TEXT NOT NULL,
    created INTEGER NOT NULL,
    modified INTEGER NOT NULL,
    UNIQUE (tenant, path)
);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY,
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    etag TEXT NOT NULL,
    uid TEXT,
    component TEXT,
    first_start INTEGER,
    last_end INTEGER,
    seq INTEGER NOT NULL,
    created INTEGER NOT NULL,
    modified INTEGER NOT NULL,
    UNIQUE (collection_id, name)
);
CREATE INDEX IF NOT EXISTS items_uid ON items (collection_id, uid);
CREATE INDEX IF NOT EXISTS items_seq ON items (collection_id, seq);
CREATE TABLE IF NOT EXISTS tombstones (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (collection_id, name)
);
CREATE TABLE IF NOT EXISTS card_fields (
    item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
    prop TEXT NOT NULL,
    key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS card_fields_item ON card_fields (item_id);
CREATE INDEX IF NOT EXISTS card_fields_prop ON card_fields (prop, item_id);
CREATE TABLE IF NOT EXISTS props (
    tenant TEXT NOT NULL,
    path TEXT NOT NULL,
    ns TEXT NOT NULL,
    name TEXT NOT NULL,
    xml TEXT NOT NULL,
    PRIMARY KEY (tenant, path, ns, name)
);
CREATE TABLE IF NOT EXISTS kv (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
);
"#;

/// The identity map of CRM-backed collections (see `sync::crm`).
const CRM_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS crm_items (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    crm_id TEXT NOT NULL,
    uid TEXT NOT NULL,
    client_copy BLOB,
    base_record TEXT,
    record_hash TEXT,
    version TEXT,
    deleted INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (collection_id, name),
    UNIQUE (collection_id, crm_id)
);
CREATE TABLE IF NOT EXISTS crm_collections (
    collection_id INTEGER PRIMARY KEY REFERENCES collections(id) ON DELETE CASCADE,
    watermark TEXT,
    full_scan_at INTEGER
);
"#;

fn row_collection(r: &sqlx::sqlite::SqliteRow) -> Collection {
    let comps: String = r.get("components");
    Collection {
        id: r.get("id"),
        path: r.get("path"),
        kind: CollectionKind::parse(r.get::<&str, _>("kind")),
        components: comps
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        seq: r.get("seq"),
        min_seq: r.get("min_seq"),
        instance: r.get("instance"),
        created: r.get("created"),
        modified: r.get("modified"),
    }
}

fn row_meta(r: &sqlx::sqlite::SqliteRow) -> ItemMeta {
    ItemMeta {
        name: r.get("name"),
        content_type: r.get("content_type"),
        etag: r.get("etag"),
        size: r.get("size"),
        modified: r.get("modified"),
        created: r.get("created"),
    }
}

fn row_item(r: &sqlx::sqlite::SqliteRow) -> Item {
    Item {
        meta: row_meta(r),
        body: r.get("body"),
    }
}

const META_COLS: &str = "name, content_type, etag, length(body) AS size, modified, created";

/// Escape `%`, `_` and `\` for a LIKE prefix match with `ESCAPE '\'`.
fn like_prefix(p: &str) -> String {
    let mut s = String::with_capacity(p.len() + 1);
    for c in p.chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

impl Store {
    /// Open (creating if needed) the store at `url` (`sqlite://path` or `sqlite://:memory:`).
    pub async fn open(url: &str) -> Result<Store, sqlx::Error> {
        let memory = url.ends_with(":memory:");
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        if let Some(rest) = url.strip_prefix("sqlite://") {
            if !memory {
                if let Some(parent) = std::path::Path::new(rest).parent() {
                    if !parent.as_os_str().is_empty() {
                        let _ = std::fs::create_dir_all(parent);
                    }
                }
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 8 })
            .connect_with(opts)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        sqlx::raw_sql(CRM_SCHEMA).execute(&pool).await?;
        Ok(Store {
            pool,
            write: Mutex::new(()),
        })
    }

    /// A collection by path.
    pub async fn collection(
        &self,
        tenant: &str,
        path: &str,
    ) -> Result<Option<Collection>, sqlx::Error> {
        let r = sqlx::query("SELECT * FROM collections WHERE tenant = ? AND path = ?")
            .bind(tenant)
            .bind(path)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.as_ref().map(row_collection))
    }

    /// Direct child collections of `parent` (a path with a trailing slash).
    pub async fn child_collections(
        &self,
        tenant: &str,
        parent: &str,
    ) -> Result<Vec<Collection>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT * FROM collections WHERE tenant = ? AND path LIKE ? ESCAPE '\\' AND path != ? ORDER BY path",
        )
        .bind(tenant)
        .bind(like_prefix(parent))
        .bind(parent)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(row_collection)
            .filter(|c| {
                let rest = &c.path[parent.len()..];
                rest.trim_end_matches('/').find('/').is_none()
            })
            .collect())
    }

    /// Create a collection; its parent must exist unless `parent_required` is false.
    pub async fn create_collection(
        &self,
        tenant: &str,
        path: &str,
        kind: CollectionKind,
        components: &[String],
        parent_required: bool,
    ) -> Result<Collection, StoreError> {
        let _w = self.write.lock().await;
        if self.collection(tenant, path).await?.is_some() {
            return Err(StoreError::Exists);
        }
        if parent_required {
            let parent = parent_of(path);
            if self.collection(tenant, &parent).await?.is_none() {
                return Err(StoreError::NoParent);
            }
            if self
                .item_meta_by_path(tenant, path.trim_end_matches('/'))
                .await?
                .is_some()
            {
                return Err(StoreError::Exists);
            }
        }
        let t = now();
        sqlx::query(
            "INSERT INTO collections (tenant, path, kind, components, instance, created, modified) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(tenant)
        .bind(path)
        .bind(kind.as_str())
        .bind(components.join(","))
        .bind(uuid::Uuid::new_v4().simple().to_string())
        .bind(t)
        .bind(t)
        .execute(&self.pool)
        .await?;
        self.collection(tenant, path)
            .await?
            .ok_or(StoreError::NotFound)
    }

    /// Delete a collection, everything below it, and their dead properties.
    pub async fn delete_collection(&self, tenant: &str, path: &str) -> Result<(), StoreError> {
        let _w = self.write.lock().await;
        self.delete_tree_locked(tenant, path).await
    }

    async fn delete_tree_locked(&self, tenant: &str, path: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "DELETE FROM collections WHERE tenant = ? AND (path = ? OR path LIKE ? ESCAPE '\\')",
        )
        .bind(tenant)
        .bind(path)
        .bind(like_prefix(path))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM props WHERE tenant = ? AND (path = ? OR path LIKE ? ESCAPE '\\')")
            .bind(tenant)
            .bind(path)
            .bind(like_prefix(path))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        if n.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Item metadata of every member of a collection.
    pub async fn list_items(&self, coll: &Collection) -> Result<Vec<ItemMeta>, sqlx::Error> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS} FROM items WHERE collection_id = ? ORDER BY name"
        )))
        .bind(coll.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_meta).collect())
    }

    /// Every member with its body (for queries that must look inside).
    pub async fn list_items_with_body(&self, coll: &Collection) -> Result<Vec<Item>, sqlx::Error> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS}, body FROM items WHERE collection_id = ? ORDER BY name"
        )))
        .bind(coll.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_item).collect())
    }

    /// Every member in name order as a stream of rows (with bodies when `with_body`), so a
    /// large collection is never held in memory at once.
    pub fn stream_items<'a>(
        &'a self,
        coll: &Collection,
        with_body: bool,
    ) -> futures_util::stream::BoxStream<'a, Result<Item, sqlx::Error>> {
        use futures_util::StreamExt;
        let sql = if with_body {
            format!("SELECT {META_COLS}, body FROM items WHERE collection_id = ? ORDER BY name")
        } else {
            format!("SELECT {META_COLS} FROM items WHERE collection_id = ? ORDER BY name")
        };
        let id = coll.id;
        futures_util::stream::once(async move {
            sqlx::query(AssertSqlSafe(sql))
                .bind(id)
                .fetch(&self.pool)
                .map(move |r| {
                    r.map(|r| {
                        if with_body {
                            row_item(&r)
                        } else {
                            Item {
                                meta: row_meta(&r),
                                body: Vec::new(),
                            }
                        }
                    })
                })
        })
        .flatten()
        .boxed()
    }

    /// Members of a calendar whose indexed instance bounds may overlap `[start, end)`, of
    /// component `component` when given.
    pub async fn candidates(
        &self,
        coll: &Collection,
        component: Option<&str>,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Vec<Item>, sqlx::Error> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS}, body FROM items WHERE collection_id = ?1 \
             AND (?2 IS NULL OR component = ?2) \
             AND (?3 IS NULL OR last_end IS NULL OR last_end >= ?3) \
             AND (?4 IS NULL OR first_start IS NULL OR first_start <= ?4) ORDER BY name"
        )))
        .bind(coll.id)
        .bind(component)
        .bind(start)
        .bind(end)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_item).collect())
    }

    /// One item by collection and name.
    pub async fn item(&self, coll: &Collection, name: &str) -> Result<Option<Item>, sqlx::Error> {
        let r = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS}, body FROM items WHERE collection_id = ? AND name = ?"
        )))
        .bind(coll.id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row_item))
    }

    /// Metadata of one item by collection and name.
    pub async fn item_meta(
        &self,
        coll: &Collection,
        name: &str,
    ) -> Result<Option<ItemMeta>, sqlx::Error> {
        let r = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS} FROM items WHERE collection_id = ? AND name = ?"
        )))
        .bind(coll.id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row_meta))
    }

    async fn item_meta_by_path(
        &self,
        tenant: &str,
        path: &str,
    ) -> Result<Option<ItemMeta>, sqlx::Error> {
        let (parent, name) = split_item_path(path);
        match self.collection(tenant, &parent).await? {
            Some(c) => self.item_meta(&c, &name).await,
            None => Ok(None),
        }
    }

    /// Items by names (multiget), in the order found.
    pub async fn items_named(
        &self,
        coll: &Collection,
        names: &[String],
    ) -> Result<Vec<Item>, sqlx::Error> {
        let mut out = Vec::with_capacity(names.len());
        for chunk in names.chunks(500) {
            let q = format!(
                "SELECT {META_COLS}, body FROM items WHERE collection_id = ? AND name IN ({})",
                vec!["?"; chunk.len()].join(",")
            );
            let mut query = sqlx::query(AssertSqlSafe(q)).bind(coll.id);
            for n in chunk {
                query = query.bind(n);
            }
            for r in query.fetch_all(&self.pool).await? {
                out.push(row_item(&r));
            }
        }
        Ok(out)
    }

    /// Create or replace an item, atomically checking `cond` and (when `uid` is indexed)
    /// that no other member of the collection has the same UID (RFC 4791 §5.3.2.1,
    /// RFC 6352 §6.3.2.1). Returns the new ETag and whether the item was created.
    pub async fn put_item(
        &self,
        coll: &Collection,
        name: &str,
        content_type: &str,
        body: &[u8],
        index: &ItemIndex,
        cond: &WriteCondition,
    ) -> Result<(String, bool), StoreError> {
        let _w = self.write.lock().await;
        self.put_item_locked(coll, name, content_type, body, index, cond, None)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn put_item_locked(
        &self,
        coll: &Collection,
        name: &str,
        content_type: &str,
        body: &[u8],
        index: &ItemIndex,
        cond: &WriteCondition,
        uid_may_match: Option<&str>,
    ) -> Result<(String, bool), StoreError> {
        let current = self.item_meta(coll, name).await?;
        if !cond.check(current.as_ref().map(|m| m.etag.as_str())) {
            return Err(StoreError::PreconditionFailed);
        }
        if let Some(uid) = &index.uid {
            let other: Option<String> = sqlx::query_scalar(
                "SELECT name FROM items WHERE collection_id = ? AND uid = ? AND name != ? AND name != ? LIMIT 1",
            )
            .bind(coll.id)
            .bind(uid)
            .bind(name)
            .bind(uid_may_match.unwrap_or(name))
            .fetch_optional(&self.pool)
            .await?;
            if let Some(other) = other {
                return Err(StoreError::UidConflict(other));
            }
        }
        let etag = etag_of(body);
        let mut tx = self.pool.begin().await?;
        write_item_tx(
            &mut tx,
            coll.id,
            name,
            RenderedItem {
                content_type,
                body,
                index,
            },
            &etag,
        )
        .await?;
        tx.commit().await?;
        Ok((etag, current.is_none()))
    }

    /// Delete an item, checking `cond`; leaves a tombstone for sync-collection.
    pub async fn delete_item(
        &self,
        coll: &Collection,
        name: &str,
        cond: &WriteCondition,
    ) -> Result<(), StoreError> {
        let _w = self.write.lock().await;
        let current = self
            .item_meta(coll, name)
            .await?
            .ok_or(StoreError::NotFound)?;
        if !cond.check(Some(&current.etag)) {
            return Err(StoreError::PreconditionFailed);
        }
        self.delete_item_locked(coll.id, name).await
    }

    async fn delete_item_locked(&self, coll_id: i64, name: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let (seq, _) = next_seq(&mut tx, coll_id).await?;
        sqlx::query("DELETE FROM items WHERE collection_id = ? AND name = ?")
            .bind(coll_id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT OR REPLACE INTO tombstones (collection_id, name, seq) VALUES (?, ?, ?)",
        )
        .bind(coll_id)
        .bind(name)
        .bind(seq)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Changes after `since`, at most `limit` (ordered by sequence), and the sequence the
    /// answer is complete up to.
    pub async fn changes_since(
        &self,
        coll: &Collection,
        since: Option<i64>,
        limit: Option<usize>,
    ) -> Result<(Vec<Change>, i64), sqlx::Error> {
        // An initial sync (no token) lists the members and no deletions (RFC 6578 §3.8).
        let initial = since.is_none();
        let since = since.unwrap_or(0);
        let lim = limit.map(|l| l as i64 + 1).unwrap_or(-1);
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT * FROM (SELECT {META_COLS}, seq, 0 AS deleted FROM items WHERE collection_id = ?1 AND seq > ?2 \
             UNION ALL SELECT name, '' AS content_type, '' AS etag, 0 AS size, 0 AS modified, 0 AS created, seq, 1 AS deleted \
             FROM tombstones WHERE collection_id = ?1 AND seq > ?2 AND ?4 = 0) ORDER BY seq LIMIT ?3"
        )))
        .bind(coll.id)
        .bind(since)
        .bind(lim)
        .bind(initial)
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<Change> = rows
            .iter()
            .map(|r| {
                let seq: i64 = r.get("seq");
                if r.get::<i64, _>("deleted") == 1 {
                    Change::Deleted(r.get("name"), seq)
                } else {
                    Change::Changed(row_meta(r), seq)
                }
            })
            .collect();
        let mut upto = coll.seq;
        if let Some(l) = limit {
            if out.len() > l {
                out.truncate(l);
                upto = out
                    .last()
                    .map(|c| match c {
                        Change::Changed(_, s) | Change::Deleted(_, s) => *s,
                    })
                    .unwrap_or(since);
            }
        }
        Ok((out, upto))
    }

    /// Dead properties of a resource, as (ns, name, xml).
    pub async fn dead_props(
        &self,
        tenant: &str,
        path: &str,
    ) -> Result<Vec<(String, String, String)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT ns, name, xml FROM props WHERE tenant = ? AND path = ? ORDER BY ns, name",
        )
        .bind(tenant)
        .bind(path)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get("ns"), r.get("name"), r.get("xml")))
            .collect())
    }

    /// Apply a PROPPATCH's dead-property changes atomically: `Some(xml)` sets, `None` removes.
    pub async fn patch_dead_props(
        &self,
        tenant: &str,
        path: &str,
        changes: &[(String, String, Option<String>)],
    ) -> Result<(), sqlx::Error> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        for (ns, name, xml) in changes {
            match xml {
                Some(x) => {
                    sqlx::query("INSERT OR REPLACE INTO props (tenant, path, ns, name, xml) VALUES (?, ?, ?, ?, ?)")
                        .bind(tenant)
                        .bind(path)
                        .bind(ns)
                        .bind(name)
                        .bind(x)
                        .execute(&mut *tx)
                        .await?;
                }
                None => {
                    sqlx::query(
                        "DELETE FROM props WHERE tenant = ? AND path = ? AND ns = ? AND name = ?",
                    )
                    .bind(tenant)
                    .bind(path)
                    .bind(ns)
                    .bind(name)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Copy an item (with its dead properties) to another collection and name.
    /// Returns whether the destination was created (vs. overwritten).
    pub async fn copy_item(
        &self,
        tenant: &str,
        src: ItemRef<'_>,
        dst: ItemRef<'_>,
        index: &ItemIndex,
        delete_source: bool,
    ) -> Result<bool, StoreError> {
        let (src_coll, src_name) = (src.coll, src.name);
        let (dst_coll, dst_name) = (dst.coll, dst.name);
        let item = self
            .item(src_coll, src_name)
            .await?
            .ok_or(StoreError::NotFound)?;
        let src_path = format!("{}{}", src_coll.path, src_name);
        let dst_path = format!("{}{}", dst_coll.path, dst_name);
        let created = {
            let _w = self.write.lock().await;
            // A move within one collection keeps the UID: the source does not conflict.
            let same = delete_source && src_coll.id == dst_coll.id;
            let (_, created) = self
                .put_item_locked(
                    dst_coll,
                    dst_name,
                    &item.meta.content_type,
                    &item.body,
                    index,
                    &WriteCondition::default(),
                    same.then_some(src_name),
                )
                .await?;
            if delete_source {
                self.delete_item_locked(src_coll.id, src_name).await?;
            }
            created
        };
        self.copy_props(tenant, &src_path, &dst_path, false).await?;
        if delete_source {
            self.drop_props(tenant, &src_path).await?;
        }
        Ok(created)
    }

    /// Replace the dead properties of `dst` (and, with `tree`, everything below it) by those of `src`.
    pub async fn copy_props(
        &self,
        tenant: &str,
        src: &str,
        dst: &str,
        tree: bool,
    ) -> Result<(), sqlx::Error> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM props WHERE tenant = ? AND path = ?")
            .bind(tenant)
            .bind(dst)
            .execute(&mut *tx)
            .await?;
        let rows = if tree {
            sqlx::query("SELECT path, ns, name, xml FROM props WHERE tenant = ? AND (path = ? OR path LIKE ? ESCAPE '\\')")
                .bind(tenant)
                .bind(src)
                .bind(like_prefix(src))
                .fetch_all(&mut *tx)
                .await?
        } else {
            sqlx::query("SELECT path, ns, name, xml FROM props WHERE tenant = ? AND path = ?")
                .bind(tenant)
                .bind(src)
                .fetch_all(&mut *tx)
                .await?
        };
        for r in rows {
            let p: String = r.get("path");
            let np = format!("{dst}{}", &p[src.len()..]);
            sqlx::query(
                "INSERT OR REPLACE INTO props (tenant, path, ns, name, xml) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(tenant)
            .bind(np)
            .bind(r.get::<String, _>("ns"))
            .bind(r.get::<String, _>("name"))
            .bind(r.get::<String, _>("xml"))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Copy a collection tree (collections, items, dead properties) from `src` to `dst`
    /// (both with trailing slashes). `depth_zero` copies only the collection itself.
    pub async fn copy_tree(
        &self,
        tenant: &str,
        src: &str,
        dst: &str,
        depth_zero: bool,
    ) -> Result<(), StoreError> {
        let mut colls = vec![self
            .collection(tenant, src)
            .await?
            .ok_or(StoreError::NotFound)?];
        if !depth_zero {
            let rows = sqlx::query("SELECT * FROM collections WHERE tenant = ? AND path LIKE ? ESCAPE '\\' AND path != ? ORDER BY length(path)")
                .bind(tenant)
                .bind(like_prefix(src))
                .bind(src)
                .fetch_all(&self.pool)
                .await?;
            colls.extend(rows.iter().map(row_collection));
        }
        for c in &colls {
            let np = format!("{dst}{}", &c.path[src.len()..]);
            let nc = self
                .create_collection(tenant, &np, c.kind, &c.components, false)
                .await?;
            self.copy_props(tenant, &c.path, &np, false).await?;
            if depth_zero {
                continue;
            }
            for it in self.list_items_with_body(c).await? {
                let idx = self.item_index(c, &it.meta.name).await?;
                self.put_item(
                    &nc,
                    &it.meta.name,
                    &it.meta.content_type,
                    &it.body,
                    &idx,
                    &WriteCondition::default(),
                )
                .await?;
                self.copy_props(
                    tenant,
                    &format!("{}{}", c.path, it.meta.name),
                    &format!("{np}{}", it.meta.name),
                    false,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// The stored index of an item.
    pub async fn item_index(
        &self,
        coll: &Collection,
        name: &str,
    ) -> Result<ItemIndex, sqlx::Error> {
        let r = sqlx::query("SELECT uid, component, first_start, last_end FROM items WHERE collection_id = ? AND name = ?")
            .bind(coll.id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = r else {
            return Ok(ItemIndex::default());
        };
        let fields = sqlx::query(
            "SELECT prop, key FROM card_fields WHERE item_id = (SELECT id FROM items WHERE collection_id = ? AND name = ?)",
        )
        .bind(coll.id)
        .bind(name)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|f| (f.get("prop"), f.get("key")))
        .collect();
        Ok(ItemIndex {
            uid: r.get("uid"),
            component: r.get("component"),
            first_start: r.get("first_start"),
            last_end: r.get("last_end"),
            fields,
        })
    }

    /// Move a collection tree: rename every path below `src` to `dst`. Sync tokens of moved
    /// collections stay valid (their instance does not change).
    pub async fn move_tree(&self, tenant: &str, src: &str, dst: &str) -> Result<(), StoreError> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        for table in ["collections", "props"] {
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE {table} SET path = ?3 || substr(path, length(?2) + 1) WHERE tenant = ?1 AND (path = ?2 OR path LIKE ?4 ESCAPE '\\')"
            )))
            .bind(tenant)
            .bind(src)
            .bind(dst)
            .bind(like_prefix(src))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A per-tenant value (e.g. seeding done, rotated refresh tokens).
    pub async fn kv_get(&self, tenant: &str, key: &str) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT value FROM kv WHERE tenant = ? AND key = ?")
            .bind(tenant)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
    }

    /// Set a per-tenant value.
    pub async fn kv_set(&self, tenant: &str, key: &str, value: &str) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT OR REPLACE INTO kv (tenant, key, value) VALUES (?, ?, ?)")
            .bind(tenant)
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Move a collection's sequence on by one (every change to a member does): returns the new
/// sequence and the modification time it was stamped with.
async fn next_seq(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    coll_id: i64,
) -> Result<(i64, i64), sqlx::Error> {
    let t = now();
    let seq: i64 = sqlx::query_scalar(
        "UPDATE collections SET seq = seq + 1, modified = ? WHERE id = ? RETURNING seq",
    )
    .bind(t)
    .bind(coll_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok((seq, t))
}

/// Write an item inside a transaction: the collection's sequence moves, the item is inserted
/// or replaced with that sequence, its tombstone (if any) goes, its searchable fields are
/// replaced.
async fn write_item_tx(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    coll_id: i64,
    name: &str,
    it: RenderedItem<'_>,
    etag: &str,
) -> Result<(), sqlx::Error> {
    let (seq, t) = next_seq(tx, coll_id).await?;
    let item_id: i64 = sqlx::query_scalar(
        "INSERT INTO items (collection_id, name, content_type, body, etag, uid, component, first_start, last_end, seq, created, modified) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11) \
         ON CONFLICT (collection_id, name) DO UPDATE SET content_type = ?3, body = ?4, etag = ?5, uid = ?6, \
         component = ?7, first_start = ?8, last_end = ?9, seq = ?10, modified = ?11 RETURNING id",
    )
    .bind(coll_id)
    .bind(name)
    .bind(it.content_type)
    .bind(it.body)
    .bind(etag)
    .bind(&it.index.uid)
    .bind(&it.index.component)
    .bind(it.index.first_start)
    .bind(it.index.last_end)
    .bind(seq)
    .bind(t)
    .fetch_one(&mut **tx)
    .await?;
    sqlx::query("DELETE FROM tombstones WHERE collection_id = ? AND name = ?")
        .bind(coll_id)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    write_fields(tx, item_id, &it.index.fields).await
}

async fn write_fields(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    item_id: i64,
    fields: &[(String, String)],
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM card_fields WHERE item_id = ?")
        .bind(item_id)
        .execute(&mut **tx)
        .await?;
    for (prop, key) in fields {
        sqlx::query("INSERT INTO card_fields (item_id, prop, key) VALUES (?, ?, ?)")
            .bind(item_id)
            .bind(prop)
            .bind(key)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Parent collection path of a path (`a/b/c/` → `a/b/`, `a/b/x.ics` → `a/b/`).
pub fn parent_of(path: &str) -> String {
    let t = path.trim_end_matches('/');
    match t.rfind('/') {
        Some(i) => t[..=i].to_string(),
        None => String::new(),
    }
}

/// Split an item path into (collection path, member name).
pub fn split_item_path(path: &str) -> (String, String) {
    match path.rfind('/') {
        Some(i) => (path[..=i].to_string(), path[i + 1..].to_string()),
        None => (String::new(), path.to_string()),
    }
}

impl Store {
    /// Dead properties of every path that starts with `prefix`, grouped by path.
    pub async fn dead_props_under(
        &self,
        tenant: &str,
        prefix: &str,
    ) -> Result<std::collections::HashMap<String, Vec<(String, String, String)>>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT path, ns, name, xml FROM props WHERE tenant = ? AND (path = ? OR path LIKE ? ESCAPE '\\') ORDER BY path, ns, name",
        )
        .bind(tenant)
        .bind(prefix)
        .bind(like_prefix(prefix))
        .fetch_all(&self.pool)
        .await?;
        let mut out: std::collections::HashMap<String, Vec<(String, String, String)>> =
            std::collections::HashMap::new();
        for r in rows {
            out.entry(r.get("path"))
                .or_default()
                .push((r.get("ns"), r.get("name"), r.get("xml")));
        }
        Ok(out)
    }
}

impl Store {
    /// Names of the cards in `coll` with a field `prop` whose folded value contains `needle`.
    pub async fn card_candidates(
        &self,
        coll: &Collection,
        prop: &str,
        needle: &str,
    ) -> Result<Vec<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT DISTINCT i.name FROM card_fields f JOIN items i ON i.id = f.item_id \
             WHERE i.collection_id = ? AND f.prop = ? AND instr(f.key, ?) > 0",
        )
        .bind(coll.id)
        .bind(prop)
        .bind(needle)
        .fetch_all(&self.pool)
        .await
    }

    /// vCards stored before the field index existed: (item id, body).
    pub async fn cards_without_fields(&self) -> Result<Vec<(i64, Vec<u8>)>, sqlx::Error> {
        let rows = sqlx::query(
            "SELECT id, body FROM items WHERE component = 'VCARD' \
             AND NOT EXISTS (SELECT 1 FROM card_fields f WHERE f.item_id = items.id)",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get("id"), r.get("body"))).collect())
    }

    /// Replace the indexed fields of one item.
    pub async fn set_fields(
        &self,
        item_id: i64,
        fields: &[(String, String)],
    ) -> Result<(), sqlx::Error> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        write_fields(&mut tx, item_id, fields).await?;
        tx.commit().await
    }

    /// Remove the dead properties of one path.
    pub async fn drop_props(&self, tenant: &str, path: &str) -> Result<(), sqlx::Error> {
        let _w = self.write.lock().await;
        sqlx::query("DELETE FROM props WHERE tenant = ? AND path = ?")
            .bind(tenant)
            .bind(path)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// One row of the identity map: a member of a CRM-backed collection and the CRM record it is.
/// Written once and never re-derived, so restarts create no duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmIdentity {
    /// Member name (the client's own for phone-created items, `<uid>.ics`/`.vcf` otherwise).
    pub name: String,
    /// The CRM's record id.
    pub crm_id: String,
    /// The item's UID (the client's own for phone-created items).
    pub uid: String,
    /// The body the client last PUT, if any.
    pub client_copy: Option<Vec<u8>>,
    /// The CRM record's JSON as it was right after that PUT (the overlay's base).
    pub base_record: Option<String>,
    /// Hash of the CRM record as last seen.
    pub record_hash: Option<String>,
    /// The CRM's opaque version of the record, when it has one.
    pub version: Option<String>,
    /// Deleted on the phone; kept so a record the CRM only cancels is not imported again.
    pub deleted: bool,
}

/// Refresh bookkeeping of a CRM-backed collection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmCollectionState {
    /// Largest modified time seen (RFC 3339), for modified-since listings.
    pub watermark: Option<String>,
    /// When the last full scan finished (epoch seconds).
    pub full_scan_at: Option<i64>,
}

fn row_identity(r: &sqlx::sqlite::SqliteRow) -> CrmIdentity {
    CrmIdentity {
        name: r.get("name"),
        crm_id: r.get("crm_id"),
        uid: r.get("uid"),
        client_copy: r.get("client_copy"),
        base_record: r.get("base_record"),
        record_hash: r.get("record_hash"),
        version: r.get("version"),
        deleted: r.get::<i64, _>("deleted") != 0,
    }
}

/// A rendered item to store with an identity.
pub struct RenderedItem<'a> {
    /// Media type.
    pub content_type: &'a str,
    /// Bytes as served.
    pub body: &'a [u8],
    /// Index.
    pub index: &'a ItemIndex,
}

impl Store {
    /// The identity map of a collection (deleted rows included).
    pub async fn crm_identities(&self, coll: &Collection) -> Result<Vec<CrmIdentity>, sqlx::Error> {
        let rows = sqlx::query("SELECT * FROM crm_items WHERE collection_id = ?")
            .bind(coll.id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(row_identity).collect())
    }

    /// The identity of one member.
    pub async fn crm_identity(
        &self,
        coll: &Collection,
        name: &str,
    ) -> Result<Option<CrmIdentity>, sqlx::Error> {
        let r = sqlx::query(
            "SELECT * FROM crm_items WHERE collection_id = ? AND name = ? AND deleted = 0",
        )
        .bind(coll.id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row_identity))
    }

    /// The member (other than `name`) whose UID is `uid`, if any.
    pub async fn item_name_by_uid(
        &self,
        coll: &Collection,
        uid: &str,
        name: &str,
    ) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT name FROM items WHERE collection_id = ? AND uid = ? AND name != ? LIMIT 1",
        )
        .bind(coll.id)
        .bind(uid)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
    }

    /// Store an identity and, when `item` is given and its bytes differ from what is stored,
    /// the item (one transaction; the collection's sequence moves only when the bytes move).
    /// Returns the item's current ETag.
    pub async fn crm_save(
        &self,
        coll: &Collection,
        ident: &CrmIdentity,
        item: Option<RenderedItem<'_>>,
    ) -> Result<Option<String>, StoreError> {
        let _w = self.write.lock().await;
        let current = self.item_meta(coll, &ident.name).await?;
        let mut tx = self.pool.begin().await?;
        // A record that another row held under a different name (e.g. after a CRM id reuse)
        // gives way to this one.
        sqlx::query("DELETE FROM crm_items WHERE collection_id = ? AND crm_id = ? AND name != ?")
            .bind(coll.id)
            .bind(&ident.crm_id)
            .bind(&ident.name)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO crm_items (collection_id, name, crm_id, uid, client_copy, base_record, record_hash, version, deleted) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (collection_id, name) DO UPDATE SET \
             crm_id = ?3, uid = ?4, client_copy = ?5, base_record = ?6, record_hash = ?7, version = ?8, deleted = ?9",
        )
        .bind(coll.id)
        .bind(&ident.name)
        .bind(&ident.crm_id)
        .bind(&ident.uid)
        .bind(&ident.client_copy)
        .bind(&ident.base_record)
        .bind(&ident.record_hash)
        .bind(&ident.version)
        .bind(ident.deleted as i64)
        .execute(&mut *tx)
        .await?;
        let mut etag = current.as_ref().map(|m| m.etag.clone());
        if let Some(it) = item {
            let new_etag = etag_of(it.body);
            if etag.as_deref() != Some(new_etag.as_str()) {
                write_item_tx(&mut tx, coll.id, &ident.name, it, &new_etag).await?;
                etag = Some(new_etag);
            }
        }
        tx.commit().await?;
        Ok(etag)
    }

    /// Remove a member of a CRM collection (leaving a tombstone). With `keep_identity`, the
    /// identity row stays, marked deleted, so the CRM record is not imported again.
    pub async fn crm_remove(
        &self,
        coll: &Collection,
        name: &str,
        keep_identity: bool,
    ) -> Result<(), StoreError> {
        let _w = self.write.lock().await;
        if keep_identity {
            sqlx::query("UPDATE crm_items SET deleted = 1, client_copy = NULL, base_record = NULL WHERE collection_id = ? AND name = ?")
                .bind(coll.id)
                .bind(name)
                .execute(&self.pool)
                .await?;
        } else {
            sqlx::query("DELETE FROM crm_items WHERE collection_id = ? AND name = ?")
                .bind(coll.id)
                .bind(name)
                .execute(&self.pool)
                .await?;
        }
        if self.item_meta(coll, name).await?.is_some() {
            self.delete_item_locked(coll.id, name).await?;
        }
        Ok(())
    }

    /// Forget deleted identity rows whose CRM ids are no longer listed.
    pub async fn crm_forget(&self, coll: &Collection, crm_id: &str) -> Result<(), sqlx::Error> {
        let _w = self.write.lock().await;
        sqlx::query("DELETE FROM crm_items WHERE collection_id = ? AND crm_id = ? AND deleted = 1")
            .bind(coll.id)
            .bind(crm_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Refresh bookkeeping of a collection.
    pub async fn crm_state(&self, coll: &Collection) -> Result<CrmCollectionState, sqlx::Error> {
        let r = sqlx::query(
            "SELECT watermark, full_scan_at FROM crm_collections WHERE collection_id = ?",
        )
        .bind(coll.id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.map(|r| CrmCollectionState {
            watermark: r.get("watermark"),
            full_scan_at: r.get("full_scan_at"),
        })
        .unwrap_or_default())
    }

    /// Save refresh bookkeeping.
    pub async fn set_crm_state(
        &self,
        coll: &Collection,
        st: &CrmCollectionState,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("INSERT OR REPLACE INTO crm_collections (collection_id, watermark, full_scan_at) VALUES (?, ?, ?)")
            .bind(coll.id)
            .bind(&st.watermark)
            .bind(st.full_scan_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions() {
        let c = WriteCondition {
            if_match: Some(vec!["\"a\"".into()]),
            if_none_match: None,
        };
        assert!(c.check(Some("\"a\"")));
        assert!(!c.check(Some("\"b\"")));
        assert!(!c.check(None));
        let c = WriteCondition {
            if_match: None,
            if_none_match: Some(vec!["*".into()]),
        };
        assert!(c.check(None));
        assert!(!c.check(Some("\"a\"")));
    }

    #[test]
    fn paths() {
        assert_eq!(parent_of("a/b/c/"), "a/b/");
        assert_eq!(parent_of("a/b/x.ics"), "a/b/");
        assert_eq!(
            split_item_path("a/b/x.ics"),
            ("a/b/".into(), "x.ics".into())
        );
        assert_eq!(like_prefix("a_b%/"), "a\\_b\\%/%");
    }

    #[tokio::test]
    async fn change_log_and_tokens() {
        let s = Store::open("sqlite://:memory:").await.unwrap();
        let c = s
            .create_collection("t", "cal/", CollectionKind::Calendar, &[], false)
            .await
            .unwrap();
        let idx = ItemIndex::default();
        let w = WriteCondition::default();
        s.put_item(&c, "a.ics", "text/calendar", b"A", &idx, &w)
            .await
            .unwrap();
        s.put_item(&c, "b.ics", "text/calendar", b"B", &idx, &w)
            .await
            .unwrap();
        let c1 = s.collection("t", "cal/").await.unwrap().unwrap();
        let t1 = c1.sync_token();
        assert_eq!(c1.parse_token(&t1), Some(2));
        s.delete_item(&c1, "a.ics", &w).await.unwrap();
        let c2 = s.collection("t", "cal/").await.unwrap().unwrap();
        let (ch, upto) = s.changes_since(&c2, Some(2), None).await.unwrap();
        assert_eq!(upto, 3);
        assert!(matches!(&ch[..], [Change::Deleted(n, 3)] if n == "a.ics"));
        // Initial sync: members only (b), no deletions; one member fits the limit of 1, so
        // nothing is cut and the token is the current sequence.
        let (ch, upto) = s.changes_since(&c2, None, Some(1)).await.unwrap();
        assert!(matches!(&ch[..], [Change::Changed(m, 2)] if m.name == "b.ics"));
        assert_eq!(upto, 3);
        s.put_item(&c2, "c.ics", "text/calendar", b"C", &idx, &w)
            .await
            .unwrap();
        let c3 = s.collection("t", "cal/").await.unwrap().unwrap();
        let (ch, upto) = s.changes_since(&c3, None, Some(1)).await.unwrap();
        assert_eq!(ch.len(), 1);
        assert_eq!(
            upto, 2,
            "truncated: the token continues after the last member sent"
        );
        assert_eq!(c2.parse_token("urn:crmdav:sync:other:1"), None);
        assert_eq!(c2.parse_token(&c2.token(99)), None);
    }
}
