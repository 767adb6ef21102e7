//! CalDAV evaluation (RFC 4791), with no HTTP: validation of calendar object resources,
//! index bounds, calendar-query filters, calendar-data selection/expansion and free-busy.
//!
//! Times are epoch seconds (UTC). Floating times and DATE values are evaluated as if they
//! were UTC; index bounds ([`ObjectInfo`]) are widened by ±14 h for them so that a query in
//! any zone still finds the item.

mod caldata;
mod filter;
mod freebusy;
mod ical;
mod object;
mod oneoff;
mod reach;
mod time;

#[cfg(test)]
mod expand_bytes_tests;
#[cfg(test)]
mod tests;

pub use caldata::{
    parse_calendar_data, render_calendar_data, render_calendar_data_xml, CalendarDataRequest,
    CompSelect, PropSelect,
};
pub use filter::{
    matches, parse_filter, query_candidate, time_bounds_hint, Candidate, Collation, CompFilter,
    FilterError, ParamFilter, PropFilter, TextMatch, TimeRange,
};
pub use freebusy::free_busy;

use crate::vocab::ComponentKind;
use reach::Reach;
use time::{Expansion, Window, Zones, FLOATING_SLACK};

/// What the index keeps about one calendar object resource.
///
/// `first_start`/`last_end` are conservative, inclusive bounds of every instant a time-range
/// query can test (instance starts and ends, DUE, COMPLETED, CREATED, FREEBUSY periods):
/// an item can match the time-range `[s, e)` only if
/// `(first_start IS NULL OR first_start <= e) AND (last_end IS NULL OR last_end >= s)`
/// (see [`ObjectInfo::may_overlap`]). VALARM triggers are not covered: a query with a
/// VALARM time-range gets no [`time_bounds_hint`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub uid: String,
    pub component: ComponentKind,
    pub first_start: Option<i64>,
    pub last_end: Option<i64>,
}

impl ObjectInfo {
    /// The index prefilter: false only when the item cannot match `tr`.
    pub fn may_overlap(&self, tr: &TimeRange) -> bool {
        let a = match (self.first_start, tr.end) {
            (Some(f), Some(e)) => f <= e,
            _ => true,
        };
        let b = match (self.last_end, tr.start) {
            (Some(l), Some(s)) => l >= s,
            _ => true,
        };
        a && b
    }
}

/// Why a calendar object resource was refused (RFC 4791 §5.3.2.1 preconditions).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalError {
    #[error("not a valid iCalendar object: {0}")]
    NotICalendar(String),
    #[error("more than one VCALENDAR in the body")]
    MultipleCalendars,
    #[error("invalid {0} value")]
    InvalidValue(String),
    #[error("the calendar holds no VEVENT, VTODO, VJOURNAL or VFREEBUSY")]
    NoComponent,
    #[error("a calendar object resource holds one component type, found {0} and {1}")]
    MixedComponents(String, String),
    #[error("{0} without a UID")]
    MissingUid(String),
    #[error("a calendar object resource holds one UID, found {0:?} and {1:?}")]
    MultipleUids(String, String),
    #[error("two components describe the same instance ({0})")]
    DuplicateInstance(String),
    #[error("calendar object resources must not have a METHOD property")]
    MethodPresent,
    #[error("component {0} is not supported by this calendar")]
    UnsupportedComponent(String),
    #[error(
        "the {comp} ends before it starts: {end} {end_value} is earlier than DTSTART {start_value}"
    )]
    EndBeforeStart {
        /// VEVENT or VTODO.
        comp: String,
        /// DTEND or DUE.
        end: &'static str,
        /// The end as sent.
        end_value: String,
        /// DTSTART as sent.
        start_value: String,
    },
}

impl CalError {
    /// The CALDAV precondition element to report with 403/409.
    pub fn precondition(&self) -> crate::error::Precondition {
        use crate::error::Precondition as P;
        match self {
            CalError::NotICalendar(_)
            | CalError::MultipleCalendars
            | CalError::InvalidValue(_)
            | CalError::EndBeforeStart { .. } => P::ValidCalendarData,
            CalError::NoComponent
            | CalError::MixedComponents(..)
            | CalError::MissingUid(_)
            | CalError::MultipleUids(..)
            | CalError::DuplicateInstance(_)
            | CalError::MethodPresent => P::ValidCalendarObjectResource,
            CalError::UnsupportedComponent(_) => P::SupportedCalendarComponent,
        }
    }
}

/// `YYYYMMDDTHHMMSSZ` to epoch seconds (UTC only).
pub fn parse_utc(s: &str) -> Option<i64> {
    let s = s.trim();
    if !(s.ends_with('Z') || s.ends_with('z')) {
        return None;
    }
    time::parse_datetime(s).map(|(n, _)| n.and_utc().timestamp())
}

