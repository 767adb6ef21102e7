//! The one-pass calendar-data writer against the bytes the previous renderer served: each
//! expected answer below is the escaped `calendar-data` of a calendar-query (one month,
//! `expand` 2026-03) answered by the gateway before the parser, the shared expansion and the
//! escaped writer were changed (`a4e160d`), captured over HTTP.

use super::*;
use crate::xml::{escape_text, parse as parse_xml, Limits};

/// (name, stored body, escaped calendar-data of the expanded March 2026).
const CASES: &[(&str, &str, &str)] = &[
    (
        "tzid-overrides",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmdav test//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:golden-tzid\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Weekly review & planning <team> with a summary long enough that it has to be folded at seventy-five octets\r\n ; continued\r\nDTSTART;TZID=Europe/Berlin:20260302T090000\r\nDTEND;TZID=Europe/Berlin:20260302T100000\r\nRRULE:FREQ=WEEKLY;COUNT=6\r\nEXDATE;TZID=Europe/Berlin:20260309T090000\r\nATTENDEE;CN=\"Okafor, Ada\";ROLE=REQ-PARTICIPANT:mailto:ada@example.com\r\nlocation:Room 4\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:golden-tzid\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260316T090000\r\nSUMMARY:Moved review\r\nDTSTART;TZID=Europe/Berlin:20260316T110000\r\nDTEND;TZID=Europe/Berlin:20260316T123000\r\nSEQUENCE:1\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:golden-tzid\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20260330T090000\r\nDTSTART;TZID=Europe/Berlin:20260330T080000\r\nDURATION:PT45M\r\nSUMMARY:Early after DST\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "BEGIN:VCALENDAR&#13;\nVERSION:2.0&#13;\nPRODID:-//crmdav test//EN&#13;\nBEGIN:VEVENT&#13;\nUID:golden-tzid&#13;\nDTSTAMP:20260101T000000Z&#13;\nSUMMARY:Weekly review &amp; planning &lt;team&gt; with a summary long enough that it has to be folded at seventy-five octets&#13;\n ; continued&#13;\nDTSTART:20260302T080000Z&#13;\nDTEND:20260302T090000Z&#13;\nRECURRENCE-ID:20260302T080000Z&#13;\nATTENDEE;CN=\"Okafor, Ada\";ROLE=REQ-PARTICIPANT:mailto:ada@example.com&#13;\nlocation:Room 4&#13;\nBEGIN:VALARM&#13;\nACTION:DISPLAY&#13;\nDESCRIPTION:Reminder&#13;\nTRIGGER:-PT15M&#13;\nEND:VALARM&#13;\nEND:VEVENT&#13;\nBEGIN:VEVENT&#13;\nUID:golden-tzid&#13;\nDTSTAMP:20260101T000000Z&#13;\nSUMMARY:Moved review&#13;\nSEQUENCE:1&#13;\nDTSTART:20260316T100000Z&#13;\nDTEND:20260316T113000Z&#13;\nRECURRENCE-ID:20260316T080000Z&#13;\nEND:VEVENT&#13;\nBEGIN:VEVENT&#13;\nUID:golden-tzid&#13;\nDTSTAMP:20260101T000000Z&#13;\nSUMMARY:Weekly review &amp; planning &lt;team&gt; with a summary long enough that it has to be folded at seventy-five octets&#13;\n ; continued&#13;\nDTSTART:20260323T080000Z&#13;\nDTEND:20260323T090000Z&#13;\nRECURRENCE-ID:20260323T080000Z&#13;\nATTENDEE;CN=\"Okafor, Ada\";ROLE=REQ-PARTICIPANT:mailto:ada@example.com&#13;\nlocation:Room 4&#13;\nBEGIN:VALARM&#13;\nACTION:DISPLAY&#13;\nDESCRIPTION:Reminder&#13;\nTRIGGER:-PT15M&#13;\nEND:VALARM&#13;\nEND:VEVENT&#13;\nBEGIN:VEVENT&#13;\nUID:golden-tzid&#13;\nDTSTAMP:20260101T000000Z&#13;\nDURATION:PT45M&#13;\nDTSTART:20260330T060000Z&#13;\nRECURRENCE-ID:20260330T070000Z&#13;\nSUMMARY:Early after DST&#13;\nEND:VEVENT&#13;\nEND:VCALENDAR&#13;\n",
    ),
    (
        "floating-daily",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmdav test//EN\r\nBEGIN:VEVENT\r\nUID:golden-floating\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260325T070000\r\nDURATION:PT30M\r\nRRULE:FREQ=DAILY;UNTIL=20260405T070000\r\nEXDATE:20260327T070000\r\nSUMMARY:Stand-up\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:golden-floating\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID:20260328T070000\r\nDTSTART:20260328T093000\r\nDTEND:20260328T100000\r\nSUMMARY:Saturday stand-up\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "BEGIN:VCALENDAR&#13;\nVERSION:2.0&#13;\nPRODID:-//crmdav test//EN&#13;\nBEGIN:VEVENT&#13;\nUID:golden-floating&#13;\nDTSTAMP:20260101T000000Z&#13;\nDTSTART:20260325T070000Z&#13;\nRECURRENCE-ID:20260325T070000Z&#13;\nDURATION:PT30M&#13;\nSUMMARY:Stand-up&#13;\nEND:VEVENT&#13;\nBEGIN:VEVENT&#13;\nUID:golden-floating&#13;\nDTSTAMP:20260101T000000Z&#13;\nDTSTART:20260326T070000Z&#13;\nRECURRENCE-ID:20260326T070000Z&#13;\nDURATION:PT30M&#13;\nSUMMARY:Stand-up&#13;\nEND:VEVENT&#13;\nBEGIN:VEVENT&#13;\nUID:golden-floating&#13;\nDTSTAMP:20260101T000000Z&#13;\nSUMMARY:Saturday stand-up&#13;\nDTSTART:20260328T093000Z&#13;\nDTEND:20260328T100000Z&#13;\nRECURRENCE-ID:20260328T070000Z&#13;\nEND:VEVENT&#13;\nBEGIN:VEVENT&#13;\nUID:golden-floating&#13;\nDTSTAMP:20260101T000000Z&#13;\nDTSTART:20260329T070000Z&#13;\nRECURRENCE-ID:20260329T070000Z&#13;\nDURATION:PT30M&#13;\nSUMMARY:Stand-up&#13;\nEND:VEVENT&#13;\nBEGIN:VEVENT&#13;\nUID:golden-floating&#13;\nDTSTAMP:20260101T000000Z&#13;\nDTSTART:20260330T070000Z&#13;\nRECURRENCE-ID:20260330T070000Z&#13;\nDURATION:PT30M&#13;\nSUMMARY:Stand-up&#13;\nEND:VEVENT&#13;\nBEGIN:VEVENT&#13;\nUID:golden-floating&#13;\nDTSTAMP:20260101T000000Z&#13;\nDTSTART:20260331T070000Z&#13;\nRECURRENCE-ID:20260331T070000Z&#13;\nDURATION:PT30M&#13;\nSUMMARY:Stand-up&#13;\nEND:VEVENT&#13;\nEND:VCALENDAR&#13;\n",
    ),
    (
        "all-day-rdate",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmdav test//EN\r\nBEGIN:VEVENT\r\nUID:golden-allday\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:Offsite\r\nDTSTART;VALUE=DATE:20260310\r\nDTEND;VALUE=DATE:20260312\r\nRDATE;VALUE=DATE:20260324,20260501\r\nCATEGORIES:travel,team\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "BEGIN:VCALENDAR&#13;\nVERSION:2.0&#13;\nPRODID:-//crmdav test//EN&#13;\nBEGIN:VEVENT&#13;\nUID:golden-allday&#13;\nDTSTAMP:20260101T000000Z&#13;\nSUMMARY:Offsite&#13;\nDTSTART;VALUE=DATE:20260310&#13;\nDTEND;VALUE=DATE:20260312&#13;\nRECURRENCE-ID;VALUE=DATE:20260310&#13;\nCATEGORIES:travel,team&#13;\nEND:VEVENT&#13;\nBEGIN:VEVENT&#13;\nUID:golden-allday&#13;\nDTSTAMP:20260101T000000Z&#13;\nSUMMARY:Offsite&#13;\nDTSTART;VALUE=DATE:20260324&#13;\nDTEND;VALUE=DATE:20260326&#13;\nRECURRENCE-ID;VALUE=DATE:20260324&#13;\nCATEGORIES:travel,team&#13;\nEND:VEVENT&#13;\nEND:VCALENDAR&#13;\n",
    ),
    (
        "utc-monthly",
        "BEGIN:VCALENDAR\r\nPRODID:-//crmdav test//EN\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART:20251215T160000Z\r\nUID:golden-utc\r\nDTSTAMP:20260101T000000Z\r\nRRULE:FREQ=MONTHLY;BYDAY=3MO\r\nDTEND:20251215T170000Z\r\nDESCRIPTION:Line one\\nline two\\, with a comma\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        "BEGIN:VCALENDAR&#13;\nPRODID:-//crmdav test//EN&#13;\nVERSION:2.0&#13;\nBEGIN:VEVENT&#13;\nDTSTART:20260316T160000Z&#13;\nDTEND:20260316T170000Z&#13;\nRECURRENCE-ID:20260316T160000Z&#13;\nUID:golden-utc&#13;\nDTSTAMP:20260101T000000Z&#13;\nDESCRIPTION:Line one\\nline two\\, with a comma&#13;\nEND:VEVENT&#13;\nEND:VCALENDAR&#13;\n",
    ),
];

