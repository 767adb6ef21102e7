//! Who is asking: HTTP Basic credentials checked against a tenant's user list (argon2 PHC
//! hashes), tenant resolution from `user@tenant` or the Host header, login throttling, and
//! password hashing for `crmdav hash-password`.
//!
//! Verifying argon2 costs tens of milliseconds by design, so it runs on the blocking pool, at
//! most `verify_concurrency` at once, and a successful verification is remembered as a keyed
//! SHA-256 of (tenant, user, password) with a per-process random key: a repeated request with
//! the same credentials skips argon2, and nothing reversible is kept. An unknown user or
//! tenant is verified against a dummy hash, so the time taken does not tell whether a user
//! exists.

mod throttle;

pub use throttle::Throttle;

use crate::config::{AuthOptions, ServerConfig, TenantConfig, TenantFrom, UserConfig};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Who is asking: an authenticated user of a tenant. Owned, so work that outlives the request
/// handler (a streamed response) can keep it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant's name.
    pub tenant: String,
    /// The user.
    pub user: User,
}

/// What the DAV layer shows of a user (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Login name (without `@tenant`), also the principal's URL segment.
    pub name: String,
    /// Display name of the principal.
    pub display_name: Option<String>,
    /// Email used as `calendar-user-address-set` (mailto:).
    pub email: Option<String>,
}

impl Principal {
    fn of(tenant: &TenantConfig, user: &UserConfig) -> Self {
        Principal {
            tenant: tenant.name.clone(),
            user: User {
                name: user.name.clone(),
                display_name: user.display_name.clone(),
                email: user.email.clone(),
            },
        }
    }

    /// The display name of principal `user`: a user reaches only their own principal, so only
    /// their own is known.
    pub fn display_name_of(&self, user: &str) -> Option<&str> {
        (self.user.name == user)
            .then_some(self.user.display_name.as_deref())
            .flatten()
    }
}

/// The result of checking a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The password is right.
    Authenticated(Principal),
    /// Unknown user or tenant, or a wrong password (the tenant, when the login names one).
    Failed {
        /// The tenant's name.
        tenant: Option<String>,
    },
    /// Too many recent failures: refused without verifying, for `retry_after`.
    Throttled {
        /// How long the refusal lasts.
        retry_after: Duration,
        /// The tenant's name, when the login names one.
        tenant: Option<String>,
    },
}

/// Checks credentials: the throttle, the cache of verified credentials, argon2 on the
/// blocking pool with bounded concurrency, and a dummy hash for unknown users.
pub struct Authenticator {
    key: [u8; 32],
    ok: Mutex<HashSet<[u8; 32]>>,
    /// A hash of a random password, verified when the user is unknown.
    dummy_hash: Arc<str>,
    permits: tokio::sync::Semaphore,
    throttle: Throttle,
    verifications: AtomicU64,
    throttled: AtomicU64,
}

impl Authenticator {
    /// An authenticator for this configuration; computes the dummy hash with the parameters
    /// of the first configured user's hash (the defaults of `hash-password` without one).
    pub fn new(cfg: &ServerConfig) -> Self {
        let sample = cfg
            .tenants
            .iter()
            .flat_map(|t| t.users.iter())
            .map(|u| u.password_hash.as_str())
            .next();
        let dummy_hash = dummy_hash(sample).unwrap_or_default().into();
        Authenticator {
            key: rand::random(),
            ok: Mutex::new(HashSet::new()),
            dummy_hash,
            permits: tokio::sync::Semaphore::new(verify_concurrency(&cfg.auth)),
            throttle: Throttle::new(&cfg.auth),
            verifications: AtomicU64::new(0),
            throttled: AtomicU64::new(0),
        }
    }

    /// Password verifications run so far (argon2 calls, known user or not).
    pub fn verifications(&self) -> u64 {
        self.verifications.load(Ordering::Relaxed)
    }

    /// Attempts refused by the throttle so far.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Keys the throttle remembers.
    pub fn throttle_entries(&self) -> usize {
        self.throttle.len()
    }

    fn fingerprint(&self, tenant: &str, user: &str, password: &str, hash: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        for part in [tenant, user, password, hash] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }

    /// Resolve the tenant and user named by a login (and Host), then verify the password,
    /// unless `client` (or this login) is throttled.
    pub async fn authenticate(
        &self,
        cfg: &ServerConfig,
        login: &str,
        password: &str,
        host: Option<&str>,
        client: IpAddr,
    ) -> Outcome {
        let (user_name, tenant) = resolve(cfg, login, host);
        let user = tenant.and_then(|t| t.user(user_name));
        let throttle_key = match tenant {
            Some(t) => format!("{}/{}", t.name, bounded(user_name, 128)),
            None => format!("?/{}", bounded(login, 128)),
        };
        let now = Instant::now();
        if let Some(wait) = self.throttle.blocked(&throttle_key, client, now) {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            return Outcome::Throttled {
                retry_after: wait,
                tenant: tenant.map(|t| t.name.clone()),
            };
        }
        if let (Some(tenant), Some(user)) = (tenant, user) {
            let fp = self.fingerprint(&tenant.name, &user.name, password, &user.password_hash);
            if self.ok.lock().map(|s| s.contains(&fp)).unwrap_or(false) {
                self.throttle.success(&throttle_key, client);
                return Outcome::Authenticated(Principal::of(tenant, user));
            }
        }
        let hash: Arc<str> = match user {
            Some(u) => u.password_hash.as_str().into(),
            None => self.dummy_hash.clone(),
        };
        let verified = self.verify(hash, password).await;
        match (tenant, user) {
            (Some(tenant), Some(user)) if verified => {
                let fp = self.fingerprint(&tenant.name, &user.name, password, &user.password_hash);
                if let Ok(mut s) = self.ok.lock() {
                    if s.len() > 100_000 {
                        s.clear();
                    }
                    s.insert(fp);
                }
                self.throttle.success(&throttle_key, client);
                Outcome::Authenticated(Principal::of(tenant, user))
            }
            _ => {
                self.throttle.failure(&throttle_key, client, Instant::now());
                Outcome::Failed {
                    tenant: tenant.map(|t| t.name.clone()),
                }
            }
        }
    }

