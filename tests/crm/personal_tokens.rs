//! People on their own CRM API token (`users[].crm_token`) against a bearer-token REST CRM
//! (wiremock; definition `tests/fixtures/person-oauth/`): each person's reads and writes carry
//! their own token, a person on the tenant's credential keeps it, and a CRM 403 on a write the
//! gateway let through (no `[me]` role to refuse it earlier) is `403 DAV:need-privileges` with
//! nothing stored.

use crate::support::gateway::{free_port, hash_password, repo, Gateway, StateDir};
use serde_json::json;
use std::time::Duration;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const PASS: &str = "tok-Secret-5";

fn thing(id: &str, title: &str) -> serde_json::Value {
    json!({"id": id, "title": title, "start": "2030-01-15T10:00:00+01:00", "end": "2030-01-15T11:00:00+01:00"})
}

fn event(uid: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:from {uid}\r\nDTSTART:20300301T090000Z\r\nDTEND:20300301T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_person_calls_the_crm_with_their_own_token() {
    let crm = MockServer::start().await;
    for (token, title) in [("svc-token", "Everyone's"), ("pat-token", "Pat's own")] {
        Mock::given(method("GET"))
            .and(path("/api/things"))
            .and(header("authorization", format!("Bearer {token}").as_str()))
            .respond_with(ResponseTemplate::new(200).set_body_json(vec![thing("1", title)]))
            .mount(&crm)
            .await;
    }
    // The service credential may create; pat's role may not.
    Mock::given(method("POST"))
        .and(path("/api/things"))
        .and(header("authorization", "Bearer svc-token"))
        .respond_with(ResponseTemplate::new(201).set_body_json(thing("7", "from svc-phone")))
        .mount(&crm)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/things"))
        .and(header("authorization", "Bearer pat-token"))
        .respond_with(
            ResponseTemplate::new(403).set_body_json(json!({"error": "your role may not create"})),
        )
        .mount(&crm)
        .await;

    let dir = StateDir::new("personal-tokens");
    let port = free_port();
    std::fs::create_dir_all(dir.path().join("tenants")).unwrap();
    let fixtures = repo("tests/fixtures/person-oauth");
    std::fs::write(
        dir.path().join("crmdav.toml"),
        format!(
            "state = \"sqlite://state/crmdav.db\"\ntenants_dir = \"tenants\"\ndefault_tenant = \"firm\"\nconnectors_dir = \"{0}/connectors\"\nmappings_dir = \"{0}/mappings\"\nhttp = {{ metrics_tenant_names = true }}\n",
            fixtures.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("pat.token"), "pat-token\n").unwrap();
    let hash = hash_password(PASS);
    std::fs::write(
        dir.path().join("tenants/firm.toml"),
        format!(
            r#"name = "firm"
[connector]
kind = "person-crm"
options = {{ base_url = "{uri}/api", token = "svc-token", oauth = "{uri}/oauth" }}
[[users]]
name = "pat"
password_hash = "{hash}"
crm_token_file = "../pat.token"
[[users]]
name = "sam"
password_hash = "{hash}"
[[collections]]
id = "things"
kind = "calendar"
entity = "things"
users = ["pat", "sam"]
"#,
            uri = crm.uri()
        ),
    )
    .unwrap();
    let gw = Gateway::new(dir.path(), port).start();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let dav = |user: &'static str, m: &'static str, p: String, body: Option<String>| {
        let http = http.clone();
        let base = gw.base.clone();
        async move {
            let mut rb = http
                .request(
                    reqwest::Method::from_bytes(m.as_bytes()).unwrap(),
                    format!("{base}{p}"),
                )
                .basic_auth(user, Some(PASS))
                .header("Depth", "1");
            if let Some(b) = body {
                rb = rb
                    .header("Content-Type", "text/calendar")
                    .header("If-None-Match", "*")
                    .body(b);
            }
            let r = rb.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    let (st, pat) = dav("pat", "PROPFIND", "/dav/calendars/pat/things/".into(), None).await;
    assert_eq!(st, 207, "{pat}");
    let (st, sam) = dav("sam", "PROPFIND", "/dav/calendars/sam/things/".into(), None).await;
    assert_eq!(st, 207, "{sam}");
    let (_, pat_item) = dav(
        "pat",
        "GET",
        "/dav/calendars/pat/things/person-crm-things-1@crmdav.ics".into(),
        None,
    )
    .await;
    assert!(pat_item.contains("SUMMARY:Pat's own"), "{pat_item}");
    let (_, sam_item) = dav(
        "sam",
        "GET",
        "/dav/calendars/sam/things/person-crm-things-1@crmdav.ics".into(),
        None,
    )
    .await;
    assert!(sam_item.contains("SUMMARY:Everyone's"), "{sam_item}");

    // pat's create: the CRM's 403 is the RFC 3744 precondition, and nothing is stored.
    let (st, text) = dav(
        "pat",
        "PUT",
        "/dav/calendars/pat/things/p.ics".into(),
        Some(event("pat-phone")),
    )
    .await;
    assert_eq!(st, 403, "{text}");
    assert!(
        text.contains("need-privileges")
            && text.contains("crm-forbidden")
            && text.contains("your role may not create"),
        "{text}"
    );
    let (st, _) = dav("pat", "GET", "/dav/calendars/pat/things/p.ics".into(), None).await;
    assert_eq!(st, 404);
    let (st, text) = dav(
        "sam",
        "PUT",
        "/dav/calendars/sam/things/s.ics".into(),
        Some(event("sam-phone")),
    )
    .await;
    assert_eq!(st, 201, "{text}");

    // Every call carried the token of the person it was for.
    let reqs = crm.received_requests().await.unwrap();
    let auth = |r: &wiremock::Request| {
        r.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let writes: Vec<String> = reqs
        .iter()
        .filter(|r| r.method.as_str() == "POST")
        .map(auth)
        .collect();
    assert_eq!(writes, ["Bearer pat-token", "Bearer svc-token"]);
    let lists: Vec<String> = reqs
        .iter()
        .filter(|r| r.method.as_str() == "GET")
        .map(auth)
        .collect();
    assert!(
        lists.contains(&"Bearer pat-token".to_string())
            && lists.contains(&"Bearer svc-token".to_string()),
        "{lists:?}"
    );

    let metrics = http
        .get(format!("{}/metrics", gw.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name}{{tenant=\"firm\"}} ")))
            .unwrap_or_else(|| panic!("no {name}:\n{metrics}"))
            .parse()
            .unwrap()
    };
    let personal = reqs
        .iter()
        .filter(|r| auth(r) == "Bearer pat-token")
        .count() as u64;
    assert_eq!(value("crmdav_crm_calls_total"), reqs.len() as u64);
    assert_eq!(value("crmdav_crm_personal_calls_total"), personal);
    assert!(!gw.log().contains("pat-token"), "a token in the log");
}
