//! Property tests: folding then unfolding gives the logical lines back (RFC 5545 §3.1,
//! RFC 6350 §3.2), with multi-byte UTF-8 placed at the 75-octet fold boundaries.

use super::*;
use proptest::prelude::*;

/// Characters of every UTF-8 width, with spaces and tabs (a fold adds one space; the reader
/// must remove exactly that one) and the content-line delimiters.
fn line_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => Just(' '),
        1 => Just('\t'),
        1 => prop::sample::select(vec![':', ';', ',', '"', '=', '\\']),
        2 => proptest::char::range('\u{80}', '\u{7ff}'),
        2 => proptest::char::range('\u{800}', '\u{ffff}'),
        2 => proptest::char::range('\u{10000}', '\u{10ffff}'),
    ]
}

/// A logical line: a name, then up to ~400 characters, with an ASCII prefix of every length
/// from 0 to 80 so that a multi-byte character falls on each of the octets around 75.
fn logical_line() -> impl Strategy<Value = String> {
    (0usize..80, prop::collection::vec(line_char(), 0..400)).prop_map(|(pad, chars)| {
        let mut s = String::from("X-P:");
        s.extend(std::iter::repeat_n('a', pad));
        s.extend(chars);
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn fold_then_unfold_is_identity(ls in prop::collection::vec(logical_line(), 1..4)) {
        let mut body = String::new();
        for l in &ls {
            push_folded(&mut body, l);
        }
        // Every physical line fits in 75 octets, and no UTF-8 sequence is cut (the
        // physical lines are `&str` slices of valid UTF-8 split only at ASCII line breaks).
        for physical in body.split("\r\n") {
            prop_assert!(physical.len() <= MAX_LINE_OCTETS, "{} octets: {physical:?}", physical.len());
        }
        let back: Vec<Line<'_>> = lines(&body).collect();
        prop_assert_eq!(back.len(), ls.len());
        for (line, original) in back.iter().zip(&ls) {
            prop_assert_eq!(line.unfolded.as_ref(), original.as_str());
        }
        prop_assert_eq!(back.iter().map(|l| l.raw).collect::<String>(), body);
    }

    #[test]
    fn unfold_accepts_bare_lf_folds(l in logical_line()) {
        let mut crlf = String::new();
        push_folded(&mut crlf, &l);
        let lf = crlf.replace("\r\n", "\n");
        let back: Vec<Line<'_>> = lines(&lf).collect();
        prop_assert_eq!(back.len(), 1);
        prop_assert_eq!(back[0].unfolded.as_ref(), l.as_str());
        let rewritten = back[0].folded_crlf();
        prop_assert_eq!(rewritten.as_ref(), crlf.trim_end_matches("\r\n"));
    }
}
