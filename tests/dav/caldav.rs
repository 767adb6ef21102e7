//! CalDAV (RFC 4791): MKCALENDAR, PUT preconditions, calendar-multiget, calendar-query,
//! calendar-data with expand and partial selection, free-busy-query.

use crate::support::dav::*;
use crate::support::demo::*;

const CQ_HEAD: &str = r#"<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">"#;

fn cal_query(c: &Client, coll: &str, prop: &str, filter: &str) -> Ms {
    let body =
        format!("{CQ_HEAD}<D:prop>{prop}</D:prop><C:filter>{filter}</C:filter></C:calendar-query>");
    c.report(coll, "1", &body).multistatus()
}

/// Names (last href segment) of the responses with 200 propstats.
fn names(ms: &Ms) -> Vec<String> {
    let mut v: Vec<String> = ms
        .responses()
        .into_iter()
        .filter(|r| r.status.is_none())
        .map(|r| r.href().rsplit('/').next().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn vevent_filter(inner: &str) -> String {
    format!(
        r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">{inner}</C:comp-filter></C:comp-filter>"#
    )
}

fn tr(start: &str, end: &str) -> String {
    format!(r#"<C:time-range start="{start}" end="{end}"/>"#)
}

#[test]
fn mkcalendar_then_propfind() {
    let d = demo();
    let path = format!("{CAL_HOME}{}/", unique("mkcal"));
    let body = r#"<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="http://apple.com/ns/ical/"><D:set><D:prop><D:displayname>Board meetings</D:displayname><C:calendar-description>Quarterly</C:calendar-description><A:calendar-color>#00FF00FF</A:calendar-color><C:supported-calendar-component-set><C:comp name="VEVENT"/><C:comp name="VTODO"/></C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>"#;
    let r = d.mkcalendar(&path, body);
    r.expect(201);
    let ms = d
        .propfind(&path, "0", "<D:resourcetype/><D:displayname/><C:calendar-description/><A:calendar-color/><C:supported-calendar-component-set/><C:supported-calendar-data/><C:max-resource-size/><D:sync-token/><CS:getctag/>")
        .multistatus();
    let r = ms.get(&path);
    let rt = r.ok(DAV, "resourcetype");
    assert!(rt.child(DAV, "collection").is_some() && rt.child(CALDAV, "calendar").is_some());
    assert_eq!(r.ok(DAV, "displayname").text, "Board meetings");
    assert_eq!(r.ok(CALDAV, "calendar-description").text, "Quarterly");
    assert_eq!(r.ok(ICAL, "calendar-color").text, "#00FF00FF");
    let mut comps: Vec<String> = r
        .ok(CALDAV, "supported-calendar-component-set")
        .children
        .iter()
        .map(|c| c.attr("name").unwrap_or("").to_string())
        .collect();
    comps.sort();
    assert_eq!(comps, vec!["VEVENT", "VTODO"]);
    let scd = r.ok(CALDAV, "supported-calendar-data");
    let cd = scd
        .child(CALDAV, "calendar-data")
        .expect("calendar-data element");
    assert_eq!(cd.attr("content-type"), Some("text/calendar"));
    assert_eq!(cd.attr("version"), Some("2.0"));
    assert_eq!(
        r.ok(CALDAV, "max-resource-size").text.trim(),
        server().limits.max_resource_bytes.to_string()
    );
    // Existing → 403 (DAV:resource-must-be-null), nothing changed
    let r2 = d.mkcalendar(&path, body);
    r2.expect_error(403, DAV, "resource-must-be-null");
    // a calendar inside a calendar is refused
    let r3 = d.mkcalendar(&format!("{path}inner/"), "");
    r3.expect_error(403, CALDAV, "calendar-collection-location-ok");
    // without a body: a calendar with default components
    let p2 = format!("{CAL_HOME}{}/", unique("bare"));
    d.mkcalendar(&p2, "").expect(201);
    let ms = d
        .propfind(&p2, "0", "<C:supported-calendar-component-set/>")
        .multistatus();
    assert!(!ms
        .get(&p2)
        .ok(CALDAV, "supported-calendar-component-set")
        .children
        .is_empty());
}

#[test]
fn put_valid_event_and_read_back() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let body = vevent(
        &unique("ok"),
        "Valid",
        "20270210T100000Z",
        "20270210T110000Z",
    );
    let r = d.put_ics(&format!("{cal}valid.ics"), &body);
    r.expect(201);
    let g = d.get(&format!("{cal}valid.ics"));
    g.expect(200);
    assert_eq!(g.text(), body);
    assert!(g
        .header("content-type")
        .unwrap()
        .starts_with("text/calendar"));
}

fn assert_not_stored(d: &Client, path: &str) {
    assert_eq!(d.get(path).status, 404, "{path} must not be stored");
}

#[test]
fn invalid_icalendar_is_refused() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    for (i, bad) in [
        "this is not iCalendar",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20270101T100000Z\r\n",
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nUID:y\r\nEND:VCARD\r\n",
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:bad-date\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:2027-01-01\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
    ]
    .iter()
    .enumerate()
    {
        let path = format!("{cal}bad{i}.ics");
        let r = d.put_ics(&path, bad);
        r.expect_error(403, CALDAV, "valid-calendar-data");
        assert_not_stored(&d, &path);
    }
    // wrong media type → supported-calendar-data
    let path = format!("{cal}plain.ics");
    let r = d.put(
        &path,
        "text/plain",
        &vevent(&unique("p"), "x", "20270101T100000Z", "20270101T110000Z"),
    );
    r.expect_error(403, CALDAV, "supported-calendar-data");
    assert_not_stored(&d, &path);
}

#[test]
fn two_uids_in_one_resource_is_refused() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:one\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20270101T100000Z\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:two\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20270102T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let path = format!("{cal}two.ics");
    d.put_ics(&path, body)
        .expect_error(403, CALDAV, "valid-calendar-object-resource");
    assert_not_stored(&d, &path);
    // METHOD is not allowed in a calendar object resource either
    let body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nMETHOD:REQUEST\r\nBEGIN:VEVENT\r\nUID:m\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20270101T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let path = format!("{cal}method.ics");
    d.put_ics(&path, body)
        .expect_error(403, CALDAV, "valid-calendar-object-resource");
    assert_not_stored(&d, &path);
}

