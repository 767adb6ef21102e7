//! Content lines, the grammar iCalendar (RFC 5545 §3.1) and vCard (RFC 6350 §3.2,
//! RFC 2426 §2.6) share, written once for every layer: reading logical lines (unfolding, group,
//! name, parameters with quoted values, value), writing them (75-octet folding), TEXT escaping
//! (RFC 5545 §3.3.11, RFC 6350 §3.4) and DURATION values (RFC 5545 §3.3.6).
//!
//! The reader is lossless: every [`Line`] keeps its exact bytes, so callers that replay what a
//! client sent (partial calendar-data, address-data selection, the CRM overlay) never
//! re-serialise it. Nothing here panics on input.

use std::borrow::Cow;

/// Maximum length of one physical content line in octets, line break excluded (RFC 5545 §3.1,
/// RFC 6350 §3.2, RFC 2426 §2.6).
pub const MAX_LINE_OCTETS: usize = 75;

/// One logical content line of a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    /// The exact bytes: every physical line with its folds, and the final line break if any.
    pub raw: &'a str,
    /// The logical line: folds removed (a line break and the one space or tab after it), no
    /// line break at the end.
    pub unfolded: Cow<'a, str>,
}

impl<'a> Line<'a> {
    /// The bytes without the final line break (folds kept as written).
    pub fn folded(&self) -> &'a str {
        let s = self.raw.strip_suffix('\n').unwrap_or(self.raw);
        s.strip_suffix('\r').unwrap_or(s)
    }

    /// The physical lines joined with CRLF, without a final line break: what the line is when
    /// written back into a CRLF body (a client's bare-LF folds become CRLF).
    pub fn folded_crlf(&self) -> Cow<'a, str> {
        let folded = self.folded();
        if !folded.contains('\n') {
            return Cow::Borrowed(folded);
        }
        let parts: Vec<&str> = folded
            .split('\n')
            .map(|p| p.strip_suffix('\r').unwrap_or(p))
            .collect();
        Cow::Owned(parts.join("\r\n"))
    }

    /// Property name in upper case, without its group (`item1.TEL` → `TEL`).
    pub fn name(&self) -> String {
        property_name(&self.unfolded)
    }

    /// Byte offset in `unfolded` of the colon that starts the value (outside quotes).
    pub fn value_colon(&self) -> Option<usize> {
        value_colon(&self.unfolded)
    }

    /// The raw value (escapes in place); empty when the line has no value colon.
    pub fn value(&self) -> &str {
        match self.value_colon() {
            Some(colon) => &self.unfolded[colon + 1..],
            None => "",
        }
    }
}

/// Reads `body` as logical lines (RFC 5545 §3.1, RFC 6350 §3.2): a line break followed by a
/// space or a tab continues the line. Accepts CRLF and bare LF. Blank lines are lines of their
/// own (with an empty `unfolded`); the raw bytes of all lines concatenate to `body`.
pub fn lines(body: &str) -> Lines<'_> {
    Lines { body, pos: 0 }
}

/// Iterator over the logical lines of a body, see [`lines`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    body: &'a str,
    pos: usize,
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    fn next(&mut self) -> Option<Line<'a>> {
        let body = self.body;
        let start = self.pos;
        if start >= body.len() {
            return None;
        }
        let mut unfolded: Cow<'a, str> = Cow::Borrowed("");
        let mut pos = start;
        while pos < body.len() {
            // A physical line at `pos` continues this logical line when it starts with a space
            // or a tab; the first one of a logical line never does.
            if pos > start && !matches!(body.as_bytes()[pos], b' ' | b'\t') {
                break;
            }
            let end = body[pos..].find('\n').map_or(body.len(), |i| pos + i + 1);
            let physical = &body[pos..end];
            let content = physical.strip_suffix('\n').unwrap_or(physical);
            let content = content.strip_suffix('\r').unwrap_or(content);
            if pos == start {
                unfolded = Cow::Borrowed(content);
            } else {
                unfolded.to_mut().push_str(&content[1..]);
            }
            pos = end;
        }
        self.pos = pos;
        Some(Line {
            raw: &body[start..pos],
            unfolded,
        })
    }
}

