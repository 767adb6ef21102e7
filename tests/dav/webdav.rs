//! WebDAV class 1 (RFC 4918) and extended MKCOL (RFC 5689) over the real server.

use crate::support::dav::*;
use crate::support::demo::*;

#[test]
fn options_advertises_classes_and_methods() {
    for p in ["/", "/dav/", CAL_HOME, MEETINGS, CONTACTS] {
        let r = demo().dav("OPTIONS", p, None, Vec::new(), &[]);
        r.expect(200);
        let dav = r.header_all("dav");
        let classes: Vec<&str> = dav.split(',').map(str::trim).collect();
        for c in ["1", "3", "calendar-access", "addressbook", "extended-mkcol"] {
            assert!(classes.contains(&c), "{p}: DAV header lacks {c}: {dav}");
        }
        assert!(!classes.contains(&"2"), "no LOCK, so no class 2: {dav}");
        let allow = r.header_all("allow");
        let methods: Vec<&str> = allow.split(',').map(str::trim).collect();
        for m in [
            "OPTIONS",
            "GET",
            "HEAD",
            "PUT",
            "DELETE",
            "PROPFIND",
            "PROPPATCH",
            "REPORT",
            "MKCOL",
            "MKCALENDAR",
            "COPY",
            "MOVE",
        ] {
            assert!(methods.contains(&m), "{p}: Allow lacks {m}: {allow}");
        }
    }
}

#[test]
fn propfind_allprop_propname_and_empty_body() {
    let item = format!("{MEETINGS}demo-evt-0001@crmdav.ics");
    let get = demo().get(&item);
    get.expect(200);
    // allprop
    let ms = demo()
        .dav(
            "PROPFIND",
            &item,
            Some("0"),
            r#"<propfind xmlns="DAV:"><allprop/></propfind>"#,
            &[],
        )
        .multistatus();
    let r = ms.get(&item);
    assert_eq!(r.ok(DAV, "getetag").text, get.etag());
    assert_eq!(
        r.ok(DAV, "getcontentlength").text.trim(),
        get.body.len().to_string()
    );
    assert!(r
        .ok(DAV, "getcontenttype")
        .text
        .starts_with("text/calendar"));
    assert!(r.ok(DAV, "resourcetype").children.is_empty());
    // empty body = allprop
    let ms2 = demo()
        .dav("PROPFIND", &item, Some("0"), Vec::new(), &[])
        .multistatus();
    assert_eq!(ms2.get(&item).ok(DAV, "getetag").text, get.etag());
    // propname: names only, empty
    let ms = demo()
        .dav(
            "PROPFIND",
            MEETINGS,
            Some("0"),
            r#"<propfind xmlns="DAV:"><propname/></propfind>"#,
            &[],
        )
        .multistatus();
    let r = ms.get(MEETINGS);
    for (ns, n) in [
        (DAV, "resourcetype"),
        (DAV, "sync-token"),
        (CS, "getctag"),
        (DAV, "displayname"),
    ] {
        let p = r
            .prop(ns, n)
            .unwrap_or_else(|| panic!("propname lists {{{ns}}}{n}: {}", ms.text));
        assert_eq!(p.status, 200);
        assert!(
            p.text.is_empty() && p.children.is_empty(),
            "propname gives empty elements: {p:?}"
        );
    }
}

#[test]
fn propfind_depth_infinity_is_refused() {
    for depth in [Some("infinity"), None] {
        let r = demo().dav(
            "PROPFIND",
            CAL_HOME,
            depth,
            r#"<propfind xmlns="DAV:"><prop><resourcetype/></prop></propfind>"#,
            &[],
        );
        r.expect_error(403, DAV, "propfind-finite-depth");
    }
}

#[test]
fn unknown_props_get_404_propstat() {
    let ms = demo()
        .propfind(
            MEETINGS,
            "0",
            r#"<D:displayname/><X:nothing xmlns:X="urn:x-test:"/><D:getetag/>"#,
        )
        .multistatus();
    let r = ms.get(MEETINGS);
    assert_eq!(r.ok(DAV, "displayname").text, "CRM meetings");
    assert_eq!(r.prop_status("urn:x-test:", "nothing"), 404);
    assert_eq!(
        r.prop_status(DAV, "getetag"),
        404,
        "a collection has no getetag here"
    );
}

