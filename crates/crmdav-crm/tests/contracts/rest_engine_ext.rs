//! Engine options added for Pipedrive and Zoho, tested on their own (generic definitions,
//! wiremock): auth variants, OAuth2 scheme and client_auth, body_wrap paths, write_record_path +
//! refetch_after_write, cursor has_more_path, 204 lists, the deleted-records feed.

use crmdav_crm::connector::rest::def::ConnectorDef;
use crmdav_crm::connector::{Connector, ConnectorError, RestConnector};
use serde_json::json;
use std::collections::HashMap;
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn build(toml: &str, s: &MockServer, extra: &[(&str, &str)]) -> Result<RestConnector, String> {
    let mut vars: HashMap<String, String> = [("base".to_string(), s.uri())].into();
    for (k, v) in extra {
        vars.insert(k.to_string(), v.to_string());
    }
    let def = ConnectorDef::from_toml_str(toml, &vars)?;
    RestConnector::new(def, None).map_err(|e| e.to_string())
}

const VARIANTS: &str = r#"
name = "t"
base_url = "${base}/api"
auth_variant = "${auth:-key}"
[auth_variants.key]
type = "api_key"
name = "X-Key"
value = "${key}"
[auth_variants.oauth]
type = "oauth2_refresh_token"
token_url = "${base}/token"
client_id = "cid"
client_secret = "sec"
refresh_token = "${rt}"
scheme = "Custom-token"
client_auth = "request_body"
[entities.things]
list = { path = "/things" }
"#;

#[tokio::test]
async fn auth_variant_picks_the_tenants_method() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(header("x-key", "k1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1}])))
        .expect(1)
        .mount(&s)
        .await;
    let c = build(VARIANTS, &s, &[("key", "k1")]).unwrap();
    assert_eq!(c.list("things", None, None).await.unwrap().records.len(), 1);
    assert_eq!(c.calls(), 1);
    let e = build(VARIANTS, &s, &[("auth", "saml")]).unwrap_err();
    assert!(
        e.contains("auth_variant \"saml\" is not one of key, oauth"),
        "{e}"
    );
}

#[tokio::test]
async fn oauth_scheme_and_request_body_client_auth() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(body_string_contains("client_id=cid"))
        .and(body_string_contains("client_secret=sec"))
        .and(|r: &Request| !r.headers.contains_key("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "AT", "token_type": "Bearer", "expires_in": 3600}),
        ))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(header("authorization", "Custom-token AT"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1}])))
        .expect(1)
        .mount(&s)
        .await;
    let c = build(VARIANTS, &s, &[("auth", "oauth"), ("rt", "R")]).unwrap();
    c.list("things", None, None).await.unwrap();
    assert_eq!(c.calls(), 2);
}

const WRITES: &str = r#"
name = "t"
base_url = "${base}/api"
[entities.things]
records_path = "data"
record_path = "data[0]"
write_record_path = "data[0].details"
refetch_after_write = true
body_wrap = "data[0]"
list = { path = "/things" }
get = { path = "/things/{id}" }
create = { method = "POST", path = "/things" }
update = { method = "PUT", path = "/things/{id}" }
[entities.plain]
body_wrap = "properties"
list = { path = "/plain" }
create = { method = "POST", path = "/plain" }
"#;

#[tokio::test]
async fn body_wrap_path_write_record_path_and_refetch() {
    let s = MockServer::start().await;
    Mock::given(method("PUT"))
        .and(path("/api/things/7"))
        .and(body_json(json!({"data": [{"name": "x"}]})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": [{"status": "success", "details": {"id": "7"}}]})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things/7"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"data": [{"id": "7", "name": "x", "extra": true}]})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/plain"))
        .and(body_json(json!({"properties": {"name": "y"}})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 3, "name": "y"})))
        .expect(1)
        .mount(&s)
        .await;
    let c = build(WRITES, &s, &[]).unwrap();
    let r = c
        .update("things", "7", &json!({"name": "x"}), None)
        .await
        .unwrap();
    assert_eq!(r.data["extra"], true);
    let p = c.create("plain", &json!({"name": "y"})).await.unwrap();
    assert_eq!(p.id, "3");
    assert_eq!(c.calls(), 3);
}

const FEED: &str = r#"
name = "t"
base_url = "${base}/api"
[entities.things]
records_path = "items"
list = { path = "/things" }
paging = { style = "cursor", cursor_param = "tok", cursor_path = "next", has_more_path = "more" }
modified_since = { style = "query", param = "since", format = "rfc3339" }
deleted = { list = { path = "/things/deleted" }, deleted_field = "when", since = { style = "query", param = "since", format = "rfc3339" } }
"#;

