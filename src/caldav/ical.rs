//! An iCalendar body as a lossless component tree, read with [`crate::contentline`].
//!
//! `calcard` is the gatekeeper that decides whether a body is iCalendar at all (see
//! [`super::inspect`]); evaluation works on this tree because it keeps every property's raw
//! bytes, so partial calendar-data can replay what the client sent without re-serialising it.

use crate::contentline;
use std::borrow::Cow;

/// A property or component name: the common ones borrowed from a static table, any other
/// one owned (upper-cased).
pub type Name = Cow<'static, str>;

/// One property: upper-cased name, parameters, raw (still escaped) value and its original lines.
///
/// One allocation per property in the common case (an unfolded line with a known name and no
/// parameters): the value is a slice of `raw` unless folding made them differ.
#[derive(Debug, Clone)]
pub struct Prop {
    pub name: Name,
    /// (upper-cased name, value without surrounding quotes; multi-values kept comma-joined).
    pub params: Vec<(Name, String)>,
    value: Value,
    /// The property exactly as it appeared (folded lines joined with CRLF, no final CRLF).
    pub raw: String,
}

/// Where a property's value is kept.
#[derive(Debug, Clone)]
enum Value {
    /// `raw[at..]`: the line was not folded, so the unfolded value is the end of `raw`.
    InRaw(usize),
    /// The unfolded value of a folded line.
    Owned(String),
}

impl Prop {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The raw value (unfolded, escapes still in place).
    pub fn value(&self) -> &str {
        match &self.value {
            Value::InRaw(at) => self.raw.get(*at..).unwrap_or(""),
            Value::Owned(v) => v,
        }
    }
}

/// Names read often enough that copying them for every property would show: the properties
/// of RFC 5545 §3.7-3.8 a calendar object usually carries, the parameters of §3.2 and the
/// component names, found by
/// one `match` (compiled to length and byte comparisons, no search loop).
macro_rules! known_names {
    ($($n:literal),* $(,)?) => {
        /// `name` when it is one of the known names, as a static string.
        fn known_name(name: &str) -> Option<&'static str> {
            match name {
                $($n => Some($n),)*
                _ => None,
            }
        }

        #[cfg(test)]
        const KNOWN_NAMES: &[&str] = &[$($n),*];
    };
}

known_names!(
    "ALTREP",
    "CN",
    "CUTYPE",
    "DELEGATED-FROM",
    "DELEGATED-TO",
    "DIR",
    "EMAIL",
    "ENCODING",
    "FBTYPE",
    "FMTTYPE",
    "LANGUAGE",
    "MEMBER",
    "PARTSTAT",
    "RANGE",
    "RELATED",
    "RELTYPE",
    "ROLE",
    "RSVP",
    "SCHEDULE-AGENT",
    "SCHEDULE-STATUS",
    "SENT-BY",
    "VALUE",
    "ACTION",
    "ATTACH",
    "ATTENDEE",
    "BEGIN",
    "CALSCALE",
    "CATEGORIES",
    "CLASS",
    "COMMENT",
    "COMPLETED",
    "CONTACT",
    "CREATED",
    "DAYLIGHT",
    "DESCRIPTION",
    "DTEND",
    "DTSTAMP",
    "DTSTART",
    "DUE",
    "DURATION",
    "END",
    "EXDATE",
    "FREEBUSY",
    "GEO",
    "LAST-MODIFIED",
    "LOCATION",
    "METHOD",
    "ORGANIZER",
    "PERCENT-COMPLETE",
    "PRIORITY",
    "PRODID",
    "RDATE",
    "RECURRENCE-ID",
    "RELATED-TO",
    "REPEAT",
    "RESOURCES",
    "RRULE",
    "SEQUENCE",
    "STANDARD",
    "STATUS",
    "SUMMARY",
    "TRANSP",
    "TRIGGER",
    "TZID",
    "TZNAME",
    "TZOFFSETFROM",
    "TZOFFSETTO",
    "TZURL",
    "UID",
    "URL",
    "VALARM",
    "VCALENDAR",
    "VERSION",
    "VEVENT",
    "VFREEBUSY",
    "VJOURNAL",
    "VTIMEZONE",
    "VTODO",
);

/// `name` upper-cased, borrowed from the known names when it is one of them.
fn upper_name(name: &str) -> Name {
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        return match known_name(name) {
            Some(k) => Name::Borrowed(k),
            None => Name::Owned(name.to_string()),
        };
    }
    let upper = name.to_ascii_uppercase();
    match known_name(&upper) {
        Some(k) => Name::Borrowed(k),
        None => Name::Owned(upper),
    }
}