#[test]
fn vtodo_into_vevent_only_calendar_is_refused() {
    let d = demo();
    let path = format!("{MEETINGS}{}.ics", unique("todo"));
    d.put_ics(&path, &vtodo(&unique("t"), "a task"))
        .expect_error(403, CALDAV, "supported-calendar-component");
    assert_not_stored(&d, &path);
    // and an event into the task list
    let path = format!("{TASKS}{}.ics", unique("evt"));
    d.put_ics(
        &path,
        &vevent(&unique("e"), "x", "20270101T100000Z", "20270101T110000Z"),
    )
    .expect_error(403, CALDAV, "supported-calendar-component");
    assert_not_stored(&d, &path);
    // a VTODO into tasks is fine
    let path = format!("{TASKS}{}.ics", unique("okt"));
    d.put_ics(&path, &vtodo(&unique("t"), "a task")).expect(201);
    d.delete(&path).expect(204);
}

#[test]
fn same_uid_under_another_name_is_refused() {
    let d = demo();
    let existing = format!("{MEETINGS}demo-evt-0005@crmdav.ics");
    d.get(&existing).expect(200);
    let path = format!("{MEETINGS}{}.ics", unique("dupuid"));
    let r = d.put_ics(
        &path,
        &vevent(
            "demo-evt-0005@crmdav",
            "dup",
            "20270101T100000Z",
            "20270101T110000Z",
        ),
    );
    r.expect_error(403, CALDAV, "no-uid-conflict");
    let doc = roxmltree::Document::parse(std::str::from_utf8(&r.body).unwrap()).unwrap();
    let cond = doc
        .descendants()
        .find(|n| n.has_tag_name((CALDAV, "no-uid-conflict")))
        .unwrap();
    let href = cond
        .children()
        .find(|n| n.has_tag_name((DAV, "href")))
        .map(|h| path_of(&all_text(h)))
        .expect("no-uid-conflict carries the existing resource's href");
    assert_eq!(href, existing);
    assert_not_stored(&d, &path);
}

