//! How many processes may serve one state: one per SQLite file (a second refuses to start,
//! naming the file), any number on one PostgreSQL database, which then behave as one server
//! (same ETags, CTags and sync tokens, a token from one works on the other, conditional
//! writes atomic across them). The PostgreSQL tests run on a throwaway cluster
//! (support/postgres.rs) and are skipped, saying why, without the server binaries.

use crate::support::dav::*;
use crate::support::demo::{write_config_with_state, CAL_HOME, DEMO_PASS, DEMO_USER};
use crate::support::gateway::{free_port, Gateway, StateDir};
use crate::support::postgres::{PgCluster, PG_PASSWORD};
use std::collections::BTreeSet;

#[test]
fn a_second_process_on_one_sqlite_file_refuses_to_start() {
    let dir = StateDir::new("guard");
    let db = dir.path().join("state.db");
    write_config_with_state(dir.path(), &format!("sqlite://{}", db.display()));
    let mut first = Gateway::new(dir.path(), free_port()).start();
    let mut second = Gateway::new(dir.path(), free_port());
    let (status, log) = second.expect_exit();
    assert!(!status.success(), "the second process must fail: {status}");
    assert!(
        log.contains(&format!("the state file {} is in use", db.display())),
        "the refusal names the file:\n{log}"
    );
    // The first one serves on; once it is gone the file is free again.
    as_user(DEMO_USER, DEMO_PASS)
        .at(&first.base)
        .propfind(CAL_HOME, "0", "<D:getetag/>")
        .expect(207);
    first.stop();
    second.spawn();
}

/// The demo config in a fresh folder with `state` and the database password in the
/// environment, as a deployment would pass it.
fn pg_gateway(state: &str, password: &str) -> (StateDir, Gateway) {
    let dir = StateDir::new("pg-gateway");
    write_config_with_state(dir.path(), state);
    let g = Gateway::new(dir.path(), free_port()).env("CRMDAV_TEST_PG_PASSWORD", password);
    (dir, g)
}

/// `urn:crmdav:sync:<instance>:<seq>` → seq.
fn seq_of(token: &str) -> i64 {
    token
        .rsplit_once(':')
        .and_then(|(_, s)| s.parse().ok())
        .unwrap_or_else(|| panic!("not a crmdav sync token: {token}"))
}

/// (getetag of `href`), getctag and sync-token of collection `coll` as one instance serves them.
fn coll_tags(c: &Client, coll: &str) -> (String, String) {
    let ms = c
        .propfind(coll, "0", "<CS:getctag/><D:sync-token/>")
        .multistatus();
    let r = ms.get(coll);
    (
        r.ok("http://calendarserver.org/ns/", "getctag")
            .text
            .clone(),
        r.ok("DAV:", "sync-token").text.clone(),
    )
}

/// A sync-collection from `token`: (changed hrefs, deleted hrefs, new token).
fn sync(c: &Client, coll: &str, token: &str) -> (BTreeSet<String>, BTreeSet<String>, String) {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>{}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#,
        esc(token)
    );
    let ms = c.report(coll, "0", &body).expect(207).multistatus();
    let (mut changed, mut deleted) = (BTreeSet::new(), BTreeSet::new());
    for r in ms.responses() {
        match r.status {
            Some(404) => deleted.insert(r.href().to_string()),
            _ => changed.insert(r.href().to_string()),
        };
    }
    (changed, deleted, ms.sync_token().expect("a sync token"))
}

