//! The properties of a component as the mapping engine reads them, on top of
//! [`crate::contentline`] (which also provides the escaping and folding re-exported here).
//!
//! Only what the mapping engine needs: bodies are validated by the DAV layer before they get
//! here, and what the CRM cannot hold survives in the client's stored copy, not through us.

use crate::contentline;

/// The writing half, under the names the mapping engine uses.
pub use contentline::{
    escape_text as escape, param_value, push_folded as push_line, split_unescaped,
    unescape_text as unescape,
};

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

/// Unfold a body into logical lines (blank lines left out).
pub fn unfold(body: &str) -> Vec<String> {
    contentline::lines(body)
        .filter(|l| !l.unfolded.is_empty())
        .map(|l| l.unfolded.into_owned())
        .collect()
}

/// Parse one logical line; `None` when it has no `:`.
pub fn parse_line(line: &str) -> Option<Prop> {
    let cl = contentline::parse_line(line)?;
    let params = cl
        .params
        .iter()
        .map(|p| match p.value {
            Some(_) => (p.name.to_ascii_uppercase(), p.values()),
            // vCard 2.1 style bare parameter: `TEL;CELL:` means TYPE=CELL.
            None => ("TYPE".to_string(), vec![p.name.to_string()]),
        })
        .collect();
    Some(Prop {
        name: cl.upper_name(),
        params,
        value: cl.value.to_string(),
    })
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
