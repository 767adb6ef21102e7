//! Content negotiation for a GET of an address object: which vCard version the `Accept`
//! header asks for (RFC 9110 §12.5.1, with the `version` parameter of `text/vcard`,
//! RFC 6350 §10.1).

use super::VCardVersion;

/// The vCard version a GET's `Accept` header asks for, or `None` to serve the card as stored.
///
/// `text/vcard; version=3.0` or `version=4.0` names a version; the range with the highest `q`
/// wins, and on a tie the stored version (no conversion) wins. `text/vcard` without a version,
/// `text/*`, `*/*`, no header, or only versions the server cannot write (2.1) serve the card
/// as stored, byte for byte: RFC 6350 §10.1 makes the parameter optional, and RFC 6352
/// §10.4's 3.0 default is the one of `address-data` in a REPORT, where iOS reads its cards.
/// Keeping the stored bytes for a GET that does not ask means a client that GETs, edits and
/// PUTs back never loses what its own version can say. (sabre/dav converts such a GET to 3.0.
/// Like this gateway, it sends the stored ETag with a converted body, so that If-Match on the
/// next PUT holds whichever version the client read.)
pub fn accepted_version(accept: Option<&str>, stored: VCardVersion) -> Option<VCardVersion> {
    let mut best: Option<(f32, Option<VCardVersion>)> = None;
    for range in accept?.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim();
        let mut q = 1.0_f32;
        let mut version = None;
        let mut bad_version = false;
        for param in parts {
            let Some((name, value)) = param.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match name.trim().to_ascii_lowercase().as_str() {
                "q" => q = value.parse().unwrap_or(0.0),
                "version" => match VCardVersion::parse(value) {
                    Some(v) => version = Some(v),
                    None => bad_version = true,
                },
                _ => {}
            }
        }
        let is_vcard = media.eq_ignore_ascii_case("text/vcard");
        let is_wildcard = media == "*/*" || media.eq_ignore_ascii_case("text/*");
        if q.is_nan() || q <= 0.0 || bad_version || !(is_vcard || is_wildcard) {
            continue;
        }
        let candidate = if is_vcard { version } else { None };
        let better = match best {
            None => true,
            Some((best_q, best_v)) => {
                q > best_q
                    || (q == best_q
                        && candidate.is_none_or(|v| v == stored)
                        && best_v.is_some_and(|v| v != stored))
            }
        };
        if better {
            best = Some((q, candidate));
        }
    }
    best.and_then(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use VCardVersion::{V3, V4};

    #[test]
    fn names_a_version() {
        let a = |h: &str, stored| accepted_version(Some(h), stored);
        assert_eq!(a("text/vcard; version=3.0", V4), Some(V3));
        assert_eq!(a("text/vcard;version=4.0", V3), Some(V4));
        assert_eq!(
            a("text/vcard; version=\"4.0\"; charset=utf-8", V3),
            Some(V4)
        );
        assert_eq!(a("TEXT/VCARD; VERSION=3.0", V4), Some(V3));
        // The asked-for version is named even when it is the stored one.
        assert_eq!(a("text/vcard; version=4.0", V4), Some(V4));
    }

    #[test]
    fn serves_stored_when_not_asked() {
        assert_eq!(accepted_version(None, V4), None);
        for h in [
            "",
            "text/vcard",
            "*/*",
            "text/*",
            "text/vcard; version=2.1",
            "application/json",
            "text/vcard; version=3.0; q=0",
        ] {
            assert_eq!(accepted_version(Some(h), V4), None, "{h:?}");
        }
    }

    #[test]
    fn weighs_q_values() {
        let a = |h: &str, stored| accepted_version(Some(h), stored);
        assert_eq!(
            a("text/vcard;version=3.0;q=0.5, text/vcard;version=4.0", V3),
            Some(V4)
        );
        assert_eq!(
            a(
                "text/vcard;version=4.0;q=0.5, text/vcard;version=3.0;q=0.9",
                V4
            ),
            Some(V3)
        );
        // A tie keeps the stored version.
        assert_eq!(
            a("text/vcard;version=3.0, text/vcard;version=4.0", V4),
            Some(V4)
        );
        assert_eq!(
            a("text/vcard;version=4.0, text/vcard;version=3.0", V3),
            Some(V3)
        );
        // An unversioned range preferred over a version serves the stored card.
        assert_eq!(a("text/vcard;version=3.0;q=0.5, text/vcard", V4), None);
        assert_eq!(a("text/vcard;version=3.0, */*;q=0.1", V4), Some(V3));
        // Garbage q counts as 0.
        assert_eq!(a("text/vcard;version=3.0;q=x", V4), None);
    }
}
