//! OAuth2 tokens kept in the state store, so rotated refresh tokens survive restarts; sealed
//! with the server's `secrets_key` when one is configured (`crm::sealed`), so a copy of the
//! state file alone holds no live CRM credential.

use super::sealed::{is_sealed, SealError, Sealer};
use crate::config::{ConnectorKind, ServerConfig};
use crate::connector::{StoredToken, TokenStore};
use crate::store::{Lease, Store};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A [`TokenStore`] over the state store's `kv` table, so rotated OAuth2 refresh tokens
/// survive restarts. With a sealer, values are written encrypted, and a plaintext value (from
/// before a key was configured) is rewritten encrypted the first time it is read.
pub struct KvTokenStore {
    store: Arc<Store>,
    tenant: String,
    sealer: Option<Arc<Sealer>>,
    /// The `kv` key of the token.
    key: String,
    /// The lease one refresh at a time takes (across instances).
    lock_key: String,
    /// A person's token: never written without a sealer.
    personal: Option<String>,
}

impl KvTokenStore {
    /// Tokens of `tenant`, sealed with `sealer` when there is one.
    pub fn new(store: Arc<Store>, tenant: &str, sealer: Option<Arc<Sealer>>) -> Self {
        KvTokenStore {
            store,
            tenant: tenant.to_string(),
            sealer,
            key: TOKEN_KEY.to_string(),
            lock_key: format!("oauth:{tenant}"),
            personal: None,
        }
    }

    /// The CRM OAuth tokens `person` connected on the sign-in page: a key per tenant and
    /// person, one refresh at a time per person, and refused to be stored at all without a
    /// `sealer` (a person's CRM credential is never kept in the clear).
    pub fn personal(
        store: Arc<Store>,
        tenant: &str,
        person: &str,
        sealer: Option<Arc<Sealer>>,
    ) -> Self {
        KvTokenStore {
            store,
            tenant: tenant.to_string(),
            sealer,
            key: format!("{TOKEN_KEY}:person:{person}"),
            lock_key: format!("oauth:{tenant}:person:{person}"),
            personal: Some(person.to_string()),
        }
    }

    fn refused(&self, e: SealError) -> String {
        format!(
            "tenant {}: the stored CRM token cannot be read: {e}",
            self.tenant
        )
    }
}

const TOKEN_KEY: &str = "crm:oauth2-token";

/// Delete the CRM OAuth tokens `person` of `tenant` connected on the sign-in page (`crmdav
/// revoke --all`); true when there were any. Instances that hold the access token in memory
/// keep it until it expires; the refresh token is gone for all of them.
pub async fn forget_personal_tokens(
    store: &Store,
    tenant: &str,
    person: &str,
) -> Result<bool, crate::store::DbError> {
    let key = format!("{TOKEN_KEY}:person:{person}");
    let had = store.kv_get(tenant, &key).await?.is_some();
    store.kv_delete(tenant, &key).await?;
    Ok(had)
}

/// How long one instance's token refresh may hold the others off (a crashed holder's lease
/// runs out after this).
const REFRESH_LEASE_MS: i64 = 30_000;

/// How long a token refresh waits for another instance's.
const REFRESH_WAIT: std::time::Duration = std::time::Duration::from_secs(35);

/// At start: read every CRM tenant's stored token once, so one written without a key is
/// sealed now, and a tenant whose token does not open (wrong key, no key) is named in the log
/// at once rather than at its first sync. That tenant's syncs then fail with the same error;
/// the other tenants are served.
pub async fn check_stored_tokens(cfg: &ServerConfig, store: &Arc<Store>) {
    let sealer = cfg.secrets_key.as_ref().map(|k| Arc::new(Sealer::new(k)));
    let crm = cfg
        .tenants
        .iter()
        .filter(|t| matches!(t.connector, ConnectorKind::Rest { .. }));
    for t in crm {
        let ts = KvTokenStore::new(store.clone(), &t.name, sealer.clone());
        if let Err(e) = ts.load().await {
            tracing::error!(tenant = %t.name, error = %e, "CRM token unusable");
        }
    }
}

fn parse(v: &str) -> Result<StoredToken, String> {
    let j: serde_json::Value = serde_json::from_str(v).map_err(|e| e.to_string())?;
    let s = |k: &str| j.get(k).and_then(|x| x.as_str()).map(String::from);
    Ok(StoredToken {
        access_token: s("access_token"),
        refresh_token: s("refresh_token"),
        expires_at: s("expires_at")
            .and_then(|e| DateTime::parse_from_rfc3339(&e).ok())
            .map(|d| d.with_timezone(&Utc)),
        api_base: s("api_base"),
    })
}