/// A logical line split into its parts (RFC 5545 §3.1 `contentline`, RFC 6350 §3.3), borrowing
/// from the unfolded line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentLine<'a> {
    /// The group (`item1` of `item1.TEL`), as written.
    pub group: Option<&'a str>,
    /// The name as written (trimmed), without its group.
    pub name: &'a str,
    /// The parameters in order.
    pub params: Vec<Param<'a>>,
    /// The raw value, escapes still in place.
    pub value: &'a str,
}

impl ContentLine<'_> {
    /// The name in upper case, without the group.
    pub fn upper_name(&self) -> String {
        self.name.to_ascii_uppercase()
    }

    /// Group and name as written (`item1.TEL`).
    pub fn full_name(&self) -> Cow<'_, str> {
        match self.group {
            Some(g) => Cow::Owned(format!("{g}.{}", self.name)),
            None => Cow::Borrowed(self.name),
        }
    }
}

/// One parameter of a content line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param<'a> {
    /// The name as written (trimmed).
    pub name: &'a str,
    /// Everything after `=`, quotes kept; `None` for a bare parameter (vCard 2.1 `TEL;CELL`).
    pub value: Option<&'a str>,
}

impl Param<'_> {
    /// The values: split on commas outside quotes, surrounding quotes removed.
    pub fn values(&self) -> Vec<String> {
        self.value
            .map(|v| {
                split_outside_quotes(v, b',')
                    .map(|x| x.trim_matches('"').to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The whole value with every DQUOTE removed (multi-values stay comma-joined); empty for a
    /// bare parameter.
    pub fn unquoted(&self) -> String {
        match self.value {
            Some(v) if v.contains('"') => v.replace('"', ""),
            Some(v) => v.to_string(),
            None => String::new(),
        }
    }
}

/// Splits one unfolded line: `[group "."] name *(";" param) ":" value`, where `:` and `;`
/// inside double quotes do not count. `None` when the line has no value colon. Names are not
/// checked here (see [`is_name`]).
pub fn parse_line(unfolded: &str) -> Option<ContentLine<'_>> {
    let colon = value_colon(unfolded)?;
    let (head, value) = (&unfolded[..colon], &unfolded[colon + 1..]);
    let mut parts = split_outside_quotes(head, b';');
    let full = parts.next().unwrap_or("").trim();
    let (group, name) = match full.rfind('.') {
        Some(dot) => (Some(&full[..dot]), &full[dot + 1..]),
        None => (None, full),
    };
    let params = parts
        .map(|p| match p.split_once('=') {
            Some((n, v)) => Param {
                name: n.trim(),
                value: Some(v),
            },
            None => Param {
                name: p.trim(),
                value: None,
            },
        })
        .collect();
    Some(ContentLine {
        group,
        name,
        params,
        value,
    })
}

/// Whether `s` is a valid (group-qualified) property name: letters, digits, `-` and `.`.
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Property name of an unfolded content line, upper case, group removed.
pub fn property_name(unfolded: &str) -> String {
    let head_end = unfolded.find([';', ':']).unwrap_or(unfolded.len());
    let head = &unfolded[..head_end];
    let name = match head.rfind('.') {
        Some(dot) => &head[dot + 1..],
        None => head,
    };
    name.trim().to_ascii_uppercase()
}

/// Offset of the first colon outside double quotes (the parameter/value separator).
pub fn value_colon(unfolded: &str) -> Option<usize> {
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

/// The parts of `s` between `sep` bytes outside double quotes. Scans bytes: `sep` and `"` are
/// ASCII, and no byte of a multi-byte UTF-8 sequence is ASCII, so every cut is a char boundary.
fn split_outside_quotes(s: &str, sep: u8) -> impl Iterator<Item = &str> {
    let mut start = 0;
    let mut quoted = false;
    let mut bytes = s.bytes().enumerate();
    std::iter::from_fn(move || {
        if start > s.len() {
            return None;
        }
        for (i, b) in bytes.by_ref() {
            if b == b'"' {
                quoted = !quoted;
            } else if b == sep && !quoted {
                let part = &s[start..i];
                start = i + 1;
                return Some(part);
            }
        }
        let part = &s[start..];
        start = s.len() + 1;
        Some(part)
    })
}

/// Appends `line` folded so that no physical line exceeds 75 octets (never inside a UTF-8
/// sequence), ended by CRLF (RFC 5545 §3.1, RFC 6350 §3.2).
pub fn push_folded(out: &mut String, line: &str) {
    let mut width = 0usize;
    for ch in line.chars() {
        let len = ch.len_utf8();
        if width + len > MAX_LINE_OCTETS {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(ch);
        width += len;
    }
    out.push_str("\r\n");
}

/// Escapes a TEXT value (RFC 5545 §3.3.11, RFC 6350 §3.4): backslash, semicolon, comma, and a
/// line break (CRLF, LF or a lone CR) as `\n`.
pub fn escape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
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

/// Undoes TEXT escaping: `\n`/`\N` is a line feed, any other escaped character stands for
/// itself, a trailing lone backslash is kept.
pub fn unescape_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n' | 'N') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Splits on `sep` where it is not escaped with a backslash; parts keep their escapes
/// (structured values such as N and ADR, lists such as CATEGORIES).
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

/// Escapes each component and joins them with `;` (N, ADR, ORG).
pub fn structured(components: &[&str]) -> String {
    components
        .iter()
        .map(|c| escape_text(c))
        .collect::<Vec<_>>()
        .join(";")
}

/// Escapes each item and joins them with `,` (CATEGORIES, NICKNAME).
pub fn text_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|c| escape_text(c))
        .collect::<Vec<_>>()
        .join(",")
}

/// A parameter value, DQUOTE-quoted when it holds `:`, `;` or `,` (RFC 5545 §3.2). A DQUOTE
/// cannot appear in a parameter value, so it becomes an apostrophe.
pub fn param_value(v: &str) -> String {
    let v = v.replace('"', "'");
    if v.contains([':', ';', ',']) {
        format!("\"{v}\"")
    } else {
        v
    }
}

/// A parameter value, always DQUOTE-quoted (valid for any value). DQUOTE and control
/// characters cannot appear in a parameter value, so they are dropped.
pub fn quoted(value: &str) -> String {
    let clean: String = value
        .chars()
        .filter(|c| *c != '"' && !c.is_control())
        .collect();
    format!("\"{clean}\"")
}

/// A DURATION value (RFC 5545 §3.3.6): nominal days (weeks count as 7) and exact seconds,
/// the sign applied to both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Duration {
    /// Nominal days: a day in a time zone may last 23 or 25 hours.
    pub days: i64,
    /// Exact seconds.
    pub secs: i64,
}

impl Duration {
    /// Days counted as 86,400 seconds, plus the seconds.
    pub fn approx_secs(&self) -> i64 {
        self.days * 86_400 + self.secs
    }
}

/// Parses a DURATION (`P1W`, `PT1H30M`, `-P2D`, `P1DT12H`), case-insensitive, surrounding
/// whitespace ignored. Each number has at most ten digits, so no sum overflows; `T` only
/// between elements; at least one element.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'-' => (-1, &s[1..]),
        b'+' => (1, &s[1..]),
        _ => (1, s),
    };
    let rest = rest.strip_prefix(['P', 'p'])?;
    let mut days: i64 = 0;
    let mut secs: i64 = 0;
    let mut num = String::new();
    let mut in_time = false;
    let mut any = false;
    for c in rest.chars() {
        match c.to_ascii_uppercase() {
            '0'..='9' => {
                if num.len() > 9 {
                    return None;
                }
                num.push(c);
            }
            'T' if num.is_empty() => in_time = true,
            u => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                any = true;
                match (u, in_time) {
                    ('W', false) => days += n * 7,
                    ('D', false) => days += n,
                    ('H', true) => secs += n * 3600,
                    ('M', true) => secs += n * 60,
                    ('S', true) => secs += n,
                    _ => return None,
                }
            }
        }
    }
    if !num.is_empty() || !any {
        return None;
    }
    Some(Duration {
        days: sign * days,
        secs: sign * secs,
    })
}

/// Seconds as a DURATION (`PT45M`, `P1DT2H`, `P3D`, `PT0S`, `-PT5M`): whole days, then hours,
/// minutes and seconds, zero elements left out.
pub fn format_duration(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let mut s = secs.unsigned_abs();
    let days = s / 86_400;
    s %= 86_400;
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = format!("{sign}P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if h > 0 || m > 0 || sec > 0 || days == 0 {
        out.push('T');
        if h > 0 {
            out.push_str(&format!("{h}H"));
        }
        if m > 0 {
            out.push_str(&format!("{m}M"));
        }
        if sec > 0 || (h == 0 && m == 0) {
            out.push_str(&format!("{sec}S"));
        }
    }
    out
}

#[cfg(test)]
mod fold_props;
#[cfg(test)]
mod tests;
