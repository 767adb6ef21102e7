//! Items: bytes, ETags and index rows, and the writes that check preconditions and UID
//! uniqueness in the transaction that holds the collection's row lock.

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};

use super::changes::{clear_tombstone, next_seq, record_tombstone};
use super::fields::write_fields;
use super::props::{copy_props_tx, drop_props_tx};
use super::{lock_collection, lock_collections, PgStore, Tx};
use crate::store::backend::{DbError, ItemStore};
use crate::store::model::{
    etag_of, Collection, Item, ItemIndex, ItemMeta, ItemRef, RenderedItem, WriteCondition,
};
use crate::store::StoreError;
use crate::vocab::ComponentKind;

/// The metadata columns of `items`: all in the indexes `items_listing` (by name) and
/// `items_seq` (by sequence), so a listing can scan an index only (migration 0011).
pub(super) const META_COLS: &str = "name, content_type, etag, size, modified, created";

pub(super) fn row_meta(r: &PgRow) -> ItemMeta {
    ItemMeta {
        name: r.get("name"),
        content_type: r.get("content_type"),
        etag: r.get("etag"),
        size: r.get("size"),
        modified: r.get("modified"),
        created: r.get("created"),
    }
}

fn row_item(r: &PgRow) -> Item {
    Item {
        meta: row_meta(r),
        body: r.get("body"),
    }
}

/// One member's metadata inside a transaction.
async fn meta_tx(tx: &mut Tx<'_>, coll_id: i64, name: &str) -> Result<Option<ItemMeta>, DbError> {
    let r = sqlx::query(AssertSqlSafe(format!(
        "SELECT {META_COLS} FROM items WHERE collection_id = $1 AND name = $2"
    )))
    .bind(coll_id)
    .bind(name)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(r.as_ref().map(row_meta))
}

/// The checks before writing item `name` of `coll`, with the collection's row locked: the
/// precondition, and no other member with the same UID (RFC 4791 §5.3.2.1 `no-uid-conflict`;
/// `uid_may_match` names a member allowed to share it). Returns the current item, if any.
async fn check_put(
    tx: &mut Tx<'_>,
    coll_id: i64,
    name: &str,
    index: &ItemIndex,
    cond: &WriteCondition,
    uid_may_match: Option<&str>,
) -> Result<Option<ItemMeta>, StoreError> {
    let current = meta_tx(tx, coll_id, name).await?;
    if !cond.check(current.as_ref().map(|m| m.etag.as_str())) {
        return Err(StoreError::PreconditionFailed);
    }
    if let Some(uid) = &index.uid {
        let other: Option<String> = sqlx::query_scalar(
            "SELECT name FROM items WHERE collection_id = $1 AND uid = $2 AND name <> $3 AND name <> $4 LIMIT 1",
        )
        .bind(coll_id)
        .bind(uid)
        .bind(name)
        .bind(uid_may_match.unwrap_or(name))
        .fetch_optional(&mut **tx)
        .await?;
        if let Some(other) = other {
            return Err(StoreError::UidConflict(other));
        }
    }
    Ok(current)
}

