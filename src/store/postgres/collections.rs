//! Collections: rows, creation under a parent, and whole-tree delete, copy and move, each in
//! one transaction.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{AssertSqlSafe, Row};

use super::items::write_item_tx;
use super::props::{copy_props_tx, lock_props};
use super::{like_prefix, lock_tree, now, PgStore, Tx};
use crate::store::backend::{CollectionStore, DbError};
use crate::store::model::{parent_of, Collection, CollectionKind, ItemIndex, RenderedItem};
use crate::store::StoreError;
use crate::vocab::ComponentKind;

pub(super) fn row_collection(r: &PgRow) -> Collection {
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

/// Insert a collection row; `Exists` when the path is taken (also by a concurrent insert).
async fn insert_collection(
    tx: &mut Tx<'_>,
    tenant: &str,
    path: &str,
    kind: CollectionKind,
    components: &[String],
) -> Result<Collection, StoreError> {
    let t = now();
    let r = sqlx::query(
        "INSERT INTO collections (tenant, path, kind, components, instance, created, modified) \
         VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (tenant, path) DO NOTHING RETURNING *",
    )
    .bind(tenant)
    .bind(path)
    .bind(kind.as_str())
    .bind(components.join(","))
    .bind(uuid::Uuid::new_v4().simple().to_string())
    .bind(t)
    .fetch_optional(&mut **tx)
    .await?;
    r.as_ref().map(row_collection).ok_or(StoreError::Exists)
}

/// Copy every member of collection `src` (bodies, index, fields, dead properties) into the
/// new collection `dst`, inside the caller's transaction.
async fn copy_members(
    tx: &mut Tx<'_>,
    tenant: &str,
    src: &Collection,
    dst: &Collection,
) -> Result<(), StoreError> {
    let rows = sqlx::query(
        "SELECT id, name, content_type, body, etag, uid, component, first_start, last_end \
         FROM items WHERE collection_id = $1 ORDER BY name",
    )
    .bind(src.id)
    .fetch_all(&mut **tx)
    .await?;
    for r in rows {
        let fields = sqlx::query("SELECT prop, value FROM card_fields WHERE item_id = $1")
            .bind(r.get::<i64, _>("id"))
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|f| (f.get("prop"), f.get("value")))
            .collect();
        let index = ItemIndex {
            uid: r.get("uid"),
            component: r
                .get::<Option<String>, _>("component")
                .and_then(|c| ComponentKind::parse(&c)),
            first_start: r.get("first_start"),
            last_end: r.get("last_end"),
            fields,
        };
        let name: String = r.get("name");
        let content_type: String = r.get("content_type");
        let body: Vec<u8> = r.get("body");
        let etag: String = r.get("etag");
        let it = RenderedItem {
            content_type: &content_type,
            body: &body,
            index: &index,
        };
        write_item_tx(tx, dst.id, &name, it, &etag).await?;
        let (sp, dp) = (format!("{}{name}", src.path), format!("{}{name}", dst.path));
        copy_props_tx(tx, tenant, &sp, &dp, false).await?;
    }
    Ok(())
}