fn proppatch(c: &Client, path: &str, inner: &str) -> Resp {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CR="urn:ietf:params:xml:ns:carddav" xmlns:A="http://apple.com/ns/ical/" xmlns:Z="urn:x-crmdav-test:">{inner}</D:propertyupdate>"#
    );
    c.dav("PROPPATCH", path, None, body, &[])
}

#[test]
fn proppatch_meta_and_dead_properties() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let ms = proppatch(
        &d,
        &cal,
        r#"<D:set><D:prop><D:displayname>Renamed &amp; new</D:displayname><A:calendar-color>#FF0000FF</A:calendar-color><A:calendar-order>3</A:calendar-order><C:calendar-description>About  &lt;this&gt;</C:calendar-description><Z:flavour><Z:kind a="1">mint</Z:kind></Z:flavour></D:prop></D:set>"#,
    )
    .multistatus();
    let r = ms.get(&cal);
    for (ns, n) in [
        (DAV, "displayname"),
        (ICAL, "calendar-color"),
        (ICAL, "calendar-order"),
        (CALDAV, "calendar-description"),
        ("urn:x-crmdav-test:", "flavour"),
    ] {
        assert_eq!(r.prop_status(ns, n), 200, "{n}");
    }
    let ms = d
        .propfind(&cal, "0", r#"<D:displayname/><A:calendar-color/><A:calendar-order/><C:calendar-description/><Z:flavour xmlns:Z="urn:x-crmdav-test:"/>"#)
        .multistatus();
    let r = ms.get(&cal);
    assert_eq!(r.ok(DAV, "displayname").text, "Renamed & new");
    assert_eq!(r.ok(ICAL, "calendar-color").text, "#FF0000FF");
    assert_eq!(r.ok(ICAL, "calendar-order").text, "3");
    assert_eq!(r.ok(CALDAV, "calendar-description").text, "About  <this>");
    let fl = r.ok("urn:x-crmdav-test:", "flavour");
    let kind = fl
        .child("urn:x-crmdav-test:", "kind")
        .expect("dead property keeps its children");
    assert_eq!(kind.text, "mint");
    assert_eq!(kind.attr("a"), Some("1"));

    // remove
    let ms = proppatch(
        &d,
        &cal,
        r#"<D:remove><D:prop><Z:flavour/><A:calendar-order/></D:prop></D:remove>"#,
    )
    .multistatus();
    assert_eq!(
        ms.get(&cal).prop_status("urn:x-crmdav-test:", "flavour"),
        200
    );
    let ms = d
        .propfind(
            &cal,
            "0",
            r#"<A:calendar-order/><Z:flavour xmlns:Z="urn:x-crmdav-test:"/><D:displayname/>"#,
        )
        .multistatus();
    let r = ms.get(&cal);
    assert_eq!(r.prop_status("urn:x-crmdav-test:", "flavour"), 404);
    assert_eq!(r.prop_status(ICAL, "calendar-order"), 404);
    assert_eq!(r.ok(DAV, "displayname").text, "Renamed & new");
}

