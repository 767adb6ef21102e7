//! Items: bytes, ETags and index rows, and the writes that check preconditions and UID
//! uniqueness under the write lock. Everything here runs on the calling thread (`lite`).

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use rusqlite::{Connection, OptionalExtension};

use super::changes::{clear_tombstone, record_tombstone, Seq};
use super::fields::write_fields;
use super::props::{copy_props_tx, drop_props_tx};
use super::SqliteStore;
use crate::store::backend::{DbError, ItemStore};
use crate::store::model::{
    etag_of, Collection, Item, ItemIndex, ItemMeta, ItemRef, RenderedItem, WriteCondition,
};
use crate::store::StoreError;
use crate::vocab::ComponentKind;

/// The metadata columns of `items` (columns 0 to 5, read by [`row_meta`]; a body asked for
/// comes next, column 6). Every one of them is in the indexes `items_listing` (by name) and
/// `items_seq` (by sequence), so a listing reads an index only (migration 0011).
pub(super) const META_COLS: &str = "name, content_type, etag, size, modified, created";

pub(super) fn row_meta(r: &rusqlite::Row<'_>) -> rusqlite::Result<ItemMeta> {
    Ok(ItemMeta {
        name: r.get(0)?,
        content_type: r.get(1)?,
        etag: r.get(2)?,
        size: r.get(3)?,
        modified: r.get(4)?,
        created: r.get(5)?,
    })
}

fn row_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    Ok(Item {
        meta: row_meta(r)?,
        body: r.get(6)?,
    })
}

fn row_meta_only(r: &rusqlite::Row<'_>) -> rusqlite::Result<Item> {
    Ok(Item {
        meta: row_meta(r)?,
        body: Vec::new(),
    })
}

/// The current metadata of item `name`, on connection `c`.
fn meta_on(c: &Connection, coll_id: i64, name: &str) -> rusqlite::Result<Option<ItemMeta>> {
    c.prepare_cached(&format!(
        "SELECT {META_COLS} FROM items WHERE collection_id = ?1 AND name = ?2"
    ))?
    .query_row((coll_id, name), row_meta)
    .optional()
}