/// One component with its properties and sub-components in document order.
#[derive(Debug, Clone, Default)]
pub struct Comp {
    pub name: Name,
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
        self.prop(name).map(Prop::value)
    }
}

/// Parse a body that must hold exactly one top-level component.
pub fn parse(body: &str) -> Result<Comp, String> {
    parse_with(body, ZoneRules::Read)
}

/// [`parse`], except that the rules (STANDARD, DAYLIGHT) of a VTIMEZONE whose TZID the zone
/// table knows are passed over without being split into lines: the VTIMEZONE keeps its own
/// properties and no sub-component. For a caller that reads zones only through
/// [`super::time::Zones`] (which then needs the TZID alone) and does not write VTIMEZONEs
/// back: expansion and time-range filters. Meant for stored bodies, which passed [`parse`]
/// when they were written.
pub fn parse_without_zone_rules(body: &str) -> Result<Comp, String> {
    parse_with(body, ZoneRules::Skip)
}

/// Whether [`parse_with`] reads the rules of known zones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ZoneRules {
    Read,
    Skip,
}

/// Where the VTIMEZONE whose first sub-component begins at `at` ends: the position after its
/// END line, found by looking only at the first bytes of each line. `None` (read it line by
/// line) when a line that begins or ends another `V…` component comes first, so a missed END
/// never hides a component.
fn skip_zone_rules(body: &str, mut at: usize) -> Option<usize> {
    let bytes = body.as_bytes();
    let starts = |pos: usize, prefix: &[u8]| {
        bytes
            .get(pos..pos + prefix.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(prefix))
    };
    while at < bytes.len() {
        let next = memchr::memchr(b'\n', &bytes[at..]).map_or(bytes.len(), |i| at + i + 1);
        if starts(at, b"BEGIN:V") {
            return None;
        }
        if starts(at, b"END:V") {
            let name = body.get(at + 4..next)?.trim();
            return name.eq_ignore_ascii_case("VTIMEZONE").then_some(next);
        }
        at = next;
    }
    None
}

