//! The declarative REST engine against wiremock: paging styles, auth styles, OAuth2 flows,
//! retries and error mapping, with exact HTTP call counts.

use crmdav_crm::connector::rest::def::ConnectorDef;
use crmdav_crm::connector::{
    Connector, ConnectorError, DeleteStyle, MemoryTokenStore, RestConnector, StoredToken,
    TokenStore,
};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

fn connector_with(
    toml: &str,
    server: &MockServer,
    store: Option<Arc<dyn TokenStore>>,
) -> RestConnector {
    let vars: HashMap<String, String> =
        [("base".to_string(), format!("{}/api", server.uri()))].into();
    let def = ConnectorDef::from_toml_str(toml, &vars).unwrap_or_else(|e| panic!("{e}"));
    RestConnector::new(def, store).unwrap()
}

fn entity_toml(auth: &str, entity: &str) -> String {
    format!(
        "name = \"test\"\nbase_url = \"${{base}}\"\nretry_backoff_ms = 1\nmax_retry_after_secs = 2\n{auth}\n[entities.things]\n{entity}\n"
    )
}

fn items(range: std::ops::Range<u32>) -> Vec<Value> {
    range
        .map(|i| json!({"id": i, "name": format!("n{i}")}))
        .collect()
}

async fn list_all(c: &RestConnector) -> Result<Vec<String>, ConnectorError> {
    let mut ids = Vec::new();
    let mut page = None;
    loop {
        let p = c.list("things", None, page).await?;
        ids.extend(p.records.into_iter().map(|r| r.id));
        match p.next {
            Some(n) => page = Some(n),
            None => return Ok(ids),
        }
    }
}

fn ids(range: std::ops::Range<u32>) -> Vec<String> {
    range.map(|i| i.to_string()).collect()
}

#[tokio::test]
async fn offset_paging_three_pages() {
    let s = MockServer::start().await;
    for (off, r) in [("0", 0..2), ("2", 2..4), ("4", 4..5)] {
        Mock::given(method("GET"))
            .and(path("/api/things"))
            .and(query_param("offset", off))
            .and(query_param("limit", "2"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"total": 5, "data": {"items": items(r)}})),
            )
            .expect(1)
            .mount(&s)
            .await;
    }
    let c = connector_with(
        &entity_toml(
            "",
            "records_path = \"data.items\"\nlist = { path = \"/things\" }\npaging = { style = \"offset\", limit = 2, total_path = \"total\" }",
        ),
        &s,
        None,
    );
    assert_eq!(list_all(&c).await.unwrap(), ids(0..5));
    assert_eq!(c.calls(), 3);
}

#[tokio::test]
async fn offset_paging_without_total_stops_on_short_page() {
    let s = MockServer::start().await;
    for (off, r) in [("0", 0..3), ("3", 3..6), ("6", 6..7)] {
        Mock::given(method("GET"))
            .and(path("/api/things"))
            .and(query_param("offset", off))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": items(r)})))
            .expect(1)
            .mount(&s)
            .await;
    }
    let c = connector_with(
        &entity_toml("", "records_path = \"results\"\nlist = { path = \"/things\" }\npaging = { style = \"offset\", limit = 3 }"),
        &s,
        None,
    );
    assert_eq!(list_all(&c).await.unwrap(), ids(0..7));
    assert_eq!(c.calls(), 3);
}

#[tokio::test]
async fn page_number_paging() {
    let s = MockServer::start().await;
    for (n, r, more) in [("1", 0..2, true), ("2", 2..4, true), ("3", 4..6, false)] {
        Mock::given(method("GET"))
            .and(path("/api/things"))
            .and(query_param("page", n))
            .and(query_param("per_page", "2"))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(json!({"results": items(r), "more": more})),
            )
            .expect(1)
            .mount(&s)
            .await;
    }
    let c = connector_with(
        &entity_toml(
            "",
            "records_path = \"results\"\nlist = { path = \"/things\" }\npaging = { style = \"page\", size_param = \"per_page\", size = 2, has_more_path = \"more\" }",
        ),
        &s,
        None,
    );
    assert_eq!(list_all(&c).await.unwrap(), ids(0..6));
    assert_eq!(c.calls(), 3);
}