#[tokio::test]
async fn cursor_has_more_204_and_deleted_feed() {
    let s = MockServer::start().await;
    // A cursor is present but "more" says false: the listing ends.
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"items": [{"id": 1}], "next": "stale-token", "more": false})),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&s)
        .await;
    // The feed inherits records_path and paging; its own `since` filter.
    Mock::given(method("GET"))
        .and(path("/api/things/deleted"))
        .and(query_param("since", "2026-01-01T00:00:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "items": [{"id": 9, "when": "2026-01-02T03:04:05Z"}], "next": null, "more": false
        })))
        .expect(1)
        .mount(&s)
        .await;
    let c = build(FEED, &s, &[]).unwrap();
    assert!(c.capabilities("things").deletion_feed);
    let p = c.list("things", None, None).await.unwrap();
    assert_eq!((p.records.len(), p.next), (1, None));
    let empty = c.list("things", None, None).await.unwrap();
    assert!(empty.records.is_empty() && empty.next.is_none());
    let gone = c
        .list_deleted(
            "things",
            Some("2026-01-01T00:00:00Z".parse().unwrap()),
            None,
        )
        .await
        .unwrap();
    assert_eq!(gone.records[0].id, "9");
    assert_eq!(
        gone.records[0].modified.unwrap().to_rfc3339(),
        "2026-01-02T03:04:05+00:00"
    );
    assert_eq!(c.calls(), 3);
    let plain = build(WRITES, &s, &[]).unwrap();
    assert!(matches!(
        plain.list_deleted("things", None, None).await,
        Err(ConnectorError::NotSupported { .. })
    ));
}

const READ_BACK: &str = r#"
name = "t"
base_url = "${base}/api"
[entities.things]
id_field = "Id"
records_path = "items"
record_path = "items[0]"
write_record_path = ""
created_id_path = "id"
refetch_after_write = true
list = { path = "/things" }
create = { method = "POST", path = "/things" }
update = { method = "PATCH", path = "/things/{id}" }
"#;

/// One refetch option for both former designs: the new id comes from `created_id_path` inside
/// `write_record_path` (Salesforce-style `{"id": …, "success": true}`), an update answered 204
/// is read back too, and without a `get` endpoint the read-back scans the list.
#[tokio::test]
async fn refetch_after_write_with_created_id_path_and_no_get_endpoint() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/things"))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": "a1", "success": true})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/api/things/a1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"items": [{"Id": "z9", "name": "other"}, {"Id": "a1", "name": "new"}]}),
        ))
        .expect(2)
        .mount(&s)
        .await;
    let c = build(READ_BACK, &s, &[]).unwrap();
    let r = c.create("things", &json!({"name": "new"})).await.unwrap();
    assert_eq!((r.id.as_str(), &r.data["name"]), ("a1", &json!("new")));
    let u = c
        .update("things", "a1", &json!({"name": "new"}), None)
        .await
        .unwrap();
    assert_eq!(u.data["Id"], "a1");
    assert_eq!(c.calls(), 4);
}

/// The old spellings of the merged options are refused rather than ignored.
#[test]
fn old_option_spellings_are_refused() {
    let vars: HashMap<String, String> =
        [("base".to_string(), "https://x.example".to_string())].into();
    let base = "name = \"t\"\nbase_url = \"${base}\"\n";
    for bad in [
        "auth_choice = \"a\"\n[entities.t]\nlist = { path = \"/t\" }\n",
        "[entities.t]\nlist = { path = \"/t\" }\nrefetch = true\n",
        "[entities.t]\nlist = { path = \"/t\" }\ndeleted = { path = \"/t/deleted\" }\n",
        "[entities.t]\nlist = { path = \"/t\" }\ndeleted = { list = { path = \"/d\" }, modified_field = \"x\" }\n",
        "[auth]\ntype = \"oauth2_client_credentials\"\ntoken_url = \"https://x.example/t\"\nclient_id = \"c\"\nclient_secret = \"s\"\nclient_auth = \"body\"\n[entities.t]\nlist = { path = \"/t\" }\n",
    ] {
        let e = ConnectorDef::from_toml_str(&format!("{base}{bad}"), &vars);
        assert!(e.is_err(), "accepted: {bad}");
    }
}
