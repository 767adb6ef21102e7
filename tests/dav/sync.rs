//! Collection synchronisation (RFC 6578) and the CalendarServer getctag.

use crate::support::dav::*;
use crate::support::demo::*;
use std::collections::{BTreeMap, BTreeSet};

fn sync(c: &Client, coll: &str, token: &str, limit: Option<usize>, prop: &str) -> Resp {
    let limit = limit
        .map(|n| format!("<D:limit><D:nresults>{n}</D:nresults></D:limit>"))
        .unwrap_or_default();
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:sync-token>{}</D:sync-token><D:sync-level>1</D:sync-level>{limit}<D:prop>{prop}</D:prop></D:sync-collection>"#,
        esc(token)
    );
    c.report(coll, "0", &body)
}

struct Delta {
    changed: BTreeMap<String, String>,
    deleted: BTreeSet<String>,
    truncated: bool,
    token: String,
}

fn delta(ms: &Ms, coll: &str) -> Delta {
    let mut d = Delta {
        changed: BTreeMap::new(),
        deleted: BTreeSet::new(),
        truncated: false,
        token: ms
            .sync_token()
            .expect("sync-collection answers with a DAV:sync-token"),
    };
    for r in ms.responses() {
        let h = r.href().to_string();
        match r.status {
            Some(404) => {
                assert!(d.deleted.insert(h.clone()), "{h} reported twice");
            }
            Some(507) => {
                assert_eq!(h, coll, "507 is reported on the collection");
                d.truncated = true;
            }
            Some(s) => panic!("unexpected response status {s} for {h}"),
            None => {
                let etag = r.ok(DAV, "getetag").text.clone();
                assert!(
                    d.changed.insert(h.clone(), etag).is_none(),
                    "{h} reported twice"
                );
            }
        }
    }
    d
}

fn token_and_ctag(c: &Client, coll: &str) -> (String, String) {
    let ms = c
        .propfind(coll, "0", "<D:sync-token/><CS:getctag/>")
        .multistatus();
    let r = ms.get(coll);
    (
        r.ok(DAV, "sync-token").text.clone(),
        r.ok(CS, "getctag").text.clone(),
    )
}

fn ev(uid: &str, s: &str) -> String {
    vevent(uid, s, "20270401T100000Z", "20270401T110000Z")
}

#[test]
fn initial_sync_lists_all_members_with_a_token() {
    let d = demo();
    let ms = sync(&d, MEETINGS, "", None, "<D:getetag/>").multistatus();
    let dl = delta(&ms, MEETINGS);
    assert_eq!(dl.changed.len(), 240, "all seeded meetings");
    assert!(dl.deleted.is_empty());
    assert!(!dl.truncated);
    assert!(dl.token.contains(':'), "the token is a URI: {}", dl.token);
    // ETags in the sync answer equal GET's
    let (href, etag) = dl.changed.iter().next().unwrap();
    assert_eq!(&d.get(href).etag(), etag);
    // the token equals the collection's sync-token property
    assert_eq!(token_and_ctag(&d, MEETINGS).0, dl.token);
    // an empty element and a missing element both mean initial sync
    let ms = sync(&d, CONTACTS, "", None, "<D:getetag/>").multistatus();
    assert_eq!(delta(&ms, CONTACTS).changed.len(), 240);
}

