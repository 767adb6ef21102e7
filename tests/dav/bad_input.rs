//! Hostile and malformed input: bad XML, DOCTYPE and entities, oversized bodies, deep
//! nesting, paths outside the user's grants, dot segments. Nothing may be stored and the
//! server must stay up.

use crate::support::dav::*;
use crate::support::demo::*;

fn displayname(c: &Client, path: &str) -> Option<String> {
    let ms = c.propfind(path, "0", "<D:displayname/>").multistatus();
    let r = ms.get(path);
    let p = r.prop(DAV, "displayname")?;
    (p.status == 200).then(|| p.text.clone())
}

#[test]
fn malformed_xml_is_400() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    for (m, body) in [
        (
            "PROPFIND",
            r#"<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop>"#,
        ),
        (
            "PROPFIND",
            r#"<D:propfind xmlns:D="DAV:"><D:prop></D:propx></D:propfind>"#,
        ),
        ("PROPFIND", r#"<x:propfind><x:prop/></x:propfind>"#), // undeclared prefix
        ("PROPFIND", "not xml at all"),
        (
            "PROPPATCH",
            r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>x</D:prop></D:set></D:propertyupdate>"#,
        ),
        (
            "REPORT",
            r#"<C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav" <"#,
        ),
        (
            "MKCALENDAR",
            r#"<C:mkcalendar xmlns:C="urn:ietf:params:xml:ns:caldav"><unclosed></C:mkcalendar>"#,
        ),
    ] {
        let target = if m == "MKCALENDAR" {
            format!("{CAL_HOME}{}/", unique("mal"))
        } else {
            cal.clone()
        };
        let r = d.dav(
            m,
            &target,
            Some("0"),
            body,
            &[("Content-Type", "application/xml")],
        );
        assert_eq!(r.status, 400, "{m} {body}: {}", r.text());
        if m == "MKCALENDAR" {
            assert_eq!(
                d.propfind(&target, "0", "<D:resourcetype/>").status,
                404,
                "nothing created"
            );
        }
    }
    assert_eq!(displayname(&d, &cal).as_deref(), Some("test"));
    assert_alive();
}

#[test]
fn doctype_and_entities_are_refused_and_not_expanded() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let with_entity = r#"<?xml version="1.0"?><!DOCTYPE D:propertyupdate [<!ENTITY x "EXPANDED">]><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>&x;</D:displayname></D:prop></D:set></D:propertyupdate>"#;
    let r = d.dav("PROPPATCH", &cal, None, with_entity, &[]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(!r.text().contains("EXPANDED"));
    assert_eq!(
        displayname(&d, &cal).as_deref(),
        Some("test"),
        "the entity was not stored"
    );

    let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&lol3;</D:displayname></D:prop></D:propfind>"#;
    assert_eq!(d.dav("PROPFIND", &cal, Some("0"), laughs, &[]).status, 400);

    let external = r#"<?xml version="1.0"?><!DOCTYPE D:propfind [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&xxe;</D:displayname></D:prop></D:propfind>"#;
    let r = d.dav("PROPFIND", &cal, Some("0"), external, &[]);
    assert_eq!(r.status, 400);
    assert!(!r.text().contains("root:"), "no file content leaks");

    // a bare DOCTYPE without entities is refused too
    let bare = r#"<?xml version="1.0"?><!DOCTYPE D:propfind><D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>"#;
    assert_eq!(d.dav("PROPFIND", &cal, Some("0"), bare, &[]).status, 400);

    // an undefined entity reference without a DOCTYPE is malformed
    let undefined = r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>&nope;</D:displayname></D:prop></D:set></D:propertyupdate>"#;
    assert_eq!(d.dav("PROPPATCH", &cal, None, undefined, &[]).status, 400);
    assert_eq!(displayname(&d, &cal).as_deref(), Some("test"));
    // the predefined ones and character references are fine
    let ok = r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>a &amp; b &#x41;&#66;</D:displayname></D:prop></D:set></D:propertyupdate>"#;
    d.dav("PROPPATCH", &cal, None, ok, &[]).expect(207);
    assert_eq!(displayname(&d, &cal).as_deref(), Some("a & b AB"));
    assert_alive();
}