#[async_trait::async_trait]
impl TokenStore for KvTokenStore {
    async fn load(&self) -> Result<Option<StoredToken>, String> {
        let v = self
            .store
            .kv_get(&self.tenant, &self.key)
            .await
            .map_err(|e| e.to_string())?;
        let Some(v) = v else { return Ok(None) };
        let token = match (&self.sealer, is_sealed(&v)) {
            (Some(s), true) => parse(
                &s.open(&self.tenant, &self.key, &v)
                    .map_err(|e| self.refused(e))?,
            )?,
            (None, true) => return Err(self.refused(SealError::NoKey)),
            (Some(_), false) => {
                // Written before a key was configured: seal it now, and push the sealed page
                // into the main file so the clear one does not stay in a copy of it.
                let t = parse(&v)?;
                self.save(&t).await?;
                self.store.flush().await.map_err(|e| e.to_string())?;
                tracing::info!(tenant = %self.tenant, "CRM token in the state store encrypted");
                t
            }
            (None, false) => parse(&v)?,
        };
        Ok(Some(token))
    }

    async fn lock_refresh(&self) -> Result<(), String> {
        let key = &self.lock_key;
        let started = std::time::Instant::now();
        loop {
            let now = super::lease::now();
            // Never "done": each refresh takes the lease; the token itself says whether it is
            // still good (the caller re-reads it under the lease).
            match self
                .store
                .lease_claim(key, super::lease::holder(), now, REFRESH_LEASE_MS, i64::MAX)
                .await
            {
                Ok(Lease::Claimed) => return Ok(()),
                Ok(_) if started.elapsed() < REFRESH_WAIT => {
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await
                }
                Ok(_) => {
                    return Err(format!(
                        "tenant {}: another instance has been refreshing the CRM token for {}s",
                        self.tenant,
                        REFRESH_WAIT.as_secs()
                    ))
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    async fn unlock_refresh(&self) {
        if let Err(e) = self
            .store
            .lease_release(&self.lock_key, super::lease::holder(), None)
            .await
        {
            tracing::warn!(tenant = %self.tenant, error = %e, "the CRM token lease could not be released; it runs out");
        }
    }

    async fn save(&self, token: &StoredToken) -> Result<(), String> {
        let j = serde_json::json!({
            "access_token": token.access_token,
            "refresh_token": token.refresh_token,
            "expires_at": token.expires_at.map(|e| e.to_rfc3339()),
            "api_base": token.api_base,
        })
        .to_string();
        let value = match (&self.sealer, &self.personal) {
            (Some(s), _) => s
                .seal(&self.tenant, &self.key, &j)
                .map_err(|e| self.refused(e))?,
            (None, Some(person)) => {
                return Err(format!(
                    "tenant {}: {person}'s CRM tokens are not stored: no secrets_key is configured (a person's CRM credential is never kept unencrypted; set secrets_key in the server file)",
                    self.tenant
                ))
            }
            (None, None) => j,
        };
        self.store
            .kv_set(&self.tenant, &self.key, &value)
            .await
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SecretsKey;

    fn token(refresh: &str) -> StoredToken {
        StoredToken {
            access_token: Some("at-live-access".into()),
            refresh_token: Some(refresh.into()),
            expires_at: Some(
                DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
                    .unwrap()
                    .with_timezone(&Utc),
            ),
            api_base: Some("https://eu12.my.salesforce.com/".into()),
        }
    }

    fn sealer(byte: u8) -> Option<Arc<Sealer>> {
        let key = SecretsKey::parse(&hex::encode([byte; 32])).unwrap();
        Some(Arc::new(Sealer::new(&key)))
    }

    #[tokio::test]
    async fn tokens_survive_in_the_kv_table() {
        let store = Arc::new(Store::open("sqlite://:memory:").await.unwrap());
        let a = KvTokenStore::new(store.clone(), "a", None);
        assert_eq!(a.load().await.unwrap(), None);
        let tok = token("rt-rotated");
        a.save(&tok).await.unwrap();
        assert_eq!(
            KvTokenStore::new(store.clone(), "a", None)
                .load()
                .await
                .unwrap(),
            Some(tok)
        );
        assert_eq!(
            KvTokenStore::new(store, "b", None).load().await.unwrap(),
            None,
            "per tenant"
        );
    }

    /// Every byte SQLite writes after saving a token with `sealer` (the file and its log).
    async fn state_bytes_after_saving(refresh: &str, sealer: Option<Arc<Sealer>>) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let store = Arc::new(
            Store::open(&format!("sqlite://{}", db.display()))
                .await
                .unwrap(),
        );
        let ts = KvTokenStore::new(store.clone(), "acme", sealer);
        ts.save(&token(refresh)).await.unwrap();
        assert_eq!(ts.load().await.unwrap(), Some(token(refresh)));
        drop(ts);
        drop(store);
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        bytes
    }

    /// A token written in the clear, then sealed by a keyed read, leaves no clear bytes.
    #[tokio::test]
    async fn sealing_an_old_plaintext_token_leaves_no_trace_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("state.db").display());
        let refresh = "rt-OLD-plaintext-93ab1e";
        let store = Arc::new(Store::open(&url).await.unwrap());
        KvTokenStore::new(store.clone(), "acme", None)
            .save(&token(refresh))
            .await
            .unwrap();
        drop(store);
        let store = Arc::new(Store::open(&url).await.unwrap());
        let keyed = KvTokenStore::new(store.clone(), "acme", sealer(1));
        assert_eq!(keyed.load().await.unwrap(), Some(token(refresh)));
        drop(keyed);
        drop(store);
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(dir.path()).unwrap() {
            bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        assert!(
            !contains(&bytes, refresh),
            "the old token is still in the file"
        );
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    /// A copy of the state file alone holds no live CRM credential.
    #[tokio::test]
    async fn with_a_key_the_state_file_holds_no_token_bytes() {
        let refresh = "rt-SECRET-refresh-4f9a2c";
        // Without a key the bytes are there: the scan below looks at the right place.
        let clear = state_bytes_after_saving(refresh, None).await;
        assert!(contains(&clear, refresh));
        let sealed = state_bytes_after_saving(refresh, sealer(1)).await;
        for secret in [refresh, "at-live-access"] {
            assert!(
                !contains(&sealed, secret),
                "{secret} found in the state file"
            );
        }
    }

    #[tokio::test]
    async fn plaintext_is_sealed_on_first_read_and_a_wrong_key_is_an_error() {
        let store = Arc::new(Store::open("sqlite://:memory:").await.unwrap());
        // Written by a version (or a configuration) without a key.
        KvTokenStore::new(store.clone(), "acme", None)
            .save(&token("rt-old"))
            .await
            .unwrap();
        let raw = store.kv_get("acme", TOKEN_KEY).await.unwrap().unwrap();
        assert!(raw.contains("rt-old"));

        let keyed = KvTokenStore::new(store.clone(), "acme", sealer(1));
        assert_eq!(keyed.load().await.unwrap(), Some(token("rt-old")));
        let raw = store.kv_get("acme", TOKEN_KEY).await.unwrap().unwrap();
        assert!(
            is_sealed(&raw) && !raw.contains("rt-old"),
            "rewritten: {raw}"
        );
        assert_eq!(keyed.load().await.unwrap(), Some(token("rt-old")));

        let e = KvTokenStore::new(store.clone(), "acme", sealer(2))
            .load()
            .await
            .unwrap_err();
        assert!(
            e.contains("tenant acme") && e.contains("secrets_key"),
            "{e}"
        );
        let e = KvTokenStore::new(store.clone(), "acme", None)
            .load()
            .await
            .unwrap_err();
        assert!(e.contains("no secrets_key is configured"), "{e}");
        // A sealed value copied to another tenant does not open there.
        store.kv_set("other", TOKEN_KEY, &raw).await.unwrap();
        assert!(KvTokenStore::new(store, "other", sealer(1))
            .load()
            .await
            .is_err());
    }

    /// A person's tokens: a key of their own, never stored without a key to seal them, and
    /// never readable as another person's or the tenant's.
    #[tokio::test]
    async fn a_persons_tokens_are_sealed_and_their_own() {
        let store = Arc::new(Store::open("sqlite://:memory:").await.unwrap());
        let e = KvTokenStore::personal(store.clone(), "acme", "alice", None)
            .save(&token("rt-alice"))
            .await
            .unwrap_err();
        assert!(e.contains("alice") && e.contains("no secrets_key"), "{e}");
        assert_eq!(
            store
                .kv_get("acme", "crm:oauth2-token:person:alice")
                .await
                .unwrap(),
            None
        );

        let alice = KvTokenStore::personal(store.clone(), "acme", "alice", sealer(1));
        alice.save(&token("rt-alice")).await.unwrap();
        assert_eq!(alice.load().await.unwrap(), Some(token("rt-alice")));
        let raw = store
            .kv_get("acme", "crm:oauth2-token:person:alice")
            .await
            .unwrap()
            .unwrap();
        assert!(is_sealed(&raw) && !raw.contains("rt-alice"));
        for other in [
            KvTokenStore::personal(store.clone(), "acme", "bob", sealer(1)),
            KvTokenStore::new(store.clone(), "acme", sealer(1)),
        ] {
            assert_eq!(other.load().await.unwrap(), None);
        }
        // Alice's sealed value copied under bob's key does not open.
        store
            .kv_set("acme", "crm:oauth2-token:person:bob", &raw)
            .await
            .unwrap();
        assert!(
            KvTokenStore::personal(store.clone(), "acme", "bob", sealer(1))
                .load()
                .await
                .is_err()
        );
    }
}
