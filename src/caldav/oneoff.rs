//! A one-off VEVENT read from its stored bytes, without building the component tree: the
//! common calendar-query candidate (no RRULE, RDATE or RECURRENCE-ID) is tested against a
//! time-range (RFC 4791 §9.9) and expanded (§9.6.5) by copying its lines through, the
//! VTIMEZONEs skipped with one search each instead of being split into lines.
//!
//! The answer is byte for byte what the tree path (`object::parse`, `time::expand`,
//! `caldata::write_expanded`) makes of the same body: only bodies whose every relevant line
//! is in the canonical form that path reproduces are read here (`BEGIN`/`END` lines upper
//! case, CRLF line ends, DTSTART/DTEND unfolded with at most a TZID or VALUE parameter and a
//! zone the tree resolves the same way, no property after a sub-component); anything else
//! (`None` from [`OneOff::read`]) goes to the tree. Stored bodies passed `ical::parse` when
//! they were written, so lines this reader only copies are not parsed again.

use super::caldata::{IcsOut, InstanceTime};
use super::filter::{instance_in_range, TimeRange};
use super::ical::Comp;
use super::time::{self, DtVal, EndKind, Instance, Zones};
use std::ops::Range;

/// A VCALENDAR holding one non-recurring VEVENT (and any VTIMEZONEs), as byte ranges of its
/// stored body.
#[derive(Debug)]
pub(super) struct OneOff<'a> {
    body: &'a str,
    /// The VCALENDAR's properties (whole CRLF-terminated lines).
    cal_props: Range<usize>,
    /// The VEVENT's property lines, after its BEGIN line and before its first sub-component.
    props: Range<usize>,
    /// Its sub-components and its END line, copied as they are.
    tail: Range<usize>,
    /// The DTSTART and DTEND lines (CRLF included), which expansion rewrites in UTC.
    dtstart_line: Range<usize>,
    dtend_line: Option<Range<usize>>,
    /// Where the rewritten times go: the start of a property line, or `props.end`.
    insert_at: usize,
    start: DtVal,
    end: Option<DtVal>,
}

/// The next line at `pos`: its text without the line break, and where the next one starts.
/// `None` at the end, or for a line that does not end in CRLF (the tree would rewrite it).
fn next_line(body: &str, pos: usize) -> Option<(&str, usize)> {
    let rest = body.as_bytes().get(pos..).filter(|r| !r.is_empty())?;
    let nl = memchr::memchr(b'\n', rest)?;
    if nl == 0 || rest[nl - 1] != b'\r' {
        return None;
    }
    // CR and LF are ASCII: both ends are character boundaries.
    Some((body.get(pos..pos + nl - 1)?, pos + nl + 1))
}

/// A component boundary line as the tree writes it back: `BEGIN:NAME` / `END:NAME`, upper
/// case, nothing else. `Some(name)` for such a line, `None` for any other.
fn boundary<'l>(line: &'l str, keyword: &str) -> Option<&'l str> {
    let name = line.strip_prefix(keyword)?.strip_prefix(':')?;
    let canonical = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-');
    canonical.then_some(name)
}

/// True for a line that is `BEGIN` or `END` in any case or form.
fn is_boundary_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("BEGIN") || name.eq_ignore_ascii_case("END")
}

/// The name of a property line: up to its first `;` or `:`; `None` when the line has no
/// value colon or the name is not a plain name (a group, a stray character).
fn prop_name(line: &str) -> Option<&str> {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b':' if i > 0 => return Some(&line[..i]),
            b';' if i > 0 => return memchr::memchr(b':', &bytes[i..]).map(|_| &line[..i]),
            b'-' => {}
            _ if b.is_ascii_alphanumeric() => {}
            _ => return None,
        }
    }
    None
}

/// What expansion does with a VEVENT property, by name.
enum Role {
    /// DTSTART or DTEND, written upper case: rewritten in UTC.
    Start,
    End,
    /// Recurrence, an end the tree computes otherwise (DURATION, DUE), or DTSTART/DTEND in
    /// another case: left to the tree.
    Tree,
    /// Copied as it is.
    Kept,
}

fn role(name: &str) -> Role {
    const TREE: [&str; 9] = [
        "RRULE",
        "RDATE",
        "EXDATE",
        "EXRULE",
        "RECURRENCE-ID",
        "DUE",
        "DURATION",
        "DTSTART",
        "DTEND",
    ];
    if !matches!(
        name.as_bytes().first(),
        Some(b'D' | b'd' | b'E' | b'e' | b'R' | b'r')
    ) {
        return Role::Kept;
    }
    match name {
        "DTSTART" => Role::Start,
        "DTEND" => Role::End,
        n if TREE.iter().any(|t| t.eq_ignore_ascii_case(n)) => Role::Tree,
        _ => Role::Kept,
    }
}