#[test]
fn body_over_max_body_bytes_is_413() {
    let d = demo();
    let col = format!("{CAL_HOME}{}/", unique("big"));
    d.mkcol(&col).expect(201);
    let path = format!("{col}huge.bin");
    let body = vec![b'x'; server().limits.max_body_bytes + 1];
    let r = d.dav(
        "PUT",
        &path,
        None,
        body,
        &[("Content-Type", "application/octet-stream")],
    );
    assert_eq!(r.status, 413, "{}", r.text());
    assert_eq!(d.get(&path).status, 404, "nothing stored");
    // a small body to the same path is accepted afterwards
    let ok = vec![b'y'; 1024];
    d.dav(
        "PUT",
        &path,
        None,
        ok,
        &[("Content-Type", "application/octet-stream")],
    )
    .expect(201);
    assert_alive();
}

#[test]
fn body_over_max_body_bytes_is_413_for_xml_too() {
    let d = demo();
    let mut body = String::from(
        r#"<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>"#,
    );
    body.push_str(&" ".repeat(server().limits.max_body_bytes));
    let r = d.dav("PROPFIND", MEETINGS, Some("0"), body, &[]);
    assert_eq!(r.status, 413);
    assert_alive();
}

#[test]
fn nesting_over_the_depth_limit_is_400() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let depth = server().limits.xml_max_depth + 5;
    let mut inner = String::new();
    for _ in 0..depth {
        inner.push_str("<Z:n>");
    }
    for _ in 0..depth {
        inner.push_str("</Z:n>");
    }
    let body = format!(
        r#"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x-deep:"><D:set><D:prop><D:displayname>deep</D:displayname><Z:deep>{inner}</Z:deep></D:prop></D:set></D:propertyupdate>"#
    );
    let r = d.dav("PROPPATCH", &cal, None, body, &[]);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(
        displayname(&d, &cal).as_deref(),
        Some("test"),
        "nothing of the PROPPATCH applied"
    );
    // a moderately nested dead property is fine
    let body = r#"<D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:x-deep:"><D:set><D:prop><Z:deep><Z:n><Z:n><Z:n>ok</Z:n></Z:n></Z:n></Z:deep></D:prop></D:set></D:propertyupdate>"#;
    d.dav("PROPPATCH", &cal, None, body, &[]).expect(207);
    assert_alive();
}

