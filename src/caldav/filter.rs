//! calendar-query filters (RFC 4791 §9.7) and their evaluation, time-ranges per §9.9.

use super::ical::{Comp, Prop};
use super::time::{self, EndKind, Instance, Window, Zones};
use crate::error::Precondition;
use crate::xml::{Element, NS_CALDAV};

/// Why a filter (or calendar-data request) was refused; see [`FilterError::precondition`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    #[error("unsupported collation {0:?}")]
    UnsupportedCollation(String),
    #[error("unsupported filter element {0}")]
    UnsupportedFilter(String),
    #[error("unsupported calendar data: {0}")]
    UnsupportedCalendarData(String),
}

impl FilterError {
    /// The CALDAV precondition element to report with 403.
    pub fn precondition(&self) -> Precondition {
        match self {
            FilterError::InvalidFilter(_) => Precondition::ValidFilter,
            FilterError::UnsupportedCollation(_) => Precondition::CalSupportedCollation,
            FilterError::UnsupportedFilter(_) => Precondition::CalSupportedFilter,
            FilterError::UnsupportedCalendarData(_) => Precondition::SupportedCalendarData,
        }
    }
}

/// A time-range in epoch seconds; `None` = unbounded on that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeRange {
    pub start: Option<i64>,
    pub end: Option<i64>,
}

