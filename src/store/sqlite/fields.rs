//! The vCard field index: folded values of searchable properties, one row per field, so
//! addressbook-query reads only candidate cards.

use async_trait::async_trait;
use sqlx::Row;

use super::SqliteStore;
use crate::carddav::{fold, Collation, ExactProbe, MatchType};
use crate::store::backend::{CardFieldIndex, DbError};
use crate::store::model::Collection;

/// Field rows written in a transaction but not in the trigram index yet, as runs of row ids.
///
/// FTS5 writes its pending terms out as a new segment at the end of every statement that
/// changed the table, so a row at a time (0010's insert trigger) made one tiny segment per
/// field row and endless merges of them. The rows go in together instead ([`Trigrams::flush`]:
/// one statement per run of ids) before the transaction commits, and before anything in it
/// deletes field rows: 0010's delete trigger removes a row's terms from the index, which must
/// hold them by then (an external-content index is corrupted by deleting terms it never had).
#[derive(Debug, Default)]
pub(super) struct Trigrams {
    /// Inclusive runs of consecutive row ids, in insertion order.
    runs: Vec<(i64, i64)>,
}

impl Trigrams {
    /// Note the field row `id` just inserted.
    fn push(&mut self, id: i64) {
        match self.runs.last_mut() {
            Some((_, last)) if *last + 1 == id => *last = id,
            _ => self.runs.push((id, id)),
        }
    }

    /// Put the noted rows into the trigram index.
    pub(super) fn flush(&mut self, tx: &rusqlite::Connection) -> rusqlite::Result<()> {
        if self.runs.is_empty() {
            return Ok(());
        }
        let mut ins = tx.prepare_cached(
            "INSERT INTO card_fields_trgm (rowid, key, value) \
             SELECT id, key, value FROM card_fields WHERE id BETWEEN ?1 AND ?2",
        )?;
        for (first, last) in self.runs.drain(..) {
            ins.execute((first, last))?;
        }
        Ok(())
    }
}

