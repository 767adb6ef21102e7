//! The one-off reader against the component tree: same match, same bytes, over generated
//! bodies in every form it accepts, and the tree for every form it does not.

use super::*;
use crate::caldav::caldata::tree_calendar_data;
use crate::caldav::filter::matches_tree;
use crate::caldav::{
    matches, parse_calendar_data, parse_filter, query_candidate, render_calendar_data,
    render_calendar_data_xml, Candidate, CompFilter,
};
use crate::xml::{parse as parse_xml, Limits};

const BERLIN: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";
const NEW_YORK: &str = "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nDTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";
/// A zone the table does not know, defined but not used by the events below.
const CUSTOM: &str = "BEGIN:VTIMEZONE\r\nTZID:Custom/Office\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0300\r\nTZOFFSETTO:+0300\r\nDTSTART:19700101T000000\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

fn xml(s: &str) -> crate::xml::Element {
    parse_xml(s.as_bytes(), Limits::default()).expect("xml")
}

/// The bench's query shape over `[start, end)`: the filter and the expand.
fn query(start: &str, end: &str) -> (CompFilter, super::super::CalendarDataRequest) {
    let filter = parse_filter(&xml(&format!(
        r#"<C:filter xmlns:C="urn:ietf:params:xml:ns:caldav"><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter></C:filter>"#
    )))
    .expect("filter");
    let data = parse_calendar_data(&xml(&format!(
        r#"<C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav"><C:expand start="{start}" end="{end}"/></C:calendar-data>"#
    )))
    .expect("calendar-data");
    (filter, data)
}

/// (DTSTART line, DTEND line or "") pairs: UTC, floating, two zones, the UTC zone by name,
/// all-day, a zero-length and an inverted event, a VALUE=DATE-TIME parameter.
const TIMES: &[(&str, &str)] = &[
    ("DTSTART:20260310T090000Z", "DTEND:20260310T100000Z"),
    ("DTSTART:20260310T090000Z", ""),
    ("DTSTART:20260331T233000Z", "DTEND:20260401T003000Z"),
    ("DTSTART:20260228T230000Z", "DTEND:20260301T000000Z"),
    ("DTSTART:20260401T000000Z", "DTEND:20260401T010000Z"),
    ("DTSTART:20260310T090000", "DTEND:20260310T093000"),
    (
        "DTSTART;TZID=Europe/Berlin:20260329T010000",
        "DTEND;TZID=Europe/Berlin:20260329T040000",
    ),
    (
        "DTSTART;TZID=Europe/Berlin:20260301T003000",
        "DTEND;TZID=America/New_York:20260228T190000",
    ),
    ("DTSTART;TZID=America/New_York:20260308T023000", ""),
    (
        "DTSTART;TZID=UTC:20260315T120000",
        "DTEND;TZID=UTC:20260315T120000",
    ),
    ("DTSTART;VALUE=DATE:20260310", "DTEND;VALUE=DATE:20260312"),
    ("DTSTART;VALUE=DATE:20260331", ""),
    ("DTSTART;VALUE=DATE:20260228", "DTEND;VALUE=DATE:20260301"),
    ("DTSTART:20260320", "DTEND:20260321"),
    (
        "DTSTART;VALUE=DATE-TIME:20260320T080000Z",
        "DTEND:20260320T070000Z",
    ),
];

/// Property orders: where DTSTART and DTEND stand among the others (the tree inserts the
/// UTC times at DTSTART's index counted among the kept properties).
const ORDERS: &[&[&str]] = &[
    &["UID", "S", "E", "SUMMARY", "LOCATION"],
    &["S", "E", "UID"],
    &["UID", "E", "S", "SUMMARY"],
    &["E", "UID", "SUMMARY", "S"],
    &["UID", "SUMMARY", "DESCRIPTION", "S"],
    &["E", "S"],
];

fn property(name: &str, i: usize) -> String {
    match name {
        "UID" => format!("UID:oneoff-{i}\r\n"),
        "SUMMARY" => format!(
            "SUMMARY:Review & plan <team> #{i} with a summary long enough to be folded at seve\r\n nty-five octets\r\n"
        ),
        "LOCATION" => "location:Room 4\\, \"B\"\r\nATTENDEE;CN=\"Okafor, Ada\";ROLE=REQ-PARTICIPANT:mailto:ada@example.com\r\n".into(),
        "DESCRIPTION" => "DESCRIPTION:Line one\\nline two\r\nX-CUSTOM;X-P=1:é ü\r\n".into(),
        other => panic!("{other}"),
    }
}

