//! The CRM identity map (which CRM record each member of a CRM-backed collection is) and each
//! such collection's refresh bookkeeping. Run on the calling thread (`lite`), except a
//! refresh's batch: one write transaction with its statements prepared once, on the blocking
//! pool.

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension};

use super::changes::Seq;
use super::items::{delete_item_tx, write_item_tx};
use super::lite::lite;
use super::SqliteStore;
use crate::store::backend::{CrmIdentityStore, DbError};
use crate::store::model::{
    etag_of, Collection, CrmBatchOp, CrmBatchOutcome, CrmCollectionState, CrmIdentity, CrmKnown,
    CrmKnownRow, ItemIndex, RenderedItem,
};
use crate::store::StoreError;

/// The columns [`row_identity`] reads, in its order.
const IDENT_COLS: &str =
    "name, crm_id, uid, client_copy, base_record, record_hash, version, deleted";

fn row_identity(r: &rusqlite::Row<'_>) -> rusqlite::Result<CrmIdentity> {
    Ok(CrmIdentity {
        name: r.get(0)?,
        crm_id: r.get(1)?,
        uid: r.get(2)?,
        client_copy: r.get(3)?,
        base_record: r.get(4)?,
        record_hash: r.get(5)?,
        version: r.get(6)?,
        deleted: r.get::<_, i64>(7)? != 0,
    })
}

