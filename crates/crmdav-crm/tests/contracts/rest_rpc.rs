//! The format's RPC-era features one by one, each against wiremock with exact call counts:
//! a login call answering a cookie (re-login after a 401) or a token; typed date objects in
//! both directions and in `modified_field`; element filters and replacing one-to-many
//! writes; a concurrency token carried in update and delete bodies, its mismatch a 412.

use crmdav_crm::connector::rest::def::ConnectorDef;
use crmdav_crm::connector::{Connector, ConnectorError, Record, RestConnector};
use crmdav_crm::mapping::{Mapping, VCardVersion};
use serde_json::{json, Value};
use std::collections::HashMap;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn connector(toml: &str, server: &MockServer) -> RestConnector {
    let vars: HashMap<String, String> = [
        ("base".to_string(), server.uri()),
        ("password".to_string(), "pa55-Word!".to_string()),
    ]
    .into();
    RestConnector::new(ConnectorDef::from_toml_str(toml, &vars).unwrap(), None).unwrap()
}

fn body_of(r: &wiremock::Request) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

const COOKIE_LOGIN: &str = r#"
name = "cookie-crm"
base_url = "${base}/api"
[auth]
type = "login"
path = "/session"
body = { username = "gateway", password = "${password}" }
session_cookie = "sid"
[entities.notes]
list = { path = "/notes" }
"#;

