//! Demo data set for the embedded `demo` tenant: a lively sales-team calendar, a task list
//! and an address book, generated deterministically (fixed-seed RNG, dates relative to
//! `today`) so that the same day always yields the same bytes. Pure: no I/O.
//!
//! Every object is a complete resource body with CRLF line endings, lines folded at 75
//! octets and text escaped per RFC 5545 (iCalendar), RFC 2426 (vCard 3.0) and RFC 6350
//! (vCard 4.0). Events fall between `today - 60` and `today + 120` days.

mod contacts;
mod data;
mod events;
mod ical;
mod tasks;
mod text;
mod tz;

#[cfg(test)]
mod tests;

/// One resource of the demo data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoItem {
    /// Resource file name: `<uid>.ics` or `<uid>.vcf`.
    pub name: String,
    /// The iCalendar or vCard object.
    pub body: String,
}

/// The demo calendar: 240 VCALENDAR objects, UIDs `demo-evt-NNNN@crmdav`.
///
/// Recurring series (weekly with COUNT, UNTIL or open-ended, several with an EXDATE and an
/// overridden instance; a daily stand-up; monthly on `1MO` and on `BYMONTHDAY`; yearly),
/// all-day and multi-day events, events crossing midnight and time zones
/// (Europe/Berlin, America/New_York, Asia/Tokyo with their VTIMEZONEs, plus UTC), alarms,
/// tentative and cancelled meetings and about 210 generated customer meetings.
pub fn calendar_events(today: chrono::NaiveDate) -> Vec<DemoItem> {
    events::calendar_events(today)
}

/// The demo task list: 36 VCALENDAR objects with one VTODO each, UIDs
/// `demo-task-NNNN@crmdav`.
pub fn tasks(today: chrono::NaiveDate) -> Vec<DemoItem> {
    tasks::tasks(today)
}

/// The demo address book: 240 vCards (60 % version 3.0, 40 % version 4.0), UIDs
/// `demo-card-NNNN@crmdav`.
pub fn contacts() -> Vec<DemoItem> {
    contacts::contacts()
}
