//! Issue 10 on the shipped definitions: each CRM's user list (`[users]`, for linking people
//! by e-mail) and a per-person filter sent in the list request, against wiremock answers
//! shaped as the vendors document them:
//!   HubSpot owners:  https://developers.hubspot.com/docs/api/crm/owners (GET /crm/v3/owners)
//!   Zoho users:      https://www.zoho.com/crm/developer/docs/api/v7/get-users.html
//!   Pipedrive v2:    https://developers.pipedrive.com/docs/api/v1/Activities (v2 `owner_id`
//!                    filter on GET /api/v2/activities)

use crmdav_crm::connector::{
    Connector, CrmUser, ListQuery, MemoryTokenStore, RestConnector, StoredToken, TokenStore,
};
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn def(name: &str) -> String {
    format!(
        "{}/connectors/{name}.toml",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
    )
}

fn opts(pairs: &[(&str, String)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[tokio::test]
async fn hubspot_owners_are_listed_with_paging_and_teams() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/owners"))
        .and(query_param("archived", "false"))
        .and(query_param("after", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [{"id": "73", "email": "bo@firm.example", "firstName": "Bo", "lastName": "Lund",
                "userId": 9, "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
                "archived": false, "teams": []}]
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/owners"))
        .and(query_param("archived", "false"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "results": [{"id": "41629779", "email": "Alice@Firm.example", "firstName": "Alice", "lastName": "Ng",
                "userId": 8, "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
                "archived": false, "teams": [{"id": "3661", "name": "Sales", "primary": true}]}],
            "paging": {"next": {"after": "2", "link": "https://api.hubapi.com/crm/v3/owners?after=2"}}
        })))
        .mount(&server)
        .await;
    let c = RestConnector::from_file(
        def("hubspot"),
        &opts(&[
            ("base_url", server.uri()),
            ("access_token", "pat-na1-x".into()),
            ("timezone", "Europe/Berlin".into()),
        ]),
        None,
    )
    .unwrap();
    assert!(c.has_users_listing());
    let users = c.list_users().await.unwrap();
    assert_eq!(
        users,
        [
            CrmUser {
                id: "41629779".into(),
                email: Some("Alice@Firm.example".into()),
                name: Some("Ng".into()),
                active: true,
                team_id: Some("3661".into()),
            },
            CrmUser {
                id: "73".into(),
                email: Some("bo@firm.example".into()),
                name: Some("Lund".into()),
                active: true,
                team_id: None,
            }
        ]
    );
    assert_eq!(c.calls(), 2);
}

#[tokio::test]
async fn zoho_active_users_are_listed() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v7/users"))
        .and(query_param("type", "ActiveUsers"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "users": [
                {"id": "4150868000000225013", "email": "pat@firm.example", "full_name": "Pat Roe",
                 "status": "active", "role": {"name": "CEO", "id": "4150868000000026005"}},
                {"id": "4150868000000225014", "email": "old@firm.example", "full_name": "Old Timer",
                 "status": "disabled"}
            ],
            "info": {"per_page": 200, "count": 2, "page": 1, "more_records": false}
        })))
        .mount(&server)
        .await;
    let store = Arc::new(MemoryTokenStore::with(StoredToken {
        access_token: Some("1000.access".into()),
        refresh_token: Some("1000.refresh.token".into()),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::minutes(50)),
        ..Default::default()
    }));
    let c = RestConnector::from_file(
        def("zoho"),
        &opts(&[
            ("api_domain", server.uri()),
            ("accounts_url", format!("{}/accounts", server.uri())),
            ("client_id", "1000.CLIENTID".into()),
            ("client_secret", "s3cr3t".into()),
            ("refresh_token", "1000.refresh.token".into()),
            ("timezone", "Europe/Berlin".into()),
        ]),
        Some(store as Arc<dyn TokenStore>),
    )
    .unwrap();
    let users = c.list_users().await.unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].id, "4150868000000225013");
    assert_eq!(users[0].email.as_deref(), Some("pat@firm.example"));
    assert!(users[0].active);
    assert!(!users[1].active, "status other than active");
}

#[tokio::test]
async fn pipedrive_mine_sends_owner_id_in_the_list_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/activities"))
        .and(query_param("owner_id", "123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "success": true,
            "data": [{"id": 7, "subject": "Call", "type": "call", "owner_id": 123,
                      "update_time": "2026-11-01T10:00:00Z", "add_time": "2026-11-01T10:00:00Z"}],
            "additional_data": {"next_cursor": null}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let c = RestConnector::from_file(
        def("pipedrive"),
        &opts(&[
            ("api_domain", server.uri()),
            ("api_token", "pd-token-123".into()),
            ("timezone", "Europe/Berlin".into()),
        ]),
        None,
    )
    .unwrap();
    assert!(!c.has_users_listing(), "v1 only: linked by crm_id");
    let q: ListQuery = [("owner_id".to_string(), "123".to_string())].into();
    let page = c.list_query("activities", None, None, &q).await.unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].data["owner_id"], 123);
    let def = c.definition();
    let mine = &def.entities["activities"].scopes["mine"];
    assert_eq!(mine.filter_params["owner_id"], "{user.crm_id}");
}