#[tokio::test]
async fn cursor_paging() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(query_param("limit", "2"))
        .and(|r: &Request| !r.url.query().unwrap_or("").contains("after="))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"results": items(0..2), "paging": {"next": {"after": "c1"}}}),
            ),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(query_param("after", "c1"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"results": items(2..4), "paging": {"next": {"after": "c2"}}}),
            ),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(query_param("after", "c2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": items(4..5)})))
        .expect(1)
        .mount(&s)
        .await;
    let c = connector_with(
        &entity_toml(
            "",
            "records_path = \"results\"\nlist = { path = \"/things\" }\npaging = { style = \"cursor\", cursor_param = \"after\", cursor_path = \"paging.next.after\", limit_param = \"limit\", limit = 2 }",
        ),
        &s,
        None,
    );
    assert_eq!(list_all(&c).await.unwrap(), ids(0..5));
    assert_eq!(c.calls(), 3);
}

#[tokio::test]
async fn next_link_paging_from_json_and_link_header() {
    let s = MockServer::start().await;
    let base = s.uri();
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(|r: &Request| r.url.query().is_none_or(|q| !q.contains("skip")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"value": items(0..2), "@odata.nextLink": format!("{base}/api/things?skip=2")}),
        ))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(query_param("skip", "2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"value": items(2..4), "@odata.nextLink": "/api/things?skip=4"}),
            ),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(query_param("skip", "4"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"value": items(4..6)})))
        .expect(1)
        .mount(&s)
        .await;
    let c = connector_with(
        &entity_toml(
            "",
            "records_path = \"value\"\nlist = { path = \"/things\" }\npaging = { style = \"next_link\", next_path = '[\"@odata.nextLink\"]' }",
        ),
        &s,
        None,
    );
    assert_eq!(list_all(&c).await.unwrap(), ids(0..6));
    assert_eq!(c.calls(), 3);

    // Link header flavour, bare arrays.
    let s2 = MockServer::start().await;
    let b2 = s2.uri();
    for (p, r, next) in [
        ("1", 0..2, Some("2")),
        ("2", 2..4, Some("3")),
        ("3", 4..5, None),
    ] {
        let mut resp = ResponseTemplate::new(200).set_body_json(Value::Array(items(r)));
        if let Some(n) = next {
            resp = resp.insert_header("Link", format!("<{b2}/api/things?page={n}>; rel=\"next\", <{b2}/api/things?page=3>; rel=\"last\"").as_str());
        }
        let m = Mock::given(method("GET")).and(path("/api/things"));
        let m = if p == "1" {
            m.and(|r: &Request| r.url.query().is_none())
        } else {
            m.and(query_param("page", p))
        };
        m.respond_with(resp).expect(1).mount(&s2).await;
    }
    let c2 = connector_with(
        &entity_toml(
            "",
            "list = { path = \"/things\" }\npaging = { style = \"next_link\" }",
        ),
        &s2,
        None,
    );
    assert_eq!(list_all(&c2).await.unwrap(), ids(0..5));
    assert_eq!(c2.calls(), 3);
}

#[tokio::test]
async fn next_link_to_another_host_is_refused() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"value": items(0..1), "next": "http://169.254.169.254/latest/meta-data"}),
        ))
        .mount(&s)
        .await;
    let c = connector_with(
        &entity_toml("", "records_path = \"value\"\nlist = { path = \"/things\" }\npaging = { style = \"next_link\", next_path = \"next\" }"),
        &s,
        None,
    );
    let err = c.list("things", None, None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Protocol { .. }), "{err:?}");
    // A forged page token is refused before any request.
    let err = c
        .list("things", None, Some("http://127.0.0.2:1/x".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, ConnectorError::Protocol { .. }), "{err:?}");
    assert_eq!(c.calls(), 1);
}

