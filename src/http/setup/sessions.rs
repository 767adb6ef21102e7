//! The page's server-side state: signed-in sessions, sign-ins under way, Login Flow v2
//! grants. Each lives in the state store (`setup_state`, shared by every instance on it, so
//! sign-in works behind round robin) under the hash of a random key the browser or app holds;
//! it is bounded per kind and per client and expires. A full store refuses new entries rather
//! than evicting live ones.
//!
//! Nothing stored is usable without the random keys: a row's id is a hash of its key, and its
//! data is sealed (ChaCha20-Poly1305) under a key derived from the random key itself, or from
//! the entry's second random key (its lookup, a Login Flow's login id) with the data key
//! wrapped under the first. A copy of the state signs nobody in and reveals no app password.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::marker::PhantomData;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::store::{DbError, SetupEntry, SetupInsert, SetupKind, Store};

/// 256 random bits from the operating system, base64url: session ids, CSRF tokens, OIDC
/// `state` and `nonce`, PKCE verifiers, poll tokens.
pub fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// At most `max` characters of `s`, for log lines and pages.
pub fn bounded(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

/// Compare two secrets without an early exit.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// What the store keeps in place of a random key: SHA-256 of it, base64url.
pub fn key_id(raw: &str) -> String {
    let d = Sha256::new()
        .chain_update(b"crmdav-setup-id\0")
        .chain_update(raw.as_bytes())
        .finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d)
}

fn cipher(raw: &str) -> ChaCha20Poly1305 {
    let k = Sha256::new()
        .chain_update(b"crmdav-setup-seal\0")
        .chain_update(raw.as_bytes())
        .finalize();
    ChaCha20Poly1305::new(&k)
}

/// `plain` sealed under a key derived from the random key `raw` (a fresh nonce each time).
fn seal(raw: &str, plain: &[u8]) -> String {
    let nonce: [u8; 12] = rand::random();
    // Encrypting into a Vec cannot fail for inputs this small.
    let ct = cipher(raw)
        .encrypt(Nonce::from_slice(&nonce), plain)
        .unwrap_or_default();
    let mut out = nonce.to_vec();
    out.extend_from_slice(&ct);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(out)
}

/// What [`seal`] sealed, if `raw` is its key and nothing was altered.
fn open(raw: &str, sealed: &str) -> Option<Vec<u8>> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(sealed)
        .ok()?;
    if bytes.len() < 12 {
        return None;
    }
    let (nonce, ct) = bytes.split_at(12);
    cipher(raw).decrypt(Nonce::from_slice(nonce), ct).ok()
}

/// A stored row's body: the data sealed under the data key, which is the row's random key, or
/// the lookup key wrapped under the row's key (`wrapped`).
#[derive(Serialize, Deserialize)]
struct Body {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    wrapped: Option<String>,
    data: String,
}

/// Why an entry was not stored: the request is refused (503 or 429), nothing is written.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The kind holds its capacity of live entries.
    #[error("too many sign-ins under way; try again in a few minutes")]
    Full,
    /// This client holds its share of live entries.
    #[error("too many sign-ins under way from this address")]
    TooManyFromClient,
    /// The state store failed.
    #[error("the state store failed: {0}")]
    Store(#[from] DbError),
}

/// Who an entry belongs to and how else it is found: stored beside the sealed data.
pub struct Tags<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The person (sessions): what revoking a person removes.
    pub owner: Option<&'a str>,
    /// Who started it, for the per-client bound.
    pub client: Option<IpAddr>,
    /// A second random key the entry is found by within its tenant ([`Expiring::find`]).
    pub lookup: Option<&'a str>,
}

/// An entry found by its lookup key: what [`Expiring::update_found`] needs.
pub struct Found {
    id: String,
    lookup: String,
    body: String,
}

