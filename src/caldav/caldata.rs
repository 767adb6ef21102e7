//! CALDAV:calendar-data in REPORT requests (RFC 4791 §9.6): selection, expand, limits.

use super::filter::{instance_in_range, parse_time_range, FilterError, TimeRange};
use super::ical::{self, Comp};
use super::object::Parsed;
use super::oneoff::OneOff;
use super::time::{self, EndKind, Window, Zones};
use crate::xml::{Element, NS_CALDAV};

/// `<C:prop name novalue>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropSelect {
    pub name: String,
    pub novalue: bool,
}

/// `<C:comp name>` with its `allprop`/`prop` and `allcomp`/`comp` children. A `<C:comp>` with
/// no children at all selects the whole component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompSelect {
    pub name: String,
    pub all_props: bool,
    pub props: Vec<PropSelect>,
    pub all_comps: bool,
    pub comps: Vec<CompSelect>,
}

/// A parsed `<C:calendar-data>` request element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CalendarDataRequest {
    pub content_type: Option<String>,
    pub version: Option<String>,
    /// `None`: the whole calendar.
    pub comp: Option<CompSelect>,
    pub expand: Option<TimeRange>,
    pub limit_recurrence_set: Option<TimeRange>,
    pub limit_freebusy_set: Option<TimeRange>,
}

impl CalendarDataRequest {
    /// True when the stored body can be served as is.
    pub fn is_whole(&self) -> bool {
        self.comp.is_none()
            && self.expand.is_none()
            && self.limit_recurrence_set.is_none()
            && self.limit_freebusy_set.is_none()
    }
}

fn invalid(msg: impl Into<String>) -> FilterError {
    FilterError::InvalidFilter(msg.into())
}

fn parse_comp(el: &Element, depth: usize) -> Result<CompSelect, FilterError> {
    if depth > 8 {
        return Err(invalid("calendar-data comp nested too deeply"));
    }
    let name = el
        .attr("name")
        .map(|n| n.trim().to_ascii_uppercase())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid("comp without a name"))?;
    let has_children = el.elements().any(|c| c.ns == NS_CALDAV);
    let mut props = Vec::new();
    for p in el.children_named(NS_CALDAV, "prop") {
        let name = p
            .attr("name")
            .map(|n| n.trim().to_ascii_uppercase())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid("prop without a name"))?;
        let novalue = match p.attr("novalue").map(str::trim) {
            None | Some("no") => false,
            Some("yes") => true,
            Some(o) => return Err(invalid(format!("novalue={o:?}"))),
        };
        props.push(PropSelect { name, novalue });
    }
    let comps = el
        .children_named(NS_CALDAV, "comp")
        .map(|c| parse_comp(c, depth + 1))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CompSelect {
        name,
        all_props: !has_children || el.child(NS_CALDAV, "allprop").is_some(),
        props,
        all_comps: !has_children || el.child(NS_CALDAV, "allcomp").is_some(),
        comps,
    })
}

fn full_range(el: &Element) -> Result<TimeRange, FilterError> {
    let tr = parse_time_range(el)?;
    if tr.start.is_none() || tr.end.is_none() {
        return Err(invalid(format!("{} needs both start and end", el.name)));
    }
    Ok(tr)
}

/// Parse `<C:calendar-data>` from a REPORT's prop list.
pub fn parse_calendar_data(el: &Element) -> Result<CalendarDataRequest, FilterError> {
    if !el.is(NS_CALDAV, "calendar-data") {
        return Err(invalid(format!(
            "expected CALDAV:calendar-data, got {}",
            el.name
        )));
    }
    let content_type = el.attr("content-type").map(|s| s.trim().to_string());
    if let Some(ct) = &content_type {
        if !ct.eq_ignore_ascii_case("text/calendar") {
            return Err(FilterError::UnsupportedCalendarData(ct.clone()));
        }
    }
    let version = el.attr("version").map(|s| s.trim().to_string());
    if let Some(v) = &version {
        if v != "2.0" {
            return Err(FilterError::UnsupportedCalendarData(format!("version {v}")));
        }
    }
    let comp = el
        .child(NS_CALDAV, "comp")
        .map(|c| parse_comp(c, 0))
        .transpose()?;
    let expand = el.child(NS_CALDAV, "expand").map(full_range).transpose()?;
    let limit_recurrence_set = el
        .child(NS_CALDAV, "limit-recurrence-set")
        .map(full_range)
        .transpose()?;
    let limit_freebusy_set = el
        .child(NS_CALDAV, "limit-freebusy-set")
        .map(full_range)
        .transpose()?;
    Ok(CalendarDataRequest {
        content_type,
        version,
        comp,
        expand,
        limit_recurrence_set,
        limit_freebusy_set,
    })
}

