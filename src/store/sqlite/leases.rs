//! Leases: one process owns a SQLite file, so nothing else competes for them; the same claim as
//! PostgreSQL's keeps the two backends alike (freshness shared by every tenant flight here).

use async_trait::async_trait;

use super::SqliteStore;
use crate::store::backend::{DbError, Lease, LeaseStore};

#[async_trait]
impl LeaseStore for SqliteStore {
    async fn lease_claim(
        &self,
        key: &str,
        holder: &str,
        now_ms: i64,
        lease_ms: i64,
        fresh_after_ms: i64,
    ) -> Result<Lease, DbError> {
        let _w = self.write.lock().await;
        let claimed: Option<String> = sqlx::query_scalar(
            "INSERT INTO leases (key, holder, until_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (key) DO UPDATE SET holder = EXCLUDED.holder, until_ms = EXCLUDED.until_ms \
             WHERE (leases.holder IS NULL OR leases.until_ms <= ?4) \
             AND (leases.done_ms IS NULL OR leases.done_ms <= ?5) RETURNING holder",
        )
        .bind(key)
        .bind(holder)
        .bind(now_ms.saturating_add(lease_ms))
        .bind(now_ms)
        .bind(fresh_after_ms)
        .fetch_optional(&self.pool)
        .await?;
        if claimed.is_some() {
            return Ok(Lease::Claimed);
        }
        let done: Option<Option<i64>> =
            sqlx::query_scalar("SELECT done_ms FROM leases WHERE key = ?1")
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
        Ok(match done.flatten() {
            Some(d) if d > fresh_after_ms => Lease::Done(d),
            _ => Lease::Busy,
        })
    }

    async fn lease_release(
        &self,
        key: &str,
        holder: &str,
        done_ms: Option<i64>,
    ) -> Result<(), DbError> {
        let _w = self.write.lock().await;
        sqlx::query(
            "UPDATE leases SET holder = NULL, until_ms = 0, done_ms = COALESCE(?3, done_ms) \
             WHERE key = ?1 AND holder = ?2",
        )
        .bind(key)
        .bind(holder)
        .bind(done_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
