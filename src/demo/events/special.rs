//! The hand-made demo events: the awkward cases every client must show right (series with
//! overridden instances and exceptions, all-day and multi-day events, flights across time
//! zones, alarms of every kind).

use super::*;
use crate::demo::data::Person;
use crate::demo::ical::{at, fmt_date, Alarm, End, When};
use crate::demo::tz::Zone;
use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};

pub(super) fn special_events(b: &mut Builder, today: NaiveDate, people: &[Person]) {
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
