//! The characters XML 1.0 can carry (§2.2, production `Char`): TAB, LF, CR, U+0020–U+D7FF,
//! U+E000–U+FFFD and U+10000 and above. Surrogates cannot occur in a Rust string, so what is
//! left to refuse is the other C0 controls, U+FFFE and U+FFFF.

/// True when XML 1.0 allows `c` in a document (raw or as a character reference).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}')
        || c >= '\u{10000}'
}

/// The first character XML 1.0 forbids in `s`, with its byte offset.
pub fn first_forbidden(s: &str) -> Option<(usize, char)> {
    // Fast path: only bytes below 0x20 and the lead byte 0xEF (U+FFFE/U+FFFF) can start one.
    let bytes = s.as_bytes();
    let hit = bytes
        .iter()
        .position(|&b| (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0xEF)?;
    s[hit..]
        .char_indices()
        .find(|(_, c)| !is_xml_char(*c))
        .map(|(i, c)| (hit + i, c))
}

/// `s` with every character XML 1.0 forbids replaced by U+FFFD, so that what reaches a
/// response is well-formed whatever was stored (borrowed when nothing needs replacing).
pub fn sanitize(s: &str) -> std::borrow::Cow<'_, str> {
    match first_forbidden(s) {
        None => std::borrow::Cow::Borrowed(s),
        Some(_) => std::borrow::Cow::Owned(
            s.chars()
                .map(|c| if is_xml_char(c) { c } else { '\u{FFFD}' })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_controls_and_nonchars_only() {
        assert_eq!(first_forbidden("a\tb\r\nc é €𝄞"), None);
        assert_eq!(first_forbidden("ab\u{0}"), Some((2, '\u{0}')));
        assert_eq!(first_forbidden("é\u{1b}"), Some((2, '\u{1b}')));
        assert_eq!(first_forbidden("x\u{FFFF}"), Some((1, '\u{FFFF}')));
        assert_eq!(first_forbidden("\u{FFFD}\u{FFFE}"), Some((3, '\u{FFFE}')));
        assert_eq!(first_forbidden("\u{E000}\u{FEFF}"), None);
        assert_eq!(sanitize("a\u{c}b"), "a\u{FFFD}b");
        assert!(matches!(sanitize("ok"), std::borrow::Cow::Borrowed(_)));
    }
}
