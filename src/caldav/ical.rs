//! An iCalendar body as a lossless component tree, read with [`crate::contentline`].
//!
//! `calcard` is the gatekeeper that decides whether a body is iCalendar at all (see
//! [`super::inspect`]); evaluation works on this tree because it keeps every property's raw
//! bytes, so partial calendar-data can replay what the client sent without re-serialising it.

use crate::contentline;

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
    let mut stack: Vec<Comp> = Vec::new();
    let mut root: Option<Comp> = None;
    for line in contentline::lines(body) {
        if line.unfolded.is_empty() {
            continue;
        }
        if line.unfolded.starts_with([' ', '\t']) {
            return Err("continuation line before any property".into());
        }
        if root.is_some() {
            return Err("content after the end of the top-level component".into());
        }
        let prop = parse_line(&line.unfolded, line.folded_crlf().into_owned())?;
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

/// One logical line as a [`Prop`]: the name keeps its group, parameter values lose their
/// quotes (multi-values stay comma-joined).
fn parse_line(line: &str, raw: String) -> Result<Prop, String> {
    let invalid = || format!("invalid content line: {}", truncate(line));
    let Some(cl) = contentline::parse_line(line) else {
        // No value colon: a bad name is reported before a missing value.
        let head = line.split(';').next().unwrap_or("").trim();
        return Err(if contentline::is_name(head) {
            format!("content line without a value: {}", truncate(line))
        } else {
            invalid()
        });
    };
    let name = cl.full_name().to_ascii_uppercase();
    if !contentline::is_name(&name) {
        return Err(invalid());
    }
    let params = cl
        .params
        .iter()
        .map(|p| (p.name.to_ascii_uppercase(), p.unquoted()))
        .collect();
    Ok(Prop {
        name,
        params,
        value: cl.value.to_string(),
        raw,
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Serialise a component, replaying each property's original bytes.
pub fn write_comp(out: &mut String, c: &Comp) {
    contentline::push_folded(out, &format!("BEGIN:{}", c.name));
    for p in &c.props {
        out.push_str(&p.raw);
        out.push_str("\r\n");
    }
    for sub in &c.comps {
        write_comp(out, sub);
    }
    contentline::push_folded(out, &format!("END:{}", c.name));
}

/// A new property from its parts (value written as given).
pub fn make_prop(name: &str, params: &[(&str, &str)], value: &str) -> Prop {
    let mut line = name.to_string();
    for (n, v) in params {
        line.push(';');
        line.push_str(n);
        line.push('=');
        line.push_str(&contentline::param_value(v));
    }
    line.push(':');
    line.push_str(value);
    let mut raw = String::new();
    contentline::push_folded(&mut raw, &line);
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
