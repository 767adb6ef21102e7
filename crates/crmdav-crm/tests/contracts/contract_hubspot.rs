//! Contract tests for `connectors/hubspot.toml` + `mappings/hubspot/*.toml` against wiremock.
//!
//! Requests and answers follow HubSpot's public reference (fixtures in tests/fixtures/hubspot):
//! - objects list/get/create, `after` cursor, `archived=true`:
//!   https://developers.hubspot.com/docs/guides/crm/using-object-apis
//! - search: https://developers.hubspot.com/docs/api-reference/2026-03/crm/search-the-crm
//! - meetings: https://developers.hubspot.com/docs/api/crm/meetings
//! - rate limits and the 429 body: https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details
//! - OAuth refresh: https://developers.hubspot.com/docs/api/oauth-quickstart-guide

use crmdav_crm::connector::{Connector, ConnectorError, Record, RestConnector};
use crmdav_crm::mapping::Mapping;
use serde_json::{json, Value};
use std::collections::HashMap;
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const PROPS: &str = "hs_meeting_title,hs_meeting_body,hs_internal_meeting_notes,hs_meeting_location,hs_meeting_start_time,hs_meeting_end_time,hs_meeting_outcome,hs_meeting_external_url,hs_timestamp,hubspot_owner_id,hs_createdate,hs_lastmodifieddate";

fn fixture(name: &str) -> Value {
    let p = format!(
        "{}/tests/fixtures/hubspot/{name}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
    );
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn root(p: &str) -> String {
    format!("{}/{p}", concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn options(server: &MockServer, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut o: HashMap<String, String> = [
        ("base_url", server.uri()),
        (
            "access_token",
            "pat-na1-11111111-2222-3333-4444-555555555555".to_string(),
        ),
        ("timezone", "Europe/Berlin".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for (k, v) in extra {
        o.insert(k.to_string(), v.to_string());
    }
    o
}

fn connector(server: &MockServer, extra: &[(&str, &str)]) -> RestConnector {
    RestConnector::from_file(
        root("connectors/hubspot.toml"),
        &options(server, extra),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn no_after(r: &Request) -> bool {
    !r.url.query().unwrap_or("").contains("after=")
}

/// Meeting attendees: the v4 associations batch read answers for the page's meetings (one
/// request per page); here meeting 88001 has two contacts, the others none.
async fn mount_associations(s: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/crm/v4/associations/meetings/contacts/batch/read"))
        .and(body_json(json!({"inputs": [{"id": "88001"}, {"id": "88002"}]})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "COMPLETE",
            "results": [{"from": {"id": "88001"}, "to": [
                {"toObjectId": 51, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 200, "label": null}]},
                {"toObjectId": 52, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 200, "label": null}]}
            ]}],
            "startedAt": "2029-12-05T10:00:00.000Z", "completedAt": "2029-12-05T10:00:00.050Z"
        })))
        .mount(s)
        .await;
    Mock::given(method("POST"))
        .and(path("/crm/v4/associations/meetings/contacts/batch/read"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"status": "COMPLETE", "results": []})),
        )
        .mount(s)
        .await;
}

/// The contacts listing the attendee lookup reads (once per meetings listing).
async fn mount_contacts(s: &MockServer, times: u64) {
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts"))
        .and(query_param("limit", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"results": [
            {"id": "51", "properties": {"email": "zoe.brandt@mueller.example"}, "archived": false},
            {"id": "52", "properties": {"email": "jan.weber@mueller.example"}, "archived": false}
        ]})))
        .expect(times)
        .mount(s)
        .await;
}