/// The calendar-data to return for one stored body. With no selection, expansion or limit the
/// body comes back byte for byte; an unreadable body is also returned unchanged.
pub fn render_calendar_data(req: &CalendarDataRequest, body: &str, max_instances: usize) -> String {
    let mut out = String::new();
    if render(req, body, max_instances, &mut Plain(&mut out)) {
        out
    } else {
        body.to_string()
    }
}

/// [`render_calendar_data`] escaped as XML character data, byte for byte
/// `xml::escape_text(&render_calendar_data(..))`, written escaped in one pass.
pub fn render_calendar_data_xml(
    req: &CalendarDataRequest,
    body: &str,
    max_instances: usize,
) -> String {
    let mut out = String::new();
    if render(req, body, max_instances, &mut Escaped(&mut out)) {
        out
    } else {
        crate::xml::escape_text(body)
    }
}

/// [`render_calendar_data_xml`] for a caller that already tried [`OneOff::read`] on `body`:
/// `event` is what it read (`None`: not a one-off event), so the body is not read again.
pub(super) fn render_calendar_data_xml_read(
    req: &CalendarDataRequest,
    body: &str,
    max_instances: usize,
    event: Option<&OneOff<'_>>,
) -> String {
    let mut out = String::new();
    let written = match (event, req.expand, &req.comp, req.limit_freebusy_set) {
        (Some(event), Some(tr), None, None) => {
            event.write_expanded(&mut Escaped(&mut out), &tr);
            true
        }
        _ => !req.is_whole() && render_tree(req, body, max_instances, &mut Escaped(&mut out)),
    };
    if written {
        out
    } else {
        crate::xml::escape_text(body)
    }
}

/// Where rendered calendar-data goes, one content line at a time.
pub(super) trait IcsOut {
    /// One content line as it is to appear (folds kept, no final line break), then CRLF.
    fn line(&mut self, raw: &str);
    /// Whole lines as they are to appear, each ending in CRLF: what [`IcsOut::line`] makes
    /// of each of them.
    fn chunk(&mut self, lines: &str);
    /// Room for about `n` more bytes of iCalendar text.
    fn reserve(&mut self, n: usize);
}

/// iCalendar text.
struct Plain<'a>(&'a mut String);

impl IcsOut for Plain<'_> {
    fn line(&mut self, raw: &str) {
        self.0.push_str(raw);
        self.0.push_str("\r\n");
    }
    fn chunk(&mut self, lines: &str) {
        self.0.push_str(lines);
    }
    fn reserve(&mut self, n: usize) {
        self.0.reserve(n + n / 4);
    }
}

/// iCalendar text escaped as XML character data: what [`crate::xml::push_escaped`] makes of
/// the whole text, a line at a time (its CRLF becomes `&#13;` and LF).
struct Escaped<'a>(&'a mut String);

impl IcsOut for Escaped<'_> {
    fn line(&mut self, raw: &str) {
        crate::xml::push_escaped(self.0, raw);
        self.0.push_str("&#13;\n");
    }
    fn chunk(&mut self, lines: &str) {
        // CRLF escapes to `&#13;` and LF, as `line` ends each line.
        crate::xml::push_escaped(self.0, lines);
    }
    fn reserve(&mut self, n: usize) {
        self.0.reserve(n + n / 2);
    }
}

/// A logical line, folded at 75 octets (RFC 5545 §3.1) as [`crate::contentline::push_folded`]
/// does.
fn folded_line(out: &mut impl IcsOut, line: &str) {
    if line.len() <= crate::contentline::MAX_LINE_OCTETS {
        out.line(line);
        return;
    }
    let mut f = String::with_capacity(line.len() + 8);
    crate::contentline::push_folded(&mut f, line);
    f.truncate(f.len() - 2);
    out.line(&f);
}

/// A component, replaying each property's original bytes (as [`ical::write_comp`]).
fn write_comp_to(out: &mut impl IcsOut, c: &Comp) {
    folded_line(out, &format!("BEGIN:{}", c.name));
    for p in &c.props {
        out.line(&p.raw);
    }
    for sub in &c.comps {
        write_comp_to(out, sub);
    }
    folded_line(out, &format!("END:{}", c.name));
}

