//! The page's server-side state: signed-in sessions, sign-ins under way, Login Flow v2
//! grants. Each lives in a bounded in-memory map under a random key and expires; a full map
//! refuses new entries rather than evicting live ones. A restart signs everyone out, which a
//! fifteen-minute session can afford.

use base64::Engine;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// The map is full: the request is refused (503) rather than a live entry dropped.
#[derive(Debug, thiserror::Error)]
#[error("too many sign-ins under way; try again in a few minutes")]
pub struct Full;

/// A bounded map of expiring entries under random keys.
pub struct Expiring<V> {
    map: Mutex<HashMap<String, (Instant, V)>>,
    capacity: usize,
    ttl: Duration,
}

impl<V: Clone> Expiring<V> {
    /// Room for `capacity` entries, each living `ttl` from its creation.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Expiring {
            map: Mutex::new(HashMap::new()),
            capacity,
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, V)>> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Store `value` under a fresh random key and return the key.
    pub fn insert(&self, value: V) -> Result<String, Full> {
        let mut m = self.lock();
        let now = Instant::now();
        if m.len() >= self.capacity {
            m.retain(|_, (exp, _)| *exp > now);
        }
        if m.len() >= self.capacity {
            return Err(Full);
        }
        let key = random_token();
        m.insert(key.clone(), (now + self.ttl, value));
        Ok(key)
    }

    /// The live entry under `key`.
    pub fn get(&self, key: &str) -> Option<V> {
        let mut m = self.lock();
        match m.get(key) {
            Some((exp, v)) if *exp > Instant::now() => Some(v.clone()),
            Some(_) => {
                m.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remove and return the live entry under `key` (single use).
    pub fn take(&self, key: &str) -> Option<V> {
        let (exp, v) = self.lock().remove(key)?;
        (exp > Instant::now()).then_some(v)
    }

    /// Change the live entry under `key`; false when there is none.
    pub fn update(&self, key: &str, f: impl FnOnce(&mut V)) -> bool {
        let mut m = self.lock();
        match m.get_mut(key) {
            Some((exp, v)) if *exp > Instant::now() => {
                f(v);
                true
            }
            _ => false,
        }
    }

    /// The key and value of the first live entry matching `pred`.
    pub fn find(&self, pred: impl Fn(&V) -> bool) -> Option<(String, V)> {
        let now = Instant::now();
        self.lock()
            .iter()
            .find(|(_, (exp, v))| *exp > now && pred(v))
            .map(|(k, (_, v))| (k.clone(), v.clone()))
    }

    /// How many live entries match `pred`.
    pub fn count(&self, pred: impl Fn(&V) -> bool) -> usize {
        let now = Instant::now();
        self.lock()
            .values()
            .filter(|(exp, v)| *exp > now && pred(v))
            .count()
    }

    /// Remove the entry under `key`.
    pub fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    /// Make every entry expire now (tests of expiry).
    #[cfg(test)]
    pub fn expire_all(&self) {
        let now = Instant::now();
        for (exp, _) in self.lock().values_mut() {
            *exp = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_single_use_and_expiring() {
        let m = Expiring::new(2, Duration::from_secs(60));
        let a = m.insert(1).unwrap();
        let b = m.insert(2).unwrap();
        assert!(m.insert(3).is_err(), "full: a live entry is not evicted");
        assert_eq!(m.get(&a), Some(1));
        assert_eq!(m.take(&a), Some(1));
        assert_eq!(m.take(&a), None, "single use");
        assert!(m.update(&b, |v| *v = 5));
        assert_eq!(m.find(|v| *v == 5).map(|(k, _)| k), Some(b.clone()));
        assert_eq!(m.count(|v| *v == 5), 1);
        m.expire_all();
        assert_eq!(m.get(&b), None);
        assert!(
            m.insert(4).is_ok() && m.insert(5).is_ok(),
            "expired entries make room"
        );
        assert_ne!(random_token(), random_token());
        assert!(same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("a", "ab"));
    }
}
