//! Contract tests for `connectors/dynamics365.toml` + `mappings/dynamics365/*.toml` against
//! wiremock: one server plays login.microsoftonline.com, another the org's Web API.
//!
//! Requests and answers follow Microsoft's reference (fixtures in tests/fixtures/dynamics365;
//! "ORG" in them is the org URL):
//! - Paging (`Prefer: odata.maxpagesize`, `@odata.nextLink`):
//!   https://learn.microsoft.com/power-apps/developer/data-platform/webapi/query/page-results
//! - Conditional update (`If-Match` with `@odata.etag`, 412):
//!   https://learn.microsoft.com/power-apps/developer/data-platform/webapi/perform-conditional-operations-using-web-api
//! - Errors: https://learn.microsoft.com/power-apps/developer/data-platform/webapi/compose-http-requests-handle-errors
//! - Service protection 429: https://learn.microsoft.com/power-apps/developer/data-platform/api-limits
//! - Client credentials: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
//! - appointment statecode/statuscode: https://learn.microsoft.com/power-apps/developer/data-platform/reference/entities/appointment

use crmdav_crm::connector::{Connector, ConnectorError, DeleteStyle, Record, RestConnector};
use crmdav_crm::mapping::Mapping;
use serde_json::{json, Value};
use std::collections::HashMap;
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

const API: &str = "/api/data/v9.2";
const TENANT: &str = "8a3b1c2d-0000-4e5f-9a8b-7c6d5e4f3a2b";
const T1: &str = "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.one";
const T2: &str = "Bearer eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.two";
const ID4: &str = "7c1f0f3a-0d5e-ec11-8f8f-002248000004";

