//! Entity tags and conditional requests (RFC 9110 §8.8.3, §13; RFC 4791 §5.3.4).

use crate::support::dav::*;
use crate::support::demo::*;

fn is_strong_quoted(t: &str) -> bool {
    t.len() >= 2 && t.starts_with('"') && t.ends_with('"') && !t[1..t.len() - 1].contains('"')
}

fn event(uid: &str, summary: &str) -> String {
    vevent(uid, summary, "20270301T090000Z", "20270301T100000Z")
}

#[test]
fn etags_are_strong_and_quoted() {
    let d = demo();
    for item in [
        format!("{MEETINGS}demo-evt-0001@crmdav.ics"),
        format!("{CONTACTS}demo-card-0001@crmdav.vcf"),
    ] {
        let r = d.get(&item);
        r.expect(200);
        let e = r.etag();
        assert!(!e.starts_with("W/"), "weak ETag on {item}: {e}");
        assert!(is_strong_quoted(&e), "{item}: {e}");
        let ms = d.propfind(&item, "0", "<D:getetag/>").multistatus();
        assert_eq!(
            ms.get(&item).ok(DAV, "getetag").text,
            e,
            "PROPFIND getetag equals GET ETag"
        );
    }
}

#[test]
fn put_etag_equals_get_etag_and_changes_with_content() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let path = format!("{cal}a.ics");
    let uid = unique("etag");
    let r = d.put_ics(&path, &event(&uid, "one"));
    r.expect(201);
    let e1 = r.etag();
    assert!(is_strong_quoted(&e1));
    let g = d.get(&path);
    assert_eq!(g.etag(), e1);
    assert_eq!(g.text(), event(&uid, "one"), "stored byte for byte");
    let r = d.dav(
        "PUT",
        &path,
        None,
        event(&uid, "two"),
        &[("Content-Type", "text/calendar"), ("If-Match", &e1)],
    );
    r.expect(204);
    let e2 = r.etag();
    assert_ne!(e1, e2);
    assert_eq!(d.get(&path).etag(), e2);
    // same content again: ETag stable
    let r = d.dav(
        "PUT",
        &path,
        None,
        event(&uid, "two"),
        &[("Content-Type", "text/calendar"), ("If-Match", &e2)],
    );
    r.expect(204);
    assert_eq!(r.etag(), e2);
}

#[test]
fn stale_if_match_is_412_and_nothing_changes() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let path = format!("{cal}b.ics");
    let uid = unique("stale");
    let e1 = d.put_ics(&path, &event(&uid, "one")).etag();
    let e2 = {
        let r = d.dav(
            "PUT",
            &path,
            None,
            event(&uid, "two"),
            &[("Content-Type", "text/calendar"), ("If-Match", &e1)],
        );
        r.expect(204);
        r.etag()
    };
    let ctag = |d: &Client| {
        d.propfind(&cal, "0", "<CS:getctag/>")
            .multistatus()
            .get(&cal)
            .ok(CS, "getctag")
            .text
            .clone()
    };
    let before = ctag(&d);
    let r = d.dav(
        "PUT",
        &path,
        None,
        event(&uid, "three"),
        &[("Content-Type", "text/calendar"), ("If-Match", &e1)],
    );
    assert_eq!(r.status, 412, "{}", r.text());
    let r = d.dav("DELETE", &path, None, Vec::new(), &[("If-Match", &e1)]);
    assert_eq!(r.status, 412);
    let g = d.get(&path);
    assert_eq!(g.etag(), e2);
    assert_eq!(g.text(), event(&uid, "two"));
    assert_eq!(ctag(&d), before, "a refused write does not move the CTag");
    // If-Match on a missing resource → 412
    let r = d.dav(
        "PUT",
        &format!("{cal}missing.ics"),
        None,
        event(&unique("m"), "x"),
        &[("Content-Type", "text/calendar"), ("If-Match", &e2)],
    );
    assert_eq!(r.status, 412);
    assert_eq!(d.get(&format!("{cal}missing.ics")).status, 404);
    // DELETE with the right ETag works
    d.dav("DELETE", &path, None, Vec::new(), &[("If-Match", &e2)])
        .expect(204);
    assert_eq!(d.get(&path).status, 404);
}

