//! The CRM identity map (which CRM record each member of a CRM-backed collection is) and each
//! such collection's refresh bookkeeping.

use async_trait::async_trait;
use sqlx::Row;

use super::items::{delete_item_tx, write_item_tx};
use super::SqliteStore;
use crate::store::backend::{CrmIdentityStore, DbError, ItemStore};
use crate::store::model::{
    etag_of, Collection, CrmBatchOp, CrmBatchOutcome, CrmCollectionState, CrmIdentity, RenderedItem,
};
use crate::store::StoreError;

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

#[async_trait]
impl CrmIdentityStore for SqliteStore {
    async fn crm_identities(&self, coll: &Collection) -> Result<Vec<CrmIdentity>, DbError> {
        let rows = sqlx::query("SELECT * FROM crm_items WHERE collection_id = ?")
            .bind(coll.id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(row_identity).collect())
    }

    async fn crm_identity(
        &self,
        coll: &Collection,
        name: &str,
    ) -> Result<Option<CrmIdentity>, DbError> {
        let r = sqlx::query(
            "SELECT * FROM crm_items WHERE collection_id = ? AND name = ? AND deleted = 0",
        )
        .bind(coll.id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row_identity))
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

    async fn crm_batch(
        &self,
        coll: &Collection,
        ops: Vec<CrmBatchOp<'_>>,
    ) -> Result<Vec<CrmBatchOutcome>, StoreError> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            out.push(match op {
                CrmBatchOp::Save {
                    ident,
                    item,
                    import,
                } => save_identity_tx(&mut tx, coll, ident, item, import).await?,
                CrmBatchOp::Remove { name } => {
                    remove_tx(&mut tx, coll, name).await?;
                    CrmBatchOutcome::Removed
                }
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    async fn crm_forget(&self, coll: &Collection, crm_id: &str) -> Result<(), DbError> {
        let _w = self.write.lock().await;
        sqlx::query("DELETE FROM crm_items WHERE collection_id = ? AND crm_id = ? AND deleted = 1")
            .bind(coll.id)
            .bind(crm_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn crm_state(&self, coll: &Collection) -> Result<CrmCollectionState, DbError> {
        let r = sqlx::query(
            "SELECT watermark, full_scan_at, definition_hash, deletions_watermark FROM crm_collections WHERE collection_id = ?",
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
        let _w = self.write.lock().await;
        sqlx::query("INSERT OR REPLACE INTO crm_collections (collection_id, watermark, full_scan_at, definition_hash, deletions_watermark) VALUES (?, ?, ?, ?, ?)")
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

impl SqliteStore {
    /// `crm_save`, or with `import` `crm_import`.
    async fn save_identity(
        &self,
        coll: &Collection,
        ident: &CrmIdentity,
        item: Option<RenderedItem<'_>>,
        import: bool,
    ) -> Result<Option<String>, StoreError> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
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

/// A member's identity row and item go (the item with a tombstone), inside a transaction.
async fn remove_tx(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    coll: &Collection,
    name: &str,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM crm_items WHERE collection_id = ? AND name = ?")
        .bind(coll.id)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    let held: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM items WHERE collection_id = ? AND name = ?")
            .bind(coll.id)
            .bind(name)
            .fetch_optional(&mut **tx)
            .await?;
    if held.is_some() {
        delete_item_tx(tx, coll.id, name).await?;
    }
    Ok(())
}

/// Save an identity and (when its bytes differ) its item inside a transaction. An import whose
/// CRM id another name holds writes nothing and answers `Exists`.
async fn save_identity_tx(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    coll: &Collection,
    ident: &CrmIdentity,
    item: Option<RenderedItem<'_>>,
    import: bool,
) -> Result<CrmBatchOutcome, StoreError> {
    let mut etag: Option<String> =
        sqlx::query_scalar("SELECT etag FROM items WHERE collection_id = ? AND name = ?")
            .bind(coll.id)
            .bind(&ident.name)
            .fetch_optional(&mut **tx)
            .await?;
    let others: Vec<(String, bool)> = sqlx::query_as(
        "SELECT c.name, i.name IS NOT NULL FROM crm_items c LEFT JOIN items i \
         ON i.collection_id = c.collection_id AND i.name = c.name \
         WHERE c.collection_id = ? AND c.crm_id = ? AND c.name != ?",
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
        sqlx::query("DELETE FROM crm_items WHERE collection_id = ? AND crm_id = ? AND name != ?")
            .bind(coll.id)
            .bind(&ident.crm_id)
            .bind(&ident.name)
            .execute(&mut **tx)
            .await?;
    }
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