#[test]
fn changing_the_uid_of_an_existing_resource_is_refused() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let path = format!("{cal}u.ics");
    let body = vevent(&unique("u1"), "x", "20270101T100000Z", "20270101T110000Z");
    d.put_ics(&path, &body).expect(201);
    let r = d.put_ics(
        &path,
        &vevent(&unique("u2"), "x", "20270101T100000Z", "20270101T110000Z"),
    );
    r.expect_error(403, CALDAV, "no-uid-conflict");
    assert_eq!(d.get(&path).text(), body);
}

#[test]
fn oversized_calendar_object_is_refused() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let max = server().limits.max_resource_bytes;
    assert!(max < server().limits.max_body_bytes);
    let mut desc = String::from("DESCRIPTION:");
    while desc.len() < max + 100 {
        desc.push_str("0123456789012345678901234567890123456789012345678901234567890\r\n ");
    }
    desc.push_str("end");
    let body = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:{}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20270101T100000Z\r\n{desc}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        unique("big")
    );
    assert!(body.len() > max && body.len() < server().limits.max_body_bytes);
    let path = format!("{cal}big.ics");
    d.put_ics(&path, &body)
        .expect_error(403, CALDAV, "max-resource-size");
    assert_not_stored(&d, &path);
}

#[test]
fn calendar_multiget_returns_bodies_and_404s() {
    let d = demo();
    let names = [
        "demo-evt-0001@crmdav.ics",
        "demo-evt-0010@crmdav.ics",
        "demo-evt-0100@crmdav.ics",
    ];
    let mut hrefs: String = names
        .iter()
        .map(|n| format!("<D:href>{MEETINGS}{n}</D:href>"))
        .collect();
    let missing = format!("{MEETINGS}does-not-exist.ics");
    hrefs.push_str(&format!("<D:href>{missing}</D:href>"));
    let body = format!(
        r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>"#
    );
    let ms = d.report(MEETINGS, "1", &body).multistatus();
    for n in names {
        let href = format!("{MEETINGS}{n}");
        let g = d.get(&href);
        let r = ms.get(&href);
        assert_eq!(r.ok(DAV, "getetag").text, g.etag());
        assert_eq!(
            r.ok(CALDAV, "calendar-data").text,
            g.text(),
            "calendar-data is the stored body"
        );
    }
    assert_eq!(ms.get(&missing).status, Some(404));
    assert_eq!(ms.responses().len(), 4);
}

