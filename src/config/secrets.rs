//! The server's secrets key (`secrets_key`, usually given as `secrets_key_file` or
//! `${ENV}`): 32 bytes that encrypt CRM credentials at rest in the state store.

use base64::Engine;

/// A 32-byte key. Its `Debug` never shows the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretsKey([u8; 32]);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey(..)")
    }
}

impl SecretsKey {
    /// Parse 64 hex digits or the base64 (standard or URL-safe, padded or not) of 32 bytes;
    /// surrounding whitespace is ignored.
    pub fn parse(s: &str) -> Result<SecretsKey, &'static str> {
        let s = s.trim();
        let bytes = if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(s).ok()
        } else {
            let b64 = base64::engine::general_purpose::STANDARD_NO_PAD;
            let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let s = s.trim_end_matches('=');
            b64.decode(s).or_else(|_| url.decode(s)).ok()
        };
        match bytes.map(<[u8; 32]>::try_from) {
            Some(Ok(k)) => Ok(SecretsKey(k)),
            _ => Err("expected 32 bytes as 64 hex digits or base64 (e.g. `openssl rand -hex 32`)"),
        }
    }

    /// The key's bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_base64_keys() {
        let hex = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
        let k = SecretsKey::parse(&format!(" {hex}\n")).unwrap();
        assert_eq!(k.bytes()[1], 0x11);
        let b64 = base64::engine::general_purpose::STANDARD.encode(k.bytes());
        assert_eq!(SecretsKey::parse(&b64), Ok(k.clone()));
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0xfbu8; 32]);
        assert_eq!(SecretsKey::parse(&url).unwrap().bytes(), &[0xfb; 32]);
        for bad in [
            "",
            "00",
            &hex[..62],
            &format!("{hex}00"),
            "not a key at all!",
            &base64::engine::general_purpose::STANDARD.encode([1u8; 31]),
        ] {
            assert!(SecretsKey::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(format!("{k:?}"), "SecretsKey(..)");
    }
}