/// Where the VTIMEZONE that begins at `pos` (after its BEGIN line) ends: the position after
/// its `END:VTIMEZONE` line, found by looking only at each line's first bytes. `None` unless
/// that line is in the canonical form.
fn skip_vtimezone(body: &str, mut pos: usize) -> Option<usize> {
    const END: &[u8] = b"END:VTIMEZONE";
    let bytes = body.as_bytes();
    while pos < bytes.len() {
        if bytes
            .get(pos..pos + END.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(END))
        {
            let (line, next) = next_line(body, pos)?;
            return (line.as_bytes() == END).then_some(next);
        }
        pos += memchr::memchr(b'\n', &bytes[pos..])? + 1;
    }
    None
}

/// DTSTART or DTEND in the forms the tree reads the same way: no parameter, `TZID=` a zone
/// name (unquoted) the zone table knows, or `VALUE=DATE`/`VALUE=DATE-TIME`.
fn date_time(line: &str, name: &str) -> Option<DtVal> {
    let rest = &line[name.len()..];
    let (params, value) = rest.split_once(':')?;
    let tzid = match params {
        "" | ";VALUE=DATE" | ";VALUE=DATE-TIME" => None,
        p => {
            let tzid = p.strip_prefix(";TZID=")?;
            if tzid.is_empty() || tzid.contains([';', ',', '"']) {
                return None;
            }
            // A VTIMEZONE of the body with this TZID resolves to the same zone (its own
            // definition is used only for a name the table does not know).
            time::known_zone(tzid)?;
            Some(tzid)
        }
    };
    time::parse_dt_text(value, tzid, &Zones::default())
}

