//! App passwords: one row per person and device, keyed by (tenant, public id). Each write is
//! one statement, so instances need no coordination: an id taken by a concurrent create on
//! another instance is `Exists` here too.

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::Row;

use super::PgStore;
use crate::store::backend::{AppPasswordStore, DbError};
use crate::store::model::AppPassword;
use crate::store::StoreError;

fn row_app_password(r: &PgRow) -> AppPassword {
    AppPassword {
        tenant: r.get("tenant"),
        id: r.get("id"),
        user: r.get("user_name"),
        label: r.get("label"),
        hash: r.get("hash"),
        created: r.get("created"),
        last_used: r.get("last_used"),
    }
}

#[async_trait]
impl AppPasswordStore for PgStore {
    async fn create_app_password(&self, pw: &AppPassword) -> Result<(), StoreError> {
        let done = sqlx::query(
            "INSERT INTO app_passwords (tenant, id, user_name, label, hash, created, last_used) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant, id) DO NOTHING",
        )
        .bind(&pw.tenant)
        .bind(&pw.id)
        .bind(&pw.user)
        .bind(&pw.label)
        .bind(&pw.hash)
        .bind(pw.created)
        .bind(pw.last_used)
        .execute(&self.pool)
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::Exists);
        }
        Ok(())
    }

    async fn app_password(&self, tenant: &str, id: &str) -> Result<Option<AppPassword>, DbError> {
        let r = sqlx::query("SELECT * FROM app_passwords WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.as_ref().map(row_app_password))
    }

    async fn app_passwords(
        &self,
        tenant: &str,
        user: Option<&str>,
    ) -> Result<Vec<AppPassword>, DbError> {
        let rows = sqlx::query(
            "SELECT * FROM app_passwords WHERE tenant = $1 AND ($2::TEXT IS NULL OR user_name = $2) \
             ORDER BY created, user_name, id",
        )
        .bind(tenant)
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_app_password).collect())
    }

    async fn revoke_app_password(&self, tenant: &str, id: &str) -> Result<bool, DbError> {
        let done = sqlx::query("DELETE FROM app_passwords WHERE tenant = $1 AND id = $2")
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_app_passwords(&self, tenant: &str, user: &str) -> Result<u64, DbError> {
        let done = sqlx::query("DELETE FROM app_passwords WHERE tenant = $1 AND user_name = $2")
            .bind(tenant)
            .bind(user)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn touch_app_password(&self, tenant: &str, id: &str, at: i64) -> Result<(), DbError> {
        sqlx::query("UPDATE app_passwords SET last_used = $1 WHERE tenant = $2 AND id = $3")
            .bind(at)
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