/// A multiget larger than one batch of reads and one streamed chunk (1 MB): every response in the
/// order asked, each body the stored one, missing members and an unknown collection as 404s.
#[test]
fn large_calendar_multiget_is_streamed_in_request_order() {
    let d = demo();
    let missing_coll = format!("{CAL_HOME}{}/x.ics", unique("nocal"));
    let mut asked: Vec<String> = Vec::new();
    // Three passes over the 240 events: an answer over the 1 MB flush threshold.
    for pass in 0..3 {
        for i in (1..=240).rev() {
            asked.push(format!("{MEETINGS}demo-evt-{i:04}@crmdav.ics"));
            if i % 50 == pass {
                asked.push(format!("{MEETINGS}missing-{i}.ics"));
            }
        }
    }
    asked.push(missing_coll.clone());
    let hrefs: String = asked
        .iter()
        .map(|h| format!("<D:href>{h}</D:href>"))
        .collect();
    let body = format!(
        r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>"#
    );
    let resp = d.report(MEETINGS, "1", &body);
    assert!(
        resp.body.len() > 1024 * 1024,
        "the answer spans more than one streamed chunk ({} bytes)",
        resp.body.len()
    );
    assert_eq!(
        resp.header("content-length"),
        None,
        "an answer over one chunk is streamed"
    );
    let ms = resp.multistatus();
    let got: Vec<String> = ms
        .responses()
        .iter()
        .map(|r| r.href().to_string())
        .collect();
    // The members of the one collection in the order asked, then the unknown collection's.
    let mut want: Vec<String> = asked[..asked.len() - 1].to_vec();
    want.push(missing_coll.clone());
    assert_eq!(got, want);
    for h in &asked {
        let r = ms.get(h);
        if h.contains("/missing-") || *h == missing_coll {
            assert_eq!(r.status, Some(404), "{h}");
        } else {
            let g = d.get(h);
            assert_eq!(r.ok(DAV, "getetag").text, g.etag(), "{h}");
            assert_eq!(r.ok(CALDAV, "calendar-data").text, g.text(), "{h}");
        }
    }
}

fn berlin_vtimezone() -> &'static str {
    "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n"
}

/// Weekly on Mondays 10:00 Berlin (09:00Z in winter) from 2027-01-04, 6 times; 2027-01-18 is
/// excluded; 2027-01-25 is moved to Wednesday 2027-01-27 15:00 Berlin (14:00Z).
fn series(uid: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//itests//EN\r\n{tz}BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20270104T100000\r\nDTEND;TZID=Europe/Berlin:20270104T110000\r\nRRULE:FREQ=WEEKLY;COUNT=6\r\nEXDATE;TZID=Europe/Berlin:20270118T100000\r\nSUMMARY:Weekly sync\r\nLOCATION:Room 1\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Berlin:20270125T100000\r\nDTSTART;TZID=Europe/Berlin:20270127T150000\r\nDTEND;TZID=Europe/Berlin:20270127T160000\r\nSUMMARY:Weekly sync (moved)\r\nLOCATION:Room 2\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        tz = berlin_vtimezone()
    )
}

/// A calendar with the series and a few single events for query tests.
fn query_calendar(d: &Client) -> String {
    let cal = d.new_calendar(&["VEVENT", "VTODO"]);
    d.put_ics(&format!("{cal}series.ics"), &series(&unique("series")))
        .expect(201);
    let single = |name: &str, summary: &str, extra: &str, start: &str, end: &str| {
        let body = format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//itests//EN\r\nBEGIN:VEVENT\r\nUID:{}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{summary}\r\n{extra}END:VEVENT\r\nEND:VCALENDAR\r\n",
            unique(name)
        );
        d.put_ics(&format!("{cal}{name}.ics"), &body).expect(201);
    };
    single(
        "review",
        "Quarterly Review with ÄCME",
        "ATTENDEE;PARTSTAT=ACCEPTED;CN=Bob:mailto:bob@example.com\r\nATTENDEE;PARTSTAT=DECLINED;CN=Eve:mailto:eve@example.com\r\n",
        "20270301T090000Z",
        "20270301T100000Z",
    );
    single(
        "lunch",
        "lunch break",
        "LOCATION:Canteen\r\nATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:carl@example.com\r\n",
        "20270302T110000Z",
        "20270302T120000Z",
    );
    d.put_ics(&format!("{cal}todo.ics"), &vtodo(&unique("todo"), "a task"))
        .expect(201);
    cal
}