/// Parse with calcard (the gatekeeper), then with the lossless reader used for evaluation.
fn parse_calendar(body: &str) -> Result<ical::Comp, CalError> {
    let mut parser = calcard::Parser::new(body);
    match parser.entry() {
        calcard::Entry::ICalendar(_) => {}
        calcard::Entry::VCard(_) => return Err(CalError::NotICalendar("a vCard".into())),
        calcard::Entry::Eof => return Err(CalError::NotICalendar("empty body".into())),
        other => {
            return Err(CalError::NotICalendar(
                format!("{other:?}").chars().take(120).collect(),
            ))
        }
    }
    match parser.entry() {
        calcard::Entry::Eof => {}
        calcard::Entry::ICalendar(_) | calcard::Entry::VCard(_) => {
            return Err(CalError::MultipleCalendars)
        }
        other => {
            return Err(CalError::NotICalendar(
                format!("{other:?}").chars().take(120).collect(),
            ))
        }
    }
    let root = ical::parse(body).map_err(CalError::NotICalendar)?;
    if root.name != "VCALENDAR" {
        return Err(CalError::NotICalendar(format!(
            "top-level component is {}",
            root.name
        )));
    }
    Ok(root)
}

/// Validate a calendar object resource (RFC 4791 §4.1) and compute its index bounds.
pub fn inspect(
    body: &str,
    allowed: &[ComponentKind],
    max_instances: usize,
) -> Result<ObjectInfo, CalError> {
    let root = parse_calendar(body)?;
    if root.prop("METHOD").is_some() {
        return Err(CalError::MethodPresent);
    }
    let zones = Zones::from_calendar(&root);
    let mut kind_name: Option<&str> = None;
    let mut uid: Option<&str> = None;
    let mut masters = 0;
    let mut rids: Vec<i64> = Vec::new();
    for c in root.comps.iter().filter(|c| c.name != "VTIMEZONE") {
        match kind_name {
            None => kind_name = Some(&c.name),
            Some(k) if k != c.name => {
                return Err(CalError::MixedComponents(k.to_string(), c.name.to_string()))
            }
            _ => {}
        }
        let u = c
            .value("UID")
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .ok_or_else(|| CalError::MissingUid(c.name.to_string()))?;
        match uid {
            None => uid = Some(u),
            Some(prev) if prev != u => return Err(CalError::MultipleUids(prev.into(), u.into())),
            _ => {}
        }
        for name in [
            "DTSTART",
            "DTEND",
            "DUE",
            "RECURRENCE-ID",
            "COMPLETED",
            "CREATED",
        ] {
            if let Some(p) = c.prop(name) {
                if time::parse_dt_prop(p, &zones).is_none() {
                    return Err(CalError::InvalidValue(name.into()));
                }
            }
        }
        if let Some(d) = c.value("DURATION") {
            if time::parse_duration(d).is_none() {
                return Err(CalError::InvalidValue("DURATION".into()));
            }
        }
        check_end_after_start(c, &zones)?;
        match c
            .prop("RECURRENCE-ID")
            .and_then(|p| time::parse_dt_prop(p, &zones))
        {
            Some(r) => {
                if rids.contains(&r.utc()) {
                    return Err(CalError::DuplicateInstance(
                        c.value("RECURRENCE-ID").unwrap_or_default().to_string(),
                    ));
                }
                rids.push(r.utc());
            }
            None => {
                masters += 1;
                if masters > 1 {
                    return Err(CalError::DuplicateInstance("two masters".into()));
                }
            }
        }
    }
    let kind_name = kind_name.ok_or(CalError::NoComponent)?;
    let kind = ComponentKind::parse_calendar(kind_name)
        .ok_or_else(|| CalError::UnsupportedComponent(kind_name.to_string()))?;
    if !allowed.contains(&kind) {
        return Err(CalError::UnsupportedComponent(kind_name.to_string()));
    }
    let (first_start, last_end) = bounds(&root, kind, &zones, max_instances);
    Ok(ObjectInfo {
        uid: uid.unwrap_or_default().to_string(),
        component: kind,
        first_start,
        last_end,
    })
}

/// RFC 5545 §3.6.1 (VEVENT: DTEND later than DTSTART) and §3.8.2.3 (VTODO: DUE later than
/// DTSTART). An end equal to the start is kept: clients write zero-length events and tasks.
/// Two fixed times (UTC or with a TZID) compare as instants; when either is floating or a
/// DATE (midnight), they compare as wall-clock times, which is how a floating time is read in
/// any zone.
fn check_end_after_start(c: &ical::Comp, zones: &Zones) -> Result<(), CalError> {
    let end = match &*c.name {
        "VEVENT" => "DTEND",
        "VTODO" => "DUE",
        _ => return Ok(()),
    };
    let parsed = |name: &str| c.prop(name).and_then(|p| time::parse_dt_prop(p, zones));
    let (Some(s), Some(e)) = (parsed("DTSTART"), parsed(end)) else {
        return Ok(());
    };
    let before = if s.is_floating() || e.is_floating() {
        e.local < s.local
    } else {
        e.utc() < s.utc()
    };
    if !before {
        return Ok(());
    }
    Err(CalError::EndBeforeStart {
        comp: c.name.to_string(),
        end,
        end_value: c.value(end).unwrap_or_default().trim().to_string(),
        start_value: c.value("DTSTART").unwrap_or_default().trim().to_string(),
    })
}

