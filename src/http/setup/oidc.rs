//! The OpenID Connect relying party: discovery, the authorization request (code flow with
//! PKCE S256, `state` and `nonce`), the code exchange, and the ID token's verification
//! (signature against the provider's JWKS, `iss`, `aud`, `exp`, `nonce`).
//!
//! Every upstream URL comes from the tenant's `[oidc] issuer` and the discovery document it
//! serves, never from a request; redirects are not followed.

use crate::config::OidcConfig;
use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a discovery document and its keys are used before being fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// Why signing in with the identity provider failed.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The discovery document or the keys could not be fetched or read.
    #[error("discovery: {0}")]
    Discovery(String),
    /// The token endpoint refused the code or failed.
    #[error("token endpoint: {0}")]
    Token(String),
    /// The ID token did not verify.
    #[error("ID token: {0}")]
    IdToken(String),
}

/// The parts of a discovery document used here.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    /// Must equal the configured issuer.
    pub issuer: String,
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: String,
    /// Where the code is exchanged.
    pub token_endpoint: String,
    /// The provider's signing keys.
    pub jwks_uri: String,
}

struct Cached {
    discovery: Arc<Discovery>,
    keys: Arc<JwkSet>,
    fetched: Instant,
}

/// The relying party: an HTTP client and the discovery documents seen, by issuer.
pub struct Oidc {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
}

/// A fresh PKCE pair: the verifier (kept) and its S256 challenge (sent).
pub fn pkce() -> (String, String) {
    let verifier = super::sessions::random_token();
    let challenge = b64url(&Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `application/x-www-form-urlencoded` of the pairs.
fn form(pairs: &[(&str, &str)]) -> String {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, NON_ALPHANUMERIC),
                utf8_percent_encode(v, NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// What the authorization request carries besides the configuration.
pub struct AuthRequest<'a> {
    /// Where the provider sends the browser back.
    pub redirect_uri: &'a str,
    /// The anti-forgery value echoed back.
    pub state: &'a str,
    /// Bound into the ID token.
    pub nonce: &'a str,
    /// PKCE S256 challenge.
    pub challenge: &'a str,
}

impl Oidc {
    /// A relying party with its own HTTP client (10-second timeout, no redirects).
    pub fn new() -> Result<Self, OidcError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("crmdav/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OidcError::Discovery(format!("HTTP client: {e}")))?;
        Ok(Oidc {
            http,
            cache: Mutex::new(HashMap::new()),
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, String> {
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("{url}: HTTP {}", resp.status().as_u16()));
        }
        resp.json().await.map_err(|e| format!("{url}: {e}"))
    }

    /// The issuer's discovery document and keys, fetched at most once per hour (`refresh`
    /// forces a new fetch, for a key the cached set lacks).
    pub async fn discover(
        &self,
        cfg: &OidcConfig,
        refresh: bool,
    ) -> Result<(Arc<Discovery>, Arc<JwkSet>), OidcError> {
        if !refresh {
            if let Ok(c) = self.cache.lock() {
                if let Some(c) = c.get(&cfg.issuer) {
                    if c.fetched.elapsed() < DISCOVERY_TTL {
                        return Ok((c.discovery.clone(), c.keys.clone()));
                    }
                }
            }
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            cfg.issuer.trim_end_matches('/')
        );
        let d: Discovery = self.get_json(&url).await.map_err(OidcError::Discovery)?;
        if d.issuer.trim_end_matches('/') != cfg.issuer.trim_end_matches('/') {
            return Err(OidcError::Discovery(format!(
                "the document names issuer {:?}, not the configured one",
                d.issuer
            )));
        }
        let keys: JwkSet = self
            .get_json(&d.jwks_uri)
            .await
            .map_err(OidcError::Discovery)?;
        let (d, keys) = (Arc::new(d), Arc::new(keys));
        if let Ok(mut c) = self.cache.lock() {
            c.insert(
                cfg.issuer.clone(),
                Cached {
                    discovery: d.clone(),
                    keys: keys.clone(),
                    fetched: Instant::now(),
                },
            );
        }
        Ok((d, keys))
    }

    /// The URL the browser is sent to.
    pub fn authorize_url(
        &self,
        d: &Discovery,
        cfg: &OidcConfig,
        r: &AuthRequest<'_>,
    ) -> Result<String, OidcError> {
        let mut url = reqwest::Url::parse(&d.authorization_endpoint)
            .map_err(|e| OidcError::Discovery(format!("authorization_endpoint: {e}")))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &cfg.client_id)
            .append_pair("redirect_uri", r.redirect_uri)
            .append_pair("scope", "openid email")
            .append_pair("state", r.state)
            .append_pair("nonce", r.nonce)
            .append_pair("code_challenge", r.challenge)
            .append_pair("code_challenge_method", "S256");
        Ok(url.into())
    }

    /// Exchange the code (with the PKCE verifier) for an ID token and verify it; returns its
    /// claims.
    pub async fn sign_in(
        &self,
        cfg: &OidcConfig,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
        nonce: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, OidcError> {
        let (d, keys) = self.discover(cfg, false).await?;
        let body = form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
        ]);
        // RFC 6749 §2.3.1: client_secret_basic, each part form-encoded first.
        let enc = |s: &str| form(&[("", s)])[1..].to_string();
        let resp = self
            .http
            .post(&d.token_endpoint)
            .basic_auth(enc(&cfg.client_id), Some(enc(&cfg.client_secret)))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| OidcError::Token(e.to_string()))?;
        let status = resp.status();
        let json: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| OidcError::Token(format!("HTTP {}: {e}", status.as_u16())))?;
        if !status.is_success() {
            let error = json["error"].as_str().unwrap_or("unknown error");
            return Err(OidcError::Token(format!(
                "HTTP {}: {}",
                status.as_u16(),
                super::sessions::bounded(error, 100)
            )));
        }
        let token = json["id_token"]
            .as_str()
            .ok_or_else(|| OidcError::Token("no id_token in the answer".into()))?;
        match verify(cfg, &d, &keys, token, nonce) {
            Err(OidcError::IdToken(m)) if m.starts_with("no key") => {
                // The provider may have rotated its keys since they were fetched.
                let (d, keys) = self.discover(cfg, true).await?;
                verify(cfg, &d, &keys, token, nonce)
            }
            other => other,
        }
    }
}