#[test]
fn time_range_handles_exdate_and_overrides() {
    let d = demo();
    let cal = query_calendar(&d);
    let q = |s: &str, e: &str| {
        names(&cal_query(
            &d,
            &cal,
            "<D:getetag/>",
            &vevent_filter(&tr(s, e)),
        ))
    };
    // first instance: 2027-01-04 09:00Z–10:00Z
    assert_eq!(
        q("20270104T000000Z", "20270105T000000Z"),
        vec!["series.ics"]
    );
    // second instance
    assert_eq!(
        q("20270111T090000Z", "20270111T093000Z"),
        vec!["series.ics"]
    );
    // excluded instance
    assert!(
        q("20270118T000000Z", "20270119T000000Z").is_empty(),
        "the EXDATE instance must not match"
    );
    // the overridden instance's original slot is empty now
    assert!(
        q("20270125T000000Z", "20270126T000000Z").is_empty(),
        "the moved instance left its slot"
    );
    // it is found where it moved to (15:00 Berlin = 14:00Z)
    assert_eq!(
        q("20270127T140000Z", "20270127T143000Z"),
        vec!["series.ics"]
    );
    assert!(q("20270127T080000Z", "20270127T130000Z").is_empty());
    // after COUNT ran out
    assert!(q("20270215T000000Z", "20270301T000000Z").is_empty());
    // end is exclusive: an event ending exactly at start does not match
    assert!(q("20270104T100000Z", "20270104T103000Z").is_empty());
    // the single events and the VTODO are not VEVENT matches in January
    assert_eq!(
        q("20270301T000000Z", "20270303T000000Z"),
        vec!["lunch.ics", "review.ics"]
    );
}

#[test]
fn comp_filter_selects_component_type() {
    let d = demo();
    let cal = query_calendar(&d);
    let ms = cal_query(
        &d,
        &cal,
        "<D:getetag/>",
        r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/></C:comp-filter>"#,
    );
    assert_eq!(names(&ms), vec!["todo.ics"]);
    let ms = cal_query(
        &d,
        &cal,
        "<D:getetag/>",
        r#"<C:comp-filter name="VCALENDAR"/>"#,
    );
    assert_eq!(
        names(&ms),
        vec!["lunch.ics", "review.ics", "series.ics", "todo.ics"]
    );
}

fn summary_match(collation: &str, text: &str, negate: bool) -> String {
    let neg = if negate {
        r#" negate-condition="yes""#
    } else {
        ""
    };
    vevent_filter(&format!(
        r#"<C:prop-filter name="SUMMARY"><C:text-match collation="{collation}"{neg}>{text}</C:text-match></C:prop-filter>"#
    ))
}

#[test]
fn text_match_collations_and_negate() {
    let d = demo();
    let cal = query_calendar(&d);
    let q = |f: String| names(&cal_query(&d, &cal, "<D:getetag/>", &f));
    assert_eq!(
        q(summary_match("i;ascii-casemap", "quarterly", false)),
        vec!["review.ics"]
    );
    assert!(
        q(summary_match("i;octet", "quarterly", false)).is_empty(),
        "i;octet is case-sensitive"
    );
    assert_eq!(
        q(summary_match("i;octet", "Quarterly", false)),
        vec!["review.ics"]
    );
    assert_eq!(
        q(summary_match("i;unicode-casemap", "äcme", false)),
        vec!["review.ics"]
    );
    assert!(
        q(summary_match("i;ascii-casemap", "äcme", false)).is_empty(),
        "ascii-casemap folds ASCII only"
    );
    assert_eq!(
        q(summary_match("i;ascii-casemap", "LUNCH", false)),
        vec!["lunch.ics"]
    );
    // negate: every VEVENT whose SUMMARY does not contain "sync"
    assert_eq!(
        q(summary_match("i;ascii-casemap", "SYNC", true)),
        vec!["lunch.ics", "review.ics"]
    );
    // default collation is i;ascii-casemap
    let f = vevent_filter(
        r#"<C:prop-filter name="SUMMARY"><C:text-match>LUNCH BREAK</C:text-match></C:prop-filter>"#,
    );
    assert_eq!(q(f), vec!["lunch.ics"]);
    // unsupported collation → 403 CALDAV:supported-collation
    let body = format!(
        "{CQ_HEAD}<D:prop><D:getetag/></D:prop><C:filter>{}</C:filter></C:calendar-query>",
        summary_match("i;basic", "x", false)
    );
    d.report(&cal, "1", &body)
        .expect_error(403, CALDAV, "supported-collation");
}

