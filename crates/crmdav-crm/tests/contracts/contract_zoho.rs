//! Contract tests for `connectors/zoho.toml` + `mappings/zoho/*.toml` against wiremock, with
//! requests and answers shaped as Zoho CRM's public API v7 reference shows:
//!   https://www.zoho.com/crm/developer/docs/api/v7/get-records.html (page_token, info, 204, 304)
//!   https://www.zoho.com/crm/developer/docs/api/v7/insert-records.html (data[] wrapper,
//!     per-record code/details/message/status)
//!   https://www.zoho.com/crm/developer/docs/api/v7/get-deleted-records.html
//!   https://www.zoho.com/crm/developer/docs/api/v7/delete-specific-record.html
//!   https://www.zoho.com/crm/developer/docs/api/v7/refresh.html (refresh grant with client id
//!     and secret as form parameters; answer with api_domain, no new refresh token)
//!   https://www.zoho.com/crm/developer/docs/api/v7/api-limits.html (429 TOO_MANY_REQUESTS)
//! Fixtures: tests/fixtures/zoho/*.json.

use crmdav_crm::connector::{
    Connector, ConnectorError, MemoryTokenStore, Record, RestConnector, StoredToken, TokenStore,
};
use crmdav_crm::mapping::Mapping;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const ACCESS: &str = "1000.a1b2c3.current";

fn fixture(name: &str) -> Value {
    let p = format!(
        "{}/tests/fixtures/zoho/{name}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
    );
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn options(server: &MockServer) -> HashMap<String, String> {
    [
        ("api_domain", server.uri()),
        ("accounts_url", format!("{}/accounts", server.uri())),
        ("client_id", "1000.CLIENTID".into()),
        ("client_secret", "s3cr3t".into()),
        ("refresh_token", "1000.refresh.token".into()),
        ("timezone", "Europe/Berlin".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// A connector whose token store already holds a valid access token (no token call).
fn connector(server: &MockServer, access: Option<&str>) -> (RestConnector, Arc<MemoryTokenStore>) {
    let store = Arc::new(MemoryTokenStore::with(StoredToken {
        access_token: access.map(str::to_string),
        refresh_token: Some("1000.refresh.token".into()),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::minutes(50)),
        ..Default::default()
    }));
    let c = RestConnector::from_file(
        concat!(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
            "/connectors/zoho.toml"
        ),
        &options(server),
        Some(store.clone() as Arc<dyn TokenStore>),
    )
    .unwrap();
    (c, store)
}

fn mapping(entity: &str) -> Mapping {
    let o: HashMap<String, String> = [("timezone".to_string(), "Europe/Berlin".to_string())].into();
    Mapping::load_with(
        format!(
            "{}/mappings/zoho/{entity}.toml",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
        ),
        &o,
    )
    .unwrap()
}

fn auth() -> wiremock::matchers::HeaderExactMatcher {
    header(
        "authorization",
        format!("Zoho-oauthtoken {ACCESS}").as_str(),
    )
}

fn no_page_token(r: &Request) -> bool {
    !r.url.query_pairs().any(|(k, _)| k == "page_token")
}

async fn token_endpoint(s: &MockServer, expect: u64) {
    Mock::given(method("POST"))
        .and(path("/accounts/oauth/v2/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=1000.refresh.token"))
        // Zoho wants the client credentials as parameters, not HTTP Basic.
        .and(body_string_contains("client_id=1000.CLIENTID"))
        .and(body_string_contains("client_secret=s3cr3t"))
        .and(|r: &Request| !r.headers.contains_key("authorization"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("oauth_token.json")))
        .expect(expect)
        .mount(s)
        .await;
}

#[tokio::test]
async fn contacts_page_token_paging_three_pages_after_first_token() {
    let s = MockServer::start().await;
    token_endpoint(&s, 1).await;
    let new_auth = "Zoho-oauthtoken 1000.f8d2c4b6a8e0.new";
    Mock::given(method("GET"))
        .and(path("/crm/v7/Contacts"))
        .and(header("authorization", new_auth))
        .and(query_param("per_page", "200"))
        .and(query_param("sort_by", "Modified_Time"))
        .and(|r: &Request| {
            r.url
                .query_pairs()
                .any(|(k, v)| k == "fields" && v.split(',').any(|f| f == "Last_Name"))
        })
        .and(no_page_token)
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("contacts_page1.json")))
        .expect(1)
        .mount(&s)
        .await;
    for (tok, page) in [
        (
            "c8582e7ab8d0dbbd2a1c7ed6b1d0a8e5b0f2f1a7",
            "contacts_page2.json",
        ),
        (
            "d91c1e9e2a7f49e0b1a3c5d7e9f1a3b5c7d9e1f3",
            "contacts_page3.json",
        ),
    ] {
        Mock::given(method("GET"))
            .and(path("/crm/v7/Contacts"))
            .and(header("authorization", new_auth))
            .and(query_param("page_token", tok))
            .respond_with(ResponseTemplate::new(200).set_body_json(fixture(page)))
            .expect(1)
            .mount(&s)
            .await;
    }
    let (c, store) = connector(&s, None);
    let mut ids = Vec::new();
    let mut page = None;
    loop {
        let p = c.list("contacts", None, page).await.unwrap();
        ids.extend(p.records.into_iter().map(|r| r.id));
        match p.next {
            Some(n) => page = Some(n),
            None => break,
        }
    }
    assert_eq!(ids.len(), 5);
    assert_eq!(ids[0], "5725767000000524001");
    assert_eq!(c.calls(), 4, "one token request and three pages");
    // Zoho does not rotate: the configured refresh token is kept.
    assert_eq!(
        store.current().unwrap().refresh_token.as_deref(),
        Some("1000.refresh.token")
    );
}

#[tokio::test]
async fn change_feed_sends_if_modified_since_and_304_is_empty() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v7/Contacts"))
        .and(auth())
        .and(header("if-modified-since", "2026-03-01T10:04:00+01:00"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("contacts_changed.json")))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v7/Contacts"))
        .and(header("if-modified-since", "2026-03-02T17:45:12+01:00"))
        .respond_with(ResponseTemplate::new(304))
        .expect(1)
        .mount(&s)
        .await;
    let (c, _) = connector(&s, Some(ACCESS));
    let since = "2026-03-01T09:04:00Z".parse().unwrap();
    let page = c.list("contacts", Some(since), None).await.unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].data["Last_Name"], "Schröder-Lang");
    assert_eq!(
        page.records[0].modified.unwrap().to_rfc3339(),
        "2026-03-02T16:45:12+00:00"
    );
    let again = c
        .list("contacts", page.records[0].modified, None)
        .await
        .unwrap();
    assert!(again.records.is_empty() && again.next.is_none());
    assert_eq!(c.calls(), 2);
    let reqs = s.received_requests().await.unwrap();
    assert_eq!(reqs[0].method.as_str(), "GET");
    assert_eq!(reqs[0].url.path(), "/crm/v7/Contacts");
}

