//! The CRM identity map (which CRM record each member of a CRM-backed collection is) and each
//! such collection's refresh bookkeeping. Identity writes take the collection's row lock, like
//! item writes, so an identity and its item always change together.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::items::delete_item_tx;
use super::items::write_item_tx;
use super::{lock_collection, PgStore, Tx};
use crate::store::backend::{CrmIdentityStore, DbError};
use crate::store::model::{
    etag_of, Collection, CrmBatchOp, CrmBatchOutcome, CrmCollectionState, CrmIdentity, CrmKnown,
    CrmKnownRow, RenderedItem,
};
use crate::store::StoreError;

fn row_identity(r: &PgRow) -> CrmIdentity {
    CrmIdentity {
        name: r.get("name"),
        crm_id: r.get("crm_id"),
        uid: r.get("uid"),
        client_copy: r.get("client_copy"),
        base_record: r.get("base_record"),
        record_hash: r.get("record_hash"),
        version: r.get("version"),
        deleted: r.get("deleted"),
    }
}

#[async_trait]
impl CrmIdentityStore for PgStore {
    async fn crm_identities(&self, coll: &Collection) -> Result<Vec<CrmIdentity>, DbError> {
        let rows = sqlx::query("SELECT * FROM crm_items WHERE collection_id = $1")
            .bind(coll.id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(row_identity).collect())
    }

    async fn crm_known(&self, coll: &Collection) -> Result<CrmKnown, DbError> {
        let text = |r: &PgRow, i: usize| r.get::<String, _>(i).into_boxed_str();
        let rows = sqlx::query(
            "SELECT c.name, c.crm_id, c.record_hash, c.deleted, \
             EXISTS (SELECT 1 FROM items i WHERE i.collection_id = c.collection_id \
             AND i.name = c.name) \
             FROM crm_items c WHERE c.collection_id = $1",
        )
        .bind(coll.id)
        // Row by row: 100,000 rows are never held as rows and as the map at once.
        .fetch(&self.pool)
        .map_ok(|r| CrmKnownRow {
            name: text(&r, 0),
            crm_id: text(&r, 1),
            record_hash: r.get::<Option<String>, _>(2).map(String::into_boxed_str),
            deleted: r.get(3),
            present: r.get(4),
        })
        .try_collect()
        .await?;
        let other_names = sqlx::query(
            "SELECT i.name FROM items i WHERE i.collection_id = $1 AND NOT EXISTS \
             (SELECT 1 FROM crm_items c WHERE c.collection_id = i.collection_id \
             AND c.name = i.name)",
        )
        .bind(coll.id)
        .fetch(&self.pool)
        .map_ok(|r| text(&r, 0))
        .try_collect()
        .await?;
        Ok(CrmKnown { rows, other_names }.sorted())
    }