#[test]
fn is_not_defined_and_param_filter() {
    let d = demo();
    let cal = query_calendar(&d);
    let q = |f: String| names(&cal_query(&d, &cal, "<D:getetag/>", &f));
    assert_eq!(
        q(vevent_filter(
            r#"<C:prop-filter name="LOCATION"><C:is-not-defined/></C:prop-filter>"#
        )),
        vec!["review.ics"]
    );
    assert_eq!(
        q(vevent_filter(r#"<C:prop-filter name="ATTENDEE"/>"#)),
        vec!["lunch.ics", "review.ics"]
    );
    assert_eq!(
        q(vevent_filter(
            r#"<C:prop-filter name="ATTENDEE"><C:param-filter name="PARTSTAT"><C:text-match>DECLINED</C:text-match></C:param-filter></C:prop-filter>"#
        )),
        vec!["review.ics"]
    );
    assert_eq!(
        q(vevent_filter(
            r#"<C:prop-filter name="ATTENDEE"><C:param-filter name="CN"><C:is-not-defined/></C:param-filter></C:prop-filter>"#
        )),
        vec!["lunch.ics"]
    );
    assert_eq!(
        q(vevent_filter(
            r#"<C:prop-filter name="ATTENDEE"><C:text-match>carl@</C:text-match></C:prop-filter>"#
        )),
        vec!["lunch.ics"]
    );
}

#[test]
fn calendar_data_expand_gives_utc_instances() {
    let d = demo();
    let cal = query_calendar(&d);
    let prop = r#"<C:calendar-data><C:expand start="20270101T000000Z" end="20270301T000000Z"/></C:calendar-data>"#;
    let ms = cal_query(
        &d,
        &cal,
        prop,
        &vevent_filter(&tr("20270101T000000Z", "20270301T000000Z")),
    );
    assert_eq!(names(&ms), vec!["series.ics"]);
    let data = ms
        .get(&format!("{cal}series.ics"))
        .ok(CALDAV, "calendar-data")
        .text
        .clone();
    let lines = unfold(&data);
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("RRULE") || l.starts_with("EXDATE")),
        "expanded data has no RRULE/EXDATE:\n{data}"
    );
    assert!(
        !lines.iter().any(|l| l.contains("TZID=")),
        "expanded instances are in UTC:\n{data}"
    );
    let starts: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("DTSTART"))
        .map(|l| l.as_str())
        .collect();
    assert_eq!(
        starts,
        vec![
            "DTSTART:20270104T090000Z",
            "DTSTART:20270111T090000Z",
            "DTSTART:20270127T140000Z",
            "DTSTART:20270201T090000Z",
            "DTSTART:20270208T090000Z"
        ],
        "\n{data}"
    );
    let rids: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("RECURRENCE-ID"))
        .map(|l| l.as_str())
        .collect();
    assert_eq!(
        rids,
        vec![
            "RECURRENCE-ID:20270104T090000Z",
            "RECURRENCE-ID:20270111T090000Z",
            "RECURRENCE-ID:20270125T090000Z",
            "RECURRENCE-ID:20270201T090000Z",
            "RECURRENCE-ID:20270208T090000Z"
        ],
        "each instance carries its RECURRENCE-ID in UTC\n{data}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| *l == "SUMMARY:Weekly sync (moved)")
            .count(),
        1
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("BEGIN:VEVENT"))
            .count(),
        5
    );
    // a narrower expand window returns only the instances inside it
    let prop = r#"<C:calendar-data><C:expand start="20270125T000000Z" end="20270130T000000Z"/></C:calendar-data>"#;
    let ms = cal_query(
        &d,
        &cal,
        prop,
        &vevent_filter(&tr("20270125T000000Z", "20270130T000000Z")),
    );
    let data = ms
        .get(&format!("{cal}series.ics"))
        .ok(CALDAV, "calendar-data")
        .text
        .clone();
    let lines = unfold(&data);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.starts_with("BEGIN:VEVENT"))
            .count(),
        1,
        "{data}"
    );
    assert!(
        lines.contains(&"DTSTART:20270127T140000Z".to_string()),
        "{data}"
    );
}