#[test]
fn proppatch_addressbook_description() {
    let d = demo();
    let book = d.new_addressbook();
    proppatch(&d, &book, r#"<D:set><D:prop><CR:addressbook-description>Friends</CR:addressbook-description></D:prop></D:set>"#)
        .multistatus();
    let ms = d
        .propfind(&book, "0", "<CR:addressbook-description/><D:displayname/>")
        .multistatus();
    assert_eq!(
        ms.get(&book).ok(CARDDAV, "addressbook-description").text,
        "Friends"
    );
    assert_eq!(ms.get(&book).ok(DAV, "displayname").text, "test book");
}

#[test]
fn proppatch_protected_is_atomic() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let ms = proppatch(
        &d,
        &cal,
        r#"<D:set><D:prop><D:displayname>Should not stick</D:displayname><D:getetag>"x"</D:getetag><Z:dead>v</Z:dead></D:prop></D:set>"#,
    )
    .multistatus();
    let r = ms.get(&cal);
    assert_eq!(r.prop_status(DAV, "getetag"), 403);
    assert_eq!(r.prop_status(DAV, "displayname"), 424);
    assert_eq!(r.prop_status("urn:x-crmdav-test:", "dead"), 424);
    let ms = d
        .propfind(
            &cal,
            "0",
            r#"<D:displayname/><Z:dead xmlns:Z="urn:x-crmdav-test:"/>"#,
        )
        .multistatus();
    let r = ms.get(&cal);
    assert_eq!(r.ok(DAV, "displayname").text, "test", "nothing changed");
    assert_eq!(r.prop_status("urn:x-crmdav-test:", "dead"), 404);
    // resourcetype and sync-token are protected too
    for p in [
        "<D:resourcetype><D:collection/></D:resourcetype>",
        "<D:sync-token>x:y</D:sync-token>",
        "<CS:getctag xmlns:CS=\"http://calendarserver.org/ns/\">1</CS:getctag>",
    ] {
        let ms = proppatch(&d, &cal, &format!("<D:set><D:prop>{p}</D:prop></D:set>")).multistatus();
        let r = ms.get(&cal);
        assert_eq!(r.props.len(), 1);
        assert_eq!(r.props[0].status, 403, "{p}");
    }
}

#[test]
fn plain_collection_holds_arbitrary_bytes() {
    let d = demo();
    let col = format!("{CAL_HOME}{}/", unique("files"));
    d.mkcol(&col).expect(201);
    let ms = d.propfind(&col, "0", "<D:resourcetype/>").multistatus();
    let rt = ms.get(&col).ok(DAV, "resourcetype").clone();
    assert!(rt.child(DAV, "collection").is_some());
    assert!(
        rt.child(CALDAV, "calendar").is_none(),
        "plain MKCOL makes a plain collection"
    );

    let body: Vec<u8> = (0..=255u8).cycle().take(3000).collect();
    let path = format!("{col}blob.bin");
    let r = d.dav(
        "PUT",
        &path,
        None,
        body.clone(),
        &[("Content-Type", "application/x-test-blob")],
    );
    r.expect(201);
    let put_etag = r.etag();
    let g = d.get(&path);
    g.expect(200);
    assert_eq!(g.body, body, "byte-identical");
    assert_eq!(g.etag(), put_etag);
    assert_eq!(
        g.header("content-type").as_deref(),
        Some("application/x-test-blob")
    );
    let h = d.dav("HEAD", &path, None, Vec::new(), &[]);
    h.expect(200);
    assert!(h.body.is_empty());
    assert_eq!(h.etag(), put_etag);

    d.delete(&path).expect(204);
    assert_eq!(d.get(&path).status, 404);
    assert_eq!(d.delete(&path).status, 404);
}

#[test]
fn mkcol_errors() {
    let d = demo();
    // missing parent
    let r = d.mkcol(&format!("{CAL_HOME}{}/child/", unique("nope")));
    assert_eq!(r.status, 409, "{}", r.text());
    // existing
    let col = format!("{CAL_HOME}{}/", unique("twice"));
    d.mkcol(&col).expect(201);
    assert_eq!(d.mkcol(&col).status, 405);
    assert_eq!(d.mkcol(MEETINGS).status, 405);
    // inside a calendar: not allowed (RFC 4791 §4.2)
    let r = d.mkcol(&format!("{MEETINGS}{}/", unique("sub")));
    assert_eq!(r.status, 403, "{}", r.text());
    // MKCOL with a non-XML body → 415 (RFC 4918 §9.3)
    let r = d.dav(
        "MKCOL",
        &format!("{CAL_HOME}{}/", unique("b")),
        None,
        "hello",
        &[("Content-Type", "text/plain")],
    );
    assert_eq!(r.status, 415);
}

fn put_event(d: &Client, path: &str, uid: &str) -> String {
    let r = d.put_ics(
        path,
        &vevent(uid, "copy me", "20270105T100000Z", "20270105T110000Z"),
    );
    r.expect(201);
    r.etag()
}

