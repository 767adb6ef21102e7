//! Minimal XML writer for DAV responses. The prefixes are fixed (`d` = DAV:, `c` = CalDAV,
//! `card` = CardDAV, `cs` = CalendarServer, `ical` = Apple), declared once on the root.

use super::chars::sanitize;
use super::{NS_CALDAV, NS_CARDDAV, NS_CS, NS_DAV, NS_ICAL};

/// Bytes that need a second look in character data: `<`, `>`, `&`, CR, the C0 controls but
/// TAB and LF, and 0xEF (the lead byte of U+FFFE and U+FFFF).
const SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b != b'\t' as usize && b != b'\n' as usize;
        b += 1;
    }
    t[b'<' as usize] = true;
    t[b'>' as usize] = true;
    t[b'&' as usize] = true;
    t[0xEF] = true;
    t
};

/// Append `s` to `out` escaped as character data. Runs without special characters are
/// copied whole (the common case: hrefs, ETags, names, base64), found eight bytes at a time
/// ([`next_special`]). A character XML 1.0 forbids (§2.2) has no escape at all, not even a
/// character reference, so it becomes U+FFFD: whatever was stored, the document stays
/// well-formed.
pub fn push_escaped(out: &mut String, s: &str) {
    const REPLACEMENT: &str = "\u{FFFD}";
    let bytes = s.as_bytes();
    out.reserve(bytes.len());
    let (mut start, mut i) = (0, 0);
    while let Some(at) = next_special(bytes, i) {
        i = at;
        let (rep, width) = match bytes[i] {
            b'<' => ("&lt;", 1),
            b'>' => ("&gt;", 1),
            b'&' => ("&amp;", 1),
            b'\r' => ("&#13;", 1),
            // U+FFFE and U+FFFF are EF BF BE and EF BF BF; other characters from EF stay.
            0xEF => {
                if matches!(bytes.get(i + 1..i + 3), Some([0xBF, 0xBE | 0xBF])) {
                    (REPLACEMENT, 3)
                } else {
                    i += 1;
                    continue;
                }
            }
            _ => (REPLACEMENT, 1),
        };
        out.push_str(&s[start..i]);
        out.push_str(rep);
        i += width;
        start = i;
    }
    out.push_str(&s[start..]);
}

/// The first byte at or after `from` that [`SPECIAL`] marks. Eight bytes are tested at once
/// with word arithmetic (below 0x20, or equal to `<`, `>`, `&` or 0xEF), and only a word
/// that may hold one is looked at byte by byte: the per-byte table lookup was 9 % of an
/// addressbook-query answering a megabyte of base64 photos.
fn next_special(bytes: &[u8], mut from: usize) -> Option<usize> {
    while let Some(chunk) = bytes.get(from..from + 8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        if may_be_special(u64::from_le_bytes(word)) {
            if let Some(off) = chunk.iter().position(|&b| SPECIAL[usize::from(b)]) {
                return Some(from + off);
            }
        }
        from += 8;
    }
    let rest = bytes.get(from..)?;
    rest.iter()
        .position(|&b| SPECIAL[usize::from(b)])
        .map(|off| from + off)
}

/// Whether a byte of `w` is below 0x20 or is `<`, `>`, `&` or 0xEF (a superset of
/// [`SPECIAL`]: TAB and LF also answer yes). Exact per word: "some byte of x is zero" is
/// `(x - 0x01..) & !x & 0x80..`, and "some byte is below n" (n ≤ 128) the same with n.
#[inline]
fn may_be_special(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    let equal = |c: u8| zero_byte(w ^ (ONES * u64::from(c)));
    (below_space | equal(b'<') | equal(b'>') | equal(b'&') | equal(0xEF)) != 0
}

/// Escape character data.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    push_escaped(&mut out, s);
    out
}

/// Escape an attribute value (double-quoted).
pub fn escape_attr(s: &str) -> String {
    escape_text(s).replace('"', "&quot;")
}

/// Known namespaces and their fixed prefixes.
const PREFIXES: &[(&str, &str)] = &[
    (NS_DAV, "d"),
    (NS_CALDAV, "c"),
    (NS_CARDDAV, "card"),
    (NS_CS, "cs"),
    (NS_ICAL, "ical"),
];

fn prefix_of(ns: &str) -> Option<&'static str> {
    PREFIXES.iter().find(|(n, _)| *n == ns).map(|(_, p)| *p)
}

/// Streaming writer into a `String` buffer.
#[derive(Default)]
pub struct XmlWriter {
    /// The document so far.
    pub buf: String,
}

impl XmlWriter {
    /// A new document with the XML declaration.
    pub fn new() -> Self {
        XmlWriter {
            buf: String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"),
        }
    }

    /// The namespace declarations for a root element.
    pub fn root_decls() -> String {
        PREFIXES
            .iter()
            .map(|(ns, p)| format!(" xmlns:{p}=\"{ns}\""))
            .collect()
    }

    /// Qualified name for `{ns}name`: a fixed prefix when the namespace is known, else `None`.
    pub fn qname(ns: &str, name: &str) -> Option<String> {
        prefix_of(ns).map(|p| format!("{p}:{name}"))
    }

    /// Open `{ns}name` (declaring a foreign namespace inline when needed).
    pub fn open(&mut self, ns: &str, name: &str) {
        self.open_with(ns, name, "");
    }

