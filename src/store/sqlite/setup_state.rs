//! The sign-in page's server-side state: one table of expiring rows (see
//! `migrations/0007_setup_state.sql`). One process owns a SQLite file, so the write mutex makes
//! the bounded insert exact.

use async_trait::async_trait;
use sqlx::Row;

use super::SqliteStore;
use crate::store::backend::{DbError, SetupStateStore};
use crate::store::model::{SetupEntry, SetupInsert, SetupKind};

fn kind_of(s: &str) -> SetupKind {
    match s {
        "session" => SetupKind::Session,
        "signin" => SetupKind::SignIn,
        "crmsignin" => SetupKind::CrmSignIn,
        _ => SetupKind::LoginFlow,
    }
}

fn row_entry(r: &sqlx::sqlite::SqliteRow) -> SetupEntry {
    SetupEntry {
        kind: kind_of(r.get::<&str, _>("kind")),
        id: r.get("id"),
        tenant: r.get("tenant"),
        owner: r.get("owner"),
        client: r.get("client"),
        lookup: r.get("lookup"),
        body: r.get("body"),
        expires_ms: r.get("expires_ms"),
        used_ms: r.get("used_ms"),
    }
}

#[async_trait]
impl SetupStateStore for SqliteStore {
    async fn setup_insert(
        &self,
        e: &SetupEntry,
        now_ms: i64,
        capacity: u64,
        per_client: Option<u64>,
    ) -> Result<SetupInsert, DbError> {
        let _w = self.write.lock().await;
        let kind = e.kind.as_str();
        sqlx::query("DELETE FROM setup_state WHERE kind = ?1 AND expires_ms <= ?2")
            .bind(kind)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        let live: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM setup_state WHERE kind = ?1")
            .bind(kind)
            .fetch_one(&self.pool)
            .await?;
        if live as u64 >= capacity {
            return Ok(SetupInsert::Full);
        }
        if let (Some(max), Some(client)) = (per_client, &e.client) {
            let mine: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM setup_state WHERE kind = ?1 AND client = ?2",
            )
            .bind(kind)
            .bind(client)
            .fetch_one(&self.pool)
            .await?;
            if mine as u64 >= max {
                return Ok(SetupInsert::TooManyFromClient);
            }
        }
        sqlx::query(
            "INSERT OR REPLACE INTO setup_state \
             (kind, id, tenant, owner, client, lookup, body, expires_ms, used_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(kind)
        .bind(&e.id)
        .bind(&e.tenant)
        .bind(&e.owner)
        .bind(&e.client)
        .bind(&e.lookup)
        .bind(&e.body)
        .bind(e.expires_ms)
        .bind(e.used_ms)
        .execute(&self.pool)
        .await?;
        Ok(SetupInsert::Stored)
    }

    async fn setup_get(
        &self,
        kind: SetupKind,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<SetupEntry>, DbError> {
        let r = sqlx::query(
            "SELECT * FROM setup_state WHERE kind = ?1 AND id = ?2 AND expires_ms > ?3",
        )
        .bind(kind.as_str())
        .bind(id)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row_entry))
    }

    async fn setup_take(
        &self,
        kind: SetupKind,
        id: &str,
        now_ms: i64,
    ) -> Result<Option<SetupEntry>, DbError> {
        let _w = self.write.lock().await;
        let r = sqlx::query("DELETE FROM setup_state WHERE kind = ?1 AND id = ?2 RETURNING *")
            .bind(kind.as_str())
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.as_ref().map(row_entry).filter(|e| e.expires_ms > now_ms))
    }

    async fn setup_update(
        &self,
        kind: SetupKind,
        id: &str,
        old_body: &str,
        new_body: &str,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        let _w = self.write.lock().await;
        let done = sqlx::query(
            "UPDATE setup_state SET body = ?1 \
             WHERE kind = ?2 AND id = ?3 AND body = ?4 AND expires_ms > ?5",
        )
        .bind(new_body)
        .bind(kind.as_str())
        .bind(id)
        .bind(old_body)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn setup_touch(&self, kind: SetupKind, id: &str, now_ms: i64) -> Result<(), DbError> {
        let _w = self.write.lock().await;
        sqlx::query("UPDATE setup_state SET used_ms = ?1 WHERE kind = ?2 AND id = ?3")
            .bind(now_ms)
            .bind(kind.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn setup_find(
        &self,
        kind: SetupKind,
        tenant: &str,
        lookup: &str,
        now_ms: i64,
    ) -> Result<Option<SetupEntry>, DbError> {
        let r = sqlx::query(
            "SELECT * FROM setup_state \
             WHERE kind = ?1 AND tenant = ?2 AND lookup = ?3 AND expires_ms > ?4 LIMIT 1",
        )
        .bind(kind.as_str())
        .bind(tenant)
        .bind(lookup)
        .bind(now_ms)
        .fetch_optional(&self.pool)
        .await?;
        Ok(r.as_ref().map(row_entry))
    }

    async fn setup_remove(&self, kind: SetupKind, id: &str) -> Result<(), DbError> {
        let _w = self.write.lock().await;
        sqlx::query("DELETE FROM setup_state WHERE kind = ?1 AND id = ?2")
            .bind(kind.as_str())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn setup_owned(
        &self,
        tenant: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<Vec<SetupEntry>, DbError> {
        let rows = sqlx::query(
            "SELECT * FROM setup_state WHERE tenant = ?1 AND owner = ?2 AND expires_ms > ?3 \
             ORDER BY expires_ms, id",
        )
        .bind(tenant)
        .bind(owner)
        .bind(now_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_entry).collect())
    }

    async fn setup_remove_owned(
        &self,
        tenant: &str,
        owner: &str,
        now_ms: i64,
    ) -> Result<u64, DbError> {
        let _w = self.write.lock().await;
        let live: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM setup_state WHERE tenant = ?1 AND owner = ?2 RETURNING expires_ms",
        )
        .bind(tenant)
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        Ok(live.iter().filter(|&&e| e > now_ms).count() as u64)
    }
}
