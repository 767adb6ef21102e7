//! OAuth2 tokens kept in the state store, so rotated refresh tokens survive restarts.

use crate::connector::{StoredToken, TokenStore};
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A [`TokenStore`] over the state store's `kv` table, so rotated OAuth2 refresh tokens
/// survive restarts.
pub struct KvTokenStore {
    store: Arc<Store>,
    tenant: String,
}

impl KvTokenStore {
    /// Tokens of `tenant`.
    pub fn new(store: Arc<Store>, tenant: &str) -> Self {
        KvTokenStore {
            store,
            tenant: tenant.to_string(),
        }
    }
}

const TOKEN_KEY: &str = "crm:oauth2-token";

#[async_trait::async_trait]
impl TokenStore for KvTokenStore {
    async fn load(&self) -> Result<Option<StoredToken>, String> {
        let v = self
            .store
            .kv_get(&self.tenant, TOKEN_KEY)
            .await
            .map_err(|e| e.to_string())?;
        let Some(v) = v else { return Ok(None) };
        let j: serde_json::Value = serde_json::from_str(&v).map_err(|e| e.to_string())?;
        let s = |k: &str| j.get(k).and_then(|x| x.as_str()).map(String::from);
        Ok(Some(StoredToken {
            access_token: s("access_token"),
            refresh_token: s("refresh_token"),
            expires_at: s("expires_at")
                .and_then(|e| DateTime::parse_from_rfc3339(&e).ok())
                .map(|d| d.with_timezone(&Utc)),
            api_base: s("api_base"),
        }))
    }

    async fn save(&self, token: &StoredToken) -> Result<(), String> {
        let j = serde_json::json!({
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "expires_at": token.expires_at.map(|e| e.to_rfc3339()),
            "api_base": token.api_base,
        });
        self.store
            .kv_set(&self.tenant, TOKEN_KEY, &j.to_string())
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn tokens_survive_in_the_kv_table() {
        let store = Arc::new(Store::open("sqlite://:memory:").await.unwrap());
        let a = KvTokenStore::new(store.clone(), "a");
        assert_eq!(a.load().await.unwrap(), None);
        let tok = StoredToken {
            access_token: Some("at".into()),
            refresh_token: Some("rt-rotated".into()),
            expires_at: Some(
                DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc),
            ),
            api_base: Some("https://eu12.my.salesforce.com/".into()),
        };
        a.save(&tok).await.unwrap();
        assert_eq!(
            KvTokenStore::new(store.clone(), "a").load().await.unwrap(),
            Some(tok)
        );
        assert_eq!(
            KvTokenStore::new(store, "b").load().await.unwrap(),
            None,
            "per tenant"
        );
    }
}