/// Objects API paging: three pages through `paging.next.after` (guide "using object apis"),
/// each page's attendees through one associations batch read, their e-mails through one
/// contacts listing.
#[tokio::test]
async fn full_scan_follows_after_cursors_across_three_pages() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/meetings"))
        .and(query_param("limit", "100"))
        .and(query_param("properties", PROPS))
        .and(header(
            "authorization",
            "Bearer pat-na1-11111111-2222-3333-4444-555555555555",
        ))
        .and(no_after)
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("meetings_page1.json")))
        .expect(1)
        .mount(&s)
        .await;
    for (after, page) in [
        ("88002", "meetings_page2.json"),
        ("88004", "meetings_page3.json"),
    ] {
        Mock::given(method("GET"))
            .and(path("/crm/v3/objects/meetings"))
            .and(query_param("after", after))
            .and(query_param("limit", "100"))
            .respond_with(ResponseTemplate::new(200).set_body_json(fixture(page)))
            .expect(1)
            .mount(&s)
            .await;
    }
    mount_associations(&s).await;
    mount_contacts(&s, 1).await;
    let c = connector(&s, &[]);
    let caps = c.capabilities("meetings");
    assert!(caps.modified_since && caps.deletion_feed && caps.get);
    let mut all = Vec::new();
    let mut page = None;
    loop {
        let p = c.list("meetings", None, page).await.unwrap();
        all.extend(p.records);
        match p.next {
            Some(n) => page = Some(n),
            None => break,
        }
    }
    let ids: Vec<&str> = all.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["88001", "88002", "88003", "88004", "88005"]);
    assert_eq!(
        all[0].data["attendee_emails"],
        json!(["zoe.brandt@mueller.example", "jan.weber@mueller.example"])
    );
    assert_eq!(all[1].data["attendee_emails"], json!([]));
    // Three pages, one associations read per page, one contacts listing.
    assert_eq!(c.calls(), 3 + 3 + 1);
    let joins = s
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().starts_with("/crm/v4/associations/"))
        .count();
    assert_eq!(joins, 3);

    // The shipped mapping shows them as attendees.
    let tz: HashMap<String, String> =
        [("timezone".to_string(), "Europe/Berlin".to_string())].into();
    let m = Mapping::load_with(root("mappings/hubspot/meetings.toml"), &tz).unwrap();
    let ics = m.to_component(&all[0]);
    assert!(
        ics.contains("\r\nATTENDEE:mailto:zoe.brandt@mueller.example\r\nATTENDEE:mailto:jan.weber@mueller.example\r\n"),
        "{ics}"
    );
    assert!(!m.to_component(&all[1]).contains("ATTENDEE"));
    // Attendees are read-only: a phone's ATTENDEE never reaches a write.
    let patch = m.to_record(&ics).unwrap();
    assert!(patch.get("attendee_emails").is_none(), "{patch}");
}

/// Change feed: POST …/meetings/search filtering hs_lastmodifieddate GT <epoch ms>, sorted
/// ascending; the first page carries no `after` (search reference).
#[tokio::test]
async fn change_feed_searches_on_hs_lastmodifieddate() {
    let s = MockServer::start().await;
    let since = chrono::DateTime::parse_from_rfc3339("2029-12-04T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let props: Vec<&str> = PROPS.split(',').collect();
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/meetings/search"))
        .and(body_json(json!({
            "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GT", "value": "1891036800000"}]}],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": props,
            "limit": 100
        })))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("meetings_search_changed.json")))
        .expect(2)
        .mount(&s)
        .await;
    mount_associations(&s).await;
    mount_contacts(&s, 0).await;
    let c = connector(&s, &[]);
    let p = c.list("meetings", Some(since), None).await.unwrap();
    assert_eq!(p.next, None);
    assert_eq!(p.records.len(), 1);
    let r = &p.records[0];
    assert_eq!(r.id, "88001");
    assert_eq!(
        r.modified.unwrap().to_rfc3339(),
        "2029-12-05T16:42:10.123+00:00"
    );
    assert_eq!(r.data["properties"]["hs_meeting_outcome"], "RESCHEDULED");
    // The search body carried no query string paging.
    let reqs = s.received_requests().await.unwrap();
    assert_eq!(reqs[0].url.query(), None);
    // The changed meeting's attendees: one associations read (it has none here).
    assert_eq!(r.data["attendee_emails"], json!([]));
    assert_eq!(c.calls(), 2);
    // The next incremental listing re-lists the same row (the watermark's overlap): its
    // attendees are not asked again.
    c.list("meetings", Some(since), None).await.unwrap();
    assert_eq!(c.calls(), 3);
}

