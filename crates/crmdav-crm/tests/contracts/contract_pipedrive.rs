//! Contract tests for `connectors/pipedrive.toml` + `mappings/pipedrive/*.toml` against
//! wiremock, with requests and answers shaped as Pipedrive's public API v2 reference shows:
//!   activities: https://developers.pipedrive.com/docs/api/v1/Activities (v2 section) and
//!     github.com/pipedrive/client-nodejs src/versions/v2/models/activity-item.ts
//!   persons:    https://developers.pipedrive.com/docs/api/v1/Persons (v2 section)
//!   paging:     https://pipedrive.readme.io/docs/core-api-concepts-pagination
//!   limits:     https://pipedrive.readme.io/docs/core-api-concepts-rate-limiting
//!   errors/v2:  https://pipedrive.readme.io/docs/pipedrive-api-v2-migration-guide
//!   OAuth:      https://pipedrive.readme.io/docs/marketplace-oauth-authorization (refresh grant,
//!               client id/secret as HTTP Basic, rotated refresh_token, api_domain)
//! Fixtures: tests/fixtures/pipedrive/*.json.

use crmdav_crm::connector::{
    Connector, ConnectorError, DeleteStyle, MemoryTokenStore, Record, RestConnector, StoredToken,
    TokenStore,
};
use crmdav_crm::mapping::{Mapping, VCardVersion};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::matchers::{body_json, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

fn fixture(name: &str) -> Value {
    let p = format!(
        "{}/tests/fixtures/pipedrive/{name}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
    );
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn options(server: &MockServer, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut o: HashMap<String, String> = [
        ("api_domain".to_string(), server.uri()),
        ("api_token".to_string(), "pd-token-123".to_string()),
        ("timezone".to_string(), "Europe/Berlin".to_string()),
    ]
    .into();
    for (k, v) in extra {
        o.insert(k.to_string(), v.to_string());
    }
    o
}

fn connector(server: &MockServer) -> RestConnector {
    RestConnector::from_file(
        concat!(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
            "/connectors/pipedrive.toml"
        ),
        &options(server, &[]),
        None,
    )
    .unwrap()
}

fn mapping(entity: &str) -> Mapping {
    let o: HashMap<String, String> = [("timezone".to_string(), "Europe/Berlin".to_string())].into();
    Mapping::load_with(
        format!(
            "{}/mappings/pipedrive/{entity}.toml",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
        ),
        &o,
    )
    .unwrap()
}

fn no_cursor(r: &Request) -> bool {
    !r.url.query_pairs().any(|(k, _)| k == "cursor")
}

fn ok(body: Value) -> ResponseTemplate {
    // Every Pipedrive answer carries the rate-limit headers.
    ResponseTemplate::new(200)
        .insert_header("x-ratelimit-limit", "40")
        .insert_header("x-ratelimit-remaining", "39")
        .insert_header("x-ratelimit-reset", "2")
        .set_body_json(body)
}

async fn list_all(c: &RestConnector, entity: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut page = None;
    loop {
        let p = c.list(entity, None, page).await.unwrap();
        out.extend(p.records);
        match p.next {
            Some(n) => page = Some(n),
            None => return out,
        }
    }
}

#[tokio::test]
async fn activities_cursor_paging_three_pages() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/activities"))
        .and(header("x-api-token", "pd-token-123"))
        .and(query_param("limit", "500"))
        .and(query_param("include_fields", "attendees"))
        .and(query_param("sort_by", "update_time"))
        .and(no_cursor)
        .respond_with(ok(fixture("activities_page1.json")))
        .expect(1)
        .mount(&s)
        .await;
    for (cursor, page) in [
        ("eyJhY3Rpdml0eSI6M30", "activities_page2.json"),
        ("eyJhY3Rpdml0eSI6NX0", "activities_page3.json"),
    ] {
        Mock::given(method("GET"))
            .and(path("/api/v2/activities"))
            .and(query_param("cursor", cursor))
            .and(query_param("limit", "500"))
            .respond_with(ok(fixture(page)))
            .expect(1)
            .mount(&s)
            .await;
    }
    let c = connector(&s);
    let all = list_all(&c, "activities").await;
    let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5"]);
    assert_eq!(
        all[0].modified.unwrap().to_rfc3339(),
        "2026-03-01T09:00:00+00:00"
    );
    assert_eq!(c.calls(), 3);

    // Persons page the same way.
    let s2 = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/persons"))
        .and(no_cursor)
        .respond_with(ok(fixture("persons_page1.json")))
        .expect(1)
        .mount(&s2)
        .await;
    for (cursor, page) in [
        ("eyJwZXJzb24iOjQ5fQ", "persons_page2.json"),
        ("eyJwZXJzb24iOjUxfQ", "persons_page3.json"),
    ] {
        Mock::given(method("GET"))
            .and(path("/api/v2/persons"))
            .and(query_param("cursor", cursor))
            .respond_with(ok(fixture(page)))
            .expect(1)
            .mount(&s2)
            .await;
    }
    let c2 = connector(&s2);
    assert_eq!(list_all(&c2, "persons").await.len(), 5);
    assert_eq!(c2.calls(), 3);
}

#[tokio::test]
async fn change_feed_after_an_edit_uses_updated_since() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/activities"))
        .and(query_param("updated_since", "2026-03-01T09:30:00Z"))
        .and(header("x-api-token", "pd-token-123"))
        .respond_with(ok(fixture("activities_changed.json")))
        .expect(1)
        .mount(&s)
        .await;
    let c = connector(&s);
    assert!(c.capabilities("activities").modified_since);
    let since = "2026-03-01T09:30:00Z".parse().unwrap();
    let page = c.list("activities", Some(since), None).await.unwrap();
    assert_eq!(page.next, None);
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].data["subject"], "Kickoff with Zoë (moved)");
    assert_eq!(c.calls(), 1);
    let reqs = s.received_requests().await.unwrap();
    let q: HashMap<String, String> = reqs[0].url.query_pairs().into_owned().collect();
    assert_eq!(reqs[0].method.as_str(), "GET");
    assert_eq!(q["updated_since"], "2026-03-01T09:30:00Z");
    assert_eq!(q["limit"], "500");
    assert!(
        !q.contains_key("api_token"),
        "the token goes in a header, not the URL"
    );
}