/// Verify an ID token: an asymmetric signature by a key of the provider's JWKS, `iss`,
/// `aud`, `exp` (60 s leeway) and `nonce`; returns its claims.
fn verify(
    cfg: &OidcConfig,
    d: &Discovery,
    keys: &JwkSet,
    token: &str,
    nonce: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, OidcError> {
    let bad = |m: String| OidcError::IdToken(m);
    let header = jsonwebtoken::decode_header(token).map_err(|e| bad(e.to_string()))?;
    // Asymmetric signatures only: never `none`, never a MAC keyed with the client secret.
    if !matches!(
        header.alg,
        Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
            | Algorithm::ES256
            | Algorithm::ES384
            | Algorithm::EdDSA
    ) {
        return Err(bad(format!("algorithm {:?} is not accepted", header.alg)));
    }
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or_else(|| bad("no key in the provider's JWKS matches the token".into()))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| bad(e.to_string()))?;
    let mut v = Validation::new(header.alg);
    v.set_issuer(&[&d.issuer]);
    v.set_audience(&[&cfg.client_id]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.leeway = 60;
    let claims =
        jsonwebtoken::decode::<serde_json::Map<String, serde_json::Value>>(token, &key, &v)
            .map(|t| t.claims)
            .map_err(|e| bad(e.to_string()))?;
    if claims.get("nonce").and_then(|n| n.as_str()) != Some(nonce) {
        return Err(bad("the nonce does not match".into()));
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_s256_of_the_verifier() {
        let (v, c) = pkce();
        assert!(v.len() >= 43);
        assert_eq!(c, b64url(&Sha256::digest(v.as_bytes())));
        assert_ne!(pkce().0, v);
    }

    /// An ES256 key pair from ring, its JWKS, and a token signer.
    fn es256() -> (JwkSet, impl Fn(&serde_json::Value) -> String) {
        use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwks: JwkSet = serde_json::from_value(serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": b64url(&point[1..33]), "y": b64url(&point[33..65]),
        }]}))
        .unwrap();
        let key = jsonwebtoken::EncodingKey::from_ec_der(pkcs8.as_ref());
        let sign = move |claims: &serde_json::Value| {
            let mut h = jsonwebtoken::Header::new(Algorithm::ES256);
            h.kid = Some("k1".into());
            jsonwebtoken::encode(&h, claims, &key).unwrap()
        };
        (jwks, sign)
    }

    #[test]
    fn id_tokens_are_verified() {
        let cfg: OidcConfig = toml::from_str(
            "issuer = \"https://idp\"\nclient_id = \"crmdav\"\nclient_secret = \"s\"\npublic_url = \"https://dav\"",
        )
        .unwrap();
        let d = Discovery {
            issuer: "https://idp".into(),
            authorization_endpoint: "https://idp/auth".into(),
            token_endpoint: "https://idp/token".into(),
            jwks_uri: "https://idp/jwks".into(),
        };
        let (jwks, sign) = es256();
        let now = chrono::Utc::now().timestamp();
        let good = serde_json::json!({"iss": "https://idp", "aud": "crmdav", "sub": "a",
            "exp": now + 300, "nonce": "n1", "email": "a@x"});
        let claims = verify(&cfg, &d, &jwks, &sign(&good), "n1").unwrap();
        assert_eq!(claims["email"], "a@x");
        let with = |k: &str, v: serde_json::Value| {
            let mut c = good.clone();
            c[k] = v;
            sign(&c)
        };
        for (what, token) in [
            ("audience", with("aud", "other".into())),
            ("issuer", with("iss", "https://evil".into())),
            ("expiry", with("exp", (now - 3600).into())),
        ] {
            assert!(verify(&cfg, &d, &jwks, &token, "n1").is_err(), "{what}");
        }
        let e = verify(&cfg, &d, &jwks, &sign(&good), "n2").unwrap_err();
        assert!(e.to_string().contains("nonce"), "{e}");
        // A MAC keyed with the client secret, and an unsigned token, are refused.
        let hs = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &good,
            &jsonwebtoken::EncodingKey::from_secret(b"s"),
        )
        .unwrap();
        assert!(verify(&cfg, &d, &jwks, &hs, "n1")
            .unwrap_err()
            .to_string()
            .contains("algorithm"));
        let parts: Vec<&str> = hs.split('.').collect();
        let none = format!("{}.{}.", b64url(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert!(verify(&cfg, &d, &jwks, &none, "n1").is_err());
        // A token whose signature was tampered with: the signature's first character carries
        // six bits of data (the last one may carry only padding bits a decoder ignores).
        let t = sign(&good);
        let at = t.rfind('.').unwrap() + 1;
        let first = if t[at..].starts_with('A') { "B" } else { "A" };
        let t = format!("{}{first}{}", &t[..at], &t[at + 1..]);
        assert!(verify(&cfg, &d, &jwks, &t, "n1").is_err());
    }

    #[test]
    fn form_encoding() {
        assert_eq!(form(&[("a b", "c&d=é")]), "a%20b=c%26d%3D%C3%A9");
    }
}