/// What calendar-query's one pass makes of a candidate: `Some(calendar-data)` for a match.
fn candidate(
    filter: &CompFilter,
    data: &super::super::CalendarDataRequest,
    body: &str,
) -> Option<String> {
    match query_candidate(filter, Some(data), body, 100) {
        Candidate::Unmatched => None,
        Candidate::Matched { calendar_data } => Some(calendar_data.expect("rendered")),
    }
}

/// Every combination of zones, times, property orders and an alarm, as stored bodies.
fn bodies() -> Vec<String> {
    let mut out = Vec::new();
    let zone_sets = ["", BERLIN, &format!("{NEW_YORK}{BERLIN}"), CUSTOM];
    let mut i = 0;
    for zones in zone_sets {
        for (start, end) in TIMES {
            for order in ORDERS {
                i += 1;
                let mut b = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n");
                if i % 3 == 0 {
                    b.push_str("CALSCALE:GREGORIAN\r\n");
                }
                b.push_str(zones);
                b.push_str("BEGIN:VEVENT\r\n");
                for p in order.iter() {
                    match *p {
                        "S" => {
                            b.push_str(start);
                            b.push_str("\r\n");
                        }
                        "E" if !end.is_empty() => {
                            b.push_str(end);
                            b.push_str("\r\n");
                        }
                        "E" => {}
                        name => b.push_str(&property(name, i)),
                    }
                }
                if i % 2 == 0 {
                    b.push_str("BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:R&D <now>\r\nTRIGGER;RELATED=END:-PT15M\r\nEND:VALARM\r\n");
                }
                b.push_str("END:VEVENT\r\n");
                if i % 5 == 0 {
                    b.push_str(BERLIN);
                }
                b.push_str("END:VCALENDAR\r\n");
                out.push(b);
            }
        }
    }
    out
}

/// Ranges: the bench's month, a window one event straddles, one that ends where events start.
const RANGES: &[(&str, &str)] = &[
    ("20260301T000000Z", "20260401T000000Z"),
    ("20260310T093000Z", "20260310T094500Z"),
    ("20260310T000000Z", "20260310T090000Z"),
];

/// Same match and the same calendar-data bytes (plain and escaped) as the tree, for every
/// generated body and range; every generated body is read without the tree.
#[test]
fn one_off_events_are_answered_as_the_tree_answers() {
    let bodies = bodies();
    let (mut matched, mut unmatched) = (0, 0);
    for (start, end) in RANGES {
        let (filter, data) = query(start, end);
        for body in &bodies {
            assert!(crate::caldav::ical::parse(body).is_ok(), "{body}");
            assert!(
                OneOff::read(body).is_some(),
                "read without the tree: {body}"
            );
            let hit = matches(&filter, body, 100);
            assert_eq!(hit, matches_tree(&filter, body, 100), "{start}: {body}");
            if hit {
                matched += 1;
            } else {
                unmatched += 1;
            }
            let (plain, escaped) = tree_calendar_data(&data, body, 100);
            assert_eq!(render_calendar_data(&data, body, 100), plain, "{body}");
            assert_eq!(
                render_calendar_data_xml(&data, body, 100),
                escaped,
                "{body}"
            );
            assert_eq!(
                candidate(&filter, &data, body),
                hit.then_some(escaped.clone())
            );
            // §9.6.5: no zones left, the times in UTC (or DATE).
            assert!(
                !plain.contains("VTIMEZONE") && !plain.contains("TZID"),
                "{plain}"
            );
            assert_eq!(plain.contains("BEGIN:VEVENT"), hit, "{plain}");
        }
    }
    // Both outcomes are exercised, in every range.
    assert!(matched > 300 && unmatched > 300, "{matched} / {unmatched}");
}

