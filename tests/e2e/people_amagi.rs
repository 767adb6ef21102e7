//! Issue 10 items 4 and 8 on a real amagi-crm: the shipped per-person example
//! (`deploy/examples/amagi/`) with each person on their own amagi token. `viewer` (amagi role
//! `readonly`) gets read-only collections: no write privilege in the privilege set, and PUT,
//! DELETE, MOVE and PROPPATCH refused with `DAV:need-privileges` before any CRM call; tasks
//! reach only their assignee's `mine` list; amagi's audit log names each phone write's own
//! writer; and a revoked token keeps the person's last state on the phone, logged and counted.

use crate::support::amagi::Amagi;
use crate::support::gateway::{bin, free_port, repo, Gateway, StateDir};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The example copied into `dir`, with one more person for the test: `boss`, amagi's admin
/// on the admin token, so that two writers with different amagi names write from phones.
/// The refresh TTL is cut to 1 s so the revoked token is asked within the test.
fn copy_example(dir: &Path) {
    std::fs::create_dir_all(dir.join("tenants")).unwrap();
    let ex = repo("deploy/examples/amagi");
    std::fs::copy(ex.join("crmdav.toml"), dir.join("crmdav.toml")).unwrap();
    let tenant = std::fs::read_to_string(ex.join("tenants/firm.toml")).unwrap();
    assert!(
        tenant.contains("users = [\"alice\", \"viewer\"]"),
        "{tenant}"
    );
    let tenant = tenant
        .replace(
            "users = [\"alice\", \"viewer\"]",
            "users = [\"alice\", \"viewer\", \"boss\"]",
        )
        .replace("refresh_ttl_secs = 30", "refresh_ttl_secs = 1")
        + "\n[[users]]\nname = \"boss\"\ncrm_id = \"${BOSS_CRM_ID}\"\ncrm_token = \"${CRM_ADMIN_TOKEN}\"\n";
    std::fs::write(dir.join("tenants/firm.toml"), tenant).unwrap();
}

/// `crmdav app-password create` for `user`, as the example's comment block shows.
fn app_password(dir: &Path, env: &[(&str, &str)], user: &str) -> String {
    let out = Command::new(bin())
        .args(["app-password", "create", "--config"])
        .arg(dir.join("crmdav.toml"))
        .args(["--tenant", "firm", "--user", user, "--label", "test phone"])
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A write a read-only person tries: method, path, body, headers.
type Attempt<'a> = (&'a str, String, Option<String>, Vec<(&'a str, &'a str)>);

struct Person<'a> {
    name: &'a str,
    pass: String,
}