fn parse_with(body: &str, zone_rules: ZoneRules) -> Result<Comp, String> {
    let body = body.strip_prefix('\u{feff}').unwrap_or(body);
    let mut stack: Vec<Comp> = Vec::new();
    let mut root: Option<Comp> = None;
    let mut lines = contentline::lines(body);
    while let Some(line) = lines.next() {
        if line.unfolded.is_empty() {
            continue;
        }
        if line.unfolded.starts_with([' ', '\t']) {
            return Err("continuation line before any property".into());
        }
        if root.is_some() {
            return Err("content after the end of the top-level component".into());
        }
        // A line that was not folded is its own raw text (no second scan, no copy).
        let (raw, folded) = match &line.unfolded {
            Cow::Borrowed(unfolded) => (Cow::Borrowed(*unfolded), false),
            Cow::Owned(_) => (line.folded_crlf(), true),
        };
        let prop = parse_line(&line.unfolded, raw, folded)?;
        match &*prop.name {
            "BEGIN" => {
                if stack.len() >= 16 {
                    return Err("components nested too deeply".into());
                }
                let name = upper_name(prop.value().trim());
                if name.is_empty() {
                    return Err("BEGIN without a component name".into());
                }
                if zone_rules == ZoneRules::Skip {
                    if let Some(next) = known_zone_rules(body, &line, &stack) {
                        // The VTIMEZONE ends here: its END line was found by the skip.
                        let Some(zone) = stack.pop() else {
                            return Err("END without BEGIN".into());
                        };
                        match stack.last_mut() {
                            Some(parent) => parent.comps.push(zone),
                            None => root = Some(zone),
                        }
                        lines = contentline::lines(&body[next..]);
                        continue;
                    }
                }
                stack.push(Comp {
                    name,
                    // Most components hold a handful of properties: no growing from 1.
                    props: Vec::with_capacity(8),
                    comps: Vec::new(),
                });
            }
            "END" => {
                let name = upper_name(prop.value().trim());
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

/// With `line` the BEGIN of a sub-component of a VTIMEZONE whose TZID the zone table knows,
/// the position after that VTIMEZONE's END line ([`skip_zone_rules`]).
fn known_zone_rules(body: &str, line: &contentline::Line<'_>, stack: &[Comp]) -> Option<usize> {
    let zone = stack.last().filter(|c| c.name == "VTIMEZONE")?;
    super::time::known_zone(zone.value("TZID")?)?;
    // `line.raw` is a slice of `body`.
    let at = (line.raw.as_ptr() as usize).checked_sub(body.as_ptr() as usize)?;
    skip_zone_rules(body, at)
}

/// One logical line as a [`Prop`]: the name keeps its group, parameter values lose their
/// quotes (multi-values stay comma-joined).
fn parse_line(line: &str, raw: Cow<'_, str>, folded: bool) -> Result<Prop, String> {
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
    let name = upper_name(&cl.full_name());
    if !contentline::is_name(&name) {
        return Err(invalid());
    }
    let params = cl
        .params
        .iter()
        .map(|p| (upper_name(p.name), p.unquoted()))
        .collect();
    // Not folded, the line is `raw` itself and the value its end.
    let value = if folded {
        Value::Owned(cl.value.to_string())
    } else {
        Value::InRaw(line.len() - cl.value.len())
    };
    Ok(Prop {
        name,
        params,
        value,
        raw: raw.into_owned(),
    })
}

#[cfg(test)]
#[test]
fn known_names_are_upper_case() {
    assert!(KNOWN_NAMES.iter().all(|n| *n == n.to_ascii_uppercase()));
    assert!(KNOWN_NAMES.iter().all(|n| known_name(n) == Some(*n)));
    assert!(matches!(upper_name("dtStart"), Cow::Borrowed("DTSTART")));
    assert_eq!(upper_name("x-wr-calname"), "X-WR-CALNAME");
}

fn truncate(s: &str) -> String {
    s.chars().take(60).collect()
}

/// Serialise a component, replaying each property's original bytes: the reference the
/// renderer's one-pass writer (`caldata::write_comp_to`) is tested against.
#[cfg(test)]
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
    // Folding can only have cut the value when the raw text no longer ends with it.
    let value = match raw.strip_suffix(value) {
        Some(head) => Value::InRaw(head.len()),
        None => Value::Owned(value.to_string()),
    };
    Prop {
        name: upper_name(name),
        params: params
            .iter()
            .map(|(n, v)| (upper_name(n), v.to_string()))
            .collect(),
        value,
        raw,
    }
}

#[cfg(test)]
mod zone_rule_tests {
    use super::*;

    const BERLIN: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nX-LIC-LOCATION:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nend:vtimezone \r\n";
    const CUSTOM: &str = "BEGIN:VTIMEZONE\r\nTZID:Custom/Office\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0300\r\nTZOFFSETTO:+0300\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";
    const EVENT: &str = "BEGIN:VEVENT\r\nUID:u\r\nDTSTART;TZID=Europe/Berlin:20260310T090000\r\nBEGIN:VALARM\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nEND:VEVENT\r\n";

    fn written(c: &Comp) -> String {
        let mut out = String::new();
        write_comp(&mut out, c);
        out
    }

    /// A known zone keeps its own properties and loses its rules; an unknown zone and every
    /// other component are read as `parse` reads them.
    #[test]
    fn known_zone_rules_are_passed_over() {
        let body =
            format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{BERLIN}{EVENT}{CUSTOM}END:VCALENDAR\r\n");
        let full = parse(&body).expect("parses");
        let light = parse_without_zone_rules(&body).expect("parses");
        assert_eq!(light.comps.len(), 3);
        let berlin = &light.comps[0];
        assert_eq!(berlin.name, "VTIMEZONE");
        assert_eq!(berlin.value("TZID"), Some("Europe/Berlin"));
        assert_eq!(berlin.props.len(), 2);
        assert!(berlin.comps.is_empty(), "{berlin:?}");
        assert_eq!(full.comps[0].comps.len(), 2);
        for i in [1, 2] {
            assert_eq!(written(&light.comps[i]), written(&full.comps[i]));
        }
        assert_eq!(
            light.comps[2].comps.len(),
            1,
            "the custom zone keeps its rule"
        );
    }

    /// A zone whose END is not where the skip looks is read line by line: the same tree, or
    /// the same error, as `parse`.
    #[test]
    fn an_unclosed_zone_is_read_line_by_line() {
        let unclosed = BERLIN.replace("end:vtimezone \r\n", "");
        // No END before the event: the skip stops at BEGIN:VEVENT, the parse fails as `parse`.
        let body = format!("BEGIN:VCALENDAR\r\n{unclosed}{EVENT}END:VCALENDAR\r\n");
        let (full, light) = (parse(&body), parse_without_zone_rules(&body));
        assert!(full.is_err());
        assert_eq!(light.expect_err("no END"), full.expect_err("no END"));
        // An END with a parameter is not seen by the skip: read line by line, rules and all.
        let body = format!(
            "BEGIN:VCALENDAR\r\n{}{EVENT}END:VCALENDAR\r\n",
            BERLIN.replace("end:vtimezone ", "END;X-A=1:VTIMEZONE")
        );
        let light = parse_without_zone_rules(&body).expect("parses");
        assert_eq!(light.comps[0].comps.len(), 2);
        assert_eq!(written(&light), written(&parse(&body).expect("parses")));
    }
}