/// Deletions: archived meetings (`archived=true`), entries archived before `since` dropped.
#[tokio::test]
async fn archived_meetings_are_the_deletion_feed() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/meetings"))
        .and(query_param("archived", "true"))
        .and(query_param("limit", "100"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("meetings_archived.json")))
        .expect(2)
        .mount(&s)
        .await;
    let c = connector(&s, &[]);
    let since = chrono::DateTime::parse_from_rfc3339("2029-12-01T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let p = c.list_deleted("meetings", Some(since), None).await.unwrap();
    let ids: Vec<&str> = p.records.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["88004"]);
    assert_eq!(
        p.records[0].modified.unwrap().to_rfc3339(),
        "2029-12-06T07:30:00+00:00"
    );
    let all = c.list_deleted("meetings", None, None).await.unwrap();
    assert_eq!(all.records.len(), 2);
    assert_eq!(c.calls(), 2);
}

/// A refused create: 400 VALIDATION_ERROR → `Invalid` with HubSpot's message; the body is the
/// mapping's patch wrapped in `properties`, hs_timestamp = start.
#[tokio::test]
async fn validation_error_on_create_is_invalid_with_the_message() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/crm/v3/objects/meetings"))
        .and(body_json(json!({"properties": {
            "hs_meeting_title": "Broken",
            "hs_meeting_start_time": "2030-01-15T09:00:00.000Z",
            "hs_timestamp": "2030-01-15T09:00:00.000Z",
            "hs_meeting_end_time": "2030-01-15T08:00:00.000Z",
            "hs_meeting_location": "",
            "hs_meeting_body": "",
            "hs_meeting_external_url": ""
        }})))
        .respond_with(ResponseTemplate::new(400).set_body_json(fixture("error_validation.json")))
        .expect(1)
        .mount(&s)
        .await;
    let c = connector(&s, &[]);
    let m = Mapping::load_with(root("mappings/hubspot/meetings.toml"), &options(&s, &[])).unwrap();
    let body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//y//EN\r\nBEGIN:VEVENT\r\nUID:a@b\r\nDTSTAMP:20291201T000000Z\r\nSUMMARY:Broken\r\nDTSTART;TZID=Europe/Berlin:20300115T100000\r\nDTEND:20300115T080000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let patch = m.to_record(body).unwrap();
    let err = c.create("meetings", &patch).await.unwrap_err();
    match err {
        ConnectorError::Invalid { message } => assert!(
            message.starts_with("Property values were not valid")
                && message.contains("hs_meeting_end_time must be after hs_meeting_start_time"),
            "{message}"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(c.calls(), 1);
}

/// 429 with X-HubSpot-RateLimit-* headers and the RATE_LIMIT body: backed off, then retried.
#[tokio::test]
async fn rate_limited_429_is_retried_after_backoff() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/51"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
                .insert_header("X-HubSpot-RateLimit-Max", "100")
                .insert_header("X-HubSpot-RateLimit-Remaining", "0")
                .insert_header("X-HubSpot-RateLimit-Secondly", "10")
                .insert_header("X-HubSpot-RateLimit-Secondly-Remaining", "0")
                .set_body_json(fixture("error_rate_limit.json")),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/contacts/51"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
                .insert_header("X-HubSpot-RateLimit-Max", "100")
                .insert_header("X-HubSpot-RateLimit-Remaining", "99")
                .set_body_json(fixture("contact.json")),
        )
        .expect(1)
        .mount(&s)
        .await;
    // Remaining 0 in a 10 s window: the retry waits for the window (not just the 1 s backoff).
    let c = connector(&s, &[]);
    let started = std::time::Instant::now();
    let r = c.get("contacts", "51").await.unwrap().unwrap();
    assert_eq!(r.data["properties"]["lastname"], "Brandt");
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(9_500),
        "{waited:?}"
    );
    assert!(waited < std::time::Duration::from_secs(14), "{waited:?}");
    assert_eq!(c.calls(), 2);
}

