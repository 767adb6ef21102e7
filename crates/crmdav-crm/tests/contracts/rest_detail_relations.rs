//! Issue 12 items 2 and 7 at the engine, in the shape of a Rails API (`/deals.json`,
//! `/deals/1.json`, writes wrapped in the model's name): list rows completed from the single
//! record only when new or changed (`detail`), and relations through lookups (`relations`):
//! tag ids shown as names through a listing of `/tags.json`, assignees read as objects and
//! written as ids, unknown names created, dropped or refused. Every count is exact.

use crmdav_crm::connector::rest::def::ConnectorDef;
use crmdav_crm::connector::{Connector, ConnectorError, Record, RestConnector};
use serde_json::{json, Value};
use std::collections::HashMap;
use wiremock::matchers::{body_json, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn build(toml: &str, s: &MockServer) -> RestConnector {
    let vars: HashMap<String, String> = [("base".to_string(), s.uri())].into();
    RestConnector::new(ConnectorDef::from_toml_str(toml, &vars).unwrap(), None).unwrap()
}

async fn hits(s: &MockServer, m: &str, p: &str) -> usize {
    s.received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r: &&Request| r.method.as_str() == m && r.url.path() == p)
        .count()
}

const DEALS: &str = r#"
name = "rails"
base_url = "${base}"
[entities.deals]
modified_field = "updated_at"
list = { path = "/deals.json" }
get = { path = "/deals/{id}.json" }
detail = { max_concurrency = 2 }
"#;

fn row(id: u32, title: &str, at: &str) -> Value {
    json!({"id": id, "title": title, "updated_at": at})
}

async fn mount_detail(s: &MockServer, id: u32, title: &str) {
    Mock::given(method("GET"))
        .and(path(format!("/deals/{id}.json")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": id, "title": title, "description": format!("notes on {title}"),
            "links": [{"url": format!("https://x.example/{id}")}]
        })))
        .mount(s)
        .await;
}

async fn listed(c: &RestConnector) -> Vec<Record> {
    c.list("deals", None, None).await.unwrap().records
}

#[tokio::test]
async fn detail_fetch_reads_only_new_or_changed_rows() {
    let s = MockServer::start().await;
    let rows = json!([
        row(1, "one", "2030-01-01T00:00:00Z"),
        row(2, "two", "2030-01-01T00:00:00Z"),
        row(3, "three", "2030-01-01T00:00:00Z")
    ]);
    Mock::given(method("GET"))
        .and(path("/deals.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(rows))
        .up_to_n_times(2)
        .mount(&s)
        .await;
    for (id, t) in [(1, "one"), (2, "two"), (3, "three")] {
        mount_detail(&s, id, t).await;
    }
    let c = build(DEALS, &s);

    // A row lacks the description; completing it reads the single record.
    let rows = listed(&c).await;
    assert!(rows[0].data.get("description").is_none());
    let full = c.complete("deals", rows).await.unwrap();
    assert_eq!(full.len(), 3);
    assert_eq!(full[1].data["description"], "notes on two");
    assert_eq!(
        full[1].data["updated_at"], "2030-01-01T00:00:00Z",
        "row-only members stay"
    );
    assert_eq!(full[1].modified, rows_modified());
    assert_eq!(c.calls(), 1 + 3, "one listing, one detail per new row");

    // The same rows again: no detail request at all.
    let full = c.complete("deals", listed(&c).await).await.unwrap();
    assert_eq!(full.len(), 3);
    assert_eq!(full[2].data["description"], "notes on three");
    assert_eq!(c.calls(), 2 + 3);

    // One row changed: one detail request, for that row.
    Mock::given(method("GET"))
        .and(path("/deals.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            row(1, "one", "2030-01-01T00:00:00Z"),
            row(2, "two (moved)", "2030-01-02T00:00:00Z"),
            row(3, "three", "2030-01-01T00:00:00Z")
        ])))
        .mount(&s)
        .await;
    let full = c.complete("deals", listed(&c).await).await.unwrap();
    assert_eq!(full.len(), 3);
    assert_eq!(c.calls(), 3 + 3 + 1);
    assert_eq!(hits(&s, "GET", "/deals/2.json").await, 2);
    assert_eq!(hits(&s, "GET", "/deals/1.json").await, 1);
    assert_eq!(hits(&s, "GET", "/deals/3.json").await, 1);
}

