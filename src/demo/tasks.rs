//! The demo task list (VTODO): a parent task with sub-tasks, a recurring task, tasks with
//! and without dates, completed and cancelled ones.

use chrono::{NaiveDate, TimeDelta, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::data::{directory, pick, Person};
use super::events::{next_weekday, next_workday, stamp};
use super::ical::{at, calendar, Alarm, Component, End, When};
use super::tz::Zone;
use super::DemoItem;
use crate::vocab::ComponentKind;

/// Number of VCALENDAR objects produced by [`tasks`].
pub(crate) const TASK_COUNT: usize = 36;

pub(crate) fn task_uid(n: usize) -> String {
    format!("demo-task-{n:04}@crmdav")
}

static TEMPLATES: &[(&str, &str)] = &[
    ("Send follow-up e-mail to {contact}", "Follow-up"),
    ("Prepare proposal for {company}", "Proposal"),
    ("Call back {contact} ({company})", "Call"),
    ("Update contact details: {contact}", "CRM hygiene"),
    ("Check invoice status for {company}", "Billing"),
    ("Send case study to {contact}", "Follow-up"),
    ("Book demo environment for {company}", "Demo"),
    ("Ask {contact} for a reference quote", "Marketing"),
];

pub(crate) fn tasks(today: NaiveDate) -> Vec<DemoItem> {
    let people = directory();
    let mut list: Vec<Component> = Vec::new();
    let day = |n: i64| today + TimeDelta::days(n);
    let ber = |d: NaiveDate, h: u32, m: u32| When::Local(at(d, h, m), Zone::Berlin);
    let new = |list: &Vec<Component>, summary: &str| {
        let mut t = Component::new(ComponentKind::Vtodo, task_uid(list.len() + 1), summary);
        t.organizer = None;
        t.status = Some("NEEDS-ACTION");
        t.class = Some("PUBLIC");
        t
    };

    // 1. Parent task, 2.–4. its sub-tasks.
    let mut t = new(&list, "Close Q3 deal with Acme GmbH");
    let parent = t.uid.clone();
    t.start = Some(When::Date(day(-14)));
    t.end = End::At(When::Date(day(30)));
    t.priority = Some(1);
    t.status = Some("IN-PROCESS");
    t.percent = Some(40);
    t.description = Some("Deal value 84,000 EUR; 120 seats; 3 years.\nBlockers: legal review (DPA), IT security questionnaire.".into());
    t.categories = vec!["Deal".into(), "Key Account".into()];
    list.push(t);

    let subtasks: [(&str, i64, Option<&str>); 3] = [
        ("Send revised quote to Acme GmbH", -3, Some("done")),
        ("Get legal approval for the Acme contract", 10, None),
        ("Schedule the signing meeting with Zoë Ümlaut", 12, None),
    ];
    for (summary, due, done) in subtasks {
        let mut t = new(&list, summary);
        t.related_to = Some(parent.clone());
        t.end = End::At(ber(day(due), 17, 0));
        t.priority = Some(2);
        t.categories = vec!["Deal".into()];
        if done.is_some() {
            t.status = Some("COMPLETED");
            t.percent = Some(100);
            t.completed = Some(at(day(-4), 15, 12));
        }
        list.push(t);
    }

    // 5. Recurring task: every Friday, DTSTART and DUE.
    let fri = next_weekday(day(-60), Weekday::Fri);
    let mut t = new(&list, "Update pipeline forecast in the CRM");
    t.start = Some(ber(fri, 9, 0));
    t.end = End::At(ber(fri, 16, 0));
    t.rrule = Some("FREQ=WEEKLY;BYDAY=FR".into());
    t.priority = Some(5);
    t.categories = vec!["Forecast".into(), "Routine".into()];
    t.alarms = vec![Alarm::Display {
        trigger: "-PT1H",
        related_end: true,
        text: "Forecast due in 1 hour".into(),
    }];
    list.push(t);

    // 6./7. No dates at all.
    let mut t = new(&list, "Read the competitor analysis (Q2)");
    t.priority = Some(9);
    t.description =
        Some("Shared drive: \\\\fs01\\sales\\competitors; compare pricing, features, SLAs.".into());
    list.push(t);
    let mut t = new(&list, "Clean up duplicate contacts");
    t.priority = Some(0);
    t.categories = vec!["CRM hygiene".into()];
    list.push(t);

    // 8. Cancelled.
    let mut t = new(&list, "Prepare demo for Rheinblick Versicherung AG");
    t.end = End::At(When::Date(day(7)));
    t.status = Some("CANCELLED");
    t.categories = vec!["Demo".into()];
    list.push(t);

    // 9.–10. Unicode and a start+due pair with a due-time alarm.
    let mut t = new(&list, "Send WeChat summary to 李明");
    t.start = Some(ber(next_workday(day(6)), 10, 0));
    t.end = End::At(ber(next_workday(day(6)), 12, 0));
    t.priority = Some(3);
    t.alarms = vec![Alarm::Display {
        trigger: "-PT30M",
        related_end: true,
        text: "Due in 30 minutes".into(),
    }];
    list.push(t);
    let mut t = new(&list, "Birthday card for José Núñez");
    t.end = End::At(When::Date(day(25)));
    t.priority = Some(6);
    t.class = Some("PRIVATE");
    list.push(t);

    // The rest: generated follow-ups.
    let mut rng = StdRng::seed_from_u64(0x7A5C_0D0E);
    while list.len() < TASK_COUNT {
        let p: &Person = pick(&mut rng, &people[8..]);
        let (template, category) = *pick(&mut rng, TEMPLATES);
        let summary = template
            .replace("{contact}", &p.full)
            .replace("{company}", p.company.name);
        let mut t = new(&list, &summary);
        t.categories = vec![category.to_string()];
        t.priority = Some(*pick(&mut rng, &[1u8, 3, 5, 5, 5, 7, 9]));
        let offset = rng.gen_range(-50..=60i64);
        let due = next_workday(day(offset));
        match rng.gen_range(0..4u32) {
            0 => t.end = End::At(When::Date(due)),
            1 => t.end = End::At(ber(due, rng.gen_range(9..18), 0)),
            2 => {
                t.start = Some(When::Date(due - TimeDelta::days(rng.gen_range(1..8))));
                t.end = End::At(When::Date(due));
            }
            _ => {}
        }
        t.description = Some(format!("{} – {}, {}", p.full, p.title, p.company.name));
        if offset < -7 || rng.gen_ratio(1, 8) {
            t.status = Some("COMPLETED");
            t.percent = Some(100);
            t.completed = Some(at(
                day(offset.min(-1)),
                rng.gen_range(8..18),
                rng.gen_range(0..60),
            ));
        } else if rng.gen_ratio(1, 4) {
            t.status = Some("IN-PROCESS");
            t.percent = Some(*pick(&mut rng, &[10u8, 25, 50, 75]));
        }
        list.push(t);
    }

    let stamp = stamp(today);
    list.into_iter()
        .map(|t| DemoItem {
            name: format!("{}.ics", t.uid),
            body: calendar(&[t], stamp),
        })
        .collect()
}