#[tokio::test]
async fn auth_bearer_api_key_basic() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(header("Authorization", "Bearer tok-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(header("X-Api-Key", "Token k-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(query_param("api_token", "k-3"))
        .and(query_param("keep", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&s)
        .await;
    // user:pa:ss
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(header("Authorization", "Basic dXNlcjpwYTpzcw=="))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .expect(1)
        .mount(&s)
        .await;
    let e = "list = { path = \"/things\", query = { keep = \"1\" } }";
    for auth in [
        "[auth]\ntype = \"bearer\"\ntoken = \"tok-1\"",
        "[auth]\ntype = \"api_key\"\nname = \"X-Api-Key\"\nprefix = \"Token \"\nvalue = \"k-2\"",
        "[auth]\ntype = \"api_key\"\nname = \"api_token\"\nvalue = \"k-3\"\nlocation = \"query\"",
        "[auth]\ntype = \"basic\"\nusername = \"user\"\npassword = \"pa:ss\"",
    ] {
        let c = connector_with(&entity_toml(auth, e), &s, None);
        c.list("things", None, None)
            .await
            .unwrap_or_else(|err| panic!("{auth}: {err}"));
        assert_eq!(c.calls(), 1);
        // Secrets stay out of Debug output.
        let dbg = format!("{c:?}");
        assert!(
            !dbg.contains("tok-1") && !dbg.contains("k-2") && !dbg.contains("pa:ss"),
            "{dbg}"
        );
    }
}

#[tokio::test]
async fn oauth2_client_credentials_cached_until_expiry() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string_contains("grant_type=client_credentials"))
        .and(body_string_contains("scope=crm.read"))
        // Client id and secret as HTTP Basic (RFC 6749 §2.3.1): id:secret
        .and(header("Authorization", "Basic aWQ6c2VjcmV0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": "AT-1", "token_type": "bearer", "expires_in": 3600}),
        ))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(header("Authorization", "Bearer AT-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1}])))
        .expect(3)
        .mount(&s)
        .await;
    let auth = format!(
        "[auth]\ntype = \"oauth2_client_credentials\"\ntoken_url = \"{}/oauth/token\"\nclient_id = \"id\"\nclient_secret = \"secret\"\nscopes = [\"crm.read\"]",
        s.uri()
    );
    let c = connector_with(
        &entity_toml(&auth, "list = { path = \"/things\" }"),
        &s,
        None,
    );
    // Concurrent first calls share one token request.
    let (a, b) = tokio::join!(c.list("things", None, None), c.list("things", None, None));
    a.unwrap();
    b.unwrap();
    c.list("things", None, None).await.unwrap();
    assert_eq!(c.calls(), 4, "1 token + 3 API calls");
}

/// Token endpoint answering with rotating tokens: AT-n / RT-n.
struct Rotating(std::sync::atomic::AtomicU32, u64);
impl Respond for Rotating {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        let body = String::from_utf8_lossy(&req.body).to_string();
        let expected = format!("refresh_token=RT-{}", n - 1);
        if !body.contains("grant_type=refresh_token") || !body.contains(&expected) {
            return ResponseTemplate::new(400).set_body_json(json!({"error": "invalid_grant", "error_description": format!("wanted {expected}, got {body}")}));
        }
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": format!("AT-{n}"), "token_type": "Bearer", "expires_in": self.1, "refresh_token": format!("RT-{n}")
        }))
    }
}

