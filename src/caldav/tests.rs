use super::*;
use crate::xml::{parse as parse_xml, Limits};

const ALL: &[ComponentKind] = &[
    ComponentKind::Vevent,
    ComponentKind::Vtodo,
    ComponentKind::Vjournal,
    ComponentKind::Vfreebusy,
];

fn t(s: &str) -> i64 {
    parse_utc(s).expect("test timestamp")
}

fn cal(inner: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{inner}END:VCALENDAR\r\n")
        .replace("\r\n", "\n")
        .replace('\n', "\r\n")
}

fn filter(xml: &str) -> Result<CompFilter, FilterError> {
    let doc = format!(r#"<C:filter xmlns:C="urn:ietf:params:xml:ns:caldav">{xml}</C:filter>"#);
    let el = parse_xml(doc.as_bytes(), Limits::default()).expect("xml");
    parse_filter(&el)
}

/// VCALENDAR > `comp` with a time-range.
fn tr_filter(comp: &str, start: &str, end: &str) -> CompFilter {
    filter(&format!(
        r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="{comp}"><C:time-range start="{start}" end="{end}"/></C:comp-filter></C:comp-filter>"#
    ))
    .expect("filter")
}

fn event_filter(inner: &str) -> CompFilter {
    filter(&format!(
        r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">{inner}</C:comp-filter></C:comp-filter>"#
    ))
    .expect("filter")
}

fn weekly_ny() -> String {
    cal("BEGIN:VTIMEZONE
TZID:America/New_York
BEGIN:STANDARD
DTSTART:20071104T020000
TZOFFSETFROM:-0400
TZOFFSETTO:-0500
RRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:20070311T020000
TZOFFSETFROM:-0500
TZOFFSETTO:-0400
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:weekly-1
DTSTAMP:20260101T000000Z
DTSTART;TZID=America/New_York:20260105T090000
DTEND;TZID=America/New_York:20260105T100000
RRULE:FREQ=WEEKLY;COUNT=10
EXDATE;TZID=America/New_York:20260119T090000
SUMMARY:Weekly sync
END:VEVENT
BEGIN:VEVENT
UID:weekly-1
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=America/New_York:20260112T090000
DTSTART;TZID=America/New_York:20260113T140000
DTEND;TZID=America/New_York:20260113T150000
SEQUENCE:2
SUMMARY:Weekly sync (moved)
END:VEVENT
")
}

// ---------------------------------------------------------------- inspect / ObjectInfo

#[test]
fn comp_kind_round_trip() {
    for k in ALL {
        assert_eq!(ComponentKind::parse_calendar(k.as_str()), Some(*k));
    }
    assert_eq!(
        ComponentKind::parse_calendar("vevent"),
        Some(ComponentKind::Vevent)
    );
    assert_eq!(ComponentKind::parse_calendar("VALARM"), None);
}

#[test]
fn parse_utc_values() {
    assert_eq!(parse_utc("20060104T000000Z"), Some(1_136_332_800));
    assert_eq!(parse_utc("20060104T000000"), None);
    assert_eq!(parse_utc("20061304T000000Z"), None);
    assert_eq!(parse_utc("garbage"), None);
}

#[test]
fn weekly_ny_bounds_follow_dst() {
    let info = inspect(&weekly_ny(), ALL, 1000).expect("valid");
    assert_eq!(info.uid, "weekly-1");
    assert_eq!(info.component, ComponentKind::Vevent);
    // 09:00 EST on Jan 5 = 14:00Z; the 10th instance is Mar 9, after DST: 10:00 EDT = 14:00Z.
    assert_eq!(info.first_start, Some(t("20260105T140000Z")));
    assert_eq!(info.last_end, Some(t("20260309T140000Z")));
    let q = TimeRange {
        start: Some(t("20260401T000000Z")),
        end: Some(t("20260501T000000Z")),
    };
    assert!(!info.may_overlap(&q));
    let q = TimeRange {
        start: Some(t("20260309T000000Z")),
        end: None,
    };
    assert!(info.may_overlap(&q));
}

#[test]
fn weekly_ny_override_exdate_and_dst_in_queries() {
    let body = weekly_ny();
    let m = |s, e| matches(&tr_filter("VEVENT", s, e), &body, 1000);
    // The Jan 12 instance was moved to Jan 13 14:00 EST (19:00Z).
    assert!(!m("20260112T140000Z", "20260112T150000Z"));
    assert!(m("20260113T190000Z", "20260113T200000Z"));
    // Jan 19 is excluded.
    assert!(!m("20260119T000000Z", "20260120T000000Z"));
    // Jan 26 is a regular instance: 14:00Z-15:00Z; end is exclusive.
    assert!(m("20260126T144500Z", "20260126T150000Z"));
    assert!(!m("20260126T150000Z", "20260126T160000Z"));
    // Mar 9 (after the DST change): 09:00 EDT = 13:00Z.
    assert!(m("20260309T130000Z", "20260309T131500Z"));
    assert!(!m("20260309T140000Z", "20260309T150000Z"));
    // After COUNT runs out.
    assert!(!m("20260316T000000Z", "20260317T000000Z"));
}

#[test]
fn berlin_dst_gap() {
    let body = cal("BEGIN:VEVENT
UID:gap
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20260329T023000
DURATION:PT1H
RRULE:FREQ=DAILY;COUNT=3
END:VEVENT
");
    let info = inspect(&body, ALL, 100).expect("valid");
    // 02:30 does not exist on Mar 29: the offset before the gap (+01:00) gives 01:30Z.
    assert_eq!(info.first_start, Some(t("20260329T013000Z")));
    // Third instance: Mar 31 02:30 CEST = 00:30Z, one hour long.
    assert_eq!(info.last_end, Some(t("20260331T013000Z")));
    let f = |s, e| matches(&tr_filter("VEVENT", s, e), &body, 100);
    assert!(f("20260329T013000Z", "20260329T014000Z"));
    assert!(f("20260330T003000Z", "20260330T004000Z"));
    assert!(!f("20260330T013000Z", "20260330T020000Z"));
}

#[test]
fn all_day_and_multi_day_events() {
    let body = cal("BEGIN:VEVENT
UID:conf
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20260210
DTEND;VALUE=DATE:20260213
SUMMARY:Conference
END:VEVENT
");
    let info = inspect(&body, ALL, 100).expect("valid");
    // Floating: widened by 14 h on each side.
    assert_eq!(info.first_start, Some(t("20260210T000000Z") - 14 * 3600));
    assert_eq!(info.last_end, Some(t("20260213T000000Z") + 14 * 3600));
    let f = |s, e| matches(&tr_filter("VEVENT", s, e), &body, 100);
    assert!(f("20260212T100000Z", "20260212T110000Z"));
    assert!(!f("20260213T000000Z", "20260213T010000Z"));

    let single = cal("BEGIN:VEVENT
UID:holiday
DTSTAMP:20260101T000000Z
DTSTART;VALUE=DATE:20260301
END:VEVENT
");
    let f = |s, e| matches(&tr_filter("VEVENT", s, e), &single, 100);
    assert!(f("20260301T230000Z", "20260302T000000Z"));
    assert!(!f("20260302T000000Z", "20260302T010000Z"));
    let info = inspect(&single, ALL, 100).expect("valid");
    assert_eq!(info.last_end, Some(t("20260302T000000Z") + 14 * 3600));
}

#[test]
fn infinite_rule_has_open_end() {
    let body = cal("BEGIN:VEVENT
UID:daily
DTSTAMP:20000101T000000Z
DTSTART:20000103T080000Z
DTEND:20000103T083000Z
RRULE:FREQ=DAILY
END:VEVENT
");
    let info = inspect(&body, ALL, 50).expect("valid");
    assert_eq!(info.first_start, Some(t("20000103T080000Z")));
    assert_eq!(info.last_end, None);
    // An instance 26 years later is found (the cap counts instances in the window).
    assert!(matches(
        &tr_filter("VEVENT", "20260105T081000Z", "20260105T082000Z"),
        &body,
        50
    ));
    assert!(!matches(
        &tr_filter("VEVENT", "20260105T090000Z", "20260105T100000Z"),
        &body,
        50
    ));
    // UNTIL bounds the set.
    let until = body.replace("FREQ=DAILY", "FREQ=DAILY;UNTIL=20000105T080000Z");
    let info = inspect(&until, ALL, 50).expect("valid");
    assert_eq!(info.last_end, Some(t("20000105T083000Z")));
}

#[test]
fn floating_time_is_widened() {
    let body = cal("BEGIN:VEVENT
UID:float
DTSTAMP:20260101T000000Z
DTSTART:20260401T090000
DTEND:20260401T100000
END:VEVENT
");
    let info = inspect(&body, ALL, 10).expect("valid");
    assert_eq!(info.first_start, Some(t("20260401T090000Z") - 14 * 3600));
    assert_eq!(info.last_end, Some(t("20260401T100000Z") + 14 * 3600));
    assert!(matches(
        &tr_filter("VEVENT", "20260401T093000Z", "20260401T094000Z"),
        &body,
        10
    ));
}

#[test]
fn windows_and_custom_tzids() {
    let body = cal("BEGIN:VEVENT
UID:win
DTSTAMP:20260101T000000Z
DTSTART;TZID=Eastern Standard Time:20260105T090000
DTEND;TZID=Eastern Standard Time:20260105T100000
END:VEVENT
");
    let info = inspect(&body, ALL, 10).expect("valid");
    assert_eq!(info.first_start, Some(t("20260105T140000Z")));

    let custom = cal("BEGIN:VTIMEZONE
TZID:My Office Zone
BEGIN:STANDARD
DTSTART:19700101T000000
TZOFFSETFROM:+0530
TZOFFSETTO:+0530
END:STANDARD
END:VTIMEZONE
BEGIN:VEVENT
UID:custom
DTSTAMP:20260101T000000Z
DTSTART;TZID=My Office Zone:20260105T090000
DTEND;TZID=My Office Zone:20260105T100000
END:VEVENT
");
    let info = inspect(&custom, ALL, 10).expect("valid");
    assert_eq!(info.first_start, Some(t("20260105T033000Z")));
    assert_eq!(info.last_end, Some(t("20260105T043000Z")));
}

#[test]
fn inspect_errors() {
    let ev = |uid: &str| {
        format!("BEGIN:VEVENT\nUID:{uid}\nDTSTAMP:20260101T000000Z\nDTSTART:20260101T100000Z\nEND:VEVENT\n")
    };
    let cases: Vec<(String, CalError, &str)> = vec![
        (
            "hello world".into(),
            CalError::NotICalendar(String::new()),
            "valid-calendar-data",
        ),
        (
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:A\r\nEND:VCARD\r\n".into(),
            CalError::NotICalendar(String::new()),
            "valid-calendar-data",
        ),
        (
            format!("{}{}", cal(&ev("a")), cal(&ev("a"))),
            CalError::MultipleCalendars,
            "valid-calendar-data",
        ),
        (
            cal("BEGIN:VEVENT\nUID:x\nDTSTART:2026-01-01\nEND:VEVENT\n"),
            CalError::InvalidValue("DTSTART".into()),
            "valid-calendar-data",
        ),
        (
            cal(""),
            CalError::NoComponent,
            "valid-calendar-object-resource",
        ),
        (
            cal(&format!("{}BEGIN:VTODO\nUID:a\nEND:VTODO\n", ev("a"))),
            CalError::MixedComponents("VEVENT".into(), "VTODO".into()),
            "valid-calendar-object-resource",
        ),
        (
            cal("BEGIN:VEVENT\nDTSTART:20260101T100000Z\nEND:VEVENT\n"),
            CalError::MissingUid("VEVENT".into()),
            "valid-calendar-object-resource",
        ),
        (
            cal(&format!("{}{}", ev("a"), ev("b"))),
            CalError::MultipleUids("a".into(), "b".into()),
            "valid-calendar-object-resource",
        ),
        (
            cal(&format!("{}{}", ev("a"), ev("a"))),
            CalError::DuplicateInstance("two masters".into()),
            "valid-calendar-object-resource",
        ),
        (
            cal(&format!("METHOD:REQUEST\n{}", ev("a"))),
            CalError::MethodPresent,
            "valid-calendar-object-resource",
        ),
        (
            cal("BEGIN:VAVAILABILITY\nUID:a\nEND:VAVAILABILITY\n"),
            CalError::UnsupportedComponent("VAVAILABILITY".into()),
            "supported-calendar-component",
        ),
    ];
    for (body, want, pre) in cases {
        let got = inspect(&body, ALL, 10).expect_err(&body);
        match (&got, &want) {
            (CalError::NotICalendar(_), CalError::NotICalendar(_)) => {}
            _ => assert_eq!(got, want, "{body}"),
        }
        assert_eq!(got.precondition().name(), pre);
        assert!(!got.to_string().is_empty());
    }
    // Allowed set.
    let err = inspect(&cal(&ev("a")), &[ComponentKind::Vtodo], 10).expect_err("not allowed");
    assert_eq!(err, CalError::UnsupportedComponent("VEVENT".into()));
    assert_eq!(err.precondition().name(), "supported-calendar-component");
    // Duplicate RECURRENCE-ID.
    let dup = "BEGIN:VEVENT\nUID:a\nRECURRENCE-ID:20260102T100000Z\nDTSTART:20260102T110000Z\nEND:VEVENT\n";
    let err = inspect(&cal(&format!("{}{dup}{dup}", ev("a"))), ALL, 10).expect_err("dup");
    assert!(matches!(err, CalError::DuplicateInstance(_)));
}

// ---------------------------------------------------------------- VTODO §9.9

fn todo(props: &str) -> String {
    cal(&format!(
        "BEGIN:VTODO\nUID:todo-1\nDTSTAMP:20260101T000000Z\n{props}END:VTODO\n"
    ))
}

#[test]
fn vtodo_time_ranges() {
    let f = |body: &str, s, e| matches(&tr_filter("VTODO", s, e), body, 10);
    // DUE only: (start < DUE) AND (end >= DUE).
    let due = todo("DUE:20260301T120000Z\n");
    assert!(f(&due, "20260301T110000Z", "20260301T120000Z"));
    assert!(!f(&due, "20260301T120000Z", "20260301T130000Z"));
    let info = inspect(&due, ALL, 10).expect("valid");
    assert_eq!(
        (info.first_start, info.last_end),
        (Some(t("20260301T120000Z")), Some(t("20260301T120000Z")))
    );
    assert!(info.may_overlap(&TimeRange {
        start: Some(t("20260301T110000Z")),
        end: Some(t("20260301T120000Z"))
    }));

    // No dates: always matches, unbounded in the index.
    let none = todo("SUMMARY:whenever\n");
    assert!(f(&none, "19990101T000000Z", "19990102T000000Z"));
    let info = inspect(&none, ALL, 10).expect("valid");
    assert_eq!((info.first_start, info.last_end), (None, None));

    // COMPLETED and CREATED.
    let cc = todo("CREATED:20260101T000000Z\nCOMPLETED:20260110T000000Z\n");
    assert!(f(&cc, "20260105T000000Z", "20260106T000000Z"));
    assert!(!f(&cc, "20260201T000000Z", "20260202T000000Z"));
    assert!(!f(&cc, "20251201T000000Z", "20251202T000000Z"));

    // COMPLETED only.
    let co = todo("COMPLETED:20260110T000000Z\n");
    assert!(f(&co, "20260109T000000Z", "20260110T000000Z"));
    assert!(!f(&co, "20260110T000001Z", "20260111T000000Z"));

    // CREATED only: (end > CREATED).
    let cr = todo("CREATED:20260101T000000Z\n");
    assert!(!f(&cr, "20251201T000000Z", "20260101T000000Z"));
    assert!(f(&cr, "20270101T000000Z", "20270102T000000Z"));
    let info = inspect(&cr, ALL, 10).expect("valid");
    assert_eq!(
        (info.first_start, info.last_end),
        (Some(t("20260101T000000Z")), None)
    );

    // DTSTART + DUE.
    let sd = todo("DTSTART:20260301T090000Z\nDUE:20260303T090000Z\n");
    assert!(f(&sd, "20260302T000000Z", "20260302T010000Z"));
    assert!(!f(&sd, "20260304T000000Z", "20260305T000000Z"));

    // DTSTART + DURATION.
    let dd = todo("DTSTART:20260301T090000Z\nDURATION:PT2H\n");
    assert!(f(&dd, "20260301T100000Z", "20260301T103000Z"));
    assert!(!f(&dd, "20260301T113000Z", "20260301T120000Z"));

    // DTSTART only.
    let so = todo("DTSTART:20260301T090000Z\n");
    assert!(f(&so, "20260301T090000Z", "20260301T091500Z"));
    assert!(!f(&so, "20260301T091500Z", "20260301T093000Z"));
}

#[test]
fn vjournal_and_vfreebusy_time_ranges() {
    let j =
        cal("BEGIN:VJOURNAL\nUID:j\nDTSTART;VALUE=DATE:20260301\nSUMMARY:notes\nEND:VJOURNAL\n");
    assert!(matches(
        &tr_filter("VJOURNAL", "20260301T120000Z", "20260301T130000Z"),
        &j,
        10
    ));
    assert!(!matches(
        &tr_filter("VJOURNAL", "20260302T000000Z", "20260302T130000Z"),
        &j,
        10
    ));
    let nostart = cal("BEGIN:VJOURNAL\nUID:j\nSUMMARY:notes\nEND:VJOURNAL\n");
    assert!(!matches(
        &tr_filter("VJOURNAL", "20000101T000000Z", "20300101T000000Z"),
        &nostart,
        10
    ));

    let fb = cal("BEGIN:VFREEBUSY\nUID:fb\nFREEBUSY:20260301T100000Z/20260301T110000Z,20260302T100000Z/PT1H\nEND:VFREEBUSY\n");
    assert!(matches(
        &tr_filter("VFREEBUSY", "20260302T103000Z", "20260302T120000Z"),
        &fb,
        10
    ));
    assert!(!matches(
        &tr_filter("VFREEBUSY", "20260301T110000Z", "20260302T100000Z"),
        &fb,
        10
    ));
}

// ---------------------------------------------------------------- VALARM

#[test]
fn valarm_time_range() {
    let body = cal("BEGIN:VEVENT
UID:alarm
DTSTAMP:20260101T000000Z
DTSTART:20260310T100000Z
DTEND:20260310T110000Z
RRULE:FREQ=DAILY
BEGIN:VALARM
ACTION:DISPLAY
DESCRIPTION:Reminder
TRIGGER:-PT15M
REPEAT:1
DURATION:PT5M
END:VALARM
END:VEVENT
");
    let f = |s: &str, e: &str| {
        filter(&format!(
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:comp-filter name="VALARM"><C:time-range start="{s}" end="{e}"/></C:comp-filter></C:comp-filter></C:comp-filter>"#
        ))
        .expect("filter")
    };
    // Trigger at 09:45, repeat at 09:50 on every day.
    assert!(matches(
        &f("20260310T094000Z", "20260310T094600Z"),
        &body,
        100
    ));
    assert!(matches(
        &f("20260420T094800Z", "20260420T095100Z"),
        &body,
        100
    ));
    assert!(!matches(
        &f("20260420T095100Z", "20260420T100000Z"),
        &body,
        100
    ));
    // Before the series starts.
    assert!(!matches(
        &f("20260309T094000Z", "20260309T094600Z"),
        &body,
        100
    ));
    // A VALARM filter gives no index hint.
    assert_eq!(
        time_bounds_hint(&f("20260310T094000Z", "20260310T094600Z")),
        None
    );

    // RELATED=END and absolute triggers.
    let rel_end = body.replace("TRIGGER:-PT15M", "TRIGGER;RELATED=END:PT5M");
    assert!(matches(
        &f("20260311T110000Z", "20260311T110600Z"),
        &rel_end,
        100
    ));
    let abs = body.replace("TRIGGER:-PT15M", "TRIGGER;VALUE=DATE-TIME:20260501T080000Z");
    assert!(matches(
        &f("20260501T080000Z", "20260501T080100Z"),
        &abs,
        100
    ));
}

// ---------------------------------------------------------------- text, props, params

fn meeting() -> String {
    cal("BEGIN:VEVENT
UID:m1
DTSTAMP:20260101T000000Z
DTSTART:20260105T100000Z
DTEND:20260105T110000Z
SUMMARY:Café Meeting\\, room 4
ORGANIZER;CN=Boss:mailto:boss@example.com
ATTENDEE;PARTSTAT=ACCEPTED;CN=\"Doe, Jane\":mailto:jane@example.com
ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:joe@example.com
END:VEVENT
")
}

fn summary_filter(text: &str, attrs: &str) -> Result<CompFilter, FilterError> {
    filter(&format!(
        r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:prop-filter name="SUMMARY"><C:text-match {attrs}>{text}</C:text-match></C:prop-filter></C:comp-filter></C:comp-filter>"#
    ))
}

#[test]
fn text_match_collations() {
    let body = meeting();
    let m =
        |text: &str, attrs: &str| matches(&summary_filter(text, attrs).expect("filter"), &body, 10);
    assert!(m("meeting", ""));
    assert!(m("meeting", r#"collation="i;ascii-casemap""#));
    assert!(!m("meeting", r#"collation="i;octet""#));
    assert!(m("Meeting, room", r#"collation="i;octet""#)); // TEXT unescaped
    assert!(m("CAFÉ", r#"collation="i;unicode-casemap""#));
    assert!(!m("CAFÉ", r#"collation="i;ascii-casemap""#));
    assert!(m("lunch", r#"negate-condition="yes""#));
    assert!(!m("meeting", r#"negate-condition="yes""#));
    let err = summary_filter("x", r#"collation="i;klingon""#).expect_err("collation");
    assert_eq!(err, FilterError::UnsupportedCollation("i;klingon".into()));
    assert_eq!(err.precondition().name(), "supported-collation");
}

#[test]
fn is_not_defined_and_param_filter() {
    let body = meeting();
    let m = |inner: &str| matches(&event_filter(inner), &body, 10);
    assert!(m(
        r#"<C:prop-filter name="LOCATION"><C:is-not-defined/></C:prop-filter>"#
    ));
    assert!(!m(
        r#"<C:prop-filter name="SUMMARY"><C:is-not-defined/></C:prop-filter>"#
    ));
    assert!(m(r#"<C:prop-filter name="ORGANIZER"/>"#));
    assert!(!m(r#"<C:prop-filter name="LOCATION"/>"#));
    // One ATTENDEE with PARTSTAT=NEEDS-ACTION and the address joe.
    assert!(m(
        r#"<C:prop-filter name="ATTENDEE"><C:text-match>joe@</C:text-match><C:param-filter name="PARTSTAT"><C:text-match>NEEDS-ACTION</C:text-match></C:param-filter></C:prop-filter>"#
    ));
    // ...but not on the same ATTENDEE as jane.
    assert!(!m(
        r#"<C:prop-filter name="ATTENDEE"><C:text-match>jane@</C:text-match><C:param-filter name="PARTSTAT"><C:text-match>NEEDS-ACTION</C:text-match></C:param-filter></C:prop-filter>"#
    ));
    assert!(m(
        r#"<C:prop-filter name="ATTENDEE"><C:param-filter name="CN"><C:text-match>doe, jane</C:text-match></C:param-filter></C:prop-filter>"#
    ));
    assert!(m(
        r#"<C:prop-filter name="ORGANIZER"><C:param-filter name="SENT-BY"><C:is-not-defined/></C:param-filter></C:prop-filter>"#
    ));
    assert!(!m(
        r#"<C:prop-filter name="ORGANIZER"><C:param-filter name="CN"><C:is-not-defined/></C:param-filter></C:prop-filter>"#
    ));
    // Component is-not-defined.
    let no_todo = filter(
        r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"><C:is-not-defined/></C:comp-filter></C:comp-filter>"#,
    )
    .expect("filter");
    assert!(matches(&no_todo, &body, 10));
    let no_event = filter(
        r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:is-not-defined/></C:comp-filter></C:comp-filter>"#,
    )
    .expect("filter");
    assert!(!matches(&no_event, &body, 10));
    // Property time-range.
    assert!(m(
        r#"<C:prop-filter name="DTSTAMP"><C:time-range start="20251231T000000Z" end="20260102T000000Z"/></C:prop-filter>"#
    ));
    assert!(!m(
        r#"<C:prop-filter name="DTSTAMP"><C:time-range start="20260102T000000Z"/></C:prop-filter>"#
    ));
}

#[test]
fn filter_parse_errors_and_hint() {
    let bad = [
        ("", "valid-filter"),
        (r#"<C:comp-filter name="VEVENT"/>"#, "valid-filter"),
        (r#"<C:comp-filter/>"#, "valid-filter"),
        (
            r#"<C:comp-filter name="VCALENDAR"/><C:comp-filter name="VCALENDAR"/>"#,
            "valid-filter",
        ),
        (
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range/></C:comp-filter></C:comp-filter>"#,
            "valid-filter",
        ),
        (
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="2006-01-04"/></C:comp-filter></C:comp-filter>"#,
            "valid-filter",
        ),
        (
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20060105T000000Z" end="20060104T000000Z"/></C:comp-filter></C:comp-filter>"#,
            "valid-filter",
        ),
        (
            r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:fancy-filter/></C:comp-filter></C:comp-filter>"#,
            "supported-filter",
        ),
    ];
    for (xml, pre) in bad {
        let err = filter(xml).expect_err(xml);
        assert_eq!(err.precondition().name(), pre, "{xml}");
    }
    let f = tr_filter("VEVENT", "20060104T000000Z", "20060105T000000Z");
    assert_eq!(
        time_bounds_hint(&f),
        Some(TimeRange {
            start: Some(1_136_332_800),
            end: Some(1_136_419_200)
        })
    );
    // Open-ended ranges parse.
    let f = filter(
        r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"><C:time-range start="20060104T000000Z"/></C:comp-filter></C:comp-filter>"#,
    )
    .expect("filter");
    assert_eq!(
        time_bounds_hint(&f),
        Some(TimeRange {
            start: Some(1_136_332_800),
            end: None
        })
    );
    assert_eq!(time_bounds_hint(&event_filter("")), None);
    // Malformed bodies never match.
    assert!(!matches(&event_filter(""), "not a calendar", 10));
    assert!(matches(&event_filter(""), &meeting(), 10));
}

// ---------------------------------------------------------------- calendar-data

fn caldata(xml: &str) -> Result<CalendarDataRequest, FilterError> {
    let doc = format!(
        r#"<C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav" content-type="text/calendar" version="2.0">{xml}</C:calendar-data>"#
    );
    let el = parse_xml(doc.as_bytes(), Limits::default()).expect("xml");
    parse_calendar_data(&el)
}

#[test]
fn calendar_data_whole_body_is_byte_for_byte() {
    let body = "BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:x\nDTSTART:20260101T100000Z\nX-ODD;X-P=\"a,b\":keep\\,me\nEND:VEVENT\nEND:VCALENDAR\n";
    let req = caldata("").expect("req");
    assert!(req.is_whole());
    assert_eq!(render_calendar_data(&req, body, 10), body);
}

#[test]
fn calendar_data_expand() {
    let req =
        caldata(r#"<C:expand start="20260101T000000Z" end="20260201T000000Z"/>"#).expect("req");
    assert_eq!(
        req.expand,
        Some(TimeRange {
            start: Some(t("20260101T000000Z")),
            end: Some(t("20260201T000000Z"))
        })
    );
    let out = render_calendar_data(&req, &weekly_ny(), 100);
    assert!(!out.contains("RRULE"), "{out}");
    assert!(!out.contains("EXDATE"), "{out}");
    assert!(!out.contains("VTIMEZONE"), "{out}");
    assert!(!out.contains("TZID"), "{out}");
    assert_eq!(out.matches("BEGIN:VEVENT").count(), 3, "{out}");
    assert!(out.contains("DTSTART:20260105T140000Z\r\n"));
    assert!(out.contains("RECURRENCE-ID:20260105T140000Z\r\n"));
    assert!(out.contains("DTSTART:20260113T190000Z\r\nDTEND:20260113T200000Z\r\nRECURRENCE-ID:20260112T140000Z\r\n"), "{out}");
    assert!(out.contains("SUMMARY:Weekly sync (moved)"));
    assert!(out.contains("DTSTART:20260126T140000Z\r\nDTEND:20260126T150000Z\r\n"));
    assert!(!out.contains("20260119"));
    // The result is itself a valid calendar object (minus the one-master rule).
    assert!(out.starts_with("BEGIN:VCALENDAR\r\n") && out.ends_with("END:VCALENDAR\r\n"));
    // expand needs both ends.
    let err = caldata(r#"<C:expand start="20260101T000000Z"/>"#).expect_err("half");
    assert_eq!(err.precondition().name(), "valid-filter");
}

#[test]
fn calendar_data_selection_and_limits() {
    let req = caldata(
        r#"<C:comp name="VCALENDAR"><C:prop name="VERSION"/><C:comp name="VEVENT"><C:prop name="SUMMARY"/><C:prop name="UID"/><C:prop name="ATTENDEE" novalue="yes"/></C:comp></C:comp>"#,
    )
    .expect("req");
    let out = render_calendar_data(&req, &meeting(), 10);
    assert_eq!(
        out,
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:m1\r\nSUMMARY:Café Meeting\\, room 4\r\n\
         ATTENDEE;PARTSTAT=ACCEPTED;CN=\"Doe, Jane\":\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    );

    let req =
        caldata(r#"<C:limit-recurrence-set start="20260113T000000Z" end="20260114T000000Z"/>"#)
            .expect("req");
    let out = render_calendar_data(&req, &weekly_ny(), 10);
    assert!(out.contains("RECURRENCE-ID"));
    assert!(out.contains("RRULE"));
    let req =
        caldata(r#"<C:limit-recurrence-set start="20260201T000000Z" end="20260301T000000Z"/>"#)
            .expect("req");
    let out = render_calendar_data(&req, &weekly_ny(), 10);
    assert!(!out.contains("RECURRENCE-ID"), "{out}");
    assert_eq!(out.matches("BEGIN:VEVENT").count(), 1);

    let fb = cal("BEGIN:VFREEBUSY\nUID:fb\nFREEBUSY:20260301T100000Z/20260301T110000Z\nFREEBUSY:20260305T100000Z/20260305T110000Z\nEND:VFREEBUSY\n");
    let req = caldata(r#"<C:limit-freebusy-set start="20260304T000000Z" end="20260306T000000Z"/>"#)
        .expect("req");
    let out = render_calendar_data(&req, &fb, 10);
    assert!(out.contains("FREEBUSY:20260305T100000Z/20260305T110000Z"));
    assert!(!out.contains("20260301T100000Z"));

    let doc = r#"<C:calendar-data xmlns:C="urn:ietf:params:xml:ns:caldav" content-type="application/calendar+json"/>"#;
    let el = parse_xml(doc.as_bytes(), Limits::default()).expect("xml");
    let err = parse_calendar_data(&el).expect_err("json");
    assert_eq!(err.precondition().name(), "supported-calendar-data");
}

// ---------------------------------------------------------------- free-busy

#[test]
fn free_busy_merges_and_filters() {
    let a = cal("BEGIN:VEVENT
UID:a
DTSTART:20260301T090000Z
DTEND:20260301T100000Z
END:VEVENT
");
    let b = cal("BEGIN:VEVENT
UID:b
DTSTART:20260301T093000Z
DTEND:20260301T110000Z
END:VEVENT
");
    let transparent = cal("BEGIN:VEVENT
UID:c
DTSTART:20260301T120000Z
DTEND:20260301T130000Z
TRANSP:TRANSPARENT
END:VEVENT
");
    let cancelled = cal("BEGIN:VEVENT
UID:d
DTSTART:20260301T140000Z
DTEND:20260301T150000Z
STATUS:CANCELLED
END:VEVENT
");
    let tentative = cal("BEGIN:VEVENT
UID:e
DTSTART:20260301T160000Z
DURATION:PT30M
STATUS:TENTATIVE
END:VEVENT
");
    let recurring = cal("BEGIN:VEVENT
UID:f
DTSTART;TZID=Europe/Berlin:20260228T230000
DTEND;TZID=Europe/Berlin:20260301T010000
RRULE:FREQ=DAILY
END:VEVENT
");
    let vfb = cal("BEGIN:VFREEBUSY
UID:g
FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20260301T180000Z/PT1H
FREEBUSY;FBTYPE=FREE:20260301T190000Z/PT1H
END:VFREEBUSY
");
    let range = TimeRange {
        start: Some(t("20260301T000000Z")),
        end: Some(t("20260302T000000Z")),
    };
    let out = free_busy(
        &[
            &a,
            &b,
            &transparent,
            &cancelled,
            &tentative,
            &recurring,
            &vfb,
            "garbage",
        ],
        range,
        100,
    );
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert!(lines.contains(&"DTSTART:20260301T000000Z"));
    assert!(lines.contains(&"DTEND:20260302T000000Z"));
    let fb: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|l| l.starts_with("FREEBUSY"))
        .collect();
    assert_eq!(
        fb,
        vec![
            // The Feb 28 instance (22:00Z-00:00Z) ends at the range start: left out.
            "FREEBUSY:20260301T090000Z/20260301T110000Z",
            "FREEBUSY:20260301T220000Z/20260302T000000Z",
            "FREEBUSY;FBTYPE=BUSY-TENTATIVE:20260301T160000Z/20260301T163000Z",
            "FREEBUSY;FBTYPE=BUSY-UNAVAILABLE:20260301T180000Z/20260301T190000Z",
        ]
    );
    assert_eq!(out.matches("BEGIN:VFREEBUSY").count(), 1);
}

#[test]
fn hostile_input_does_not_panic() {
    let bodies = [
        cal("BEGIN:VEVENT\nUID:h\nDTSTART:99991231T235959Z\nDURATION:P999999999W\nRRULE:FREQ=SECONDLY\nEND:VEVENT\n"),
        cal("BEGIN:VEVENT\nUID:h\nDTSTART:00000101T000000Z\nDURATION:-P999999999D\nRRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\nEND:VEVENT\n"),
        cal("BEGIN:VEVENT\nUID:h\nDTSTART;TZID=Nowhere/Special:20260101T100000\nRRULE:FREQ=DAILY;INTERVAL=0;UNTIL=garbage\nRDATE:bad,20260105T100000Z/PT1H\nEXDATE:also-bad\nBEGIN:VALARM\nTRIGGER:PT99999999999999999999H\nREPEAT:99999999\nDURATION:PT1S\nEND:VALARM\nEND:VEVENT\n"),
        "BEGIN:VCALENDAR\r\n ;;;\r\nBEGIN:VEVENT\r\nEND:VCALENDAR\r\n".to_string(),
        "BEGIN:VCALENDAR\r\nX;\"unterminated:quote\r\nEND:VCALENDAR\r\n".to_string(),
        String::new(),
    ];
    let f = filter(
        r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20260101T000000Z" end="20270101T000000Z"/><C:comp-filter name="VALARM"><C:time-range start="20260101T000000Z"/></C:comp-filter></C:comp-filter></C:comp-filter>"#,
    )
    .expect("filter");
    let req =
        caldata(r#"<C:expand start="20260101T000000Z" end="20260201T000000Z"/>"#).expect("req");
    for b in &bodies {
        let _ = inspect(b, ALL, 100);
        let _ = matches(&f, b, 100);
        let _ = render_calendar_data(&req, b, 100);
    }
    let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
    let out = free_busy(
        &refs,
        TimeRange {
            start: Some(0),
            end: Some(t("20300101T000000Z")),
        },
        100,
    );
    assert!(out.contains("BEGIN:VFREEBUSY"));
    // The rule that cannot be read still leaves DTSTART/RDATE instances and an open end.
    let info = inspect(&bodies[2], ALL, 100).expect("lenient about RRULE");
    assert_eq!(info.last_end, None);
}

// ---------------------------------------------------------------- end before start

fn span(comp: &str, start: &str, end: &str) -> String {
    let end_name = if comp == "VTODO" { "DUE" } else { "DTEND" };
    cal(&format!(
        "{}BEGIN:{comp}\nUID:s\nDTSTAMP:20260101T000000Z\nDTSTART{start}\n{end_name}{end}\nEND:{comp}\n",
        weekly_ny()
            .split("BEGIN:VEVENT")
            .next()
            .expect("the zone")
            .split_once("BEGIN:VTIMEZONE")
            .map(|(_, z)| format!("BEGIN:VTIMEZONE{z}"))
            .expect("the zone")
            .replace("\r\n", "\n")
    ))
}

#[test]
fn end_before_start_is_refused_in_every_kind_of_time() {
    let ny = ";TZID=America/New_York:";
    for (comp, start, end) in [
        ("VEVENT", ":20260105T100000Z", ":20260105T095959Z"),
        // 09:00 in New York is 14:00Z: later on the wall clock, earlier as an instant.
        ("VEVENT", ny, ":20260105T130000Z"),
        ("VEVENT", ":20260105T140001Z", ny),
        ("VEVENT", ";VALUE=DATE:20260105", ";VALUE=DATE:20260104"),
        ("VEVENT", ":20260105T100000", ":20260105T090000"),
        ("VEVENT", ";VALUE=DATE:20260105", ":20260104T230000"),
        ("VTODO", ":20260105T100000Z", ":20260104T100000Z"),
    ] {
        let fix = |v: &str| {
            if v == ny {
                format!("{ny}20260105T090000")
            } else {
                v.to_string()
            }
        };
        let body = span(comp, &fix(start), &fix(end));
        let e = inspect(&body, ALL, 10).expect_err(&body);
        assert!(matches!(e, CalError::EndBeforeStart { .. }), "{e:?}");
        assert_eq!(
            e.precondition(),
            crate::error::Precondition::ValidCalendarData
        );
    }
    for (comp, start, end) in [
        ("VEVENT", ":20260105T100000Z", ":20260105T100000Z"),
        ("VEVENT", ":20260105T140000Z", ny),
        ("VEVENT", ";VALUE=DATE:20260105", ";VALUE=DATE:20260105"),
        ("VEVENT", ";VALUE=DATE:20260105", ";VALUE=DATE:20260106"),
        ("VEVENT", ":20260105T090000", ":20260105T090000"),
        ("VTODO", ":20260105T100000Z", ":20260105T100000Z"),
    ] {
        let fix = |v: &str| {
            if v == ny {
                format!("{ny}20260105T090000")
            } else {
                v.to_string()
            }
        };
        let body = span(comp, &fix(start), &fix(end));
        inspect(&body, ALL, 10).unwrap_or_else(|e| panic!("{e}: {body}"));
    }
    // An overridden instance is checked like the master.
    let body = weekly_ny().replace(
        "DTEND;TZID=America/New_York:20260113T150000",
        "DTEND;TZID=America/New_York:20260113T130000",
    );
    assert!(matches!(
        inspect(&body, ALL, 10),
        Err(CalError::EndBeforeStart { .. })
    ));
}

// ---------------------------------------------------------------- bounds without expansion

/// The bounds a full expansion gives (the path `inspect` took for every series before the
/// reach of a rule was read from the rule).
fn expanded_bounds(body: &str, max: usize) -> (Option<i64>, Option<i64>) {
    let root = parse_calendar(body).expect("calendar");
    let zones = Zones::from_calendar(&root);
    let exp = time::expand(&root, "VEVENT", &zones, Window::default(), max);
    instants_span(ComponentKind::Vevent, &zones, &exp.instances, exp.unbounded)
}

fn berlin_event(rule: &str, extra: &str) -> String {
    cal(&format!(
        "BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:series
DTSTAMP:20260101T000000Z
DTSTART;TZID=Europe/Berlin:20260109T093000
DTEND;TZID=Europe/Berlin:20260109T103000
RRULE:{rule}
{extra}END:VEVENT
"
    ))
}

#[test]
fn finite_rules_computed_directly_match_their_expansion() {
    // Every rule here is finite and reached by arithmetic (or its UNTIL): the bounds must be
    // those of the full expansion, across DST changes, month ends and UNTIL forms.
    let rules = [
        "FREQ=DAILY;COUNT=1",
        "FREQ=DAILY;COUNT=400",
        "FREQ=WEEKLY;INTERVAL=2;COUNT=60",
        "FREQ=MONTHLY;COUNT=30",
        "FREQ=YEARLY;INTERVAL=3;COUNT=7",
        "FREQ=HOURLY;INTERVAL=5;COUNT=900",
        "FREQ=MINUTELY;INTERVAL=7;COUNT=3000",
        "FREQ=DAILY;UNTIL=20270315T083000Z",
        "FREQ=DAILY;UNTIL=20270315T083001Z",
        "FREQ=DAILY;UNTIL=20270315T082959Z",
        "FREQ=WEEKLY;UNTIL=20261031",
        "FREQ=MONTHLY;INTERVAL=2;UNTIL=20280109T093000",
        "FREQ=HOURLY;UNTIL=20261025T020000Z",
        "FREQ=DAILY;COUNT=50;UNTIL=20260201T000000Z",
        "FREQ=DAILY;COUNT=5;UNTIL=20270101T000000Z",
        "FREQ=DAILY;UNTIL=20200101T000000Z",
        "FREQ=DAILY;WKST=SU;COUNT=10",
    ];
    for rule in rules {
        let body = berlin_event(rule, "");
        let info = inspect(&body, ALL, 100_000).expect(rule);
        assert_eq!(
            (info.first_start, info.last_end),
            expanded_bounds(&body, 100_000),
            "{rule}"
        );
        assert!(info.last_end.is_some(), "{rule}");
    }
}

#[test]
fn until_with_by_parts_is_a_bound_not_an_expansion() {
    let body = berlin_event("FREQ=MONTHLY;BYDAY=2TU;UNTIL=20301231T230000Z", "");
    let info = inspect(&body, ALL, 100_000).expect("valid");
    let (lo, hi) = expanded_bounds(&body, 100_000);
    assert_eq!(info.first_start, lo);
    let (hi, got) = (
        hi.expect("finite"),
        info.last_end.expect("bounded by UNTIL"),
    );
    assert!(got >= hi, "the bound covers the last instance");
    assert!(
        got <= t("20301231T230000Z") + 2 * 3600 + 3600,
        "and stays near UNTIL"
    );
    // COUNT with BYxxx parts is still expanded (COUNT bounds the work).
    let body = berlin_event("FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=100", "");
    let info = inspect(&body, ALL, 100_000).expect("valid");
    assert_eq!(
        (info.first_start, info.last_end),
        expanded_bounds(&body, 100_000)
    );
}

#[test]
fn open_series_bounds_cover_exceptions_and_rdates() {
    // Never ending, with DTSTART excluded, an override moved before DTSTART and one moved
    // far ahead, and an RDATE before DTSTART: the lower bound is the earliest of them, there
    // is no upper bound, and no expansion was needed to say so.
    let body = berlin_event(
        "FREQ=WEEKLY;BYDAY=FR",
        "EXDATE;TZID=Europe/Berlin:20260109T093000
RDATE;TZID=Europe/Berlin:20251224T180000
END:VEVENT
BEGIN:VEVENT
UID:series
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20260116T093000
DTSTART;TZID=Europe/Berlin:20251201T120000
DTEND;TZID=Europe/Berlin:20251201T130000
END:VEVENT
BEGIN:VEVENT
UID:series
DTSTAMP:20260101T000000Z
RECURRENCE-ID;TZID=Europe/Berlin:20260123T093000
DTSTART;TZID=Europe/Berlin:20990101T120000
DTEND;TZID=Europe/Berlin:20990101T130000
",
    );
    let info = inspect(&body, ALL, 5000).expect("valid");
    assert_eq!(info.first_start, Some(t("20251201T110000Z")));
    assert_eq!(info.last_end, None);
    let month = |s: &str, e: &str| TimeRange {
        start: Some(t(s)),
        end: Some(t(e)),
    };
    // The index lets every window from the first instance on through; the filter decides.
    for (s, e, hit) in [
        ("20251130T000000Z", "20251202T000000Z", true), // override moved back
        ("20251224T000000Z", "20251225T000000Z", true), // RDATE
        ("20260109T000000Z", "20260110T000000Z", false), // EXDATE'd DTSTART
        ("20260116T000000Z", "20260117T000000Z", false), // overridden instance's old slot
        ("20260123T000000Z", "20260124T000000Z", false), // moved away to 2099
        ("20260130T000000Z", "20260131T000000Z", true), // plain Friday
        ("20350104T000000Z", "20350105T000000Z", false), // a Thursday
        ("20350105T000000Z", "20350106T000000Z", true), // Friday 2035-01-05
        ("20990101T000000Z", "20990102T000000Z", true), // override far ahead
    ] {
        let tr = month(s, e);
        assert!(info.may_overlap(&tr), "{s}");
        assert_eq!(
            matches(&tr_filter("VEVENT", s, e), &body, 5000),
            hit,
            "{s}..{e}"
        );
    }
    assert!(!info.may_overlap(&month("20251101T000000Z", "20251130T000000Z")));
}

#[test]
fn finite_series_with_rdate_after_its_last_rule_instance() {
    let body = berlin_event(
        "FREQ=DAILY;COUNT=3",
        "RDATE;TZID=Europe/Berlin:20260301T093000\n",
    );
    let info = inspect(&body, ALL, 100).expect("valid");
    assert_eq!(info.last_end, Some(t("20260301T093000Z")));
    assert_eq!(
        (info.first_start, info.last_end),
        expanded_bounds(&body, 100)
    );
    assert!(matches(
        &tr_filter("VEVENT", "20260301T000000Z", "20260302T000000Z"),
        &body,
        100
    ));
    assert!(!matches(
        &tr_filter("VEVENT", "20260112T000000Z", "20260301T000000Z"),
        &body,
        100
    ));
}

#[test]
fn rule_reach_reads_the_rule_instead_of_expanding_it() {
    use reach::{rule_reach, Reach};
    let start = time::parse_dt_text("20260109T093000", Some("Europe/Berlin"), &Zones::default())
        .expect("dtstart");
    assert_eq!(rule_reach("FREQ=DAILY", &start), Reach::Open);
    assert_eq!(rule_reach("FREQ=WEEKLY;BYDAY=MO,FR", &start), Reach::Open);
    let Reach::LastStart { start: last, exact } = rule_reach("FREQ=MONTHLY;COUNT=13", &start)
    else {
        panic!("a simple COUNT rule is computed");
    };
    assert!(exact);
    assert_eq!(time::fmt_utc(last.utc()), "20270109T083000Z");
    assert!(matches!(
        rule_reach("FREQ=WEEKLY;BYDAY=MO;UNTIL=20300101T000000Z", &start),
        Reach::LastStart { exact: false, .. }
    ));
    assert_eq!(
        rule_reach("FREQ=WEEKLY;BYDAY=MO;COUNT=9", &start),
        Reach::Expand
    );
    assert_eq!(
        rule_reach("FREQ=WEEKLY;BYDAY=MO;COUNT=501", &start),
        Reach::Open
    );
    // Monthly from the 31st skips short months: left to expansion.
    let end_of_month =
        time::parse_dt_text("20260131T093000Z", None, &Zones::default()).expect("dtstart");
    assert_eq!(
        rule_reach("FREQ=MONTHLY;COUNT=9", &end_of_month),
        Reach::Expand
    );
    assert_eq!(rule_reach("COUNT=9", &start), Reach::Expand);
    assert_eq!(rule_reach("FREQ=DAILY;COUNT=x", &start), Reach::Expand);
}
