//! The demo calendar: about 30 hand-made events that cover the awkward cases (series with
//! overridden instances and exceptions, all-day and multi-day events, flights across time
//! zones, alarms of every kind) plus randomly generated, but deterministic, sales meetings.

use chrono::{Datelike, NaiveDate, NaiveDateTime, TimeDelta, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::data::{directory, pick, pick_company, Colleague, Person, OWNER, TEAM};
use super::ical::{at, calendar, fmt_date, Alarm, Attendee, Component, End, When};
use super::tz::Zone;
use super::DemoItem;
use crate::vocab::ComponentKind;

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

fn by_company<'a>(people: &'a [Person], name: &str) -> Vec<&'a Person> {
    people.iter().filter(|p| p.company.name == name).collect()
}

fn special_events(b: &mut Builder, today: NaiveDate, people: &[Person]) {
    let day = |n: i64| today + TimeDelta::days(n);
    let ber = |d: NaiveDate, h: u32, m: u32| When::Local(at(d, h, m), Zone::Berlin);
    let nyc = |d: NaiveDate, h: u32, m: u32| When::Local(at(d, h, m), Zone::NewYork);
    let tyo = |d: NaiveDate, h: u32, m: u32| When::Local(at(d, h, m), Zone::Tokyo);
    let utc = |d: NaiveDate, h: u32, m: u32| When::Utc(at(d, h, m));
    let week = TimeDelta::weeks(1);
    let p = |n: usize| &people[n - 1];
    let team_all = || {
        TEAM.iter()
            .map(|c| colleague(c, "ACCEPTED"))
            .collect::<Vec<_>>()
    };

    // 1. Weekly, open-ended, with an exception and a moved instance.
    let d = next_weekday(day(-56), Weekday::Mon);
    let mut e = b.event(
        "Weekly pipeline review",
        ber(d, 10, 0),
        End::At(ber(d, 11, 0)),
    );
    e.rrule = Some("FREQ=WEEKLY;BYDAY=MO".into());
    e.exdates = vec![ber(d, 10, 0).plus(week * 10)];
    e.location = Some("Meeting room Spree (3rd floor)".into());
    e.description = Some("Pipeline by stage; deals > 50k EUR, slipped deals, next steps.\nPlease update your opportunities in the CRM before Monday 9:00.".into());
    e.categories = vec!["Internal".into(), "Pipeline".into()];
    e.attendees = [vec![me()], team_all()].concat();
    e.alarms = vec![remind("-PT15M")];
    b.push_series(
        e,
        week,
        8,
        TimeDelta::hours(4),
        "Weekly pipeline review (moved: board meeting)",
    );

    // 2. Weekly with COUNT; one instance moved to the next day.
    let nordwind = by_company(people, "Nordwind Logistik AG");
    let d = next_weekday(day(-50), Weekday::Tue);
    let mut e = b.event(
        "Key account sync – Nordwind Logistik AG",
        ber(d, 14, 0),
        End::At(ber(d, 14, 45)),
    );
    e.rrule = Some("FREQ=WEEKLY;BYDAY=TU;COUNT=20".into());
    e.exdates = vec![ber(d, 14, 0).plus(week * 7)];
    e.location = Some("Microsoft Teams".into());
    e.description = Some("Status of the rollout: Hamburg, Bremen, Kiel.\nOpen tickets; invoices; renewal (due in Q4).".into());
    e.categories = vec!["Customer".into(), "Key Account".into()];
    e.attendees = nordwind
        .iter()
        .take(2)
        .map(|x| person(x, "ACCEPTED"))
        .collect();
    e.alarms = vec![remind("-PT10M")];
    b.push_series(
        e,
        week,
        5,
        TimeDelta::hours(19),
        "Key account sync – Nordwind Logistik AG (rescheduled)",
    );

    // 3. Weekly in New York time with UNTIL.
    let d = next_weekday(day(-45), Weekday::Thu);
    let last = d + week * 14;
    let mut e = b.event(
        "Call with Pinecrest Capital LLC",
        nyc(d, 9, 30),
        End::At(nyc(d, 10, 0)),
    );
    e.rrule = Some(format!(
        "FREQ=WEEKLY;BYDAY=TH;UNTIL={}T235959Z",
        fmt_date(last)
    ));
    e.exdates = vec![nyc(d, 9, 30).plus(week * 9)];
    e.location = Some("Zoom: https://zoom.example/j/8412345678".into());
    e.description = Some("Weekly check-in with Michael Johnson (CTO).\nTopics: SSO via Okta, data residency (EU/US), pricing for 250 seats.".into());
    e.categories = vec!["Prospect".into(), "Call".into()];
    e.attendees = vec![person(p(8), "ACCEPTED"), colleague(&TEAM[2], "TENTATIVE")];
    e.alarms = vec![remind("-PT15M")];
    b.push_series(
        e,
        week,
        6,
        TimeDelta::minutes(90),
        "Call with Pinecrest Capital LLC (later: board prep)",
    );

    // 4. Weekly in Tokyo time with COUNT.
    let d = next_weekday(day(-40), Weekday::Wed);
    let mut e = b.event(
        "Partner check-in with Sakura Robotics K.K.",
        tyo(d, 17, 0),
        End::At(tyo(d, 17, 30)),
    );
    e.rrule = Some("FREQ=WEEKLY;BYDAY=WE;COUNT=12".into());
    e.exdates = vec![tyo(d, 17, 0).plus(week * 4)];
    e.location = Some("Google Meet".into());
    e.description = Some("Joint go-to-market in Japan; localisation status (日本語 UI).".into());
    e.categories = vec!["Partner".into()];
    e.attendees = vec![person(p(7), "ACCEPTED"), colleague(&TEAM[4], "ACCEPTED")];
    e.alarms = vec![remind("-PT15M")];
    b.push_series(
        e,
        week,
        3,
        TimeDelta::hours(-1),
        "Partner check-in with Sakura Robotics K.K. (an hour earlier)",
    );

    // 5. Two days a week, UNTIL, exception on a Tuesday, moved Thursday.
    let d = next_weekday(day(-30), Weekday::Tue);
    let last = d + week * 8;
    let mut e = b.event(
        "Sales enablement training",
        ber(d, 16, 0),
        End::At(ber(d, 17, 0)),
    );
    e.rrule = Some(format!(
        "FREQ=WEEKLY;BYDAY=TU,TH;UNTIL={}T235959Z",
        fmt_date(last)
    ));
    e.exdates = vec![ber(d, 16, 0).plus(week * 2)];
    e.location = Some("Training room \"Elbe\"; bring your laptop".into());
    e.description =
        Some("Modules: discovery, demo, objection handling, closing.\nTrainer: Priya Raman".into());
    e.categories = vec!["Internal".into(), "Training".into()];
    e.attendees = [vec![me()], team_all()].concat();
    e.organizer = Some((TEAM[2].name.into(), TEAM[2].email.into()));
    e.attendees[0].role = "REQ-PARTICIPANT";
    e.alarms = vec![remind("-PT15M")];
    // The Thursday of the second week (start + 9 days), moved to 13:00.
    e.sequence = 2;
    let mut objs = vec![e.clone()];
    let rid = ber(d + TimeDelta::days(9), 16, 0);
    let mut o = e.clone();
    o.rrule = None;
    o.exdates.clear();
    o.recurrence_id = Some(rid);
    o.start = Some(rid.at_time(13, 0));
    o.end = End::At(rid.at_time(14, 0));
    o.summary = "Sales enablement training: objection handling (moved)".into();
    objs.push(o);
    b.objects.push(objs);

    // 6. Every other Friday, in UTC.
    let d = next_weekday(day(-55), Weekday::Fri);
    let mut e = b.event(
        "Fortnightly forecast call (global)",
        utc(d, 13, 0),
        End::At(utc(d, 13, 30)),
    );
    e.rrule = Some("FREQ=WEEKLY;INTERVAL=2;BYDAY=FR".into());
    e.location = Some("Microsoft Teams".into());
    e.categories = vec!["Internal".into(), "Forecast".into()];
    e.attendees = [vec![me()], team_all()].concat();
    e.alarms = vec![remind("-PT5M")];
    b.push(e);

    // 7. Daily stand-up on working days, DURATION instead of DTEND.
    let d = next_workday(day(-60));
    let mut e = b.event(
        "Daily stand-up",
        ber(d, 9, 15),
        End::Duration(TimeDelta::minutes(15)),
    );
    e.rrule = Some("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR".into());
    e.exdates = vec![ber(next_workday(day(10)), 9, 15)];
    e.location = Some("Sales floor / Teams".into());
    e.categories = vec!["Internal".into()];
    e.attendees = [vec![me()], team_all()].concat();
    let moved = ber(next_workday(day(3)), 9, 15);
    e.sequence = 1;
    let mut objs = vec![e.clone()];
    let mut o = e;
    o.rrule = None;
    o.exdates.clear();
    o.recurrence_id = Some(moved);
    o.start = Some(moved.at_time(9, 45));
    o.end = End::Duration(TimeDelta::minutes(30));
    o.summary = "Daily stand-up (with Zoë's demo of the new pipeline view)".into();
    objs.push(o);
    b.objects.push(objs);

    // 8. Monthly on the first Monday.
    let d = first_monday_on_or_after(day(-60));
    let mut e = b.event(
        "Monthly sales review",
        ber(d, 15, 0),
        End::At(ber(d, 16, 30)),
    );
    e.rrule = Some("FREQ=MONTHLY;BYDAY=1MO".into());
    e.location = Some("Board room, Friedrichstraße 68, 10117 Berlin".into());
    e.description = Some("Numbers vs. plan; win/loss analysis; forecast for next month.\nSlides: \\\\fileserver\\sales\\reviews".into());
    e.categories = vec!["Internal".into(), "Review".into()];
    e.attendees = [vec![me()], team_all()].concat();
    e.alarms = vec![remind("-PT30M")];
    b.push(e);

    // 9. Monthly on the 25th, six times.
    let from = day(-60);
    let d = if from.day() <= 25 {
        from.with_day(25)
    } else {
        (from + TimeDelta::days(10)).with_day(25)
    }
    .unwrap_or(from);
    let mut e = b.event(
        "Month-end forecast submission",
        ber(d, 11, 0),
        End::At(ber(d, 11, 30)),
    );
    e.rrule = Some("FREQ=MONTHLY;BYMONTHDAY=25;COUNT=6".into());
    e.description =
        Some("Submit commit, best case and pipeline in the CRM; comment every deal > 20k.".into());
    e.categories = vec!["Internal".into(), "Forecast".into()];
    e.transparent = true;
    e.alarms = vec![remind("-PT1H")];
    b.push(e);

    // 10. Yearly all-day.
    let d = day(20);
    let mut e = b.event(
        "Acme GmbH: contract anniversary",
        When::Date(d),
        End::At(When::Date(d + TimeDelta::days(1))),
    );
    e.rrule = Some("FREQ=YEARLY".into());
    e.description = Some("Customer since 2019; renewal talk with Zoë Ümlaut.".into());
    e.categories = vec!["Customer".into(), "Anniversary".into()];
    e.transparent = true;
    e.organizer = None;
    b.push(e);

    // 11. Single all-day.
    let d = next_workday(day(14));
    let mut e = b.event(
        "Team offsite – Q planning",
        When::Date(d),
        End::At(When::Date(d + TimeDelta::days(1))),
    );
    e.location = Some("Gut Sarnow, Brandenburg".into());
    e.categories = vec!["Internal".into()];
    e.attendees = [vec![me()], team_all()].concat();
    b.push(e);

    // 12. Two-day all-day absence, free/busy transparent.
    let d = next_workday(day(-10));
    let mut e = b.event(
        "Out of office: Zoë Fischer",
        When::Date(d),
        End::At(When::Date(d + TimeDelta::days(2))),
    );
    e.transparent = true;
    e.categories = vec!["Absence".into()];
    e.organizer = Some((TEAM[0].name.into(), TEAM[0].email.into()));
    b.push(e);

    // 13./14./15. Multi-day all-day events (DTEND is exclusive).
    let d = next_weekday(day(35), Weekday::Tue);
    let mut e = b.event(
        "Trade fair: SaaS Expo Hamburg",
        When::Date(d),
        End::At(When::Date(d + TimeDelta::days(3))),
    );
    e.location = Some("Messe Hamburg, Hall B6, Booth 12; Messeplatz 1, 20357 Hamburg".into());
    e.description = Some("Booth duty: Lena (Tue), Tobias (Wed), Zoë (Thu).\nLeads go into the CRM with source \"SaaS Expo\".".into());
    e.categories = vec!["Trade fair".into(), "Marketing".into()];
    e.attendees = team_all();
    e.alarms = vec![Alarm::Display {
        trigger: "-P1D",
        related_end: false,
        text: "Trade fair tomorrow: pack the booth kit".into(),
    }];
    b.push(e);

    let fair = next_weekday(day(75), Weekday::Wed);
    let mut e = b.event(
        "Trade fair: Retail Tech Japan",
        When::Date(fair),
        End::At(When::Date(fair + TimeDelta::days(3))),
    );
    e.location = Some("Tokyo Big Sight, East Hall 4".into());
    e.categories = vec!["Trade fair".into()];
    e.attendees = vec![person(p(7), "ACCEPTED"), colleague(&TEAM[4], "ACCEPTED")];
    b.push(e);

    let d = next_weekday(day(-40), Weekday::Mon);
    let mut e = b.event(
        "Sales kick-off",
        When::Date(d),
        End::At(When::Date(d + TimeDelta::days(2))),
    );
    e.location = Some("Hotel Adlon, Unter den Linden 77, Berlin".into());
    e.categories = vec!["Internal".into()];
    b.push(e);

    // 16. Timed event across midnight.
    let d = day(9);
    let mut e = b.event(
        "Overnight data migration – Nordwind Logistik AG",
        ber(d, 22, 30),
        End::At(ber(d + TimeDelta::days(1), 2, 0)),
    );
    e.description = Some("Cut-over window 22:30–02:00; rollback plan: restore snapshot, switch DNS back.\nOn call: Tobias Krämer, +49 151 23456789".into());
    e.categories = vec!["Customer".into(), "Project".into()];
    e.attendees = vec![colleague(&TEAM[1], "ACCEPTED")];
    e.attendees
        .extend(nordwind.first().map(|x| person(x, "ACCEPTED")));
    e.alarms = vec![remind("-PT30M")];
    b.push(e);

    // 17./18./19. Flights and a customer visit across time zones.
    let d = day(48);
    let mut e = b.event(
        "Flight LH 400 Frankfurt → New York JFK",
        ber(d, 10, 5),
        End::At(nyc(d, 12, 55)),
    );
    e.location = Some("Frankfurt Airport (FRA), Terminal 1".into());
    e.description = Some("Booking ref. X7K2QP; seat 14A.".into());
    e.categories = vec!["Travel".into()];
    e.alarms = vec![remind("-PT3H")];
    e.organizer = None;
    b.push(e);

    let mut e = b.event(
        "Customer visit: Pinecrest Capital LLC",
        nyc(d + TimeDelta::days(1), 10, 0),
        End::At(nyc(d + TimeDelta::days(1), 12, 0)),
    );
    e.location = Some(address(p(8)));
    e.description = Some("On-site workshop; security questionnaire, pilot scope, pricing.".into());
    e.categories = vec!["Prospect".into(), "Visit".into()];
    e.attendees = vec![person(p(8), "ACCEPTED"), colleague(&TEAM[2], "ACCEPTED")];
    e.alarms = vec![remind("-PT45M")];
    b.push(e);

    let d2 = d + TimeDelta::days(2);
    let mut e = b.event(
        "Flight LH 401 New York JFK → Frankfurt",
        nyc(d2, 17, 55),
        End::At(ber(d2 + TimeDelta::days(1), 7, 45)),
    );
    e.location = Some("John F. Kennedy International Airport (JFK), Terminal 1".into());
    e.categories = vec!["Travel".into()];
    e.organizer = None;
    b.push(e);

    let d = fair - TimeDelta::days(2);
    let mut e = b.event(
        "Flight NH 204 Frankfurt → Tokyo Haneda",
        ber(d, 20, 25),
        End::At(tyo(d + TimeDelta::days(1), 16, 40)),
    );
    e.location = Some("Frankfurt Airport (FRA), Terminal 1".into());
    e.categories = vec!["Travel".into()];
    e.organizer = None;
    e.alarms = vec![remind("-PT3H")];
    b.push(e);

    // 20./21. UTC events.
    let d = next_workday(day(5));
    let mut e = b.event(
        "Webinar: Mobile CRM in 10 minutes",
        utc(d, 14, 0),
        End::Duration(TimeDelta::minutes(45)),
    );
    e.url = Some("https://events.crmdav.example/webinar/mobile-crm".into());
    e.description = Some("Agenda: setup on iPhone, Android (DAVx⁵), Thunderbird; Q&A.".into());
    e.categories = vec!["Marketing".into(), "Webinar".into()];
    e.alarms = vec![remind("-PT10M")];
    b.push(e);

    let d = next_workday(day(-20));
    let mut e = b.event("Global all-hands", utc(d, 15, 0), End::At(utc(d, 16, 0)));
    e.categories = vec!["Internal".into()];
    e.status = Some("CONFIRMED");
    b.push(e);

    // 22. E-mail alarm.
    let d = next_workday(day(12));
    let zoe = p(1);
    let mut e = b.event(
        "Contract signing with Acme GmbH",
        ber(d, 11, 0),
        End::At(ber(d, 12, 0)),
    );
    e.location = Some(address(zoe));
    e.description = Some("Bring 2 signed copies; framework agreement, DPA, SLA (99,9 %).\nSigners: Zoë Ümlaut; Lena Hoffmann".into());
    e.categories = vec!["Customer".into(), "Closing".into()];
    e.attendees = vec![person(zoe, "ACCEPTED"), colleague(&TEAM[1], "NEEDS-ACTION")];
    e.alarms = vec![
        Alarm::Email {
            trigger: "-P1D",
            to_name: OWNER.name.into(),
            to_email: OWNER.email.into(),
            summary: "Tomorrow: contract signing with Acme GmbH".into(),
            body: "Print the contract (2 copies), check the DPA annex; bring the company stamp."
                .into(),
        },
        remind("-PT15M"),
    ];
    b.push(e);

    // 23. Alarm relative to the end.
    let bright = by_company(people, "Brightwater Ltd");
    let d = next_workday(day(4));
    let mut e = b.event(
        "Product demo for Brightwater Ltd",
        utc(d, 10, 0),
        End::At(utc(d, 11, 0)),
    );
    e.location = Some("Zoom: https://zoom.example/j/8419876543".into());
    e.categories = vec!["Prospect".into(), "Demo".into()];
    e.attendees = bright
        .iter()
        .take(2)
        .map(|x| person(x, "NEEDS-ACTION"))
        .collect();
    e.alarms = vec![
        remind("-PT15M"),
        Alarm::Display {
            trigger: "-PT5M",
            related_end: true,
            text: "5 minutes left: agree on next steps".into(),
        },
    ];
    b.push(e);

    // 24.–26. Unicode names.
    let d = next_workday(day(2));
    let mut e = b.event(
        "Lunch with Zoë Ümlaut",
        ber(d, 12, 30),
        End::At(ber(d, 13, 45)),
    );
    e.location = Some("Café Einstein, Unter den Linden 42, 10117 Berlin".into());
    e.categories = vec!["Customer".into(), "Lunch".into()];
    e.attendees = vec![person(zoe, "ACCEPTED")];
    e.alarms = vec![remind("-PT30M")];
    b.push(e);

    let d = next_workday(day(6));
    let li = p(2);
    let mut e = b.event(
        "Call with 李明 (Shanghai Xingchen Trading)",
        utc(d, 8, 0),
        End::At(utc(d, 8, 45)),
    );
    e.location = Some("WeChat video".into());
    e.description = Some(
        "16:00 in Shanghai (CST).\n议程: 价格, 交付; pricing, delivery, distributor terms.".into(),
    );
    e.categories = vec!["Partner".into(), "Call".into()];
    e.attendees = vec![person(li, "TENTATIVE")];
    e.alarms = vec![remind("-PT15M")];
    b.push(e);

    let d = next_workday(day(16));
    let anna = p(5);
    let mut e = b.event(
        "Visit Müller & Söhne KG",
        ber(d, 10, 0),
        End::At(ber(d, 12, 0)),
    );
    e.location = Some(address(anna));
    e.description =
        Some("Meet Dr. Anna Müller; topics: renewal, 40 → 65 seats, Outlook/iPhone sync.".into());
    e.categories = vec!["Customer".into(), "Visit".into()];
    e.attendees = vec![person(anna, "ACCEPTED")];
    e.alarms = vec![remind("-PT1H")];
    b.push(e);

    // 27./28. Cancelled and tentative.
    let d = next_workday(day(8));
    let rhein = by_company(people, "Rheinblick Versicherung AG");
    let mut e = b.event(
        "Demo for Rheinblick Versicherung AG",
        ber(d, 14, 0),
        End::At(ber(d, 15, 0)),
    );
    e.status = Some("CANCELLED");
    e.sequence = 1;
    e.description = Some("Cancelled by the customer: budget freeze until next year.".into());
    e.categories = vec!["Prospect".into(), "Demo".into()];
    e.attendees = rhein
        .iter()
        .take(1)
        .map(|x| person(x, "DECLINED"))
        .collect();
    b.push(e);

    let d = next_workday(day(22));
    let jose = p(3);
    let mut e = b.event(
        "Workshop with Café Olé S.L. (José Núñez)",
        ber(d, 9, 30),
        End::At(ber(d, 12, 30)),
    );
    e.status = Some("TENTATIVE");
    e.location = Some(address(jose));
    e.categories = vec!["Customer".into(), "Workshop".into()];
    e.attendees = vec![person(jose, "TENTATIVE")];
    b.push(e);

    let d = next_workday(day(26));
    let siobhan = p(4);
    let mut e = b.event(
        "Meeting with Siobhán O'Brien (Harbour & Finch LLP)",
        utc(d, 9, 0),
        End::At(utc(d, 10, 0)),
    );
    e.location = Some(address(siobhan));
    e.categories = vec!["Prospect".into()];
    e.attendees = vec![person(siobhan, "NEEDS-ACTION")];
    e.alarms = vec![remind("-PT15M")];
    b.push(e);
}