fn root(p: &str) -> String {
    format!("{}/{p}", concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

struct Env {
    login: MockServer,
    org: MockServer,
}

impl Env {
    async fn start() -> Self {
        Env {
            login: MockServer::start().await,
            org: MockServer::start().await,
        }
    }

    fn fixture(&self, name: &str) -> Value {
        let p = format!(
            "{}/tests/fixtures/dynamics365/{name}",
            concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
        );
        let text = std::fs::read_to_string(&p)
            .unwrap()
            .replace("ORG", &self.org.uri());
        serde_json::from_str(&text).unwrap()
    }

    /// Client-credentials token endpoint: `token_1` first, then `token_2`.
    async fn tokens(&self, expect_second: u64) {
        Mock::given(method("POST"))
            .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
            .and(body_string_contains("grant_type=client_credentials"))
            .and(body_string_contains("client_id=0e9a1b2c-app"))
            .and(body_string_contains("client_secret=d365-secret"))
            .and(body_string_contains("scope="))
            .and(body_string_contains("%2F.default"))
            .respond_with(ResponseTemplate::new(200).set_body_json(self.fixture("token_1.json")))
            .up_to_n_times(1)
            .expect(1)
            .mount(&self.login)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("/{TENANT}/oauth2/v2.0/token")))
            .respond_with(ResponseTemplate::new(200).set_body_json(self.fixture("token_2.json")))
            .expect(expect_second)
            .mount(&self.login)
            .await;
    }

    fn options(&self) -> HashMap<String, String> {
        [
            ("org_url", self.org.uri()),
            ("login_url", self.login.uri()),
            ("tenant_id", TENANT.to_string()),
            ("client_id", "0e9a1b2c-app".to_string()),
            ("client_secret", "d365-secret".to_string()),
            ("timezone", "W. Europe Standard Time".to_string()),
            ("page_size", "2".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn connector(&self) -> RestConnector {
        RestConnector::from_file(root("connectors/dynamics365.toml"), &self.options(), None)
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn has_skiptoken(page: &'static str) -> impl Fn(&Request) -> bool {
    move |r: &Request| {
        r.url
            .query_pairs()
            .any(|(k, v)| k == "$skiptoken" && v.contains(&format!("pagenumber=\"{page}\"")))
    }
}

fn first_page(r: &Request) -> bool {
    !r.url.query().unwrap_or("").contains("skiptoken")
}

/// Three pages: `Prefer: odata.maxpagesize=2` on every request, `@odata.nextLink` followed.
#[tokio::test]
async fn next_links_are_followed_across_three_pages() {
    let e = Env::start().await;
    e.tokens(0).await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/appointments")))
        .and(first_page)
        .and(query_param("$select", "activityid,subject,scheduledstart,scheduledend,isalldayevent,location,description,statecode,statuscode,prioritycode,createdon,modifiedon"))
        .and(header("prefer", "odata.maxpagesize=2"))
        .and(header("odata-version", "4.0"))
        .and(header("authorization", T1))
        .respond_with(ResponseTemplate::new(200).set_body_json(e.fixture("appointments_page1.json")))
        .expect(1)
        .mount(&e.org)
        .await;
    for (n, page) in [
        ("2", "appointments_page2.json"),
        ("3", "appointments_page3.json"),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("{API}/appointments")))
            .and(has_skiptoken(n))
            .and(header("prefer", "odata.maxpagesize=2"))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("x-ms-ratelimit-burst-remaining-xrm-requests", "5998")
                    .set_body_json(e.fixture(page)),
            )
            .expect(1)
            .mount(&e.org)
            .await;
    }
    let c = e.connector();
    let caps = c.capabilities("appointments");
    assert!(caps.modified_since && caps.get && !caps.deletion_feed);
    assert_eq!(caps.delete, DeleteStyle::StatusChange);
    let mut recs = Vec::new();
    let mut page = None;
    loop {
        let p = c.list("appointments", None, page).await.unwrap();
        recs.extend(p.records);
        match p.next {
            Some(n) => page = Some(n),
            None => break,
        }
    }
    assert_eq!(recs.len(), 5);
    assert_eq!(recs[0].id, "7c1f0f3a-0d5e-ec11-8f8f-002248000001");
    assert_eq!(recs[0].version.as_deref(), Some("W/\"72201545\""));
    assert_eq!(c.calls(), 4);
}

/// Change feed: `$filter=modifiedon gt <since>`; a cancelled appointment (statecode 2) is how
/// a deletion done in Dynamics arrives, and renders STATUS:CANCELLED.
#[tokio::test]
async fn change_feed_filters_on_modifiedon_and_sees_cancellations() {
    let e = Env::start().await;
    e.tokens(0).await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/appointments")))
        .and(query_param("$filter", "modifiedon gt 2029-12-04T00:00:00Z"))
        .and(header("prefer", "odata.maxpagesize=2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(e.fixture("appointments_changed.json")),
        )
        .expect(1)
        .mount(&e.org)
        .await;
    let c = e.connector();
    let since = chrono::DateTime::parse_from_rfc3339("2029-12-04T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let p = c.list("appointments", Some(since), None).await.unwrap();
    assert_eq!(p.next, None);
    assert_eq!(p.records.len(), 1);
    let r = &p.records[0];
    assert_eq!(r.id, ID4);
    assert_eq!(r.data["statecode"], 2);
    let m =
        Mapping::load_with(root("mappings/dynamics365/appointments.toml"), &e.options()).unwrap();
    assert!(m.to_component(r).contains("STATUS:CANCELLED\r\n"));
    assert_eq!(c.calls(), 2);
}

/// Deleting from a phone cancels: PATCH statecode 2 / statuscode 4 with `If-Match: *`.
#[tokio::test]
async fn delete_cancels_with_statecode() {
    let e = Env::start().await;
    e.tokens(0).await;
    Mock::given(method("PATCH"))
        .and(path(format!("{API}/appointments({ID4})")))
        .and(header("if-match", "*"))
        .and(body_json(json!({"statecode": 2, "statuscode": 4})))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&e.org)
        .await;
    let c = e.connector();
    c.delete("appointments", ID4).await.unwrap();
    assert_eq!(c.calls(), 2);
}

/// Update with the record's ETag in If-Match; a changed record answers 412 → VersionMismatch.
/// A valid update re-reads the record (same $select/$expand as a list).
#[tokio::test]
async fn update_sends_the_etag_and_412_is_version_mismatch() {
    let e = Env::start().await;
    e.tokens(0).await;
    Mock::given(method("PATCH"))
        .and(path(format!("{API}/appointments({ID4})")))
        .and(header("if-match", "W/\"72201548\""))
        .respond_with(
            ResponseTemplate::new(412).set_body_json(e.fixture("error_precondition.json")),
        )
        .expect(1)
        .mount(&e.org)
        .await;
    Mock::given(method("PATCH"))
        .and(path(format!("{API}/appointments({ID4})")))
        .and(header("if-match", "W/\"72209001\""))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&e.org)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/appointments({ID4})")))
        .and(query_param("$expand", "appointment_activity_parties($select=addressused,participationtypemask;$filter=participationtypemask eq 5 or participationtypemask eq 6)"))
        .respond_with(ResponseTemplate::new(200).set_body_json(e.fixture("appointment_cancelled.json")))
        .expect(1)
        .mount(&e.org)
        .await;
    let c = e.connector();
    let patch = json!({"subject": "Demo v2"});
    let err = c
        .update("appointments", ID4, &patch, Some("W/\"72201548\""))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::VersionMismatch { message } if message.contains("doesn't match the RowVersion")),
        "{err:?}"
    );
    let r = c
        .update("appointments", ID4, &patch, Some("W/\"72209001\""))
        .await
        .unwrap();
    assert_eq!(r.version.as_deref(), Some("W/\"72209001\""));
    // Exactly one If-Match per PATCH: the version replaced the endpoint's `*`.
    let reqs = e.org.received_requests().await.unwrap();
    for r in reqs.iter().filter(|r| r.method.as_str() == "PATCH") {
        assert_eq!(r.headers.get_all("if-match").iter().count(), 1);
    }
    assert_eq!(c.calls(), 4);
}