fn parsed_xml(xml: &str) -> crate::xml::Element {
    parse_xml(xml.as_bytes(), Limits::default()).expect("xml")
}

fn march_query() -> (CompFilter, CalendarDataRequest) {
    let filter = parse_filter(&parsed_xml(
        r#"<C:filter xmlns:C="urn:ietf:params:xml:ns:caldav"><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260301T000000Z" end="20260401T000000Z"/></C:comp-filter></C:comp-filter></C:filter>"#,
    ))
    .expect("filter");
    let data = parse_calendar_data(&parsed_xml(
        r#"<C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav"><C:expand start="20260301T000000Z" end="20260401T000000Z"/></C:calendar-data>"#,
    ))
    .expect("calendar-data");
    (filter, data)
}

/// Overrides (one moved, one with DURATION after the DST change), EXDATE, a TZID'd and a
/// floating series, all-day RDATEs, an open-ended UTC rule, a folded line, a lower-case name,
/// quoted parameters and characters XML escapes: byte for byte what was served before, as
/// the query does it (filter, then render from the kept parse and expansion) and from a
/// fresh parse.
#[test]
fn expanded_answers_are_the_previous_renderers_bytes() {
    let (filter, data) = march_query();
    for (i, (name, body, expected)) in CASES.iter().enumerate() {
        assert!(matches(&filter, body, 5000), "{name} matches March");
        assert_eq!(
            render_calendar_data_xml(&data, body, 5000),
            *expected,
            "{name}: after the filter"
        );
        // Another body in between: the next render parses and expands afresh.
        let _ = render_calendar_data(&data, CASES[(i + 1) % CASES.len()].1, 5000);
        assert_eq!(
            escape_text(&render_calendar_data(&data, body, 5000)),
            *expected,
            "{name}: plain, then escaped"
        );
        // §9.6.5: UTC instances with their RECURRENCE-ID, no recurrence rules or zones.
        for gone in ["RRULE", "RDATE", "EXDATE", "VTIMEZONE", "TZID="] {
            assert!(!expected.contains(gone), "{name}: {gone}");
        }
    }
}

