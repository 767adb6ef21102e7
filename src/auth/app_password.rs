//! The app password format and labels.
//!
//! An app password reads `<id>-<secret>`: a 10-character public id (50 random bits) that names
//! the stored row, and a 26-character secret (130 random bits), both in lowercase Crockford
//! base32 (`0-9`, `a-z` without `i`, `l`, `o`, `u`: no two characters look alike). The id alone
//! logs nobody in; it lets a login verify exactly one argon2 hash, that of the secret. Input is
//! matched case-insensitively (a secret typed in capitals still works).

use rand::Rng;

/// The 32 characters of Crockford base32, lowercase.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Characters of the public id.
pub const ID_LEN: usize = 10;
/// Characters of the secret (26 × 5 = 130 bits).
pub const SECRET_LEN: usize = 26;
/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 64;

/// An app password split into its public id and its secret (both lowercase).
#[derive(Clone, PartialEq, Eq)]
pub struct AppSecret {
    id: String,
    secret: String,
}

impl std::fmt::Debug for AppSecret {
    // The secret never reaches a log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AppSecret({}-…)", self.id)
    }
}

fn random_chars(n: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..n)
        .map(|_| char::from(ALPHABET[rng.gen_range(0..ALPHABET.len())]))
        .collect()
}

fn well_formed(s: &str, len: usize) -> Option<String> {
    let lower = s.to_ascii_lowercase();
    (lower.len() == len && lower.bytes().all(|b| ALPHABET.contains(&b))).then_some(lower)
}

impl AppSecret {
    /// A fresh app password from the operating system's random source.
    pub fn generate() -> Self {
        AppSecret {
            id: random_chars(ID_LEN),
            secret: random_chars(SECRET_LEN),
        }
    }

    /// Parse a password of the app password shape; `None` for anything else (which may still
    /// be a tenant file's password).
    pub fn parse(password: &str) -> Option<Self> {
        let (id, secret) = password.split_once('-')?;
        Some(AppSecret {
            id: well_formed(id, ID_LEN)?,
            secret: well_formed(secret, SECRET_LEN)?,
        })
    }

    /// Whether `id` has the shape of a public id (for commands that take one).
    pub fn is_id(id: &str) -> bool {
        well_formed(id, ID_LEN).is_some()
    }

    /// The public id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The secret part: what is hashed and verified.
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The whole password, `<id>-<secret>`, as shown once to the person.
    pub fn reveal(&self) -> String {
        format!("{}-{}", self.id, self.secret)
    }
}

/// Why a label was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// Empty or only spaces.
    #[error("the label is empty")]
    Empty,
    /// Longer than [`MAX_LABEL_CHARS`].
    #[error("the label is longer than {MAX_LABEL_CHARS} characters")]
    TooLong,
    /// A control or bidirectional-override character (it would garble a list or a page).
    #[error("the label contains a control character")]
    Control,
}

/// Check a device label and return it trimmed.
pub fn label(raw: &str) -> Result<&str, LabelError> {
    let l = raw.trim();
    if l.is_empty() {
        return Err(LabelError::Empty);
    }
    if l.chars().count() > MAX_LABEL_CHARS {
        return Err(LabelError::TooLong);
    }
    let bidi = |c: char| matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if l.chars().any(|c| c.is_control() || bidi(c)) {
        return Err(LabelError::Control);
    }
    Ok(l)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_parse_back() {
        let a = AppSecret::generate();
        let shown = a.reveal();
        assert_eq!(shown.len(), ID_LEN + 1 + SECRET_LEN);
        assert_eq!(AppSecret::parse(&shown), Some(a.clone()));
        assert_eq!(AppSecret::parse(&shown.to_uppercase()), Some(a.clone()));
        assert!(AppSecret::is_id(a.id()));
        assert_ne!(AppSecret::generate(), a);
        assert!(
            !format!("{a:?}").contains(a.secret()),
            "Debug hides the secret"
        );
    }

    #[test]
    fn other_shapes_are_not_app_passwords() {
        let id = "0123456789";
        let secret = "abcdefghjkmnpqrstvwxyz0123";
        assert!(AppSecret::parse(&format!("{id}-{secret}")).is_some());
        for bad in [
            String::new(),
            "-".into(),
            "demo".into(),
            format!("{id}{secret}"),                    // no '-'
            format!("{id}_{secret}"),                   // another separator
            format!("{id}-{secret}x"),                  // secret too long
            format!("{id}-{}", &secret[1..]),           // secret too short
            format!("{}-{secret}", &id[1..]),           // id too short
            format!("{id}0-{secret}"),                  // id too long
            format!("{id}-{secret}-"),                  // a second '-'
            format!("{id}-abcdefghjkmnpqrstvwxyz012i"), // 'i' is not in the alphabet
            format!("012345678o-{secret}"),             // nor is 'o'
            format!("{id}-abcdefghjkmnpqrstvwxyz01é"),  // nor anything beyond ASCII
            format!(" {id}-{secret}"),
        ] {
            assert_eq!(AppSecret::parse(&bad), None, "{bad:?}");
        }
        assert!(!AppSecret::is_id("01234"));
    }

    #[test]
    fn labels_are_bounded_and_printable() {
        assert_eq!(label("  Alice's iPhone "), Ok("Alice's iPhone"));
        assert_eq!(label("Téléphone 📱"), Ok("Téléphone 📱"));
        assert_eq!(label(" "), Err(LabelError::Empty));
        assert_eq!(label(&"x".repeat(65)), Err(LabelError::TooLong));
        assert!(label(&"é".repeat(64)).is_ok());
        for bad in [
            "a\nb",
            "a\tb",
            "a\u{0}b",
            "a\u{7f}b",
            "a\u{9b}b",
            "a\u{202e}b",
        ] {
            assert_eq!(label(bad), Err(LabelError::Control), "{bad:?}");
        }
    }
}
