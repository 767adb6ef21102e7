//! Collections: rows, creation under a parent, and whole-tree delete, copy and move.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use super::{like_prefix, now, SqliteStore};
use crate::store::backend::{CollectionStore, DbError, DeadPropertyStore, ItemStore};
use crate::store::model::{parent_of, split_item_path, Collection, CollectionKind, ItemMeta};
use crate::store::{StoreError, WriteCondition};

pub(super) fn row_collection(r: &sqlx::sqlite::SqliteRow) -> Collection {
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
        epoch: r.get("epoch"),
        prev: r
            .get::<Option<String>, _>("prev_epoch")
            .zip(r.get::<Option<i64>, _>("prev_seq")),
        created: r.get("created"),
        modified: r.get("modified"),
    }
}

impl SqliteStore {
    async fn item_meta_by_path(
        &self,
        tenant: &str,
        path: &str,
    ) -> Result<Option<ItemMeta>, DbError> {
        let (parent, name) = split_item_path(path);
        match self.collection(tenant, &parent).await? {
            Some(c) => self.item_meta(&c, &name).await,
            None => Ok(None),
        }
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
}

#[async_trait]
impl CollectionStore for SqliteStore {
    async fn collection(&self, tenant: &str, path: &str) -> Result<Option<Collection>, DbError> {
        let r = sqlx::query("SELECT * FROM collections WHERE tenant = ? AND path = ?")
            .bind(tenant)
            .bind(path)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.as_ref().map(row_collection))
    }

    async fn child_collections(
        &self,
        tenant: &str,
        parent: &str,
    ) -> Result<Vec<Collection>, DbError> {
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

    async fn create_collection(
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
        let r = sqlx::query(sql)
            .bind(tenant)
            .bind(key)
            .fetch_one(&self.pool)
            .await?;
        let (bytes, n): (i64, i64) = (r.get("bytes"), r.get("n"));
        Ok((bytes.max(0) as u64, n.max(0) as u64))
    }
}
