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
    let hit = first_candidate(s.as_bytes())?;
    s[hit..]
        .char_indices()
        .find(|(_, c)| !is_xml_char(*c))
        .map(|(i, c)| (hit + i, c))
}

/// Whether `b` may start a forbidden character: a C0 control other than TAB, LF and CR, or
/// the lead byte 0xEF of U+FFFE/U+FFFF (and of allowed characters, checked after).
fn is_candidate(b: u8) -> bool {
    (b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r')) || b == 0xEF
}

/// The offset of the first [`is_candidate`] byte. Eight bytes are tested at once (a word has
/// a byte below 0x20 or equal to 0xEF, by the usual carry arithmetic); only a word that has
/// one is looked at byte by byte (names and most text have none).
fn first_candidate(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut words = bytes.chunks_exact(8);
    for (k, chunk) in words.by_ref().enumerate() {
        let mut a = [0u8; 8];
        a.copy_from_slice(chunk);
        let w = u64::from_le_bytes(a);
        let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
        let x = w ^ (ONES * 0xEF);
        let is_ef = x.wrapping_sub(ONES) & !x & HIGH;
        if below_space | is_ef != 0 {
            if let Some(i) = chunk.iter().position(|&b| is_candidate(b)) {
                return Some(8 * k + i);
            }
        }
    }
    let done = bytes.len() - words.remainder().len();
    words
        .remainder()
        .iter()
        .position(|&b| is_candidate(b))
        .map(|i| done + i)
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

    #[test]
    fn the_word_scan_finds_what_the_byte_scan_finds() {
        // Every offset within and across words, every byte value at it, in text of plain
        // letters and of multi-byte characters around.
        for len in 0..24 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut v = vec![b'a'; len];
                    v[at] = b;
                    let expected = v.iter().position(|&c| is_candidate(c));
                    assert_eq!(
                        first_candidate(&v),
                        expected,
                        "byte {b:#x} at {at} of {len}"
                    );
                }
            }
        }
        let s = "ééééé\u{1f}x";
        assert_eq!(first_forbidden(s), Some((10, '\u{1f}')));
        assert_eq!(first_forbidden("abcdefgh\u{FFFE}"), Some((8, '\u{FFFE}')));
        assert_eq!(
            first_forbidden("abcdefghijklmn\u{FEFF}\u{FFFF}"),
            Some((17, '\u{FFFF}'))
        );
    }
}