/// A kind of generated sales meeting.
struct Template {
    summary: &'static str,
    category: &'static str,
    minutes: &'static [i64],
    place: Place,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Phone,
    Video,
    OnSite,
    Restaurant,
    AllDay,
}

static TEMPLATES: &[Template] = &[
    Template {
        summary: "Call with {company}",
        category: "Call",
        minutes: &[15, 30, 30, 45],
        place: Place::Phone,
    },
    Template {
        summary: "Follow-up call: {contact}",
        category: "Call",
        minutes: &[15, 30],
        place: Place::Phone,
    },
    Template {
        summary: "Demo for {company}",
        category: "Demo",
        minutes: &[45, 60, 60, 90],
        place: Place::Video,
    },
    Template {
        summary: "Meeting with {contact} ({company})",
        category: "Meeting",
        minutes: &[30, 60],
        place: Place::OnSite,
    },
    Template {
        summary: "Quote review: {company}",
        category: "Meeting",
        minutes: &[30, 45],
        place: Place::Video,
    },
    Template {
        summary: "Onboarding session – {company}",
        category: "Onboarding",
        minutes: &[60, 90, 120],
        place: Place::Video,
    },
    Template {
        summary: "Contract negotiation – {company}",
        category: "Meeting",
        minutes: &[60, 90],
        place: Place::OnSite,
    },
    Template {
        summary: "QBR with {company}",
        category: "Review",
        minutes: &[60, 90],
        place: Place::OnSite,
    },
    Template {
        summary: "Lunch with {contact}",
        category: "Lunch",
        minutes: &[60, 75, 90],
        place: Place::Restaurant,
    },
    Template {
        summary: "Site visit at {company}",
        category: "Visit",
        minutes: &[120, 180],
        place: Place::OnSite,
    },
    Template {
        summary: "Offer for {company} expires",
        category: "Deadline",
        minutes: &[],
        place: Place::AllDay,
    },
    Template {
        summary: "Go-live at {company}",
        category: "Project",
        minutes: &[],
        place: Place::AllDay,
    },
];