impl TimeRange {
    fn s(&self) -> i64 {
        self.start.unwrap_or(i64::MIN)
    }
    fn e(&self) -> i64 {
        self.end.unwrap_or(i64::MAX)
    }
    /// Half-open overlap with the span [a, b) (or the instant a when a == b).
    pub(crate) fn overlaps(&self, a: i64, b: i64) -> bool {
        if b > a {
            self.s() < b && self.e() > a
        } else {
            self.s() <= a && self.e() > a
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Collation {
    #[default]
    AsciiCasemap,
    UnicodeCasemap,
    Octet,
}

impl Collation {
    pub fn parse(s: &str) -> Option<Collation> {
        match s {
            "i;ascii-casemap" => Some(Collation::AsciiCasemap),
            "i;unicode-casemap" => Some(Collation::UnicodeCasemap),
            "i;octet" => Some(Collation::Octet),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextMatch {
    pub text: String,
    pub collation: Collation,
    pub negate: bool,
}

impl TextMatch {
    /// Substring match under the collation, then negate-condition.
    pub fn test(&self, value: &str) -> bool {
        let found = match self.collation {
            Collation::Octet => value.contains(&self.text),
            Collation::AsciiCasemap => value
                .to_ascii_lowercase()
                .contains(&self.text.to_ascii_lowercase()),
            Collation::UnicodeCasemap => value.to_lowercase().contains(&self.text.to_lowercase()),
        };
        found != self.negate
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamFilter {
    pub name: String,
    pub is_not_defined: bool,
    pub text_match: Option<TextMatch>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropFilter {
    pub name: String,
    pub is_not_defined: bool,
    pub time_range: Option<TimeRange>,
    pub text_match: Option<TextMatch>,
    pub param_filters: Vec<ParamFilter>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompFilter {
    pub name: String,
    pub is_not_defined: bool,
    pub time_range: Option<TimeRange>,
    pub prop_filters: Vec<PropFilter>,
    pub comp_filters: Vec<CompFilter>,
}

fn invalid(msg: impl Into<String>) -> FilterError {
    FilterError::InvalidFilter(msg.into())
}

fn name_attr(el: &Element) -> Result<String, FilterError> {
    el.attr("name")
        .map(|n| n.trim().to_ascii_uppercase())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid(format!("{} without a name", el.name)))
}

/// Any CALDAV child other than the allowed ones is an unsupported filter; foreign ones are
/// ignored.
fn check_children(el: &Element, allowed: &[&str]) -> Result<(), FilterError> {
    for c in el.elements() {
        if c.ns == NS_CALDAV && !allowed.contains(&c.name.as_str()) {
            return Err(FilterError::UnsupportedFilter(c.name.clone()));
        }
    }
    Ok(())
}

/// `<C:time-range start end>` (also used for expand / limit-*).
pub(crate) fn parse_time_range(el: &Element) -> Result<TimeRange, FilterError> {
    let get = |n: &str| -> Result<Option<i64>, FilterError> {
        match el.attr(n) {
            None => Ok(None),
            Some(v) => super::parse_utc(v)
                .map(Some)
                .ok_or_else(|| invalid(format!("{} {n}={v:?} is not a UTC date-time", el.name))),
        }
    };
    let tr = TimeRange {
        start: get("start")?,
        end: get("end")?,
    };
    if tr.start.is_none() && tr.end.is_none() {
        return Err(invalid(format!("{} without start or end", el.name)));
    }
    if let (Some(s), Some(e)) = (tr.start, tr.end) {
        if e <= s {
            return Err(invalid(format!("{} ends before it starts", el.name)));
        }
    }
    Ok(tr)
}

fn parse_text_match(el: &Element) -> Result<TextMatch, FilterError> {
    let collation = match el.attr("collation") {
        None => Collation::AsciiCasemap,
        Some(c) => Collation::parse(c.trim())
            .ok_or_else(|| FilterError::UnsupportedCollation(c.to_string()))?,
    };
    let negate = match el.attr("negate-condition").map(str::trim) {
        None | Some("no") => false,
        Some("yes") => true,
        Some(o) => return Err(invalid(format!("negate-condition={o:?}"))),
    };
    Ok(TextMatch {
        text: el.text(),
        collation,
        negate,
    })
}

fn parse_param_filter(el: &Element) -> Result<ParamFilter, FilterError> {
    check_children(el, &["is-not-defined", "text-match"])?;
    let text_match = el
        .child(NS_CALDAV, "text-match")
        .map(parse_text_match)
        .transpose()?;
    Ok(ParamFilter {
        name: name_attr(el)?,
        is_not_defined: el.child(NS_CALDAV, "is-not-defined").is_some(),
        text_match,
    })
}

fn parse_prop_filter(el: &Element) -> Result<PropFilter, FilterError> {
    check_children(
        el,
        &["is-not-defined", "time-range", "text-match", "param-filter"],
    )?;
    Ok(PropFilter {
        name: name_attr(el)?,
        is_not_defined: el.child(NS_CALDAV, "is-not-defined").is_some(),
        time_range: el
            .child(NS_CALDAV, "time-range")
            .map(parse_time_range)
            .transpose()?,
        text_match: el
            .child(NS_CALDAV, "text-match")
            .map(parse_text_match)
            .transpose()?,
        param_filters: el
            .children_named(NS_CALDAV, "param-filter")
            .map(parse_param_filter)
            .collect::<Result<_, _>>()?,
    })
}

fn parse_comp_filter(el: &Element, depth: usize) -> Result<CompFilter, FilterError> {
    if depth > 8 {
        return Err(invalid("comp-filter nested too deeply"));
    }
    check_children(
        el,
        &["is-not-defined", "time-range", "prop-filter", "comp-filter"],
    )?;
    Ok(CompFilter {
        name: name_attr(el)?,
        is_not_defined: el.child(NS_CALDAV, "is-not-defined").is_some(),
        time_range: el
            .child(NS_CALDAV, "time-range")
            .map(parse_time_range)
            .transpose()?,
        prop_filters: el
            .children_named(NS_CALDAV, "prop-filter")
            .map(parse_prop_filter)
            .collect::<Result<_, _>>()?,
        comp_filters: el
            .children_named(NS_CALDAV, "comp-filter")
            .map(|c| parse_comp_filter(c, depth + 1))
            .collect::<Result<_, _>>()?,
    })
}

/// Parse `<C:filter>`: exactly one `<C:comp-filter name="VCALENDAR">`.
pub fn parse_filter(filter_el: &Element) -> Result<CompFilter, FilterError> {
    if !filter_el.is(NS_CALDAV, "filter") {
        return Err(invalid(format!(
            "expected CALDAV:filter, got {}",
            filter_el.name
        )));
    }
    check_children(filter_el, &["comp-filter"])?;
    let mut it = filter_el.children_named(NS_CALDAV, "comp-filter");
    let (Some(cf), None) = (it.next(), it.next()) else {
        return Err(invalid("CALDAV:filter holds exactly one comp-filter"));
    };
    let f = parse_comp_filter(cf, 0)?;
    if f.name != "VCALENDAR" {
        return Err(invalid(format!(
            "top-level comp-filter is {}, not VCALENDAR",
            f.name
        )));
    }
    Ok(f)
}

/// The time-range a matching item must overlap, from VCALENDAR > VEVENT/VTODO/VJOURNAL/
/// VFREEBUSY, for the [`super::ObjectInfo::may_overlap`] prefilter.
pub fn time_bounds_hint(filter: &CompFilter) -> Option<TimeRange> {
    if filter.name != "VCALENDAR" || filter.is_not_defined {
        return None;
    }
    filter
        .comp_filters
        .iter()
        .filter(|c| !c.is_not_defined)
        .filter(|c| {
            matches!(
                c.name.as_str(),
                "VEVENT" | "VTODO" | "VJOURNAL" | "VFREEBUSY"
            )
        })
        .find_map(|c| c.time_range)
}

/// Evaluate a parsed filter against one calendar object resource. Malformed bodies never match.
pub fn matches(filter: &CompFilter, body: &str, max_instances: usize) -> bool {
    // The common query, VEVENTs in a time-range, on the common candidate, a one-off event:
    // tested from the stored bytes (what the tree below decides for it, see `oneoff`).
    if let Some(tr) = event_time_range(filter) {
        if let Some(event) = super::oneoff::OneOff::read(body) {
            return event.in_range(&tr);
        }
    }
    matches_tree(filter, body, max_instances)
}

/// What calendar-query makes of one candidate ([`query_candidate`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Candidate {
    /// The filter does not match.
    Unmatched,
    /// It matches; with its calendar-data already rendered (escaped as XML) when that was
    /// asked for and cheaper to make here.
    Matched { calendar_data: Option<String> },
}

/// One calendar-query candidate: [`matches`], and for a match the calendar-data of `data`
/// (as `render_calendar_data_xml` writes it) when the body was read as a one-off event for
/// the test, so that it is read once.
pub fn query_candidate(
    filter: &CompFilter,
    data: Option<&super::CalendarDataRequest>,
    body: &str,
    max_instances: usize,
) -> Candidate {
    let Some(tr) = event_time_range(filter) else {
        return match matches_tree(filter, body, max_instances) {
            true => Candidate::Matched {
                calendar_data: None,
            },
            false => Candidate::Unmatched,
        };
    };
    let event = super::oneoff::OneOff::read(body);
    let hit = match &event {
        Some(event) => event.in_range(&tr),
        None => matches_tree(filter, body, max_instances),
    };
    if !hit {
        return Candidate::Unmatched;
    }
    Candidate::Matched {
        calendar_data: data.map(|d| {
            super::caldata::render_calendar_data_xml_read(d, body, max_instances, event.as_ref())
        }),
    }
}

/// The time-range of a filter that is exactly VCALENDAR ⊃ VEVENT with a time-range and
/// nothing else.
pub(super) fn event_time_range(filter: &CompFilter) -> Option<TimeRange> {
    let plain = |f: &CompFilter| !f.is_not_defined && f.prop_filters.is_empty();
    let [event] = filter.comp_filters.as_slice() else {
        return None;
    };
    let shape = filter.name == "VCALENDAR"
        && plain(filter)
        && filter.time_range.is_none()
        && event.name == "VEVENT"
        && plain(event)
        && event.comp_filters.is_empty();
    shape.then_some(event.time_range).flatten()
}

/// [`matches`] on the component tree, for any filter and body.
pub(super) fn matches_tree(filter: &CompFilter, body: &str, max_instances: usize) -> bool {
    // VTIMEZONE rules matter only to a filter on VTIMEZONE itself.
    let zones = if filter.comp_filters.iter().any(|f| f.name == "VTIMEZONE") {
        super::object::ZoneRead::Whole
    } else {
        super::object::ZoneRead::ByName
    };
    let Ok(parsed) = super::object::parse(body, zones) else {
        return false;
    };
    let (root, zones) = (&parsed.root, &parsed.zones);
    if root.name != "VCALENDAR" || filter.name != "VCALENDAR" {
        return false;
    }
    if filter.is_not_defined {
        return false;
    }
    filter
        .prop_filters
        .iter()
        .all(|pf| eval_prop(pf, root, zones))
        && filter
            .comp_filters
            .iter()
            .all(|cf| eval_top(cf, &parsed, max_instances.max(1)))
}

/// Union of every time-range in a filter subtree, and whether a VALARM one is among them.
fn collect_ranges(f: &CompFilter, out: &mut Vec<TimeRange>, alarm: &mut bool) {
    if let Some(tr) = f.time_range {
        out.push(tr);
        if f.name == "VALARM" {
            *alarm = true;
        }
    }
    for c in &f.comp_filters {
        collect_ranges(c, out, alarm);
    }
}

/// The longest span between an instance and one of its alarm triggers, plus instance length.
fn alarm_slack(cands: &[&Comp], zones: &Zones) -> i64 {
    let mut slack: i64 = 0;
    for c in cands {
        let start = c
            .prop("DTSTART")
            .and_then(|p| time::parse_dt_prop(p, zones));
        let end = time::single(c, zones, None).end_utc;
        if let (Some(s), Some(e)) = (start, end) {
            slack = slack.max((e - s.utc()).abs());
        }
        for a in c.comps.iter().filter(|a| a.name == "VALARM") {
            if let Some(d) = a.value("TRIGGER").and_then(time::parse_duration) {
                slack = slack.saturating_add(d.approx_secs().abs());
            }
            let rep: i64 = a
                .value("REPEAT")
                .and_then(|r| r.trim().parse().ok())
                .unwrap_or(0);
            if let Some(d) = a.value("DURATION").and_then(time::parse_duration) {
                slack = slack.saturating_add(rep.clamp(0, 1000) * d.approx_secs().abs());
            }
        }
    }
    slack + 86400
}

fn eval_top(f: &CompFilter, parsed: &super::object::Parsed, max: usize) -> bool {
    let (root, zones) = (&parsed.root, &parsed.zones);
    let cands: Vec<&Comp> = root.comps.iter().filter(|c| c.name == f.name).collect();
    if f.is_not_defined {
        return cands.is_empty();
    }
    if cands.is_empty() {
        return false;
    }
    let mut ranges = Vec::new();
    let mut alarm = false;
    collect_ranges(f, &mut ranges, &mut alarm);
    if ranges.is_empty() || f.name == "VTIMEZONE" {
        return cands.iter().any(|c| eval_comp(f, c, &[], zones));
    }
    let win = Window {
        start: ranges.iter().map(|r| r.start).min().flatten(),
        end: if ranges.iter().any(|r| r.end.is_none()) {
            None
        } else {
            ranges.iter().filter_map(|r| r.end).max()
        },
        slack: if alarm { alarm_slack(&cands, zones) } else { 0 },
    };
    // Kept with the tree: rendering an `expand` of the same range reuses it.
    let exp = parsed.expand(&f.name, win, max);
    cands.iter().any(|c| {
        let insts: Vec<Instance<'_>> = exp
            .instances
            .iter()
            .filter(|i| std::ptr::eq(i.comp, *c))
            .cloned()
            .collect();
        eval_comp(f, c, &insts, zones)
    })
}

fn eval_comp(f: &CompFilter, c: &Comp, insts: &[Instance<'_>], zones: &Zones) -> bool {
    if let Some(tr) = f.time_range {
        if !insts
            .iter()
            .any(|i| instance_in_range(&c.name, i, &tr, zones))
        {
            return false;
        }
    }
    f.prop_filters.iter().all(|pf| eval_prop(pf, c, zones))
        && f.comp_filters
            .iter()
            .all(|sf| eval_sub(sf, c, insts, zones))
}

fn eval_sub(sf: &CompFilter, parent: &Comp, parent_insts: &[Instance<'_>], zones: &Zones) -> bool {
    let cands: Vec<&Comp> = parent.comps.iter().filter(|c| c.name == sf.name).collect();
    if sf.is_not_defined {
        return cands.is_empty();
    }
    cands.iter().any(|c| {
        if let Some(tr) = sf.time_range {
            let ok = if c.name == "VALARM" {
                parent_insts.iter().any(|pi| {
                    alarm_triggers(c, pi, zones)
                        .into_iter()
                        .any(|t| tr.overlaps(t, t))
                })
            } else {
                let own = [time::single(c, zones, None)];
                own.iter()
                    .any(|i| instance_in_range(&c.name, i, &tr, zones))
            };
            if !ok {
                return false;
            }
        }
        sf.prop_filters.iter().all(|pf| eval_prop(pf, c, zones))
            && sf
                .comp_filters
                .iter()
                .all(|ssf| eval_sub(ssf, c, parent_insts, zones))
    })
}

/// Trigger instants of one VALARM for one instance of its parent (RFC 5545 §3.8.6.3), with
/// REPEAT/DURATION repetitions.
pub(crate) fn alarm_triggers(alarm: &Comp, parent: &Instance<'_>, zones: &Zones) -> Vec<i64> {
    let Some(tp) = alarm.prop("TRIGGER") else {
        return Vec::new();
    };
    let first = if tp
        .param("VALUE")
        .is_some_and(|v| v.eq_ignore_ascii_case("DATE-TIME"))
        || time::parse_duration(tp.value()).is_none()
    {
        match time::parse_dt_prop(tp, zones) {
            Some(d) => d.utc(),
            None => return Vec::new(),
        }
    } else {
        let Some(d) = time::parse_duration(tp.value()) else {
            return Vec::new();
        };
        let related_end = tp
            .param("RELATED")
            .is_some_and(|r| r.eq_ignore_ascii_case("END"));
        let anchor = if related_end {
            match parent.event_span() {
                Some((_, e)) if parent.end_kind != EndKind::None => e,
                _ => match parent.end_utc.or(parent.start_utc) {
                    Some(e) => e,
                    None => return Vec::new(),
                },
            }
        } else {
            match parent.start_utc.or(parent.end_utc) {
                Some(s) => s,
                None => return Vec::new(),
            }
        };
        anchor + d.approx_secs()
    };
    let mut out = vec![first];
    let rep: i64 = alarm
        .value("REPEAT")
        .and_then(|r| r.trim().parse().ok())
        .unwrap_or(0);
    if let Some(d) = alarm.value("DURATION").and_then(time::parse_duration) {
        for k in 1..=rep.clamp(0, 1000) {
            out.push(first + k * d.approx_secs());
        }
    }
    out
}

/// RFC 4791 §9.9: does this instance overlap the range?
pub(crate) fn instance_in_range(
    kind: &str,
    i: &Instance<'_>,
    tr: &TimeRange,
    zones: &Zones,
) -> bool {
    let (s, e) = (tr.s(), tr.e());
    let date_only = i.start.is_some_and(|d| d.date_only);
    match kind {
        "VEVENT" => {
            let Some(st) = i.start_utc else {
                return false;
            };
            match (i.end_kind, i.end_utc) {
                (EndKind::DtEnd, Some(en)) => s < en && e > st,
                (EndKind::Duration, Some(en)) if en > st => s < en && e > st,
                (EndKind::None, _) if date_only => s < st + 86400 && e > st,
                _ => s <= st && e > st,
            }
        }
        "VTODO" => {
            let dt = |n: &str| {
                i.comp
                    .prop(n)
                    .and_then(|p| time::parse_dt_prop(p, zones))
                    .map(|d| d.utc())
            };
            match (i.start_utc, i.end_kind, i.end_utc) {
                (Some(st), EndKind::Duration, Some(en)) => s <= en && (e > st || e >= en),
                (Some(st), EndKind::Due | EndKind::DtEnd, Some(due)) => {
                    (s < due || s <= st) && (e > st || e >= due)
                }
                (Some(st), _, _) => s <= st && e > st,
                (None, _, Some(due)) => s < due && e >= due,
                (None, _, None) => match (dt("COMPLETED"), dt("CREATED")) {
                    (Some(co), Some(cr)) => (s <= cr || s <= co) && (e >= cr || e >= co),
                    (Some(co), None) => s <= co && e >= co,
                    (None, Some(cr)) => e > cr,
                    (None, None) => true,
                },
            }
        }
        "VJOURNAL" => match i.start_utc {
            None => false,
            Some(st) if date_only => s < st + 86400 && e > st,
            Some(st) => s <= st && e > st,
        },
        "VFREEBUSY" => {
            if let (Some(st), EndKind::DtEnd, Some(en)) = (i.start_utc, i.end_kind, i.end_utc) {
                return s <= en && e > st;
            }
            super::freebusy::periods_of(i.comp, zones)
                .into_iter()
                .any(|(ps, pe)| s < pe && e > ps)
        }
        _ => match i.event_span() {
            Some((a, b)) => tr.overlaps(a, b),
            None => false,
        },
    }
}

fn eval_prop(pf: &PropFilter, c: &Comp, zones: &Zones) -> bool {
    let mut props = c.props_named(&pf.name).peekable();
    if pf.is_not_defined {
        return props.peek().is_none();
    }
    props.any(|p| prop_matches(pf, p, zones))
}

fn prop_matches(pf: &PropFilter, p: &Prop, zones: &Zones) -> bool {
    if let Some(tr) = pf.time_range {
        let Some(d) = time::parse_dt_prop(p, zones) else {
            return false;
        };
        let v = d.utc();
        let ok = if d.date_only {
            tr.overlaps(v, v + 86400)
        } else {
            tr.overlaps(v, v)
        };
        if !ok {
            return false;
        }
    }
    if let Some(tm) = &pf.text_match {
        if !tm.test(&crate::contentline::unescape_text(p.value())) {
            return false;
        }
    }
    pf.param_filters.iter().all(|prm| {
        let mut vals = p
            .params
            .iter()
            .filter(|(n, _)| *n == prm.name)
            .map(|(_, v)| v.as_str())
            .peekable();
        if prm.is_not_defined {
            return vals.peek().is_none();
        }
        match &prm.text_match {
            Some(tm) => vals.any(|v| tm.test(v)),
            None => vals.peek().is_some(),
        }
    })
}
