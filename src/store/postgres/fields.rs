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

#[async_trait]
impl CardFieldIndex for PgStore {
    async fn card_matches(
        &self,
        coll: &Collection,
        probe: &ExactProbe,
    ) -> Result<Vec<String>, DbError> {
        // lower() follows the database's locale; translate() is ASCII only: i;ascii-casemap.
        let hay = match probe.collation {
            Collation::UnicodeCasemap => "f.key",
            Collation::AsciiCasemap => {
                "translate(f.value, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
            }
            Collation::Octet => "f.value",
        };
        let test = match probe.match_type {
            MatchType::Equals => format!("{hay} = $3"),
            MatchType::Contains => format!("strpos({hay}, $3) > 0"),
            MatchType::StartsWith => format!("left({hay}, length($3)) = $3"),
            MatchType::EndsWith => format!("right({hay}, length($3)) = $3"),
        };
        sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT DISTINCT i.name FROM card_fields f JOIN items i ON i.id = f.item_id \
             WHERE i.collection_id = $1 AND f.prop = $2 AND {test} ORDER BY i.name"
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
             WHERE i.collection_id = $1 AND f.prop = $2 AND strpos(f.key, $3) > 0",
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
