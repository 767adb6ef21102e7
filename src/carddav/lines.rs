//! Content lines as raw text, for the operations that must keep the client's bytes
//! (property selection) or fix calcard's output (parameter clean-up, refolding).

/// One logical content line of a vCard.
pub(crate) struct Line<'a> {
    /// The original bytes, folds and line terminator included.
    pub raw: &'a str,
    /// The unfolded line without its terminator.
    pub unfolded: String,
}

impl Line<'_> {
    /// Property name in upper case, without its group (`item1.TEL` → `TEL`).
    pub fn name(&self) -> String {
        property_name(&self.unfolded)
    }

    /// Byte offset in `unfolded` of the colon that starts the value (outside quotes).
    pub fn value_colon(&self) -> Option<usize> {
        value_colon(&self.unfolded)
    }
}

/// Splits `body` into logical lines (RFC 6350 §3.2 folding: a line break followed by a space
/// or a tab continues the line). Accepts CRLF and bare LF.
pub(crate) fn logical_lines(body: &str) -> Vec<Line<'_>> {
    let mut out: Vec<Line<'_>> = Vec::new();
    let mut start = 0usize;
    let mut unfolded = String::new();
    let mut pos = 0usize;
    let bytes = body.as_bytes();
    while pos < bytes.len() {
        let end = match body[pos..].find('\n') {
            Some(i) => pos + i + 1,
            None => bytes.len(),
        };
        let physical = &body[pos..end];
        let content = physical.trim_end_matches(['\n', '\r']);
        let is_continuation = pos > start && matches!(bytes.get(pos), Some(b' ' | b'\t'));
        if is_continuation {
            unfolded.push_str(content.get(1..).unwrap_or(""));
        } else {
            if pos > start {
                out.push(Line {
                    raw: &body[start..pos],
                    unfolded: std::mem::take(&mut unfolded),
                });
            }
            start = pos;
            unfolded.push_str(content);
        }
        pos = end;
    }
    if pos > start {
        out.push(Line {
            raw: &body[start..pos],
            unfolded,
        });
    }
    out
}

/// Property name of an unfolded content line, upper case, group removed.
pub(crate) fn property_name(unfolded: &str) -> String {
    let head_end = unfolded.find([';', ':']).unwrap_or(unfolded.len());
    let head = &unfolded[..head_end];
    let name = match head.rfind('.') {
        Some(dot) => &head[dot + 1..],
        None => head,
    };
    name.trim().to_ascii_uppercase()
}

/// Offset of the first colon outside double quotes (the parameter/value separator).
pub(crate) fn value_colon(unfolded: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, b) in unfolded.bytes().enumerate() {
        match b {
            b'"' => quoted = !quoted,
            b':' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Appends `line` folded at 75 octets (never inside a UTF-8 sequence), ended by CRLF.
pub(crate) fn push_folded(out: &mut String, line: &str) {
    let mut width = 0usize;
    for ch in line.chars() {
        let len = ch.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolds_and_keeps_raw_bytes() {
        let body = "BEGIN:VCARD\r\nNOTE:hello\r\n  world\r\nitem1.TEL;TYPE=\"a:b\":+1\nEND:VCARD";
        let lines = logical_lines(body);
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[1].raw, "NOTE:hello\r\n  world\r\n");
        assert_eq!(lines[1].unfolded, "NOTE:hello world");
        assert_eq!(lines[2].raw, "item1.TEL;TYPE=\"a:b\":+1\n");
        assert_eq!(lines[2].name(), "TEL");
        assert_eq!(lines[2].value_colon(), Some(20));
        assert_eq!(lines[3].raw, "END:VCARD");
        assert_eq!(lines.iter().map(|l| l.raw).collect::<String>(), body);
    }

    #[test]
    fn folds_at_75_octets_on_char_boundaries() {
        let line = format!("FN:{}", "李".repeat(40));
        let mut out = String::new();
        push_folded(&mut out, &line);
        for physical in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(physical.len() <= 75, "{} octets", physical.len());
        }
        let back = logical_lines(&out);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].unfolded, line);
    }
}