#[tokio::test]
async fn oauth2_refresh_token_rotation_expiry_and_401_retry() {
    let s = MockServer::start().await;
    // expires_in 30 s is inside the 60 s margin: every call refreshes first.
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(Rotating(Default::default(), 30))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(header("Authorization", "Bearer AT-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 1}])))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(header("Authorization", "Bearer AT-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 2}])))
        .expect(1)
        .mount(&s)
        .await;
    let store = Arc::new(MemoryTokenStore::with(StoredToken {
        access_token: None,
        refresh_token: Some("RT-0".into()),
        expires_at: None,
        ..Default::default()
    }));
    let auth = format!(
        "[auth]\ntype = \"oauth2_refresh_token\"\ntoken_url = \"{}/oauth/token\"\nclient_id = \"id\"\nclient_secret = \"secret\"\nrefresh_token = \"RT-stale-from-config\"",
        s.uri()
    );
    let c = connector_with(
        &entity_toml(&auth, "list = { path = \"/things\" }"),
        &s,
        Some(store.clone()),
    );
    assert_eq!(
        c.list("things", None, None).await.unwrap().records[0].id,
        "1"
    );
    assert_eq!(
        store.current().unwrap().refresh_token.as_deref(),
        Some("RT-1")
    );
    // Expiring token → refresh before the call, rotated refresh token persisted.
    assert_eq!(
        c.list("things", None, None).await.unwrap().records[0].id,
        "2"
    );
    assert_eq!(
        store.current().unwrap().refresh_token.as_deref(),
        Some("RT-2")
    );
    assert_eq!(store.saves(), 2);
    assert_eq!(c.calls(), 4);

    // 401 → one refresh + one retry.
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(Rotating(Default::default(), 3600))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(header("Authorization", "Bearer AT-1"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "token revoked"})))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(header("Authorization", "Bearer AT-2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([{"id": 9}])))
        .expect(1)
        .mount(&s)
        .await;
    let auth = format!(
        "[auth]\ntype = \"oauth2_refresh_token\"\ntoken_url = \"{}/oauth/token\"\nclient_id = \"id\"\nrefresh_token = \"RT-0\"",
        s.uri()
    );
    let store = Arc::new(MemoryTokenStore::default());
    let c = connector_with(
        &entity_toml(&auth, "list = { path = \"/things\" }"),
        &s,
        Some(store.clone()),
    );
    assert_eq!(
        c.list("things", None, None).await.unwrap().records[0].id,
        "9"
    );
    assert_eq!(c.calls(), 4, "token, 401, token, retry");
    assert_eq!(
        store.current().unwrap().refresh_token.as_deref(),
        Some("RT-2")
    );

    // Still 401 after the refresh → Auth, no loop.
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .respond_with(Rotating(Default::default(), 3600))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"message": "no access"})))
        .mount(&s)
        .await;
    let auth = format!(
        "[auth]\ntype = \"oauth2_refresh_token\"\ntoken_url = \"{}/oauth/token\"\nclient_id = \"id\"\nrefresh_token = \"RT-0\"",
        s.uri()
    );
    let c = connector_with(
        &entity_toml(&auth, "list = { path = \"/things\" }"),
        &s,
        None,
    );
    let err = c.list("things", None, None).await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Auth {
            message: "no access".into()
        }
    );
    assert_eq!(c.calls(), 4);

    // A refused refresh token → Auth with the provider's words.
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400)
                .set_body_json(json!({"error": "invalid_grant", "error_description": "expired"})),
        )
        .mount(&s)
        .await;
    let auth = format!(
        "[auth]\ntype = \"oauth2_refresh_token\"\ntoken_url = \"{}/oauth/token\"\nclient_id = \"id\"\nrefresh_token = \"RT-0\"",
        s.uri()
    );
    let c = connector_with(
        &entity_toml(&auth, "list = { path = \"/things\" }"),
        &s,
        None,
    );
    match c.list("things", None, None).await.unwrap_err() {
        ConnectorError::Auth { message } => assert!(
            message.contains("invalid_grant") && message.contains("expired"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
}

/// Answers `first` for the first `n` calls, then `then`.
struct Seq(
    std::sync::atomic::AtomicU32,
    u32,
    ResponseTemplate,
    ResponseTemplate,
);
impl Respond for Seq {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < self.1 {
            self.2.clone()
        } else {
            self.3.clone()
        }
    }
}

#[tokio::test]
async fn rate_limit_retry_after_honoured_then_success() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/things"))
        .respond_with(Seq(
            Default::default(),
            1,
            ResponseTemplate::new(429).insert_header("Retry-After", "1"),
            ResponseTemplate::new(201).set_body_json(json!({"id": 5, "name": "x"})),
        ))
        .expect(2)
        .mount(&s)
        .await;
    let c = connector_with(
        &entity_toml(
            "",
            "list = { path = \"/things\" }\ncreate = { method = \"POST\", path = \"/things\" }",
        ),
        &s,
        None,
    );
    let t0 = Instant::now();
    let r = c.create("things", &json!({"name": "x"})).await.unwrap();
    assert_eq!(r.id, "5");
    assert!(
        t0.elapsed() >= Duration::from_millis(950),
        "waited {:?}",
        t0.elapsed()
    );
    assert_eq!(c.calls(), 2);

    // Retry-After longer than the bound → RateLimited at once, with the hint.
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .expect(1)
        .mount(&s)
        .await;
    let c = connector_with(&entity_toml("", "list = { path = \"/things\" }"), &s, None);
    assert_eq!(
        c.list("things", None, None).await.unwrap_err(),
        ConnectorError::RateLimited {
            retry_after: Some(Duration::from_secs(120))
        }
    );
    assert_eq!(c.calls(), 1);
}

