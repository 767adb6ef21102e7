//! The change log: each collection's sequence, the tombstones deletions leave, and the changes
//! since a sync token (RFC 6578).

use async_trait::async_trait;
use futures_util::stream::BoxStream;
use sqlx::{AssertSqlSafe, Row};

use super::items::{row_meta, META_COLS};
use super::{now, SqliteStore};
use crate::store::backend::{ChangeLog, DbError};
use crate::store::model::{Change, Collection};

/// Move a collection's sequence on by one (every change to a member does): returns the new
/// sequence and the modification time it was stamped with.
pub(super) async fn next_seq(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    coll_id: i64,
) -> Result<(i64, i64), DbError> {
    let t = now();
    let seq: i64 = sqlx::query_scalar(
        "UPDATE collections SET seq = seq + 1, modified = ? WHERE id = ? RETURNING seq",
    )
    .bind(t)
    .bind(coll_id)
    .fetch_one(&mut **tx)
    .await?;
    Ok((seq, t))
}

/// Record that member `name` was deleted at sequence `seq`.
pub(super) async fn record_tombstone(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    coll_id: i64,
    name: &str,
    seq: i64,
) -> Result<(), DbError> {
    sqlx::query("INSERT OR REPLACE INTO tombstones (collection_id, name, seq) VALUES (?, ?, ?)")
        .bind(coll_id)
        .bind(name)
        .bind(seq)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Forget the deletion of member `name` (it exists again).
pub(super) async fn clear_tombstone(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    coll_id: i64,
    name: &str,
) -> Result<(), DbError> {
    sqlx::query("DELETE FROM tombstones WHERE collection_id = ? AND name = ?")
        .bind(coll_id)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

#[async_trait]
impl ChangeLog for SqliteStore {
    async fn changes_since(
        &self,
        coll: &Collection,
        since: Option<i64>,
        limit: Option<usize>,
    ) -> Result<(Vec<Change>, i64), DbError> {
        // An initial sync (no token) lists the members and no deletions (RFC 6578 §3.8).
        let initial = since.is_none();
        let since = since.unwrap_or(0);
        let lim = limit.map(|l| l as i64 + 1).unwrap_or(-1);
        let rows = sqlx::query(AssertSqlSafe(changes_sql()))
            .bind(coll.id)
            .bind(since)
            .bind(lim)
            .bind(initial)
            .bind(i64::MAX)
            .fetch_all(&self.pool)
            .await?;
        let mut out: Vec<Change> = rows.iter().map(row_change).collect();
        let mut upto = coll.seq;
        if let Some(l) = limit {
            if out.len() > l {
                out.truncate(l);
                upto = out
                    .last()
                    .map(|c| match c {
                        Change::Changed(_, s) | Change::Deleted(_, s) => *s,
                    })
                    .unwrap_or(since);
            }
        }
        Ok((out, upto))
    }

    fn stream_changes<'a>(
        &'a self,
        coll: &Collection,
        since: Option<i64>,
    ) -> BoxStream<'a, Result<Change, DbError>> {
        use futures_util::{StreamExt, TryStreamExt};
        // A page per statement (one thread handoff per page, not per row), by sequence up to
        // the collection's sequence as read: a member changed meanwhile moves past it and is
        // left to the next sync, so none is listed twice.
        let (id, initial, upto) = (coll.id, since.is_none(), coll.seq);
        futures_util::stream::try_unfold(Some(since.unwrap_or(0)), move |after| async move {
            let Some(after) = after else {
                return Ok::<_, DbError>(None);
            };
            let rows = sqlx::query(AssertSqlSafe(changes_sql()))
                .bind(id)
                .bind(after)
                .bind(CHANGES_PAGE)
                .bind(initial)
                .bind(upto)
                .fetch_all(&self.pool)
                .await?;
            let changes: Vec<Change> = rows.iter().map(row_change).collect();
            let next = (rows.len() as i64 == CHANGES_PAGE)
                .then(|| {
                    changes.last().map(|c| match c {
                        Change::Changed(_, q) | Change::Deleted(_, q) => *q,
                    })
                })
                .flatten();
            let chunk = futures_util::stream::iter(changes.into_iter().map(Ok::<_, DbError>));
            Ok(Some((chunk, next)))
        })
        .try_flatten()
        .boxed()
    }
}

/// Changes per statement of [`ChangeLog::stream_changes`].
const CHANGES_PAGE: i64 = 1024;

/// Members changed after a sequence and, unless it is an initial sync, tombstones, by
/// sequence: binds collection id, sequence, limit (-1: none), initial sync, last sequence.
fn changes_sql() -> String {
    format!(
        "SELECT * FROM (SELECT {META_COLS}, seq, 0 AS deleted FROM items WHERE collection_id = ?1 AND seq > ?2 AND seq <= ?5 \
             UNION ALL SELECT name, '' AS content_type, '' AS etag, 0 AS size, 0 AS modified, 0 AS created, seq, 1 AS deleted \
             FROM tombstones WHERE collection_id = ?1 AND seq > ?2 AND seq <= ?5 AND ?4 = 0) ORDER BY seq LIMIT ?3"
    )
}

fn row_change(r: &sqlx::sqlite::SqliteRow) -> Change {
    let seq: i64 = r.get("seq");
    if r.get::<i64, _>("deleted") == 1 {
        Change::Deleted(r.get("name"), seq)
    } else {
        Change::Changed(row_meta(r), seq)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::{Change, CollectionKind, ItemIndex, Store, WriteCondition};

    #[tokio::test]
    async fn change_log_and_tokens() {
        let s = Store::open("sqlite://:memory:").await.unwrap();
        let c = s
            .create_collection("t", "cal/", CollectionKind::Calendar, &[], false)
            .await
            .unwrap();
        let idx = ItemIndex::default();
        let w = WriteCondition::default();
        s.put_item(&c, "a.ics", "text/calendar", b"A", &idx, &w)
            .await
            .unwrap();
        s.put_item(&c, "b.ics", "text/calendar", b"B", &idx, &w)
            .await
            .unwrap();
        let c1 = s.collection("t", "cal/").await.unwrap().unwrap();
        let t1 = c1.sync_token();
        assert_eq!(c1.parse_token(&t1), Some(2));
        s.delete_item(&c1, "a.ics", &w).await.unwrap();
        let c2 = s.collection("t", "cal/").await.unwrap().unwrap();
        let (ch, upto) = s.changes_since(&c2, Some(2), None).await.unwrap();
        assert_eq!(upto, 3);
        assert!(matches!(&ch[..], [Change::Deleted(n, 3)] if n == "a.ics"));
        // Initial sync: members only (b), no deletions; one member fits the limit of 1, so
        // nothing is cut and the token is the current sequence.
        let (ch, upto) = s.changes_since(&c2, None, Some(1)).await.unwrap();
        assert!(matches!(&ch[..], [Change::Changed(m, 2)] if m.name == "b.ics"));
        assert_eq!(upto, 3);
        s.put_item(&c2, "c.ics", "text/calendar", b"C", &idx, &w)
            .await
            .unwrap();
        let c3 = s.collection("t", "cal/").await.unwrap().unwrap();
        let (ch, upto) = s.changes_since(&c3, None, Some(1)).await.unwrap();
        assert_eq!(ch.len(), 1);
        assert_eq!(
            upto, 2,
            "truncated: the token continues after the last member sent"
        );
        assert_eq!(c2.parse_token("urn:crmdav:sync:other:1"), None);
        assert_eq!(c2.parse_token(&c2.token(99)), None);
    }
}
