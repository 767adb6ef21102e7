//! The per-tenant key-value table.

use async_trait::async_trait;

use super::PgStore;
use crate::store::backend::{DbError, KvStore};

#[async_trait]
impl KvStore for PgStore {
    async fn kv_get(&self, tenant: &str, key: &str) -> Result<Option<String>, DbError> {
        sqlx::query_scalar("SELECT value FROM kv WHERE tenant = $1 AND key = $2")
            .bind(tenant)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
    }

    async fn kv_set(&self, tenant: &str, key: &str, value: &str) -> Result<(), DbError> {
        sqlx::query(
            "INSERT INTO kv (tenant, key, value) VALUES ($1, $2, $3) \
             ON CONFLICT (tenant, key) DO UPDATE SET value = EXCLUDED.value",
        )
        .bind(tenant)
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn kv_delete(&self, tenant: &str, key: &str) -> Result<(), DbError> {
        sqlx::query("DELETE FROM kv WHERE tenant = $1 AND key = $2")
            .bind(tenant)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