/// A refused create: 400 with {"error":{"code","message"}} → `Invalid` with the message.
#[tokio::test]
async fn validation_error_on_create_is_invalid_with_the_message() {
    let e = Env::start().await;
    e.tokens(0).await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/appointments")))
        .and(header("prefer", "return=representation"))
        .and(body_json(json!({"subject": "x", "scheduledend": "bad"})))
        .respond_with(ResponseTemplate::new(400).set_body_json(e.fixture("error_validation.json")))
        .expect(1)
        .mount(&e.org)
        .await;
    let c = e.connector();
    let err = c
        .create(
            "appointments",
            &json!({"subject": "x", "scheduledend": "bad"}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Invalid {
            message: "The date-time format for scheduledend is invalid, or value is outside the supported range.".into()
        }
    );
    assert_eq!(c.calls(), 2);
}

/// Service protection: 429 with Retry-After and the x-ms-ratelimit headers → wait, retry.
#[tokio::test]
async fn service_protection_429_honours_retry_after() {
    let e = Env::start().await;
    e.tokens(0).await;
    Mock::given(method("GET"))
        .and(path(format!(
            "{API}/contacts(49b0be2e-d01c-ed11-b83e-000d3a572421)"
        )))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("Retry-After", "1")
                .insert_header("x-ms-ratelimit-burst-remaining-xrm-requests", "0")
                .insert_header("x-ms-ratelimit-time-remaining-xrm-requests", "1,200,000.00")
                .set_body_json(e.fixture("error_rate_limit.json")),
        )
        .up_to_n_times(1)
        .expect(1)
        .mount(&e.org)
        .await;
    Mock::given(method("GET"))
        .and(path(format!(
            "{API}/contacts(49b0be2e-d01c-ed11-b83e-000d3a572421)"
        )))
        .and(header(
            "prefer",
            "odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"",
        ))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("x-ms-ratelimit-burst-remaining-xrm-requests", "5999")
                .set_body_json(e.fixture("contact.json")),
        )
        .expect(1)
        .mount(&e.org)
        .await;
    let c = e.connector();
    let started = std::time::Instant::now();
    let r = c
        .get("contacts", "49b0be2e-d01c-ed11-b83e-000d3a572421")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.data["lastname"], "Brandt");
    assert!(started.elapsed() >= std::time::Duration::from_millis(950));
    assert_eq!(c.calls(), 3);
}

/// The access token is revoked/expired mid-sync: 401 on page 2 → one new token → page 2 again.
#[tokio::test]
async fn expired_token_is_renewed_mid_sync() {
    let e = Env::start().await;
    e.tokens(1).await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/appointments")))
        .and(first_page)
        .and(header("authorization", T1))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(e.fixture("appointments_page1.json")),
        )
        .expect(1)
        .mount(&e.org)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/appointments")))
        .and(has_skiptoken("2"))
        .and(header("authorization", T1))
        .respond_with(
            ResponseTemplate::new(401)
                .insert_header("WWW-Authenticate", "Bearer error=\"invalid_token\", error_description=\"The access token expiry UTC time is earlier than current UTC time\""),
        )
        .expect(1)
        .mount(&e.org)
        .await;
    for (n, page) in [
        ("2", "appointments_page2.json"),
        ("3", "appointments_page3.json"),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("{API}/appointments")))
            .and(has_skiptoken(n))
            .and(header("authorization", T2))
            .respond_with(ResponseTemplate::new(200).set_body_json(e.fixture(page)))
            .expect(1)
            .mount(&e.org)
            .await;
    }
    let c = e.connector();
    let mut n = 0;
    let mut page = None;
    loop {
        let p = c.list("appointments", None, page).await.unwrap();
        n += p.records.len();
        match p.next {
            Some(x) => page = Some(x),
            None => break,
        }
    }
    assert_eq!(n, 5);
    // token, page 1, page 2 (401), token, page 2, page 3
    assert_eq!(c.calls(), 6);
}

