//! Who is asking: HTTP Basic credentials checked against a tenant's user list (argon2 PHC
//! hashes) or a person's app passwords, tenant resolution from `user@tenant` or the Host
//! header, login throttling, and password hashing for `crmdav hash-password`.
//!
//! Verifying argon2 costs tens of milliseconds by design, so it runs on the blocking pool, at
//! most `verify_concurrency` at once, and a successful verification is remembered as a keyed
//! SHA-256 of (tenant, user, password, stored hash) with a per-process random key: a repeated
//! request with the same credentials skips argon2, and nothing reversible is kept. An unknown
//! user or tenant is verified against a dummy hash, so the time taken does not tell whether a
//! user exists.
//!
//! A password of the app password shape (`<id>-<secret>`, see [`AppSecret`]) is looked up by
//! its id in the state store on every request, cached or not: a revoked app password (its row
//! deleted, by this process or by `crmdav app-password revoke` in another) fails at once, and
//! an id that is unknown, revoked or another person's costs one argon2 like any failure.
//!
//! `auth` uses `config` and the state store's app passwords (`store`), nothing else.

pub mod app_password;
pub mod devices;
mod throttle;

pub use app_password::AppSecret;
pub use throttle::Throttle;

use crate::config::{AuthOptions, ServerConfig, TenantConfig, TenantFrom, UserConfig};
use crate::store::{AppPassword, Store};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
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
    /// Stored paths of the CRM-backed collections this user may only read (their CRM role is
    /// read-only); filled per request by the DAV layer from the collections seam.
    pub read_only: Arc<[String]>,
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
            read_only: Arc::from(Vec::new()),
        }
    }

    /// Whether the collection at stored path `coll` is read-only for this user.
    pub fn reads_only(&self, coll: &str) -> bool {
        self.read_only.iter().any(|p| p == coll)
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
    /// The same with the parameters app passwords are hashed with, verified when an app
    /// password's id is unknown.
    app_dummy_hash: Arc<str>,
    /// Where app passwords are kept.
    store: Arc<Store>,
    /// When each app password's last use was last written, by (tenant, id).
    touched: Mutex<HashMap<(String, String), Instant>>,
    permits: tokio::sync::Semaphore,
    throttle: Throttle,
    verifications: AtomicU64,
    throttled: AtomicU64,
}

impl Authenticator {
    /// An authenticator for this configuration and the app passwords in `store`; computes the
    /// dummy hash with the parameters of the first configured user's hash (the defaults of
    /// `hash-password` without one).
    pub fn new(cfg: &ServerConfig, store: Arc<Store>) -> Self {
        let sample = cfg
            .tenants
            .iter()
            .flat_map(|t| t.users.iter())
            .filter_map(|u| u.password_hash.as_deref())
            .next();
        let file_dummy = dummy_hash(sample).unwrap_or_default().into();
        let app_dummy = dummy_hash(None).unwrap_or_default().into();
        Authenticator {
            key: rand::random(),
            ok: Mutex::new(HashSet::new()),
            dummy_hash: file_dummy,
            app_dummy_hash: app_dummy,
            store,
            touched: Mutex::new(HashMap::new()),
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
        let app_secret = AppSecret::parse(password);
        let app = match (tenant, app_secret.as_ref()) {
            (Some(t), Some(s)) => self.app_password(t, user, s).await,
            _ => None,
        };
        // What the password is checked against: the app password its id names, else the
        // tenant file's hash (a file password may have the app password shape), else a dummy.
        let (stored, checked): (Option<&str>, &str) = match (&app, &app_secret) {
            (Some(row), Some(s)) => (Some(row.hash.as_str()), s.secret()),
            _ => (user.and_then(|u| u.password_hash.as_deref()), password),
        };
        if let (Some(tenant), Some(user), Some(stored)) = (tenant, user, stored) {
            let fp = self.fingerprint(&tenant.name, &user.name, checked, stored);
            if self.ok.lock().map(|s| s.contains(&fp)).unwrap_or(false) {
                self.throttle.success(&throttle_key, client);
                self.used(app.as_ref());
                return Outcome::Authenticated(Principal::of(tenant, user));
            }
        }
        let hash: Arc<str> = match stored {
            Some(h) => h.into(),
            None if app_secret.is_some() => self.app_dummy_hash.clone(),
            None => self.dummy_hash.clone(),
        };
        let verified = self.verify(hash, checked).await;
        match (tenant, user, stored) {
            (Some(tenant), Some(user), Some(stored)) if verified => {
                let fp = self.fingerprint(&tenant.name, &user.name, checked, stored);
                if let Ok(mut s) = self.ok.lock() {
                    if s.len() > 100_000 {
                        s.clear();
                    }
                    s.insert(fp);
                }
                self.throttle.success(&throttle_key, client);
                self.used(app.as_ref());
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

    /// The app password `secret` names, if it belongs to `user` of `tenant` (None for an
    /// unknown, revoked or another person's id, and when the store fails: the login then
    /// fails like a wrong password).
    async fn app_password(
        &self,
        tenant: &TenantConfig,
        user: Option<&UserConfig>,
        secret: &AppSecret,
    ) -> Option<AppPassword> {
        let row = match self.store.app_password(&tenant.name, secret.id()).await {
            Ok(row) => row?,
            Err(e) => {
                tracing::error!(tenant = %tenant.name, error = %e, "cannot read app passwords");
                return None;
            }
        };
        (user.is_some_and(|u| u.name == row.user)).then_some(row)
    }

    /// Record an app password's use: at most once a minute per password, off the request's
    /// path (the write is spawned).
    fn used(&self, app: Option<&AppPassword>) {
        const EVERY: Duration = Duration::from_secs(60);
        let Some(app) = app else { return };
        let now = Instant::now();
        let key = (app.tenant.clone(), app.id.clone());
        {
            let Ok(mut touched) = self.touched.lock() else {
                return;
            };
            if touched
                .get(&key)
                .is_some_and(|t| now.duration_since(*t) < EVERY)
            {
                return;
            }
            if touched.len() > 100_000 {
                touched.retain(|_, t| now.duration_since(*t) < EVERY);
            }
            touched.insert(key, now);
        }
        let at = chrono::Utc::now().timestamp();
        // Another process may have written it within the minute (after a restart).
        if app
            .last_used
            .is_some_and(|t| at - t < EVERY.as_secs() as i64)
        {
            return;
        }
        let store = self.store.clone();
        let (tenant, id) = (app.tenant.clone(), app.id.clone());
        tokio::spawn(async move {
            if let Err(e) = store.touch_app_password(&tenant, &id, at).await {
                tracing::warn!(tenant = %tenant, error = %e, "cannot record an app password's use");
            }
        });
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