/// Writes the calendar-data of `body` to `out`; false when the body is to be returned as it
/// is (nothing was written).
fn render(
    req: &CalendarDataRequest,
    body: &str,
    max_instances: usize,
    out: &mut impl IcsOut,
) -> bool {
    if req.is_whole() {
        return false;
    }
    if let (Some(tr), None, None) = (req.expand, &req.comp, req.limit_freebusy_set) {
        // The common candidate, a one-off event, is copied through without the tree.
        if let Some(event) = OneOff::read(body) {
            event.write_expanded(out, &tr);
            return true;
        }
    }
    render_tree(req, body, max_instances, out)
}

/// [`render_calendar_data`] and [`render_calendar_data_xml`] on the component tree alone
/// (the reference the one-off reader is tested against).
#[cfg(test)]
pub(super) fn tree_calendar_data(
    req: &CalendarDataRequest,
    body: &str,
    max_instances: usize,
) -> (String, String) {
    let (mut plain, mut escaped) = (String::new(), String::new());
    if req.is_whole() || !render_tree(req, body, max_instances, &mut Plain(&mut plain)) {
        return (body.to_string(), crate::xml::escape_text(body));
    }
    render_tree(req, body, max_instances, &mut Escaped(&mut escaped));
    (plain, escaped)
}

/// [`render`] from the component tree.
fn render_tree(
    req: &CalendarDataRequest,
    body: &str,
    max_instances: usize,
    out: &mut impl IcsOut,
) -> bool {
    // An expansion with no selection writes no VTIMEZONE (RFC 4791 §9.6.5): their zones are
    // all it reads of them.
    let zones = match (req.expand, &req.comp, req.limit_freebusy_set) {
        (Some(_), None, None) => super::object::ZoneRead::ByName,
        _ => super::object::ZoneRead::Whole,
    };
    let Ok(parsed) = super::object::parse(body, zones) else {
        return false;
    };
    let (root, zones) = (&parsed.root, &parsed.zones);
    if root.name != "VCALENDAR" {
        return false;
    }
    if let (Some(tr), None, None) = (req.expand, &req.comp, req.limit_freebusy_set) {
        out.reserve(body.len());
        write_expanded(out, &parsed, tr, max_instances.max(1));
        return true;
    }
    let mut cal = if let Some(tr) = req.expand {
        expanded(&parsed, tr, max_instances.max(1))
    } else if let Some(tr) = req.limit_recurrence_set {
        limited(root, zones, tr)
    } else {
        root.clone()
    };
    if let Some(tr) = req.limit_freebusy_set {
        for fb in cal.comps.iter_mut().filter(|c| c.name == "VFREEBUSY") {
            fb.props.retain(|p| {
                if p.name != "FREEBUSY" {
                    return true;
                }
                let probe = Comp {
                    name: "VFREEBUSY".into(),
                    props: vec![p.clone()],
                    comps: vec![],
                };
                super::freebusy::periods_of(&probe, zones)
                    .into_iter()
                    .any(|(s, e)| tr.overlaps(s, e))
            });
        }
    }
    if let Some(sel) = &req.comp {
        if sel.name == cal.name {
            cal = select(&cal, sel);
        }
    }
    write_comp_to(out, &cal);
    true
}

/// A time an expanded instance gets in UTC (RFC 4791 §9.6.5), or as a DATE for an all-day one.
#[derive(Debug, Clone, Copy)]
pub(super) struct InstanceTime {
    name: &'static str,
    ts: i64,
    date_only: bool,
}

impl InstanceTime {
    pub(super) fn new(name: &'static str, ts: i64, date_only: bool) -> InstanceTime {
        InstanceTime {
            name,
            ts,
            date_only,
        }
    }

    fn prop(&self) -> ical::Prop {
        if self.date_only {
            ical::make_prop(
                self.name,
                &[("VALUE", "DATE")],
                &time::fmt_date(time::date_of(self.ts)),
            )
        } else {
            ical::make_prop(self.name, &[], &time::fmt_utc(self.ts))
        }
    }

    /// The line [`Self::prop`] has, written into `buf` (reused across lines).
    pub(super) fn write(&self, out: &mut impl IcsOut, buf: &mut String) {
        buf.clear();
        buf.push_str(self.name);
        if self.date_only {
            buf.push_str(";VALUE=DATE:");
            time::push_date(buf, time::date_of(self.ts));
        } else {
            buf.push(':');
            time::push_utc(buf, self.ts);
        }
        folded_line(out, buf);
    }
}