/// The checks before writing item `name` of `coll`, inside the write transaction: the
/// precondition, and no other member with the same UID (RFC 4791 §5.3.2.1
/// `no-uid-conflict`; `uid_may_match` names a member allowed to share it). Returns the
/// current item, if any.
fn check_put(
    tx: &Connection,
    coll_id: i64,
    name: &str,
    index: &ItemIndex,
    cond: &WriteCondition,
    uid_may_match: Option<&str>,
) -> Result<Option<ItemMeta>, StoreError> {
    let current = meta_on(tx, coll_id, name)?;
    if !cond.check(current.as_ref().map(|m| m.etag.as_str())) {
        return Err(StoreError::PreconditionFailed);
    }
    if let Some(uid) = &index.uid {
        let other: Option<String> = tx
            .prepare_cached(
                "SELECT name FROM items WHERE collection_id = ?1 AND uid = ?2 AND name != ?3 \
                 AND name != ?4 LIMIT 1",
            )?
            .query_row((coll_id, uid, name, uid_may_match.unwrap_or(name)), |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(other) = other {
            return Err(StoreError::UidConflict(other));
        }
    }
    Ok(current)
}

#[async_trait]
impl ItemStore for SqliteStore {
    async fn list_items(&self, coll: &Collection) -> Result<Vec<ItemMeta>, DbError> {
        self.lite.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {META_COLS} FROM items WHERE collection_id = ?1 ORDER BY name"
            ))?
            .query_map([coll.id], row_meta)?
            .collect()
        })
    }

    async fn list_items_with_body(&self, coll: &Collection) -> Result<Vec<Item>, DbError> {
        self.lite.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {META_COLS}, body FROM items WHERE collection_id = ?1 ORDER BY name"
            ))?
            .query_map([coll.id], row_item)?
            .collect()
        })
    }

    fn stream_items<'a>(
        &'a self,
        coll: &Collection,
        with_body: bool,
    ) -> BoxStream<'a, Result<Item, DbError>> {
        let sql = listing_sql(with_body);
        let page = if with_body { BODY_PAGE } else { META_PAGE };
        let map = if with_body { row_item } else { row_meta_only };
        let id = coll.id;
        by_name_pages(self, sql, page, move |st, after| {
            st.query_map(rusqlite::params![after, page, id], map)?
                .collect()
        })
    }

    async fn candidates(
        &self,
        coll: &Collection,
        component: Option<&str>,
        start: Option<i64>,
        end: Option<i64>,
    ) -> Result<Vec<Item>, DbError> {
        self.lite.read(|c| {
            c.prepare_cached(&candidates_sql())?
                .query_map(rusqlite::params![coll.id, component, start, end], row_item)?
                .collect()
        })
    }

    fn stream_candidates<'a>(
        &'a self,
        coll: &Collection,
        component: Option<&str>,
        start: Option<i64>,
        end: Option<i64>,
    ) -> BoxStream<'a, Result<Item, DbError>> {
        let (id, component) = (coll.id, component.map(str::to_string));
        by_name_pages(self, candidates_page_sql(), BODY_PAGE, move |st, after| {
            st.query_map(
                rusqlite::params![after, BODY_PAGE, id, component, start, end],
                row_item,
            )?
            .collect()
        })
    }

    async fn item(&self, coll: &Collection, name: &str) -> Result<Option<Item>, DbError> {
        self.lite.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {META_COLS}, body FROM items WHERE collection_id = ?1 AND name = ?2"
            ))?
            .query_row((coll.id, name), row_item)
            .optional()
        })
    }

    async fn item_meta(&self, coll: &Collection, name: &str) -> Result<Option<ItemMeta>, DbError> {
        self.lite.read(|c| meta_on(c, coll.id, name))
    }

    async fn items_named(&self, coll: &Collection, names: &[String]) -> Result<Vec<Item>, DbError> {
        // One statement per name, prepared once: a point lookup each, no SQL built per call
        // and no limit on the number of bound names.
        self.lite.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {META_COLS}, body FROM items WHERE collection_id = ?1 AND name = ?2"
            ))?;
            let mut out = Vec::with_capacity(names.len());
            for n in names {
                if let Some(it) = st.query_row((coll.id, n), row_item).optional()? {
                    out.push(it);
                }
            }
            Ok(out)
        })
    }

    async fn item_name_by_uid(
        &self,
        coll: &Collection,
        uid: &str,
        name: &str,
    ) -> Result<Option<String>, DbError> {
        self.lite.read(|c| {
            c.prepare_cached(
                "SELECT name FROM items WHERE collection_id = ?1 AND uid = ?2 AND name != ?3 LIMIT 1",
            )?
            .query_row((coll.id, uid, name), |r| r.get(0))
            .optional()
        })
    }

    async fn item_index(&self, coll: &Collection, name: &str) -> Result<ItemIndex, DbError> {
        self.lite.read(|c| {
            let found = c
                .prepare_cached(
                    "SELECT id, uid, component, first_start, last_end FROM items \
                     WHERE collection_id = ?1 AND name = ?2",
                )?
                .query_row((coll.id, name), |r| {
                    let component: Option<String> = r.get(2)?;
                    Ok((
                        r.get::<_, i64>(0)?,
                        ItemIndex {
                            uid: r.get(1)?,
                            component: component.and_then(|c| ComponentKind::parse(&c)),
                            first_start: r.get(3)?,
                            last_end: r.get(4)?,
                            fields: Vec::new(),
                        },
                    ))
                })
                .optional()?;
            let Some((id, mut index)) = found else {
                return Ok(ItemIndex::default());
            };
            index.fields = c
                .prepare_cached("SELECT prop, value FROM card_fields WHERE item_id = ?1")?
                .query_map([id], |f| Ok((f.get(0)?, f.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(index)
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
        let etag = etag_of(body);
        let created = self.lite.write(|tx| {
            let current = check_put(tx, coll.id, name, index, cond, None)?;
            let mut seq = Seq::new(coll.id);
            let it = RenderedItem {
                content_type,
                body,
                index,
            };
            write_item_tx(tx, &mut seq, name, it, &etag, current.is_some())?;
            seq.finish(tx)?;
            Ok::<_, StoreError>(current.is_none())
        })?;
        Ok((etag, created))
    }

    async fn delete_item(
        &self,
        coll: &Collection,
        name: &str,
        cond: &WriteCondition,
    ) -> Result<(), StoreError> {
        let _w = self.write.lock().await;
        self.lite.write(|tx| {
            let current = meta_on(tx, coll.id, name)?.ok_or(StoreError::NotFound)?;
            if !cond.check(Some(&current.etag)) {
                return Err(StoreError::PreconditionFailed);
            }
            let mut seq = Seq::new(coll.id);
            delete_item_tx(tx, &mut seq, name)?;
            seq.finish(tx)?;
            Ok(())
        })
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
        // The source is read in the write transaction: of two racing MOVEs of one item the
        // second finds it gone (404), and a PUT that replaced it since the caller validated
        // it makes the copy fail (412) rather than store a body with another body's index.
        // Destination, source deletion and dead properties commit together: a crash never
        // leaves both copies of a moved item.
        self.lite.write(|tx| {
            let item = tx
                .prepare_cached(&format!(
                    "SELECT {META_COLS}, body FROM items WHERE collection_id = ?1 AND name = ?2"
                ))?
                .query_row((src_coll.id, src_name), row_item)
                .optional()?
                .ok_or(StoreError::NotFound)?;
            if item.meta.etag != src_etag {
                return Err(StoreError::PreconditionFailed);
            }
            // A move within one collection keeps the UID: the source does not conflict.
            let same = delete_source && src_coll.id == dst_coll.id;
            let current = check_put(
                tx,
                dst_coll.id,
                dst_name,
                index,
                &WriteCondition::default(),
                same.then_some(src_name),
            )?;
            let etag = etag_of(&item.body);
            let mut dst_seq = Seq::new(dst_coll.id);
            let it = RenderedItem {
                content_type: &item.meta.content_type,
                body: &item.body,
                index,
            };
            write_item_tx(tx, &mut dst_seq, dst_name, it, &etag, current.is_some())?;
            dst_seq.finish(tx)?;
            copy_props_tx(tx, tenant, &src_path, &dst_path, false)?;
            if delete_source {
                let mut src_seq = Seq::new(src_coll.id);
                delete_item_tx(tx, &mut src_seq, src_name)?;
                src_seq.finish(tx)?;
                drop_props_tx(tx, tenant, &src_path)?;
            }
            Ok(current.is_none())
        })
    }
}

/// Delete an item of `seq`'s collection and leave its tombstone inside a write transaction;
/// `NotFound` when it is gone (so a delete never records a tombstone for nothing).
pub(super) fn delete_item_tx(tx: &Connection, seq: &mut Seq, name: &str) -> Result<(), StoreError> {
    // Its field rows go with it (ON DELETE CASCADE): the index must hold them first.
    seq.trigrams.flush(tx)?;
    let gone = tx
        .prepare_cached("DELETE FROM items WHERE collection_id = ?1 AND name = ?2")?
        .execute((seq.coll_id(), name))?;
    if gone == 0 {
        return Err(StoreError::NotFound);
    }
    let (s, _) = seq.next(tx)?;
    record_tombstone(tx, seq.coll_id(), name, s)?;
    Ok(())
}

/// Write an item of `seq`'s collection inside a write transaction: the collection's sequence
/// moves, the item is inserted or replaced with that sequence, its tombstone (if any) goes,
/// its searchable fields are replaced (`existed`: the caller found the member before; a new
/// row has no fields to drop).
pub(super) fn write_item_tx(
    tx: &Connection,
    seq: &mut Seq,
    name: &str,
    it: RenderedItem<'_>,
    etag: &str,
    existed: bool,
) -> rusqlite::Result<()> {
    let (s, t) = seq.next(tx)?;
    let coll_id = seq.coll_id();
    let item_id: i64 = tx
        .prepare_cached(
            "INSERT INTO items (collection_id, name, content_type, body, etag, uid, component, \
             first_start, last_end, seq, created, modified, size) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?11, ?12) \
             ON CONFLICT (collection_id, name) DO UPDATE SET content_type = ?3, body = ?4, \
             etag = ?5, uid = ?6, component = ?7, first_start = ?8, last_end = ?9, seq = ?10, \
             modified = ?11, size = ?12 RETURNING id",
        )?
        .query_row(
            rusqlite::params![
                coll_id,
                name,
                it.content_type,
                it.body,
                etag,
                it.index.uid,
                it.index.component.map(ComponentKind::as_str),
                it.index.first_start,
                it.index.last_end,
                s,
                t,
                body_size(it.body)
            ],
            |r| r.get(0),
        )?;
    clear_tombstone(tx, coll_id, name)?;
    write_fields(tx, &mut seq.trigrams, item_id, &it.index.fields, existed)
}

/// The `size` column of a body: its length in octets.
fn body_size(body: &[u8]) -> i64 {
    i64::try_from(body.len()).unwrap_or(i64::MAX)
}

/// A page of members in name order (binds: after this name, page size, collection id); without
/// bodies it reads the index `items_listing` only.
fn listing_sql(with_body: bool) -> String {
    let body = if with_body { ", body" } else { "" };
    format!(
        "SELECT {META_COLS}{body} FROM items WHERE collection_id = ?3 AND name > ?1 \
         ORDER BY name LIMIT ?2"
    )
}

/// Members of a calendar whose index bounds may overlap a time range, in name order: binds
/// collection id, component, range start, range end (each of the last three may be NULL).
/// `items_listing` carries the bounds, so only a member that passes them has its row (and
/// body) read; named, because without `ANALYZE` statistics the planner takes the smaller
/// unique index and reads every row.
fn candidates_sql() -> String {
    format!(
        "SELECT {META_COLS}, body FROM items INDEXED BY items_listing WHERE collection_id = ?1 \
             AND (?2 IS NULL OR component = ?2) \
             AND (?3 IS NULL OR last_end IS NULL OR last_end >= ?3) \
             AND (?4 IS NULL OR first_start IS NULL OR first_start <= ?4) ORDER BY name"
    )
}

/// [`candidates_sql`] a page at a time (see [`by_name_pages`]): binds `?1` the last name,
/// `?2` the page size, then collection id, component, range start, range end.
fn candidates_page_sql() -> String {
    format!(
        "SELECT {META_COLS}, body FROM items INDEXED BY items_listing \
         WHERE collection_id = ?3 AND name > ?1 AND (?4 IS NULL OR component = ?4) \
         AND (?5 IS NULL OR last_end IS NULL OR last_end >= ?5) \
         AND (?6 IS NULL OR first_start IS NULL OR first_start <= ?6) \
         ORDER BY name LIMIT ?2"
    )
}

/// Rows per page of a metadata listing. A page is read at once on the calling thread (about
/// 0.3 ms for 1,024 rows), so the connection is not held while the caller writes them out.
const META_PAGE: i64 = 1024;
/// Rows per page when bodies come along (a page holds them all at once).
const BODY_PAGE: i64 = 64;

/// A listing in name order read a page at a time: `sql` takes `?1` the last name of the
/// previous page, `?2` the page size, and from `?3` on what `query` binds; `query` runs the
/// prepared statement for the page after `after`. Pages are separate statements: a member
/// written meanwhile may show or not.
fn by_name_pages<'a, Q>(
    store: &'a SqliteStore,
    sql: String,
    page: i64,
    query: Q,
) -> BoxStream<'a, Result<Item, DbError>>
where
    Q: Fn(&mut rusqlite::CachedStatement<'_>, &str) -> rusqlite::Result<Vec<Item>>
        + Send
        + Sync
        + 'a,
{
    use futures_util::{StreamExt, TryStreamExt};
    let state = (Some(String::new()), sql, query);
    futures_util::stream::try_unfold(state, move |(after, sql, query)| async move {
        let Some(after) = after else {
            return Ok::<_, DbError>(None);
        };
        let items = store
            .lite
            .read(|c| query(&mut c.prepare_cached(&sql)?, &after))?;
        let next = (items.len() as i64 == page)
            .then(|| items.last().map(|i| i.meta.name.clone()))
            .flatten();
        let chunk = futures_util::stream::iter(items.into_iter().map(Ok::<Item, DbError>));
        Ok(Some((chunk, (next, sql, query))))
    })
    .try_flatten()
    .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query plan of each of `sqls` on a migrated store, one string per statement.
    /// A store file at the latest schema, opened as a plain connection.
    fn migrated() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.db");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let url = format!("sqlite://{}", path.display());
        drop(rt.block_on(SqliteStore::open(&url)).unwrap());
        let c = Connection::open(&path).unwrap();
        (dir, c)
    }

    fn plans(sqls: &[String]) -> Vec<String> {
        let (_dir, c) = migrated();
        sqls.iter()
            .map(|sql| {
                let mut st = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
                // Plans do not depend on the values: every parameter NULL.
                let nulls = vec![rusqlite::types::Null; st.parameter_count()];
                let rows = st
                    .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
                    .unwrap();
                rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
            })
            .collect()
    }

    /// The metadata listings (PROPFIND Depth 1 by name, the change log by sequence) read
    /// a covering index and never the table rows, which hold the bodies (migration 0011).
    #[test]
    fn listings_read_an_index_only() {
        let p = plans(&[
            listing_sql(false),
            super::super::changes::changes_sql(true),
            super::super::changes::changes_sql(false),
            format!("SELECT {META_COLS} FROM items WHERE collection_id = ?1 ORDER BY name"),
        ]);
        assert_eq!(
            p[0],
            "SEARCH items USING COVERING INDEX items_listing (collection_id=? AND name>?)"
        );
        // An initial sync walks the index in its order; a later one merges the tombstones.
        assert_eq!(
            p[1],
            "SEARCH items USING COVERING INDEX items_seq (collection_id=? AND seq>? AND seq<?)"
        );
        assert!(
            p[2].contains(
                "SEARCH items USING COVERING INDEX items_seq (collection_id=? AND seq>? AND seq<?)"
            ),
            "{}",
            p[2]
        );
        assert_eq!(
            p[3],
            "SEARCH items USING COVERING INDEX items_listing (collection_id=?)"
        );
        // With bodies the rows are read, in the order of the unique index.
        assert!(!plans(&[listing_sql(true)])[0].contains("COVERING"));
    }

    /// A calendar-query's candidates are tested on the bounds `items_listing` carries, and
    /// only a member that passes has its row (and body) read: SQLite defers the table seek
    /// while every column a condition reads is in the index.
    #[test]
    fn candidates_read_rows_only_past_the_bounds() {
        let sqls = [candidates_sql(), candidates_page_sql()];
        for plan in plans(&sqls) {
            assert!(
                plan.starts_with("SEARCH items USING INDEX items_listing (collection_id=?"),
                "{plan}"
            );
        }
        let (_dir, c) = migrated();
        let columns: Vec<String> = c
            .prepare("SELECT name FROM pragma_index_info('items_listing')")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for bound in [
            "collection_id",
            "name",
            "component",
            "first_start",
            "last_end",
        ] {
            assert!(columns.iter().any(|c| c == bound), "{bound}: {columns:?}");
        }
    }
}