fn rows_modified() -> Option<chrono::DateTime<chrono::Utc>> {
    Some("2030-01-01T00:00:00Z".parse().unwrap())
}

#[tokio::test]
async fn a_row_whose_record_is_gone_is_left_out_and_other_errors_fail() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/deals.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            row(1, "one", "2030-01-01T00:00:00Z"),
            row(2, "gone", "2030-01-01T00:00:00Z")
        ])))
        .mount(&s)
        .await;
    mount_detail(&s, 1, "one").await;
    Mock::given(method("GET"))
        .and(path("/deals/2.json"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"error": "Not Found"})))
        .expect(1)
        .mount(&s)
        .await;
    let c = build(DEALS, &s);
    let full = c.complete("deals", listed(&c).await).await.unwrap();
    assert_eq!(
        full.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["1"]
    );
    assert_eq!(c.calls(), 3);

    // A refused detail request fails the completion (the listing is not half-rendered).
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/deals.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([row(
            1,
            "one",
            "2030-01-01T00:00:00Z"
        )])))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/deals/1.json"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"error": "no"})))
        .mount(&s)
        .await;
    let c = build(DEALS, &s);
    let e = c.complete("deals", listed(&c).await).await.unwrap_err();
    assert!(matches!(e, ConnectorError::Forbidden { .. }), "{e:?}");
}

#[test]
fn detail_needs_an_endpoint() {
    let t = DEALS.replace("get = { path = \"/deals/{id}.json\" }\n", "");
    let e = ConnectorDef::from_toml_str(&t, &[("base".to_string(), "http://x".to_string())].into())
        .unwrap_err();
    assert!(e.contains("detail"), "{e}");
}

/// Contacts with tags (ids on read and write) and assignees (objects on read, ids on write).
const CONTACTS: &str = r#"
name = "rails"
base_url = "${base}"
[entities.contacts]
list = { path = "/contacts.json" }
paging = { style = "page", page_param = "page", size_param = "per_page", size = 2 }
create = { method = "POST", path = "/contacts.json" }
update = { method = "PATCH", path = "/contacts/{id}.json" }
body_wrap = "contact"

[[entities.contacts.relations]]
entity = "tags"
name_field = "name"
read_ids = "tag_ids"
names = "tag_names"
write_ids = "tag_ids"
unknown = "create"

[[entities.contacts.relations]]
entity = "users"
name_field = "email"
read_names = "assigned_to[].email"
names = "assignee_emails"
write_ids = "assigned_to_ids"
unknown = "refuse"

[entities.tags]
list = { path = "/tags.json" }
create = { method = "POST", path = "/tags.json" }
body_wrap = "tag"

[entities.users]
list = { path = "/users.json" }
"#;

async fn mount_contacts(s: &MockServer) {
    Mock::given(method("GET"))
        .and(path("/contacts.json"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "name": "Ada", "tag_ids": [10, 11], "assigned_to": [{"id": 2, "email": "bob@firm.example"}]},
            {"id": 2, "name": "Bo", "tag_ids": [], "assigned_to": []}
        ])))
        .mount(s)
        .await;
    Mock::given(method("GET"))
        .and(path("/contacts.json"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 3, "name": "Cy", "tag_ids": [11, 99]}
        ])))
        .mount(s)
        .await;
    Mock::given(method("GET"))
        .and(path("/tags.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 10, "name": "VIP"}, {"id": 11, "name": "Press"}
        ])))
        .mount(s)
        .await;
    Mock::given(method("GET"))
        .and(path("/users.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 2, "email": "bob@firm.example"}, {"id": 3, "email": "cy@firm.example"}
        ])))
        .mount(s)
        .await;
}

