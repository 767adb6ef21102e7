use super::*;
use crate::record::Record;
use serde_json::json;
use serde_json::Value;
use std::collections::HashMap;

fn mapping(toml: &str) -> Mapping {
    Mapping::from_toml_str(
        toml,
        &HashMap::new(),
        Some("acme".into()),
        Some("things".into()),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn rec(id: &str, data: Value) -> Record {
    Record {
        id: id.into(),
        data,
        modified: None,
        version: None,
    }
}

/// The repository root, where the shipped `mappings/` live (this crate sits in `crates/`).
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn repo_mapping(entity: &str) -> Mapping {
    let path = format!("{REPO}/mappings/amagi-crm/{entity}.toml");
    Mapping::load(path).unwrap_or_else(|e| panic!("{e}"))
}

fn unfolded(s: &str) -> Vec<String> {
    text::unfold(s)
}

fn line<'a>(lines: &'a [String], prefix: &str) -> &'a str {
    // Look inside the item itself (VTIMEZONE has DTSTART lines too).
    let start = lines
        .iter()
        .position(|l| matches!(l.as_str(), "BEGIN:VEVENT" | "BEGIN:VTODO" | "BEGIN:VCARD"))
        .unwrap_or(0);
    lines[start..]
        .iter()
        .find(|l| l.starts_with(prefix))
        .map(String::as_str)
        .unwrap_or_else(|| panic!("no line {prefix} in {lines:#?}"))
}