#[tokio::test]
async fn empty_list_answer_204_is_an_empty_page() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v7/Events"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&s)
        .await;
    let (c, _) = connector(&s, Some(ACCESS));
    let p = c.list("events", None, None).await.unwrap();
    assert!(p.records.is_empty() && p.next.is_none());
    assert_eq!(c.calls(), 1);
}

#[tokio::test]
async fn deletion_and_deleted_records_feed() {
    let s = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/crm/v7/Contacts/5725767000000524004"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("contact_delete.json")))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v7/Contacts/deleted"))
        .and(auth())
        .and(query_param("type", "all"))
        .and(query_param("page", "1"))
        .and(query_param("per_page", "200"))
        .and(header("if-modified-since", "2026-03-02T18:00:00+01:00"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("contacts_deleted.json")))
        .expect(1)
        .mount(&s)
        .await;
    let (c, _) = connector(&s, Some(ACCESS));
    assert!(c.capabilities("contacts").deletion_feed);
    c.delete("contacts", "5725767000000524004").await.unwrap();
    let since = "2026-03-02T17:00:00Z".parse().unwrap();
    let gone = c.list_deleted("contacts", Some(since), None).await.unwrap();
    assert_eq!(gone.next, None);
    assert_eq!(gone.records.len(), 1);
    assert_eq!(gone.records[0].id, "5725767000000524004");
    assert_eq!(
        gone.records[0].modified.unwrap().to_rfc3339(),
        "2026-03-02T17:00:05+00:00"
    );
    assert_eq!(c.calls(), 2);
}

#[tokio::test]
async fn validation_error_on_write_carries_zoho_message() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v7/Contacts"))
        .and(auth())
        .and(body_json(
            json!({"data": [{"First_Name": "Lena", "Last_Name": null}]}),
        ))
        .respond_with(ResponseTemplate::new(400).set_body_json(fixture("validation_error.json")))
        .expect(1)
        .mount(&s)
        .await;
    let (c, _) = connector(&s, Some(ACCESS));
    let err = c
        .create(
            "contacts",
            &json!({"First_Name": "Lena", "Last_Name": null}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Invalid {
            message: "required field not found".into()
        }
    );
    assert_eq!(c.calls(), 1);
}