#[tokio::test]
async fn deletion_then_full_scan_no_longer_lists_it() {
    let s = MockServer::start().await;
    Mock::given(method("DELETE"))
        .and(path("/api/v2/activities/4"))
        .respond_with(ok(fixture("activity_deleted.json")))
        .expect(1)
        .mount(&s)
        .await;
    let mut after = fixture("activities_page2.json");
    after["data"]
        .as_array_mut()
        .unwrap()
        .retain(|a| a["id"] != 4);
    after["additional_data"]["next_cursor"] = Value::Null;
    Mock::given(method("GET"))
        .and(path("/api/v2/activities"))
        .respond_with(ok(after))
        .expect(1)
        .mount(&s)
        .await;
    let c = connector(&s);
    let caps = c.capabilities("activities");
    assert_eq!(caps.delete, DeleteStyle::Delete);
    assert!(
        !caps.deletion_feed,
        "v2 has no deleted-activities feed: full scans find them"
    );
    c.delete("activities", "4").await.unwrap();
    let ids: Vec<String> = list_all(&c, "activities")
        .await
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["3"]);
    assert!(matches!(
        c.list_deleted("activities", None, None).await,
        Err(ConnectorError::NotSupported { .. })
    ));
    assert_eq!(c.calls(), 2);
}

#[tokio::test]
async fn validation_error_on_write_carries_pipedrive_message() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/activities"))
        .respond_with(ResponseTemplate::new(400).set_body_json(fixture("validation_error.json")))
        .expect(1)
        .mount(&s)
        .await;
    let c = connector(&s);
    let err = c
        .create(
            "activities",
            &json!({"subject": "x", "due_time": "9 o'clock"}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Invalid {
            message: "Validation failed: due_time: Must match format \"HH:MM\"".into()
        }
    );
    assert_eq!(c.calls(), 1);
}

#[tokio::test]
async fn rate_limit_429_waits_for_retry_after_then_succeeds() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/persons"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-ratelimit-limit", "40")
                .insert_header("x-ratelimit-remaining", "0")
                .insert_header("x-ratelimit-reset", "1")
                .insert_header("retry-after", "1")
                .set_body_json(fixture("rate_limited.json")),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/persons"))
        .respond_with(ok(fixture("persons_page3.json")))
        .expect(1)
        .mount(&s)
        .await;
    let c = connector(&s);
    let t = Instant::now();
    let page = c.list("persons", None, None).await.unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(page.records[0].id, "51");
    assert_eq!(c.calls(), 2);
}