async fn list_all(c: &RestConnector) -> Vec<Record> {
    let mut out = Vec::new();
    let mut page = None;
    loop {
        let p = c.list("contacts", None, page).await.unwrap();
        out.extend(p.records);
        match p.next {
            Some(n) => page = Some(n),
            None => return out,
        }
    }
}

#[tokio::test]
async fn relations_read_names_through_one_lookup_per_listing() {
    let s = MockServer::start().await;
    mount_contacts(&s).await;
    let c = build(CONTACTS, &s);
    let all = list_all(&c).await;
    assert_eq!(all[0].data["tag_names"], json!(["VIP", "Press"]));
    assert_eq!(all[0].data["assignee_emails"], json!(["bob@firm.example"]));
    assert_eq!(all[1].data["tag_names"], json!([]));
    // 99 is no tag the lookup knows: left out (and logged at debug), the rest shown.
    assert_eq!(all[2].data["tag_names"], json!(["Press"]));
    assert!(
        all[2].data.get("assignee_emails").is_none(),
        "a record without the field is left alone"
    );
    // Two pages of contacts, one tags listing; assignees come as objects: no users listing.
    assert_eq!(hits(&s, "GET", "/contacts.json").await, 2);
    assert_eq!(hits(&s, "GET", "/tags.json").await, 1);
    assert_eq!(hits(&s, "GET", "/users.json").await, 0);
    assert_eq!(c.calls(), 3);

    // The next listing reads the tags again (a renamed tag shows), once.
    list_all(&c).await;
    assert_eq!(hits(&s, "GET", "/tags.json").await, 2);
    assert_eq!(c.calls(), 6);
}

#[tokio::test]
async fn relations_write_ids_and_create_unknown_names() {
    let s = MockServer::start().await;
    mount_contacts(&s).await;
    Mock::given(method("POST"))
        .and(path("/tags.json"))
        .and(body_json(json!({"tag": {"name": "Newcomer"}})))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": 12, "name": "Newcomer"})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/contacts/1.json"))
        .and(body_json(json!({"contact": {"name": "Ada", "tag_ids": [10, 12], "assigned_to_ids": [3]}})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 1, "name": "Ada", "tag_ids": [10, 12], "assigned_to": [{"id": 3, "email": "cy@firm.example"}]
        })))
        .expect(1)
        .mount(&s)
        .await;
    let c = build(CONTACTS, &s);
    list_all(&c).await;
    let before = c.calls();
    let r = c
        .update(
            "contacts",
            "1",
            &json!({"name": "Ada", "tag_names": ["vip", "Newcomer"], "assignee_emails": ["Cy@firm.example"]}),
            None,
        )
        .await
        .unwrap();
    // The answer reads back with names, from the table that now holds the new tag.
    assert_eq!(r.data["tag_names"], json!(["VIP", "Newcomer"]));
    assert_eq!(r.data["assignee_emails"], json!(["cy@firm.example"]));
    // users listed once (not held yet); "Newcomer" not in the held tags table: listed again
    // once, then created; then the PATCH.
    assert_eq!(hits(&s, "GET", "/users.json").await, 1);
    assert_eq!(hits(&s, "GET", "/tags.json").await, 2);
    assert_eq!(c.calls() - before, 1 + 1 + 1 + 1);
}