#[test]
fn if_none_match_star_protects_creates() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let path = format!("{cal}c.ics");
    let uid = unique("inm");
    let r = d.dav(
        "PUT",
        &path,
        None,
        event(&uid, "first"),
        &[("Content-Type", "text/calendar"), ("If-None-Match", "*")],
    );
    r.expect(201);
    let r = d.dav(
        "PUT",
        &path,
        None,
        event(&uid, "second"),
        &[("Content-Type", "text/calendar"), ("If-None-Match", "*")],
    );
    assert_eq!(r.status, 412);
    assert_eq!(d.get(&path).text(), event(&uid, "first"));
    // on the seeded data too
    let seeded = format!("{MEETINGS}demo-evt-0002@crmdav.ics");
    let before = d.get(&seeded).body;
    let r = d.dav(
        "PUT",
        &seeded,
        None,
        event("demo-evt-0002@crmdav", "x"),
        &[("Content-Type", "text/calendar"), ("If-None-Match", "*")],
    );
    assert_eq!(r.status, 412);
    assert_eq!(d.get(&seeded).body, before);
}

#[test]
fn get_with_if_none_match_is_304() {
    let d = demo();
    let item = format!("{MEETINGS}demo-evt-0003@crmdav.ics");
    let e = d.get(&item).etag();
    let r = d.dav("GET", &item, None, Vec::new(), &[("If-None-Match", &e)]);
    assert_eq!(r.status, 304);
    assert!(r.body.is_empty());
    assert_eq!(r.etag(), e);
    let r = d.dav(
        "GET",
        &item,
        None,
        Vec::new(),
        &[("If-None-Match", "\"something-else\"")],
    );
    assert_eq!(r.status, 200);
    let r = d.dav(
        "GET",
        &item,
        None,
        Vec::new(),
        &[("If-None-Match", &format!("\"x\", {e}"))],
    );
    assert_eq!(r.status, 304, "a list containing the current ETag matches");
}

#[test]
fn concurrent_puts_with_same_if_match_exactly_one_wins() {
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let path = format!("{cal}race.ics");
    let uid = unique("race");
    let e0 = d.put_ics(&path, &event(&uid, "v0")).etag();
    let barrier = std::sync::Barrier::new(10);
    let results: Vec<(u16, String)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..10)
            .map(|i| {
                let (path, uid, e0, barrier) = (&path, &uid, &e0, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let r = demo().dav(
                        "PUT",
                        path,
                        None,
                        event(uid, &format!("writer {i}")),
                        &[("Content-Type", "text/calendar"), ("If-Match", e0)],
                    );
                    (r.status, format!("writer {i}"))
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<&(u16, String)> = results.iter().filter(|(s, _)| *s == 204).collect();
    let losers = results.iter().filter(|(s, _)| *s == 412).count();
    assert_eq!(winners.len(), 1, "exactly one PUT succeeds: {results:?}");
    assert_eq!(losers, 9, "the others get 412: {results:?}");
    let body = d.get(&path).text();
    assert!(
        body.contains(&format!("SUMMARY:{}", winners[0].1)),
        "the winner's body is stored: {body}"
    );
}

#[test]
fn collection_etag_on_get_follows_ctag() {
    // GET on a collection returns an ETag that changes when the collection changes.
    let d = demo();
    let cal = d.new_calendar(&["VEVENT"]);
    let e1 = d.get(&cal).etag();
    d.put_ics(&format!("{cal}n.ics"), &event(&unique("c"), "x"))
        .expect(201);
    let e2 = d.get(&cal).etag();
    assert_ne!(e1, e2);
}