#[test]
fn incremental_sync_reports_exactly_the_changes() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    for n in ["a", "b", "c"] {
        d.put_ics(&format!("{cal}{n}.ics"), &ev(&unique(n), n))
            .expect(201);
    }
    let first = delta(
        &sync(&d, &cal, "", None, "<D:getetag/>").multistatus(),
        &cal,
    );
    assert_eq!(first.changed.len(), 3);
    // nothing happened: empty delta, same token
    let none = delta(
        &sync(&d, &cal, &first.token, None, "<D:getetag/>").multistatus(),
        &cal,
    );
    assert!(none.changed.is_empty() && none.deleted.is_empty());
    assert_eq!(none.token, first.token);

    // modify b, delete c, create d
    let b_uid = {
        let t = d.get(&format!("{cal}b.ics")).text();
        t.lines().find(|l| l.starts_with("UID:")).unwrap()[4..]
            .trim()
            .to_string()
    };
    let put_b = d.put_ics(&format!("{cal}b.ics"), &ev(&b_uid, "b changed"));
    put_b.expect(204);
    d.delete(&format!("{cal}c.ics")).expect(204);
    let put_d = d.put_ics(&format!("{cal}d.ics"), &ev(&unique("d"), "d"));
    put_d.expect(201);

    let second = delta(
        &sync(&d, &cal, &first.token, None, "<D:getetag/>").multistatus(),
        &cal,
    );
    let changed: Vec<&String> = second.changed.keys().collect();
    assert_eq!(
        changed,
        vec![&format!("{cal}b.ics"), &format!("{cal}d.ics")]
    );
    assert_eq!(second.changed[&format!("{cal}b.ics")], put_b.etag());
    assert_eq!(second.changed[&format!("{cal}d.ics")], put_d.etag());
    assert_eq!(second.deleted, BTreeSet::from([format!("{cal}c.ics")]));
    assert_ne!(second.token, first.token);

    // from the new token: nothing
    let third = delta(
        &sync(&d, &cal, &second.token, None, "<D:getetag/>").multistatus(),
        &cal,
    );
    assert!(third.changed.is_empty() && third.deleted.is_empty());

    // an initial sync after the delete does not mention c at all
    let full = delta(
        &sync(&d, &cal, "", None, "<D:getetag/>").multistatus(),
        &cal,
    );
    assert_eq!(full.changed.len(), 3);
    assert!(
        full.deleted.is_empty(),
        "an initial sync lists no deleted members"
    );

    // a member created and deleted between two syncs is reported as deleted (or not at all), never as changed
    d.put_ics(&format!("{cal}tmp.ics"), &ev(&unique("tmp"), "tmp"))
        .expect(201);
    d.delete(&format!("{cal}tmp.ics")).expect(204);
    let fourth = delta(
        &sync(&d, &cal, &full.token, None, "<D:getetag/>").multistatus(),
        &cal,
    );
    assert!(!fourth.changed.contains_key(&format!("{cal}tmp.ics")));
}

#[test]
fn sync_can_return_calendar_data() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let body = ev(&unique("data"), "with data");
    d.put_ics(&format!("{cal}x.ics"), &body).expect(201);
    let ms = sync(&d, &cal, "", None, "<D:getetag/><C:calendar-data/>").multistatus();
    assert_eq!(
        ms.get(&format!("{cal}x.ics"))
            .ok(CALDAV, "calendar-data")
            .text,
        body
    );
}

#[test]
fn getctag_moves_exactly_when_sync_token_moves() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let (t0, c0) = token_and_ctag(&d, &cal);
    // a read or a refused write changes neither
    d.get(&cal);
    d.put_ics(&format!("{cal}bad.ics"), "garbage").expect(403);
    assert_eq!(token_and_ctag(&d, &cal), (t0.clone(), c0.clone()));
    // a write changes both
    let p = d.put_ics(&format!("{cal}a.ics"), &ev(&unique("ct"), "a"));
    p.expect(201);
    let (t1, c1) = token_and_ctag(&d, &cal);
    assert_ne!(t1, t0);
    assert_ne!(c1, c0);
    // a PROPPATCH of a dead property changes neither token (it is not a member change)…
    let pp = r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>renamed</D:displayname></D:prop></D:set></D:propertyupdate>"#;
    d.dav("PROPPATCH", &cal, None, pp, &[]).expect(207);
    let (t2, c2) = token_and_ctag(&d, &cal);
    assert_eq!(t2 == t1, c2 == c1, "getctag and sync-token move together");
    // delete changes both
    d.delete(&format!("{cal}a.ics")).expect(204);
    let (t3, c3) = token_and_ctag(&d, &cal);
    assert_ne!(t3, t2);
    assert_ne!(c3, c2);
}

