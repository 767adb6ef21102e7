//! CRM credentials sealed at rest: ChaCha20-Poly1305 with the server's `secrets_key`, a random
//! nonce per write, and (tenant, key name) as associated data, so a sealed value copied to
//! another tenant or key does not open. A sealed value reads
//! `sealed:v1:<base64url(nonce ‖ ciphertext)>`; anything else is a plaintext value written
//! without a key (or by an older version).

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};

use crate::config::SecretsKey;

const PREFIX: &str = "sealed:v1:";
const NONCE_LEN: usize = 12;

/// Why a sealed value did not open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Sealed, but no `secrets_key` is configured.
    #[error("it is encrypted and no secrets_key is configured")]
    NoKey,
    /// The key is not the one it was sealed with, or the value was altered or moved from
    /// another tenant or key.
    #[error(
        "it does not decrypt with the configured secrets_key (another key, or a value altered \
         or copied from another tenant)"
    )]
    WrongKey,
    /// Not a sealed value of a form this version writes.
    #[error("it is not a well-formed sealed value")]
    Malformed,
    /// Sealing failed (never in practice).
    #[error("encryption failed")]
    Seal,
}

/// Seals and opens values with one key.
pub struct Sealer {
    cipher: ChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

/// The associated data: both parts length-prefixed, so no two (tenant, name) pairs collide.
fn aad(tenant: &str, name: &str) -> Vec<u8> {
    let mut v = b"crmdav-sealed-v1".to_vec();
    for part in [tenant, name] {
        v.extend_from_slice(&(part.len() as u64).to_be_bytes());
        v.extend_from_slice(part.as_bytes());
    }
    v
}

/// Whether a stored value is sealed.
pub fn is_sealed(stored: &str) -> bool {
    stored.starts_with(PREFIX)
}

impl Sealer {
    /// A sealer with this key.
    pub fn new(key: &SecretsKey) -> Self {
        Sealer {
            cipher: ChaCha20Poly1305::new(key.bytes().into()),
        }
    }

    /// Seal `plain` as the value `name` of `tenant`.
    pub fn seal(&self, tenant: &str, name: &str, plain: &str) -> Result<String, SealError> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let aad = aad(tenant, name);
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::Seal)?;
        let mut raw = nonce.to_vec();
        raw.extend_from_slice(&ct);
        Ok(format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        ))
    }

    /// Open a sealed value `name` of `tenant`.
    pub fn open(&self, tenant: &str, name: &str, stored: &str) -> Result<String, SealError> {
        let b64 = stored.strip_prefix(PREFIX).ok_or(SealError::Malformed)?;
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .map_err(|_| SealError::Malformed)?;
        if raw.len() < NONCE_LEN + 16 {
            return Err(SealError::Malformed);
        }
        let (nonce, ct) = raw.split_at(NONCE_LEN);
        let aad = aad(tenant, name);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| SealError::WrongKey)?;
        String::from_utf8(plain).map_err(|_| SealError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&SecretsKey::parse(&hex::encode([byte; 32])).unwrap())
    }

    #[test]
    fn sealed_values_open_only_where_they_were_sealed() {
        let s = sealer(7);
        let a = s.seal("acme", "tok", "refresh-me").unwrap();
        let b = s.seal("acme", "tok", "refresh-me").unwrap();
        assert!(is_sealed(&a) && !a.contains("refresh-me"));
        assert_ne!(a, b, "a random nonce per write");
        assert_eq!(s.open("acme", "tok", &a).unwrap(), "refresh-me");
        assert_eq!(s.open("other", "tok", &a), Err(SealError::WrongKey));
        assert_eq!(s.open("acme", "other", &a), Err(SealError::WrongKey));
        assert_eq!(sealer(8).open("acme", "tok", &a), Err(SealError::WrongKey));
        let mut altered = a.clone();
        let last = altered.pop().unwrap();
        altered.push(if last == 'A' { 'B' } else { 'A' });
        assert!(s.open("acme", "tok", &altered).is_err());
        for bad in ["{\"x\":1}", "sealed:v1:", "sealed:v1:!!!", "sealed:v1:AAAA"] {
            assert_eq!(
                s.open("acme", "tok", bad),
                Err(SealError::Malformed),
                "{bad}"
            );
        }
    }
}
