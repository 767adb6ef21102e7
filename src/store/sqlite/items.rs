//! Items: bytes, ETags and index rows, and the writes that check preconditions and UID
//! uniqueness under the write lock.

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use sqlx::{AssertSqlSafe, Row};

use super::changes::{clear_tombstone, next_seq, record_tombstone};
use super::fields::write_fields;
use super::props::{copy_props_tx, drop_props_tx};
use super::SqliteStore;
use crate::store::backend::{DbError, ItemStore};
use crate::store::model::{
    etag_of, Collection, Item, ItemIndex, ItemMeta, ItemRef, RenderedItem, WriteCondition,
};
use crate::store::StoreError;
use crate::vocab::ComponentKind;

/// The metadata columns of `items`, with the body's length as `size`.
pub(super) const META_COLS: &str =
    "name, content_type, etag, length(body) AS size, modified, created";

pub(super) fn row_meta(r: &sqlx::sqlite::SqliteRow) -> ItemMeta {
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

impl SqliteStore {
    /// The checks before writing item `name` of `coll`, with the write lock held: the
    /// precondition, and no other member with the same UID (RFC 4791 §5.3.2.1
    /// `no-uid-conflict`; `uid_may_match` names a member allowed to share it). Returns the
    /// current item, if any.
    async fn check_put(
        &self,
        coll: &Collection,
        name: &str,
        index: &ItemIndex,
        cond: &WriteCondition,
        uid_may_match: Option<&str>,
    ) -> Result<Option<ItemMeta>, StoreError> {
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
        Ok(current)
    }

    /// Delete an item and leave its tombstone, with the write lock already held.
    pub(super) async fn delete_item_locked(
        &self,
        coll_id: i64,
        name: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        delete_item_tx(&mut tx, coll_id, name).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl ItemStore for SqliteStore {
    async fn list_items(&self, coll: &Collection) -> Result<Vec<ItemMeta>, DbError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS} FROM items WHERE collection_id = ? ORDER BY name"
        )))
        .bind(coll.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_meta).collect())
    }

    async fn list_items_with_body(&self, coll: &Collection) -> Result<Vec<Item>, DbError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS}, body FROM items WHERE collection_id = ? ORDER BY name"
        )))
        .bind(coll.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_item).collect())
    }

    fn stream_items<'a>(
        &'a self,
        coll: &Collection,
        with_body: bool,
    ) -> BoxStream<'a, Result<Item, DbError>> {
        let sql = if with_body {
            format!(
                "SELECT {META_COLS}, body FROM items WHERE collection_id = ?3 AND name > ?1 \
                 ORDER BY name LIMIT ?2"
            )
        } else {
            format!(
                "SELECT {META_COLS} FROM items WHERE collection_id = ?3 AND name > ?1 \
                 ORDER BY name LIMIT ?2"
            )
        };
        let page = if with_body { BODY_PAGE } else { META_PAGE };
        let id = coll.id;
        by_name_pages(
            self,
            sql,
            page,
            move |q| q.bind(id),
            move |r| {
                if with_body {
                    row_item(r)
                } else {
                    Item {
                        meta: row_meta(r),
                        body: Vec::new(),
                    }
                }
            },
        )
    }

    async fn candidates(
        &self,
        coll: &Collection,
        component: Option<&str>,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Vec<Item>, DbError> {
        let rows = sqlx::query(AssertSqlSafe(candidates_sql()))
            .bind(coll.id)
            .bind(component)
            .bind(start)
            .bind(end)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(row_item).collect())
    }

    fn stream_candidates<'a>(
        &'a self,
        coll: &Collection,
        component: Option<&str>,
        start: Option<i64>,
        end: Option<i64>,
    ) -> BoxStream<'a, Result<Item, DbError>> {
        let (id, component) = (coll.id, component.map(str::to_string));
        let sql = format!(
            "SELECT {META_COLS}, body FROM items WHERE collection_id = ?3 AND name > ?1 \
             AND (?4 IS NULL OR component = ?4) \
             AND (?5 IS NULL OR last_end IS NULL OR last_end >= ?5) \
             AND (?6 IS NULL OR first_start IS NULL OR first_start <= ?6) \
             ORDER BY name LIMIT ?2"
        );
        by_name_pages(
            self,
            sql,
            BODY_PAGE,
            move |q| q.bind(id).bind(component.clone()).bind(start).bind(end),
            row_item,
        )
    }

    async fn item(&self, coll: &Collection, name: &str) -> Result<Option<Item>, DbError> {
        let r = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS}, body FROM items WHERE collection_id = ? AND name = ?"
        )))
        .bind(coll.id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row_item))
    }

    async fn item_meta(&self, coll: &Collection, name: &str) -> Result<Option<ItemMeta>, DbError> {
        let r = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS} FROM items WHERE collection_id = ? AND name = ?"
        )))
        .bind(coll.id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row_meta))
    }

    async fn items_named(&self, coll: &Collection, names: &[String]) -> Result<Vec<Item>, DbError> {
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

    async fn item_name_by_uid(
        &self,
        coll: &Collection,
        uid: &str,
        name: &str,
    ) -> Result<Option<String>, DbError> {
        sqlx::query_scalar(
            "SELECT name FROM items WHERE collection_id = ? AND uid = ? AND name != ? LIMIT 1",
        )
        .bind(coll.id)
        .bind(uid)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
    }

    async fn item_index(&self, coll: &Collection, name: &str) -> Result<ItemIndex, DbError> {
        let r = sqlx::query("SELECT uid, component, first_start, last_end FROM items WHERE collection_id = ? AND name = ?")
            .bind(coll.id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = r else {
            return Ok(ItemIndex::default());
        };
        let fields = sqlx::query(
            "SELECT prop, value FROM card_fields WHERE item_id = (SELECT id FROM items WHERE collection_id = ? AND name = ?)",
        )
        .bind(coll.id)
        .bind(name)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|f| (f.get("prop"), f.get("value")))
        .collect();
        Ok(ItemIndex {
            uid: r.get("uid"),
            component: r
                .get::<Option<String>, _>("component")
                .and_then(|c| ComponentKind::parse(&c)),
            first_start: r.get("first_start"),
            last_end: r.get("last_end"),
            fields,
        })
    }

    async fn put_item(
        &self,
        coll: &Collection,
        name: &str,
        content_type: &str,
        body: &[u8],
        index: &ItemIndex,
        cond: &WriteCondition,
    ) -> Result<(String, bool), StoreError> {
        let _w = self.write.lock().await;
        let current = self.check_put(coll, name, index, cond, None).await?;
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

    async fn delete_item(
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

    async fn copy_item(
        &self,
        tenant: &str,
        src: ItemRef<'_>,
        src_etag: &str,
        dst: ItemRef<'_>,
        index: &ItemIndex,
        delete_source: bool,
    ) -> Result<bool, StoreError> {
        let (src_coll, src_name) = (src.coll, src.name);
        let (dst_coll, dst_name) = (dst.coll, dst.name);
        let src_path = format!("{}{}", src_coll.path, src_name);
        let dst_path = format!("{}{}", dst_coll.path, dst_name);
        let _w = self.write.lock().await;
        // The source is read under the write lock: of two racing MOVEs of one item the second
        // finds it gone (404), and a PUT that replaced it since the caller validated it makes
        // the copy fail (412) rather than store a body with another body's index.
        let item = self
            .item(src_coll, src_name)
            .await?
            .ok_or(StoreError::NotFound)?;
        if item.meta.etag != src_etag {
            return Err(StoreError::PreconditionFailed);
        }
        // A move within one collection keeps the UID: the source does not conflict.
        let same = delete_source && src_coll.id == dst_coll.id;
        let current = self
            .check_put(
                dst_coll,
                dst_name,
                index,
                &WriteCondition::default(),
                same.then_some(src_name),
            )
            .await?;
        // Destination, source deletion and dead properties commit together: a crash never
        // leaves both copies of a moved item.
        let etag = etag_of(&item.body);
        let mut tx = self.pool.begin().await?;
        write_item_tx(
            &mut tx,
            dst_coll.id,
            dst_name,
            RenderedItem {
                content_type: &item.meta.content_type,
                body: &item.body,
                index,
            },
            &etag,
        )
        .await?;
        copy_props_tx(&mut tx, tenant, &src_path, &dst_path, false).await?;
        if delete_source {
            delete_item_tx(&mut tx, src_coll.id, src_name).await?;
            drop_props_tx(&mut tx, tenant, &src_path).await?;
        }
        tx.commit().await?;
        Ok(current.is_none())
    }
}

/// Delete an item and leave its tombstone inside a transaction; `NotFound` when it is gone
/// (so a delete never records a tombstone for nothing).
pub(super) async fn delete_item_tx(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    coll_id: i64,
    name: &str,
) -> Result<(), StoreError> {
    let (seq, _) = next_seq(tx, coll_id).await?;
    let gone = sqlx::query("DELETE FROM items WHERE collection_id = ? AND name = ?")
        .bind(coll_id)
        .bind(name)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if gone == 0 {
        return Err(StoreError::NotFound);
    }
    record_tombstone(tx, coll_id, name, seq).await?;
    Ok(())
}

/// Write an item inside a transaction: the collection's sequence moves, the item is inserted
/// or replaced with that sequence, its tombstone (if any) goes, its searchable fields are
/// replaced.
pub(super) async fn write_item_tx(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    coll_id: i64,
    name: &str,
    it: RenderedItem<'_>,
    etag: &str,
) -> Result<(), DbError> {
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
    .bind(it.index.component.map(ComponentKind::as_str))
    .bind(it.index.first_start)
    .bind(it.index.last_end)
    .bind(seq)
    .bind(t)
    .fetch_one(&mut **tx)
    .await?;
    clear_tombstone(tx, coll_id, name).await?;
    write_fields(tx, item_id, &it.index.fields).await
}

/// Members of a calendar whose index bounds may overlap a time range, in name order: binds
/// collection id, component, range start, range end (each of the last three may be NULL).
fn candidates_sql() -> String {
    format!(
        "SELECT {META_COLS}, body FROM items WHERE collection_id = ?1 \
             AND (?2 IS NULL OR component = ?2) \
             AND (?3 IS NULL OR last_end IS NULL OR last_end >= ?3) \
             AND (?4 IS NULL OR first_start IS NULL OR first_start <= ?4) ORDER BY name"
    )
}

/// Rows per page of a metadata listing: each page is one statement handed to SQLite's thread
/// and back (a row-by-row stream paid a thread handoff per row: a quarter of a PROPFIND
/// Depth 1's CPU at 10,000 members).
const META_PAGE: i64 = 1024;
/// Rows per page when bodies come along (a page holds them all at once).
const BODY_PAGE: i64 = 64;

type SqliteQuery<'q> = sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>;

/// A listing in name order read a page at a time: `sql` takes `?1` the last name of the
/// previous page, `?2` the page size, and from `?3` on what `bind` adds. Pages are separate
/// statements: a member written meanwhile may show or not.
fn by_name_pages<'a, B, M>(
    store: &'a SqliteStore,
    sql: String,
    page: i64,
    bind: B,
    map: M,
) -> BoxStream<'a, Result<Item, DbError>>
where
    B: for<'q> Fn(SqliteQuery<'q>) -> SqliteQuery<'q> + Send + Sync + 'a,
    M: Fn(&sqlx::sqlite::SqliteRow) -> Item + Send + Sync + 'a,
{
    use futures_util::{StreamExt, TryStreamExt};
    let state = (Some(String::new()), sql, bind, map);
    futures_util::stream::try_unfold(state, move |(after, sql, bind, map)| async move {
        let Some(after) = after else {
            return Ok::<_, DbError>(None);
        };
        let q = sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(after)
            .bind(page);
        let rows = bind(q).fetch_all(&store.pool).await?;
        let items: Vec<Item> = rows.iter().map(&map).collect();
        let next = (rows.len() as i64 == page)
            .then(|| items.last().map(|i| i.meta.name.clone()))
            .flatten();
        let chunk = futures_util::stream::iter(items.into_iter().map(Ok::<Item, DbError>));
        Ok(Some((chunk, (next, sql, bind, map))))
    })
    .try_flatten()
    .boxed()
}