    /// argon2 on the blocking pool, at most `verify_concurrency` at once.
    async fn verify(&self, hash: Arc<str>, password: &str) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        self.verifications.fetch_add(1, Ordering::Relaxed);
        let password = password.to_string();
        tokio::task::spawn_blocking(move || {
            let Ok(parsed) = PasswordHash::new(&hash) else {
                return false;
            };
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .await
        .unwrap_or(false)
    }
}

/// `verify_concurrency`, with 0 meaning the number of cores.
fn verify_concurrency(opts: &AuthOptions) -> usize {
    match opts.verify_concurrency {
        0 => std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2),
        n => n,
    }
}

/// A hash of a random password with the parameters of `sample` (a PHC string), or the
/// defaults when there is none or it does not parse.
fn dummy_hash(sample: Option<&str>) -> Option<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    use argon2::{Algorithm, Params, Version};
    let hasher = sample
        .and_then(|s| PasswordHash::new(s).ok())
        .and_then(|h| {
            let alg = Algorithm::try_from(h.algorithm).ok()?;
            let version = h.version.and_then(|v| Version::try_from(v).ok())?;
            let params = Params::try_from(&h).ok()?;
            Some(Argon2::new(alg, version, params))
        })
        .unwrap_or_default();
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).ok()?;
    let password: [u8; 32] = rand::random();
    Some(hasher.hash_password(&password, &salt).ok()?.to_string())
}

/// A login as it may appear in a log line: control characters replaced, at most `max` chars.
pub fn bounded(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Parse `Authorization: Basic ...` into (login, password).
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (u, p) = s.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

/// The user name and tenant a login names (the tenant is `None` when none matches).
fn resolve<'a, 'l>(
    cfg: &'a ServerConfig,
    login: &'l str,
    host: Option<&str>,
) -> (&'l str, Option<&'a TenantConfig>) {
    match login.rsplit_once('@') {
        Some((u, t)) => match cfg.tenant(t) {
            Some(tenant) => (u, Some(tenant)),
            // An email-like login name in the default tenant.
            None => (login, default_tenant(cfg, host)),
        },
        None => (login, default_tenant(cfg, host)),
    }
}

fn default_tenant<'a>(cfg: &'a ServerConfig, host: Option<&str>) -> Option<&'a TenantConfig> {
    if cfg.tenant_from == TenantFrom::Host {
        if let Some(h) = host {
            let h = h.rsplit_once(':').map(|(a, _)| a).unwrap_or(h);
            if let Some(t) = cfg
                .tenants
                .iter()
                .find(|t| t.hosts.iter().any(|x| x.eq_ignore_ascii_case(h)))
            {
                return Some(t);
            }
        }
    }
    match &cfg.default_tenant {
        Some(d) => cfg.tenant(d),
        None if cfg.tenants.len() == 1 => cfg.tenants.first(),
        None => None,
    }
}

/// Hash a password for a tenant file (argon2id, random salt, PHC string).
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&bytes)?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_header() {
        assert_eq!(
            parse_basic("Basic ZGVtbzpkZW1v"),
            Some(("demo".into(), "demo".into()))
        );
        assert_eq!(parse_basic("Bearer x"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
    }

    #[test]
    fn the_dummy_hash_has_the_parameters_of_the_configured_ones() {
        let sample = "$argon2id$v=19$m=8192,t=3,p=1$d6F8Dc0t1M+DLaQVU8ljjw$6t6WTUWFCaJPYHcC92PFeYHpDChoGZua6yjoTk8hBQs";
        let dummy = dummy_hash(Some(sample)).unwrap();
        assert!(
            dummy.starts_with("$argon2id$v=19$m=8192,t=3,p=1$"),
            "{dummy}"
        );
        let default = dummy_hash(None).unwrap();
        assert!(
            default.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{default}"
        );
    }

    #[test]
    fn logins_are_bounded_for_logs() {
        assert_eq!(bounded("a\u{0}b\nc", 64), "a?b?c");
        assert_eq!(bounded(&"x".repeat(500), 64).len(), 64);
    }

    #[test]
    fn hash_and_verify() {
        let h = hash_password("s3cret").unwrap();
        let parsed = PasswordHash::new(&h).unwrap();
        assert!(Argon2::default()
            .verify_password(b"s3cret", &parsed)
            .is_ok());
        assert!(Argon2::default()
            .verify_password(b"other", &parsed)
            .is_err());
    }
}