/// OAuth variant: the access token expires mid-sync (401 EXPIRED_AUTHENTICATION on page 2),
/// is refreshed once with the refresh token (client id/secret as form fields) and page 2 is
/// asked again.
#[tokio::test]
async fn expired_oauth_token_is_refreshed_mid_sync() {
    let s = MockServer::start().await;
    let token_url = format!("{}/oauth/v1/token", s.uri());
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .and(body_string_contains("grant_type=refresh_token"))
        .and(body_string_contains("refresh_token=rt-6f1e2d3c"))
        .and(body_string_contains("client_secret=hs-secret"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("oauth_token_1.json")))
        .up_to_n_times(1)
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/oauth/v1/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("oauth_token_2.json")))
        .expect(1)
        .mount(&s)
        .await;
    let one = "Bearer CJSP5qf1KhICAQEYs-gDIIGOBii1_access_one";
    let two = "Bearer CJSP5qf1KhICAQEYs-gDIIGOBii1_access_two";
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/meetings"))
        .and(header("authorization", one))
        .and(no_after)
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("meetings_page1.json")))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/meetings"))
        .and(query_param("after", "88002"))
        .and(header("authorization", one))
        .respond_with(ResponseTemplate::new(401).set_body_json(fixture("error_expired_token.json")))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/meetings"))
        .and(query_param("after", "88002"))
        .and(header("authorization", two))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("meetings_page2.json")))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path("/crm/v3/objects/meetings"))
        .and(query_param("after", "88004"))
        .and(header("authorization", two))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("meetings_page3.json")))
        .expect(1)
        .mount(&s)
        .await;
    let c = connector(
        &s,
        &[
            ("auth", "oauth"),
            ("token_url", &token_url),
            ("client_id", "hs-client"),
            ("client_secret", "hs-secret"),
            ("refresh_token", "rt-6f1e2d3c"),
        ],
    );
    mount_associations(&s).await;
    mount_contacts(&s, 1).await;
    let mut n = 0;
    let mut page = None;
    loop {
        let p = c.list("meetings", None, page).await.unwrap();
        n += p.records.len();
        match p.next {
            Some(x) => page = Some(x),
            None => break,
        }
    }
    assert_eq!(n, 5);
    // token, page 1, page 2 (401), token, page 2, page 3; and per page one associations read,
    // one contacts listing
    assert_eq!(c.calls(), 6 + 3 + 1);
}

fn record(v: Value) -> Record {
    Record {
        id: v["id"].as_str().unwrap().to_string(),
        modified: v["updatedAt"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&chrono::Utc)),
        data: v,
        version: None,
    }
}