/// What the reader does not reproduce goes to the tree (and still answers as the tree does).
#[test]
fn unusual_bodies_go_to_the_tree() {
    let event = |lines: &str| {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:u\r\n{lines}END:VEVENT\r\nEND:VCALENDAR\r\n")
    };
    let start = "DTSTART:20260310T090000Z\r\n";
    let cases = [
        ("recurring", event(&format!("{start}RRULE:FREQ=DAILY;COUNT=3\r\n"))),
        ("rdate", event(&format!("{start}RDATE:20260311T090000Z\r\n"))),
        ("exdate", event(&format!("{start}EXDATE:20260311T090000Z\r\n"))),
        ("override", event(&format!("RECURRENCE-ID:20260310T090000Z\r\n{start}"))),
        ("duration", event(&format!("{start}DURATION:PT1H\r\n"))),
        ("due", event(&format!("{start}DUE:20260310T100000Z\r\n"))),
        ("lower-case dtstart", event("dtstart:20260310T090000Z\r\n")),
        ("lower-case rrule", event(&format!("{start}rrule:FREQ=DAILY;COUNT=3\r\n"))),
        ("folded dtstart", event("DTSTART:20260310T0\r\n 90000Z\r\n")),
        ("unknown zone", event("DTSTART;TZID=Custom/Office:20260310T090000\r\n")),
        ("quoted zone", event("DTSTART;TZID=\"Europe/Berlin\":20260310T090000\r\n")),
        ("other parameter", event("DTSTART;X-A=1:20260310T090000Z\r\n")),
        ("two starts", event(&format!("{start}{start}"))),
        ("no start", event("SUMMARY:x\r\n")),
        ("date start, date-time end", event("DTSTART;VALUE=DATE:20260310\r\nDTEND:20260311T000000Z\r\n")),
        ("property after an alarm", event(&format!("{start}BEGIN:VALARM\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\nSUMMARY:late\r\n"))),
        ("lower-case begin", event(&format!("{start}begin:VALARM\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n"))),
        ("grouped name", event(&format!("{start}A.SUMMARY:x\r\n"))),
        ("empty line", event(&format!("{start}\r\nSUMMARY:x\r\n"))),
        ("bare LF", event(&format!("{start}SUMMARY:x\n"))),
        ("two events", event(&format!("{start}END:VEVENT\r\nBEGIN:VEVENT\r\nUID:v\r\n{start}"))),
        ("a todo", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nUID:t\r\nDTSTART:20260310T090000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n".into()),
        ("calendar property after a component", event(start).replace("END:VCALENDAR", "X-LATE:1\r\nEND:VCALENDAR")),
        ("lower-case end of a zone", format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n{}BEGIN:VEVENT\r\nUID:u\r\n{start}END:VEVENT\r\nEND:VCALENDAR\r\n", BERLIN.replace("END:VTIMEZONE", "end:vtimezone"))),
        ("content after the calendar", format!("{}X:1\r\n", event(start))),
        ("no final line break", event(start).trim_end().to_string()),
    ];
    let (filter, data) = query("20260301T000000Z", "20260401T000000Z");
    for (name, body) in &cases {
        assert!(OneOff::read(body).is_none(), "{name}: {body}");
        assert_eq!(
            matches(&filter, body, 100),
            matches_tree(&filter, body, 100),
            "{name}"
        );
        let escaped = tree_calendar_data(&data, body, 100).1;
        assert_eq!(
            render_calendar_data_xml(&data, body, 100),
            escaped,
            "{name}"
        );
        let hit = matches_tree(&filter, body, 100);
        assert_eq!(
            candidate(&filter, &data, body),
            hit.then_some(escaped),
            "{name}"
        );
    }
    // The same event in canonical form is read here: the cases above differ by their one
    // unusual line.
    assert!(OneOff::read(&event(start)).is_some());
    assert!(OneOff::read(&event(&format!("{start}SUMMARY:x\r\n"))).is_some());
}

/// The reader is used only for the query shape it answers: another filter goes to the tree.
#[test]
fn other_filters_are_evaluated_on_the_tree() {
    let body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:u\r\nDTSTART:20260310T090000Z\r\nSUMMARY:Board\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let (march, _) = query("20260301T000000Z", "20260401T000000Z");
    assert!(super::super::filter::event_time_range(&march).is_some());
    let with_prop = parse_filter(&xml(r#"<C:filter xmlns:C="urn:ietf:params:xml:ns:caldav"><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260301T000000Z" end="20260401T000000Z"/><C:prop-filter name="SUMMARY"><C:text-match>nothing</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter></C:filter>"#)).expect("filter");
    assert!(super::super::filter::event_time_range(&with_prop).is_none());
    assert!(matches(&march, body, 100));
    assert!(
        !matches(&with_prop, body, 100),
        "the prop-filter is applied"
    );
    let todo = parse_filter(&xml(r#"<C:filter xmlns:C="urn:ietf:params:xml:ns:caldav"><C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"><C:time-range start="20260301T000000Z" end="20260401T000000Z"/></C:comp-filter></C:comp-filter></C:filter>"#)).expect("filter");
    assert!(!matches(&todo, body, 100));
}