#[tokio::test]
async fn server_error_halfway_through_paging_is_unavailable_after_retries() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(query_param("offset", "0"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"items": items(0..2)})))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(query_param("offset", "2"))
        .respond_with(ResponseTemplate::new(503).set_body_json(json!({"message": "maintenance"})))
        .expect(4)
        .mount(&s)
        .await;
    let c = connector_with(
        &entity_toml("", "records_path = \"items\"\nlist = { path = \"/things\" }\npaging = { style = \"offset\", limit = 2 }"),
        &s,
        None,
    );
    match list_all(&c).await.unwrap_err() {
        ConnectorError::Unavailable { message, .. } => assert!(
            message.contains("503") && message.contains("maintenance"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.calls(), 5, "1 page + 1 try + 3 retries");

    // A 500 then success on a read: retried transparently.
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(Seq(
            Default::default(),
            1,
            ResponseTemplate::new(500),
            ResponseTemplate::new(200).set_body_json(json!([{"id": 1}])),
        ))
        .mount(&s)
        .await;
    let c = connector_with(&entity_toml("", "list = { path = \"/things\" }"), &s, None);
    assert_eq!(c.list("things", None, None).await.unwrap().records.len(), 1);
    assert_eq!(c.calls(), 2);

    // Writes are not repeated after a 5xx.
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .expect(1)
        .mount(&s)
        .await;
    let c = connector_with(
        &entity_toml(
            "",
            "list = { path = \"/things\" }\ncreate = { method = \"POST\", path = \"/things\" }",
        ),
        &s,
        None,
    );
    assert!(matches!(
        c.create("things", &json!({})).await,
        Err(ConnectorError::Unavailable { .. })
    ));
    assert_eq!(c.calls(), 1);
}

#[tokio::test]
async fn timeouts_and_connection_errors_are_unavailable() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_secs(3)),
        )
        .mount(&s)
        .await;
    let toml = "name = \"t\"\nbase_url = \"${base}\"\ntimeout_secs = 1\nmax_retries = 1\nretry_backoff_ms = 1\n[entities.things]\nlist = { path = \"/things\" }\n";
    let c = connector_with(toml, &s, None);
    assert!(matches!(
        c.list("things", None, None).await,
        Err(ConnectorError::Unavailable { .. })
    ));
    assert_eq!(c.calls(), 2);
}