async fn dav(
    http: &reqwest::Client,
    base: &str,
    who: &Person<'_>,
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
        .basic_auth(who.name, Some(&who.pass));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb.body(b);
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// A counter from /metrics (one tenant: no tenant label).
async fn metric(http: &reqwest::Client, base: &str, name: &str) -> u64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = format!("{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .unwrap_or_else(|| panic!("no {key} in /metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// The privilege names of `path`'s `current-user-privilege-set`.
async fn privileges(http: &reqwest::Client, base: &str, who: &Person<'_>, path: &str) -> String {
    let q = r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:current-user-privilege-set/></d:prop></d:propfind>"#;
    let (st, text) = dav(
        http,
        base,
        who,
        "PROPFIND",
        path,
        Some(q.into()),
        &[("Depth", "0")],
    )
    .await;
    assert_eq!(st, 207, "{text}");
    text
}

/// The SUMMARYs and hrefs a person's collection serves (calendar-query with calendar-data).
async fn summaries(
    http: &reqwest::Client,
    base: &str,
    who: &Person<'_>,
    coll: &str,
) -> (Vec<String>, Vec<String>) {
    let q = r#"<?xml version="1.0" encoding="utf-8"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>"#;
    let path = format!("/dav/calendars/{}/{coll}/", who.name);
    let (st, text) = dav(
        http,
        base,
        who,
        "REPORT",
        &path,
        Some(q.into()),
        &[("Depth", "1"), ("Content-Type", "application/xml")],
    )
    .await;
    assert_eq!(st, 207, "{text}");
    let doc = roxmltree::Document::parse(&text).unwrap();
    let hrefs = doc
        .descendants()
        .filter(|n| n.has_tag_name(("DAV:", "href")))
        .filter_map(|n| n.text())
        .map(String::from)
        .collect();
    let mut sums: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("SUMMARY:"))
        .map(|s| s.trim_end_matches("&#13;").trim().to_string())
        .collect();
    sums.sort();
    (sums, hrefs)
}

fn event(uid: &str, summary: &str, start: &str, end: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:{summary}\r\nDTSTART:{start}\r\nDTEND:{end}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
}

/// amagi's audit actor of the create of the appointment titled `title`.
async fn creator(crm: &Amagi, title: &str) -> String {
    let list = crm
        .call(&crm.admin_token, "GET", "/appointments", None)
        .await;
    let id = list
        .as_array()
        .and_then(|a| a.iter().find(|x| x["title"] == title))
        .map(|x| x["id"].clone())
        .unwrap_or_else(|| panic!("{title} not in amagi: {list}"));
    let audit = crm
        .call(&crm.admin_token, "GET", "/audit?limit=1000", None)
        .await;
    audit
        .as_array()
        .and_then(|a| {
            a.iter().find(|e| {
                e["entity"] == "appointment" && e["action"] == "create" && e["entity_id"] == id
            })
        })
        .and_then(|e| e["actor"].as_str())
        .unwrap_or_else(|| panic!("no audit row for the create of {title}: {audit}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amagi_people_each_on_their_own_token() {
    let crm = Amagi::start().await;
    let users = crm.call(&crm.admin_token, "GET", "/users", None).await;
    let id_of = |name: &str| -> String {
        users
            .as_array()
            .and_then(|a| a.iter().find(|u| u["name"] == name))
            .map(|u| u["id"].to_string())
            .unwrap_or_else(|| panic!("no amagi user {name} in {users}"))
    };
    let (alice_id, viewer_id, boss_id) = (id_of("alice"), id_of("viewer"), id_of("admin"));
    for (title, who) in [("for alice", &alice_id), ("for viewer", &viewer_id)] {
        crm.call(
            &crm.admin_token,
            "POST",
            "/tasks",
            Some(json!({"title": title, "assignee_id": who.parse::<i64>().unwrap()})),
        )
        .await;
    }
    crm.call(
        &crm.admin_token,
        "POST",
        "/tasks",
        Some(json!({"title": "for nobody"})),
    )
    .await;
    let day = (chrono::Utc::now() + chrono::Duration::days(10)).format("%Y%m%d");
    crm.call(
        &crm.admin_token,
        "POST",
        "/appointments",
        Some(json!({"title": "Board meeting", "start": format!("{}T07:00:00Z", (chrono::Utc::now() + chrono::Duration::days(10)).format("%Y-%m-%d")), "duration_minutes": 60})),
    )
    .await;

    let dir = StateDir::new("people-amagi");
    copy_example(dir.path());
    let key = hex::encode([7u8; 32]);
    let env = [
        ("CRM_URL", crm.api.as_str()),
        ("CRM_TOKEN", crm.token.as_str()),
        ("CRM_READONLY_TOKEN", crm.readonly_token.as_str()),
        ("CRM_ADMIN_TOKEN", crm.admin_token.as_str()),
        ("CRMDAV_SECRETS_KEY", key.as_str()),
        ("ALICE_CRM_ID", alice_id.as_str()),
        ("VIEWER_CRM_ID", viewer_id.as_str()),
        ("BOSS_CRM_ID", boss_id.as_str()),
    ];
    let alice = Person {
        name: "alice",
        pass: app_password(dir.path(), &env, "alice"),
    };
    let viewer = Person {
        name: "viewer",
        pass: app_password(dir.path(), &env, "viewer"),
    };
    let boss = Person {
        name: "boss",
        pass: app_password(dir.path(), &env, "boss"),
    };
    let mut gw = Gateway::new(dir.path(), free_port());
    for (k, v) in env {
        gw = gw.env(k, v);
    }
    let gw = gw.start();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let base = gw.base.clone();

    // Privileges: alice may write her collections, viewer only read his (RFC 3744 §5.4).
    let p = privileges(&http, &base, &alice, "/dav/calendars/alice/meetings/").await;
    assert!(p.contains("d:write/") && p.contains("d:bind/"), "{p}");
    for coll in [
        "/dav/calendars/viewer/meetings/",
        "/dav/calendars/viewer/tasks/",
        "/dav/addressbooks/viewer/contacts/",
    ] {
        let p = privileges(&http, &base, &viewer, coll).await;
        assert!(p.contains("d:read/"), "{coll}: {p}");
        for w in [
            "d:write/",
            "d:write-content/",
            "d:bind/",
            "d:unbind/",
            "d:write-properties/",
        ] {
            assert!(!p.contains(w), "{coll} grants {w}: {p}");
        }
    }

    // Each person's `mine` list holds what amagi assigns to them.
    assert_eq!(
        summaries(&http, &base, &alice, "tasks").await.0,
        ["for alice"]
    );
    assert_eq!(
        summaries(&http, &base, &viewer, "tasks").await.0,
        ["for viewer"]
    );
    assert!(summaries(&http, &base, &boss, "tasks").await.0.is_empty());

    // viewer's writes: 403 need-privileges, and not one CRM call.
    let (sums, hrefs) = summaries(&http, &base, &viewer, "meetings").await;
    assert_eq!(sums, ["Board meeting"]);
    let board = hrefs
        .iter()
        .find(|h| h.ends_with(".ics"))
        .expect("the board meeting's href")
        .clone();
    let calls = metric(&http, &base, "crmdav_crm_calls_total").await;
    let moved = format!("{base}/dav/calendars/viewer/meetings/moved.ics");
    let proppatch = r#"<?xml version="1.0"?><d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><d:displayname>x</d:displayname></d:prop></d:set></d:propertyupdate>"#;
    let tries: Vec<Attempt> = vec![
        (
            "PUT",
            "/dav/calendars/viewer/meetings/new.ics".into(),
            Some(event("v-1", "from viewer", &format!("{day}T120000Z"), &format!("{day}T130000Z"))),
            vec![("Content-Type", "text/calendar"), ("If-None-Match", "*")],
        ),
        ("DELETE", board.clone(), None, vec![]),
        ("MOVE", board.clone(), None, vec![("Destination", moved.as_str())]),
        ("PROPPATCH", board.clone(), Some(proppatch.into()), vec![]),
        (
            "PUT",
            "/dav/calendars/viewer/tasks/t.ics".into(),
            Some("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:v-t\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:task from viewer\r\nEND:VTODO\r\nEND:VCALENDAR\r\n".into()),
            vec![("Content-Type", "text/calendar")],
        ),
    ];
    for (method, path, body, headers) in tries {
        let (st, text) = dav(&http, &base, &viewer, method, &path, body, &headers).await;
        assert_eq!(st, 403, "{method} {path}: {text}");
        assert!(text.contains("need-privileges"), "{method} {path}: {text}");
    }
    assert_eq!(
        metric(&http, &base, "crmdav_crm_calls_total").await,
        calls,
        "a refused write called the CRM"
    );
    assert_eq!(
        summaries(&http, &base, &viewer, "meetings").await.0,
        ["Board meeting"]
    );

    // Phone writes carry their writer's amagi name.
    for (who, title, hour) in [
        (&alice, "alice's meeting", "09"),
        (&boss, "boss's meeting", "11"),
    ] {
        let uid = format!("{}-phone", who.name);
        let (st, text) = dav(
            &http,
            &base,
            who,
            "PUT",
            &format!("/dav/calendars/{}/meetings/{uid}.ics", who.name),
            Some(event(
                &uid,
                title,
                &format!("{day}T{hour}0000Z"),
                &format!("{day}T{hour}3000Z"),
            )),
            &[("Content-Type", "text/calendar"), ("If-None-Match", "*")],
        )
        .await;
        assert_eq!(st, 201, "{}: {text}", who.name);
    }
    assert_eq!(creator(&crm, "alice's meeting").await, "alice");
    assert_eq!(creator(&crm, "boss's meeting").await, "admin");
    assert!(metric(&http, &base, "crmdav_crm_personal_calls_total").await > 0);
    assert!(metric(&http, &base, "crmdav_crm_role_lookups_total").await >= 3);

    // viewer's token revoked in amagi: the phone keeps the last state (nothing removed), the
    // refusal is logged with tenant, user and reason, and counted.
    // viewer's view of the shared calendar once a refresh has seen both phone writes.
    let t0 = std::time::Instant::now();
    let seen = loop {
        let (sums, _) = summaries(&http, &base, &viewer, "meetings").await;
        if sums.len() == 3 {
            break sums;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "viewer sees {sums:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(seen, ["Board meeting", "alice's meeting", "boss's meeting"]);
    crm.call(&crm.admin_token, "POST", "/users/viewer/revoke", None)
        .await;
    // The next refresh after the 1 s TTL asks amagi with the revoked token: poll until it
    // has (bounded), the phone's view checked on every poll.
    let t0 = std::time::Instant::now();
    loop {
        let (sums, _) = summaries(&http, &base, &viewer, "meetings").await;
        assert_eq!(sums, seen, "viewer's last state changed");
        if metric(&http, &base, "crmdav_crm_credential_refusals_total").await >= 1 {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the revoked token was never refused"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (st, text) = dav(
        &http,
        &base,
        &viewer,
        "PROPFIND",
        "/dav/calendars/viewer/meetings/",
        None,
        &[("Depth", "1")],
    )
    .await;
    assert_eq!(st, 207, "{text}");
    assert!(text.contains(board.as_str()), "{text}");
    let log = gw.log();
    let line = log
        .lines()
        .find(|l| l.contains("refused this person's own credential"))
        .unwrap_or_else(|| panic!("no refusal in the log:\n{log}"));
    assert!(
        line.contains("tenant=firm") && line.contains("user=viewer") && line.contains("reason="),
        "{line}"
    );
    assert!(!log.contains(&crm.readonly_token), "a token in the log");
    drop(gw);
}
