//! Collections: rows, creation under a parent, and whole-tree delete, copy and move.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};
use sqlx::AssertSqlSafe;

use super::{like_prefix, now, prefix_end, SqliteStore};
use crate::store::backend::{CollectionStore, DbError, DeadPropertyStore, ItemStore};
use crate::store::model::{parent_of, split_item_path, Collection, CollectionKind};
use crate::store::{StoreError, WriteCondition};

/// The columns [`row_collection`] reads, in its order.
const COLL_COLS: &str = "id, path, kind, components, seq, min_seq, instance, epoch, \
                         prev_epoch, prev_seq, created, modified";

fn row_collection(r: &rusqlite::Row<'_>) -> rusqlite::Result<Collection> {
    let comps: String = r.get(3)?;
    let kind: String = r.get(2)?;
    Ok(Collection {
        id: r.get(0)?,
        path: r.get(1)?,
        kind: CollectionKind::parse(&kind),
        components: comps
            .split(',')
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        seq: r.get(4)?,
        min_seq: r.get(5)?,
        instance: r.get(6)?,
        epoch: r.get(7)?,
        prev: r
            .get::<_, Option<String>>(8)?
            .zip(r.get::<_, Option<i64>>(9)?),
        created: r.get(10)?,
        modified: r.get(11)?,
    })
}

/// Collection `path` of `tenant`, on connection `c`.
fn collection_on(c: &Connection, tenant: &str, path: &str) -> rusqlite::Result<Option<Collection>> {
    c.prepare_cached(&format!(
        "SELECT {COLL_COLS} FROM collections WHERE tenant = ?1 AND path = ?2"
    ))?
    .query_row((tenant, path), row_collection)
    .optional()
}

/// The collections strictly below `parent` (at any depth), in `order`.
fn below_on(
    c: &Connection,
    tenant: &str,
    parent: &str,
    order: &str,
) -> rusqlite::Result<Vec<Collection>> {
    // A range where it can (an index seek: see `prefix_end`), else the LIKE pattern.
    if let Some(end) = prefix_end(parent) {
        return c
            .prepare_cached(&format!(
                "SELECT {COLL_COLS} FROM collections WHERE tenant = ?1 AND path > ?2 \
                 AND path < ?3 ORDER BY {order}"
            ))?
            .query_map((tenant, parent, end), row_collection)?
            .collect();
    }
    c.prepare_cached(&format!(
        "SELECT {COLL_COLS} FROM collections WHERE tenant = ?1 AND path LIKE ?2 ESCAPE '\\' \
         AND path != ?3 ORDER BY {order}"
    ))?
    .query_map((tenant, like_prefix(parent), parent), row_collection)?
    .collect()
}

impl SqliteStore {
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
}

#[async_trait]
impl CollectionStore for SqliteStore {
    async fn collection(&self, tenant: &str, path: &str) -> Result<Option<Collection>, DbError> {
        self.lite.read(|c| collection_on(c, tenant, path))
    }

    async fn child_collections(
        &self,
        tenant: &str,
        parent: &str,
    ) -> Result<Vec<Collection>, DbError> {
        let rows = self.lite.read(|c| below_on(c, tenant, parent, "path"))?;
        Ok(rows
            .into_iter()
            .filter(|c| {
                let rest = &c.path[parent.len()..];
                rest.trim_end_matches('/').find('/').is_none()
            })
            .collect())
    }

    async fn create_collection(
        &self,
        tenant: &str,
        path: &str,
        kind: CollectionKind,
        components: &[String],
        parent_required: bool,
    ) -> Result<Collection, StoreError> {
        let _w = self.write.lock().await;
        self.lite.write(|tx| {
            if collection_on(tx, tenant, path)?.is_some() {
                return Err(StoreError::Exists);
            }
            if parent_required {
                let parent = parent_of(path);
                if collection_on(tx, tenant, &parent)?.is_none() {
                    return Err(StoreError::NoParent);
                }
                // A member of the parent with the same name is in the way.
                let (in_coll, name) = split_item_path(path.trim_end_matches('/'));
                if let Some(pc) = collection_on(tx, tenant, &in_coll)? {
                    let held: Option<i64> = tx
                        .prepare_cached(
                            "SELECT 1 FROM items WHERE collection_id = ?1 AND name = ?2",
                        )?
                        .query_row((pc.id, &name), |r| r.get(0))
                        .optional()?;
                    if held.is_some() {
                        return Err(StoreError::Exists);
                    }
                }
            }
            let t = now();
            tx.prepare_cached(
                "INSERT INTO collections (tenant, path, kind, components, instance, created, \
                 modified) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            )?
            .execute((
                tenant,
                path,
                kind.as_str(),
                components.join(","),
                uuid::Uuid::new_v4().simple().to_string(),
                t,
            ))?;
            collection_on(tx, tenant, path)?.ok_or(StoreError::NotFound)
        })
    }

    async fn delete_collection(&self, tenant: &str, path: &str) -> Result<(), StoreError> {
        let _w = self.write.lock().await;
        self.delete_tree_locked(tenant, path).await
    }

    async fn copy_tree(
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
            let below = self
                .lite
                .read(|c| below_on(c, tenant, src, "length(path)"))?;
            colls.extend(below);
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

    async fn move_tree(&self, tenant: &str, src: &str, dst: &str) -> Result<(), StoreError> {
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

    async fn usage(&self, tenant: &str, path: &str, below: bool) -> Result<(u64, u64), DbError> {
        // length() of a BLOB reads its header, not its bytes.
        let sql = if below {
            "SELECT COALESCE(SUM(length(i.body)), 0) AS bytes, COUNT(i.id) AS n FROM items i JOIN collections c ON c.id = i.collection_id WHERE c.tenant = ? AND c.path LIKE ? ESCAPE '\\'"
        } else {
            "SELECT COALESCE(SUM(length(i.body)), 0) AS bytes, COUNT(i.id) AS n FROM items i JOIN collections c ON c.id = i.collection_id WHERE c.tenant = ? AND c.path = ?"
        };
        let key = if below {
            like_prefix(path)
        } else {
            path.to_string()
        };
        let (bytes, n): (i64, i64) = self.lite.read(|c| {
            c.prepare_cached(sql)?
                .query_row((tenant, key), |r| Ok((r.get(0)?, r.get(1)?)))
        })?;
        Ok((bytes.max(0) as u64, n.max(0) as u64))
    }
}