/// Two MOVEs of one item to two different calendars at the same time: exactly one wins, the
/// other gets 404, and the UID exists once (the source is read and deleted in the same
/// transaction as the destination is written).
#[test]
fn racing_moves_of_one_item_leave_one_copy() {
    let d = demo();
    let (a, b, c) = (
        d.new_calendar(&["VEVENT"]),
        d.new_calendar(&["VEVENT"]),
        d.new_calendar(&["VEVENT"]),
    );
    for round in 0..15 {
        let src = format!("{a}r{round}.ics");
        put_event(&d, &src, &unique("race"));
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let moves: Vec<_> = [&b, &c]
                .into_iter()
                .map(|to| {
                    let (d, src, dst) = (d.clone(), src.clone(), format!("{to}r{round}.ics"));
                    s.spawn(move || {
                        d.dav("MOVE", &src, None, Vec::new(), &[("Destination", &dst)])
                            .status
                    })
                })
                .collect();
            moves.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut sorted = statuses.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [201, 404], "round {round}: {statuses:?}");
        let copies = [&b, &c]
            .iter()
            .filter(|to| d.get(&format!("{to}r{round}.ics")).status == 200)
            .count();
        assert_eq!(copies, 1, "round {round}");
        assert_eq!(d.get(&src).status, 404, "round {round}");
    }
}

#[test]
fn copy_and_move_items() {
    let d = demo();
    let a = d.new_calendar(&["VEVENT"]);
    let b = d.new_calendar(&["VEVENT"]);
    let src = format!("{a}e1.ics");
    put_event(&d, &src, &unique("uid"));
    let body = d.get(&src).body;

    // COPY to another calendar: 201, same bytes, source kept
    let dst = format!("{b}e1.ics");
    d.dav("COPY", &src, None, Vec::new(), &[("Destination", &dst)])
        .expect(201);
    assert_eq!(d.get(&dst).body, body);
    assert_eq!(d.get(&src).body, body);
    // COPY again with Overwrite: F → 412; with T → 204
    d.dav(
        "COPY",
        &src,
        None,
        Vec::new(),
        &[("Destination", &dst), ("Overwrite", "F")],
    )
    .expect(412);
    d.dav(
        "COPY",
        &src,
        None,
        Vec::new(),
        &[("Destination", &dst), ("Overwrite", "T")],
    )
    .expect(204);
    // COPY inside the same calendar would duplicate the UID → no-uid-conflict
    let r = d.dav(
        "COPY",
        &src,
        None,
        Vec::new(),
        &[("Destination", &format!("{a}dup.ics"))],
    );
    r.expect_error(403, CALDAV, "no-uid-conflict");
    assert_eq!(d.get(&format!("{a}dup.ics")).status, 404);

    // MOVE within a calendar (rename): source gone
    let renamed = format!("{a}renamed.ics");
    d.dav("MOVE", &src, None, Vec::new(), &[("Destination", &renamed)])
        .expect(201);
    assert_eq!(d.get(&src).status, 404);
    assert_eq!(d.get(&renamed).body, body);
    // MOVE onto existing with Overwrite F → 412, both untouched
    let other = format!("{a}other.ics");
    put_event(&d, &other, &unique("uid"));
    let other_body = d.get(&other).body;
    d.dav(
        "MOVE",
        &renamed,
        None,
        Vec::new(),
        &[("Destination", &other), ("Overwrite", "F")],
    )
    .expect(412);
    assert_eq!(d.get(&renamed).body, body);
    assert_eq!(d.get(&other).body, other_body);
    // absolute-URL Destination
    let abs = format!("{}{a}abs.ics", server().base);
    d.dav("MOVE", &renamed, None, Vec::new(), &[("Destination", &abs)])
        .expect(201);
    assert_eq!(d.get(&format!("{a}abs.ics")).body, body);
    // COPY of an event into the VTODO-only tasks list is refused
    let r = d.dav(
        "COPY",
        &format!("{a}abs.ics"),
        None,
        Vec::new(),
        &[("Destination", &format!("{TASKS}{}.ics", unique("x")))],
    );
    r.expect_error(403, CALDAV, "supported-calendar-component");
}