#[test]
fn unknown_token_is_refused() {
    let d = demo();
    let (tok, _) = token_and_ctag(&d, MEETINGS);
    let (other, _) = token_and_ctag(&d, TASKS);
    for bad in [
        "urn:crmdav:sync:doesnotexist:1".to_string(),
        "http://example.com/sync/1".to_string(),
        other,               // another collection's token
        format!("{tok}999"), // a future sequence
        "garbage".to_string(),
    ] {
        let r = sync(&d, MEETINGS, &bad, None, "<D:getetag/>");
        r.expect_error(403, DAV, "valid-sync-token");
    }
    // a deleted and recreated collection does not accept the old token
    let cal = d.new_calendar(&["VEVENT"]);
    let (old, _) = token_and_ctag(&d, &cal);
    d.delete(&cal).expect(204);
    d.mkcalendar(&cal, "").expect(201);
    sync(&d, &cal, &old, None, "<D:getetag/>").expect_error(403, DAV, "valid-sync-token");
}

#[test]
fn limit_truncates_and_the_token_continues() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let mut expected = BTreeSet::new();
    for i in 0..12 {
        let p = format!("{cal}m{i:02}.ics");
        d.put_ics(&p, &ev(&unique("lim"), &format!("m{i}")))
            .expect(201);
        expected.insert(p);
    }
    let mut token = String::new();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        assert!(rounds < 20, "sync with a limit does not terminate");
        let ms = sync(&d, &cal, &token, Some(5), "<D:getetag/>").multistatus();
        let dl = delta(&ms, &cal);
        assert!(
            dl.changed.len() <= 5,
            "at most nresults members: {}",
            dl.changed.len()
        );
        for h in dl.changed.keys() {
            assert!(seen.insert(h.clone()), "{h} seen twice across pages");
        }
        assert_ne!(dl.token, token);
        token = dl.token;
        if !dl.truncated {
            break;
        }
        let r507 = ms.get(&cal);
        assert!(
            r507.errors
                .iter()
                .any(|(n, l)| n == DAV && l == "number-of-matches-within-limits"),
            "{r507:?}"
        );
    }
    assert_eq!(seen, expected);
    assert!(
        rounds >= 3,
        "12 changes in pages of 5 take at least 3 rounds, took {rounds}"
    );

    // changes after paging are picked up from the last token, exactly once
    d.delete(&format!("{cal}m00.ics")).expect(204);
    let dl = delta(
        &sync(&d, &cal, &token, Some(5), "<D:getetag/>").multistatus(),
        &cal,
    );
    assert!(dl.changed.is_empty());
    assert_eq!(dl.deleted, BTreeSet::from([format!("{cal}m00.ics")]));
    assert!(!dl.truncated);
}

#[test]
fn sync_on_a_non_dav_collection_is_refused() {
    let d = demo();
    sync(&d, CAL_HOME, "", None, "<D:getetag/>").expect_error(403, DAV, "supported-report");
}

#[test]
fn sync_level_infinite_on_a_calendar_works_and_bad_level_is_400() {
    let d = demo();
    let body = r#"<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>infinite</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#;
    let ms = d.report(TASKS, "0", body).multistatus();
    assert!(delta(&ms, TASKS).changed.len() >= 36);
    let body = r#"<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>7</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#;
    assert_eq!(d.report(TASKS, "0", body).status, 400);
}

