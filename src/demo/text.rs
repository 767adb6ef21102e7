//! The demo writers' object builder: folded CRLF content lines (the grammar itself is
//! [`crate::contentline`], whose escaping and quoting are re-exported here).

pub(crate) use crate::contentline::{escape_text, quoted, structured, text_list};

/// Builds one object as a sequence of folded CRLF-terminated content lines.
#[derive(Default)]
pub(crate) struct Lines {
    buf: String,
}

impl Lines {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends one logical content line (`NAME;PARAMS:value`, already escaped), folded at
    /// 75 octets (never inside a UTF-8 sequence).
    pub(crate) fn line(&mut self, logical: &str) {
        crate::contentline::push_folded(&mut self.buf, logical);
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
    use crate::contentline::MAX_LINE_OCTETS;

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