/// Properties an expanded instance does not carry over from its component: the recurrence
/// set and the times, which it gets in UTC instead.
fn replaced_by_expansion(name: &str) -> bool {
    matches!(
        name,
        "RRULE" | "RDATE" | "EXDATE" | "EXRULE" | "DTSTART" | "DTEND" | "DUE" | "RECURRENCE-ID"
    )
}

/// One expanded instance: its component's properties without the replaced ones, with `times`
/// inserted at `at` (where DTSTART was), and its sub-components.
struct ExpandedInstance<'a> {
    comp: &'a Comp,
    /// Position among the kept properties.
    at: usize,
    /// DTSTART, DTEND or DUE, RECURRENCE-ID, those the instance has, in this order.
    times: [Option<InstanceTime>; 3],
}

impl ExpandedInstance<'_> {
    fn kept(&self) -> impl Iterator<Item = &ical::Prop> {
        self.comp
            .props
            .iter()
            .filter(|p| !replaced_by_expansion(&p.name))
    }

    fn times(&self) -> impl Iterator<Item = &InstanceTime> {
        self.times.iter().flatten()
    }

    /// The instance as a component of its own.
    fn to_comp(&self) -> Comp {
        let mut props: Vec<ical::Prop> = self.kept().cloned().collect();
        let at = self.at.min(props.len());
        props.splice(at..at, self.times().map(InstanceTime::prop));
        Comp {
            name: self.comp.name.clone(),
            props,
            comps: self.comp.comps.clone(),
        }
    }

    /// The instance written as [`Self::to_comp`] would be, without copying the component.
    fn write(&self, out: &mut impl IcsOut, buf: &mut String) {
        folded_line(out, &format!("BEGIN:{}", self.comp.name));
        let mut kept = 0;
        for p in self.kept() {
            if kept == self.at {
                self.write_times(out, buf);
            }
            out.line(&p.raw);
            kept += 1;
        }
        if self.at >= kept {
            self.write_times(out, buf);
        }
        for sub in &self.comp.comps {
            write_comp_to(out, sub);
        }
        folded_line(out, &format!("END:{}", self.comp.name));
    }

    fn write_times(&self, out: &mut impl IcsOut, buf: &mut String) {
        for t in self.times() {
            t.write(out, buf);
        }
    }
}

/// Every instance in `tr`, in order of start, each as its own component in UTC, without
/// recurrence properties or VTIMEZONE (RFC 4791 §9.6.5).
fn expanded_instances(parsed: &Parsed, tr: TimeRange, max: usize) -> Vec<ExpandedInstance<'_>> {
    let win = Window {
        start: tr.start,
        end: tr.end,
        slack: 0,
    };
    let mut out = Vec::new();
    for kind in ["VEVENT", "VTODO", "VJOURNAL"] {
        // The filter of a query with the same time-range made this expansion already.
        let exp = parsed.expand(kind, win, max);
        let mut insts: Vec<_> = exp
            .instances
            .into_iter()
            .filter(|i| instance_in_range(kind, i, &tr, &parsed.zones))
            .collect();
        insts.sort_by_key(|i| i.start_utc);
        for i in insts {
            let c = i.comp;
            // DTSTART's index among all properties, as a position among the kept ones (the
            // times go where DTSTART was, or last).
            let at = c
                .props
                .iter()
                .position(|p| p.name == "DTSTART")
                .unwrap_or(c.props.len());
            let date_only = i.start.is_some_and(|d| d.date_only);
            let time = |name, ts| InstanceTime {
                name,
                ts,
                date_only,
            };
            let end = match (i.end_kind, i.end_utc) {
                (EndKind::DtEnd, Some(e)) => Some(time("DTEND", e)),
                (EndKind::Due, Some(e)) => Some(time("DUE", e)),
                _ => None,
            };
            // §9.6.5: every instance carries its RECURRENCE-ID.
            let rid = i.rid.map(|r| InstanceTime {
                name: "RECURRENCE-ID",
                ts: r.utc(),
                date_only: r.date_only,
            });
            out.push(ExpandedInstance {
                comp: c,
                at,
                times: [i.start_utc.map(|s| time("DTSTART", s)), end, rid],
            });
        }
    }
    out
}