#[test]
fn calendar_data_partial_selection() {
    let d = demo();
    let cal = query_calendar(&d);
    let prop = r#"<C:calendar-data><C:comp name="VCALENDAR"><C:prop name="VERSION"/><C:comp name="VEVENT"><C:prop name="SUMMARY"/><C:prop name="UID"/></C:comp></C:comp></C:calendar-data>"#;
    let body = format!(
        r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>{prop}</D:prop><D:href>{cal}review.ics</D:href></C:calendar-multiget>"#
    );
    let ms = d.report(&cal, "1", &body).multistatus();
    let data = ms
        .get(&format!("{cal}review.ics"))
        .ok(CALDAV, "calendar-data")
        .text
        .clone();
    let lines = unfold(&data);
    assert!(
        lines.contains(&"BEGIN:VCALENDAR".to_string())
            && lines.contains(&"END:VCALENDAR".to_string()),
        "{data}"
    );
    assert!(lines.contains(&"VERSION:2.0".to_string()), "{data}");
    assert!(
        lines.contains(&"SUMMARY:Quarterly Review with ÄCME".to_string()),
        "{data}"
    );
    assert!(lines.iter().any(|l| l.starts_with("UID:")), "{data}");
    for gone in ["DTSTART", "DTEND", "ATTENDEE", "DTSTAMP", "PRODID"] {
        assert!(
            !lines.iter().any(|l| l.starts_with(gone)),
            "{gone} must be left out:\n{data}"
        );
    }
}

#[test]
fn free_busy_query_returns_vfreebusy() {
    let d = demo();
    let cal = query_calendar(&d);
    let body = r#"<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20270101T000000Z" end="20270201T000000Z"/></C:free-busy-query>"#;
    let r = d.report(&cal, "1", body);
    r.expect(200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/calendar"));
    let text = r.text();
    let lines = unfold(&text);
    assert!(lines.contains(&"BEGIN:VFREEBUSY".to_string()), "{text}");
    assert!(
        lines.iter().any(|l| l == "DTSTART:20270101T000000Z"),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l == "DTEND:20270201T000000Z"),
        "{text}"
    );
    let fb: String = lines
        .iter()
        .filter(|l| l.starts_with("FREEBUSY"))
        .cloned()
        .collect::<Vec<_>>()
        .join("\n");
    for busy in [
        "20270104T090000Z/",
        "20270111T090000Z/",
        "20270127T140000Z/",
    ] {
        assert!(fb.contains(busy), "busy period {busy} in:\n{fb}");
    }
    assert!(
        !fb.contains("20270118T090000Z"),
        "EXDATE instance is not busy:\n{fb}"
    );
    assert!(
        !fb.contains("20270125T090000Z"),
        "moved instance's old slot is not busy:\n{fb}"
    );
}

#[test]
fn seeded_meetings_answer_a_month_query() {
    let d = demo();
    let today = chrono::Utc::now().date_naive();
    let end = today + chrono::TimeDelta::days(30);
    let s = format!("{}T000000Z", today.format("%Y%m%d"));
    let e = format!("{}T000000Z", end.format("%Y%m%d"));
    let ms = cal_query(&d, MEETINGS, "<D:getetag/>", &vevent_filter(&tr(&s, &e)));
    let hrefs = ms.hrefs();
    let mut uniq = hrefs.clone();
    uniq.sort();
    uniq.dedup();
    assert_eq!(uniq.len(), hrefs.len(), "no duplicates");
    assert!(hrefs.iter().all(|h| h.starts_with(MEETINGS)));
    // 240 events over 180 days, about 210 of them one-off: a month holds tens of them.
    assert!(
        (20..240).contains(&hrefs.len()),
        "{} events in a month",
        hrefs.len()
    );
    // and the task list answers VTODO queries with all its 36 tasks
    let ms = cal_query(
        &d,
        TASKS,
        "<D:getetag/>",
        r#"<C:comp-filter name="VCALENDAR"><C:comp-filter name="VTODO"/></C:comp-filter>"#,
    );
    assert!(ms.hrefs().len() >= 36);
}

