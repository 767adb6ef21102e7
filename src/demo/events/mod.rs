//! The demo calendar: about 30 hand-made events that cover the awkward cases (series with
//! overridden instances and exceptions, all-day and multi-day events, flights across time
//! zones, alarms of every kind) plus randomly generated, but deterministic, sales meetings.

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Weekday};

use super::data::{directory, Colleague, Person, OWNER, TEAM};
use super::ical::{at, calendar, Alarm, Attendee, Component, End, When};
use super::DemoItem;
use crate::vocab::ComponentKind;

mod generated;
mod special;

use generated::generated_events;
use special::special_events;

/// Number of VCALENDAR objects produced by [`calendar_events`].
pub(crate) const EVENT_COUNT: usize = 240;

/// DTSTAMP/CREATED/LAST-MODIFIED of all demo objects: the day before the window opens.
pub(crate) fn stamp(today: NaiveDate) -> NaiveDateTime {
    at(today - TimeDelta::days(61), 7, 30)
}

pub(crate) fn evt_uid(n: usize) -> String {
    format!("demo-evt-{n:04}@crmdav")
}

/// First date on or after `d` that falls on `wd`.
pub(crate) fn next_weekday(d: NaiveDate, wd: Weekday) -> NaiveDate {
    let ahead =
        (7 + wd.num_days_from_monday() as i64 - d.weekday().num_days_from_monday() as i64) % 7;
    d + TimeDelta::days(ahead)
}

/// First Monday-to-Friday date on or after `d`.
pub(crate) fn next_workday(d: NaiveDate) -> NaiveDate {
    match d.weekday() {
        Weekday::Sat => d + TimeDelta::days(2),
        Weekday::Sun => d + TimeDelta::days(1),
        _ => d,
    }
}

fn first_monday_on_or_after(d: NaiveDate) -> NaiveDate {
    // The first Monday of d's month if that is not before d, else of the next month.
    let first = d.with_day(1).unwrap_or(d);
    let monday = next_weekday(first, Weekday::Mon);
    if monday >= d {
        return monday;
    }
    let next_month = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    };
    next_weekday(next_month.unwrap_or(d), Weekday::Mon)
}

fn owner() -> (String, String) {
    (OWNER.name.to_string(), OWNER.email.to_string())
}

fn person(p: &Person, partstat: &'static str) -> Attendee {
    Attendee {
        name: p.full.clone(),
        email: p.email.clone(),
        partstat,
        role: "REQ-PARTICIPANT",
    }
}

fn colleague(c: &Colleague, partstat: &'static str) -> Attendee {
    Attendee {
        name: c.name.to_string(),
        email: c.email.to_string(),
        partstat,
        role: "OPT-PARTICIPANT",
    }
}

fn me() -> Attendee {
    Attendee {
        name: OWNER.name.to_string(),
        email: OWNER.email.to_string(),
        partstat: "ACCEPTED",
        role: "CHAIR",
    }
}

fn remind(minutes: &'static str) -> Alarm {
    Alarm::Display {
        trigger: minutes,
        related_end: false,
        text: "Reminder".to_string(),
    }
}

fn address(p: &Person) -> String {
    let c = p.company;
    format!(
        "{}, {}, {} {}, {}",
        c.name, c.street, c.postcode, c.city, c.country
    )
}

/// Builds the objects; each inner Vec is one VCALENDAR (master first, then overrides).
struct Builder {
    objects: Vec<Vec<Component>>,
}

impl Builder {
    fn next_uid(&self) -> String {
        evt_uid(self.objects.len() + 1)
    }

    fn event(&self, summary: impl Into<String>, start: When, end: End) -> Component {
        let mut c = Component::new(ComponentKind::Vevent, self.next_uid(), summary);
        c.start = Some(start);
        c.end = end;
        c.organizer = Some(owner());
        c.status = Some("CONFIRMED");
        c
    }

    fn push(&mut self, c: Component) {
        self.objects.push(vec![c]);
    }

    /// A series plus one moved-and-renamed instance (`k` periods after the start).
    ///
    /// Master and override carry the same SEQUENCE: the organizer re-sent the series when
    /// the instance moved (and calcard pairs overrides with masters of equal SEQUENCE).
    fn push_series(
        &mut self,
        mut master: Component,
        period: TimeDelta,
        k: i32,
        moved_by: TimeDelta,
        new_summary: &str,
    ) {
        master.sequence = 1;
        let mut objects = vec![master.clone()];
        if let Some(start) = master.start {
            let rid = start.plus(period * k);
            let mut o = master.clone();
            o.rrule = None;
            o.exdates.clear();
            o.recurrence_id = Some(rid);
            o.start = Some(rid.plus(moved_by));
            if let End::At(end) = master.end {
                o.end = End::At(end.plus(period * k).plus(moved_by));
            }
            o.summary = new_summary.to_string();
            objects.push(o);
        }
        self.objects.push(objects);
    }
}

pub(super) fn by_company<'a>(people: &'a [Person], name: &str) -> Vec<&'a Person> {
    people.iter().filter(|p| p.company.name == name).collect()
}

pub(crate) fn calendar_events(today: NaiveDate) -> Vec<DemoItem> {
    let people = directory();
    let mut b = Builder {
        objects: Vec::new(),
    };
    special_events(&mut b, today, &people);
    let rest = EVENT_COUNT.saturating_sub(b.objects.len());
    generated_events(&mut b, today, &people, rest);
    let stamp = stamp(today);
    b.objects
        .iter()
        .map(|comps| {
            let uid = comps.first().map(|c| c.uid.clone()).unwrap_or_default();
            DemoItem {
                name: format!("{uid}.ics"),
                body: calendar(comps, stamp),
            }
        })
        .collect()
}
