//! Content negotiation for a GET of an address object: which vCard version the `Accept`
//! header asks for (RFC 9110 §12.5.1, with the `version` parameter of `text/vcard`,
//! RFC 6350 §10.1).

use super::{clip, CardError, VCardVersion};

/// The vCard version a GET's `Accept` header asks for: `Ok(None)` to serve the card as
/// stored, `Ok(Some(v))` for version `v`, or `CardError::NotAcceptable` when the header asks
/// only for vCard forms the server cannot write.
///
/// `text/vcard; version=3.0` or `version=4.0` names a version; the range with the highest `q`
/// wins, and on a tie the stored version (no conversion) wins. `text/vcard` without a version,
/// `text/x-vcard`, `text/*`, `*/*` or no header serve the card as stored, byte for byte:
/// RFC 6350 §10.1 makes the parameter optional, and RFC 6352 §10.4's 3.0 default is the one of
/// `address-data` in a REPORT, where iOS reads its cards. Keeping the stored bytes for a GET
/// that does not ask means a client that GETs, edits and PUTs back never loses what its own
/// version can say. (sabre/dav converts such a GET to 3.0. Like this gateway, it sends the
/// stored ETag with a converted body, so that If-Match on the next PUT holds whichever
/// version the client read.)
///
/// A header whose only vCard ranges name another version (`text/vcard; version=2.1`) or jCard
/// (`application/vcard+json`) is refused: RFC 6352 §5.1.1 `supported-address-data-conversion`
/// is the GET's precondition that the card can be converted to what `Accept` names. Other
/// media types alone (a browser's `text/html`) are ignored, as RFC 9110 §12.5.1 allows.
pub fn accepted_version(
    accept: Option<&str>,
    stored: VCardVersion,
) -> Result<Option<VCardVersion>, CardError> {
    let Some(accept) = accept else {
        return Ok(None);
    };
    let mut best: Option<(f32, Option<VCardVersion>)> = None;
    let mut refused: Option<&str> = None;
    for range in accept.split(',') {
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
        if q.is_nan() || q <= 0.0 {
            continue;
        }
        let is_vcard = media.eq_ignore_ascii_case("text/vcard");
        let stored_form = media.eq_ignore_ascii_case("text/x-vcard")
            || media == "*/*"
            || media.eq_ignore_ascii_case("text/*");
        if (is_vcard && bad_version) || media.eq_ignore_ascii_case("application/vcard+json") {
            refused.get_or_insert(range.trim());
            continue;
        }
        if !(is_vcard || stored_form) {
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
    match (best, refused) {
        (Some((_, v)), _) => Ok(v),
        (None, Some(range)) => Err(CardError::NotAcceptable(clip(range))),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use VCardVersion::{V3, V4};

    #[test]
    fn names_a_version() {
        let a = |h: &str, stored| accepted_version(Some(h), stored).expect("acceptable");
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
        assert_eq!(accepted_version(None, V4), Ok(None));
        for h in [
            "",
            "text/vcard",
            "text/x-vcard",
            "*/*",
            "text/*",
            "application/json",
            "text/html,application/xhtml+xml,*/*;q=0.8",
            "text/vcard; version=3.0; q=0",
            "text/vcard; version=2.1, */*;q=0.1",
        ] {
            assert_eq!(accepted_version(Some(h), V4), Ok(None), "{h:?}");
        }
    }

    #[test]
    fn refuses_only_unwritable_vcard_forms() {
        for h in [
            "text/vcard; version=2.1",
            "application/vcard+json",
            "application/vcard+json, text/html",
        ] {
            let err = accepted_version(Some(h), V3).unwrap_err();
            assert!(matches!(err, CardError::NotAcceptable(_)), "{h:?}");
            assert_eq!(
                err.precondition().name(),
                "supported-address-data-conversion"
            );
        }
        assert_eq!(
            accepted_version(Some("text/vcard; version=2.1"), V3)
                .unwrap_err()
                .to_string(),
            "cannot serve the vCard as \"text/vcard; version=2.1\"; available: text/vcard version 3.0 or 4.0"
        );
    }

    #[test]
    fn weighs_q_values() {
        let a = |h: &str, stored| accepted_version(Some(h), stored).expect("acceptable");
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
        assert_eq!(
            accepted_version(Some("text/vcard;version=3.0;q=x"), V4),
            Ok(None)
        );
    }
}