#[tokio::test]
async fn oauth_token_expired_mid_sync_is_refreshed_and_retried() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v2/activities"))
        .and(header("authorization", "Bearer v1u:old"))
        .and(no_cursor)
        .respond_with(ok(fixture("activities_page1.json")))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/activities"))
        .and(header("authorization", "Bearer v1u:old"))
        .and(query_param("cursor", "eyJhY3Rpdml0eSI6M30"))
        .respond_with(ResponseTemplate::new(401).set_body_json(fixture("unauthorized.json")))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        // Pipedrive takes the client id/secret as HTTP Basic: base64("cid:csecret").
        .and(header("authorization", "Basic Y2lkOmNzZWNyZXQ="))
        .and(wiremock::matchers::body_string_contains(
            "grant_type=refresh_token",
        ))
        .and(wiremock::matchers::body_string_contains(
            "refresh_token=29440%3A5231%3Aold",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("oauth_token.json")))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v2/activities"))
        .and(header("authorization", "Bearer v1u:AQIBAHj-new"))
        .and(query_param("cursor", "eyJhY3Rpdml0eSI6M30"))
        .respond_with(ok(fixture("activities_page2.json")))
        .expect(1)
        .mount(&s)
        .await;
    let store = Arc::new(MemoryTokenStore::with(StoredToken {
        access_token: Some("v1u:old".into()),
        refresh_token: Some("29440:5231:old".into()),
        expires_at: Some(chrono::Utc::now() + chrono::Duration::minutes(30)),
        ..Default::default()
    }));
    let opts = options(
        &s,
        &[
            ("auth", "oauth2"),
            ("client_id", "cid"),
            ("client_secret", "csecret"),
            ("refresh_token", "unused-initial"),
            ("oauth_token_url", &format!("{}/oauth/token", s.uri())),
        ],
    );
    let c = RestConnector::from_file(
        concat!(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
            "/connectors/pipedrive.toml"
        ),
        &opts,
        Some(store.clone() as Arc<dyn TokenStore>),
    )
    .unwrap();
    let p1 = c.list("activities", None, None).await.unwrap();
    let p2 = c.list("activities", None, p1.next).await.unwrap();
    assert_eq!(p2.records.len(), 2);
    assert_eq!(c.calls(), 4, "page 1, refused page 2, token, page 2 again");
    let saved = store.current().unwrap();
    assert_eq!(saved.refresh_token.as_deref(), Some("29440:5231:rotated"));
    assert_eq!(saved.access_token.as_deref(), Some("v1u:AQIBAHj-new"));
}

#[tokio::test]
async fn activity_renders_and_parses_back() {
    let m = mapping("activities");
    let page = fixture("activities_page1.json");
    let rec = Record {
        id: "1".into(),
        data: page["data"][0].clone(),
        modified: Some("2026-03-01T09:00:00Z".parse().unwrap()),
        version: None,
    };
    let ics = m.to_component(&rec);
    for line in [
        "UID:pipedrive-activities-1@crmdav",
        "SUMMARY:Kickoff with Zoë",
        // 09:00 UTC on 15 Jan is 10:00 in Berlin.
        "DTSTART;TZID=Europe/Berlin:20300115T100000",
        "DURATION:PT1H30M",
        "LOCATION:Rosenthaler Str. 40\\, 10178 Berlin\\, Germany",
        "DESCRIPTION:Quarterly review\\; bring the numbers",
        "X-PIPEDRIVE-TYPE:meeting",
        "TRANSP:OPAQUE",
        "ATTENDEE;CN=Zoë Schröder;PARTSTAT=ACCEPTED:mailto:zoe@example.org",
        "X-PIPEDRIVE-PERSON-ID:47",
        "X-PIPEDRIVE-ORG-ID:42",
        "CREATED:20260220T081500Z",
    ] {
        assert!(
            ics.contains(&format!("{line}\r\n")),
            "missing {line:?} in\n{ics}"
        );
    }
    assert!(ics.contains("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin"));

    // All-day: no due_time.
    let p2 = fixture("activities_page2.json");
    let allday = Record {
        id: "3".into(),
        data: p2["data"][0].clone(),
        modified: None,
        version: None,
    };
    let ics3 = m.to_component(&allday);
    assert!(ics3.contains("DTSTART;VALUE=DATE:20300117\r\n"), "{ics3}");
    assert!(ics3.contains("TRANSP:TRANSPARENT\r\n"));

    // A phone moves the meeting (DTEND instead of DURATION) and answers for the attendee.
    let body =
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:pipedrive-activities-1@crmdav\r\n\
SUMMARY:Kickoff with Zoë\r\nDTSTART;TZID=W. Europe Standard Time:20300715T093000\r\n\
DTEND;TZID=W. Europe Standard Time:20300715T101500\r\nLOCATION:Café Zentral\r\n\
ATTENDEE;CN=Zoë;PARTSTAT=TENTATIVE:mailto:zoe@example.org\r\nTRANSP:TRANSPARENT\r\n\
X-PIPEDRIVE-TYPE:lunch\r\nX-PIPEDRIVE-PERSON-ID:47\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let patch = m.to_record(body).unwrap();
    assert_eq!(patch["subject"], "Kickoff with Zoë");
    // 09:30 Berlin summer time = 07:30 UTC.
    assert_eq!(patch["due_date"], "2030-07-15");
    assert_eq!(patch["due_time"], "07:30");
    assert_eq!(patch["duration"], "00:45");
    assert_eq!(patch["location"], json!({"value": "Café Zentral"}));
    assert_eq!(patch["busy"], json!(false));
    assert_eq!(patch["type"], "lunch");
    assert_eq!(patch["person_id"], json!(47));
    assert_eq!(
        patch["attendees"],
        json!([{"email": "zoe@example.org", "name": "Zoë", "status": "tentative"}])
    );
    assert!(patch.get("note").is_none(), "note is read-only");

    // An all-day event from a phone: date, no time.
    let allday_body = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:Offsite\r\n\
DTSTART;VALUE=DATE:20300301\r\nDTEND;VALUE=DATE:20300302\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let p = m.to_record(allday_body).unwrap();
    assert_eq!(p["due_date"], "2030-03-01");
    assert_eq!(p["due_time"], Value::Null);
    assert_eq!(p["type"], "meeting");
}