    /// Open `{ns}name` with raw, already-escaped attributes (`attrs` starts with a space).
    pub fn open_with(&mut self, ns: &str, name: &str, attrs: &str) {
        self.buf.push('<');
        self.push_name_decl(ns, name);
        self.buf.push_str(attrs);
        self.buf.push('>');
    }

    /// Close `{ns}name`.
    pub fn close(&mut self, ns: &str, name: &str) {
        let name = &*sanitize(name);
        self.buf.push_str("</");
        match prefix_of(ns) {
            Some(p) => {
                self.buf.push_str(p);
                self.buf.push(':');
                self.buf.push_str(name);
            }
            None => {
                if ns.is_empty() {
                    self.buf.push_str(name)
                } else {
                    self.buf.push_str("x:");
                    self.buf.push_str(name)
                }
            }
        }
        self.buf.push('>');
    }

    /// An empty element `{ns}name`.
    pub fn empty(&mut self, ns: &str, name: &str) {
        self.buf.push('<');
        self.push_name_decl(ns, name);
        self.buf.push_str("/>");
    }

    /// `{ns}name` with escaped text content.
    pub fn text_elem(&mut self, ns: &str, name: &str, text: &str) {
        self.open(ns, name);
        push_escaped(&mut self.buf, text);
        self.close(ns, name);
    }

    /// Raw, already well-formed XML.
    pub fn raw(&mut self, s: &str) {
        self.buf.push_str(s);
    }

    /// Escaped text.
    pub fn text(&mut self, s: &str) {
        push_escaped(&mut self.buf, s);
    }

    fn push_name_decl(&mut self, ns: &str, name: &str) {
        // A name stored before names were checked must not break the document either.
        let name = &*sanitize(name);
        match prefix_of(ns) {
            Some(p) => {
                self.buf.push_str(p);
                self.buf.push(':');
                self.buf.push_str(name);
            }
            None if ns.is_empty() => {
                // No namespace: undo any default namespace explicitly.
                self.buf.push_str(name);
                self.buf.push_str(" xmlns=\"\"");
            }
            None => {
                self.buf.push_str("x:");
                self.buf.push_str(name);
                self.buf.push_str(" xmlns:x=\"");
                self.buf.push_str(&escape_attr(ns));
                self.buf.push('"');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The escaping as it was, one table lookup per byte: the reference for the word scan.
    fn escaped_per_byte(s: &str) -> String {
        let mut out = String::new();
        for c in s.chars() {
            match c {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '\r' => out.push_str("&#13;"),
                '\t' | '\n' => out.push(c),
                c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                    out.push('\u{FFFD}')
                }
                c => out.push(c),
            }
        }
        out
    }

    #[test]
    fn the_word_scan_escapes_as_the_byte_scan() {
        // Every special character at every offset of words of every length up to 40, among
        // base64, multi-byte characters (EF-led ones that stay), TAB and LF.
        let specials = [
            "<", ">", "&", "\r\n", "\u{1}", "\u{1f}", "\u{FFFE}", "\u{FFFF}", "\t", "\n",
        ];
        let fillers = ["QUJDRA+/", "ü", "\u{FF21}", "\u{EFFF}", "\u{FEFF}", "x"];
        for len in 0..40 {
            for special in specials {
                for filler in fillers {
                    for at in 0..=len {
                        let mut s: String = filler.repeat(len).chars().take(len).collect();
                        let at = s.char_indices().nth(at).map_or(s.len(), |(i, _)| i);
                        s.insert_str(at, special);
                        let mut out = String::new();
                        push_escaped(&mut out, &s);
                        assert_eq!(out, escaped_per_byte(&s), "{s:?}");
                    }
                }
            }
        }
        let mut out = String::new();
        push_escaped(&mut out, "PHOTO;ENCODING=b:QUJD\r\n REVG<&>\u{FFFF}");
        assert_eq!(
            out,
            "PHOTO;ENCODING=b:QUJD&#13;\n REVG&lt;&amp;&gt;\u{FFFD}"
        );
    }

    #[test]
    fn forbidden_characters_never_reach_the_output() {
        assert_eq!(
            escape_text("a\u{0}b\u{1b}c\u{c}<\r\t\n\u{FFFE}\u{FFFF}\u{FFFD}é"),
            "a\u{FFFD}b\u{FFFD}c\u{FFFD}&lt;&#13;\t\n\u{FFFD}\u{FFFD}\u{FFFD}é"
        );
        // Other characters led by 0xEF stay; a special byte last, first, and back to back.
        assert_eq!(
            escape_text("&\u{FF21}\u{EFFF}>&<\u{FFFF}"),
            "&amp;\u{FF21}\u{EFFF}&gt;&amp;&lt;\u{FFFD}"
        );
        assert_eq!(escape_attr("\"\u{1}"), "&quot;\u{FFFD}");
        let mut w = XmlWriter::default();
        w.empty("urn:x", "a\u{0}b");
        w.open(NS_DAV, "c\u{1b}");
        w.close(NS_DAV, "c\u{1b}");
        assert_eq!(
            w.buf,
            "<x:a\u{FFFD}b xmlns:x=\"urn:x\"/><d:c\u{FFFD}></d:c\u{FFFD}>"
        );
    }
}