#[test]
fn copy_and_move_collections() {
    let d = demo();
    let col = format!("{CAL_HOME}{}/", unique("tree"));
    d.mkcol(&col).expect(201);
    d.mkcol(&format!("{col}sub/")).expect(201);
    d.put(&format!("{col}a.txt"), "text/plain", "A").expect(201);
    d.put(&format!("{col}sub/b.txt"), "text/plain", "B")
        .expect(201);
    proppatch(
        &d,
        &col,
        r#"<D:set><D:prop><Z:tag>t1</Z:tag></D:prop></D:set>"#,
    )
    .multistatus();

    // COPY Depth infinity copies members and dead properties
    let deep = format!("{CAL_HOME}{}/", unique("deep"));
    d.dav(
        "COPY",
        &col,
        Some("infinity"),
        Vec::new(),
        &[("Destination", &deep)],
    )
    .expect(201);
    assert_eq!(d.get(&format!("{deep}a.txt")).text(), "A");
    assert_eq!(d.get(&format!("{deep}sub/b.txt")).text(), "B");
    let ms = d
        .propfind(&deep, "0", r#"<Z:tag xmlns:Z="urn:x-crmdav-test:"/>"#)
        .multistatus();
    assert_eq!(ms.get(&deep).ok("urn:x-crmdav-test:", "tag").text, "t1");

    // COPY Depth 0 copies the collection and its properties, no members
    let shallow = format!("{CAL_HOME}{}/", unique("shallow"));
    d.dav(
        "COPY",
        &col,
        Some("0"),
        Vec::new(),
        &[("Destination", &shallow)],
    )
    .expect(201);
    let ms = d.propfind(&shallow, "1", "<D:resourcetype/>").multistatus();
    assert_eq!(
        ms.hrefs(),
        vec![shallow.clone()],
        "Depth 0 copy has no members"
    );

    // Overwrite F onto an existing collection → 412
    d.dav(
        "COPY",
        &col,
        Some("infinity"),
        Vec::new(),
        &[("Destination", &shallow), ("Overwrite", "F")],
    )
    .expect(412);

    // MOVE the tree
    let moved = format!("{CAL_HOME}{}/", unique("moved"));
    d.dav("MOVE", &col, None, Vec::new(), &[("Destination", &moved)])
        .expect(201);
    assert_eq!(d.propfind(&col, "0", "<D:resourcetype/>").status, 404);
    assert_eq!(d.get(&format!("{moved}sub/b.txt")).text(), "B");

    // MOVE a calendar keeps its items
    let cal = d.new_calendar(&["VEVENT"]);
    put_event(&d, &format!("{cal}x.ics"), &unique("uid"));
    let cal2 = format!("{CAL_HOME}{}/", unique("calmoved"));
    d.dav("MOVE", &cal, None, Vec::new(), &[("Destination", &cal2)])
        .expect(201);
    assert_eq!(d.get(&format!("{cal2}x.ics")).status, 200);
    let ms = d.propfind(&cal2, "0", "<D:resourcetype/>").multistatus();
    assert!(ms
        .get(&cal2)
        .ok(DAV, "resourcetype")
        .child(CALDAV, "calendar")
        .is_some());

    // DELETE the tree removes members
    d.delete(&moved).expect(204);
    assert_eq!(d.get(&format!("{moved}sub/b.txt")).status, 404);
    // the home itself cannot be deleted
    assert_eq!(d.delete(CAL_HOME).status, 403);
}

#[test]
fn copy_without_destination_is_400() {
    let r = demo().dav(
        "COPY",
        &format!("{MEETINGS}demo-evt-0001@crmdav.ics"),
        None,
        Vec::new(),
        &[],
    );
    assert_eq!(r.status, 400);
}

#[test]
fn put_into_missing_collection_is_409() {
    let r = demo().put("/dav/calendars/demo/no-such-coll/x.txt", "text/plain", "x");
    assert_eq!(r.status, 409);
}

#[test]
fn unknown_method_is_405_with_allow() {
    let r = demo().dav("LOCK", MEETINGS, None, Vec::new(), &[]);
    assert_eq!(r.status, 405);
    assert!(r.header("allow").is_some());
    let r = demo().dav("POST", MEETINGS, None, Vec::new(), &[]);
    assert_eq!(r.status, 405);
}

#[test]
fn dead_properties_of_a_deleted_item_do_not_come_back() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let path = format!("{cal}p.ics");
    let uid = unique("dp");
    d.put_ics(
        &path,
        &vevent(&uid, "x", "20270101T100000Z", "20270101T110000Z"),
    )
    .expect(201);
    proppatch(
        &d,
        &path,
        r#"<D:set><D:prop><Z:note>old</Z:note></D:prop></D:set>"#,
    )
    .multistatus();
    let ms = d
        .propfind(&path, "0", r#"<Z:note xmlns:Z="urn:x-crmdav-test:"/>"#)
        .multistatus();
    assert_eq!(ms.get(&path).ok("urn:x-crmdav-test:", "note").text, "old");
    d.delete(&path).expect(204);
    d.put_ics(
        &path,
        &vevent(&uid, "x", "20270101T100000Z", "20270101T110000Z"),
    )
    .expect(201);
    let ms = d
        .propfind(&path, "0", r#"<Z:note xmlns:Z="urn:x-crmdav-test:"/>"#)
        .multistatus();
    assert_eq!(ms.get(&path).prop_status("urn:x-crmdav-test:", "note"), 404);
}

#[test]
fn propfind_depth1_on_an_item_is_just_the_item() {
    let item = format!("{MEETINGS}demo-evt-0001@crmdav.ics");
    let ms = demo().propfind(&item, "1", "<D:getetag/>").multistatus();
    assert_eq!(ms.hrefs(), vec![item]);
}

#[test]
fn propfind_depth1_on_meetings_lists_all_items_with_etags() {
    let ms = demo()
        .propfind(MEETINGS, "1", "<D:getetag/><D:getcontenttype/>")
        .multistatus();
    let items: Vec<Response> = ms
        .responses()
        .into_iter()
        .filter(|r| r.href() != MEETINGS)
        .collect();
    assert!(items.len() >= 240);
    for r in items.iter().take(20) {
        assert!(r.ok(DAV, "getetag").text.starts_with('"'));
        assert!(r
            .ok(DAV, "getcontenttype")
            .text
            .starts_with("text/calendar"));
    }
}

#[test]
fn move_keeps_dead_properties_and_drops_the_source() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let src = format!("{cal}s.ics");
    put_event(&d, &src, &unique("mvp"));
    proppatch(
        &d,
        &src,
        r#"<D:set><D:prop><Z:note>travels</Z:note></D:prop></D:set>"#,
    )
    .multistatus();
    let dst = format!("{cal}t.ics");
    d.dav("MOVE", &src, None, Vec::new(), &[("Destination", &dst)])
        .expect(201);
    let ms = d
        .propfind(&dst, "0", r#"<Z:note xmlns:Z="urn:x-crmdav-test:"/>"#)
        .multistatus();
    assert_eq!(
        ms.get(&dst).ok("urn:x-crmdav-test:", "note").text,
        "travels",
        "RFC 4918 §9.9.1: dead properties move with the resource"
    );
    assert_eq!(d.propfind(&src, "0", "<D:getetag/>").status, 404);
}

#[test]
fn head_sends_the_same_headers_as_get() {
    // RFC 9110 §9.3.2 / §8.6: a Content-Length in a HEAD response MUST equal the length GET sends.
    let d = demo();
    let col = format!("{CAL_HOME}{}/", unique("head"));
    d.mkcol(&col).expect(201);
    let path = format!("{col}h.bin");
    d.dav(
        "PUT",
        &path,
        None,
        vec![7u8; 3000],
        &[("Content-Type", "application/x-test-blob")],
    )
    .expect(201);
    for p in [path, format!("{MEETINGS}demo-evt-0001@crmdav.ics")] {
        let g = d.get(&p);
        let h = d.dav("HEAD", &p, None, Vec::new(), &[]);
        h.expect(200);
        assert!(h.body.is_empty());
        assert_eq!(h.etag(), g.etag(), "{p}");
        assert_eq!(h.header("content-type"), g.header("content-type"), "{p}");
        assert_eq!(
            h.header("content-length"),
            Some(g.body.len().to_string()),
            "HEAD {p}: Content-Length must be the GET body length"
        );
    }
}