fn record(v: Value, modified: &str) -> Record {
    Record {
        id: v["activityid"]
            .as_str()
            .or_else(|| v["contactid"].as_str())
            .unwrap()
            .to_string(),
        modified: v[modified]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|d| d.with_timezone(&chrono::Utc)),
        version: v["@odata.etag"].as_str().map(str::to_string),
        data: v,
    }
}

#[tokio::test]
async fn appointment_renders_through_the_mapping_and_parses_back() {
    let e = Env::start().await;
    let m =
        Mapping::load_with(root("mappings/dynamics365/appointments.toml"), &e.options()).unwrap();
    let page = e.fixture("appointments_page1.json");
    let ics = m.to_component(&record(page["value"][0].clone(), "modifiedon"));
    for line in [
        "UID:dynamics365-appointments-7c1f0f3a-0d5e-ec11-8f8f-002248000001@crmdav",
        "DTSTAMP:20291202T101500Z",
        "SUMMARY:Quarterly review – Müller GmbH",
        "DTSTART;TZID=Europe/Berlin:20300115T100000",
        "DTEND;TZID=Europe/Berlin:20300115T110000",
        "LOCATION:Teams",
        "DESCRIPTION:Agenda: pricing",
        "STATUS:CONFIRMED",
        "PRIORITY:5",
        "ATTENDEE:mailto:zoe.brandt@mueller.example",
        "ATTENDEE:mailto:jon@firm.example",
        "CREATED:20291201T080000Z",
    ] {
        assert!(
            ics.contains(&format!("{line}\r\n")),
            "{line} missing in\n{ics}"
        );
    }
    // All-day: user-local midnights (W. Europe Standard Time = Europe/Berlin).
    let all_day = m.to_component(&record(page["value"][1].clone(), "modifiedon"));
    assert!(
        all_day.contains("DTSTART;VALUE=DATE:20300203\r\n"),
        "{all_day}"
    );
    assert!(
        all_day.contains("DTEND;VALUE=DATE:20300205\r\n"),
        "{all_day}"
    );
    let patch = m.to_record(&all_day).unwrap();
    assert_eq!(patch["scheduledstart"], "2030-02-02T23:00:00Z");
    assert_eq!(patch["scheduledend"], "2030-02-04T23:00:00Z");
    assert_eq!(patch["isalldayevent"], true);

    let edited = ics
        .replace(
            "DTSTART;TZID=Europe/Berlin:20300115T100000",
            "DTSTART:20300116T130000Z",
        )
        .replace("DTEND;TZID=Europe/Berlin:20300115T110000", "DURATION:PT45M")
        .replace("PRIORITY:5", "PRIORITY:1");
    let patch = m.to_record(&edited).unwrap();
    assert_eq!(
        patch,
        json!({
            "subject": "Quarterly review – Müller GmbH",
            "scheduledstart": "2030-01-16T13:00:00Z",
            "scheduledend": "2030-01-16T13:45:00Z",
            "location": "Teams",
            "description": "Agenda: pricing",
            "prioritycode": 2,
            "isalldayevent": false
        })
    );
}

