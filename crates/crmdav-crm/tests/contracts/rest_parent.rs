//! Issue 12 item 10 at the engine: an entity listed once per record of a parent entity
//! (`[entities.x.parent]`, `{parent.id}` in the list path), in the shape of a Laravel API
//! (`/contacts/{id}/meetings`): the bound on parents, the parent's change filter on an
//! incremental listing, the parent's id written into each child. Exact call counts.

use chrono::{TimeZone, Utc};
use crmdav_crm::connector::rest::def::ConnectorDef;
use crmdav_crm::connector::{Connector, RestConnector};
use serde_json::json;
use std::collections::HashMap;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DEF: &str = r#"
name = "laravel"
base_url = "${base}"
[entities.contacts]
modified_field = "updated_at"
records_path = "data"
list = { path = "/contacts" }
modified_since = { style = "query", param = "updated_since", format = "rfc3339" }

[entities.meetings]
records_path = "data"
list = { path = "/contacts/{parent.id}/meetings" }
get = { path = "/meetings/{id}" }
paging = { style = "page", page_param = "page", size = 2, has_more_path = "more" }
parent = { entity = "contacts", max_parents = 2, parent_id_path = "contact_id" }
"#;

fn build(toml: &str, s: &MockServer) -> RestConnector {
    let vars: HashMap<String, String> = [("base".to_string(), s.uri())].into();
    RestConnector::new(ConnectorDef::from_toml_str(toml, &vars).unwrap(), None).unwrap()
}

async fn mount(s: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/contacts"))
        .and(query_param_is_missing("updated_since"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [
            {"id": 1, "updated_at": "2030-01-01T00:00:00Z"},
            {"id": 2, "updated_at": "2030-01-05T00:00:00Z"},
            {"id": 3, "updated_at": "2030-01-01T00:00:00Z"}
        ]})))
        .mount(s)
        .await;
    Mock::given(method("GET"))
        .and(path("/contacts"))
        .and(query_param("updated_since", "2030-01-03T00:00:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [
            {"id": 2, "updated_at": "2030-01-05T00:00:00Z"}
        ]})))
        .mount(s)
        .await;
    // Contact 1 has two pages of meetings, contact 2 one, contact 3 (past the bound) one.
    Mock::given(method("GET"))
        .and(path("/contacts/1/meetings"))
        .and(query_param("page", "1"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": [{"id": "m1"}, {"id": "m2"}], "more": true})),
        )
        .mount(s)
        .await;
    Mock::given(method("GET"))
        .and(path("/contacts/1/meetings"))
        .and(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": [{"id": "m3"}], "more": false})),
        )
        .mount(s)
        .await;
    Mock::given(method("GET"))
        .and(path("/contacts/2/meetings"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": [{"id": "m4"}], "more": false})),
        )
        .mount(s)
        .await;
    Mock::given(method("GET"))
        .and(path("/contacts/3/meetings"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": [{"id": "m5"}], "more": false})),
        )
        .expect(0)
        .mount(s)
        .await;
}

#[tokio::test]
async fn children_are_listed_per_parent_within_the_bound() {
    let s = MockServer::start().await;
    mount(&s).await;
    let c = build(DEF, &s);
    let p = c.list("meetings", None, None).await.unwrap();
    let ids: Vec<&str> = p.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        ["m1", "m2", "m3", "m4"],
        "contact 3 is past max_parents = 2"
    );
    assert_eq!(p.next, None);
    assert_eq!(p.records[2].data["contact_id"], "1");
    assert_eq!(p.records[3].data["contact_id"], "2");
    // One parent listing, two pages under contact 1, one under contact 2.
    assert_eq!(c.calls(), 1 + 2 + 1);
}

#[tokio::test]
async fn an_incremental_listing_relists_only_changed_parents() {
    let s = MockServer::start().await;
    mount(&s).await;
    let c = build(DEF, &s);
    assert!(
        c.capabilities("meetings").modified_since,
        "the parent's filter makes the child incremental"
    );
    let since = Utc.with_ymd_and_hms(2030, 1, 3, 0, 0, 0).unwrap();
    let p = c.list("meetings", Some(since), None).await.unwrap();
    let ids: Vec<&str> = p.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["m4"]);
    assert_eq!(
        c.calls(),
        2,
        "the changed parents, then contact 2's meetings"
    );

    // Without `changed_only` every parent is listed every time.
    let s = MockServer::start().await;
    mount(&s).await;
    let c = build(
        &DEF.replace("max_parents = 2,", "max_parents = 2, changed_only = false,"),
        &s,
    );
    assert!(!c.capabilities("meetings").modified_since);
    c.list("meetings", Some(since), None).await.unwrap();
    assert_eq!(c.calls(), 4);
}

#[test]
fn a_parent_declaration_is_checked() {
    let vars: HashMap<String, String> = [("base".to_string(), "http://x".to_string())].into();
    let e = ConnectorDef::from_toml_str(
        &DEF.replace("/contacts/{parent.id}/meetings", "/meetings"),
        &vars,
    )
    .unwrap_err();
    assert!(e.contains("{parent.id}"), "{e}");
    let e = ConnectorDef::from_toml_str(
        &DEF.replace("entity = \"contacts\"", "entity = \"people\""),
        &vars,
    )
    .unwrap_err();
    assert!(e.contains("unknown parent entity"), "{e}");
}
