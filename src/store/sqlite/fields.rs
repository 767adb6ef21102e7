//! The vCard field index: folded values of searchable properties, one row per field, so
//! addressbook-query reads only candidate cards.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use super::SqliteStore;
use crate::carddav::{fold, Collation, ExactProbe, MatchType};
use crate::store::backend::{CardFieldIndex, DbError};
use crate::store::model::Collection;

/// Replace the indexed fields of one item inside a write transaction (`lite`); `replace`: the
/// item may have fields already (a new row has none: they go with their item, ON DELETE
/// CASCADE).
pub(super) fn write_fields(
    tx: &rusqlite::Connection,
    item_id: i64,
    fields: &[(String, String)],
    replace: bool,
) -> rusqlite::Result<()> {
    if replace {
        tx.prepare_cached("DELETE FROM card_fields WHERE item_id = ?1")?
            .execute([item_id])?;
    }
    if fields.is_empty() {
        return Ok(());
    }
    let mut ins = tx.prepare_cached(
        "INSERT INTO card_fields (item_id, prop, key, value) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (prop, value) in fields {
        ins.execute((item_id, prop, fold(value), value))?;
    }
    Ok(())
}

#[async_trait]
impl CardFieldIndex for SqliteStore {
    async fn card_matches(
        &self,
        coll: &Collection,
        probe: &ExactProbe,
    ) -> Result<Vec<String>, DbError> {
        // SQLite's own lower() folds ASCII letters only: i;ascii-casemap exactly.
        let hay = match probe.collation {
            Collation::UnicodeCasemap => "f.key",
            Collation::AsciiCasemap => "lower(f.value)",
            Collation::Octet => "f.value",
        };
        let test = match probe.match_type {
            MatchType::Equals => format!("{hay} = ?3"),
            MatchType::Contains => format!("instr({hay}, ?3) > 0"),
            MatchType::StartsWith => format!("substr({hay}, 1, length(?3)) = ?3"),
            MatchType::EndsWith => format!("substr({hay}, -length(?3)) = ?3"),
        };
        sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT DISTINCT i.name FROM card_fields f JOIN items i ON i.id = f.item_id \
             WHERE i.collection_id = ?1 AND f.prop = ?2 AND {test} ORDER BY i.name"
        )))
        .bind(coll.id)
        .bind(&probe.prop)
        .bind(probe.collation.key(&probe.text))
        .fetch_all(&self.pool)
        .await
    }
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

    async fn cards_without_fields(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>, DbError> {
        let rows = sqlx::query(
            "SELECT id, body FROM items WHERE component = 'VCARD' AND id > ? \
             AND NOT EXISTS (SELECT 1 FROM card_fields f WHERE f.item_id = items.id) \
             ORDER BY id LIMIT ?",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get("id"), r.get("body"))).collect())
    }

    async fn set_fields(&self, item_id: i64, fields: &[(String, String)]) -> Result<(), DbError> {
        let _w = self.write.lock().await;
        self.lite
            .write(|tx| write_fields(tx, item_id, fields, true))
            .map_err(super::lite::lite)
    }
}
