//! A small, lossless iCalendar content-line reader (RFC 5545 §3.1).
//!
//! `calcard` is the gatekeeper that decides whether a body is iCalendar at all (see
//! [`super::inspect`]); evaluation works on this tree because it keeps every property's raw
//! bytes, so partial calendar-data can replay what the client sent without re-serialising it.

/// One property: upper-cased name, parameters, raw (still escaped) value and its original lines.
#[derive(Debug, Clone)]
pub struct Prop {
    pub name: String,
    /// (upper-cased name, value without surrounding quotes; multi-values kept comma-joined).
    pub params: Vec<(String, String)>,
    pub value: String,
    /// The property exactly as it appeared (folded lines joined with CRLF, no final CRLF).
    pub raw: String,
}

impl Prop {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One component with its properties and sub-components in document order.
#[derive(Debug, Clone, Default)]
pub struct Comp {
    pub name: String,
    pub props: Vec<Prop>,
    pub comps: Vec<Comp>,
}

impl Comp {
    pub fn prop(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.name == name)
    }

    pub fn props_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Prop> + 'a {
        self.props.iter().filter(move |p| p.name == name)
    }

    pub fn value(&self, name: &str) -> Option<&str> {
        self.prop(name).map(|p| p.value.as_str())
    }
}

/// Parse a body that must hold exactly one top-level component.
pub fn parse(body: &str) -> Result<Comp, String> {
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    // Unfold, keeping each logical line's original text.
    let mut lines: Vec<(String, String)> = Vec::new(); // (unfolded, raw)
    for physical in body.split('\n') {
        let physical = physical.strip_suffix('\r').unwrap_or(physical);
        if let Some(cont) = physical
            .strip_prefix(' ')
            .or_else(|| physical.strip_prefix('\t'))
        {
            match lines.last_mut() {
                Some((u, r)) => {
                    u.push_str(cont);
                    r.push_str("\r\n");
                    r.push_str(physical);
                }
                None => return Err("continuation line before any property".into()),
            }
        } else if !physical.is_empty() {
            lines.push((physical.to_string(), physical.to_string()));
        }
    }

    let mut stack: Vec<Comp> = Vec::new();
    let mut root: Option<Comp> = None;
    for (line, raw) in lines {
        if root.is_some() {
            return Err("content after the end of the top-level component".into());
        }
        let prop = parse_line(&line, raw)?;
        match prop.name.as_str() {
            "BEGIN" => {
                if stack.len() >= 16 {
                    return Err("components nested too deeply".into());
                }
                let name = prop.value.trim().to_ascii_uppercase();
                if name.is_empty() {
                    return Err("BEGIN without a component name".into());
                }
                stack.push(Comp {
                    name,
                    ..Comp::default()
                });
            }
            "END" => {
                let name = prop.value.trim().to_ascii_uppercase();
                let done = stack.pop().ok_or("END without BEGIN")?;
                if done.name != name {
                    return Err(format!("END:{name} closes BEGIN:{}", done.name));
                }
                match stack.last_mut() {
                    Some(parent) => parent.comps.push(done),
                    None => root = Some(done),
                }
            }
            _ => match stack.last_mut() {
                Some(c) => c.props.push(prop),
                None => return Err("property outside of any component".into()),
            },
        }
    }
    if !stack.is_empty() {
        return Err("unterminated component".into());
    }
    root.ok_or_else(|| "no component".into())
}

fn parse_line(line: &str, raw: String) -> Result<Prop, String> {
    // name *(";" param) ":" value; colons and semicolons inside quoted strings do not count.
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() && bytes[i] != b';' && bytes[i] != b':' {
        i += 1;
    }
    let name = line[..i].trim().to_ascii_uppercase();
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(format!("invalid content line: {}", truncate(line)));
    }
    let mut params = Vec::new();
    while i < bytes.len() && bytes[i] == b';' {
        i += 1;
        let start = i;
        while i < bytes.len() && bytes[i] != b'=' && bytes[i] != b';' && bytes[i] != b':' {
            i += 1;
        }
        let pname = line[start..i].trim().to_ascii_uppercase();
        let mut pval = String::new();
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            let mut in_quote = false;
            let vstart = i;
            while i < bytes.len() {
                match bytes[i] {
                    b'"' => in_quote = !in_quote,
                    b';' | b':' if !in_quote => break,
                    _ => {}
                }
                i += 1;
            }
            pval = line[vstart..i].replace('"', "");
        }
        params.push((pname, pval));
    }
    if i >= bytes.len() || bytes[i] != b':' {
        return Err(format!("content line without a value: {}", truncate(line)));
    }
    let value = line[i + 1..].to_string();
    Ok(Prop {
        name,
        params,
        value,
        raw,
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Undo TEXT escaping (RFC 5545 §3.3.11).
pub fn unescape_text(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') | Some('N') => out.push('\n'),
                Some(o) => out.push(o),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Append one content line, folded at 75 octets, with CRLF.
pub fn write_line(out: &mut String, line: &str) {
    let mut count = 0;
    for c in line.chars() {
        let n = c.len_utf8();
        if count + n > 75 {
            out.push_str("\r\n ");
            count = 1;
        }
        out.push(c);
        count += n;
    }
    out.push_str("\r\n");
}

/// Serialise a component, replaying each property's original bytes.
pub fn write_comp(out: &mut String, c: &Comp) {
    write_line(out, &format!("BEGIN:{}", c.name));
    for p in &c.props {
        out.push_str(&p.raw);
        out.push_str("\r\n");
    }
    for sub in &c.comps {
        write_comp(out, sub);
    }
    write_line(out, &format!("END:{}", c.name));
}

/// A new property from its parts (value written as given).
pub fn make_prop(name: &str, params: &[(&str, &str)], value: &str) -> Prop {
    let mut line = name.to_string();
    for (n, v) in params {
        line.push(';');
        line.push_str(n);
        line.push('=');
        if v.contains([':', ';', ',']) {
            line.push('"');
            line.push_str(v);
            line.push('"');
        } else {
            line.push_str(v);
        }
    }
    line.push(':');
    line.push_str(value);
    let mut raw = String::new();
    write_line(&mut raw, &line);
    raw.truncate(raw.len() - 2);
    Prop {
        name: name.to_string(),
        params: params
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        value: value.to_string(),
        raw,
    }
}