static AGENDAS: &[&str] = &[
    "Agenda:\n1. Recap of last call; open questions\n2. Pricing: {plan}, {seats} seats, 24 months\n3. Next steps",
    "Goals: confirm budget, timeline and decision makers.\nBring: case study (logistics), ROI sheet; NDA signed? yes",
    "Topics: calendar sync on iOS, Android & Outlook; SSO (SAML, OIDC); data export.",
    "Discuss renewal; current plan {plan}, {seats} seats.\nUpsell: mobile add-on, premium support.",
    "Kick-off: project plan, milestones (M1 import; M2 training; M3 go-live).",
    "Prepare: last invoice, open tickets; feedback from the users (\"too many clicks\").",
];

static PLANS: &[&str] = &["Starter", "Team", "Business", "Enterprise"];
static RESTAURANTS: &[&str] = &[
    "Trattoria",
    "Brasserie",
    "Bistro",
    "Sushi bar",
    "Steakhouse",
    "Café",
];

fn generated_events(b: &mut Builder, today: NaiveDate, people: &[Person], count: usize) {
    let mut rng = StdRng::seed_from_u64(0x0CA1_E7D5);
    for _ in 0..count {
        let company = pick_company(&mut rng);
        let staff = by_company(people, company.name);
        let contact = match staff.as_slice() {
            [] => &people[0],
            s => *pick(&mut rng, s),
        };
        let t = pick(&mut rng, TEMPLATES);
        let summary = t
            .summary
            .replace("{company}", company.name)
            .replace("{contact}", &contact.full);

        let offset = rng.gen_range(-60..=120i64);
        let mut d = today + TimeDelta::days(offset);
        if matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            d = if offset > 117 {
                d - TimeDelta::days(2)
            } else {
                next_workday(d)
            };
        }

        let (start, end) = if t.place == Place::AllDay {
            (When::Date(d), End::At(When::Date(d + TimeDelta::days(1))))
        } else {
            let (hours, zone) = match company.zone {
                Some(Zone::Berlin) => (8..=17u32, Some(Zone::Berlin)),
                Some(Zone::NewYork) => (9..=12, Some(Zone::NewYork)),
                Some(Zone::Tokyo) => (15..=17, Some(Zone::Tokyo)),
                None => (7..=15, None),
            };
            let hours = if t.place == Place::Restaurant {
                12..=13
            } else {
                hours
            };
            let h = rng.gen_range(hours);
            let m = 15 * rng.gen_range(0..4u32);
            let start = match zone {
                Some(z) => When::Local(at(d, h, m), z),
                None => When::Utc(at(d, h, m)),
            };
            let minutes = *pick(&mut rng, t.minutes);
            let end = if rng.gen_ratio(3, 10) {
                End::Duration(TimeDelta::minutes(minutes))
            } else {
                End::At(start.plus(TimeDelta::minutes(minutes)))
            };
            (start, end)
        };

        let mut e = b.event(summary, start, end);
        e.location = match t.place {
            Place::Phone => Some(format!("Phone: {}", contact.work_tel)),
            Place::Video => Some(if rng.gen_bool(0.5) {
                "Microsoft Teams".to_string()
            } else {
                format!(
                    "Zoom: https://zoom.example/j/84{:08}",
                    rng.gen_range(0..100_000_000u32)
                )
            }),
            Place::OnSite => Some(address(contact)),
            Place::Restaurant => Some(format!("{}, {}", pick(&mut rng, RESTAURANTS), company.city)),
            Place::AllDay => None,
        };
        if t.place != Place::AllDay && rng.gen_ratio(2, 3) {
            let agenda = pick(&mut rng, AGENDAS)
                .replace("{plan}", pick::<&str>(&mut rng, PLANS))
                .replace("{seats}", &(5 * rng.gen_range(2..60u32)).to_string());
            e.description = Some(format!(
                "{agenda}\n\nContact: {} <{}>, {}",
                contact.full, contact.email, contact.cell
            ));
        }
        let relation = contact.categories.first().copied().unwrap_or("Customer");
        e.categories = vec![t.category.to_string(), relation.to_string()];
        e.class = if rng.gen_ratio(1, 10) {
            Some("PRIVATE")
        } else {
            None
        };

        let roll = rng.gen_range(0..100u32);
        e.status = Some(if roll < 80 {
            "CONFIRMED"
        } else if roll < 92 {
            "TENTATIVE"
        } else {
            "CANCELLED"
        });
        let past = offset < 0;
        let partstat = match (e.status, past) {
            (Some("CANCELLED"), _) => "DECLINED",
            (Some("TENTATIVE"), _) => "TENTATIVE",
            (_, true) => "ACCEPTED",
            _ => *pick(
                &mut rng,
                &["ACCEPTED", "ACCEPTED", "NEEDS-ACTION", "TENTATIVE"],
            ),
        };

        if t.place == Place::AllDay {
            e.transparent = true;
            e.organizer = None;
            e.alarms = vec![Alarm::Display {
                trigger: "-PT15H",
                related_end: false,
                text: e.summary.clone(),
            }];
        } else {
            e.attendees.push(person(contact, partstat));
            if staff.len() > 1 && rng.gen_ratio(1, 3) {
                let other = *pick(&mut rng, &staff);
                if other.n != contact.n {
                    e.attendees.push(person(other, "NEEDS-ACTION"));
                }
            }
            if rng.gen_ratio(1, 4) {
                e.attendees
                    .push(colleague(pick(&mut rng, TEAM), "ACCEPTED"));
            }
            if e.status != Some("CANCELLED") {
                if rng.gen_ratio(3, 5) {
                    e.alarms.push(remind("-PT15M"));
                }
                if rng.gen_ratio(1, 10) {
                    e.alarms.push(Alarm::Display {
                        trigger: "-PT5M",
                        related_end: true,
                        text: "Wrap up: next steps?".into(),
                    });
                }
            } else {
                e.sequence = 1;
            }
            if t.place == Place::Restaurant && rng.gen_ratio(1, 2) {
                e.transparent = true;
            }
        }
        b.push(e);
    }
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
