//! Several gateways on one PostgreSQL database behind a round-robin front (support/front.rs),
//! as a load balancer would place them: a client syncing through the front, each request on the
//! next instance, misses nothing; `kill -9` of one instance under write load loses no
//! acknowledged write. Skipped, saying why, without the PostgreSQL server binaries.

use crate::support::dav::*;
use crate::support::demo::{write_config_with_state, DEMO_PASS, DEMO_USER};
use crate::support::front::Front;
use crate::support::gateway::{free_port, Gateway, StateDir};
use crate::support::postgres::PgCluster;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;

/// `n` gateways (each with its own config folder) on the database at `url`.
fn gateways(url: &str, n: usize) -> Vec<(StateDir, Gateway)> {
    (0..n)
        .map(|_| {
            let dir = StateDir::new("front");
            write_config_with_state(dir.path(), url);
            let g = Gateway::new(dir.path(), free_port()).start();
            (dir, g)
        })
        .collect()
}

/// One request through the front on a connection of its own (so on the next instance); `None`
/// when the connection failed (the instance died under it).
fn send(
    base: &str,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Option<Resp> {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut rb = http()
        .request(m, format!("{base}{path}"))
        .basic_auth(DEMO_USER, Some(DEMO_PASS))
        .header("Connection", "close");
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.body(body.to_string()).send().ok()?;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().ok()?.to_vec();
    Some(Resp {
        status,
        headers,
        body,
    })
}

fn put(base: &str, href: &str, uid: &str) -> Option<Resp> {
    let body = vevent(uid, uid, "20260105T100000Z", "20260105T110000Z");
    send(
        base,
        "PUT",
        href,
        &body,
        &[("Content-Type", "text/calendar")],
    )
}

/// A sync-collection through the front from `token`: (changed, deleted, new token).
fn sync(base: &str, coll: &str, token: &str) -> (BTreeSet<String>, BTreeSet<String>, String) {
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>{}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#,
        esc(token)
    );
    let r = send(
        base,
        "REPORT",
        coll,
        &body,
        &[("Content-Type", "application/xml"), ("Depth", "0")],
    )
    .expect("sync through the front");
    let ms = r.expect(207).multistatus();
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
fn a_client_syncing_through_a_round_robin_front_of_three_instances_misses_nothing() {
    let Some(pg) = PgCluster::start_or_skip("front_sync") else {
        return;
    };
    let url = pg.create_db("front_sync");
    let gs = gateways(&url, 3);
    let front = Front::start(gs.iter().map(|(_, g)| g.port).collect());
    let coll = as_user(DEMO_USER, DEMO_PASS)
        .at(&gs[0].1.base)
        .new_calendar(&["VEVENT"]);
    let (_, _, mut token) = sync(&front.base, &coll, "");
    let mut expected = BTreeSet::new();
    let mut seen = BTreeSet::new();
    // 3 × 7 steps: each step's write, delete and sync land on different instances.
    for i in 0..21 {
        let href = format!("{coll}e{i}.ics");
        put(&front.base, &href, &format!("e{i}"))
            .expect("PUT through the front")
            .expect(201);
        expected.insert(href.clone());
        if i % 4 == 3 {
            let victim = format!("{coll}e{}.ics", i - 2);
            send(&front.base, "DELETE", &victim, "", &[])
                .expect("DELETE through the front")
                .expect(204);
            expected.remove(&victim);
        }
        let (changed, deleted, next) = sync(&front.base, &coll, &token);
        assert!(
            changed.contains(&href),
            "step {i}: {href} not in {changed:?}"
        );
        seen.extend(changed);
        seen.retain(|h| !deleted.contains(h));
        token = next;
    }
    assert_eq!(seen, expected);
}

#[test]
fn kill_9_of_one_instance_under_write_load_loses_no_acknowledged_write() {
    let Some(pg) = PgCluster::start_or_skip("front_kill") else {
        return;
    };
    let url = pg.create_db("front_kill");
    let mut gs = gateways(&url, 2);
    let front = Front::start(gs.iter().map(|(_, g)| g.port).collect());
    let coll = as_user(DEMO_USER, DEMO_PASS)
        .at(&gs[1].1.base)
        .new_calendar(&["VEVENT"]);
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 40;
    let (acks, acked) = mpsc::channel::<(String, String)>();
    let (failures, failed) = mpsc::channel::<String>();
    std::thread::scope(|s| {
        for w in 0..WRITERS {
            let (acks, failures, base, coll) = (acks.clone(), failures.clone(), &front.base, &coll);
            s.spawn(move || {
                for i in 0..PER_WRITER {
                    let href = format!("{coll}w{w}-{i}.ics");
                    match put(base, &href, &format!("w{w}-{i}")) {
                        Some(r) if (200..300).contains(&r.status) => {
                            let _ = acks.send((href, r.etag()));
                        }
                        // Refused or cut off by the kill: never acknowledged, fine.
                        Some(r) => {
                            assert!(r.status >= 500, "{href}: {}", r.status);
                            let _ = failures.send(href);
                        }
                        None => {
                            let _ = failures.send(href);
                        }
                    }
                }
            });
        }
        drop((acks, failures));
        // Under load: once a quarter of the writes are acknowledged, kill -9 instance 0.
        let mut got: BTreeMap<String, String> = BTreeMap::new();
        while got.len() < WRITERS * PER_WRITER / 4 {
            let (href, etag) = acked.recv().expect("writes are acknowledged");
            got.insert(href, etag);
        }
        gs[0].1.stop();
        got.extend(acked.iter());
        let lost: Vec<String> = failed.iter().collect();
        // Every acknowledged write is there, with its ETag, on the surviving instance.
        let survivor = as_user(DEMO_USER, DEMO_PASS).at(&gs[1].1.base);
        for (href, etag) in &got {
            let r = survivor.get(href);
            assert_eq!(r.status, 200, "acknowledged {href} is gone");
            assert_eq!(&r.etag(), etag, "{href}");
        }
        assert_eq!(got.len() + lost.len(), WRITERS * PER_WRITER);
        // And the writes after the kill went on through the survivor.
        assert!(
            got.len() > WRITERS * PER_WRITER / 2,
            "{} acknowledged",
            got.len()
        );
        eprintln!(
            "{} acknowledged, {} failed at the kill",
            got.len(),
            lost.len()
        );
    });
}