#[tokio::test]
async fn login_cookie_kept_and_renewed_once_after_a_401() {
    let s = MockServer::start().await;
    // The first login hands out S1, later ones S2.
    Mock::given(method("POST"))
        .and(path("/api/session"))
        .and(body_json(
            json!({"username": "gateway", "password": "pa55-Word!"}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("set-cookie", "sid=S1; Path=/; HttpOnly")
                .set_body_json(json!({"ok": true})),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/session"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("set-cookie", "sid=S2; Path=/; HttpOnly")
                .set_body_json(json!({"ok": true})),
        )
        .expect(1)
        .mount(&s)
        .await;
    // S1 works twice, then the server has logged it out.
    Mock::given(method("GET"))
        .and(path("/api/notes"))
        .and(header("cookie", "sid=S1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1}])))
        .up_to_n_times(2)
        .with_priority(1)
        .expect(2)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/notes"))
        .and(header("cookie", "sid=S1"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"detail": "session expired"})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/notes"))
        .and(header("cookie", "sid=S2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1}, {"id": 2}])))
        .expect(1)
        .mount(&s)
        .await;
    let c = connector(COOKIE_LOGIN, &s);
    assert_eq!(c.list("notes", None, None).await.unwrap().records.len(), 1);
    assert_eq!(c.list("notes", None, None).await.unwrap().records.len(), 1);
    assert_eq!(c.calls(), 3, "one login for two requests");
    assert_eq!(c.list("notes", None, None).await.unwrap().records.len(), 2);
    assert_eq!(
        c.calls(),
        6,
        "refused request, new login, the request again"
    );
    assert!(!format!("{c:?} {:?}", c.definition()).contains("pa55-Word!"));
}

#[tokio::test]
async fn login_token_in_a_header_and_a_refused_login() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/login"))
        .and(body_json(
            json!({"email": "gw@firm.example", "password": "pa55-Word!"}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": {"token": "tok-1", "ttl": 3600}})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/tasks"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": []})))
        .expect(2)
        .mount(&s)
        .await;
    let def = r#"
name = "token-crm"
base_url = "${base}"
[auth]
type = "login"
path = "/auth/login"
body = { email = "gw@firm.example", password = "${password}" }
session_path = "data.token"
header = "Authorization"
header_value = "Bearer {session}"
[entities.tasks]
records_path = "items"
list = { path = "/tasks" }
"#;
    let c = connector(def, &s);
    c.list("tasks", None, None).await.unwrap();
    c.list("tasks", None, None).await.unwrap();
    assert_eq!(c.calls(), 3);

    // Wrong credentials: 401 at the login is an auth failure with the CRM's message, once.
    let s2 = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/login"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"message": "Invalid credentials"})),
        )
        .expect(1)
        .mount(&s2)
        .await;
    let c2 = connector(def, &s2);
    assert_eq!(
        c2.list("tasks", None, None).await.unwrap_err(),
        ConnectorError::Auth {
            message: "the CRM refused the login: Invalid credentials".into()
        }
    );
    assert_eq!(c2.calls(), 1);
}

const TYPED: &str = r#"
name = "typed-crm"
base_url = "${base}"
[values]
dates = { style = "tagged" }
[entities.todos]
records_path = "result"
record_path = "result"
modified_field = "updated"
list = { path = "/todos" }
update = { method = "PUT", path = "/todos/{id}" }
modified_since = { style = "body", method = "POST", path = "/todos/search", format = "values", body = { where = [["updated", ">", "{since}"]] } }
"#;

const TYPED_MAPPING: &str = r#"
component = "VTODO"
timezone = "Europe/Berlin"
[values]
dates = { style = "tagged" }
[[field]]
property = "SUMMARY"
path = "title"
[[field]]
property = "DTSTART"
path = "begins"
type = "datetime"
[[field]]
property = "DUE"
path = "due"
type = "date"
"#;

#[tokio::test]
async fn typed_date_objects_read_and_written() {
    let s = MockServer::start().await;
    let rec = json!({"id": "t1", "title": "Renew the lease",
        "begins": {"__type": "datetime", "value": "2026-12-05T09:00:00Z"},
        "due": {"__type": "date", "value": "2026-12-18"},
        "updated": {"__type": "datetime", "value": "2026-12-01T07:30:00Z"}});
    Mock::given(method("GET"))
        .and(path("/todos"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": [rec]})))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/todos/search"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": []})))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("PUT"))
        .and(path("/todos/t1"))
        .respond_with(|r: &wiremock::Request| {
            let mut b = body_of(r);
            b["id"] = json!("t1");
            b["updated"] = json!({"__type": "datetime", "value": "2026-12-01T08:00:00Z"});
            ResponseTemplate::new(200).set_body_json(json!({"result": b}))
        })
        .expect(1)
        .mount(&s)
        .await;
    let c = connector(TYPED, &s);
    let m = Mapping::from_toml_str(TYPED_MAPPING, &HashMap::new(), None, None).unwrap();
    let got = c.list("todos", None, None).await.unwrap().records;
    assert_eq!(
        got[0].modified.map(|t| t.to_rfc3339()),
        Some("2026-12-01T07:30:00+00:00".into()),
        "modified_field reads the typed object, so modified-since filters work"
    );
    let todo = m.to_component(&got[0]);
    assert!(
        todo.contains("DTSTART;TZID=Europe/Berlin:20261205T100000\r\n"),
        "{todo}"
    );
    assert!(todo.contains("DUE;VALUE=DATE:20261218\r\n"), "{todo}");
    let moved = todo
        .replace(
            "DTSTART;TZID=Europe/Berlin:20261205T100000",
            "DTSTART;TZID=Europe/Berlin:20261206T100000",
        )
        .replace("DUE;VALUE=DATE:20261218", "DUE;VALUE=DATE:20261219");
    let written = c
        .update("todos", "t1", &m.to_record(&moved).unwrap(), None)
        .await
        .unwrap();
    let sent = body_of(&s.received_requests().await.unwrap()[1]);
    assert_eq!(
        sent,
        json!({"title": "Renew the lease",
               "begins": {"__type": "datetime", "value": "2026-12-06T09:00:00Z"},
               "due": {"__type": "date", "value": "2026-12-19"}})
    );
    assert_eq!(
        written.modified.map(|t| t.to_rfc3339()),
        Some("2026-12-01T08:00:00+00:00".into())
    );

    // The modified-since search carries the time as a typed object too.
    let since = written.modified.unwrap();
    let changed = c.list("todos", Some(since), None).await.unwrap();
    assert!(changed.records.is_empty());
    let search = s.received_requests().await.unwrap()[2].clone();
    assert_eq!(search.url.path(), "/todos/search");
    assert_eq!(
        body_of(&search),
        json!({"where": [["updated", ">", {"__type": "datetime", "value": "2026-12-01T08:00:00Z"}]]})
    );
    assert_eq!(c.calls(), 3);
}

const PEOPLE: &str = r#"
name = "drf-crm"
base_url = "${base}/api"
[entities.people]
list = { path = "/people/" }
update = { method = "PUT", path = "/people/{id}/" }
"#;

const PEOPLE_MAPPING: &str = r#"
component = "VCARD"
[[field]]
property = "FN"
path = "name"
[[field]]
property = "EMAIL"
type = "list"
path = "contact_methods"
item_value = "value"
item_filter = { type = "email" }
[[field]]
property = "TEL"
type = "list"
path = "contact_methods"
item_value = "value"
item_filter = { type = "mobile" }
params = { TYPE = "cell" }
params_match = "strict"
[[field]]
property = "CATEGORIES"
type = "list"
style = "comma"
path = "tag_ids"
value_type = "integer"
write_template = [[6, 0, "{items}"]]
"#;

#[tokio::test]
async fn element_filters_and_replacing_list_writes() {
    let s = MockServer::start().await;
    let person = json!({"id": 4, "name": "Ada Lovelace", "tag_ids": [3, 5], "contact_methods": [
        {"type": "email", "value": "ada@example.org"},
        {"type": "mobile", "value": "+44 7700 900123"},
        {"type": "email", "value": "ada@work.example"}]});
    Mock::given(method("GET"))
        .and(path("/api/people/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([person])))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("PUT"))
        .and(path("/api/people/4/"))
        .respond_with(|r: &wiremock::Request| {
            let mut b = body_of(r);
            b["id"] = json!(4);
            ResponseTemplate::new(200).set_body_json(b)
        })
        .expect(2)
        .mount(&s)
        .await;
    let c = connector(PEOPLE, &s);
    let m = Mapping::from_toml_str(PEOPLE_MAPPING, &HashMap::new(), None, None).unwrap();
    let got = c.list("people", None, None).await.unwrap().records;
    let card = m.to_vcard(&got[0], VCardVersion::V4);
    assert!(
        card.contains("EMAIL:ada@example.org\r\nEMAIL:ada@work.example\r\n"),
        "{card}"
    );
    assert!(card.contains("TEL;TYPE=cell:+44 7700 900123\r\n"), "{card}");
    assert!(card.contains("CATEGORIES:3,5\r\n"), "{card}");
    let edited = card.replace("EMAIL:ada@work.example\r\n", "");
    let patch = m.to_record(&edited).unwrap();
    c.update("people", "4", &patch, None).await.unwrap();
    c.update("people", "4", &patch, None).await.unwrap();
    let reqs = s.received_requests().await.unwrap();
    let expected = json!({"name": "Ada Lovelace",
        "contact_methods": [{"type": "email", "value": "ada@example.org"},
                            {"type": "mobile", "value": "+44 7700 900123"}],
        "tag_ids": [[6, 0, [3, 5]]]});
    assert_eq!(
        body_of(&reqs[1]),
        expected,
        "the whole list, filters stamped, tags replaced"
    );
    assert_eq!(
        body_of(&reqs[2]),
        expected,
        "a repeated update sends the same list again"
    );
    assert_eq!(c.calls(), 3);
}

const LOCKED: &str = r#"
name = "rails-crm"
base_url = "${base}"
status_overrides = [{ status = 409, means = "version_mismatch" }]
[entities.deals]
version_field = "lock_version"
version_type = "integer"
list = { path = "/deals.json" }
update = { method = "PATCH", path = "/deals/{id}.json", body = { deal = "{record}", lock_version = "{version}" } }
delete = { style = "delete", path = "/deals/{id}.json", body = { lock_version = "{version}" } }
"#;

#[tokio::test]
async fn version_tokens_travel_in_the_body() {
    let s = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/deals/12.json"))
        .and(body_json(
            json!({"deal": {"title": "Renewal"}, "lock_version": 3}),
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 12, "title": "Renewal", "lock_version": 4})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/deals/12.json"))
        .and(body_json(
            json!({"deal": {"title": "Stale"}, "lock_version": 3}),
        ))
        .respond_with(
            ResponseTemplate::new(409)
                .set_body_json(json!({"error": "Attempted to update a stale object: Deal."})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/deals/12.json"))
        .and(body_json(json!({"lock_version": 4})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&s)
        .await;
    let c = connector(LOCKED, &s);
    let rec: Record = c
        .update("deals", "12", &json!({"title": "Renewal"}), Some("3"))
        .await
        .unwrap();
    assert_eq!(rec.version.as_deref(), Some("4"));
    assert_eq!(
        c.update("deals", "12", &json!({"title": "Stale"}), Some("3"))
            .await
            .unwrap_err(),
        ConnectorError::VersionMismatch {
            message: "Attempted to update a stale object: Deal.".into()
        },
        "a version mismatch is a 412 on the phone"
    );
    c.delete_versioned("deals", "12", rec.version.as_deref())
        .await
        .unwrap();
    assert_eq!(c.calls(), 3);
}
