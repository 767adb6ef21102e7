//! Who is asking: HTTP Basic credentials checked against a tenant's user list (argon2 PHC
//! hashes), tenant resolution from `user@tenant` or the Host header, and password hashing for
//! `crmdav hash-password`.
//!
//! Verifying argon2 costs tens of milliseconds by design, so a successful verification is
//! remembered as a keyed SHA-256 of (tenant, user, password) with a per-process random key:
//! a repeated request with the same credentials skips argon2, and nothing reversible is kept.

use crate::config::{ServerConfig, TenantConfig, TenantFrom, UserConfig};
use argon2::{Argon2, PasswordHash, PasswordVerifier};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::Mutex;

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

/// Remembers verified credentials.
pub struct AuthCache {
    key: [u8; 32],
    ok: Mutex<HashSet<[u8; 32]>>,
}

impl Default for AuthCache {
    fn default() -> Self {
        AuthCache {
            key: rand::random(),
            ok: Mutex::new(HashSet::new()),
        }
    }
}

impl AuthCache {
    fn fingerprint(&self, tenant: &str, user: &str, password: &str, hash: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        for part in [tenant, user, password, hash] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }
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

/// Resolve the tenant and user named by a login (and Host), then verify the password.
pub fn authenticate(
    cfg: &ServerConfig,
    cache: &AuthCache,
    login: &str,
    password: &str,
    host: Option<&str>,
) -> Option<Principal> {
    let (user_name, tenant) = match login.rsplit_once('@') {
        Some((u, t)) => match cfg.tenant(t) {
            Some(tenant) => (u, tenant),
            // An email-like login name in the default tenant.
            None => (login, default_tenant(cfg, host)?),
        },
        None => (login, default_tenant(cfg, host)?),
    };
    let user = tenant.user(user_name)?;
    let fp = cache.fingerprint(&tenant.name, &user.name, password, &user.password_hash);
    if cache.ok.lock().map(|s| s.contains(&fp)).unwrap_or(false) {
        return Some(Principal::of(tenant, user));
    }
    let parsed = PasswordHash::new(&user.password_hash).ok()?;
    if Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
    {
        if let Ok(mut s) = cache.ok.lock() {
            if s.len() > 100_000 {
                s.clear();
            }
            s.insert(fp);
        }
        return Some(Principal::of(tenant, user));
    }
    None
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