#[async_trait]
impl CrmIdentityStore for SqliteStore {
    async fn crm_identities(&self, coll: &Collection) -> Result<Vec<CrmIdentity>, DbError> {
        self.lite.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {IDENT_COLS} FROM crm_items WHERE collection_id = ?1"
            ))?
            .query_map([coll.id], row_identity)?
            .collect()
        })
    }

    async fn crm_known(&self, coll: &Collection) -> Result<CrmKnown, DbError> {
        let text = |r: &rusqlite::Row<'_>, i| r.get::<_, String>(i).map(String::into_boxed_str);
        self.lite
            .read(|c| {
                let rows = c
                    .prepare_cached(
                        "SELECT c.name, c.crm_id, c.record_hash, c.deleted, \
                         EXISTS (SELECT 1 FROM items i WHERE i.collection_id = c.collection_id \
                         AND i.name = c.name) \
                         FROM crm_items c WHERE c.collection_id = ?1",
                    )?
                    .query_map([coll.id], |r| {
                        Ok(CrmKnownRow {
                            name: text(r, 0)?,
                            crm_id: text(r, 1)?,
                            record_hash: r.get::<_, Option<String>>(2)?.map(String::into_boxed_str),
                            deleted: r.get::<_, i64>(3)? != 0,
                            present: r.get::<_, i64>(4)? != 0,
                        })
                    })?
                    .collect::<rusqlite::Result<_>>()?;
                let other_names = c
                    .prepare_cached(
                        "SELECT i.name FROM items i WHERE i.collection_id = ?1 AND NOT EXISTS \
                         (SELECT 1 FROM crm_items c WHERE c.collection_id = i.collection_id \
                         AND c.name = i.name)",
                    )?
                    .query_map([coll.id], |r| text(r, 0))?
                    .collect::<rusqlite::Result<_>>()?;
                Ok(CrmKnown { rows, other_names })
            })
            .map(CrmKnown::sorted)
    }

    async fn crm_identity(
        &self,
        coll: &Collection,
        name: &str,
    ) -> Result<Option<CrmIdentity>, DbError> {
        self.lite.read(|c| {
            c.prepare_cached(&format!(
                "SELECT {IDENT_COLS} FROM crm_items WHERE collection_id = ?1 AND name = ?2 \
                 AND deleted = 0"
            ))?
            .query_row((coll.id, name), row_identity)
            .optional()
        })
    }

    async fn crm_identities_named(
        &self,
        coll: &Collection,
        names: &[&str],
    ) -> Result<Vec<CrmIdentity>, DbError> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        // Point reads by primary key on one connection: a few microseconds each.
        self.lite.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {IDENT_COLS} FROM crm_items WHERE collection_id = ?1 AND name = ?2 \
                 AND deleted = 0"
            ))?;
            let mut out = Vec::with_capacity(names.len());
            for name in names {
                if let Some(i) = st.query_row((coll.id, name), row_identity).optional()? {
                    out.push(i);
                }
            }
            Ok(out)
        })
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
        self.lite.write(|tx| {
            if keep_identity {
                tx.prepare_cached(
                    "UPDATE crm_items SET deleted = 1, client_copy = NULL, base_record = NULL \
                     WHERE collection_id = ?1 AND name = ?2",
                )?
                .execute((coll.id, name))?;
            } else {
                tx.prepare_cached("DELETE FROM crm_items WHERE collection_id = ?1 AND name = ?2")?
                    .execute((coll.id, name))?;
            }
            let mut seq = Seq::new(coll.id);
            delete_held_item(tx, &mut seq, name)?;
            seq.finish(tx)?;
            Ok(())
        })
    }

    async fn crm_batch(
        &self,
        coll: &Collection,
        ops: Vec<CrmBatchOp<'_>>,
    ) -> Result<Vec<CrmBatchOutcome>, StoreError> {
        // A batch's transaction takes 10–25 ms (256 contacts with their field rows): on the
        // calling thread, that is an actix worker answering nothing meanwhile. It runs on
        // the blocking pool instead, on its own copy of the batch (a fraction of a
        // millisecond to make).
        let ops: Vec<OwnedOp> = ops.into_iter().map(OwnedOp::from).collect();
        let (lite, coll_id) = (self.lite.clone(), coll.id);
        let _w = self.write.lock().await;
        let run = tokio::task::spawn_blocking(move || {
            lite.write(|tx| {
                let mut seq = Seq::new(coll_id);
                let mut out = Vec::with_capacity(ops.len());
                for op in &ops {
                    out.push(match op {
                        OwnedOp::Save {
                            ident,
                            item,
                            import,
                        } => {
                            let item = item.as_ref().map(|it| RenderedItem {
                                content_type: &it.content_type,
                                body: &it.body,
                                index: &it.index,
                            });
                            save_identity_tx(tx, &mut seq, ident, item, *import)?
                        }
                        OwnedOp::Remove { name } => {
                            remove_tx(tx, &mut seq, name)?;
                            CrmBatchOutcome::Removed
                        }
                    });
                }
                seq.finish(tx)?;
                Ok(out)
            })
        });
        match run.await {
            Ok(out) => out,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // The runtime is shutting down: the transaction rolled back or never began.
                Err(_) => Err(StoreError::Db(sqlx::Error::WorkerCrashed)),
            },
        }
    }

    async fn crm_forget(&self, coll: &Collection, crm_id: &str) -> Result<(), DbError> {
        let _w = self.write.lock().await;
        self.lite
            .write(|tx| {
                tx.prepare_cached(
                    "DELETE FROM crm_items WHERE collection_id = ?1 AND crm_id = ?2 AND deleted = 1",
                )?
                .execute((coll.id, crm_id))
            })
            .map_err(lite)?;
        Ok(())
    }

    async fn crm_state(&self, coll: &Collection) -> Result<CrmCollectionState, DbError> {
        let st = self.lite.read(|c| {
            c.prepare_cached(
                "SELECT watermark, full_scan_at, definition_hash, deletions_watermark \
                 FROM crm_collections WHERE collection_id = ?1",
            )?
            .query_row([coll.id], |r| {
                Ok(CrmCollectionState {
                    watermark: r.get(0)?,
                    full_scan_at: r.get(1)?,
                    definition_hash: r.get(2)?,
                    deletions_watermark: r.get(3)?,
                })
            })
            .optional()
        })?;
        Ok(st.unwrap_or_default())
    }

    async fn set_crm_state(
        &self,
        coll: &Collection,
        st: &CrmCollectionState,
    ) -> Result<(), DbError> {
        let _w = self.write.lock().await;
        self.lite
            .write(|tx| {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO crm_collections (collection_id, watermark, \
                     full_scan_at, definition_hash, deletions_watermark) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute((
                    coll.id,
                    &st.watermark,
                    st.full_scan_at,
                    &st.definition_hash,
                    &st.deletions_watermark,
                ))
            })
            .map_err(lite)?;
        Ok(())
    }
}

/// A [`CrmBatchOp`] with its own copy of what it writes, for the blocking pool.
enum OwnedOp {
    Save {
        ident: Box<CrmIdentity>,
        item: Option<OwnedItem>,
        import: bool,
    },
    Remove {
        name: String,
    },
}

/// A [`RenderedItem`]'s own copy.
struct OwnedItem {
    content_type: String,
    body: Vec<u8>,
    index: ItemIndex,
}