/// The instants a time-range test looks at, per instance: (lo, hi), `None` = unbounded.
fn instance_points(
    kind: ComponentKind,
    i: &time::Instance<'_>,
    zones: &Zones,
) -> (Option<i64>, Option<i64>) {
    let dt = |n: &str| {
        i.comp
            .prop(n)
            .and_then(|p| time::parse_dt_prop(p, zones))
            .map(|d| d.utc())
    };
    match kind {
        ComponentKind::Vevent => match i.event_span() {
            Some((s, e)) => (Some(s), Some(e)),
            None => (None, None),
        },
        ComponentKind::Vjournal => match (i.start_utc, i.start) {
            (Some(s), Some(d)) if d.date_only => (Some(s), Some(s + 86400)),
            (Some(s), _) => (Some(s), Some(s)),
            _ => (None, None),
        },
        ComponentKind::Vtodo => {
            let pts: Vec<i64> = match (i.start_utc, i.end_utc) {
                (None, None) => match (dt("COMPLETED"), dt("CREATED")) {
                    (None, None) => return (None, None),
                    (None, Some(cr)) => return (Some(cr), None),
                    (a, b) => a.into_iter().chain(b).collect(),
                },
                (a, b) => a.into_iter().chain(b).collect(),
            };
            (pts.iter().min().copied(), pts.iter().max().copied())
        }
        ComponentKind::Vfreebusy => {
            let mut pts: Vec<i64> = i.start_utc.into_iter().chain(i.end_utc).collect();
            for (s, e) in freebusy::periods_of(i.comp, zones) {
                pts.push(s);
                pts.push(e);
            }
            (pts.iter().min().copied(), pts.iter().max().copied())
        }
        // Not a calendar component: `inspect` never gets here with it.
        ComponentKind::Vcard => (None, None),
    }
}

/// An item's index bounds. A recurrence set is expanded only when a rule's reach cannot be
/// read from the rule ([`reach`]): its explicit instances (DTSTART, RDATE, overrides) plus
/// each rule's last start, and no upper bound for a never-ending rule.
fn bounds(
    root: &ical::Comp,
    kind: ComponentKind,
    zones: &Zones,
    max: usize,
) -> (Option<i64>, Option<i64>) {
    let mut instances;
    let mut unbounded;
    // An UNTIL-derived start is UTC, not the set's zone: a DURATION's nominal days may then
    // be off by a DST hour.
    let mut dst_slack = 0;
    match time::explicit(root, kind.as_str(), zones, max.max(1)) {
        Some((exp, rules)) => {
            instances = exp.instances;
            unbounded = exp.unbounded;
            for time::MasterRule {
                master,
                dtstart,
                reach,
            } in rules
            {
                // DTSTART is a lower bound of every rule instance even when EXDATE drops it.
                instances.push(time::instance_at(master, dtstart, zones));
                match reach {
                    Reach::LastStart { start, exact } => {
                        if !exact {
                            dst_slack = 3600;
                        }
                        instances.push(time::instance_at(master, start, zones))
                    }
                    Reach::Open | Reach::Expand => unbounded = true,
                }
            }
        }
        None => {
            let exp: Expansion<'_> =
                time::expand(root, kind.as_str(), zones, Window::default(), max.max(1));
            instances = exp.instances;
            unbounded = exp.unbounded;
        }
    }
    let (lo, hi) = instants_span(kind, zones, &instances, unbounded);
    (lo, hi.map(|v| v.saturating_add(dst_slack)))
}

/// Bounds of every instant `instances` test, widened for floating times; no upper bound when
/// the set goes on past them.
fn instants_span(
    kind: ComponentKind,
    zones: &Zones,
    instances: &[time::Instance<'_>],
    unbounded: bool,
) -> (Option<i64>, Option<i64>) {
    if instances.is_empty() {
        return (None, None);
    }
    let mut lo: Option<i64> = Some(i64::MAX);
    let mut hi: Option<i64> = Some(i64::MIN);
    let mut floating = false;
    for i in instances {
        floating |= i.floating;
        let (l, h) = instance_points(kind, i, zones);
        lo = match (lo, l) {
            (Some(a), Some(b)) => Some(a.min(b)),
            _ => None,
        };
        hi = match (hi, h) {
            (Some(a), Some(b)) => Some(a.max(b)),
            _ => None,
        };
    }
    if unbounded {
        hi = None;
    }
    if floating {
        lo = lo.map(|v| v - FLOATING_SLACK);
        hi = hi.map(|v| v + FLOATING_SLACK);
    }
    (lo, hi)
}
