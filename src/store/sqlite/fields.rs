//! The vCard field index: folded values of searchable properties, one row per field, so
//! addressbook-query reads only candidate cards.

use async_trait::async_trait;
use sqlx::Row;

use super::SqliteStore;
use crate::store::backend::{CardFieldIndex, DbError};
use crate::store::model::Collection;

/// Replace the indexed fields of one item inside a transaction.
pub(super) async fn write_fields(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    item_id: i64,
    fields: &[(String, String)],
) -> Result<(), DbError> {
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

#[async_trait]
impl CardFieldIndex for SqliteStore {
    async fn card_candidates(
        &self,
        coll: &Collection,
        prop: &str,
        needle: &str,
    ) -> Result<Vec<String>, DbError> {
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

    async fn cards_without_fields(&self) -> Result<Vec<(i64, Vec<u8>)>, DbError> {
        let rows = sqlx::query(
            "SELECT id, body FROM items WHERE component = 'VCARD' \
             AND NOT EXISTS (SELECT 1 FROM card_fields f WHERE f.item_id = items.id)",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get("id"), r.get("body"))).collect())
    }

    async fn set_fields(&self, item_id: i64, fields: &[(String, String)]) -> Result<(), DbError> {
        let _w = self.write.lock().await;
        let mut tx = self.pool.begin().await?;
        write_fields(&mut tx, item_id, fields).await?;
        tx.commit().await
    }
}