#[async_trait]
impl CollectionStore for PgStore {
    async fn collection(&self, tenant: &str, path: &str) -> Result<Option<Collection>, DbError> {
        let r = sqlx::query("SELECT * FROM collections WHERE tenant = $1 AND path = $2")
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
            "SELECT * FROM collections WHERE tenant = $1 AND path LIKE $2 ESCAPE '\\' AND path <> $3 ORDER BY path",
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
        let mut tx = self.pool.begin().await?;
        let taken: Option<i64> =
            sqlx::query_scalar("SELECT id FROM collections WHERE tenant = $1 AND path = $2")
                .bind(tenant)
                .bind(path)
                .fetch_optional(&mut *tx)
                .await?;
        if taken.is_some() {
            return Err(StoreError::Exists);
        }
        if parent_required {
            // The parent's row lock orders this against a PUT of a member of the same name
            // (which takes the same lock) and against the parent's deletion.
            let parent = parent_of(path);
            let parent_id: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM collections WHERE tenant = $1 AND path = $2 FOR UPDATE",
            )
            .bind(tenant)
            .bind(&parent)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(parent_id) = parent_id else {
                return Err(StoreError::NoParent);
            };
            let name = &path.trim_end_matches('/')[parent.len()..];
            let member: Option<i64> =
                sqlx::query_scalar("SELECT id FROM items WHERE collection_id = $1 AND name = $2")
                    .bind(parent_id)
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
            if member.is_some() {
                return Err(StoreError::Exists);
            }
        }
        let c = insert_collection(&mut tx, tenant, path, kind, components).await?;
        tx.commit().await?;
        Ok(c)
    }

    async fn delete_collection(&self, tenant: &str, path: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        // Every writer of a member waits for the rows it needs, taken here in id order.
        lock_tree(&mut tx, tenant, path).await?;
        let n = sqlx::query(
            "DELETE FROM collections WHERE tenant = $1 AND (path = $2 OR path LIKE $3 ESCAPE '\\')",
        )
        .bind(tenant)
        .bind(path)
        .bind(like_prefix(path))
        .execute(&mut *tx)
        .await?;
        if n.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        lock_props(&mut tx, tenant, path, true).await?;
        sqlx::query(
            "DELETE FROM props WHERE tenant = $1 AND (path = $2 OR path LIKE $3 ESCAPE '\\')",
        )
        .bind(tenant)
        .bind(path)
        .bind(like_prefix(path))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn copy_tree(
        &self,
        tenant: &str,
        src: &str,
        dst: &str,
        depth_zero: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let rows = if depth_zero {
            sqlx::query("SELECT * FROM collections WHERE tenant = $1 AND path = $2")
                .bind(tenant)
                .bind(src)
                .fetch_all(&mut *tx)
                .await?
        } else {
            // Parents before children (shorter paths first), as SQLite's copy does.
            sqlx::query(
                "SELECT * FROM collections WHERE tenant = $1 AND (path = $2 OR path LIKE $3 ESCAPE '\\') \
                 ORDER BY length(path), path",
            )
            .bind(tenant)
            .bind(src)
            .bind(like_prefix(src))
            .fetch_all(&mut *tx)
            .await?
        };
        let colls: Vec<Collection> = rows.iter().map(row_collection).collect();
        if !colls.iter().any(|c| c.path == src) {
            return Err(StoreError::NotFound);
        }
        for c in &colls {
            let np = format!("{dst}{}", &c.path[src.len()..]);
            let nc = insert_collection(&mut tx, tenant, &np, c.kind, &c.components).await?;
            copy_props_tx(&mut tx, tenant, &c.path, &np, false).await?;
            if !depth_zero {
                copy_members(&mut tx, tenant, c, &nc).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn usage(&self, tenant: &str, path: &str, below: bool) -> Result<(u64, u64), DbError> {
        // A plain read: quotas are checked before the write, outside its transaction (see
        // collections::quota), on every backend alike.
        let sql = if below {
            "SELECT COALESCE(SUM(octet_length(i.body)), 0)::BIGINT AS bytes, COUNT(i.id) AS n \
             FROM items i JOIN collections c ON c.id = i.collection_id \
             WHERE c.tenant = $1 AND c.path LIKE $2 ESCAPE '\\'"
        } else {
            "SELECT COALESCE(SUM(octet_length(i.body)), 0)::BIGINT AS bytes, COUNT(i.id) AS n \
             FROM items i JOIN collections c ON c.id = i.collection_id \
             WHERE c.tenant = $1 AND c.path = $2"
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

    async fn move_tree(&self, tenant: &str, src: &str, dst: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_tree(&mut tx, tenant, src).await?;
        lock_props(&mut tx, tenant, src, true).await?;
        for table in ["collections", "props"] {
            sqlx::query(AssertSqlSafe(format!(
                "UPDATE {table} SET path = $3 || substr(path, length($2) + 1) \
                 WHERE tenant = $1 AND (path = $2 OR path LIKE $4 ESCAPE '\\')"
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
}
