//! Creates that must not duplicate, at the engine: the idempotency key header (and the retry
//! it allows after a 5xx), and `find_created`, the lookup of a record whose create went
//! unanswered (query and body templates, matched fields, the creation-time window), on generic
//! definitions and on the shipped amagi-crm one.

use chrono::{Duration, Utc};
use crmdav_crm::connector::rest::def::ConnectorDef;
use crmdav_crm::connector::{Connector, ConnectorError, RestConnector};
use serde_json::json;
use std::collections::HashMap;
use std::path::Path;
use wiremock::matchers::{body_partial_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn build(toml: &str, s: &MockServer) -> RestConnector {
    let vars: HashMap<String, String> = [("base".to_string(), s.uri())].into();
    RestConnector::new(ConnectorDef::from_toml_str(toml, &vars).unwrap(), None).unwrap()
}

const KEYED: &str = r#"
name = "t"
base_url = "${base}"
idempotency_key_header = "Idempotency-Key"
retry_backoff_ms = 1
[entities.things]
list = { path = "/things" }
create = { method = "POST", path = "/things" }
"#;

#[tokio::test]
async fn idempotency_key_is_sent_and_makes_a_create_retryable() {
    let s = MockServer::start().await;
    // The first attempt fails after the body was sent; the CRM dedups the repeat by its key.
    Mock::given(method("POST"))
        .and(path("/things"))
        .and(header("idempotency-key", "k-1"))
        .respond_with(ResponseTemplate::new(502))
        .up_to_n_times(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/things"))
        .and(header("idempotency-key", "k-1"))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 7})))
        .mount(&s)
        .await;
    let c = build(KEYED, &s);
    let r = c
        .create_keyed("things", &json!({"a": 1}), "k-1")
        .await
        .unwrap();
    assert_eq!(r.id, "7");
    assert_eq!(c.calls(), 2, "retried once with the same key");

    // Without a declared header no key is sent and a 5xx after the body was sent is not
    // repeated (it may have been committed).
    let s2 = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/things"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&s2)
        .await;
    let plain = build(&KEYED.replace("idempotency_key_header", "# no"), &s2);
    let e = plain
        .create_keyed("things", &json!({"a": 1}), "k-1")
        .await
        .unwrap_err();
    assert!(matches!(e, ConnectorError::Unavailable { .. }), "{e:?}");
    assert_eq!(plain.calls(), 1);
    let sent = s2.received_requests().await.unwrap();
    assert!(sent[0].headers.get("idempotency-key").is_none());
}

const LOOKUP: &str = r#"
name = "t"
base_url = "${base}"
timezone = "Europe/Berlin"
[entities.appts]
records_path = ""
list = { path = "/appts" }
create = { method = "POST", path = "/appts" }
[entities.appts.find_created]
list = { path = "/appts", query = { start = "{sent.start}", end = "{sent.end}", fixed = "1" } }
match = ["title", "start", "end"]
created_field = "created_at"
window_secs = 300
"#;

#[tokio::test]
async fn find_created_filters_by_what_was_sent() {
    let s = MockServer::start().await;
    let now = Utc::now();
    let recent = (now + Duration::seconds(2)).to_rfc3339();
    let old = (now - Duration::hours(2)).to_rfc3339();
    Mock::given(method("GET"))
        .and(path("/appts"))
        .and(query_param("start", "2030-03-01T10:00:00+01:00"))
        .and(query_param("end", "2030-03-01T11:00:00+01:00"))
        .and(query_param("fixed", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            // The one: same values, spelled in UTC by the CRM.
            {"id": 1, "title": "Lunch", "start": "2030-03-01T09:00:00Z", "end": "2030-03-01T10:00:00Z", "created_at": recent},
            // Same values, created long before the lost create.
            {"id": 2, "title": "Lunch", "start": "2030-03-01T10:00:00+01:00", "end": "2030-03-01T11:00:00+01:00", "created_at": old},
            // Created in the window, another title.
            {"id": 3, "title": "Dinner", "start": "2030-03-01T10:00:00+01:00", "end": "2030-03-01T11:00:00+01:00", "created_at": recent},
        ])))
        .expect(1)
        .mount(&s)
        .await;
    let c = build(LOOKUP, &s);
    let sent = json!({"title": "Lunch", "start": "2030-03-01T10:00:00+01:00", "end": "2030-03-01T11:00:00+01:00"});
    let found = c.find_created("appts", &sent, now).await.unwrap();
    assert_eq!(
        found.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        vec!["1"]
    );

    // No lookup declared: NotSupported, so the caller knows it cannot resolve.
    let none = build(
        &LOOKUP.replace(
            "[entities.appts.find_created]",
            "[entities.other]\nlist = { path = \"/o\" }\n[entities.other.find_created]",
        ),
        &s,
    );
    let e = none.find_created("appts", &sent, now).await.unwrap_err();
    assert!(matches!(e, ConnectorError::NotSupported { .. }), "{e:?}");
}

