//! The per-tenant key-value table.

use async_trait::async_trait;

use super::SqliteStore;
use crate::store::backend::{DbError, KvStore};

#[async_trait]
impl KvStore for SqliteStore {
    async fn kv_get(&self, tenant: &str, key: &str) -> Result<Option<String>, DbError> {
        sqlx::query_scalar("SELECT value FROM kv WHERE tenant = ? AND key = ?")
            .bind(tenant)
            .bind(key)
            .fetch_optional(&self.pool)
            .await
    }

    async fn kv_set(&self, tenant: &str, key: &str, value: &str) -> Result<(), DbError> {
        let _w = self.write.lock().await;
        sqlx::query("INSERT OR REPLACE INTO kv (tenant, key, value) VALUES (?, ?, ?)")
            .bind(tenant)
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn kv_delete(&self, tenant: &str, key: &str) -> Result<(), DbError> {
        let _w = self.write.lock().await;
        sqlx::query("DELETE FROM kv WHERE tenant = ? AND key = ?")
            .bind(tenant)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
