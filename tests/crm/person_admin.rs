//! Issue 10 item 7 over the real binary and a wiremock CRM (the `scopecrm` of scopes.rs):
//! `crmdav link` / `unlink` change what a person's `mine` collection serves on a running
//! gateway (within `users_ttl_secs`, no restart) and `crmdav users` names the link's source;
//! `crmdav check --as` reports a linked and an unlinked person's collections with their CRM
//! query, record count and the CRM calls it made.

use super::scopes::{client, coll, people, sync, task, write_config, Crm};
use crate::support::gateway::{bin, free_port, Gateway, StateDir};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Run `crmdav <args> --config <dir>/crmdav.toml --tenant firm`: (success, stdout, stderr).
fn crmdav(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(bin())
        .args(args)
        .arg("--config")
        .arg(dir.join("crmdav.toml"))
        .args(["--tenant", "firm"])
        .output()
        .expect("run crmdav");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The hrefs `user`'s `mine` task list serves, once it holds `want` items (the gateway picks a
/// link up at its next users and collection refresh, a second here); bounded wait.
async fn mine_once(base: &str, user: &str, want: usize) -> usize {
    let http = client();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, m) = sync(&http, base, user, &coll(user, "tasks"), "").await;
        let n = m.values().filter(|present| **present).count();
        if n == want || Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_and_unlink_change_what_mine_serves_and_check_as_says_what_a_person_sees() {
    let mut who = people(2);
    for w in who.iter_mut() {
        w.crm_id = None;
    }
    who[1].email = "nobody@firm.example".into();
    let (server, crm) = Crm::start(
        vec![
            task("1", "100", "red"),
            task("2", "300", "red"),
            task("3", "300", "blue"),
        ],
        vec![],
    )
    .await;
    crm.0.lock().unwrap().users =
        vec![json!({"id": 100, "email": "p0@firm.example", "name": "P Zero", "active": true})];
    let dir = StateDir::new("person-admin");
    let d = dir.path();
    let port = free_port();
    write_config(d, port, &server.uri(), &who, 1);
    let tenant = d.join("tenants/firm.toml");
    let t = std::fs::read_to_string(&tenant).unwrap();
    std::fs::write(
        &tenant,
        t.replace(
            "full_scan_secs = 600\n",
            "full_scan_secs = 600\nusers_ttl_secs = 1\n",
        ),
    )
    .unwrap();
    std::fs::create_dir_all(d.join("state")).unwrap();

    // check --as: p0 is linked by e-mail, p1 by nothing.
    let before = crm.calls();
    let (ok, out, err) = crmdav(d, &["check", "--as", "p0"]);
    assert!(ok, "{out}{err}");
    let made = crm.calls() - before;
    assert!(
        out.contains("p0@firm on scopecrm: linked to CRM user 100 (by e-mail)"),
        "{out}"
    );
    assert!(
        out.contains("tasks (calendar): entity tasks, scope mine"),
        "{out}"
    );
    assert!(out.contains("CRM query: owner_id=100"), "{out}");
    assert!(out.contains("1 record(s) for p0 of 1 listed"), "{out}");
    assert!(out.contains("SUMMARY:task 1 of 100"), "{out}");
    assert!(
        out.contains("all (calendar): entity tasks, scope all"),
        "{out}"
    );
    assert!(out.contains("3 record(s) for p0 of 3 listed"), "{out}");
    assert!(
        out.contains("events (calendar): entity events, scope mine, window 30 days back, 60 ahead"),
        "{out}"
    );
    // One users listing, then one listing per distinct (entity, query): mine, team, all, events.
    assert_eq!(made, 5, "{out}");
    assert!(out.contains(&format!("CRM calls: {made}")), "{out}");
    let (ok, out, err) = crmdav(d, &["check", "--as", "p1"]);
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("p1@firm on scopecrm: NOT LINKED: no CRM user has the e-mail address nobody@firm.example"),
        "{out}"
    );
    assert!(
        out.contains("not resolved: person 'p1' has no CRM user id for the 'mine' scope"),
        "{out}"
    );
    let (ok, _, err) = crmdav(d, &["check", "--as", "nobody"]);
    assert!(!ok && err.contains("no user named 'nobody'"), "{err}");

    let gw = Gateway::new(d, port).start();
    assert_eq!(mine_once(&gw.base, "p0", 1).await, 1);
    assert_eq!(
        mine_once(&gw.base, "p1", 0).await,
        0,
        "unlinked: served empty"
    );

    // Link p1 (no e-mail match) and p0 (overriding its e-mail match) while the gateway runs.
    let (ok, out, err) = crmdav(d, &["link", "--user", "p1", "--crm-id", "300"]);
    assert!(
        ok && out.contains("linked p1@firm to CRM user 300"),
        "{out}{err}"
    );
    let (ok, _, err) = crmdav(d, &["link", "--user", "ghost", "--crm-id", "1"]);
    assert!(!ok && err.contains("no user named 'ghost'"), "{err}");
    let (ok, _, err) = crmdav(d, &["link", "--user", "p1", "--crm-id", " "]);
    assert!(!ok && err.contains("a CRM user id is 1 to"), "{err}");
    let (ok, out, err) = crmdav(d, &["users"]);
    assert!(ok, "{err}");
    let line = |name: &str| {
        out.lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no line for {name}:\n{out}"))
            .to_string()
    };
    assert!(
        line("p1").contains("CRM user 300 (linked with `crmdav link`)"),
        "{out}"
    );
    assert!(line("p0").contains("CRM user 100 (by e-mail)"), "{out}");
    assert_eq!(
        mine_once(&gw.base, "p1", 2).await,
        2,
        "p1 now sees CRM user 300's tasks"
    );
    let (ok, out, _) = crmdav(d, &["check", "--as", "p1"]);
    assert!(
        ok && out.contains("linked to CRM user 300 (linked with `crmdav link`)"),
        "{out}"
    );
    assert!(out.contains("2 record(s) for p1 of 2 listed"), "{out}");

    // A restart keeps the link (it lives in the state store).
    drop(gw);
    let gw = Gateway::new(d, port).start();
    assert_eq!(
        mine_once(&gw.base, "p1", 2).await,
        2,
        "the link survives a restart"
    );

    // Unlink: p1 is served empty again; a second unlink says there is nothing to remove.
    let (ok, out, err) = crmdav(d, &["unlink", "--user", "p1"]);
    assert!(
        ok && out.contains("unlinked p1@firm from CRM user 300"),
        "{out}{err}"
    );
    let (ok, _, err) = crmdav(d, &["unlink", "--user", "p1"]);
    assert!(
        !ok && err.contains("has no link made with `crmdav link`"),
        "{err}"
    );
    assert_eq!(
        mine_once(&gw.base, "p1", 0).await,
        0,
        "unlinked again: served empty"
    );
    assert_eq!(mine_once(&gw.base, "p0", 1).await, 1, "p0 untouched");
    drop(gw);
}