#[test]
fn too_many_elements_is_400() {
    let d = demo();
    let mut props = String::new();
    for _ in 0..50_001 {
        props.push_str("<D:displayname/>");
    }
    let body = format!(r#"<D:propfind xmlns:D="DAV:"><D:prop>{props}</D:prop></D:propfind>"#);
    let r = d.dav("PROPFIND", MEETINGS, Some("0"), body, &[]);
    assert_eq!(r.status, 400);
    assert_alive();
}

#[test]
fn paths_outside_the_grants_are_403() {
    let d = demo();
    let ev = vevent(&unique("x"), "x", "20270101T100000Z", "20270101T110000Z");
    for path in [
        "/dav/calendars/alice/work/x.ics",
        "/dav/calendars/someone/x.ics",
        "/dav/addressbooks/root/x.vcf",
    ] {
        let r = d.put_ics(path, &ev);
        assert_eq!(r.status, 403, "PUT {path}");
        let r = d.mkcol(&format!("{path}-dir/"));
        assert_eq!(r.status, 403, "MKCOL {path}");
    }
    // a Destination outside the grants
    let src = format!("{MEETINGS}demo-evt-0001@crmdav.ics");
    let r = d.dav(
        "COPY",
        &src,
        None,
        Vec::new(),
        &[("Destination", "/dav/calendars/alice/work/stolen.ics")],
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        alice().get("/dav/calendars/alice/work/stolen.ics").status,
        404
    );
    // a Destination on another server
    let r = d.dav(
        "COPY",
        &src,
        None,
        Vec::new(),
        &[("Destination", "http://elsewhere.invalid/x.ics")],
    );
    assert!(
        r.status == 403 || r.status == 502,
        "COPY to another server: {}",
        r.status
    );
    assert_alive();
}

#[test]
fn dot_segments_are_400() {
    let _d = demo();
    let ev = vevent(
        &unique("dots"),
        "dots",
        "20270101T100000Z",
        "20270101T110000Z",
    );
    for raw in [
        "/dav/calendars/demo/../alice/work/",
        "/dav/calendars/demo/meetings/../../alice/work/x.ics",
        "/dav/calendars/demo/%2e%2e/alice/work/",
        "/dav/calendars/demo/%2E%2E/demo/meetings/",
        "/dav/calendars/demo/./meetings/",
        "/dav/calendars/demo//meetings/",
        "/dav/calendars/demo/meetings/a%00b.ics",
        "/dav/calendars/demo/meetings/a%2Fb.ics",
    ] {
        let (st, text) = raw_request("PROPFIND", raw, "Depth: 0\r\n", b"");
        assert_eq!(st, 400, "PROPFIND {raw}: {text}");
        let (st, _) = raw_request("PUT", raw, "Content-Type: text/calendar\r\n", ev.as_bytes());
        assert!(st == 400, "PUT {raw}: {st}");
    }
    // nothing was created under alice or anywhere else
    assert_eq!(alice().get("/dav/calendars/alice/work/x.ics").status, 404);
    assert_alive();
}

#[test]
fn bad_depth_header_is_400() {
    let r = demo().propfind(MEETINGS, "2", "<D:displayname/>");
    assert_eq!(r.status, 400);
    let r = demo().propfind(MEETINGS, "one", "<D:displayname/>");
    assert_eq!(r.status, 400);
}

#[test]
fn wrong_root_elements_are_refused() {
    let d = demo();
    // a PROPFIND whose root is not DAV:propfind
    let r = d.dav(
        "PROPFIND",
        MEETINGS,
        Some("0"),
        r#"<X:propfind xmlns:X="urn:x-wrong:"><X:prop/></X:propfind>"#,
        &[],
    );
    assert_eq!(r.status, 400);
    let r = d.dav(
        "PROPPATCH",
        MEETINGS,
        None,
        r#"<D:propfind xmlns:D="DAV:"><D:prop/></D:propfind>"#,
        &[],
    );
    assert_eq!(r.status, 400);
    assert_alive();
}

#[test]
fn paths_outside_dav_are_404() {
    for p in ["/etc/passwd", "/davx/", "/dav-not/calendars/"] {
        let r = demo().dav("PROPFIND", p, Some("0"), Vec::new(), &[]);
        assert_eq!(r.status, 404, "{p}");
    }
}

#[test]
fn binary_garbage_bodies_do_not_break_the_server() {
    let d = demo();
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    for m in ["PROPFIND", "PROPPATCH", "REPORT", "MKCALENDAR"] {
        let target = if m == "MKCALENDAR" {
            format!("{CAL_HOME}{}/", unique("g"))
        } else {
            MEETINGS.to_string()
        };
        let r = d.dav(
            m,
            &target,
            Some("0"),
            garbage.clone(),
            &[("Content-Type", "application/xml")],
        );
        assert_eq!(r.status, 400, "{m}");
    }
    let path = format!("{MEETINGS}{}.ics", unique("garbage"));
    let r = d.dav(
        "PUT",
        &path,
        None,
        garbage,
        &[("Content-Type", "text/calendar")],
    );
    r.expect_error(403, CALDAV, "valid-calendar-data");
    assert_eq!(d.get(&path).status, 404);
    assert_alive();
}

/// The characters XML 1.0 cannot carry that the probes stored (issue 9, item 1).
const CONTROLS: [char; 4] = ['\u{0}', '\u{1}', '\u{1b}', '\u{c}'];

/// True when `body` holds a character XML 1.0 forbids (C0 controls but TAB, LF, CR).
fn has_control(body: &[u8]) -> bool {
    body.iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
}

#[test]
fn control_characters_in_items_are_refused_and_never_stored() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let book = d.new_addressbook();
    d.put_ics(
        &format!("{cal}good.ics"),
        &vevent("good", "fine", "20300101T100000Z", "20300101T110000Z"),
    )
    .expect(201);
    d.put_vcf(&format!("{book}good.vcf"), &vcard3("good", "Fine Person"))
        .expect(201);
    for (i, c) in CONTROLS.iter().enumerate() {
        let ev = format!("{cal}bad{i}.ics");
        let r = d.put_ics(
            &ev,
            &vevent(
                &format!("bad{i}"),
                &format!("x{c}y"),
                "20300101T100000Z",
                "20300101T110000Z",
            ),
        );
        r.expect_error(403, CALDAV, "valid-calendar-data");
        assert!(
            r.text().contains(&format!("U+{:04X}", *c as u32)),
            "{}",
            r.text()
        );
        assert!(!has_control(&r.body), "the character is not echoed");
        d.get(&ev).expect(404);
        let card = format!("{book}bad{i}.vcf");
        let r = d.put_vcf(&card, &vcard3(&format!("bad{i}"), &format!("A{c}B")));
        r.expect_error(403, CARDDAV, "valid-address-data");
        assert!(!has_control(&r.body));
        d.get(&card).expect(404);
    }
    // The collections still answer whole, well-formed, with only the good members.
    let ms = d.propfind(&cal, "1", "<D:getetag/>").multistatus();
    assert_eq!(ms.hrefs(), vec![cal.clone(), format!("{cal}good.ics")]);
    let ms = d.propfind(&book, "1", "<D:getetag/>").multistatus();
    assert_eq!(ms.hrefs(), vec![book.clone(), format!("{book}good.vcf")]);
    assert_alive();
}

