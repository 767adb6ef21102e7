use std::collections::{BTreeMap, BTreeSet, HashSet};

use calcard::common::timezone::Tz;
use calcard::icalendar::{ICalendar, ICalendarComponentType, ICalendarProperty};
use calcard::vcard::{VCard, VCardProperty, VCardValue, VCardVersion};
use chrono::{Datelike, NaiveDate, NaiveDateTime, Offset, TimeDelta, TimeZone, Weekday};

use super::data::directory;
use super::*;

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 14).unwrap()
}

/// Days chosen to hit DST changes and year ends inside the window.
fn days() -> Vec<NaiveDate> {
    [(2025, 3, 14), (2024, 12, 30), (2025, 10, 1), (2028, 2, 29)]
        .iter()
        .map(|&(y, m, d)| NaiveDate::from_ymd_opt(y, m, d).unwrap())
        .collect()
}

/// Logical content lines (unfolded).
fn logical(body: &str) -> Vec<String> {
    body.replace("\r\n ", "")
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn count_with(items: &[DemoItem], needle: &str) -> usize {
    items
        .iter()
        .filter(|i| logical(&i.body).iter().any(|l| l.contains(needle)))
        .count()
}

#[test]
fn counts() {
    for d in days() {
        assert!(calendar_events(d).len() >= 220);
        assert!(tasks(d).len() >= 30);
    }
    assert!(contacts().len() >= 220);
}

#[test]
fn deterministic() {
    let d = today();
    assert_eq!(calendar_events(d), calendar_events(d));
    assert_eq!(tasks(d), tasks(d));
    assert_eq!(contacts(), contacts());
    assert_ne!(calendar_events(d), calendar_events(d + TimeDelta::days(1)));
}

#[test]
fn uids_unique_and_names_match() {
    let d = today();
    for (items, prefix, ext) in [
        (calendar_events(d), "demo-evt-", ".ics"),
        (tasks(d), "demo-task-", ".ics"),
        (contacts(), "demo-card-", ".vcf"),
    ] {
        let mut seen = HashSet::new();
        for item in &items {
            assert!(
                item.name.starts_with(prefix) && item.name.ends_with(ext),
                "{}",
                item.name
            );
            let uid = item.name.trim_end_matches(ext);
            assert!(
                uid.ends_with("@crmdav") && uid.len() == prefix.len() + 4 + "@crmdav".len(),
                "{uid}"
            );
            assert!(seen.insert(uid.to_string()), "duplicate {uid}");
            assert!(item.body.contains(&format!("\r\nUID:{uid}\r\n")), "{uid}");
        }
    }
}

#[test]
fn line_format() {
    for d in days() {
        let all = [calendar_events(d), tasks(d), contacts()].concat();
        for item in &all {
            assert!(item.body.ends_with("\r\n"), "{}", item.name);
            for line in item.body.split_terminator("\r\n") {
                assert!(
                    line.len() <= 75,
                    "{}: {} octets: {line}",
                    item.name,
                    line.len()
                );
                assert!(
                    !line.contains('\n') && !line.contains('\r'),
                    "{}: bare line break",
                    item.name
                );
                assert!(!line.is_empty(), "{}: empty line", item.name);
            }
        }
    }
}

#[test]
fn calendars_parse() {
    for d in days() {
        for (items, kind) in [
            (calendar_events(d), ICalendarComponentType::VEvent),
            (tasks(d), ICalendarComponentType::VTodo),
        ] {
            for item in &items {
                let ical =
                    ICalendar::parse(&item.body).unwrap_or_else(|e| panic!("{}: {e:?}", item.name));
                let root = &ical.components[0];
                assert_eq!(root.component_type, ICalendarComponentType::VCalendar);
                let uids: BTreeSet<&str> = ical.uids().collect();
                assert_eq!(uids.len(), 1, "{}: {uids:?}", item.name);
                assert_eq!(format!("{}.ics", uids.iter().next().unwrap()), item.name);
                let mains: Vec<_> = ical
                    .components
                    .iter()
                    .filter(|c| c.component_type == kind)
                    .collect();
                assert!(!mains.is_empty(), "{}", item.name);
                // Exactly one master; the others are overrides.
                let masters = mains
                    .iter()
                    .filter(|c| !c.has_property(&ICalendarProperty::RecurrenceId))
                    .count();
                assert_eq!(masters, 1, "{}", item.name);
                for c in &mains {
                    assert_eq!(
                        c.properties(&ICalendarProperty::Uid).count(),
                        1,
                        "{}",
                        item.name
                    );
                    assert!(c.has_property(&ICalendarProperty::Dtstamp), "{}", item.name);
                    assert!(c.has_property(&ICalendarProperty::Summary), "{}", item.name);
                }
                let text = logical(&item.body);
                assert!(text.contains(&"PRODID:-//crmdav//demo//EN".to_string()));
                assert!(text.contains(&"VERSION:2.0".to_string()));
                // Each TZID referenced has its VTIMEZONE, and no VTIMEZONE is unused.
                let used: BTreeSet<String> = text
                    .iter()
                    .filter(|l| !l.starts_with("TZID:"))
                    .filter_map(|l| {
                        l.split_once(";TZID=")
                            .map(|(_, r)| r.split([':', ';']).next().unwrap().to_string())
                    })
                    .collect();
                let defined: BTreeSet<String> = text
                    .iter()
                    .filter_map(|l| l.strip_prefix("TZID:").map(str::to_string))
                    .collect();
                assert_eq!(used, defined, "{}", item.name);
                if kind == ICalendarComponentType::VEvent {
                    let expand = ical.expand_dates(Tz::from(chrono_tz::UTC), 50);
                    assert!(
                        expand.errors.is_empty(),
                        "{}: {:?}",
                        item.name,
                        expand.errors
                    );
                    assert!(!expand.events.is_empty(), "{}", item.name);
                }
            }
        }
    }
}

#[test]
fn contacts_parse() {
    let people = directory();
    let items = contacts();
    assert_eq!(people.len(), items.len());
    let (mut v3, mut v4) = (0, 0);
    for (item, person) in items.iter().zip(&people) {
        let card = VCard::parse(&item.body).unwrap_or_else(|e| panic!("{}: {e:?}", item.name));
        assert_eq!(
            card.properties(&VCardProperty::Uid).count(),
            1,
            "{}",
            item.name
        );
        assert_eq!(format!("{}.vcf", card.uid().unwrap()), item.name);
        match card.version() {
            Some(VCardVersion::V3_0) => v3 += 1,
            Some(VCardVersion::V4_0) => v4 += 1,
            other => panic!("{}: version {other:?}", item.name),
        }
        // Escaping round-trips: the parsed text equals what was meant.
        let text = |p: &VCardProperty| {
            card.property(p)
                .and_then(|e| e.values.first())
                .and_then(|v| v.as_text())
                .map(str::to_string)
        };
        assert_eq!(
            text(&VCardProperty::Fn).as_deref(),
            Some(person.full.as_str()),
            "{}",
            item.name
        );
        assert_eq!(text(&VCardProperty::Note), person.note, "{}", item.name);
        let n = card.property(&VCardProperty::N).unwrap();
        assert_eq!(
            n.values.first().and_then(|v| v.as_text()),
            Some(person.family.as_str()),
            "{}",
            item.name
        );
        let org = card.property(&VCardProperty::Org).unwrap();
        assert_eq!(
            org.values.first().and_then(|v| v.as_text()),
            Some(person.company.name),
            "{}",
            item.name
        );
        assert!(card.property(&VCardProperty::Email).is_some());
        assert!(card.property(&VCardProperty::Tel).is_some());
        assert!(card.property(&VCardProperty::Adr).is_some());
        if let Some(photo) = card.property(&VCardProperty::Photo) {
            let Some(VCardValue::Binary(data)) = photo.values.first() else {
                panic!("{}: PHOTO {photo:?}", item.name)
            };
            let bytes = &data.data;
            let jpeg = bytes.starts_with(&[0xFF, 0xD8, 0xFF]) && bytes.ends_with(&[0xFF, 0xD9]);
            let png = bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.ends_with(b"IEND\xaeB`\x82");
            assert!(jpeg || png, "{}: PHOTO is neither JPEG nor PNG", item.name);
        }
    }
    assert!(
        v3 * 100 / items.len() >= 55 && v3 * 100 / items.len() <= 65,
        "v3 {v3} v4 {v4}"
    );
}

#[test]
fn required_features_present() {
    let d = today();
    let ev = calendar_events(d);
    let at_least = |items: &[DemoItem], needle: &str, n: usize| {
        let c = count_with(items, needle);
        assert!(c >= n, "{needle}: {c} < {n}");
    };
    at_least(&ev, "RRULE:FREQ=WEEKLY;", 5);
    at_least(&ev, "RRULE:FREQ=WEEKLY;BYDAY=", 4);
    at_least(&ev, "RRULE:FREQ=DAILY", 1);
    at_least(&ev, "RRULE:FREQ=MONTHLY;BYDAY=1MO", 1);
    at_least(&ev, "RRULE:FREQ=MONTHLY;BYMONTHDAY=", 1);
    at_least(&ev, ";COUNT=", 2);
    at_least(&ev, ";UNTIL=", 2);
    at_least(&ev, "RECURRENCE-ID", 5);
    at_least(&ev, "EXDATE", 5);
    // Several series have both an override and an exception.
    let both = ev
        .iter()
        .filter(|i| i.body.contains("RECURRENCE-ID") && i.body.contains("EXDATE"))
        .count();
    assert!(both >= 4, "{both}");
    // Infinite weekly series (no COUNT, no UNTIL).
    assert!(ev.iter().any(|i| logical(&i.body)
        .iter()
        .any(|l| l.starts_with("RRULE:FREQ=WEEKLY")
            && !l.contains("COUNT")
            && !l.contains("UNTIL"))));
    at_least(&ev, "DTSTART;VALUE=DATE:", 10);
    for tzid in ["Europe/Berlin", "America/New_York", "Asia/Tokyo"] {
        at_least(&ev, &format!("DTSTART;TZID={tzid}:"), 3);
        at_least(&ev, &format!("TZID:{tzid}"), 3);
    }
    assert!(ev.iter().any(|i| logical(&i.body)
        .iter()
        .any(|l| l.starts_with("DTSTART:") && l.ends_with('Z'))));
    at_least(&ev, "BEGIN:VALARM", 100);
    at_least(&ev, "TRIGGER:-PT15M", 50);
    at_least(&ev, "TRIGGER;RELATED=END:", 2);
    at_least(&ev, "ACTION:EMAIL", 1);
    at_least(&ev, "STATUS:TENTATIVE", 5);
    at_least(&ev, "STATUS:CANCELLED", 3);
    at_least(&ev, "TRANSP:TRANSPARENT", 5);
    at_least(&ev, "DURATION:PT", 20);
    at_least(&ev, "ORGANIZER;CN=", 100);
    at_least(&ev, "PARTSTAT=ACCEPTED", 50);
    at_least(&ev, "PARTSTAT=NEEDS-ACTION", 10);
    for name in ["Zoë", "李明", "Müller"] {
        at_least(&ev, name, 1);
    }
    // Escaped commas/semicolons in descriptions and locations.
    at_least(&ev, "DESCRIPTION:", 100);
    assert!(ev
        .iter()
        .any(|i| i.body.contains("\\,") && i.body.contains("\\;") && i.body.contains("\\n")));

    let t = tasks(d);
    at_least(&t, "DUE", 20);
    at_least(&t, "STATUS:COMPLETED", 5);
    at_least(&t, "PERCENT-COMPLETE:100", 5);
    at_least(&t, "COMPLETED:", 5);
    at_least(&t, "PRIORITY:", 30);
    at_least(&t, "RELATED-TO;RELTYPE=PARENT:demo-task-0001@crmdav", 3);
    assert_eq!(count_with(&t, "RRULE:FREQ=WEEKLY"), 1);
    assert!(t
        .iter()
        .any(|i| i.body.contains("DTSTART") && i.body.contains("DUE")));
    assert!(t
        .iter()
        .any(|i| !i.body.contains("DTSTART") && !i.body.contains("DUE")));
    for i in &t {
        if i.body.contains("STATUS:COMPLETED") {
            assert!(
                i.body.contains("PERCENT-COMPLETE:100") && i.body.contains("\r\nCOMPLETED:"),
                "{}",
                i.name
            );
        }
    }

    let c = contacts();
    at_least(&c, "VERSION:3.0", 130);
    at_least(&c, "VERSION:4.0", 80);
    at_least(&c, "PHOTO;ENCODING=b;TYPE=JPEG:", 1);
    at_least(&c, "PHOTO:data:image/png;base64,", 1);
    at_least(&c, "item1.TEL", 5);
    at_least(&c, "item1.X-ABLabel:_$!<Mobile>!$_", 5);
    at_least(&c, "item2.EMAIL", 3);
    at_least(&c, "item2.X-ABLabel:Assistant", 3);
    for needle in [
        "EMAIL;TYPE=INTERNET;TYPE=WORK",
        "EMAIL;TYPE=INTERNET;TYPE=HOME",
        "EMAIL;TYPE=work",
        "EMAIL;TYPE=home",
        "TEL;TYPE=CELL:",
        "TEL;TYPE=WORK;TYPE=VOICE:",
        "TEL;VALUE=uri;TYPE=cell:tel:",
        "ADR;TYPE=WORK:",
        "ADR;TYPE=work:",
        "BDAY:",
        "BDAY:--",
        "URL",
        "CATEGORIES:",
        "NOTE:",
        "TITLE:",
        "ORG:",
    ] {
        at_least(&c, needle, 1);
    }
    for name in [
        "FN:Zoë Ümlaut",
        "FN:李明",
        "FN:José Núñez",
        "FN:Siobhán O'Brien",
        "N:李;明;;;",
    ] {
        at_least(&c, name, 1);
    }
    // A NOTE with an escaped comma, semicolon and backslash, on several lines.
    assert!(c
        .iter()
        .any(|i| logical(&i.body).iter().any(|l| l.starts_with("NOTE:")
            && l.contains("\\,")
            && l.contains("\\;")
            && l.contains("\\\\")
            && l.contains("\\n"))));
}

fn parse_dt(value: &str) -> NaiveDateTime {
    let v = value.trim_end_matches('Z');
    if v.len() == 8 {
        NaiveDate::parse_from_str(v, "%Y%m%d")
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap()
    } else {
        NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S").unwrap()
    }
}

#[test]
fn dates_stay_in_window() {
    for d in days() {
        let (lo, hi) = (d - TimeDelta::days(60), d + TimeDelta::days(120));
        for item in calendar_events(d).iter().chain(&tasks(d)) {
            let text = logical(&item.body);
            let mut in_vtimezone = false;
            for l in &text {
                match l.as_str() {
                    "BEGIN:VTIMEZONE" => in_vtimezone = true,
                    "END:VTIMEZONE" => in_vtimezone = false,
                    _ => {}
                }
                if in_vtimezone {
                    continue;
                }
                let Some((name, value)) = l.split_once(':') else {
                    continue;
                };
                let prop = name.split(';').next().unwrap();
                if ["DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "EXDATE"].contains(&prop) {
                    let day = parse_dt(value).date();
                    assert!(
                        day >= lo && day <= hi + TimeDelta::days(3),
                        "{} {l} outside window of {d}",
                        item.name
                    );
                }
                if prop == "RRULE" {
                    if let Some(until) = value.split(';').find_map(|p| p.strip_prefix("UNTIL=")) {
                        let day = parse_dt(until).date();
                        assert!(day >= lo && day <= hi, "{} {l}", item.name);
                    }
                }
            }
        }
    }
}

/// Instants (UTC seconds) of the master's occurrences, with overrides and EXDATEs removed.
fn occurrences(body: &str) -> BTreeSet<i64> {
    let ical = ICalendar::parse(body).unwrap();
    ical.expand_dates(Tz::from(chrono_tz::UTC), 1000)
        .events
        .iter()
        .map(|e| e.start.timestamp())
        .collect()
}

fn value_instant(line: &str) -> i64 {
    let (name, value) = line.split_once(':').unwrap();
    let dt = parse_dt(value);
    match name.split_once(";TZID=") {
        Some((_, tzid)) => {
            let tz: chrono_tz::Tz = tzid.parse().unwrap();
            tz.from_local_datetime(&dt).single().unwrap().timestamp()
        }
        None => dt.and_utc().timestamp(),
    }
}

#[test]
fn overrides_and_exceptions_hit_real_occurrences() {
    for d in days() {
        let mut checked = 0;
        for item in calendar_events(d)
            .iter()
            .filter(|i| i.body.contains("RECURRENCE-ID") || i.body.contains("EXDATE"))
        {
            let text = logical(&item.body);
            // The bare master: drop overriding VEVENTs and EXDATE lines.
            let mut bare = Vec::new();
            let mut vevents = 0;
            let mut skip = false;
            for l in &text {
                if l == "BEGIN:VEVENT" {
                    vevents += 1;
                    skip = vevents > 1;
                }
                if !skip && !l.starts_with("EXDATE") {
                    bare.push(l.clone());
                }
                if l == "END:VEVENT" {
                    skip = false;
                }
            }
            let all = occurrences(&(bare.join("\r\n") + "\r\n"));
            let with_exceptions = occurrences(&item.body);
            for l in &text {
                if l.starts_with("RECURRENCE-ID") || l.starts_with("EXDATE") {
                    let t = value_instant(l);
                    assert!(all.contains(&t), "{}: {l} is not an occurrence", item.name);
                    assert!(
                        !with_exceptions.contains(&t),
                        "{}: {l} still occurs",
                        item.name
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked >= 10, "{checked}");
    }
}

/// Evaluates the VTIMEZONE observances the generator writes (yearly `BYMONTH` + `BYDAY=nSU`)
/// and compares every transition in 2020–2040 with the IANA data in chrono-tz.
#[test]
fn vtimezones_match_iana_rules() {
    let offset = |s: &str| {
        let sign = if s.starts_with('-') { -1 } else { 1 };
        sign * (s[1..3].parse::<i32>().unwrap() * 3600 + s[3..5].parse::<i32>().unwrap() * 60)
    };
    for zone in super::tz::Zone::ALL {
        let mut l = super::text::Lines::new();
        zone.write_vtimezone(&mut l);
        let body = l.finish();
        let tz: chrono_tz::Tz = zone.tzid().parse().unwrap();
        let mut obs: Vec<BTreeMap<String, String>> = Vec::new();
        for line in logical(&body) {
            if line == "BEGIN:STANDARD" || line == "BEGIN:DAYLIGHT" {
                obs.push(BTreeMap::new());
            } else if let (Some(o), Some((k, v))) = (obs.last_mut(), line.split_once(':')) {
                o.insert(k.to_string(), v.to_string());
            }
        }
        let mut transitions = 0;
        for o in &obs {
            let (from, to) = (offset(&o["TZOFFSETFROM"]), offset(&o["TZOFFSETTO"]));
            let start = parse_dt(&o["DTSTART"]);
            let Some(rule) = o.get("RRULE") else {
                // No rule: a fixed offset, which must hold all year round.
                assert_eq!(from, to);
                for day in 0..365 * 20 {
                    let t = NaiveDate::from_ymd_opt(2020, 1, 1).unwrap() + TimeDelta::days(day);
                    let off = tz
                        .offset_from_utc_datetime(&t.and_hms_opt(12, 0, 0).unwrap())
                        .fix()
                        .local_minus_utc();
                    assert_eq!(off, to, "{} on {t}", zone.tzid());
                }
                continue;
            };
            let parts: BTreeMap<&str, &str> =
                rule.split(';').filter_map(|p| p.split_once('=')).collect();
            assert_eq!(parts["FREQ"], "YEARLY");
            let month: u32 = parts["BYMONTH"].parse().unwrap();
            let byday = parts["BYDAY"];
            assert!(byday.ends_with("SU"));
            let nth: i32 = byday.trim_end_matches("SU").parse().unwrap();
            for year in 2020..=2040 {
                let sundays: Vec<NaiveDate> = (1..=31)
                    .filter_map(|dd| NaiveDate::from_ymd_opt(year, month, dd))
                    .filter(|x| x.weekday() == Weekday::Sun)
                    .collect();
                let day = if nth > 0 {
                    sundays[(nth - 1) as usize]
                } else {
                    sundays[sundays.len() - (-nth) as usize]
                };
                let utc = day.and_time(start.time()) - TimeDelta::seconds(from as i64);
                let before = tz
                    .offset_from_utc_datetime(&(utc - TimeDelta::seconds(1)))
                    .fix()
                    .local_minus_utc();
                let after = tz.offset_from_utc_datetime(&utc).fix().local_minus_utc();
                assert_eq!((before, after), (from, to), "{} {year}", zone.tzid());
                transitions += 1;
            }
        }
        if zone != super::tz::Zone::Tokyo {
            assert_eq!(transitions, 42);
        }
    }
}

#[test]
fn event_text_round_trips() {
    let ev = calendar_events(today());
    let first = ICalendar::parse(&ev[0].body).unwrap();
    let vevent = first
        .components
        .iter()
        .find(|c| c.component_type == ICalendarComponentType::VEvent)
        .unwrap();
    let desc = vevent
        .property(&ICalendarProperty::Description)
        .unwrap()
        .values[0]
        .as_text()
        .unwrap();
    assert!(
        desc.starts_with("Pipeline by stage; deals > 50k EUR, slipped deals, next steps.\nPlease"),
        "{desc}"
    );
    let monthly = ev.iter().find(|i| i.body.contains("BYDAY=1MO")).unwrap();
    let cal = ICalendar::parse(&monthly.body).unwrap();
    let vevent = cal
        .components
        .iter()
        .find(|c| c.component_type == ICalendarComponentType::VEvent)
        .unwrap();
    let desc = vevent
        .property(&ICalendarProperty::Description)
        .unwrap()
        .values[0]
        .as_text()
        .unwrap();
    assert!(
        desc.ends_with("Slides: \\\\fileserver\\sales\\reviews"),
        "{desc}"
    );
}

#[test]
fn no_unwrap_outside_tests() {
    for (name, src) in [
        ("mod.rs", include_str!("mod.rs")),
        ("data.rs", include_str!("data.rs")),
        ("events/mod.rs", include_str!("events/mod.rs")),
        ("events/special.rs", include_str!("events/special.rs")),
        ("events/generated.rs", include_str!("events/generated.rs")),
        ("tasks.rs", include_str!("tasks.rs")),
        ("contacts.rs", include_str!("contacts.rs")),
        ("ical.rs", include_str!("ical.rs")),
        ("tz.rs", include_str!("tz.rs")),
        (
            "text.rs",
            include_str!("text.rs")
                .split("#[cfg(test)]")
                .next()
                .unwrap(),
        ),
    ] {
        assert!(
            !src.contains(".unwrap()") && !src.contains(".expect("),
            "{name}"
        );
    }
}