impl<'a> OneOff<'a> {
    /// `body` when it is a VCALENDAR with one non-recurring VEVENT in the forms this module
    /// reproduces exactly; `None` sends it to the tree.
    pub fn read(body: &'a str) -> Option<OneOff<'a>> {
        let (first, mut pos) = next_line(body, 0)?;
        if boundary(first, "BEGIN")? != "VCALENDAR" {
            return None;
        }
        let cal_start = pos;
        let mut cal_end = None;
        let mut event: Option<OneOff<'a>> = None;
        loop {
            let (line, next) = next_line(body, pos)?;
            if let Some(comp) = boundary(line, "BEGIN") {
                cal_end.get_or_insert(pos);
                pos = match comp {
                    "VTIMEZONE" => skip_vtimezone(body, next)?,
                    "VEVENT" if event.is_none() => {
                        let (ev, after) = Self::read_event(body, next)?;
                        event = Some(ev);
                        after
                    }
                    _ => return None,
                };
                continue;
            }
            if boundary(line, "END") == Some("VCALENDAR") {
                // Nothing may follow (the tree refuses content after the top component).
                if next != body.len() {
                    return None;
                }
                let mut ev = event?;
                ev.cal_props = cal_start..cal_end.unwrap_or(pos);
                return Some(ev);
            }
            // A VCALENDAR property: before every component (the tree writes them first), a
            // plain name, not a continuation.
            let name = prop_name(line)?;
            if cal_end.is_some() || is_boundary_name(name) {
                return None;
            }
            pos = next;
        }
    }

    /// The VEVENT whose BEGIN line ends at `pos`, and the position after its END line.
    fn read_event(body: &'a str, mut pos: usize) -> Option<(OneOff<'a>, usize)> {
        let props_start = pos;
        let (mut dtstart, mut dtend) = (None, None);
        let (mut seen, mut kept, mut at) = (0usize, 0usize, None);
        let mut insert_at = None;
        // Property lines up to the first sub-component or END.
        let props_end = loop {
            let (line, next) = next_line(body, pos)?;
            if line.starts_with([' ', '\t']) || line.is_empty() {
                return None;
            }
            let name = prop_name(line)?;
            if is_boundary_name(name) {
                break pos;
            }
            // A continuation line after this one: folded, copied with it.
            let mut end = next;
            while body[end..].starts_with([' ', '\t']) {
                end = next_line(body, end)?.1;
            }
            match role(name) {
                Role::Start => {
                    if dtstart.is_some() || end != next {
                        return None;
                    }
                    // Expansion puts the times at DTSTART's index among all the properties,
                    // counted among the kept ones (`caldata::expanded_instances`).
                    at = Some(seen);
                    dtstart = Some((pos..next, date_time(line, "DTSTART")?));
                }
                Role::End => {
                    if dtend.is_some() || end != next {
                        return None;
                    }
                    dtend = Some((pos..next, date_time(line, "DTEND")?));
                }
                Role::Tree => return None,
                Role::Kept => {
                    if insert_at.is_none() && at == Some(kept) {
                        insert_at = Some(pos);
                    }
                    kept += 1;
                }
            }
            seen += 1;
            pos = end;
        };
        // Sub-components (VALARM, …) copied as they are, up to and with END:VEVENT.
        let mut depth = 0usize;
        let after = loop {
            let (line, next) = next_line(body, pos)?;
            if let Some(name) = boundary(line, "BEGIN") {
                depth += 1;
                if depth > 8 || name == "VEVENT" {
                    return None;
                }
            } else if boundary(line, "END").is_some() {
                if depth == 0 {
                    if line != "END:VEVENT" {
                        return None;
                    }
                    break next;
                }
                depth -= 1;
            } else if depth == 0 || line.is_empty() {
                // A property after a sub-component: the tree writes it before them.
                return None;
            } else if !line.starts_with([' ', '\t']) {
                let name = prop_name(line)?;
                if is_boundary_name(name) {
                    return None;
                }
            }
            pos = next;
        };
        let (dtstart_line, start) = dtstart?;
        // The tree writes DTEND with DTSTART's kind: a mixed pair is left to it.
        if dtend
            .as_ref()
            .is_some_and(|(_, e)| e.date_only != start.date_only)
        {
            return None;
        }
        let (dtend_line, end) = match dtend {
            Some((l, e)) => (Some(l), Some(e)),
            None => (None, None),
        };
        let ev = OneOff {
            body,
            cal_props: 0..0,
            props: props_start..props_end,
            tail: props_end..after,
            dtstart_line,
            dtend_line,
            insert_at: insert_at.unwrap_or(props_end),
            start,
            end,
        };
        Some((ev, after))
    }

    /// The VEVENT's one instance, as `time::single` makes it.
    fn with_instance<T>(&self, f: impl FnOnce(&Instance<'_>) -> T) -> T {
        let comp = Comp::default();
        let start_utc = self.start.utc();
        let (end_utc, end_kind) = match self.end {
            Some(e) => (Some(e.utc()), EndKind::DtEnd),
            None => (None, EndKind::None),
        };
        f(&Instance {
            comp: &comp,
            start: Some(self.start),
            start_utc: Some(start_utc),
            end_utc,
            end_kind,
            rid: None,
            floating: self.start.is_floating(),
        })
    }

    /// RFC 4791 §9.9: does the event overlap `tr`?
    pub fn in_range(&self, tr: &TimeRange) -> bool {
        self.with_instance(|i| instance_in_range("VEVENT", i, tr, &Zones::default()))
    }

    /// The calendar-data of `<C:expand>` over `tr` (RFC 4791 §9.6.5): the VCALENDAR's
    /// properties, and the event when it overlaps `tr` with DTSTART and DTEND in UTC (no
    /// RECURRENCE-ID: it is not part of a recurrence set) and no VTIMEZONE.
    pub fn write_expanded(&self, out: &mut impl IcsOut, tr: &TimeRange) {
        let body = self.body;
        out.reserve(body.len());
        out.line("BEGIN:VCALENDAR");
        out.chunk(&body[self.cal_props.clone()]);
        if self.in_range(tr) {
            out.line("BEGIN:VEVENT");
            self.write_kept(out, self.props.start..self.insert_at);
            let date_only = self.start.date_only;
            let mut buf = String::with_capacity(48);
            InstanceTime::new("DTSTART", self.start.utc(), date_only).write(out, &mut buf);
            if let Some(e) = self.end {
                InstanceTime::new("DTEND", e.utc(), date_only).write(out, &mut buf);
            }
            self.write_kept(out, self.insert_at..self.props.end);
            out.chunk(&body[self.tail.clone()]);
        }
        out.line("END:VCALENDAR");
    }

    /// The property lines in `span` without DTSTART and DTEND.
    fn write_kept(&self, out: &mut impl IcsOut, span: Range<usize>) {
        let mut cuts = [Some(&self.dtstart_line), self.dtend_line.as_ref()];
        cuts.sort_by_key(|c| c.map(|r| r.start));
        let mut from = span.start;
        for cut in cuts.into_iter().flatten() {
            if cut.start >= from && cut.end <= span.end {
                out.chunk(&self.body[from..cut.start]);
                from = cut.end;
            }
        }
        out.chunk(&self.body[from..span.end]);
    }
}

#[cfg(test)]
#[path = "oneoff_tests.rs"]
mod tests;
