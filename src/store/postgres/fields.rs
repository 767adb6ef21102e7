//! The vCard field index: folded values of searchable properties, one row per field, so
//! addressbook-query reads only candidate cards.

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, Row};

use super::{PgStore, Tx};
use crate::carddav::{fold, Collation, ExactProbe, MatchType};
use crate::store::backend::{CardFieldIndex, DbError};
use crate::store::model::Collection;

/// Replace the indexed fields of one item inside a transaction.
pub(super) async fn write_fields(
    tx: &mut Tx<'_>,
    item_id: i64,
    fields: &[(String, String)],
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM card_fields WHERE item_id = $1")
        .bind(item_id)
        .execute(&mut **tx)
        .await?;
    for (prop, value) in fields {
        sqlx::query("INSERT INTO card_fields (item_id, prop, key, value) VALUES ($1, $2, $3, $4)")
            .bind(item_id)
            .bind(prop)
            .bind(fold(value))
            .bind(value)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// The shortest text a pg_trgm index narrows: a shorter pattern has no trigram and would
/// read the whole index, so those scan the collection's field rows.
const TRIGRAM: usize = 3;

/// `text` as a LIKE pattern that matches itself literally (`\\` is LIKE's default escape).
fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The LIKE pattern a field matching `text` with `match_type` satisfies (bound as `$4` and
/// answered by the pg_trgm indexes of migration 0010), or `None` when `text` is too short.
fn trigram_pattern(match_type: MatchType, text: &str) -> Option<String> {
    if text.chars().count() < TRIGRAM {
        return None;
    }
    let lit = like_literal(text);
    Some(match match_type {
        MatchType::Equals => lit,
        MatchType::Contains => format!("%{lit}%"),
        MatchType::StartsWith => format!("{lit}%"),
        MatchType::EndsWith => format!("%{lit}"),
    })
}

/// Whether migration 0010 could index the field rows (the pg_trgm extension may need a
/// privilege the database's owner lacks); said once when the store opens.
pub(super) async fn log_trigram_index(pool: &sqlx::PgPool) -> Result<(), DbError> {
    let indexed: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE indexname = 'card_fields_key_trgm')",
    )
    .fetch_one(pool)
    .await?;
    if !indexed {
        tracing::warn!(
            "no trigram index on card fields (the pg_trgm extension could not be created): \
             contact text search scans the field rows; a superuser can run \
             migrations/postgres/0010_card_fields_trigram.sql by hand to add it"
        );
    }
    Ok(())
}

#[async_trait]
impl CardFieldIndex for PgStore {
    async fn card_matches(
        &self,
        coll: &Collection,
        probe: &ExactProbe,
    ) -> Result<Vec<String>, DbError> {
        // lower() follows the database's locale; translate() is ASCII only: i;ascii-casemap.
        // The LIKE/ILIKE condition only narrows (through the trigram indexes): an
        // i;ascii-casemap match is an ILIKE match, whatever ILIKE folds beyond ASCII.
        let (hay, narrow) = match probe.collation {
            Collation::UnicodeCasemap => ("f.key", "f.key LIKE $4"),
            Collation::AsciiCasemap => (
                "translate(f.value, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')",
                "f.value ILIKE $4",
            ),
            Collation::Octet => ("f.value", "f.value LIKE $4"),
        };
        let text = probe.collation.key(&probe.text);
        let pattern = trigram_pattern(probe.match_type, &text);
        let narrow = if pattern.is_some() { narrow } else { "TRUE" };
        let test = match probe.match_type {
            MatchType::Equals => format!("{hay} = $3"),
            MatchType::Contains => format!("strpos({hay}, $3) > 0"),
            MatchType::StartsWith => format!("left({hay}, length($3)) = $3"),
            MatchType::EndsWith => format!("right({hay}, length($3)) = $3"),
        };
        let q = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT DISTINCT i.name FROM card_fields f JOIN items i ON i.id = f.item_id \
             WHERE i.collection_id = $1 AND f.prop = $2 AND {narrow} AND {test} ORDER BY i.name"
        )))
        .bind(coll.id)
        .bind(&probe.prop)
        .bind(&text);
        match pattern {
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
        let pattern = trigram_pattern(MatchType::Contains, needle);
        let narrow = if pattern.is_some() {
            "f.key LIKE $4"
        } else {
            "TRUE"
        };
        let q = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT DISTINCT i.name FROM card_fields f JOIN items i ON i.id = f.item_id \
             WHERE i.collection_id = $1 AND f.prop = $2 AND {narrow} AND strpos(f.key, $3) > 0"
        )))
        .bind(coll.id)
        .bind(prop)
        .bind(needle);
        match pattern {
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
            "SELECT id, body FROM items WHERE component = 'VCARD' AND id > $1 \
             AND NOT EXISTS (SELECT 1 FROM card_fields f WHERE f.item_id = items.id) \
             ORDER BY id LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(|r| (r.get("id"), r.get("body"))).collect())
    }

    async fn set_fields(&self, item_id: i64, fields: &[(String, String)]) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        // The item's collection row orders this against a concurrent write of the same item
        // (which replaces the fields under the same lock); a vanished item needs no fields.
        let locked: Option<i64> = sqlx::query_scalar(
            "SELECT c.id FROM items i JOIN collections c ON c.id = i.collection_id \
             WHERE i.id = $1 FOR UPDATE OF c",
        )
        .bind(item_id)
        .fetch_optional(&mut *tx)
        .await?;
        if locked.is_some() {
            write_fields(&mut tx, item_id, fields).await?;
        }
        tx.commit().await
    }
}
