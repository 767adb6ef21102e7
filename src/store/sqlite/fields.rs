//! The vCard field index: folded values of searchable properties, one row per field, so
//! addressbook-query reads only candidate cards.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use super::SqliteStore;
use crate::carddav::{fold, Collation, ExactProbe, MatchType};
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
    for (prop, value) in fields {
        sqlx::query("INSERT INTO card_fields (item_id, prop, key, value) VALUES (?, ?, ?, ?)")
            .bind(item_id)
            .bind(prop)
            .bind(fold(value))
            .bind(value)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The shortest text the trigram index answers: FTS5's `trigram` tokenizer finds nothing for
/// a phrase of fewer than 3 characters, so those scan the collection's field rows.
const TRIGRAM: usize = 3;

/// The FTS5 query for "column `col` contains `text`" (a phrase: quotes doubled, nothing else
/// is special inside one), or `None` when `text` is too short for a trigram.
fn trigram_phrase(col: &str, text: &str) -> Option<String> {
    (text.chars().count() >= TRIGRAM)
        .then(|| format!("{{{col}}} : \"{}\"", text.replace('"', "\"\"")))
}

/// The rows a field query starts from: the trigram index's hits when `phrase` is given (bound
/// as `?4`), otherwise every field row, which the caller's condition narrows.
fn field_rows(phrase: bool) -> &'static str {
    if phrase {
        "card_fields_trgm t JOIN card_fields f ON f.id = t.rowid \
         JOIN items i ON i.id = f.item_id WHERE card_fields_trgm MATCH ?4 AND"
    } else {
        "card_fields f JOIN items i ON i.id = f.item_id WHERE"
    }
}

#[async_trait]
impl CardFieldIndex for SqliteStore {
    async fn card_matches(
        &self,
        coll: &Collection,
        probe: &ExactProbe,
    ) -> Result<Vec<String>, DbError> {
        // SQLite's own lower() folds ASCII letters only: i;ascii-casemap exactly. The trigram
        // index holds `key` and `value` case-folded per code point, so a collation's match is
        // always an index hit; the exact test below decides.
        let (hay, col) = match probe.collation {
            Collation::UnicodeCasemap => ("f.key", "key"),
            Collation::AsciiCasemap => ("lower(f.value)", "value"),
            Collation::Octet => ("f.value", "value"),
        };
        let text = probe.collation.key(&probe.text);
        // A match of any type contains the text, so the index narrows every type.
        let phrase = trigram_phrase(col, &text);
        let test = match probe.match_type {
            MatchType::Equals => format!("{hay} = ?3"),
            MatchType::Contains => format!("instr({hay}, ?3) > 0"),
            MatchType::StartsWith => format!("substr({hay}, 1, length(?3)) = ?3"),
            MatchType::EndsWith => format!("substr({hay}, -length(?3)) = ?3"),
        };
        let rows = field_rows(phrase.is_some());
        let q = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT DISTINCT i.name FROM {rows} i.collection_id = ?1 AND f.prop = ?2 \
             AND {test} ORDER BY i.name"
        )))
        .bind(coll.id)
        .bind(&probe.prop)
        .bind(&text);
        match phrase {
            Some(p) => q.bind(p).fetch_all(&self.pool).await,
            None => q.fetch_all(&self.pool).await,
        }
    }
    async fn card_candidates(
        &self,
        coll: &Collection,
        prop: &str,
        needle: &str,
    ) -> Result<Vec<String>, DbError> {
        let phrase = trigram_phrase("key", needle);
        let rows = field_rows(phrase.is_some());
        let q = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT DISTINCT i.name FROM {rows} i.collection_id = ?1 AND f.prop = ?2 \
             AND instr(f.key, ?3) > 0"
        )))
        .bind(coll.id)
        .bind(prop)
        .bind(needle);
        match phrase {
            Some(p) => q.bind(p).fetch_all(&self.pool).await,
            None => q.fetch_all(&self.pool).await,
        }
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
        let mut tx = self.pool.begin().await?;
        write_fields(&mut tx, item_id, fields).await?;
        tx.commit().await
    }
}