#[test]
fn meeting_renders_through_the_mapping_and_parses_back() {
    let tz: HashMap<String, String> =
        [("timezone".to_string(), "Europe/Berlin".to_string())].into();
    let m = Mapping::load_with(root("mappings/hubspot/meetings.toml"), &tz).unwrap();
    let page = fixture("meetings_page1.json");
    let meeting = record(page["results"][0].clone());
    let ics = m.to_component(&meeting);
    for line in [
        "UID:hubspot-meetings-88001@crmdav",
        "DTSTAMP:20291202T101500Z",
        "SUMMARY:Quarterly review – Müller GmbH",
        "DTSTART;TZID=Europe/Berlin:20300115T100000",
        "DTEND;TZID=Europe/Berlin:20300115T110000",
        "LOCATION:Zoom",
        "DESCRIPTION:Agenda: pricing\\, renewal",
        "URL:https://calendar.example/e/88001",
        "STATUS:CONFIRMED",
        "X-HUBSPOT-OWNER-ID:4711",
        "CREATED:20291201T080000Z",
        "BEGIN:VTIMEZONE",
    ] {
        assert!(
            ics.contains(&format!("{line}\r\n")),
            "{line} missing in\n{ics}"
        );
    }
    // Local midnight to local midnight (Berlin) is all-day; CANCELED → CANCELLED.
    let all_day = m.to_component(&record(page["results"][1].clone()));
    assert!(
        all_day.contains("DTSTART;VALUE=DATE:20300203\r\n"),
        "{all_day}"
    );
    assert!(
        all_day.contains("DTEND;VALUE=DATE:20300204\r\n"),
        "{all_day}"
    );
    assert!(all_day.contains("STATUS:CANCELLED\r\n"));

    // A phone moves the meeting (Windows zone name) and drops the location.
    let edited = ics
        .replace(
            "DTSTART;TZID=Europe/Berlin:20300115T100000",
            "DTSTART;TZID=W. Europe Standard Time:20300116T140000",
        )
        .replace(
            "DTEND;TZID=Europe/Berlin:20300115T110000",
            "DTEND;TZID=W. Europe Standard Time:20300116T150000",
        )
        .replace("LOCATION:Zoom\r\n", "");
    let patch = m.to_record(&edited).unwrap();
    assert_eq!(
        patch,
        json!({"properties": {
            "hs_meeting_title": "Quarterly review – Müller GmbH",
            "hs_meeting_start_time": "2030-01-16T13:00:00.000Z",
            "hs_timestamp": "2030-01-16T13:00:00.000Z",
            "hs_meeting_end_time": "2030-01-16T14:00:00.000Z",
            "hs_meeting_location": "",
            "hs_meeting_body": "Agenda: pricing, renewal",
            "hs_meeting_external_url": "https://calendar.example/e/88001",
            "hubspot_owner_id": "4711"
        }})
    );
    // An all-day event written back: local midnights in UTC.
    let patch = m.to_record(&all_day).unwrap();
    assert_eq!(
        patch["properties"]["hs_meeting_start_time"],
        "2030-02-02T23:00:00.000Z"
    );
    assert_eq!(
        patch["properties"]["hs_meeting_end_time"],
        "2030-02-03T23:00:00.000Z"
    );
}

#[test]
fn contact_renders_through_the_mapping_and_parses_back() {
    let m = Mapping::load(root("mappings/hubspot/contacts.toml")).unwrap();
    let c = record(fixture("contact.json"));
    let vcf = m.to_component(&c);
    for line in [
        "VERSION:3.0",
        "UID:hubspot-contacts-51@crmdav",
        "FN:Zoë Brandt",
        "N:Brandt;Zoë;;;",
        "ORG:Müller GmbH",
        "TITLE:Head of Purchasing",
        "EMAIL;TYPE=INTERNET:zoe.brandt@mueller.example",
        "EMAIL;TYPE=WORK:z.brandt@work.example",
        "TEL;TYPE=CELL:+49 171 7654321",
        "TEL;TYPE=WORK:+49 30 1234567",
        "ADR;TYPE=WORK:;;Hauptstraße 5;Berlin;BE;10115;Germany",
        "URL:https://mueller.example",
        "BDAY:19840709",
        "REV:20291103T120000Z",
    ] {
        assert!(
            vcf.contains(&format!("{line}\r\n")),
            "{line} missing in\n{vcf}"
        );
    }
    // A phone's card: the mobile number only, typed CELL; no fax, no work email.
    let phone_card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:Zoë Brandt-Weiß\r\nN:Brandt-Weiß;Zoë;;;\r\nEMAIL;type=INTERNET;type=HOME;type=pref:zoe@home.example\r\nTEL;type=CELL;type=VOICE;type=pref:+49 171 0000000\r\nBDAY:1984-07-09\r\nEND:VCARD\r\n";
    let patch = m.to_record(phone_card).unwrap();
    let p = &patch["properties"];
    assert_eq!(p["lastname"], "Brandt-Weiß");
    assert_eq!(p["firstname"], "Zoë");
    assert_eq!(p["email"], "zoe@home.example");
    assert_eq!(p["work_email"], "");
    assert_eq!(p["mobilephone"], "+49 171 0000000");
    assert_eq!(p["phone"], "");
    assert_eq!(p["fax"], "");
    assert_eq!(p["company"], "");
    assert_eq!(p["date_of_birth"], "1984-07-09");
    assert!(p.get("lastmodifieddate").is_none());
}