#[test]
fn move_between_calendars_shows_in_both_syncs() {
    let d = demo();
    let a = d.new_calendar(&["VEVENT"]);
    let b = d.new_calendar(&["VEVENT"]);
    d.put_ics(&format!("{a}m.ics"), &ev(&unique("mv"), "moving"))
        .expect(201);
    let ta = delta(&sync(&d, &a, "", None, "<D:getetag/>").multistatus(), &a).token;
    let tb = delta(&sync(&d, &b, "", None, "<D:getetag/>").multistatus(), &b).token;
    let (_, ctag_a) = token_and_ctag(&d, &a);
    let (_, ctag_b) = token_and_ctag(&d, &b);
    d.dav(
        "MOVE",
        &format!("{a}m.ics"),
        None,
        Vec::new(),
        &[("Destination", &format!("{b}m2.ics"))],
    )
    .expect(201);
    let da = delta(&sync(&d, &a, &ta, None, "<D:getetag/>").multistatus(), &a);
    assert!(da.changed.is_empty());
    assert_eq!(
        da.deleted,
        BTreeSet::from([format!("{a}m.ics")]),
        "the source is reported deleted"
    );
    let db = delta(&sync(&d, &b, &tb, None, "<D:getetag/>").multistatus(), &b);
    assert_eq!(
        db.changed.keys().cloned().collect::<Vec<_>>(),
        vec![format!("{b}m2.ics")]
    );
    assert!(db.deleted.is_empty());
    assert_ne!(token_and_ctag(&d, &a).1, ctag_a);
    assert_ne!(token_and_ctag(&d, &b).1, ctag_b);
}

#[test]
fn overwrite_by_copy_is_a_change() {
    let d = demo();
    let a = d.new_calendar(&["VEVENT"]);
    let b = d.new_calendar(&["VEVENT"]);
    let uid = unique("ow");
    d.put_ics(&format!("{a}x.ics"), &ev(&uid, "new version"))
        .expect(201);
    d.put_ics(&format!("{b}x.ics"), &ev(&uid, "old version"))
        .expect(201);
    let tb = delta(&sync(&d, &b, "", None, "<D:getetag/>").multistatus(), &b).token;
    d.dav(
        "COPY",
        &format!("{a}x.ics"),
        None,
        Vec::new(),
        &[("Destination", &format!("{b}x.ics"))],
    )
    .expect(204);
    let db = delta(&sync(&d, &b, &tb, None, "<D:getetag/>").multistatus(), &b);
    assert_eq!(db.changed.len(), 1);
    assert_eq!(
        db.changed[&format!("{b}x.ics")],
        d.get(&format!("{b}x.ics")).etag()
    );
    assert!(d.get(&format!("{b}x.ics")).text().contains("new version"));
}

/// An initial sync larger than one streamed chunk (the change log is read while the answer
/// is written): every member once, no deletion, and the token of the collection as read.
/// Then a deletion and an edit show in the next sync exactly.
#[test]
fn streamed_initial_sync_over_many_members() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    for i in 0..700 {
        d.put_ics(
            &format!("{cal}m-{i:04}.ics"),
            &ev(&format!("m-{i}"), "member"),
        )
        .expect(201);
    }
    d.delete(&format!("{cal}m-0007.ics")).expect(204);
    let resp = sync(&d, &cal, "", None, "<D:getetag/>");
    assert!(resp.text().len() > 64 * 1024, "larger than one chunk");
    let dl = delta(&resp.multistatus(), &cal);
    assert_eq!(dl.changed.len(), 699);
    assert!(dl.deleted.is_empty(), "an initial sync lists no deletions");
    assert!(!dl.changed.contains_key(&format!("{cal}m-0007.ics")));
    assert_eq!(token_and_ctag(&d, &cal).0, dl.token);
    d.delete(&format!("{cal}m-0008.ics")).expect(204);
    d.put_ics(&format!("{cal}m-0009.ics"), &ev("m-9", "edited"))
        .expect(204);
    let next = delta(
        &sync(&d, &cal, &dl.token, None, "<D:getetag/>").multistatus(),
        &cal,
    );
    assert_eq!(
        next.deleted,
        BTreeSet::from([format!("{cal}m-0008.ics")]),
        "only the deletion after the token"
    );
    assert_eq!(
        next.changed.keys().collect::<Vec<_>>(),
        vec![&format!("{cal}m-0009.ics")]
    );
}