#[tokio::test]
async fn contact_renders_through_the_mapping_and_parses_back() {
    let e = Env::start().await;
    let m = Mapping::load_with(root("mappings/dynamics365/contacts.toml"), &e.options()).unwrap();
    let c = record(e.fixture("contact.json"), "modifiedon");
    let vcf = m.to_component(&c);
    for line in [
        "UID:dynamics365-contacts-49b0be2e-d01c-ed11-b83e-000d3a572421@crmdav",
        "FN:Zoë Brandt",
        "N:Brandt;Zoë;;Ms.;",
        "ORG:Müller GmbH;Purchasing",
        "TITLE:Head of Purchasing",
        "EMAIL;TYPE=INTERNET:zoe.brandt@mueller.example",
        "EMAIL;TYPE=HOME:zoe@home.example",
        "TEL;TYPE=CELL:+49 171 7654321",
        "TEL;TYPE=WORK:+49 30 1234567",
        "ADR;TYPE=WORK:;;Hauptstraße 5;Berlin;BE;10115;Germany",
        "URL:https://mueller.example",
        "BDAY:19840709",
        "NOTE:Prefers calls after 10:00",
        "REV:20291103T120000Z",
    ] {
        assert!(
            vcf.contains(&format!("{line}\r\n")),
            "{line} missing in\n{vcf}"
        );
    }
    let edited = vcf
        .replace("EMAIL;TYPE=HOME:zoe@home.example\r\n", "")
        .replace(
            "TEL;TYPE=WORK:+49 30 1234567",
            "TEL;TYPE=FAX:+49 30 1234568",
        );
    let patch = m.to_record(&edited).unwrap();
    assert_eq!(patch["lastname"], "Brandt");
    assert_eq!(patch["salutation"], "Ms.");
    assert_eq!(patch["emailaddress1"], "zoe.brandt@mueller.example");
    assert_eq!(patch["emailaddress2"], Value::Null);
    assert_eq!(patch["fax"], "+49 30 1234568");
    assert_eq!(patch["telephone1"], Value::Null);
    assert_eq!(patch["mobilephone"], "+49 171 7654321");
    assert_eq!(patch["birthdate"], "1984-07-09");
    assert!(
        patch.get("department").is_none(),
        "ORG is read-only: {patch}"
    );
}

/// Issue 10: the environment's users (`[users]`): `systemusers` with `$select`, paged through
/// `@odata.nextLink` (https://learn.microsoft.com/power-apps/developer/data-platform/webapi/reference/systemuser);
/// `isdisabled = true` is inactive, the business unit is the team.
#[tokio::test]
async fn system_users_are_listed_across_pages_with_disabled_ones_inactive() {
    let e = Env::start().await;
    e.tokens(0).await;
    let select = "systemuserid,internalemailaddress,fullname,isdisabled,_businessunitid_value";
    let next = format!(
        "{}/api/data/v9.2/systemusers?$select={select}&$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E",
        e.org.uri()
    );
    Mock::given(method("GET"))
        .and(path("/api/data/v9.2/systemusers"))
        .and(has_skiptoken("2"))
        .and(header("prefer", "odata.maxpagesize=2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "@odata.context": format!("{}/api/data/v9.2/$metadata#systemusers({select})", e.org.uri()),
            "value": [{"@odata.etag": "W/\"1003\"", "systemuserid": "c3d4e5f6-0000-0000-0000-000000000003",
                "internalemailaddress": "old@firm.example", "fullname": "Old Timer", "isdisabled": true,
                "_businessunitid_value": "bu-1"}]
        })))
        .expect(1)
        .mount(&e.org)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/data/v9.2/systemusers"))
        .and(query_param("$select", select))
        .and(first_page)
        .and(header("prefer", "odata.maxpagesize=2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "@odata.context": format!("{}/api/data/v9.2/$metadata#systemusers({select})", e.org.uri()),
            "value": [
                {"@odata.etag": "W/\"1001\"", "systemuserid": "c3d4e5f6-0000-0000-0000-000000000001",
                 "internalemailaddress": "alice@firm.example", "fullname": "Alice Ng", "isdisabled": false,
                 "_businessunitid_value": "bu-1"},
                {"@odata.etag": "W/\"1002\"", "systemuserid": "c3d4e5f6-0000-0000-0000-000000000002",
                 "internalemailaddress": "bo@firm.example", "fullname": "Bo Lund", "isdisabled": false,
                 "_businessunitid_value": "bu-2"}
            ],
            "@odata.nextLink": next
        })))
        .expect(1)
        .mount(&e.org)
        .await;
    let c = e.connector();
    assert!(c.has_users_listing());
    let users = c.list_users().await.unwrap();
    let got: Vec<_> = users
        .iter()
        .map(|u| {
            (
                u.id.as_str(),
                u.email.as_deref(),
                u.active,
                u.team_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "c3d4e5f6-0000-0000-0000-000000000001",
                Some("alice@firm.example"),
                true,
                Some("bu-1")
            ),
            (
                "c3d4e5f6-0000-0000-0000-000000000002",
                Some("bo@firm.example"),
                true,
                Some("bu-2")
            ),
            (
                "c3d4e5f6-0000-0000-0000-000000000003",
                Some("old@firm.example"),
                false,
                Some("bu-1")
            ),
        ]
    );
    // The token request, then two pages.
    assert_eq!(c.calls(), 3);
}