fn wrap_event(props: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20260101T000000Z\r\n{props}END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

const EVENT: &str = r#"
component = "VEVENT"
timezone = "Europe/Berlin"
[all_day]
mode = "midnight"
[[field]]
property = "SUMMARY"
path = "title"
[[field]]
property = "DTSTART"
path = "start"
type = "datetime"
write_format = "offset"
[[field]]
property = "DTEND"
path = "end"
type = "datetime"
write_format = "local"
[[field]]
property = "DESCRIPTION"
path = "notes"
default = "(none)"
[[field]]
property = "STATUS"
path = "status"
type = "enum"
values = { booked = "CONFIRMED", cancelled = "CANCELLED", "1" = "TENTATIVE" }
[[field]]
property = "ATTENDEE"
path = "attendees[].email"
type = "list"
prefix = "mailto:"
[[field]]
property = "CATEGORIES"
path = "tags"
type = "list"
style = "comma"
[[field]]
property = "DURATION"
path = "minutes"
type = "duration"
access = "read_only"
[[field]]
property = "X-REF"
path = "ref"
access = "read_only"
[[field]]
property = "X-OWNER"
path = "owner_id"
value_type = "integer"
absent = "omit"
"#;

#[test]
fn text_rules_escape_both_ways() {
    let m = mapping(EVENT);
    let out = m.to_component(&rec(
        "7",
        json!({"title": "Lunch, talk; plan \\ it", "notes": "line1\nline2", "start": "2026-12-01T10:00:00+01:00"}),
    ));
    let lines = unfolded(&out);
    assert_eq!(
        line(&lines, "SUMMARY"),
        "SUMMARY:Lunch\\, talk\\; plan \\\\ it"
    );
    assert_eq!(line(&lines, "DESCRIPTION"), "DESCRIPTION:line1\\nline2");
    let patch = m.to_record(&out).unwrap();
    assert_eq!(patch["title"], "Lunch, talk; plan \\ it");
    assert_eq!(patch["notes"], "line1\nline2");
}

#[test]
fn defaults_read_only_and_absent() {
    let m = mapping(EVENT);
    let out = m.to_component(&rec(
        "7",
        json!({"title": "x", "ref": "R-1", "minutes": 45}),
    ));
    let lines = unfolded(&out);
    assert_eq!(line(&lines, "DESCRIPTION"), "DESCRIPTION:(none)");
    assert_eq!(line(&lines, "X-REF"), "X-REF:R-1");
    assert_eq!(line(&lines, "DURATION"), "DURATION:PT45M");
    let patch = m
        .to_record(&wrap_event("SUMMARY:x\r\nX-REF:changed\r\nX-OWNER:42\r\n"))
        .unwrap();
    // read-only never written; absent → default / null / omitted.
    assert!(patch.get("ref").is_none(), "{patch}");
    assert!(patch.get("minutes").is_none(), "{patch}");
    assert_eq!(patch["notes"], "(none)");
    assert_eq!(patch["start"], Value::Null);
    assert_eq!(patch["owner_id"], 42);
    let patch = m.to_record(&wrap_event("SUMMARY:x\r\n")).unwrap();
    assert!(patch.get("owner_id").is_none(), "absent=omit: {patch}");
    let err = m
        .to_record(&wrap_event("SUMMARY:x\r\nX-OWNER:abc\r\n"))
        .unwrap_err();
    assert!(
        matches!(err, MappingError::Invalid { ref property, .. } if property == "X-OWNER"),
        "{err}"
    );
}

#[test]
fn datetimes_offsets_naive_and_zones() {
    let m = mapping(EVENT);
    // Offset input, naive input (= Berlin local), Z input: all rendered as Berlin local time.
    let out = m.to_component(&rec(
        "1",
        json!({"title": "t", "start": "2027-03-27T22:00:00+01:00", "end": "2027-03-28T02:00:00Z"}),
    ));
    let lines = unfolded(&out);
    assert_eq!(
        line(&lines, "DTSTART"),
        "DTSTART;TZID=Europe/Berlin:20270327T220000"
    );
    assert_eq!(
        line(&lines, "DTEND"),
        "DTEND;TZID=Europe/Berlin:20270328T040000"
    );
    assert!(
        out.contains("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin"),
        "{out}"
    );
    assert!(out.contains("TZOFFSETTO:+0200"), "{out}");
    assert_eq!(out.matches("BEGIN:VTIMEZONE").count(), 1);
    let patch = m.to_record(&out).unwrap();
    assert_eq!(patch["start"], "2027-03-27T22:00:00+01:00");
    assert_eq!(patch["end"], "2027-03-28T04:00:00", "write_format local");

    let naive = m.to_component(&rec("1", json!({"start": "2026-12-01T10:00"})));
    assert!(
        naive.contains("DTSTART;TZID=Europe/Berlin:20261201T100000"),
        "{naive}"
    );

    // A Windows zone name from Outlook, a UTC time and a floating time, parsed back.
    let body = wrap_event(
        "DTSTART;TZID=\"W. Europe Standard Time\":20260701T090000\r\nDTEND:20260701T100000Z\r\n",
    );
    let patch = m.to_record(&body).unwrap();
    assert_eq!(patch["start"], "2026-07-01T09:00:00+02:00");
    assert_eq!(patch["end"], "2026-07-01T12:00:00");
    let body = wrap_event(
        "DTSTART;TZID=Pacific Standard Time:20260701T090000\r\nDTEND:20260701T100000\r\n",
    );
    let patch = m.to_record(&body).unwrap();
    assert_eq!(patch["start"], "2026-07-01T18:00:00+02:00");
    assert_eq!(
        patch["end"], "2026-07-01T10:00:00",
        "floating = CRM local time"
    );
    // DTEND missing: DTSTART + DURATION.
    let body = wrap_event("DTSTART:20260701T090000Z\r\nDURATION:PT1H30M\r\n");
    let patch = m.to_record(&body).unwrap();
    assert_eq!(patch["end"], "2026-07-01T12:30:00");
    // Garbage is refused, with the property named.
    let err = m
        .to_record(&wrap_event("DTSTART:tomorrow\r\n"))
        .unwrap_err();
    assert!(matches!(err, MappingError::Invalid { ref property, .. } if property == "DTSTART"));
}

#[test]
fn utc_output_and_windows_mapping_zone() {
    let m = mapping(
        r#"
component = "VEVENT"
timezone = "W. Europe Standard Time"
[[field]]
property = "DTSTART"
path = "start"
type = "datetime"
output = "utc"
write_format = "rfc3339"
[[field]]
property = "DTEND"
path = "end"
type = "datetime"
"#,
    );
    let out = m.to_component(&rec(
        "1",
        json!({"start": "2026-12-01T10:00:00", "end": "2026-12-01T11:00:00"}),
    ));
    let lines = unfolded(&out);
    assert_eq!(line(&lines, "DTSTART"), "DTSTART:20261201T090000Z");
    assert_eq!(
        line(&lines, "DTEND"),
        "DTEND;TZID=Europe/Berlin:20261201T110000"
    );
    let patch = m.to_record(&out).unwrap();
    assert_eq!(patch["start"], "2026-12-01T09:00:00Z");
    assert_eq!(patch["end"], "2026-12-01T11:00:00+01:00");
}

#[test]
fn all_day_midnight_both_ways() {
    let m = mapping(EVENT);
    let out = m.to_component(&rec(
        "3",
        json!({"title": "Conference", "start": "2026-12-08T00:00:00+01:00", "end": "2026-12-11T00:00:00+01:00"}),
    ));
    let lines = unfolded(&out);
    assert_eq!(line(&lines, "DTSTART"), "DTSTART;VALUE=DATE:20261208");
    assert_eq!(line(&lines, "DTEND"), "DTEND;VALUE=DATE:20261211");
    assert!(!out.contains("VTIMEZONE"), "no TZID used, no VTIMEZONE");
    let patch = m.to_record(&out).unwrap();
    assert_eq!(patch["start"], "2026-12-08T00:00:00+01:00");
    assert_eq!(patch["end"], "2026-12-11T00:00:00");
    // Only one end at midnight: not all-day.
    let out = m.to_component(&rec(
        "3",
        json!({"start": "2026-12-08T00:00:00+01:00", "end": "2026-12-08T09:00:00+01:00"}),
    ));
    assert!(
        out.contains("DTSTART;TZID=Europe/Berlin:20261208T000000"),
        "{out}"
    );
    // A DATE without DTEND lasts one day (RFC 5545 §3.6.1).
    let patch = m
        .to_record(&wrap_event("DTSTART;VALUE=DATE:20270101\r\n"))
        .unwrap();
    assert_eq!(patch["start"], "2027-01-01T00:00:00+01:00");
    assert_eq!(patch["end"], "2027-01-02T00:00:00");
}

#[test]
fn all_day_flag_mode() {
    let m = mapping(
        r#"
component = "VEVENT"
timezone = "America/New_York"
[all_day]
mode = "flag"
flag = "is_all_day"
[[field]]
property = "DTSTART"
path = "start"
type = "datetime"
write_format = "date"
"#,
    );
    let out = m.to_component(&rec(
        "1",
        json!({"start": "2026-12-08", "is_all_day": true}),
    ));
    assert!(out.contains("DTSTART;VALUE=DATE:20261208"), "{out}");
    let patch = m.to_record(&out).unwrap();
    assert_eq!(patch, json!({"start": "2026-12-08", "is_all_day": true}));
    let patch = m
        .to_record(&wrap_event("DTSTART:20261208T150000Z\r\n"))
        .unwrap();
    assert_eq!(patch["is_all_day"], false);
}

#[test]
fn enum_tables_both_ways() {
    let m = mapping(EVENT);
    let out = m.to_component(&rec("1", json!({"status": "cancelled"})));
    assert!(out.contains("STATUS:CANCELLED"));
    let out = m.to_component(&rec("1", json!({"status": 1})));
    assert!(out.contains("STATUS:TENTATIVE"), "numeric CRM codes: {out}");
    assert_eq!(m.to_record(&out).unwrap()["status"], 1);
    let patch = m.to_record(&wrap_event("STATUS:confirmed\r\n")).unwrap();
    assert_eq!(patch["status"], "booked");
    let err = m.to_record(&wrap_event("STATUS:MAYBE\r\n")).unwrap_err();
    assert!(err.to_string().contains("not one of"), "{err}");

    let tasks = repo_mapping("tasks");
    let out = tasks.to_component(&rec("2", json!({"title": "t", "done": true})));
    assert!(out.contains("STATUS:COMPLETED"), "{out}");
    assert_eq!(tasks.to_record(&out).unwrap()["done"], true);
    let todo = "BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nSUMMARY:x\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
    assert_eq!(
        tasks.to_record(todo).unwrap()["done"],
        false,
        "default NEEDS-ACTION"
    );
    let todo =
        "BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nSTATUS:IN-PROCESS\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
    assert_eq!(
        tasks.to_record(todo).unwrap()["done"],
        false,
        "write_values"
    );
}

#[test]
fn lists_repeat_and_comma() {
    let m = mapping(EVENT);
    let out = m.to_component(&rec(
        "1",
        json!({"attendees": [{"email": "a@x.org"}, {"email": null}, {"email": "b@x.org"}], "tags": ["vip", "a,b"]}),
    ));
    let lines = unfolded(&out);
    let att: Vec<&String> = lines.iter().filter(|l| l.starts_with("ATTENDEE")).collect();
    assert_eq!(
        att,
        vec!["ATTENDEE:mailto:a@x.org", "ATTENDEE:mailto:b@x.org"]
    );
    assert_eq!(line(&lines, "CATEGORIES"), "CATEGORIES:vip,a\\,b");
    let body = wrap_event(
        "ATTENDEE;CN=A;PARTSTAT=ACCEPTED:MAILTO:a@x.org\r\nATTENDEE:mailto:c@x.org\r\nCATEGORIES:vip,a\\,b\r\nCATEGORIES:more\r\n",
    );
    let patch = m.to_record(&body).unwrap();
    assert_eq!(
        patch["attendees"],
        json!([{"email": "a@x.org"}, {"email": "c@x.org"}])
    );
    assert_eq!(patch["tags"], json!(["vip", "a,b", "more"]));
    let patch = m.to_record(&wrap_event("SUMMARY:x\r\n")).unwrap();
    assert_eq!(patch["tags"], json!([]), "absent list clears");
}

#[test]
fn durations() {
    assert_eq!(format_duration(45 * 60), "PT45M");
    assert_eq!(format_duration(86_400 + 7200), "P1DT2H");
    assert_eq!(format_duration(0), "PT0S");
    assert_eq!(format_duration(-300), "-PT5M");
    assert_eq!(parse_duration("PT1H30M"), Some(5400));
    assert_eq!(parse_duration("P1W"), Some(604_800));
    assert_eq!(parse_duration("-P2D"), Some(-172_800));
    assert_eq!(parse_duration("PT"), None);
    assert_eq!(parse_duration("P1H"), None);
    let m = mapping(
        r#"
component = "VEVENT"
[[field]]
property = "DURATION"
path = "duration_minutes"
type = "duration"
"#,
    );
    let out = m.to_component(&rec("1", json!({"duration_minutes": 90})));
    assert!(out.contains("DURATION:PT1H30M"));
    assert_eq!(m.to_record(&out).unwrap()["duration_minutes"], 90);
}

#[test]
fn vcard_templates_structured_and_versions() {
    let m = repo_mapping("contacts");
    let zoe = rec(
        "6",
        json!({"id": 6, "first_name": "Zoë", "last_name": "Müller-Lüdenscheidt", "email": "zoe.mueller@example.de",
               "phone": "+49 30 901820", "company": "Bäckerei Müller GmbH", "tags": ["client", "de"],
               "notes": "Comma, semicolon; backslash \\ test", "updated_at": "2026-11-26T08:34:41.375274+01:00"}),
    );
    let v3 = m.to_component(&zoe);
    let lines = unfolded(&v3);
    assert_eq!(lines[0], "BEGIN:VCARD");
    assert_eq!(lines[1], "VERSION:3.0");
    assert_eq!(line(&lines, "UID"), "UID:amagi-crm-contacts-6@crmdav");
    assert_eq!(line(&lines, "FN"), "FN:Zoë Müller-Lüdenscheidt");
    assert_eq!(line(&lines, "N:"), "N:Müller-Lüdenscheidt;Zoë;;;");
    assert_eq!(line(&lines, "ORG"), "ORG:Bäckerei Müller GmbH");
    assert_eq!(line(&lines, "TEL"), "TEL;TYPE=VOICE:+49 30 901820");
    assert_eq!(line(&lines, "CATEGORIES"), "CATEGORIES:client,de");
    assert_eq!(
        line(&lines, "NOTE"),
        "NOTE:Comma\\, semicolon\\; backslash \\\\ test"
    );
    assert_eq!(line(&lines, "REV"), "REV:20261126T073441Z");
    let v4 = m.to_vcard(&zoe, VCardVersion::V4);
    assert!(v4.starts_with("BEGIN:VCARD\r\nVERSION:4.0\r\n"), "{v4}");

    let patch = m.to_record(&v3).unwrap();
    assert_eq!(
        patch,
        json!({"first_name": "Zoë", "last_name": "Müller-Lüdenscheidt", "company": "Bäckerei Müller GmbH",
               "email": "zoe.mueller@example.de", "phone": "+49 30 901820", "tags": ["client", "de"],
               "notes": "Comma, semicolon; backslash \\ test"}),
        "FN (template) and REV (read-only) are not written"
    );
    // Template fallback: a company-only contact gets its company as FN, and an empty N.
    let acme = m.to_component(&rec(
        "19",
        json!({"first_name": null, "last_name": null, "company": "ACME Corp"}),
    ));
    let lines = unfolded(&acme);
    assert_eq!(line(&lines, "FN"), "FN:ACME Corp");
    assert_eq!(line(&lines, "N:"), "N:;;;;");
    let patch = m.to_record(&acme).unwrap();
    assert_eq!(patch["first_name"], Value::Null);
    assert_eq!(patch["company"], "ACME Corp");
    // An iOS card: grouped properties, TYPE lists, a semicolon inside N, folded lines.
    let ios = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe\\;Smith;Jane;;;\r\nFN:Jane Doe\r\nitem1.EMAIL;type=INTERNET;type=pref:jane@x.org\r\nTEL;type=CELL;type=VOICE;type=pref:+1 555\r\n 0100\r\nEND:VCARD\r\n";
    let patch = m.to_record(ios).unwrap();
    assert_eq!(patch["last_name"], "Doe;Smith");
    assert_eq!(patch["email"], "jane@x.org");
    assert_eq!(patch["phone"], "+1 5550100");
}

#[test]
fn params_pick_the_right_property() {
    let m = mapping(
        r#"
component = "VCARD"
[[field]]
property = "TEL"
path = "mobile"
params = { TYPE = "CELL" }
[[field]]
property = "TEL"
path = "office"
params = { TYPE = "WORK" }
"#,
    );
    let card = "BEGIN:VCARD\r\nVERSION:4.0\r\nFN:x\r\nTEL;TYPE=work,voice:+1\r\nTEL;TYPE=cell:+2\r\nEND:VCARD\r\n";
    assert_eq!(
        m.to_record(card).unwrap(),
        json!({"mobile": "+2", "office": "+1"})
    );
    let out = m.to_component(&rec("1", json!({"mobile": "+2", "office": "+1"})));
    assert!(
        out.contains("TEL;TYPE=CELL:+2\r\nTEL;TYPE=WORK:+1\r\n"),
        "{out}"
    );
}

#[test]
fn uid_and_determinism() {
    let m = repo_mapping("appointments");
    let r = rec(
        "8",
        json!({"id": 8, "title": "Kaffee mit Zoë ☕", "start": "2026-11-27T10:00:00+01:00", "end": "2026-11-27T11:00:00+01:00",
               "status": "booked", "source": "staff", "contact_id": 6, "created_at": "2026-11-26T08:34:41.671130+01:00"}),
    );
    assert_eq!(m.uid_for(&r), "amagi-crm-appointments-8@crmdav");
    let a = m.to_component(&r);
    assert_eq!(a, m.to_component(&r), "same record, same bytes");
    assert!(a.contains("DTSTAMP:20261126T073441Z"), "{a}");
    assert!(a.contains("STATUS:CONFIRMED"));
    assert!(a.contains("X-AMAGI-CONTACT-ID:6"));
    for l in a.split("\r\n") {
        assert!(l.len() <= 75, "folded: {l}");
    }
    let patch = m.to_record(&a).unwrap();
    assert_eq!(
        patch,
        json!({"title": "Kaffee mit Zoë ☕", "start": "2026-11-27T10:00:00+01:00", "end": "2026-11-27T11:00:00+01:00",
               "location": null, "notes": null, "contact_id": 6})
    );
    let custom = mapping("component = \"VTODO\"\nuid = \"task-{id}-{title}@example\"\n[[field]]\nproperty = \"SUMMARY\"\npath = \"title\"\n");
    assert_eq!(
        custom.uid_for(&rec("5", json!({"title": "x"}))),
        "task-5-x@example"
    );
    assert_eq!(
        custom
            .to_component_with_uid(&rec("5", json!({})), "client-uid")
            .matches("UID:client-uid")
            .count(),
        1
    );
}

#[test]
fn recurrence_overrides_are_skipped_and_bad_bodies_refused() {
    let m = mapping(EVENT);
    let body = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nRECURRENCE-ID:20260102T090000Z\r\nSUMMARY:override\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nSUMMARY:master\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_eq!(m.to_record(body).unwrap()["title"], "master");
    assert!(matches!(
        m.to_record("BEGIN:VCARD\r\nEND:VCARD\r\n"),
        Err(MappingError::Parse(_))
    ));
    assert!(matches!(m.to_record(""), Err(MappingError::Parse(_))));
}

#[test]
fn tasks_dates() {
    let m = repo_mapping("tasks");
    let out = m.to_component(&rec(
        "2",
        json!({"id": 2, "title": "Prepare slides", "due_date": "2026-12-24", "done": true,
               "completed_at": "2026-11-26T08:35:11.599662+01:00", "created_at": "2026-11-26T08:34:41.884984+01:00"}),
    ));
    assert!(out.contains("BEGIN:VTODO"), "{out}");
    assert!(out.contains("DUE;VALUE=DATE:20261224"), "{out}");
    assert!(out.contains("COMPLETED:20261126T073511Z"), "{out}");
    let patch = m.to_record(&out).unwrap();
    assert_eq!(patch["due_date"], "2026-12-24");
    assert!(patch.get("completed_at").is_none());
    // A DUE date-time becomes the local date.
    let todo =
        "BEGIN:VCALENDAR\r\nBEGIN:VTODO\r\nDUE:20261224T230000Z\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
    assert_eq!(m.to_record(todo).unwrap()["due_date"], "2026-12-25");
}

#[test]
fn config_errors() {
    let bad = |t: &str| Mapping::from_toml_str(t, &HashMap::new(), None, None).unwrap_err();
    assert!(bad("component = \"VJOURNAL\"").contains("VJOURNAL"));
    assert!(bad("component = \"VEVENT\"\ntimezone = \"Mars/Base\"").contains("time zone"));
    assert!(bad(
        "component = \"VEVENT\"\n[[field]]\nproperty = \"X\"\ntype = \"enum\"\npath = \"a\""
    )
    .contains("enum"));
    assert!(bad("component = \"VEVENT\"\n[[field]]\nproperty = \"X\"").contains("path"));
    let opts: HashMap<String, String> = [("timezone".to_string(), "Asia/Tokyo".to_string())].into();
    let m = Mapping::from_toml_str(
        "component = \"VEVENT\"\ntimezone = \"${timezone:-UTC}\"\n[[field]]\nproperty = \"DTSTART\"\npath = \"s\"\ntype = \"datetime\"\n",
        &opts,
        None,
        None,
    )
    .unwrap();
    assert!(m
        .to_component(&rec("1", json!({"s": "2026-01-01T00:00:00Z"})))
        .contains("DTSTART;TZID=Asia/Tokyo:20260101T090000"));
}

#[test]
fn also_paths_empty_strict_params_and_inclusive_all_day_end() {
    let t = r#"
component = "VEVENT"
timezone = "America/New_York"
[all_day]
mode = "flag"
flag = "allday"
date_zone = "UTC"
inclusive_end = true
[[field]]
property = "DTSTART"
path = "start"
type = "datetime"
write_format = "rfc3339"
also_paths = ["stamp"]
[[field]]
property = "DTEND"
path = "end"
type = "datetime"
write_format = "rfc3339"
[[field]]
property = "LOCATION"
path = "where"
absent = "empty"
[[field]]
property = "X-CELL"
path = "cell"
params = { TYPE = "CELL" }
params_match = "strict"
[[field]]
property = "X-CELL"
path = "other"
"#;
    let m = Mapping::from_toml_str(t, &HashMap::new(), None, None).unwrap();
    // Salesforce-style all-day: midnight UTC of the first and last day.
    let r = rec(
        "1",
        json!({"start": "2030-02-03T00:00:00.000+0000", "end": "2030-02-04T00:00:00.000+0000", "allday": true}),
    );
    let ics = m.to_component(&r);
    assert!(ics.contains("DTSTART;VALUE=DATE:20300203\r\n"), "{ics}");
    assert!(ics.contains("DTEND;VALUE=DATE:20300205\r\n"), "{ics}");
    let patch = m.to_record(&ics).unwrap();
    assert_eq!(
        patch,
        json!({"start": "2030-02-03T00:00:00Z", "stamp": "2030-02-03T00:00:00Z",
               "end": "2030-02-04T00:00:00Z", "where": "", "other": null, "cell": null, "allday": true})
    );
    // One-day all-day event without DTEND: start = end day.
    let body = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;VALUE=DATE:20300210\r\nX-CELL:+1 555\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let patch = m.to_record(body).unwrap();
    assert_eq!(patch["end"], "2030-02-10T00:00:00Z");
    // Strict: an untyped X-CELL does not go to `cell`; the lenient rule takes it.
    assert_eq!(patch["cell"], Value::Null);
    assert_eq!(patch["other"], "+1 555");
}

#[test]
fn all_day_ends_inside_the_last_day_and_inclusive_end_agree() {
    // A CRM whose all-day end is 23:59 of the last day (Zoho) and one whose end is midnight of
    // the last day (`inclusive_end`): both render the same exclusive DATE end, never two days.
    let base = r#"
component = "VEVENT"
timezone = "Europe/Berlin"
[all_day]
mode = "flag"
flag = "allday"
[[field]]
property = "DTSTART"
path = "start"
type = "datetime"
[[field]]
property = "DTEND"
path = "end"
type = "datetime"
"#;
    let r = rec(
        "1",
        json!({"start": "2030-02-03T00:00:00+01:00", "end": "2030-02-03T23:59:00+01:00", "allday": true}),
    );
    for extra in ["", "inclusive_end = true\n"] {
        let t = base.replace(
            "flag = \"allday\"\n",
            &format!("flag = \"allday\"\n{extra}"),
        );
        let ics = mapping(&t).to_component(&r);
        assert!(
            ics.contains("DTEND;VALUE=DATE:20300204\r\n"),
            "{extra}: {ics}"
        );
    }
    // Midnight ends: exclusive by default, the last day with inclusive_end.
    let r = rec(
        "1",
        json!({"start": "2030-02-03T00:00:00+01:00", "end": "2030-02-04T00:00:00+01:00", "allday": true}),
    );
    assert!(mapping(base)
        .to_component(&r)
        .contains("DTEND;VALUE=DATE:20300204\r\n"));
    let t = base.replace(
        "flag = \"allday\"\n",
        "flag = \"allday\"\ninclusive_end = true\n",
    );
    assert!(mapping(&t)
        .to_component(&r)
        .contains("DTEND;VALUE=DATE:20300205\r\n"));
}

#[test]
fn split_date_time_with_inclusive_end_writes_the_last_day() {
    let t = r#"
component = "VEVENT"
timezone = "UTC"
[all_day]
mode = "midnight"
inclusive_end = true
[[field]]
property = "DTSTART"
path = "start_date"
time_path = "start_time"
type = "datetime"
[[field]]
property = "DTEND"
path = "end_date"
time_path = "end_time"
type = "datetime"
"#;
    let m = mapping(t);
    let r = rec(
        "1",
        json!({"start_date": "2030-02-03", "start_time": "", "end_date": "2030-02-04", "end_time": null}),
    );
    let ics = m.to_component(&r);
    assert!(ics.contains("DTSTART;VALUE=DATE:20300203\r\n"), "{ics}");
    assert!(ics.contains("DTEND;VALUE=DATE:20300205\r\n"), "{ics}");
    let patch = m.to_record(&ics).unwrap();
    assert_eq!(patch["end_date"], "2030-02-04");
    assert_eq!(patch["end_time"], Value::Null);
}

#[test]
fn params_match_strict_and_the_rule_aware_fallback_together() {
    // `work` prefers TYPE=WORK and may fall back, but never to a CELL phone (that one belongs
    // to `cell`); `cell` is strict: an untyped TEL never lands there.
    let t = r#"
component = "VCARD"
[[field]]
property = "TEL"
path = "work"
params = { TYPE = "WORK" }
[[field]]
property = "TEL"
path = "cell"
params = { TYPE = "CELL" }
params_match = "strict"
"#;
    let m = mapping(t);
    let card =
        |tels: &str| format!("BEGIN:VCARD\r\nVERSION:4.0\r\nUID:x\r\nFN:X\r\n{tels}END:VCARD\r\n");
    let p = m.to_record(&card("TEL;TYPE=CELL:+1 1\r\n")).unwrap();
    assert_eq!((&p["work"], &p["cell"]), (&Value::Null, &json!("+1 1")));
    let p = m.to_record(&card("TEL:+1 2\r\n")).unwrap();
    assert_eq!((&p["work"], &p["cell"]), (&json!("+1 2"), &Value::Null));
    let p = m
        .to_record(&card("TEL;TYPE=CELL:+1 1\r\nTEL;TYPE=WORK:+1 3\r\n"))
        .unwrap();
    assert_eq!((&p["work"], &p["cell"]), (&json!("+1 3"), &json!("+1 1")));
}

/// What `crm::Binding` used to compute from the mapping text, kept here as the reference
/// [`Mapping::mapped_properties`] must agree with.
fn mapped_properties_from_text(text: &str) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    if let Ok(v) = text.parse::<toml::Table>() {
        if let Some(toml::Value::Array(fields)) = v.get("field") {
            for f in fields {
                if let Some(p) = f.get("property").and_then(|p| p.as_str()) {
                    out.insert(p.to_ascii_uppercase());
                }
            }
        }
        if let Some(props) = v
            .get("all_day")
            .and_then(|a| a.get("properties"))
            .and_then(|p| p.as_array())
        {
            for p in props.iter().filter_map(|p| p.as_str()) {
                out.insert(p.to_ascii_uppercase());
            }
        }
    }
    out
}

#[test]
fn mapped_properties_agree_with_the_mapping_text_on_every_shipped_mapping() {
    let root = std::path::Path::new(REPO).join("mappings");
    let mut seen = 0;
    for crm in std::fs::read_dir(&root).unwrap() {
        for file in std::fs::read_dir(crm.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            if path.extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let m = Mapping::load(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(
                m.mapped_properties(),
                mapped_properties_from_text(&text),
                "{}",
                path.display()
            );
            seen += 1;
        }
    }
    assert!(seen >= 13, "only {seen} mappings found");
    // Named all-day properties count; the defaults alone do not.
    let named = mapping(
        "component = \"VEVENT\"\n[all_day]\nmode = \"midnight\"\nproperties = [\"dtstart\"]\n",
    );
    assert_eq!(named.mapped_properties(), ["DTSTART".to_string()].into());
    let defaulted = mapping("component = \"VEVENT\"\n[all_day]\nmode = \"midnight\"\n");
    assert!(defaulted.mapped_properties().is_empty());
}