#[tokio::test]
async fn malformed_json_is_protocol() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .respond_with(ResponseTemplate::new(200).set_body_raw("[{\"id\": 1,", "application/json"))
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/other"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"items": [{"name": "no id"}]})),
        )
        .mount(&s)
        .await;
    let c = connector_with(&entity_toml("", "list = { path = \"/things\" }"), &s, None);
    assert!(matches!(
        c.list("things", None, None).await,
        Err(ConnectorError::Protocol { .. })
    ));
    let c = connector_with(
        &entity_toml("", "records_path = \"items\"\nlist = { path = \"/other\" }"),
        &s,
        None,
    );
    match c.list("things", None, None).await.unwrap_err() {
        ConnectorError::Protocol { message } => assert!(message.contains("id"), "{message}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn error_statuses_map_with_the_crm_message() {
    let s = MockServer::start().await;
    for (id, status, body) in [
        (
            "a",
            422,
            json!({"error": {"message": "end must be after start"}}),
        ),
        (
            "b",
            400,
            json!({"detail": [{"loc": ["body", "email"], "msg": "not a valid email"}]}),
        ),
        (
            "c",
            409,
            json!({"message": "that time overlaps another booked appointment", "existing_id": 22}),
        ),
        ("d", 403, json!({"message": "your role is read-only"})),
        ("e", 404, json!({"message": "thing e not found"})),
        ("f", 412, json!({"message": "etag mismatch"})),
    ] {
        Mock::given(method("PATCH"))
            .and(path(format!("/api/things/{id}")))
            .respond_with(ResponseTemplate::new(status).set_body_json(body))
            .mount(&s)
            .await;
    }
    let c = connector_with(
        &entity_toml("", "list = { path = \"/things\" }\nupdate = { method = \"PATCH\", path = \"/things/{id}\" }\nversion_header = \"If-Match\""),
        &s,
        None,
    );
    let patch = json!({"x": 1});
    let up = |id: &'static str| c.update("things", id, &patch, Some("\"v1\""));
    assert_eq!(
        up("a").await.unwrap_err(),
        ConnectorError::Invalid {
            message: "end must be after start".into()
        }
    );
    assert_eq!(
        up("b").await.unwrap_err(),
        ConnectorError::Invalid {
            message: "not a valid email".into()
        }
    );
    assert_eq!(
        up("c").await.unwrap_err(),
        ConnectorError::Conflict {
            message: "that time overlaps another booked appointment".into()
        }
    );
    assert_eq!(
        up("d").await.unwrap_err(),
        ConnectorError::Forbidden {
            message: "your role is read-only".into()
        }
    );
    assert_eq!(
        up("e").await.unwrap_err(),
        ConnectorError::NotFound {
            message: "thing e not found".into()
        }
    );
    assert_eq!(
        up("f").await.unwrap_err(),
        ConnectorError::VersionMismatch {
            message: "etag mismatch".into()
        }
    );
    assert_eq!(c.calls(), 6, "4xx are never retried");
    let reqs = s.received_requests().await.unwrap_or_default();
    assert!(reqs
        .iter()
        .all(|r| r.headers.get("if-match").is_some_and(|v| v == "\"v1\"")));
}

#[tokio::test]
async fn crud_delete_styles_and_modified_since() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/things/7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {"id": 7, "updated": "2026-11-26T08:34:41.375257+01:00", "etag": "W/\"3\""}})))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things/8"))
        .respond_with(ResponseTemplate::new(404).set_body_json(json!({"message": "gone"})))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/things"))
        .and(body_json(json!({"properties": {"name": "new"}})))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"data": {"id": "abc", "name": "new"}})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/api/things/a%2Fb"))
        .and(body_json(json!({"status": "cancelled"})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .and(query_param("modified_after", "2026-11-26T07:00:00Z"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": 1}]})))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/things/search"))
        .and(body_json(
            json!({"filter": {"gt": "1795676400000"}, "limit": 50}),
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": [{"id": 2}]})))
        .expect(1)
        .mount(&s)
        .await;
    let entity = r#"
records_path = "data"
record_path = "data"
modified_field = "updated"
version_field = "etag"
body_wrap = "properties"
list = { path = "/things" }
get = { path = "/things/{id}" }
create = { method = "POST", path = "/things" }
delete = { style = "status_change", method = "PATCH", path = "/things/{id}", body = { status = "cancelled" } }
modified_since = { style = "query", param = "modified_after", format = "rfc3339" }
"#;
    let c = connector_with(&entity_toml("", entity), &s, None);
    let caps = c.capabilities("things");
    assert!(caps.modified_since && caps.get && !caps.deletion_feed);
    assert_eq!(caps.delete, DeleteStyle::StatusChange);
    let r = c.get("things", "7").await.unwrap().unwrap();
    assert_eq!(r.version.as_deref(), Some("W/\"3\""));
    assert_eq!(
        r.modified.unwrap().to_rfc3339(),
        "2026-11-26T07:34:41.375257+00:00"
    );
    assert_eq!(c.get("things", "8").await.unwrap(), None);
    assert_eq!(
        c.create("things", &json!({"name": "new"}))
            .await
            .unwrap()
            .id,
        "abc"
    );
    c.delete("things", "a/b").await.unwrap();
    let since = chrono::DateTime::parse_from_rfc3339("2026-11-26T08:00:00+01:00")
        .unwrap()
        .to_utc();
    assert_eq!(
        c.list("things", Some(since), None).await.unwrap().records[0].id,
        "1"
    );
    assert_eq!(
        c.update("things", "1", &json!({}), None).await.unwrap_err(),
        ConnectorError::NotSupported {
            message: "things cannot be changed in this CRM".into()
        }
    );
    assert!(matches!(
        c.list("nope", None, None).await,
        Err(ConnectorError::NotSupported { .. })
    ));

    let body_style = r#"
records_path = "data"
list = { path = "/things" }
paging = { style = "offset", limit = 50 }
modified_since = { style = "body", method = "POST", path = "/things/search", format = "unix_ms", body = { filter = { gt = "{since}" }, limit = "{limit}" } }
"#;
    let c2 = connector_with(&entity_toml("", body_style), &s, None);
    let p = c2.list("things", Some(since), None).await.unwrap();
    assert_eq!(p.records[0].id, "2");
    let reqs = s.received_requests().await.unwrap_or_default();
    let search = reqs
        .iter()
        .find(|r| r.url.path() == "/api/things/search")
        .unwrap();
    assert_eq!(
        search.url.query(),
        Some("offset=0"),
        "limit went into the body, offset stays in the query"
    );

    // Header style with 304.
    let s3 = MockServer::start().await;
    Mock::given(method("GET"))
        // (wiremock's header matcher splits on commas, so compare the raw value)
        .and(|r: &Request| {
            r.headers
                .get("if-modified-since")
                .is_some_and(|v| v == "Thu, 26 Nov 2026 07:00:00 GMT")
        })
        .respond_with(ResponseTemplate::new(304))
        .expect(1)
        .mount(&s3)
        .await;
    let c3 = connector_with(
        &entity_toml("", "list = { path = \"/things\" }\nmodified_since = { style = \"header\", header = \"If-Modified-Since\" }\ndelete = { style = \"forbidden\" }"),
        &s3,
        None,
    );
    assert_eq!(
        c3.list("things", Some(since), None).await.unwrap().records,
        vec![]
    );
    assert!(matches!(
        c3.delete("things", "1").await,
        Err(ConnectorError::NotSupported { .. })
    ));
    assert_eq!(c3.capabilities("things").delete, DeleteStyle::Forbidden);
    assert_eq!(c3.calls(), 1);
}

#[tokio::test]
async fn get_without_endpoint_scans_the_list() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/things"))
        .respond_with(ResponseTemplate::new(200).set_body_json(Value::Array(items(0..4))))
        .expect(2)
        .mount(&s)
        .await;
    let c = connector_with(&entity_toml("", "list = { path = \"/things\" }"), &s, None);
    assert!(!c.capabilities("things").get);
    assert_eq!(
        c.get("things", "3").await.unwrap().unwrap().data["name"],
        "n3"
    );
    assert_eq!(c.get("things", "99").await.unwrap(), None);
}

#[tokio::test]
async fn concurrency_limit_and_rate_limit_headers() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .set_delay(Duration::from_millis(200)),
        )
        .mount(&s)
        .await;
    let toml = "name = \"t\"\nbase_url = \"${base}\"\nmax_concurrency = 1\n[entities.things]\nlist = { path = \"/things\" }\n";
    let c = connector_with(toml, &s, None);
    let t0 = Instant::now();
    let (a, b, d) = tokio::join!(
        c.list("things", None, None),
        c.list("things", None, None),
        c.list("things", None, None)
    );
    assert!(a.is_ok() && b.is_ok() && d.is_ok());
    assert!(
        t0.elapsed() >= Duration::from_millis(590),
        "serialised: {:?}",
        t0.elapsed()
    );
    assert_eq!(c.calls(), 3);

    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!([]))
                .insert_header("X-RateLimit-Remaining", "0")
                .insert_header("X-RateLimit-Reset", "1"),
        )
        .mount(&s)
        .await;
    let toml = "name = \"t\"\nbase_url = \"${base}\"\n[rate_limit]\nremaining_header = \"X-RateLimit-Remaining\"\nreset_header = \"X-RateLimit-Reset\"\n[entities.things]\nlist = { path = \"/things\" }\n";
    let c = connector_with(toml, &s, None);
    c.list("things", None, None).await.unwrap();
    let t0 = Instant::now();
    c.list("things", None, None).await.unwrap();
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "waited for the window: {:?}",
        t0.elapsed()
    );
}