/// Replace the indexed fields of one item inside a write transaction (`lite`); `replace`: the
/// item may have fields already (a new row has none: they go with their item, ON DELETE
/// CASCADE). The new rows reach the trigram index when `trigrams` is flushed.
pub(super) fn write_fields(
    tx: &rusqlite::Connection,
    trigrams: &mut Trigrams,
    item_id: i64,
    fields: &[(String, String)],
    replace: bool,
) -> rusqlite::Result<()> {
    if replace {
        // The rows deleted may be among those noted in this transaction.
        trigrams.flush(tx)?;
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
        trigrams.push(tx.last_insert_rowid());
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
/// as `?4`), otherwise every field row, which the caller's condition narrows. CROSS JOIN fixes
/// the order: left to itself the planner may walk every field row of the property and probe
/// the index once per row (measured: slower than the scan it replaces).
fn field_rows(phrase: bool) -> &'static str {
    if phrase {
        "card_fields_trgm t CROSS JOIN card_fields f ON f.id = t.rowid \
         CROSS JOIN items i ON i.id = f.item_id WHERE card_fields_trgm MATCH ?4 AND"
    } else {
        "card_fields f JOIN items i ON i.id = f.item_id WHERE"
    }
}

impl SqliteStore {
    /// The member names a field query (`sql`, from `field_rows`) returns, read on the calling
    /// thread: its few shapes are each prepared once per connection, where sqlx handed every
    /// query to its worker thread and back.
    fn names(
        &self,
        sql: &str,
        coll: i64,
        prop: &str,
        text: &str,
        phrase: Option<&str>,
    ) -> Result<Vec<String>, DbError> {
        self.lite.read(|c| {
            let mut stmt = c.prepare_cached(sql)?;
            match phrase {
                Some(p) => stmt
                    .query_map((coll, prop, text, p), |r| r.get(0))?
                    .collect(),
                None => stmt.query_map((coll, prop, text), |r| r.get(0))?.collect(),
            }
        })
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
        let sql = format!(
            "SELECT DISTINCT i.name FROM {} i.collection_id = ?1 AND f.prop = ?2 \
             AND {test} ORDER BY i.name",
            field_rows(phrase.is_some())
        );
        self.names(&sql, coll.id, &probe.prop, &text, phrase.as_deref())
    }
    async fn card_candidates(
        &self,
        coll: &Collection,
        prop: &str,
        needle: &str,
    ) -> Result<Vec<String>, DbError> {
        let phrase = trigram_phrase("key", needle);
        let sql = format!(
            "SELECT DISTINCT i.name FROM {} i.collection_id = ?1 AND f.prop = ?2 \
             AND instr(f.key, ?3) > 0",
            field_rows(phrase.is_some())
        );
        self.names(&sql, coll.id, prop, needle, phrase.as_deref())
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
            .write(|tx| {
                let mut trigrams = Trigrams::default();
                write_fields(tx, &mut trigrams, item_id, fields, true)?;
                trigrams.flush(tx)
            })
            .map_err(super::lite::lite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::backend::{CollectionStore, CrmIdentityStore, ItemStore};
    use crate::store::model::{
        CollectionKind, CrmBatchOp, CrmIdentity, RenderedItem, WriteCondition,
    };
    use sqlx::AssertSqlSafe;

    fn card(uid: &str, fname: &str) -> (String, crate::store::ItemIndex) {
        let body =
            format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{fname}\r\nEND:VCARD\r\n");
        let index = crate::store::card_index(&body).expect("a valid card");
        (body, index)
    }

    fn item<'a>(body: &'a str, index: &'a crate::store::ItemIndex) -> RenderedItem<'a> {
        RenderedItem {
            content_type: "text/vcard",
            body: body.as_bytes(),
            index,
        }
    }

    /// The trigram index holds exactly the field rows, however a transaction mixes writes:
    /// an item written twice in one batch (its first rows deleted before the batch indexes
    /// them), one written and removed in the same batch, a PUT and a DELETE of their own.
    /// FTS5's own check compares the index with `card_fields` row by row; a term deleted that
    /// was never indexed, or a row never indexed, fails it.
    #[tokio::test]
    async fn the_trigram_index_holds_exactly_the_field_rows_after_batched_writes() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let s = SqliteStore::open(&url).await.unwrap();
        let coll = s
            .create_collection("t", "crm/", CollectionKind::Addressbook, &[], false)
            .await
            .unwrap();
        let ident = |name: &str, id: &str| CrmIdentity {
            name: name.into(),
            crm_id: id.into(),
            uid: name.into(),
            ..Default::default()
        };
        let (a1, ia1) = card("a", "Ada Lovelace");
        let (a2, ia2) = card("a", "Ada Byron");
        let (b, ib) = card("b", "Bea Brandt");
        let (ida, idb) = (ident("a.vcf", "1"), ident("b.vcf", "2"));
        s.crm_batch(
            &coll,
            vec![
                CrmBatchOp::Save {
                    ident: &ida,
                    item: Some(item(&a1, &ia1)),
                    import: true,
                },
                CrmBatchOp::Save {
                    ident: &idb,
                    item: Some(item(&b, &ib)),
                    import: true,
                },
                CrmBatchOp::Save {
                    ident: &ida,
                    item: Some(item(&a2, &ia2)),
                    import: false,
                },
                CrmBatchOp::Remove { name: "b.vcf" },
            ],
        )
        .await
        .unwrap();
        let (c, ic) = card("c", "Cleo Okafor");
        s.put_item(
            &coll,
            "c.vcf",
            "text/vcard",
            c.as_bytes(),
            &ic,
            &WriteCondition::default(),
        )
        .await
        .unwrap();
        let (d, id) = card("d", "Dana Okafor");
        s.put_item(
            &coll,
            "d.vcf",
            "text/vcard",
            d.as_bytes(),
            &id,
            &WriteCondition::default(),
        )
        .await
        .unwrap();
        s.delete_item(&coll, "d.vcf", &WriteCondition::default())
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO card_fields_trgm (card_fields_trgm, rank) VALUES ('integrity-check', 1)",
        )
        .execute(&s.pool)
        .await
        .expect("the trigram index matches card_fields");
        for (text, hits) in [
            ("byron", &["a.vcf"][..]),
            ("lovelace", &[]),
            ("brandt", &[]),
            ("okafor", &["c.vcf"]),
        ] {
            assert_eq!(
                s.card_candidates(&coll, "FN", text).await.unwrap(),
                hits,
                "{text}"
            );
        }
    }

    /// A long text is looked up in the trigram index first, then its rows by key: never the
    /// property's field rows one by one.
    #[tokio::test]
    async fn long_texts_start_from_the_trigram_index() {
        let s = SqliteStore::open("sqlite://:memory:").await.unwrap();
        let phrase = trigram_phrase("key", "okafor").expect("long enough");
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT DISTINCT i.name FROM {} i.collection_id = ?1 \
             AND f.prop = ?2 AND instr(f.key, ?3) > 0 ORDER BY i.name",
            field_rows(true)
        );
        let plan: Vec<String> = sqlx::query(AssertSqlSafe(sql))
            .bind(1_i64)
            .bind("FN")
            .bind("okafor")
            .bind(phrase)
            .fetch_all(&s.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect();
        assert!(plan[0].contains("VIRTUAL TABLE"), "{plan:?}");
        assert!(plan[1].contains("INTEGER PRIMARY KEY"), "{plan:?}");
        assert!(plan[2].contains("INTEGER PRIMARY KEY"), "{plan:?}");
        assert_eq!(trigram_phrase("key", "ok"), None);
        assert_eq!(
            trigram_phrase("value", "say \"hi\""),
            Some("{value} : \"say \"\"hi\"\"\"".into())
        );
    }
}