#[async_trait]
impl ItemStore for PgStore {
    async fn list_items(&self, coll: &Collection) -> Result<Vec<ItemMeta>, DbError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS} FROM items WHERE collection_id = $1 ORDER BY name"
        )))
        .bind(coll.id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_meta).collect())
    }

    async fn list_items_with_body(&self, coll: &Collection) -> Result<Vec<Item>, DbError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS}, body FROM items WHERE collection_id = $1 ORDER BY name"
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
        use futures_util::StreamExt;
        let sql = if with_body {
            format!("SELECT {META_COLS}, body FROM items WHERE collection_id = $1 ORDER BY name")
        } else {
            format!("SELECT {META_COLS} FROM items WHERE collection_id = $1 ORDER BY name")
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
        use futures_util::StreamExt;
        let (id, component) = (coll.id, component.map(str::to_string));
        futures_util::stream::once(async move {
            sqlx::query(AssertSqlSafe(candidates_sql()))
                .bind(id)
                .bind(component)
                .bind(start)
                .bind(end)
                .fetch(&self.pool)
                .map(|r| r.map(|r| row_item(&r)))
        })
        .flatten()
        .boxed()
    }

    async fn item(&self, coll: &Collection, name: &str) -> Result<Option<Item>, DbError> {
        let r = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS}, body FROM items WHERE collection_id = $1 AND name = $2"
        )))
        .bind(coll.id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row_item))
    }

    async fn item_meta(&self, coll: &Collection, name: &str) -> Result<Option<ItemMeta>, DbError> {
        let r = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS} FROM items WHERE collection_id = $1 AND name = $2"
        )))
        .bind(coll.id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row_meta))
    }

    async fn items_named(&self, coll: &Collection, names: &[String]) -> Result<Vec<Item>, DbError> {
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS}, body FROM items WHERE collection_id = $1 AND name = ANY($2)"
        )))
        .bind(coll.id)
        .bind(names)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_item).collect())
    }

    async fn item_name_by_uid(
        &self,
        coll: &Collection,
        uid: &str,
        name: &str,
    ) -> Result<Option<String>, DbError> {
        sqlx::query_scalar(
            "SELECT name FROM items WHERE collection_id = $1 AND uid = $2 AND name <> $3 LIMIT 1",
        )
        .bind(coll.id)
        .bind(uid)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
    }

    async fn item_index(&self, coll: &Collection, name: &str) -> Result<ItemIndex, DbError> {
        let r = sqlx::query(
            "SELECT id, uid, component, first_start, last_end FROM items WHERE collection_id = $1 AND name = $2",
        )
        .bind(coll.id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        let Some(r) = r else {
            return Ok(ItemIndex::default());
        };
        let fields = sqlx::query("SELECT prop, value FROM card_fields WHERE item_id = $1")
            .bind(r.get::<i64, _>("id"))
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
        let etag = etag_of(body);
        let mut tx = self.pool.begin().await?;
        lock_collection(&mut tx, coll.id).await?;
        let current = check_put(&mut tx, coll.id, name, index, cond, None).await?;
        let it = RenderedItem {
            content_type,
            body,
            index,
        };
        write_item_tx(&mut tx, coll.id, name, it, &etag).await?;
        tx.commit().await?;
        Ok((etag, current.is_none()))
    }

    async fn delete_item(
        &self,
        coll: &Collection,
        name: &str,
        cond: &WriteCondition,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_collection(&mut tx, coll.id).await?;
        let current = meta_tx(&mut tx, coll.id, name)
            .await?
            .ok_or(StoreError::NotFound)?;
        if !cond.check(Some(&current.etag)) {
            return Err(StoreError::PreconditionFailed);
        }
        delete_item_tx(&mut tx, coll.id, name).await?;
        tx.commit().await?;
        Ok(())
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
        let mut tx = self.pool.begin().await?;
        // Both collections stay locked until the commit: of two racing MOVEs of one item (on
        // any instances) the second finds it gone (404), and a PUT that replaced it since the
        // caller validated it makes the copy fail (412).
        lock_collections(&mut tx, src_coll.id, dst_coll.id).await?;
        let item = sqlx::query(AssertSqlSafe(format!(
            "SELECT {META_COLS}, body FROM items WHERE collection_id = $1 AND name = $2"
        )))
        .bind(src_coll.id)
        .bind(src_name)
        .fetch_optional(&mut *tx)
        .await?
        .as_ref()
        .map(row_item)
        .ok_or(StoreError::NotFound)?;
        if item.meta.etag != src_etag {
            return Err(StoreError::PreconditionFailed);
        }
        // A move within one collection keeps the UID: the source does not conflict.
        let same = delete_source && src_coll.id == dst_coll.id;
        let current = check_put(
            &mut tx,
            dst_coll.id,
            dst_name,
            index,
            &WriteCondition::default(),
            same.then_some(src_name),
        )
        .await?;
        let etag = etag_of(&item.body);
        let it = RenderedItem {
            content_type: &item.meta.content_type,
            body: &item.body,
            index,
        };
        write_item_tx(&mut tx, dst_coll.id, dst_name, it, &etag).await?;
        copy_props_tx(&mut tx, tenant, &src_path, &dst_path, false).await?;
        if delete_source {
            delete_item_tx(&mut tx, src_coll.id, src_name).await?;
            drop_props_tx(&mut tx, tenant, &src_path).await?;
        }
        tx.commit().await?;
        Ok(current.is_none())
    }
}

/// Delete an item and leave its tombstone inside a transaction that holds the collection's
/// lock; `NotFound` when it is gone (so a delete never records a tombstone for nothing).
pub(super) async fn delete_item_tx(
    tx: &mut Tx<'_>,
    coll_id: i64,
    name: &str,
) -> Result<(), StoreError> {
    let gone = sqlx::query("DELETE FROM items WHERE collection_id = $1 AND name = $2")
        .bind(coll_id)
        .bind(name)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    if gone == 0 {
        return Err(StoreError::NotFound);
    }
    let (seq, _) = next_seq(tx, coll_id).await?;
    record_tombstone(tx, coll_id, name, seq).await?;
    Ok(())
}

/// Write an item inside a transaction that holds the collection's lock: the collection's
/// sequence moves, the item is inserted or replaced with that sequence, its tombstone (if any)
/// goes, its searchable fields are replaced.
pub(super) async fn write_item_tx(
    tx: &mut Tx<'_>,
    coll_id: i64,
    name: &str,
    it: RenderedItem<'_>,
    etag: &str,
) -> Result<(), DbError> {
    let (seq, t) = next_seq(tx, coll_id).await?;
    let item_id: i64 = sqlx::query_scalar(
        "INSERT INTO items (collection_id, name, content_type, body, etag, uid, component, first_start, last_end, seq, created, modified, size) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12) \
         ON CONFLICT (collection_id, name) DO UPDATE SET content_type = $3, body = $4, etag = $5, uid = $6, \
         component = $7, first_start = $8, last_end = $9, seq = $10, modified = $11, size = $12 RETURNING id",
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
    .bind(i64::try_from(it.body.len()).unwrap_or(i64::MAX))
    .fetch_one(&mut **tx)
    .await?;
    clear_tombstone(tx, coll_id, name).await?;
    write_fields(tx, item_id, &it.index.fields).await
}

/// Members of a calendar whose index bounds may overlap a time range, in name order: binds
/// collection id, component, range start, range end (each of the last three may be NULL).
fn candidates_sql() -> String {
    format!(
        "SELECT {META_COLS}, body FROM items WHERE collection_id = $1 \
             AND ($2::TEXT IS NULL OR component = $2) \
             AND ($3::BIGINT IS NULL OR last_end IS NULL OR last_end >= $3) \
             AND ($4::BIGINT IS NULL OR first_start IS NULL OR first_start <= $4) ORDER BY name"
    )
}
