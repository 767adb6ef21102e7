//! A small iCalendar (RFC 5545) model for the demo data: just enough structure to write
//! VEVENT/VTODO components, their alarms and the VTIMEZONEs they reference.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};

use super::text::{quoted, text_list, Lines};
use super::tz::Zone;
use crate::vocab::ComponentKind;

pub(crate) const PRODID: &str = "-//crmdav//demo//EN";

pub(crate) fn at(d: NaiveDate, h: u32, m: u32) -> NaiveDateTime {
    d.and_time(NaiveTime::from_hms_opt(h, m, 0).unwrap_or(NaiveTime::MIN))
}

pub(crate) fn fmt_date(d: NaiveDate) -> String {
    d.format("%Y%m%d").to_string()
}

pub(crate) fn fmt_dt(dt: NaiveDateTime) -> String {
    dt.format("%Y%m%dT%H%M%S").to_string()
}

/// A DATE or DATE-TIME value: floating times are never used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum When {
    Date(NaiveDate),
    Local(NaiveDateTime, Zone),
    Utc(NaiveDateTime),
}

impl When {
    /// `NAME;VALUE=DATE:20250101`, `NAME;TZID=Europe/Berlin:20250101T100000` or
    /// `NAME:20250101T100000Z`; `params` are inserted after the name.
    pub(crate) fn prop(self, name: &str, params: &str) -> String {
        match self {
            When::Date(d) => format!("{name}{params};VALUE=DATE:{}", fmt_date(d)),
            When::Local(dt, z) => format!("{name}{params};TZID={}:{}", z.tzid(), fmt_dt(dt)),
            When::Utc(dt) => format!("{name}{params}:{}Z", fmt_dt(dt)),
        }
    }

    pub(crate) fn zone(self) -> Option<Zone> {
        match self {
            When::Local(_, z) => Some(z),
            _ => None,
        }
    }

    pub(crate) fn plus(self, delta: TimeDelta) -> When {
        match self {
            When::Date(d) => When::Date(d + TimeDelta::days(delta.num_days())),
            When::Local(dt, z) => When::Local(dt + delta, z),
            When::Utc(dt) => When::Utc(dt + delta),
        }
    }