/// A bounded table of expiring entries of one kind under random keys, in the state store.
pub struct Expiring<V> {
    store: Arc<Store>,
    kind: SetupKind,
    capacity: u64,
    per_client: Option<u64>,
    ttl: Duration,
    _v: PhantomData<fn() -> V>,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl<V: Serialize + DeserializeOwned> Expiring<V> {
    /// Room for `capacity` entries of `kind` (and `per_client` of one client), each living
    /// `ttl` from its creation unless inserted with a shorter life.
    pub fn new(
        store: Arc<Store>,
        kind: SetupKind,
        capacity: u64,
        per_client: Option<u64>,
        ttl: Duration,
    ) -> Self {
        Expiring {
            store,
            kind,
            capacity,
            per_client,
            ttl,
            _v: PhantomData,
        }
    }

    fn data_of(&self, raw: &str, body: &str) -> Option<(String, V)> {
        let b: Body = serde_json::from_str(body).ok()?;
        let dk = match &b.wrapped {
            Some(w) => String::from_utf8(open(raw, w)?).ok()?,
            None => raw.to_string(),
        };
        let v = serde_json::from_slice(&open(&dk, &b.data)?).ok()?;
        Some((dk, v))
    }

    fn body_for(&self, raw: &str, lookup: Option<&str>, value: &V) -> Result<String, DbError> {
        let json = serde_json::to_vec(value).map_err(|e| DbError::Encode(Box::new(e)))?;
        let body = match lookup {
            Some(l) => Body {
                wrapped: Some(seal(raw, l.as_bytes())),
                data: seal(l, &json),
            },
            None => Body {
                wrapped: None,
                data: seal(raw, &json),
            },
        };
        serde_json::to_string(&body).map_err(|e| DbError::Encode(Box::new(e)))
    }

    /// Store `value` under a fresh random key, living `life` (at most the table's ttl), and
    /// return the key.
    pub async fn insert(
        &self,
        tags: Tags<'_>,
        value: &V,
        life: Option<Duration>,
    ) -> Result<String, Refusal> {
        let raw = random_token();
        let now = now_ms();
        let life = life.map_or(self.ttl, |l| l.min(self.ttl));
        let entry = SetupEntry {
            kind: self.kind,
            id: key_id(&raw),
            tenant: tags.tenant.to_string(),
            owner: tags.owner.map(str::to_string),
            client: tags.client.map(|c| c.to_string()),
            lookup: tags.lookup.map(key_id),
            body: self.body_for(&raw, tags.lookup, value)?,
            expires_ms: now.saturating_add(life.as_millis() as i64),
            used_ms: None,
        };
        match self
            .store
            .setup_insert(&entry, now, self.capacity, self.per_client)
            .await?
        {
            SetupInsert::Stored => Ok(raw),
            SetupInsert::Full => Err(Refusal::Full),
            SetupInsert::TooManyFromClient => Err(Refusal::TooManyFromClient),
        }
    }

    /// The live entry under `key` (and marks it used).
    pub async fn get(&self, key: &str) -> Result<Option<V>, DbError> {
        let id = key_id(key);
        let Some(e) = self.store.setup_get(self.kind, &id, now_ms()).await? else {
            return Ok(None);
        };
        self.store.setup_touch(self.kind, &id, now_ms()).await?;
        Ok(self.data_of(key, &e.body).map(|(_, v)| v))
    }

    /// Remove and return the live entry under `key`: single use, across instances too.
    pub async fn take(&self, key: &str) -> Result<Option<V>, DbError> {
        let e = self
            .store
            .setup_take(self.kind, &key_id(key), now_ms())
            .await?;
        Ok(e.and_then(|e| self.data_of(key, &e.body)).map(|(_, v)| v))
    }

    /// Change the live entry under `key`; false when there is none. `f` may run more than once
    /// when another instance changes the entry meanwhile.
    pub async fn update(&self, key: &str, mut f: impl FnMut(&mut V)) -> Result<bool, DbError> {
        let id = key_id(key);
        for _ in 0..8 {
            let Some(e) = self.store.setup_get(self.kind, &id, now_ms()).await? else {
                return Ok(false);
            };
            let Some((dk, mut v)) = self.data_of(key, &e.body) else {
                return Ok(false);
            };
            f(&mut v);
            let lookup = (dk != key).then_some(dk.as_str());
            let body = self.body_for(key, lookup, &v)?;
            if self
                .store
                .setup_update(self.kind, &id, &e.body, &body, now_ms())
                .await?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The live entry of `tenant` stored with this lookup key.
    pub async fn find(&self, tenant: &str, lookup: &str) -> Result<Option<(Found, V)>, DbError> {
        let e = self
            .store
            .setup_find(self.kind, tenant, &key_id(lookup), now_ms())
            .await?;
        let Some(e) = e else { return Ok(None) };
        let Some(b) = serde_json::from_str::<Body>(&e.body).ok() else {
            return Ok(None);
        };
        let v = open(lookup, &b.data).and_then(|d| serde_json::from_slice(&d).ok());
        Ok(v.map(|v| {
            let found = Found {
                id: e.id,
                lookup: lookup.to_string(),
                body: e.body,
            };
            (found, v)
        }))
    }

    /// Replace the entry [`find`](Self::find) found with `value`, unless it changed or left
    /// meanwhile (then false).
    pub async fn update_found(&self, found: &Found, value: &V) -> Result<bool, DbError> {
        let Some(mut b) = serde_json::from_str::<Body>(&found.body).ok() else {
            return Ok(false);
        };
        let json = serde_json::to_vec(value).map_err(|e| DbError::Encode(Box::new(e)))?;
        b.data = seal(&found.lookup, &json);
        let body = serde_json::to_string(&b).map_err(|e| DbError::Encode(Box::new(e)))?;
        self.store
            .setup_update(self.kind, &found.id, &found.body, &body, now_ms())
            .await
    }

    /// Remove the entry under `key`.
    pub async fn remove(&self, key: &str) -> Result<(), DbError> {
        self.store.setup_remove(self.kind, &key_id(key)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct V {
        n: u32,
        secret: String,
    }

    fn v(n: u32) -> V {
        V {
            n,
            secret: format!("password-{n}"),
        }
    }

    fn tags(client: &str) -> Tags<'_> {
        Tags {
            tenant: "t",
            owner: Some("bob"),
            client: client.parse().ok(),
            lookup: None,
        }
    }

    #[tokio::test]
    async fn bounded_single_use_expiring_and_sealed() {
        let store = Arc::new(Store::open("sqlite://:memory:").await.unwrap());
        let m = Expiring::new(
            store.clone(),
            SetupKind::SignIn,
            3,
            Some(2),
            Duration::from_secs(60),
        );
        let a = m.insert(tags("10.0.0.1"), &v(1), None).await.unwrap();
        let b = m.insert(tags("10.0.0.1"), &v(2), None).await.unwrap();
        assert!(matches!(
            m.insert(tags("10.0.0.1"), &v(3), None).await,
            Err(Refusal::TooManyFromClient)
        ));
        let c = m.insert(tags("10.0.0.2"), &v(3), None).await.unwrap();
        assert!(
            matches!(
                m.insert(tags("10.0.0.3"), &v(4), None).await,
                Err(Refusal::Full)
            ),
            "full: a live entry is not evicted"
        );
        assert_eq!(m.get(&a).await.unwrap(), Some(v(1)));
        assert_eq!(m.take(&a).await.unwrap(), Some(v(1)));
        assert_eq!(m.take(&a).await.unwrap(), None, "single use");
        assert!(m.update(&b, |x| x.n = 5).await.unwrap());
        assert_eq!(m.get(&b).await.unwrap().map(|x| x.n), Some(5));
        assert!(!m.update("unknown", |x| x.n = 6).await.unwrap());
        m.remove(&c).await.unwrap();
        assert_eq!(m.get(&c).await.unwrap(), None);
        // Stored: neither the key nor the secret, and a wrong key opens nothing.
        let row = store
            .setup_get(SetupKind::SignIn, &key_id(&b), now_ms())
            .await
            .unwrap()
            .unwrap();
        assert!(!row.id.contains(&b) && !row.body.contains("password-2"));
        assert!(m.data_of(&c, &row.body).is_none());
        // A short life expires.
        let d = m
            .insert(tags("10.0.0.4"), &v(7), Some(Duration::ZERO))
            .await
            .unwrap();
        assert_eq!(m.get(&d).await.unwrap(), None);
        assert_ne!(random_token(), random_token());
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }

    #[tokio::test]
    async fn found_by_lookup_and_opened_by_either_key() {
        let store = Arc::new(Store::open("sqlite://:memory:").await.unwrap());
        let m = Expiring::new(
            store,
            SetupKind::LoginFlow,
            10,
            None,
            Duration::from_secs(60),
        );
        let login = random_token();
        let mut t = tags("10.0.0.1");
        t.lookup = Some(&login);
        let token = m.insert(t, &v(1), None).await.unwrap();
        let (found, got) = m.find("t", &login).await.unwrap().unwrap();
        assert_eq!(got, v(1));
        assert!(m.find("other", &login).await.unwrap().is_none());
        assert!(m.update_found(&found, &v(2)).await.unwrap());
        assert!(
            !m.update_found(&found, &v(3)).await.unwrap(),
            "changed meanwhile"
        );
        assert_eq!(m.get(&token).await.unwrap(), Some(v(2)));
        assert!(m.update(&token, |x| x.n = 4).await.unwrap());
        assert_eq!(m.find("t", &login).await.unwrap().map(|x| x.1.n), Some(4));
        assert_eq!(m.take(&token).await.unwrap().map(|x| x.n), Some(4));
    }
}
