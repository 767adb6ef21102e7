//! Content lines of iCalendar (RFC 5545) and vCard (RFC 6350/2426): reading (unfolding,
//! parameters, escapes) and writing (escaping, 75-octet folding on UTF-8 boundaries).
//!
//! Only what the mapping engine needs: bodies are validated by the DAV layer before they get
//! here, and what the CRM cannot hold survives in the client's stored copy, not through us.

/// One property of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prop {
    /// Upper-case name without a group (`item1.EMAIL` → `EMAIL`).
    pub name: String,
    /// Parameters: upper-case name → values (unquoted).
    pub params: Vec<(String, Vec<String>)>,
    /// The raw value, escapes still in place.
    pub value: String,
}

impl Prop {
    /// First value of parameter `name` (case-insensitive).
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }

    /// Whether parameter `name` includes `value` (case-insensitive; comma lists and repeats).
    pub fn has_param(&self, name: &str, value: &str) -> bool {
        self.params
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.iter())
            .flat_map(|v| v.split(','))
            .any(|v| v.trim().eq_ignore_ascii_case(value))
    }
}

/// Unfold a body into logical lines.
pub fn unfold(body: &str) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for raw in body.split('\n') {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(cont) = raw.strip_prefix([' ', '\t']) {
            if let Some(last) = lines.last_mut() {
                last.push_str(cont);
                continue;
            }
        }
        if !raw.is_empty() {
            lines.push(raw.to_string());
        }
    }
    lines
}

/// Parse one logical line; `None` when it has no `:`.
pub fn parse_line(line: &str) -> Option<Prop> {
    // The name and parameters end at the first ':' outside double quotes.
    let mut in_quotes = false;
    let mut colon = None;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ':' if !in_quotes => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let colon = colon?;
    let (head, value) = (&line[..colon], &line[colon + 1..]);
    let mut parts = split_outside_quotes(head, ';').into_iter();
    let full_name = parts.next()?;
    let name = full_name
        .rsplit('.')
        .next()
        .unwrap_or(&full_name)
        .to_ascii_uppercase();
    let mut params = Vec::new();
    for p in parts {
        let (k, v) = match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), v.to_string()),
            // vCard 2.1 style bare parameter: `TEL;CELL:` means TYPE=CELL.
            None => ("TYPE".to_string(), p.clone()),
        };
        let values = split_outside_quotes(&v, ',')
            .into_iter()
            .map(|x| x.trim_matches('"').to_string())
            .collect();
        params.push((k, values));
    }
    Some(Prop {
        name,
        params,
        value: value.to_string(),
    })
}

fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    for c in s.chars() {
        if c == '"' {
            in_quotes = !in_quotes;
            cur.push(c);
        } else if c == sep && !in_quotes {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// The properties directly inside the first component `kind` (nested components such as
/// VALARM are skipped) for which `accept` holds.
pub fn component_props(
    body: &str,
    kind: &str,
    accept: impl Fn(&[Prop]) -> bool,
) -> Option<Vec<Prop>> {
    let mut depth_in: Option<usize> = None;
    let mut depth = 0usize;
    let mut current: Vec<Prop> = Vec::new();
    for line in unfold(body) {
        let Some(p) = parse_line(&line) else {
            continue;
        };
        if p.name == "BEGIN" {
            depth += 1;
            if depth_in.is_none() && p.value.trim().eq_ignore_ascii_case(kind) {
                depth_in = Some(depth);
                current.clear();
            }
            continue;
        }
        if p.name == "END" {
            if depth_in == Some(depth) {
                if accept(&current) {
                    return Some(current);
                }
                depth_in = None;
            }
            depth = depth.saturating_sub(1);
            continue;
        }
        if depth_in == Some(depth) {
            current.push(p);
        }
    }
    None
}

/// Escape a TEXT value (RFC 5545 §3.3.11 / RFC 6350 §3.4).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out
}

/// Undo [`escape`].
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') | Some('N') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Split on `sep` where it is not escaped with a backslash; parts keep their escapes.
pub fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            cur.push(c);
            if let Some(n) = chars.next() {
                cur.push(n);
            }
        } else if c == sep {
            out.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    out.push(cur);
    out
}

/// Quote a parameter value when it holds `:`, `;` or `,`.
pub fn param_value(v: &str) -> String {
    let v = v.replace('"', "'");
    if v.contains([':', ';', ',']) {
        format!("\"{v}\"")
    } else {
        v
    }
}

/// Append one content line, folded at 75 octets without splitting a UTF-8 character.
pub fn push_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_round_trip() {
        let s = "a,b;c\\d\nline2";
        assert_eq!(escape(s), "a\\,b\\;c\\\\d\\nline2");
        assert_eq!(unescape(&escape(s)), s);
        assert_eq!(
            split_unescaped("Müller\\;X;Zoë;;;", ';'),
            vec!["Müller\\;X", "Zoë", "", "", ""]
        );
    }

    #[test]
    fn folding_keeps_utf8() {
        let mut out = String::new();
        let long = format!("SUMMARY:{}", "☕".repeat(40));
        push_line(&mut out, &long);
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{} octets", l.len());
        }
        assert_eq!(unfold(&out), vec![long]);
    }

    #[test]
    fn lines_and_components() {
        let body = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;TZID=\"W. Europe Standard Time\":20261127T100000\r\nSUMMARY:Hi\r\n there\r\nBEGIN:VALARM\r\nSUMMARY:alarm\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let props = component_props(body, "VEVENT", |_| true).unwrap();
        assert_eq!(props.len(), 2);
        assert_eq!(props[0].param("tzid"), Some("W. Europe Standard Time"));
        assert_eq!(props[1].value, "Hithere");
        let p = parse_line("item1.EMAIL;type=INTERNET,pref:a@b.c").unwrap();
        assert_eq!(p.name, "EMAIL");
        assert!(p.has_param("TYPE", "pref"));
        let p = parse_line("ATTENDEE;CN=\"Doe: J\":mailto:j@x").unwrap();
        assert_eq!(p.value, "mailto:j@x");
        assert_eq!(p.param("CN"), Some("Doe: J"));
    }
}