#[test]
fn calendar_query_without_filter_is_refused() {
    let body = format!("{CQ_HEAD}<D:prop><D:getetag/></D:prop></C:calendar-query>");
    demo()
        .report(MEETINGS, "1", &body)
        .expect_error(403, CALDAV, "valid-filter");
}

#[test]
fn calendar_query_on_an_address_book_is_refused() {
    let body = format!("{CQ_HEAD}<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name=\"VCALENDAR\"/></C:filter></C:calendar-query>");
    demo()
        .report(CONTACTS, "1", &body)
        .expect_error(403, DAV, "supported-report");
}

/// A never-ending daily series, one with an end, and plain events, in one calendar of 400
/// members: the calendar-query answer is larger than one streamed chunk (64 KB), every match
/// is in it once, and an open series is found decades ahead.
#[test]
fn streamed_calendar_query_over_many_members_and_open_series() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    for i in 0..400 {
        let day = 1 + i % 28;
        let body = vevent(
            &format!("plain-{i}"),
            &format!("Plain event number {i} with a summary long enough to fill a chunk"),
            &format!("202703{day:02}T100000Z"),
            &format!("202703{day:02}T110000Z"),
        );
        d.put_ics(&format!("{cal}plain-{i}.ics"), &body).expect(201);
    }
    let series = |uid: &str, rule: &str| {
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n\
             DTSTAMP:20260101T000000Z\r\nDTSTART:20260105T080000Z\r\nDTEND:20260105T083000Z\r\n\
             RRULE:{rule}\r\nEXDATE:20260106T080000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
    };
    d.put_ics(&format!("{cal}open.ics"), &series("open", "FREQ=DAILY"))
        .expect(201);
    d.put_ics(
        &format!("{cal}count.ics"),
        &series("count", "FREQ=DAILY;COUNT=900"),
    )
    .expect(201);

    // Everything in March 2027: 400 plain events and both series (day 455 < 900).
    let ms = cal_query(
        &d,
        &cal,
        "<D:getetag/><C:calendar-data/>",
        &vevent_filter(&tr("20270301T000000Z", "20270401T000000Z")),
    );
    let got = names(&ms);
    assert_eq!(got.len(), 402, "each match once");
    let unique: std::collections::BTreeSet<_> = got.iter().collect();
    assert_eq!(unique.len(), 402);
    assert!(got.contains(&"open.ics".to_string()) && got.contains(&"count.ics".to_string()));
    // 2040: only the open series reaches it; the excluded 6 January 2026 is not an instance.
    let far = cal_query(
        &d,
        &cal,
        "<D:getetag/>",
        &vevent_filter(&tr("20400101T000000Z", "20400102T000000Z")),
    );
    assert_eq!(names(&far), vec!["open.ics".to_string()]);
    let exdate = cal_query(
        &d,
        &cal,
        "<D:getetag/>",
        &vevent_filter(&tr("20260106T000000Z", "20260107T000000Z")),
    );
    assert!(names(&exdate).is_empty(), "{:?}", names(&exdate));
    // After COUNT ends (day 900 is 2028-06-21): the open series only.
    let late = cal_query(
        &d,
        &cal,
        "<D:getetag/>",
        &vevent_filter(&tr("20280701T000000Z", "20280702T000000Z")),
    );
    assert_eq!(names(&late), vec!["open.ics".to_string()]);
}