/// Escaped in one pass is escaping the plain rendering, for every calendar-data shape the
/// writer serves (whole, selection, expand with a selection, limit-recurrence-set, a
/// selection with `novalue`).
#[test]
fn escaped_writer_is_escaping_the_text() {
    let requests = [
        r#"<C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav"/>"#,
        r#"<C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav"><C:comp name="VCALENDAR"><C:allprop/><C:comp name="VEVENT"><C:prop name="SUMMARY"/><C:prop name="ATTENDEE" novalue="yes"/><C:prop name="DTSTART"/></C:comp></C:comp></C:calendar-data>"#,
        r#"<C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav"><C:comp name="VCALENDAR"><C:allprop/><C:comp name="VEVENT"><C:allprop/></C:comp></C:comp><C:expand start="20260301T000000Z" end="20260401T000000Z"/></C:calendar-data>"#,
        r#"<C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav"><C:limit-recurrence-set start="20260310T000000Z" end="20260320T000000Z"/></C:calendar-data>"#,
    ];
    for xml in requests {
        let data = parse_calendar_data(&parsed_xml(xml)).expect("calendar-data");
        for (name, body, _) in CASES {
            let plain = render_calendar_data(&data, body, 5000);
            assert!(plain.starts_with("BEGIN:VCALENDAR\r\n"), "{name}: {plain}");
            assert_eq!(
                render_calendar_data_xml(&data, body, 5000),
                escape_text(&plain),
                "{name} with {xml}"
            );
        }
    }
}
