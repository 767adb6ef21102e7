//! Content-line helpers shared by the iCalendar (RFC 5545) and vCard (RFC 2426 / RFC 6350)
//! writers: value escaping, parameter quoting and 75-octet line folding with CRLF.

/// Maximum length of one physical content line in octets, CRLF excluded (RFC 5545 §3.1,
/// RFC 6350 §3.2, RFC 2426 §2.6).
pub(crate) const MAX_LINE_OCTETS: usize = 75;

/// Escapes a TEXT value: backslash, semicolon, comma and newline (`\n`). The same rules
/// hold for iCalendar TEXT and for vCard 3.0/4.0 text values and structured components.
pub(crate) fn escape_text(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 8);
    for ch in value.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            _ => out.push(ch),
        }
    }
    out
}

/// Escapes each component and joins them with `;` (N, ADR, ORG).
pub(crate) fn structured(components: &[&str]) -> String {
    components
        .iter()
        .map(|c| escape_text(c))
        .collect::<Vec<_>>()
        .join(";")
}

/// Escapes each item and joins them with `,` (CATEGORIES, NICKNAME).
pub(crate) fn text_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|c| escape_text(c))
        .collect::<Vec<_>>()
        .join(",")
}

/// A parameter value, always DQUOTE-quoted (valid for any value). DQUOTE and control
/// characters cannot appear in a parameter value, so they are dropped.
pub(crate) fn quoted(value: &str) -> String {
    let clean: String = value
        .chars()
        .filter(|c| *c != '"' && !c.is_control())
        .collect();
    format!("\"{clean}\"")
}

/// Builds one object as a sequence of folded CRLF-terminated content lines.
#[derive(Default)]
pub(crate) struct Lines {
    buf: String,
}

impl Lines {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends one logical content line (`NAME;PARAMS:value`, already escaped), folding it
    /// so that no physical line exceeds 75 octets. Folds never split a UTF-8 sequence.
    pub(crate) fn line(&mut self, logical: &str) {
        let mut len = 0usize;
        for ch in logical.chars() {
            let w = ch.len_utf8();
            if len + w > MAX_LINE_OCTETS {
                self.buf.push_str("\r\n ");
                len = 1;
            }
            self.buf.push(ch);
            len += w;
        }
        self.buf.push_str("\r\n");
    }

    /// `NAME:value` with the value escaped as TEXT.
    pub(crate) fn text(&mut self, name: &str, value: &str) {
        self.line(&format!("{name}:{}", escape_text(value)));
    }

    pub(crate) fn finish(self) -> String {
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_text_specials() {
        assert_eq!(escape_text("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }

    #[test]
    fn folds_at_75_octets_without_splitting_utf8() {
        let mut l = Lines::new();
        let long = format!("SUMMARY:{}", "ü".repeat(100));
        l.line(&long);
        let out = l.finish();
        for phys in out.split_terminator("\r\n") {
            assert!(phys.len() <= MAX_LINE_OCTETS, "{phys}");
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded, format!("{long}\r\n"));
    }
}