impl From<CrmBatchOp<'_>> for OwnedOp {
    fn from(op: CrmBatchOp<'_>) -> OwnedOp {
        match op {
            CrmBatchOp::Save {
                ident,
                item,
                import,
            } => OwnedOp::Save {
                ident: Box::new(ident.clone()),
                item: item.map(|it| OwnedItem {
                    content_type: it.content_type.to_string(),
                    body: it.body.to_vec(),
                    index: it.index.clone(),
                }),
                import,
            },
            CrmBatchOp::Remove { name } => OwnedOp::Remove {
                name: name.to_string(),
            },
        }
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
        self.lite.write(|tx| {
            let mut seq = Seq::new(coll.id);
            match save_identity_tx(tx, &mut seq, ident, item, import)? {
                CrmBatchOutcome::Saved { etag, .. } => {
                    seq.finish(tx)?;
                    Ok(etag)
                }
                // Nothing of it was written; the transaction rolls back empty.
                _ => Err(StoreError::Exists),
            }
        })
    }
}

/// Delete member `name`'s item with a tombstone, if there is one.
fn delete_held_item(tx: &Connection, seq: &mut Seq, name: &str) -> Result<(), StoreError> {
    let held: Option<i64> = tx
        .prepare_cached("SELECT 1 FROM items WHERE collection_id = ?1 AND name = ?2")?
        .query_row((seq.coll_id(), name), |r| r.get(0))
        .optional()?;
    if held.is_some() {
        delete_item_tx(tx, seq, name)?;
    }
    Ok(())
}

/// A member's identity row and item go (the item with a tombstone), inside a transaction.
fn remove_tx(tx: &Connection, seq: &mut Seq, name: &str) -> Result<(), StoreError> {
    tx.prepare_cached("DELETE FROM crm_items WHERE collection_id = ?1 AND name = ?2")?
        .execute((seq.coll_id(), name))?;
    delete_held_item(tx, seq, name)
}

/// Save an identity and (when its bytes differ) its item inside a transaction. An import whose
/// CRM id another name holds writes nothing and answers `Exists`. Each statement is prepared
/// once per connection; for a record already held under its own name, the two reads and the
/// identity upsert are the whole cost of an unchanged record.
fn save_identity_tx(
    tx: &Connection,
    seq: &mut Seq,
    ident: &CrmIdentity,
    item: Option<RenderedItem<'_>>,
    import: bool,
) -> Result<CrmBatchOutcome, StoreError> {
    let coll_id = seq.coll_id();
    let mut etag: Option<String> = tx
        .prepare_cached("SELECT etag FROM items WHERE collection_id = ?1 AND name = ?2")?
        .query_row((coll_id, &ident.name), |r| r.get(0))
        .optional()?;
    let others: Vec<(String, bool)> = tx
        .prepare_cached(
            "SELECT c.name, i.name IS NOT NULL FROM crm_items c LEFT JOIN items i \
             ON i.collection_id = c.collection_id AND i.name = c.name \
             WHERE c.collection_id = ?1 AND c.crm_id = ?2 AND c.name != ?3",
        )?
        .query_map((coll_id, &ident.crm_id, &ident.name), |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    if import && !others.is_empty() {
        return Ok(CrmBatchOutcome::Exists);
    }
    // A record that another row held under a different name (a phone's create that a
    // refresh imported meanwhile, a CRM id reuse) gives way to this one, item and all.
    for (name, _) in others.iter().filter(|(_, item)| *item) {
        delete_item_tx(tx, seq, name)?;
    }
    if !others.is_empty() {
        tx.prepare_cached(
            "DELETE FROM crm_items WHERE collection_id = ?1 AND crm_id = ?2 AND name != ?3",
        )?
        .execute((coll_id, &ident.crm_id, &ident.name))?;
    }
    tx.prepare_cached(
        "INSERT INTO crm_items (collection_id, name, crm_id, uid, client_copy, base_record, \
         record_hash, version, deleted) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (collection_id, name) DO UPDATE SET crm_id = ?3, uid = ?4, \
         client_copy = ?5, base_record = ?6, record_hash = ?7, version = ?8, deleted = ?9",
    )?
    .execute(rusqlite::params![
        coll_id,
        ident.name,
        ident.crm_id,
        ident.uid,
        ident.client_copy,
        ident.base_record,
        ident.record_hash,
        ident.version,
        ident.deleted as i64
    ])?;
    let mut written = false;
    if let Some(it) = item {
        let new_etag = etag_of(it.body);
        if etag.as_deref() != Some(new_etag.as_str()) {
            write_item_tx(tx, seq, &ident.name, it, &new_etag, etag.is_some())?;
            etag = Some(new_etag);
            written = true;
        }
    }
    Ok(CrmBatchOutcome::Saved { etag, written })
}
