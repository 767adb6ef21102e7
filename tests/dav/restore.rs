//! Restore safety (RFC 6578 §3.2): a state restored from a backup refuses the sync tokens
//! handed out after the backup (403 `DAV:valid-sync-token`, the client resyncs) instead of
//! letting a client skip the changes the restore discarded, and still accepts older tokens.
//! SQLite through `crmdav backup` / `crmdav restore`; PostgreSQL through the documented
//! `pg_dump` / `pg_restore` + `crmdav new-epoch` recipe (skipped without the server binaries).

use crate::support::dav::*;
use crate::support::demo::{write_config_with_state, DEMO_PASS, DEMO_USER};
use crate::support::gateway::{bin, free_port, Gateway, StateDir};
use crate::support::postgres::{PgCluster, PG_PASSWORD};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const SYNC_TOKEN: &str = "DAV:";

/// Run `crmdav <args> --config <dir>/crmdav.toml`, expecting success; its stderr.
fn crmdav(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(bin())
        .args(args)
        .arg("--config")
        .arg(dir.join("crmdav.toml"))
        .output()
        .expect("run crmdav");
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "crmdav {args:?} failed: {err}");
    err
}

fn sync_body(token: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>{}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#,
        esc(token)
    )
}

/// A sync-collection from `token` that must succeed: (changed hrefs, new token).
fn sync(c: &Client, coll: &str, token: &str) -> (BTreeSet<String>, String) {
    let ms = c
        .report(coll, "0", &sync_body(token))
        .expect(207)
        .multistatus();
    let changed = ms
        .responses()
        .iter()
        .filter(|r| r.status != Some(404))
        .map(|r| r.href().to_string())
        .collect();
    (changed, ms.sync_token().expect("a sync token"))
}

fn ctag(c: &Client, coll: &str) -> String {
    c.propfind(coll, "0", "<CS:getctag/>")
        .multistatus()
        .get(coll)
        .ok("http://calendarserver.org/ns/", "getctag")
        .text
        .clone()
}

fn event(c: &Client, href: &str, uid: &str) -> String {
    c.put_ics(
        href,
        &vevent(uid, uid, "20260105T100000Z", "20260105T110000Z"),
    )
    .expect(201)
    .etag()
}

/// The scenario on any backend: `backup` copies the state, `restore` brings it back (the
/// gateway stopped and started around it by the callers' closure).
fn restore_scenario(g: &mut Gateway, backup: impl FnOnce(), restore: impl FnOnce(&mut Gateway)) {
    let c = as_user(DEMO_USER, DEMO_PASS).at(&g.base);
    let coll = c.new_calendar(&["VEVENT"]);
    let a = format!("{coll}a.ics");
    let etag_a = event(&c, &a, "a");
    let (_, t1) = sync(&c, &coll, "");
    let ctag1 = ctag(&c, &coll);
    backup();
    // Written after the backup: lost by the restore.
    let b = format!("{coll}b.ics");
    event(&c, &b, "b");
    let (changed, t2) = sync(&c, &coll, &t1);
    assert_eq!(changed, BTreeSet::from([b.clone()]));
    restore(g);
    let c = as_user(DEMO_USER, DEMO_PASS).at(&g.base);
    assert_eq!(c.get(&b).status, 404, "the restore brought back the backup");
    assert_eq!(c.get(&a).etag(), etag_a, "ETags are body hashes: unchanged");
    // A new write takes the sequence number T2 had: T2 must still be refused.
    let c_href = format!("{coll}c.ics");
    event(&c, &c_href, "c");
    c.report(&coll, "0", &sync_body(&t2))
        .expect_error(403, SYNC_TOKEN, "valid-sync-token");
    // The token from before the backup names changes the restored state has.
    let (changed, t3) = sync(&c, &coll, &t1);
    assert_eq!(changed, BTreeSet::from([c_href.clone()]));
    assert_ne!(
        t3, t2,
        "the new epoch never repeats a token of the lost timeline"
    );
    let ctag3 = ctag(&c, &coll);
    assert_ne!(ctag3, ctag1);
    // The client that was refused starts over and gets the whole collection.
    let (all, _) = sync(&c, &coll, "");
    assert_eq!(all, BTreeSet::from([a, c_href]));
    // Tokens of the new epoch work as usual.
    let (none, t4) = sync(&c, &coll, &t3);
    assert!(none.is_empty(), "{none:?}");
    assert_eq!(t4, t3);
}

#[test]
fn a_restored_sqlite_state_refuses_tokens_from_after_the_backup() {
    let dir = StateDir::new("restore-sqlite");
    let db = dir.path().join("state.db");
    write_config_with_state(dir.path(), &format!("sqlite://{}", db.display()));
    let mut g = Gateway::new(dir.path(), free_port()).start();
    let file = dir.path().join("backup.db");
    let d = dir.path().to_path_buf();
    restore_scenario(
        &mut g,
        // Online: the gateway keeps serving.
        || {
            crmdav(&d, &["backup", "--to", &file.display().to_string()]);
        },
        |g| {
            // The gateway holds the state's lock: restore refuses while it runs.
            let out = Command::new(bin())
                .args(["restore", "--from", &file.display().to_string(), "--config"])
                .arg(d.join("crmdav.toml"))
                .output()
                .expect("run crmdav restore");
            assert!(!out.status.success());
            assert!(String::from_utf8_lossy(&out.stderr).contains("in use"));
            g.stop();
            let log = crmdav(&d, &["restore", "--from", &file.display().to_string()]);
            assert!(log.contains("new epoch"), "{log}");
            g.spawn();
        },
    );
}

#[test]
fn a_postgres_state_restored_with_pg_restore_and_new_epoch_refuses_later_tokens() {
    let Some(pg) = PgCluster::start_or_skip("restore_postgres") else {
        return;
    };
    let url = pg.create_db("restore");
    let dir = StateDir::new("restore-pg");
    write_config_with_state(dir.path(), &url);
    let mut g = Gateway::new(dir.path(), free_port()).start();
    let dump = dir.path().join("state.dump");
    let d = dir.path().to_path_buf();
    // The recipe of docs/deployment.md: pg_dump's custom format, restored with --clean.
    let pg_tool = |tool: &str, args: &[&str]| {
        let out = Command::new(pg.bin().join(tool))
            .args(args)
            .env("PGPASSWORD", PG_PASSWORD)
            .output()
            .expect("run a PostgreSQL client tool");
        assert!(
            out.status.success(),
            "{tool} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    restore_scenario(
        &mut g,
        || pg_tool("pg_dump", &["-Fc", "-f", &dump.display().to_string(), &url]),
        |g| {
            g.stop();
            pg_tool(
                "pg_restore",
                &[
                    "--clean",
                    "--if-exists",
                    "--no-owner",
                    "-d",
                    &url,
                    &dump.display().to_string(),
                ],
            );
            crmdav(&d, &["new-epoch"]);
            g.spawn();
        },
    );
}