#[tokio::test]
async fn rate_limit_429_retries_then_gives_up() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v7/Events"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(fixture("rate_limited.json")),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v7/Events"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("events_page1.json")))
        .expect(1)
        .mount(&s)
        .await;
    let (c, _) = connector(&s, Some(ACCESS));
    let p = c.list("events", None, None).await.unwrap();
    assert_eq!(p.records.len(), 2);
    assert_eq!(c.calls(), 2);

    // Persistent 429 with a Retry-After beyond max_retry_after_secs: fail at once.
    let s2 = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v7/Events"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "3600")
                .set_body_json(fixture("rate_limited.json")),
        )
        .expect(1)
        .mount(&s2)
        .await;
    let (c2, _) = connector(&s2, Some(ACCESS));
    let err = c2.list("events", None, None).await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::RateLimited {
            retry_after: Some(std::time::Duration::from_secs(3600))
        }
    );
    assert_eq!(c2.calls(), 1);
}

#[tokio::test]
async fn expired_token_mid_sync_is_refreshed_and_retried() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v7/Contacts"))
        .and(auth())
        .and(no_page_token)
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("contacts_page1.json")))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v7/Contacts"))
        .and(auth())
        .and(query_param(
            "page_token",
            "c8582e7ab8d0dbbd2a1c7ed6b1d0a8e5b0f2f1a7",
        ))
        .respond_with(ResponseTemplate::new(401).set_body_json(fixture("invalid_token.json")))
        .expect(1)
        .mount(&s)
        .await;
    token_endpoint(&s, 1).await;
    Mock::given(method("GET"))
        .and(path("/crm/v7/Contacts"))
        .and(header(
            "authorization",
            "Zoho-oauthtoken 1000.f8d2c4b6a8e0.new",
        ))
        .and(query_param(
            "page_token",
            "c8582e7ab8d0dbbd2a1c7ed6b1d0a8e5b0f2f1a7",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("contacts_page2.json")))
        .expect(1)
        .mount(&s)
        .await;
    let (c, store) = connector(&s, Some(ACCESS));
    let p1 = c.list("contacts", None, None).await.unwrap();
    let p2 = c.list("contacts", None, p1.next).await.unwrap();
    assert_eq!(p2.records.len(), 2);
    assert_eq!(c.calls(), 4);
    assert_eq!(
        store.current().unwrap().access_token.as_deref(),
        Some("1000.f8d2c4b6a8e0.new")
    );
}

#[tokio::test]
async fn create_wraps_in_data_and_reads_the_record_back() {
    let s = MockServer::start().await;
    let m = mapping("contacts");
    let body =
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:new@phone\r\nFN:Lena Weber\r\nN:Weber;Lena;;;\r\n\
EMAIL;TYPE=INTERNET:lena@weber.example\r\nTEL;TYPE=VOICE:+49 40 999\r\nEND:VCARD\r\n";
    let patch = m.to_record(body).unwrap();
    assert_eq!(patch["Last_Name"], "Weber");
    assert_eq!(patch["Email"], "lena@weber.example");
    assert_eq!(patch["Phone"], "+49 40 999");
    assert_eq!(patch["Mobile"], Value::Null);
    assert!(patch.get("Account_Name").is_none());
    Mock::given(method("POST"))
        .and(path("/crm/v7/Contacts"))
        .and(auth())
        .and(body_json(json!({ "data": [patch.clone()] })))
        .respond_with(ResponseTemplate::new(201).set_body_json(fixture("contact_created.json")))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v7/Contacts/5725767000000524157"))
        .and(auth())
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("contact_get.json")))
        .expect(1)
        .mount(&s)
        .await;
    let (c, _) = connector(&s, Some(ACCESS));
    let rec = c.create("contacts", &patch).await.unwrap();
    assert_eq!(rec.id, "5725767000000524157");
    assert_eq!(rec.data["Full_Name"], "Lena Weber");
    let card = m.to_component_with_uid(&rec, "new@phone");
    assert!(card.contains("FN:Lena Weber\r\n"), "{card}");
    assert_eq!(c.calls(), 2);
}