    async fn crm_identity(
        &self,
        coll: &Collection,
        name: &str,
    ) -> Result<Option<CrmIdentity>, DbError> {
        let r = sqlx::query(
            "SELECT * FROM crm_items WHERE collection_id = $1 AND name = $2 AND NOT deleted",
        )
        .bind(coll.id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row_identity))
    }

    async fn crm_identities_named(
        &self,
        coll: &Collection,
        names: &[&str],
    ) -> Result<Vec<CrmIdentity>, DbError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(
            "SELECT * FROM crm_items WHERE collection_id = $1 AND name = ANY($2) AND NOT deleted",
        )
        .bind(coll.id)
        .bind(names)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_identity).collect())
    }

    async fn crm_save(
        &self,
        coll: &Collection,
        ident: &CrmIdentity,
        item: Option<RenderedItem<'_>>,
    ) -> Result<Option<String>, StoreError> {
        self.save_identity(coll, ident, item, false).await
    }

    async fn crm_import(
        &self,
        coll: &Collection,
        ident: &CrmIdentity,
        item: Option<RenderedItem<'_>>,
    ) -> Result<Option<String>, StoreError> {
        self.save_identity(coll, ident, item, true).await
    }

    async fn crm_remove(
        &self,
        coll: &Collection,
        name: &str,
        keep_identity: bool,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_collection(&mut tx, coll.id).await?;
        let sql = if keep_identity {
            "UPDATE crm_items SET deleted = TRUE, client_copy = NULL, base_record = NULL \
             WHERE collection_id = $1 AND name = $2"
        } else {
            "DELETE FROM crm_items WHERE collection_id = $1 AND name = $2"
        };
        sqlx::query(sql)
            .bind(coll.id)
            .bind(name)
            .execute(&mut *tx)
            .await?;
        match delete_item_tx(&mut tx, coll.id, name).await {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => return Err(e),
        }
        tx.commit().await?;
        Ok(())
    }

    async fn crm_batch(
        &self,
        coll: &Collection,
        ops: Vec<CrmBatchOp<'_>>,
    ) -> Result<Vec<CrmBatchOutcome>, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_collection(&mut tx, coll.id).await?;
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            out.push(match op {
                CrmBatchOp::Save {
                    ident,
                    item,
                    import,
                } => save_identity_tx(&mut tx, coll, ident, item, import).await?,
                CrmBatchOp::Remove { name } => {
                    sqlx::query("DELETE FROM crm_items WHERE collection_id = $1 AND name = $2")
                        .bind(coll.id)
                        .bind(name)
                        .execute(&mut *tx)
                        .await?;
                    match delete_item_tx(&mut tx, coll.id, name).await {
                        Ok(()) | Err(StoreError::NotFound) => {}
                        Err(e) => return Err(e),
                    }
                    CrmBatchOutcome::Removed
                }
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn crm_forget(&self, coll: &Collection, crm_id: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM crm_items WHERE collection_id = $1 AND crm_id = $2 AND deleted")
            .bind(coll.id)
            .bind(crm_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn crm_state(&self, coll: &Collection) -> Result<CrmCollectionState, DbError> {
        let r = sqlx::query(
            "SELECT watermark, full_scan_at, definition_hash, deletions_watermark FROM crm_collections WHERE collection_id = $1",
        )
        .bind(coll.id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.map(|r| CrmCollectionState {
            watermark: r.get("watermark"),
            full_scan_at: r.get("full_scan_at"),
            definition_hash: r.get("definition_hash"),
            deletions_watermark: r.get("deletions_watermark"),
        })
        .unwrap_or_default())
    }

    async fn set_crm_state(
        &self,
        coll: &Collection,
        st: &CrmCollectionState,
    ) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO crm_collections (collection_id, watermark, full_scan_at, definition_hash, \
             deletions_watermark) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (collection_id) DO UPDATE SET watermark = EXCLUDED.watermark, \
             full_scan_at = EXCLUDED.full_scan_at, definition_hash = EXCLUDED.definition_hash, \
             deletions_watermark = EXCLUDED.deletions_watermark",
        )
        .bind(coll.id)
        .bind(&st.watermark)
        .bind(st.full_scan_at)
        .bind(&st.definition_hash)
        .bind(&st.deletions_watermark)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

impl PgStore {
    /// `crm_save`, or with `import` `crm_import`: under the collection's row lock, so two
    /// instances saving one CRM record serialize and the second sees the first's row.
    async fn save_identity(
        &self,
        coll: &Collection,
        ident: &CrmIdentity,
        item: Option<RenderedItem<'_>>,
        import: bool,
    ) -> Result<Option<String>, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock_collection(&mut tx, coll.id).await?;
        match save_identity_tx(&mut tx, coll, ident, item, import).await? {
            CrmBatchOutcome::Saved { etag, .. } => {
                tx.commit().await?;
                Ok(etag)
            }
            // Nothing of it was written; the transaction rolls back empty.
            _ => Err(StoreError::Exists),
        }
    }
}

/// Save an identity and (when its bytes differ) its item inside a transaction that holds the
/// collection's row lock. An import whose CRM id another name holds writes nothing and answers
/// `Exists`.
async fn save_identity_tx(
    tx: &mut Tx<'_>,
    coll: &Collection,
    ident: &CrmIdentity,
    item: Option<RenderedItem<'_>>,
    import: bool,
) -> Result<CrmBatchOutcome, StoreError> {
    let mut etag: Option<String> =
        sqlx::query_scalar("SELECT etag FROM items WHERE collection_id = $1 AND name = $2")
            .bind(coll.id)
            .bind(&ident.name)
            .fetch_optional(&mut **tx)
            .await?;
    let others: Vec<(String, bool)> = sqlx::query_as(
        "SELECT c.name, i.name IS NOT NULL FROM crm_items c LEFT JOIN items i \
         ON i.collection_id = c.collection_id AND i.name = c.name \
         WHERE c.collection_id = $1 AND c.crm_id = $2 AND c.name <> $3",
    )
    .bind(coll.id)
    .bind(&ident.crm_id)
    .bind(&ident.name)
    .fetch_all(&mut **tx)
    .await?;
    if import && !others.is_empty() {
        return Ok(CrmBatchOutcome::Exists);
    }
    // A record that another row held under a different name (a phone's create that a
    // refresh imported meanwhile, a CRM id reuse) gives way to this one, item and all.
    for (name, _) in others.iter().filter(|(_, item)| *item) {
        delete_item_tx(tx, coll.id, name).await?;
    }
    if !others.is_empty() {
        sqlx::query(
            "DELETE FROM crm_items WHERE collection_id = $1 AND crm_id = $2 AND name <> $3",
        )
        .bind(coll.id)
        .bind(&ident.crm_id)
        .bind(&ident.name)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(
        "INSERT INTO crm_items (collection_id, name, crm_id, uid, client_copy, base_record, record_hash, version, deleted) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (collection_id, name) DO UPDATE SET \
         crm_id = $3, uid = $4, client_copy = $5, base_record = $6, record_hash = $7, version = $8, deleted = $9",
    )
    .bind(coll.id)
    .bind(&ident.name)
    .bind(&ident.crm_id)
    .bind(&ident.uid)
    .bind(&ident.client_copy)
    .bind(&ident.base_record)
    .bind(&ident.record_hash)
    .bind(&ident.version)
    .bind(ident.deleted)
    .execute(&mut **tx)
    .await?;
    let mut written = false;
    if let Some(it) = item {
        let new_etag = etag_of(it.body);
        if etag.as_deref() != Some(new_etag.as_str()) {
            write_item_tx(tx, coll.id, &ident.name, it, &new_etag).await?;
            etag = Some(new_etag);
            written = true;
        }
    }
    Ok(CrmBatchOutcome::Saved { etag, written })
}