#[tokio::test]
async fn create_from_a_phone_posts_the_mapped_patch() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v2/activities"))
        .and(body_json(json!({
            "subject": "Neues Meeting", "due_date": "2030-02-20", "due_time": "08:00",
            "duration": "00:30", "location": {"value": "Café Zentral"}, "public_description": null,
            "type": "meeting", "busy": true
        })))
        .respond_with(ok(fixture("activity_created.json")))
        .expect(1)
        .mount(&s)
        .await;
    let m = mapping("activities");
    let body = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:new@phone\r\nSUMMARY:Neues Meeting\r\n\
DTSTART:20300220T080000Z\r\nDURATION:PT30M\r\nLOCATION:Café Zentral\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let patch = m.to_record(body).unwrap();
    let c = connector(&s);
    let rec = c.create("activities", &patch).await.unwrap();
    assert_eq!(rec.id, "9");
    let ics = m.to_component_with_uid(&rec, "new@phone");
    assert!(
        ics.contains("DTSTART;TZID=Europe/Berlin:20300220T090000\r\n"),
        "{ics}"
    );
    assert_eq!(c.calls(), 1);
}

#[test]
fn person_renders_and_parses_back() {
    let m = mapping("persons");
    let page = fixture("persons_page1.json");
    let rec = Record {
        id: "47".into(),
        data: page["data"][0].clone(),
        modified: None,
        version: None,
    };
    let v3 = m.to_component(&rec);
    for line in [
        "VERSION:3.0",
        "FN:Zoë Schröder",
        "N:Schröder;Zoë;;;",
        "EMAIL;TYPE=WORK:zoe@example.org",
        "EMAIL;TYPE=HOME:zoe.s@home.example",
        "TEL;TYPE=WORK:+49 30 1234567",
        "TEL;TYPE=CELL:+49 170 7654321",
        "X-PIPEDRIVE-ORG-ID:42",
        "TITLE:Head of Purchasing",
        "NOTE:Prefers mornings",
        "BDAY:19850412",
        "ADR:;3. OG;Rosenthaler Straße;Berlin;Berlin;10178;Germany",
    ] {
        assert!(
            v3.contains(&format!("{line}\r\n")),
            "missing {line:?} in\n{v3}"
        );
    }
    assert!(m
        .to_vcard(&rec, VCardVersion::V4)
        .contains("VERSION:4.0\r\n"));

    let body =
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:Zoë Schröder-Lang\r\nN:Schröder-Lang;Zoë;;;\r\n\
EMAIL;TYPE=INTERNET,WORK:zoe@example.org\r\nTEL;TYPE=CELL,VOICE:+49 170 0000000\r\n\
TEL;TYPE=HOME:+49 30 999\r\nTEL:+49 89 1\r\nTITLE:CEO\r\nEND:VCARD\r\n";
    let patch = m.to_record(body).unwrap();
    assert_eq!(patch["name"], "Zoë Schröder-Lang");
    assert_eq!(
        patch["emails"],
        json!([{"value": "zoe@example.org", "label": "work"}])
    );
    assert_eq!(
        patch["phones"],
        json!([
            {"value": "+49 170 0000000", "label": "mobile"},
            {"value": "+49 30 999", "label": "home"},
            {"value": "+49 89 1"}
        ])
    );
    // Without contact sync, job_title and friends stay read-only.
    assert!(patch.get("job_title").is_none());
    assert!(patch.get("last_name").is_none());

    let with_sync: HashMap<String, String> =
        [("contact_sync_fields".to_string(), "read_write".to_string())].into();
    let m2 = Mapping::load_with(
        concat!(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../.."),
            "/mappings/pipedrive/persons.toml"
        ),
        &with_sync,
    )
    .unwrap();
    assert_eq!(m2.to_record(body).unwrap()["job_title"], "CEO");
}