/// The VCALENDAR of [`expanded_instances`] as a component (for a selection to apply to).
fn expanded(parsed: &Parsed, tr: TimeRange, max: usize) -> Comp {
    let root = &parsed.root;
    Comp {
        name: root.name.clone(),
        props: root.props.clone(),
        comps: expanded_instances(parsed, tr, max)
            .iter()
            .map(ExpandedInstance::to_comp)
            .collect(),
    }
}

/// The VCALENDAR of [`expanded_instances`] written out directly: the common case (expand with
/// no selection) copies no component.
fn write_expanded(out: &mut impl IcsOut, parsed: &Parsed, tr: TimeRange, max: usize) {
    let root = &parsed.root;
    folded_line(out, &format!("BEGIN:{}", root.name));
    for p in &root.props {
        out.line(&p.raw);
    }
    let mut buf = String::with_capacity(48);
    for i in expanded_instances(parsed, tr, max) {
        i.write(out, &mut buf);
    }
    folded_line(out, &format!("END:{}", root.name));
}

/// limit-recurrence-set: the master, plus the overrides whose instance overlaps `tr`.
fn limited(root: &Comp, zones: &Zones, tr: TimeRange) -> Comp {
    let mut cal = root.clone();
    cal.comps.retain(|c| {
        if c.prop("RECURRENCE-ID").is_none() {
            return true;
        }
        let rid = c
            .prop("RECURRENCE-ID")
            .and_then(|p| time::parse_dt_prop(p, zones));
        let i = time::single(c, zones, rid);
        instance_in_range(&c.name, &i, &tr, zones)
    });
    cal
}

fn select(c: &Comp, sel: &CompSelect) -> Comp {
    let props = if sel.all_props {
        c.props.clone()
    } else {
        c.props
            .iter()
            .filter_map(|p| {
                let s = sel.props.iter().find(|s| s.name == p.name)?;
                if s.novalue {
                    let params: Vec<(&str, &str)> =
                        p.params.iter().map(|(n, v)| (&**n, v.as_str())).collect();
                    Some(ical::make_prop(&p.name, &params, ""))
                } else {
                    Some(p.clone())
                }
            })
            .collect()
    };
    let comps = if sel.all_comps {
        c.comps.clone()
    } else {
        c.comps
            .iter()
            .filter_map(|sub| {
                let s = sel.comps.iter().find(|s| s.name == sub.name)?;
                Some(select(sub, s))
            })
            .collect()
    };
    Comp {
        name: c.name.clone(),
        props,
        comps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caldav::parse_utc;

    /// Written directly, an expansion is byte for byte the component [`expanded`] builds:
    /// recurrences with EXDATE and an override, DTSTART after other properties, an all-day
    /// event, a VTODO with DUE, alarms, a VTIMEZONE that is left out.
    #[test]
    fn written_expansion_is_the_built_one() {
        let bodies = [
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:r\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20260302T090000\r\nDTEND;TZID=Europe/Berlin:20260302T100000\r\nRRULE:FREQ=WEEKLY;COUNT=6\r\nEXDATE;TZID=Europe/Berlin:20260309T090000\r\nSUMMARY:weekly\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:x\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:r\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260316T090000\r\nDTSTART;TZID=Europe/Berlin:20260316T110000\r\nDTEND;TZID=Europe/Berlin:20260316T120000\r\nSUMMARY:moved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:all day\r\nUID:d\r\nDTSTART;VALUE=DATE:20260310\r\nDTEND;VALUE=DATE:20260311\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nUID:t\r\nDUE:20260320T120000Z\r\nSUMMARY:no start\r\nEND:VTODO\r\nEND:VCALENDAR\r\n",
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:o\r\nDTSTART:20260201T080000Z\r\nRRULE:FREQ=DAILY\r\nDURATION:PT1H\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        ];
        let tr = TimeRange {
            start: parse_utc("20260301T000000Z"),
            end: parse_utc("20260401T000000Z"),
        };
        for body in bodies {
            let parsed = Parsed::new(ical::parse(body).expect("parses"));
            let mut built = String::new();
            ical::write_comp(&mut built, &expanded(&parsed, tr, 100));
            let mut written = String::new();
            write_expanded(&mut Plain(&mut written), &parsed, tr, 100);
            assert_eq!(written, built);
            assert!(written.matches("BEGIN:V").count() >= 2, "{written}");
            assert!(!written.contains("RRULE") && !written.contains("VTIMEZONE"));
        }
    }
}