#[tokio::test]
async fn unknown_names_are_refused_or_dropped_as_declared() {
    let s = MockServer::start().await;
    mount_contacts(&s).await;
    let c = build(CONTACTS, &s);
    let e = c
        .update(
            "contacts",
            "1",
            &json!({"name": "Ada", "assignee_emails": ["nobody@firm.example"]}),
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(
        e,
        ConnectorError::Invalid {
            message: "users has no record named \"nobody@firm.example\"".into()
        }
    );
    assert_eq!(
        hits(&s, "PATCH", "/contacts/1.json").await,
        0,
        "nothing written"
    );
    assert_eq!(c.calls(), 1, "the users listing only");

    // `drop`: the write goes through without the unknown name.
    let s = MockServer::start().await;
    mount_contacts(&s).await;
    Mock::given(method("POST"))
        .and(path("/contacts.json"))
        .and(body_json(
            json!({"contact": {"name": "Di", "tag_ids": [11]}}),
        ))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"id": 4, "name": "Di", "tag_ids": [11]})),
        )
        .expect(1)
        .mount(&s)
        .await;
    let c = build(
        &CONTACTS.replace("unknown = \"create\"", "unknown = \"drop\""),
        &s,
    );
    let r = c
        .create(
            "contacts",
            &json!({"name": "Di", "tag_names": ["press", "Nope"]}),
        )
        .await
        .unwrap();
    assert_eq!(r.data["tag_names"], json!(["Press"]));
    assert_eq!(hits(&s, "POST", "/tags.json").await, 0);
    assert_eq!(
        c.calls(),
        2,
        "one tags listing (not held before: not listed twice), one create"
    );
}

#[test]
fn relation_declarations_are_checked() {
    let vars: HashMap<String, String> = [("base".to_string(), "http://x".to_string())].into();
    let e = ConnectorDef::from_toml_str(
        &CONTACTS.replace("entity = \"tags\"", "entity = \"labels\""),
        &vars,
    )
    .unwrap_err();
    assert!(e.contains("unknown entity \"labels\""), "{e}");
    let e = ConnectorDef::from_toml_str(
        &CONTACTS.replace("names = \"tag_names\"", "names = \"tags[].name\""),
        &vars,
    )
    .unwrap_err();
    assert!(e.contains("plain key path"), "{e}");
}

/// An incremental listing keeps the lookup read by the last listing (an idle sync that
/// re-lists the newest record costs no lookup), and reads it again only when a record names an
/// id it does not know.
#[tokio::test]
async fn incremental_listings_reuse_the_lookup_until_an_unknown_id_appears() {
    let s = MockServer::start().await;
    let def = r#"
name = "rails"
base_url = "${base}"
[entities.contacts]
modified_field = "updated_at"
list = { path = "/contacts.json" }
modified_since = { style = "query", param = "updated_since", format = "rfc3339" }
[[entities.contacts.relations]]
entity = "tags"
name_field = "name"
read_ids = "tag_ids"
names = "tag_names"
[entities.tags]
list = { path = "/tags.json" }
"#;
    Mock::given(method("GET"))
        .and(path("/contacts.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "updated_at": "2030-01-01T00:00:00Z", "tag_ids": [10]}
        ])))
        .up_to_n_times(2)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/tags.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 10, "name": "VIP"}])))
        .up_to_n_times(1)
        .mount(&s)
        .await;
    let c = build(def, &s);
    let since = Some("2029-12-31T00:00:00Z".parse().unwrap());
    c.list("contacts", None, None).await.unwrap();
    let p = c.list("contacts", since, None).await.unwrap();
    assert_eq!(p.records[0].data["tag_names"], json!(["VIP"]));
    assert_eq!(
        hits(&s, "GET", "/tags.json").await,
        1,
        "the incremental listing reused it"
    );

    // A new tag appears on a changed record: the lookup is read again, once.
    Mock::given(method("GET"))
        .and(path("/contacts.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 1, "updated_at": "2030-01-02T00:00:00Z", "tag_ids": [10, 12]},
            {"id": 2, "updated_at": "2030-01-02T00:00:00Z", "tag_ids": [13]}
        ])))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/tags.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([
            {"id": 10, "name": "VIP"}, {"id": 12, "name": "New"}
        ])))
        .mount(&s)
        .await;
    let p = c.list("contacts", since, None).await.unwrap();
    assert_eq!(p.records[0].data["tag_names"], json!(["VIP", "New"]));
    assert_eq!(
        p.records[1].data["tag_names"],
        json!([]),
        "13 is no tag even now"
    );
    assert_eq!(hits(&s, "GET", "/tags.json").await, 2);
    assert_eq!(c.calls(), 3 + 2);
}