#[tokio::test]
async fn find_created_search_body_takes_since_and_sent_values() {
    let s = MockServer::start().await;
    let now = Utc::now();
    let since = (now - Duration::seconds(600))
        .timestamp_millis()
        .to_string();
    Mock::given(method("POST"))
        .and(path("/search"))
        .and(body_partial_json(
            json!({"filters": [{"value": since}, {"value": "u-1@x"}]}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": [
            {"id": "9", "properties": {"uid": "u-1@x"}, "createdAt": now.to_rfc3339()}
        ]})))
        .expect(1)
        .mount(&s)
        .await;
    let toml = r#"
name = "t"
base_url = "${base}"
[entities.m]
records_path = "results"
list = { path = "/m" }
[entities.m.find_created]
format = "unix_ms"
match = ["properties.uid"]
created_field = "createdAt"
[entities.m.find_created.list]
method = "POST"
path = "/search"
body = { filters = [{ value = "{since}" }, { value = "{sent.properties.uid}" }] }
"#;
    let c = build(toml, &s);
    let found = c
        .find_created("m", &json!({"properties": {"uid": "u-1@x"}}), now)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, "9");
}

#[test]
fn shipped_definitions_declare_their_lookups() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let vars: HashMap<String, String> = [
        ("base_url", "https://crm.example/api"),
        ("token", "t"),
        ("access_token", "t"),
        ("client_id", "c"),
        ("client_secret", "s"),
        ("refresh_token", "r"),
        ("org_url", "https://org.example"),
        ("tenant_id", "t"),
        ("api_token", "t"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (file, entities) in [
        ("amagi-crm", &["contacts", "appointments", "tasks"][..]),
        ("hubspot", &["meetings", "contacts"][..]),
        ("salesforce", &["events", "contacts"][..]),
        ("dynamics365", &["appointments", "contacts"][..]),
        ("zoho", &["events", "contacts"][..]),
        ("pipedrive", &["activities", "persons"][..]),
    ] {
        let def = ConnectorDef::load(root.join(format!("connectors/{file}.toml")), &vars)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        for e in entities {
            assert!(
                def.entities[*e].find_created.is_some(),
                "{file}.{e} has no find_created"
            );
        }
    }
    let bad = "name = \"t\"\nbase_url = \"https://x\"\n[entities.a]\nlist = { path = \"/a\" }\n[entities.a.find_created]\nmatch = []\nlist = { path = \"/a\" }\n";
    let e = ConnectorDef::from_toml_str(bad, &HashMap::new()).unwrap_err();
    assert!(e.contains("`match` needs at least one field"), "{e}");
}

#[tokio::test]
async fn a_create_that_reached_no_crm_was_not_sent() {
    // A port nobody listens on: the connection is refused, the request never left.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let toml = format!("name = \"t\"\nbase_url = \"http://127.0.0.1:{port}\"\n[entities.things]\nlist = {{ path = \"/things\" }}\ncreate = {{ method = \"POST\", path = \"/things\" }}\n");
    let c = RestConnector::new(
        ConnectorDef::from_toml_str(&toml, &HashMap::new()).unwrap(),
        None,
    )
    .unwrap();
    let e = c.create("things", &json!({"a": 1})).await.unwrap_err();
    assert!(e.was_not_sent(), "{e:?}");
    assert!(matches!(e, ConnectorError::Unavailable { .. }));
    // An answer lost after the body was sent is not "not sent".
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(504))
        .mount(&s)
        .await;
    let c = build(KEYED.replace("idempotency_key_header", "# no").as_str(), &s);
    let e = c.create("things", &json!({"a": 1})).await.unwrap_err();
    assert!(!e.was_not_sent(), "{e:?}");
}