#[test]
fn contact_renders_and_parses_back() {
    let m = mapping("contacts");
    let page = fixture("contacts_page1.json");
    let rec = Record {
        id: "5725767000000524001".into(),
        data: page["data"][0].clone(),
        modified: None,
        version: None,
    };
    let card = m.to_component(&rec);
    for line in [
        "UID:zoho-contacts-5725767000000524001@crmdav",
        "FN:Zoë Schröder",
        "N:Schröder;Zoë;;Ms.;",
        "ORG:Zylker GmbH;Procurement",
        "X-ZOHO-ACCOUNT-ID:5725767000000422011",
        "TITLE:Purchasing Manager",
        "EMAIL;TYPE=WORK:zoë@zylker.com",
        "TEL;TYPE=WORK:+49 30 1234567",
        "TEL;TYPE=CELL:+49 170 7654321",
        "ADR;TYPE=WORK:;;Friedrichstraße 68;Berlin;Berlin;10117;Germany",
        "NOTE:Met at CeBIT\\; prefers email",
        "BDAY:19850412",
    ] {
        assert!(
            card.contains(&format!("{line}\r\n")),
            "missing {line:?} in\n{card}"
        );
    }
    let body = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:Zoë Schröder-Lang\r\nN:Schröder-Lang;Zoë;;Dr.;\r\n\
ORG:Somewhere Else\r\nTITLE:Head of Purchasing\r\nEMAIL;TYPE=HOME:zoe@home.example\r\n\
EMAIL;TYPE=WORK:zoe@zylker.com\r\nTEL;TYPE=CELL:+49 170 1\r\n\
ADR;TYPE=HOME:;;Torstraße 1;Berlin;;10119;Germany\r\nBDAY:1985-04-13\r\nEND:VCARD\r\n";
    let p = m.to_record(body).unwrap();
    assert_eq!(p["Last_Name"], "Schröder-Lang");
    assert_eq!(p["Salutation"], "Dr.");
    assert_eq!(p["Email"], "zoe@zylker.com");
    assert_eq!(p["Secondary_Email"], "zoe@home.example");
    assert_eq!(p["Mobile"], "+49 170 1");
    assert_eq!(p["Phone"], Value::Null);
    assert_eq!(p["Other_Street"], "Torstraße 1");
    assert_eq!(p["Mailing_Street"], Value::Null);
    assert_eq!(p["Date_of_Birth"], "1985-04-13");
    assert!(
        p.get("Account_Name").is_none(),
        "ORG is read-only; the id is not in the body"
    );
}

#[test]
fn events_render_timed_and_all_day_and_parse_back() {
    let m = mapping("events");
    let page = fixture("events_page1.json");
    let rec = |i: usize| Record {
        id: page["data"][i]["id"].as_str().unwrap().into(),
        data: page["data"][i].clone(),
        modified: None,
        version: None,
    };
    let ics = m.to_component(&rec(0));
    for line in [
        "SUMMARY:Quarterly review with Zylker",
        "DTSTART;TZID=Europe/Berlin:20300115T100000",
        "DTEND;TZID=Europe/Berlin:20300115T113000",
        "LOCATION:Zylker HQ\\, Friedrichstraße 68",
        "ATTENDEE;CN=Zoë Schröder;PARTSTAT=ACCEPTED:mailto:zoe@zylker.com",
        "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:guest@example.org",
        "X-ZOHO-WHO-ID:5725767000000524001",
        "X-ZOHO-WHO:Zoë Schröder",
        "CREATED:20260220T081500Z",
    ] {
        assert!(
            ics.contains(&format!("{line}\r\n")),
            "missing {line:?} in\n{ics}"
        );
    }
    let all_day = m.to_component(&rec(1));
    assert!(
        all_day.contains("DTSTART;VALUE=DATE:20300203\r\n"),
        "{all_day}"
    );
    assert!(
        all_day.contains("DTEND;VALUE=DATE:20300204\r\n"),
        "{all_day}"
    );

    let body = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:Review\r\n\
DTSTART;TZID=America/New_York:20300715T090000\r\nDTEND;TZID=America/New_York:20300715T100000\r\n\
ATTENDEE:mailto:someone@example.org\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let p = m.to_record(body).unwrap();
    assert_eq!(p["Event_Title"], "Review");
    assert_eq!(p["Start_DateTime"], "2030-07-15T15:00:00+02:00");
    assert_eq!(p["End_DateTime"], "2030-07-15T16:00:00+02:00");
    assert_eq!(p["All_day"], json!(false));
    assert!(
        p.get("Participants").is_none(),
        "participants are read-only"
    );
    let d = m
        .to_record("BEGIN:VEVENT\r\nUID:y\r\nSUMMARY:Fair\r\nDTSTART;VALUE=DATE:20300203\r\nDTEND;VALUE=DATE:20300204\r\nEND:VEVENT\r\n")
        .unwrap();
    assert_eq!(d["All_day"], json!(true));
    assert_eq!(d["Start_DateTime"], "2030-02-03T00:00:00+01:00");
}