#[test]
fn control_characters_in_dead_properties_are_refused_and_never_stored() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    d.put_ics(
        &format!("{cal}one.ics"),
        &vevent("one", "one", "20300101T100000Z", "20300101T110000Z"),
    )
    .expect(201);
    let patch = |decl: &str, value: &str| {
        format!(
            r#"{decl}<D:propertyupdate xmlns:D="DAV:" xmlns:X="urn:x-test:"><D:set><D:prop><X:note>{value}</X:note><D:displayname>renamed</D:displayname></D:prop></D:set></D:propertyupdate>"#
        )
    };
    // In an XML 1.0 body the character makes it ill-formed, raw or referenced (§2.2, WFC Legal
    // Character): RFC 4918 §8.2 refuses the whole request with 400.
    for body in [
        patch("", "a\u{1b}b"),
        patch("", "a&#x1B;b"),
        patch("", "a&#1;b"),
    ] {
        let r = d.dav("PROPPATCH", &cal, None, body.clone(), &[]);
        assert_eq!(r.status, 400, "{body:?}: {}", r.text());
        assert!(!has_control(&r.body));
    }
    // XML 1.1 may reference the control; the value cannot be stored or given back in XML 1.0:
    // 409 for it, 424 for the rest, nothing stored.
    let body = patch(r#"<?xml version="1.1" encoding="utf-8"?>"#, "a&#x1B;b");
    let ms = d.dav("PROPPATCH", &cal, None, body, &[]).multistatus();
    let r = ms.get(&cal);
    assert_eq!(r.prop_status("urn:x-test:", "note"), 409, "{}", ms.text);
    assert_eq!(r.prop_status(DAV, "displayname"), 424, "{}", ms.text);
    assert!(!has_control(ms.text.as_bytes()));
    assert_eq!(displayname(&d, &cal).as_deref(), Some("test"));
    let ms = d
        .propfind(&cal, "1", r#"<X:note xmlns:X="urn:x-test:"/>"#)
        .multistatus();
    assert_eq!(ms.get(&cal).prop_status("urn:x-test:", "note"), 404);
    // Every read of the collection stays well-formed XML (Ms::parse asserts it).
    let ms = d
        .dav("PROPFIND", &cal, Some("1"), Vec::new(), &[])
        .multistatus();
    assert_eq!(ms.hrefs().len(), 2);
    let query = r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>"#;
    d.report(&cal, "1", query).multistatus();
    let sync = r#"<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/><C:calendar-data/></D:prop></D:sync-collection>"#;
    d.report(&cal, "1", sync).multistatus();
    // A MKCOL body carrying such a value creates nothing either (RFC 5689 §3).
    let path = format!("{CAL_HOME}{}/", unique("ctl"));
    let body = r#"<?xml version="1.1"?><D:mkcol xmlns:D="DAV:" xmlns:X="urn:x-test:"><D:set><D:prop><X:note>a&#x1B;b</X:note></D:prop></D:set></D:mkcol>"#;
    let r = d.dav("MKCOL", &path, None, body, &[]);
    assert_eq!(r.status, 403, "{}", r.text());
    d.propfind(&path, "0", "<D:resourcetype/>").expect(404);
    assert_alive();
}

#[test]
fn nul_in_an_xml_name_is_400_and_not_echoed() {
    let d = demo();
    for body in [
        "<D:propfind xmlns:D=\"DAV:\"><D:prop><D:display\u{0}name/></D:prop></D:propfind>",
        "<D:propfind xmlns:D=\"DAV:\"><D:prop><X:a xmlns:X=\"urn:\u{0}\"/></D:prop></D:propfind>",
        "<D:propfind xmlns:D=\"DAV:\"><D:prop x\u{1b}=\"1\"><D:displayname/></D:prop></D:propfind>",
    ] {
        let r = d.dav("PROPFIND", CAL_HOME, Some("0"), body, &[]);
        assert_eq!(r.status, 400, "{body:?}: {}", r.text());
        assert!(!has_control(&r.body), "echoed: {:?}", r.text());
        assert!(r.text().contains("XML 1.0 forbids"), "{}", r.text());
    }
    assert_alive();
}

#[test]
fn data_stored_before_the_check_still_reads_as_well_formed_xml() {
    use std::str::FromStr;
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    d.put_ics(
        &format!("{cal}good.ics"),
        &vevent("good", "fine", "20300101T100000Z", "20300101T110000Z"),
    )
    .expect(201);
    // What an older release stored: an item and dead properties holding controls (a NUL even
    // in a property's name), written straight into the running server's state file. In SQL:
    // the store itself refuses to open a file another process serves (its one-process guard).
    let stored = cal.trim_start_matches("/dav/").to_string();
    let db = format!("sqlite://{}", server().dir.join("state.db").display());
    let body = vevent(
        "old",
        "x\u{1b}y\u{0}z",
        "20300102T100000Z",
        "20300102T110000Z",
    );
    tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async {
            let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&db)
                .expect("state URL")
                .busy_timeout(std::time::Duration::from_secs(10));
            let pool = sqlx::SqlitePool::connect_with(opts)
                .await
                .expect("open the state file");
            let (coll, seq): (i64, i64) = sqlx::query_as(
                "UPDATE collections SET seq = seq + 1 WHERE tenant = 'demo' AND path = ? \
                 RETURNING id, seq",
            )
            .bind(&stored)
            .fetch_one(&pool)
            .await
            .expect("the calendar");
            sqlx::query(
                "INSERT INTO items (collection_id, name, content_type, body, etag, uid, \
                 component, seq, created, modified) VALUES (?, 'old.ics', ?, ?, ?, 'old', \
                 'VEVENT', ?, 0, 0)",
            )
            .bind(coll)
            .bind("text/calendar; charset=utf-8")
            .bind(body.as_bytes())
            .bind(crmdav::store::etag_of(body.as_bytes()))
            .bind(seq)
            .execute(&pool)
            .await
            .expect("store the old item");
            for path in [stored.clone(), format!("{stored}old.ics")] {
                for name in ["note", "n\u{0}te"] {
                    sqlx::query(
                        "INSERT INTO props (tenant, path, ns, name, xml) \
                         VALUES ('demo', ?, 'urn:x-test:', ?, ?)",
                    )
                    .bind(&path)
                    .bind(name)
                    .bind(format!(
                        "<X:{name} xmlns:X=\"urn:x-test:\">a\u{1b}b</X:{name}>"
                    ))
                    .execute(&pool)
                    .await
                    .expect("store the old properties");
                }
            }
            pool.close().await;
        });
    let old = format!("{cal}old.ics");
    let reads = [
        d.dav("PROPFIND", &cal, Some("1"), Vec::new(), &[]),
        d.dav(
            "PROPFIND",
            &cal,
            Some("1"),
            r#"<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>"#,
            &[],
        ),
        d.propfind(&cal, "1", r#"<X:note xmlns:X="urn:x-test:"/><D:getetag/>"#),
        d.report(
            &cal,
            "1",
            r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/><X:note xmlns:X="urn:x-test:"/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>"#,
        ),
        d.report(
            &cal,
            "1",
            r#"<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop><D:getetag/><C:calendar-data/></D:prop></D:sync-collection>"#,
        ),
        d.report(
            &cal,
            "1",
            &format!(
                r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop><D:href>{old}</D:href></C:calendar-multiget>"#
            ),
        ),
    ];
    for r in &reads {
        let ms = r.multistatus(); // parses: well-formed
        assert!(!has_control(&r.body), "{}", ms.text);
        assert!(
            ms.find(&old).is_some(),
            "the old item is listed: {}",
            ms.text
        );
    }
    let data = reads[3]
        .multistatus()
        .get(&old)
        .ok(CALDAV, "calendar-data")
        .text
        .clone();
    assert!(data.contains("SUMMARY:x\u{FFFD}y\u{FFFD}z"), "{data}");
}

