//! Issue 10 on a real amagi-crm: tasks assigned to one person appear only in that person's
//! `mine` list, and a task a phone creates in `mine` is assigned to that person in amagi.
//! amagi's task list cannot filter by assignee, so both people share one listing per TTL.

use crate::support::amagi::Amagi;
use crate::support::gateway::{free_port, hash_password, Gateway, StateDir};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const PASS: &str = "mine-Secret-3";

fn write_config(dir: &Path, port: u16, alice_id: &str, viewer_id: &str) {
    std::fs::create_dir_all(dir.join("tenants")).unwrap();
    std::fs::write(
        dir.join("crmdav.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\nstate = \"sqlite://state/crmdav.db\"\ntenants_dir = \"tenants\"\ndefault_tenant = \"firm\"\nhttp = {{ metrics_tenant_names = true }}\n"
        ),
    )
    .unwrap();
    let hash = hash_password(PASS);
    std::fs::write(
        dir.join("tenants/firm.toml"),
        format!(
            r#"name = "firm"

[connector]
kind = "amagi-crm"
options = {{ base_url = "${{CRM_URL}}", token = "${{CRM_TOKEN}}", timezone = "Europe/Berlin" }}

[sync]
refresh_ttl_secs = 60
full_scan_secs = 600

[[users]]
name = "alice"
password_hash = "{hash}"
crm_id = "{alice_id}"

[[users]]
name = "viewer"
password_hash = "{hash}"
crm_id = "{viewer_id}"

[[collections]]
id = "mine"
kind = "calendar"
entity = "tasks"
scope = "mine"
users = ["alice", "viewer"]
"#
        ),
    )
    .unwrap();
}

async fn dav(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    method: &str,
    path: &str,
    body: Option<String>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut rb = http
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{base}{path}"),
        )
        .basic_auth(user, Some(PASS));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb.body(b);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// The SUMMARYs a person's collection serves (calendar-query with calendar-data).
async fn summaries(http: &reqwest::Client, base: &str, user: &str) -> Vec<String> {
    let q = r#"<?xml version="1.0" encoding="utf-8"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>"#;
    let (st, text) = dav(
        http,
        base,
        user,
        "REPORT",
        &format!("/dav/calendars/{user}/mine/"),
        Some(q.into()),
        &[("Depth", "1"), ("Content-Type", "application/xml")],
    )
    .await;
    assert_eq!(st, 207, "{text}");
    let mut out: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("SUMMARY:"))
        .map(|s| s.trim_end_matches("&#13;").trim().to_string())
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amagi_tasks_reach_only_their_assignees_mine_list() {
    let crm = Amagi::start().await;
    let users = crm.call(&crm.admin_token, "GET", "/users", None).await;
    let id_of = |name: &str| -> String {
        users
            .as_array()
            .and_then(|a| a.iter().find(|u| u["name"] == name))
            .map(|u| u["id"].to_string())
            .unwrap_or_else(|| panic!("no amagi user {name} in {users}"))
    };
    let (alice_id, viewer_id) = (id_of("alice"), id_of("viewer"));
    for (title, who) in [
        ("for alice", Some(&alice_id)),
        ("for viewer", Some(&viewer_id)),
        ("for nobody", None),
    ] {
        let assignee: Value = who.map_or(Value::Null, |i| json!(i.parse::<i64>().unwrap()));
        crm.call(
            &crm.token,
            "POST",
            "/tasks",
            Some(json!({"title": title, "assignee_id": assignee})),
        )
        .await;
    }
    let dir = StateDir::new("scopes-amagi");
    let port = free_port();
    write_config(dir.path(), port, &alice_id, &viewer_id);
    let gw = Gateway::new(dir.path(), port)
        .env("CRM_URL", &crm.api)
        .env("CRM_TOKEN", &crm.token)
        .start();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let base = gw.base.clone();

    assert_eq!(summaries(&http, &base, "alice").await, ["for alice"]);
    assert_eq!(summaries(&http, &base, "viewer").await, ["for viewer"]);

    // A phone create in alice's `mine` is assigned to alice in amagi (with the gateway's
    // member token: the assignment comes from the scope, not from the credential).
    let body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:alice-phone-1\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:from alice's phone\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
    let (st, text) = dav(
        &http,
        &base,
        "alice",
        "PUT",
        "/dav/calendars/alice/mine/phone.ics",
        Some(body.into()),
        &[("Content-Type", "text/calendar"), ("If-None-Match", "*")],
    )
    .await;
    assert_eq!(st, 201, "{text}");
    let tasks = crm.call(&crm.token, "GET", "/tasks", None).await;
    let made = tasks
        .as_array()
        .and_then(|a| a.iter().find(|t| t["title"] == "from alice's phone"))
        .unwrap_or_else(|| panic!("not in amagi: {tasks}"));
    assert_eq!(made["assignee_id"].to_string(), alice_id);
    assert_eq!(
        summaries(&http, &base, "alice").await,
        ["for alice", "from alice's phone"]
    );
    assert_eq!(summaries(&http, &base, "viewer").await, ["for viewer"]);
    drop(gw);
}