#[test]
fn two_instances_on_one_postgres_database_behave_as_one_server() {
    let Some(pg) = PgCluster::start_or_skip("two_instances_on_one_postgres_database") else {
        return;
    };
    let url = pg.create_db("two");
    // The password comes from the environment; a wrong one fails the start, and neither
    // reaches the log.
    let state = url.replace(PG_PASSWORD, "${CRMDAV_TEST_PG_PASSWORD}");
    let (_bad_dir, mut bad) = pg_gateway(&state, "not-the-password");
    let (status, log) = bad.expect_exit();
    assert!(!status.success());
    assert!(log.contains("postgres://postgres:***@127.0.0.1"), "{log}");
    assert!(!log.contains("not-the-password"), "{log}");
    let (_dir_a, a) = pg_gateway(&state, PG_PASSWORD);
    let a = a.start();
    let (_dir_b, b) = pg_gateway(&state, PG_PASSWORD);
    let b = b.start();
    for g in [&a, &b] {
        assert!(!g.log().contains(PG_PASSWORD), "{}", g.log());
    }
    let ca = as_user(DEMO_USER, DEMO_PASS).at(&a.base);
    let cb = as_user(DEMO_USER, DEMO_PASS).at(&b.base);
    let both = [&ca, &cb];

    // A PUT through one is what the other serves: body, ETag, CTag, sync token.
    let coll = ca.new_calendar(&["VEVENT"]);
    let href = format!("{coll}one.ics");
    let put = ca.put_ics(
        &href,
        &vevent("one", "One", "20260105T100000Z", "20260105T110000Z"),
    );
    put.expect(201);
    let got = cb.get(&href);
    got.expect(200);
    assert_eq!(got.etag(), put.etag());
    assert_eq!(coll_tags(&ca, &coll), coll_tags(&cb, &coll));

    // A client syncing alternately through each instance misses nothing, and the sequence
    // in the tokens only moves forward.
    let (mut seen, _, mut token) = sync(&ca, &coll, "");
    let mut expected: BTreeSet<String> = BTreeSet::from([href.clone()]);
    let mut last_seq = seq_of(&token);
    for i in 0..12 {
        let (writer, reader) = (both[i % 2], both[(i + 1) % 2]);
        let h = format!("{coll}e{i}.ics");
        writer
            .put_ics(
                &h,
                &vevent(
                    &format!("e{i}"),
                    "E",
                    "20260106T100000Z",
                    "20260106T110000Z",
                ),
            )
            .expect(201);
        expected.insert(h.clone());
        let mut gone = None;
        if i % 3 == 2 {
            let victim = format!("{coll}e{}.ics", i - 1);
            writer.delete(&victim).expect(204);
            expected.remove(&victim);
            gone = Some(victim);
        }
        let (changed, deleted, next) = sync(reader, &coll, &token);
        assert!(
            changed.contains(&h),
            "step {i}: {h} missing from {changed:?}"
        );
        if let Some(v) = gone {
            assert!(deleted.contains(&v), "step {i}: deletion of {v} missing");
            seen.remove(&v);
        }
        seen.extend(changed);
        let seq = seq_of(&next);
        assert!(seq > last_seq, "step {i}: sequence {seq} after {last_seq}");
        last_seq = seq;
        token = next;
    }
    assert_eq!(seen, expected);
    assert_eq!(BTreeSet::from_iter(members(&cb, &coll)), expected);

    // N concurrent If-Match PUTs of one resource over both instances: exactly one wins.
    let etag = ca.get(&href).etag();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|i| {
                let (c, href, etag) = (both[i % 2], &href, &etag);
                s.spawn(move || {
                    let body = vevent(
                        "one",
                        &format!("writer {i}"),
                        "20260105T100000Z",
                        "20260105T110000Z",
                    );
                    c.dav(
                        "PUT",
                        href,
                        None,
                        body.into_bytes(),
                        &[
                            ("Content-Type", "text/calendar"),
                            ("If-Match", etag.as_str()),
                        ],
                    )
                    .status
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer"))
            .collect()
    });
    let wins = statuses.iter().filter(|s| (200..300).contains(*s)).count();
    assert_eq!(wins, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| (200..300).contains(s) || *s == 412),
        "{statuses:?}"
    );

    // N creations of one UID under different names over both instances: exactly one is
    // stored, the others are refused with no-uid-conflict (RFC 4791 §5.3.2.1).
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let (c, coll) = (both[i % 2], &coll);
                s.spawn(move || {
                    let body = vevent("shared-uid", "S", "20260109T100000Z", "20260109T110000Z");
                    c.put_ics(&format!("{coll}uid{i}.ics"), &body).status
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("writer"))
            .collect()
    });
    let created = statuses.iter().filter(|s| **s == 201).count();
    assert_eq!(created, 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 403),
        "{statuses:?}"
    );

    // N concurrent creations over both instances: every one lands, each moves the sequence
    // once, and a sync from before lists them all, on either instance.
    let (_, before) = coll_tags(&cb, &coll);
    std::thread::scope(|s| {
        for i in 0..12 {
            let (c, coll) = (both[i % 2], &coll);
            s.spawn(move || {
                let uid = format!("par{i}");
                c.put_ics(
                    &format!("{coll}{uid}.ics"),
                    &vevent(&uid, "P", "20260107T100000Z", "20260107T110000Z"),
                )
                .expect(201);
            });
        }
    });
    let (ctag_a, after_a) = coll_tags(&ca, &coll);
    assert_eq!((ctag_a, after_a.clone()), coll_tags(&cb, &coll));
    assert_eq!(seq_of(&after_a), seq_of(&before) + 12);
    for c in both {
        let (changed, deleted, _) = sync(c, &coll, &before);
        assert_eq!(changed.len(), 12, "{changed:?}");
        assert!(deleted.is_empty());
    }

    // Two MOVEs of one item to two calendars, one through each instance: one wins, the other
    // finds the source gone, and the item exists once.
    let (to_a, to_b) = (ca.new_calendar(&["VEVENT"]), cb.new_calendar(&["VEVENT"]));
    for round in 0..5 {
        let src = format!("{coll}mv{round}.ics");
        let uid = format!("mv{round}");
        ca.put_ics(
            &src,
            &vevent(&uid, "M", "20260108T100000Z", "20260108T110000Z"),
        )
        .expect(201);
        let statuses: Vec<u16> = std::thread::scope(|s| {
            let moves: Vec<_> = [(&ca, &to_a), (&cb, &to_b)]
                .into_iter()
                .map(|(c, to)| {
                    let (src, dst) = (&src, format!("{to}mv{round}.ics"));
                    s.spawn(move || {
                        c.dav("MOVE", src, None, Vec::new(), &[("Destination", &dst)])
                            .status
                    })
                })
                .collect();
            moves
                .into_iter()
                .map(|h| h.join().expect("mover"))
                .collect()
        });
        let mut sorted = statuses.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, [201, 404], "round {round}: {statuses:?}");
        let copies = [&to_a, &to_b]
            .iter()
            .filter(|to| cb.get(&format!("{to}mv{round}.ics")).status == 200)
            .count();
        assert_eq!(copies, 1, "round {round}");
        assert_eq!(ca.get(&src).status, 404, "round {round}");
    }
}
