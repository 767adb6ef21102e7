//! A tenant on Odoo's JSON-RPC API (`connectors/odoo.toml`, the declarative format alone),
//! end to end: the real `crmdav` binary in front of the simulated Odoo of
//! `crates/crmdav-crm/tests/contracts/odoo_fake.rs`. `crmdav check` passes on the tenant file;
//! the phone lists, reads, creates, edits and deletes an event over CalDAV and each reaches
//! Odoo as `execute_kw` calls with Odoo's dates; one login serves them all; the password comes
//! from a `password_file` and never shows in the log.

#[path = "../../crates/crmdav-crm/tests/contracts/odoo_fake.rs"]
mod odoo_fake;

use crate::support::gateway::{free_port, hash_password, Gateway, StateDir};
use crate::support::phone::{Phone, PASS, TENANT, USER};
use odoo_fake::{FakeOdoo, DB, LOGIN, PASSWORD};
use serde_json::Value;

fn write_config(dir: &std::path::Path, port: u16, odoo_uri: &str) {
    std::fs::create_dir_all(dir.join("tenants")).unwrap();
    std::fs::write(
        dir.join("crmdav.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\nstate = \"sqlite://state/crmdav.db\"\ntenants_dir = \"tenants\"\ndefault_tenant = \"{TENANT}\"\nhttp = {{ metrics_tenant_names = true }}\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("tenants/odoo-password"), format!("{PASSWORD}\n")).unwrap();
    std::fs::write(
        dir.join(format!("tenants/{TENANT}.toml")),
        format!(
            r#"name = "{TENANT}"

[connector]
kind = "odoo"

[connector.options]
base_url = "{odoo_uri}"
database = "{DB}"
username = "{LOGIN}"
password_file = "odoo-password"
timezone = "Europe/Berlin"

[sync]
refresh_ttl_secs = 1
full_scan_secs = 600

[[users]]
name = "{USER}"
password_hash = "{hash}"

[[collections]]
id = "odoo"
kind = "calendar"
entity = "events"
users = ["{USER}"]
"#,
            hash = hash_password(PASS),
        ),
    )
    .unwrap();
}

/// The `execute_kw` method and positional arguments of every request after the first `n`.
async fn calls_after(odoo: &FakeOdoo, n: usize) -> Vec<(String, Value)> {
    odoo.bodies().await[n..]
        .iter()
        .map(|b| {
            let a = &b["params"]["args"];
            let m = a[4].as_str().or(b["params"]["method"].as_str());
            (m.unwrap_or("").to_string(), a[5].clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn odoo_tenant_over_caldav() {
    let odoo = FakeOdoo::start().await;
    let dir = StateDir::new("odoo");
    let port = free_port();
    write_config(dir.path(), port, &odoo.uri());

    // `crmdav check` accepts the tenant (definition, mappings, options from a file).
    let out = std::process::Command::new(crate::support::gateway::bin())
        .args(["check", "--config"])
        .arg(dir.path().join("crmdav.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("tenant {TENANT} (rest: odoo)")),
        "{stdout}"
    );

    // `check --tenant` logs in, lists and renders a page of the entity, without warnings
    // (Odoo's `false` for an empty description is no unreadable value).
    let out = std::process::Command::new(crate::support::gateway::bin())
        .args(["check", "--tenant", TENANT, "--config"])
        .arg(dir.path().join("crmdav.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("tenant {TENANT}: OK")), "{stdout}");
    assert!(
        stdout.contains("events: 1 record(s) on the first page"),
        "{stdout}"
    );
    assert!(!stdout.contains("WARNING"), "{stdout}");
    assert!(!stdout.contains(PASSWORD), "{stdout}");
    assert_eq!(odoo.state.lock().unwrap().logins, 1);

    let gw = Phone::new(Gateway::new(dir.path(), port).start());
    let coll = format!("/dav/calendars/{USER}/odoo/");

    // The phone sees Odoo's event, in its zone.
    let (tok0, members) = gw.sync(&coll, "").await;
    assert_eq!(members.len(), 1, "{members:?}");
    let href = members.keys().next().unwrap().clone();
    let (st, etag, body) = gw.get(&href).await;
    assert_eq!(st, 200);
    assert!(body.contains("SUMMARY:Board meeting\r\n"), "{body}");
    assert!(
        body.contains("DTSTART;TZID=Europe/Berlin:20261207T100000\r\n"),
        "{body}"
    );
    let seen = odoo.bodies().await.len();

    // PUT of a new event → `create` with Odoo's UTC strings.
    let new_href = format!("{coll}lunch.ics");
    let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//phone//EN\r\nBEGIN:VEVENT\r\nUID:lunch-1@phone\r\nDTSTAMP:20261201T080000Z\r\nSUMMARY:Lunch with Zoë\r\nDTSTART;TZID=Europe/Berlin:20261208T123000\r\nDTEND;TZID=Europe/Berlin:20261208T133000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let (st, _, text) = gw
        .req(
            "PUT",
            &new_href,
            Some(ics.into()),
            &[("Content-Type", "text/calendar"), ("If-None-Match", "*")],
        )
        .await;
    assert_eq!(st, 201, "{text}");
    let calls = calls_after(&odoo, seen).await;
    let creates: Vec<&(String, Value)> = calls.iter().filter(|(m, _)| m == "create").collect();
    assert_eq!(creates.len(), 1, "{calls:?}");
    assert_eq!(creates[0].1[0]["start"], "2026-12-08 11:30:00");
    assert_eq!(creates[0].1[0]["stop"], "2026-12-08 12:30:00");
    let new_id = {
        let st = odoo.state.lock().unwrap();
        let events = &st.models["calendar.event"];
        assert_eq!(events.len(), 2);
        *events.keys().max().unwrap()
    };
    assert_eq!(
        odoo.record("calendar.event", new_id).unwrap()["name"],
        "Lunch with Zoë"
    );

    // Editing the seeded event → `write` on its integer id.
    let seen = odoo.bodies().await.len();
    let edited = body.replace(
        "DTSTART;TZID=Europe/Berlin:20261207T100000",
        "DTSTART;TZID=Europe/Berlin:20261207T103000",
    );
    let (st, _, text) = gw
        .req(
            "PUT",
            &href,
            Some(edited),
            &[("Content-Type", "text/calendar"), ("If-Match", &etag)],
        )
        .await;
    assert_eq!(st, 204, "{text}");
    let calls = calls_after(&odoo, seen).await;
    let writes: Vec<&(String, Value)> = calls.iter().filter(|(m, _)| m == "write").collect();
    assert_eq!(writes.len(), 1, "{calls:?}");
    assert_eq!(writes[0].1[0], serde_json::json!([7]));
    assert_eq!(
        odoo.record("calendar.event", 7).unwrap()["start"],
        "2026-12-07 09:30:00"
    );

    // DELETE → `unlink`.
    let seen = odoo.bodies().await.len();
    let (_, etag_new, _) = gw.get(&new_href).await;
    let (st, _, text) = gw
        .req("DELETE", &new_href, None, &[("If-Match", &etag_new)])
        .await;
    assert_eq!(st, 204, "{text}");
    let calls = calls_after(&odoo, seen).await;
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].0, "unlink");
    assert_eq!(calls[0].1, serde_json::json!([[new_id]]));
    assert!(odoo.record("calendar.event", new_id).is_none());

    let (tok1, changes) = gw.sync(&coll, &tok0).await;
    assert!(changes.contains_key(&href), "{changes:?}");

    // Idle: after the TTL a refresh costs one search_read (modified since), the login is kept.
    // (A stale read is served at once and starts a background refresh: `sync_fresh` awaits it.)
    let past_ttl = || tokio::time::sleep(std::time::Duration::from_millis(1300));
    past_ttl().await;
    let (tok2, _) = gw.sync_fresh(&coll, &tok1).await; // the echo of the phone's own writes
    past_ttl().await;
    let c0 = gw.metric("crmdav_crm_calls_total").await;
    let (tok3, idle) = gw.sync_fresh(&coll, &tok2).await;
    let c1 = gw.metric("crmdav_crm_calls_total").await;
    assert!(
        idle.is_empty() && tok3 == tok2,
        "an idle refresh moves nothing: {idle:?}"
    );
    println!("[odoo] idle sync after the TTL: {} CRM call(s)", c1 - c0);
    assert_eq!(c1 - c0, 1, "one search_read per idle refresh");
    assert_eq!(
        odoo.state.lock().unwrap().logins,
        2,
        "check's login, then one login for every call of the gateway"
    );
    assert!(
        !gw.log().contains(PASSWORD),
        "the password never reaches the log"
    );
}

/// `deploy/examples/saas/tenants/odoo.toml` passes `crmdav check` and builds its connector
/// and mappings.
#[test]
fn tenant_example_loads_with_crmdav_check() {
    crate::support::examples::check_tenant_example("odoo");
}