    /// The same day at another wall-clock time (dates stay dates).
    pub(crate) fn at_time(self, h: u32, m: u32) -> When {
        match self {
            When::Date(d) => When::Date(d),
            When::Local(dt, z) => When::Local(at(dt.date(), h, m), z),
            When::Utc(dt) => When::Utc(at(dt.date(), h, m)),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum End {
    At(When),
    Duration(TimeDelta),
    Open,
}

#[derive(Debug, Clone)]
pub(crate) struct Attendee {
    pub name: String,
    pub email: String,
    pub partstat: &'static str,
    pub role: &'static str,
}

#[derive(Debug, Clone)]
pub(crate) enum Alarm {
    /// `TRIGGER` relative to the start (or to the end/due with `related_end`).
    Display {
        trigger: &'static str,
        related_end: bool,
        text: String,
    },
    Email {
        trigger: &'static str,
        to_name: String,
        to_email: String,
        summary: String,
        body: String,
    },
}

/// One VEVENT or VTODO.
#[derive(Debug, Clone)]
pub(crate) struct Component {
    pub kind: ComponentKind,
    pub uid: String,
    pub summary: String,
    pub location: Option<String>,
    pub description: Option<String>,
    pub start: Option<When>,
    pub end: End,
    pub rrule: Option<String>,
    pub exdates: Vec<When>,
    pub recurrence_id: Option<When>,
    pub organizer: Option<(String, String)>,
    pub attendees: Vec<Attendee>,
    pub categories: Vec<String>,
    pub status: Option<&'static str>,
    pub transparent: bool,
    pub sequence: u32,
    pub priority: Option<u8>,
    pub percent: Option<u8>,
    pub completed: Option<NaiveDateTime>,
    pub related_to: Option<String>,
    pub class: Option<&'static str>,
    pub url: Option<String>,
    pub alarms: Vec<Alarm>,
}

impl Component {
    pub(crate) fn new(kind: ComponentKind, uid: String, summary: impl Into<String>) -> Self {
        Component {
            kind,
            uid,
            summary: summary.into(),
            location: None,
            description: None,
            start: None,
            end: End::Open,
            rrule: None,
            exdates: Vec::new(),
            recurrence_id: None,
            organizer: None,
            attendees: Vec::new(),
            categories: Vec::new(),
            status: None,
            transparent: false,
            sequence: 0,
            priority: None,
            percent: None,
            completed: None,
            related_to: None,
            class: None,
            url: None,
            alarms: Vec::new(),
        }
    }

    fn zones(&self) -> impl Iterator<Item = Zone> + '_ {
        let end = match self.end {
            End::At(w) => w.zone(),
            _ => None,
        };
        self.start
            .and_then(When::zone)
            .into_iter()
            .chain(end)
            .chain(self.exdates.iter().filter_map(|w| w.zone()))
            .chain(self.recurrence_id.and_then(When::zone))
    }

    fn write(&self, l: &mut Lines, stamp: NaiveDateTime) {
        let begin = self.kind.as_str();
        let end_name = if self.kind == ComponentKind::Vtodo {
            "DUE"
        } else {
            "DTEND"
        };
        l.line(&format!("BEGIN:{begin}"));
        l.line(&format!("UID:{}", self.uid));
        l.line(&format!("DTSTAMP:{}Z", fmt_dt(stamp)));
        l.line(&format!("CREATED:{}Z", fmt_dt(stamp)));
        l.line(&format!("LAST-MODIFIED:{}Z", fmt_dt(stamp)));
        if let Some(rid) = self.recurrence_id {
            l.line(&rid.prop("RECURRENCE-ID", ""));
        }
        if let Some(start) = self.start {
            l.line(&start.prop("DTSTART", ""));
        }
        match &self.end {
            End::At(w) => l.line(&w.prop(end_name, "")),
            End::Duration(d) => l.line(&format!(
                "DURATION:{}",
                crate::contentline::format_duration(d.num_seconds())
            )),
            End::Open => {}
        }
        if let Some(rule) = &self.rrule {
            l.line(&format!("RRULE:{rule}"));
        }
        for ex in &self.exdates {
            l.line(&ex.prop("EXDATE", ""));
        }
        if self.sequence > 0 {
            l.line(&format!("SEQUENCE:{}", self.sequence));
        }
        l.text("SUMMARY", &self.summary);
        if let Some(loc) = &self.location {
            l.text("LOCATION", loc);
        }
        if let Some(desc) = &self.description {
            l.text("DESCRIPTION", desc);
        }
        if let Some(url) = &self.url {
            l.line(&format!("URL:{url}"));
        }
        if let Some(class) = self.class {
            l.line(&format!("CLASS:{class}"));
        }
        if let Some(status) = self.status {
            l.line(&format!("STATUS:{status}"));
        }
        if let Some(p) = self.priority {
            l.line(&format!("PRIORITY:{p}"));
        }
        if let Some(p) = self.percent {
            l.line(&format!("PERCENT-COMPLETE:{p}"));
        }
        if let Some(done) = self.completed {
            l.line(&format!("COMPLETED:{}Z", fmt_dt(done)));
        }
        if let Some(parent) = &self.related_to {
            l.line(&format!("RELATED-TO;RELTYPE=PARENT:{parent}"));
        }
        if self.kind == ComponentKind::Vevent {
            l.line(if self.transparent {
                "TRANSP:TRANSPARENT"
            } else {
                "TRANSP:OPAQUE"
            });
        }
        if !self.categories.is_empty() {
            let cats: Vec<&str> = self.categories.iter().map(String::as_str).collect();
            l.line(&format!("CATEGORIES:{}", text_list(&cats)));
        }
        if let Some((name, email)) = &self.organizer {
            l.line(&format!("ORGANIZER;CN={}:mailto:{email}", quoted(name)));
        }
        for a in &self.attendees {
            let rsvp = if a.partstat == "NEEDS-ACTION" {
                ";RSVP=TRUE"
            } else {
                ""
            };
            l.line(&format!(
                "ATTENDEE;CUTYPE=INDIVIDUAL;ROLE={};PARTSTAT={}{rsvp};CN={}:mailto:{}",
                a.role,
                a.partstat,
                quoted(&a.name),
                a.email
            ));
        }
        for alarm in &self.alarms {
            l.line("BEGIN:VALARM");
            match alarm {
                Alarm::Display {
                    trigger,
                    related_end,
                    text,
                } => {
                    l.line("ACTION:DISPLAY");
                    if *related_end {
                        l.line(&format!("TRIGGER;RELATED=END:{trigger}"));
                    } else {
                        l.line(&format!("TRIGGER:{trigger}"));
                    }
                    l.text("DESCRIPTION", text);
                }
                Alarm::Email {
                    trigger,
                    to_name,
                    to_email,
                    summary,
                    body,
                } => {
                    l.line("ACTION:EMAIL");
                    l.line(&format!("TRIGGER:{trigger}"));
                    l.text("SUMMARY", summary);
                    l.text("DESCRIPTION", body);
                    l.line(&format!(
                        "ATTENDEE;CN={}:mailto:{to_email}",
                        quoted(to_name)
                    ));
                }
            }
            l.line("END:VALARM");
        }
        l.line(&format!("END:{begin}"));
    }
}

/// One VCALENDAR object: VTIMEZONEs for every TZID used, then the components (a master and
/// its overridden instances share one UID).
pub(crate) fn calendar(components: &[Component], stamp: NaiveDateTime) -> String {
    let mut l = Lines::new();
    l.line("BEGIN:VCALENDAR");
    l.line("VERSION:2.0");
    l.line(&format!("PRODID:{PRODID}"));
    l.line("CALSCALE:GREGORIAN");
    for zone in Zone::ALL {
        if components.iter().any(|c| c.zones().any(|z| z == zone)) {
            zone.write_vtimezone(&mut l);
        }
    }
    for c in components {
        c.write(&mut l, stamp);
    }
    l.line("END:VCALENDAR");
    l.finish()
}
