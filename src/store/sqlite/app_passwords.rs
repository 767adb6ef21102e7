//! App passwords: one row per person and device, keyed by (tenant, public id).

use async_trait::async_trait;
use sqlx::Row;

use super::SqliteStore;
use crate::store::backend::{AppPasswordStore, DbError};
use crate::store::model::AppPassword;
use crate::store::StoreError;

fn row_app_password(r: &sqlx::sqlite::SqliteRow) -> AppPassword {
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
impl AppPasswordStore for SqliteStore {
    async fn create_app_password(&self, pw: &AppPassword) -> Result<(), StoreError> {
        let _w = self.write.lock().await;
        let done = sqlx::query(
            "INSERT OR IGNORE INTO app_passwords \
             (tenant, id, user_name, label, hash, created, last_used) \
             VALUES (?, ?, ?, ?, ?, ?, ?)",
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
        let r = sqlx::query("SELECT * FROM app_passwords WHERE tenant = ? AND id = ?")
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
            "SELECT * FROM app_passwords WHERE tenant = ? AND (? IS NULL OR user_name = ?) \
             ORDER BY created, user_name, id",
        )
        .bind(tenant)
        .bind(user)
        .bind(user)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(row_app_password).collect())
    }

    async fn revoke_app_password(&self, tenant: &str, id: &str) -> Result<bool, DbError> {
        let _w = self.write.lock().await;
        let done = sqlx::query("DELETE FROM app_passwords WHERE tenant = ? AND id = ?")
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn revoke_app_passwords(&self, tenant: &str, user: &str) -> Result<u64, DbError> {
        let _w = self.write.lock().await;
        let done = sqlx::query("DELETE FROM app_passwords WHERE tenant = ? AND user_name = ?")
            .bind(tenant)
            .bind(user)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    async fn touch_app_password(&self, tenant: &str, id: &str, at: i64) -> Result<(), DbError> {
        let _w = self.write.lock().await;
        sqlx::query("UPDATE app_passwords SET last_used = ? WHERE tenant = ? AND id = ?")
            .bind(at)
            .bind(tenant)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(tenant: &str, id: &str, user: &str, created: i64) -> AppPassword {
        AppPassword {
            tenant: tenant.into(),
            id: id.into(),
            user: user.into(),
            label: format!("{user}'s phone"),
            hash: "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA".into(),
            created,
            last_used: None,
        }
    }

    #[tokio::test]
    async fn app_passwords_per_tenant_and_user() {
        let s = SqliteStore::open("sqlite://:memory:").await.unwrap();
        s.create_app_password(&pw("t", "a1", "alice", 1))
            .await
            .unwrap();
        s.create_app_password(&pw("t", "a2", "alice", 2))
            .await
            .unwrap();
        s.create_app_password(&pw("t", "b1", "bob", 3))
            .await
            .unwrap();
        // The same id in another tenant is another row.
        s.create_app_password(&pw("u", "a1", "alice", 4))
            .await
            .unwrap();
        assert!(matches!(
            s.create_app_password(&pw("t", "a1", "bob", 5)).await,
            Err(StoreError::Exists)
        ));

        assert_eq!(
            s.app_password("t", "a1").await.unwrap(),
            Some(pw("t", "a1", "alice", 1))
        );
        assert_eq!(s.app_password("t", "zz").await.unwrap(), None);
        let ids = |v: Vec<AppPassword>| v.into_iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(
            ids(s.app_passwords("t", Some("alice")).await.unwrap()),
            ["a1", "a2"]
        );
        assert_eq!(
            ids(s.app_passwords("t", None).await.unwrap()),
            ["a1", "a2", "b1"]
        );
        assert_eq!(ids(s.app_passwords("u", None).await.unwrap()), ["a1"]);

        s.touch_app_password("t", "a2", 99).await.unwrap();
        assert_eq!(
            s.app_password("t", "a2").await.unwrap().unwrap().last_used,
            Some(99)
        );
        assert_eq!(
            s.app_password("u", "a1").await.unwrap().unwrap().last_used,
            None
        );

        assert!(s.revoke_app_password("t", "b1").await.unwrap());
        assert!(!s.revoke_app_password("t", "b1").await.unwrap());
        assert_eq!(s.app_password("t", "b1").await.unwrap(), None);
        assert_eq!(s.revoke_app_passwords("t", "alice").await.unwrap(), 2);
        assert!(s.app_passwords("t", None).await.unwrap().is_empty());
        assert!(
            s.app_password("u", "a1").await.unwrap().is_some(),
            "other tenant kept"
        );
    }
}