#[test]
fn an_end_before_the_start_is_refused_and_an_equal_end_kept() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT", "VTODO"]);
    let tz_event = |start: &str, end: &str| {
        vevent("tz", "zones", "X", "Y")
            .replace("DTSTART:X", &format!("DTSTART{start}"))
            .replace("DTEND:Y", &format!("DTEND{end}"))
    };
    for body in [
        vevent("e1", "back", "20300101T100000Z", "20300101T090000Z"),
        // 10:00 in Berlin (no VTIMEZONE: the IANA zone) is 09:00Z, after the 08:30Z end.
        tz_event(";TZID=Europe/Berlin:20300101T100000", ":20300101T083000Z"),
        tz_event(";VALUE=DATE:20300102", ";VALUE=DATE:20300101"),
        vtodo("t1", "due early").replace(
            "SUMMARY:",
            "DTSTART:20300101T100000Z\r\nDUE:20300101T080000Z\r\nSUMMARY:",
        ),
    ] {
        let href = format!("{cal}{}.ics", unique("end"));
        let r = d.put_ics(&href, &body);
        r.expect_error(403, CALDAV, "valid-calendar-data");
        assert!(r.text().contains("ends before it starts"), "{}", r.text());
        d.get(&href).expect(404);
    }
    for body in [
        vevent("e2", "zero length", "20300101T100000Z", "20300101T100000Z"),
        tz_event(";TZID=Europe/Berlin:20300101T100000", ":20300101T090000Z"),
    ] {
        let href = format!("{cal}{}.ics", unique("end"));
        d.put_ics(&href, &body).expect(201);
        d.delete(&href).expect(204);
    }
}
