//! Contract tests for `connectors/salesforce.toml` + `mappings/salesforce/*.toml` against
//! wiremock: one server plays login.salesforce.com (token endpoint), another the org's
//! instance named by the token answer's `instance_url`.
//!
//! Requests and answers follow Salesforce's REST API Developer Guide (fixtures in
//! tests/fixtures/salesforce):
//! - Query and nextRecordsUrl: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_query.htm
//! - sObject Get Deleted: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_get_deleted.htm
//! - Create: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/dome_sobject_create.htm
//! - Errors (array of {message, errorCode, fields}; 403 REQUEST_LIMIT_EXCEEDED):
//!   https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/errorcodes.htm
//! - Sforce-Limit-Info: https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/headers_api_usage.htm
//! - Refresh-token flow (answer with instance_url, no expires_in):
//!   https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_refresh_token_flow.htm

use crmdav_crm::connector::{Connector, ConnectorError, Record, RestConnector};
use crmdav_crm::mapping::Mapping;
use serde_json::{json, Value};
use std::collections::HashMap;
use wiremock::matchers::{body_json, body_string_contains, header, method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const API: &str = "/services/data/v62.0";
const EVENT_FIELDS: &str = "SELECT Id, Subject, StartDateTime, EndDateTime, IsAllDayEvent, ActivityDate, Location, Description, ShowAs, IsPrivate, WhoId, WhatId, OwnerId, CreatedDate, LastModifiedDate, SystemModstamp, (SELECT Relation.Name, Relation.Email, Status FROM EventRelations WHERE IsInvitee = true) FROM Event";
const T1: &str = "Bearer 00Dxx0000001gPL!AR8AQJXg5oj8jXSgxJfA0lBog.39AsX.LVpxezPwuX5VAIrrbbHMuol7GQxnMeYMN7cj8EoWr78nt1u44zU31IbYNNJguseu";
const T2: &str = "Bearer 00Dxx0000001gPL!AR8AQBM8J_xr9kLqmZIRyQxZgLcM4HVi41aGtW0qW3JCzf5xdTGGGSoVim8FfJkZEqxbjaFbberKGk8v8AnYrvChG4qLbQ2y";

fn fixture(name: &str) -> Value {
    let p = format!(
        "{}/tests/fixtures/salesforce/{name}",
        concat!(env!("CARGO_MANIFEST_DIR"), "/../..")
    );
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

fn root(p: &str) -> String {
    format!("{}/{p}", concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn token(name: &str, instance: &MockServer) -> Value {
    let mut t = fixture(name);
    t["instance_url"] = json!(instance.uri());
    t
}

struct Org {
    login: MockServer,
    instance: MockServer,
}

impl Org {
    async fn start() -> Self {
        Org {
            login: MockServer::start().await,
            instance: MockServer::start().await,
        }
    }

    /// The token endpoint answers `token_1` once, then `token_2`.
    async fn tokens(&self, expect_second: u64) {
        Mock::given(method("POST"))
            .and(path("/services/oauth2/token"))
            .and(body_string_contains("grant_type=refresh_token"))
            .and(body_string_contains(
                "refresh_token=5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJrHmL",
            ))
            .and(body_string_contains(
                "client_id=3MVG9IHf89I1t8hrvswazsWedXWY",
            ))
            .and(body_string_contains("client_secret=sf-secret"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(token("token_1.json", &self.instance)),
            )
            .up_to_n_times(1)
            .expect(1)
            .mount(&self.login)
            .await;
        Mock::given(method("POST"))
            .and(path("/services/oauth2/token"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(token("token_2.json", &self.instance)),
            )
            .expect(expect_second)
            .mount(&self.login)
            .await;
    }

    fn options(&self) -> HashMap<String, String> {
        [
            ("login_url", self.login.uri()),
            ("instance_host", "127.0.0.1".to_string()),
            ("client_id", "3MVG9IHf89I1t8hrvswazsWedXWY".to_string()),
            ("client_secret", "sf-secret".to_string()),
            (
                "refresh_token",
                "5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJrHmL".to_string(),
            ),
            ("timezone", "America/New_York".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn connector(&self) -> RestConnector {
        RestConnector::from_file(root("connectors/salesforce.toml"), &self.options(), None)
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn since() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2029-12-04T00:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// Full scan: the SOQL query, then two nextRecordsUrl pages, all on the instance host.
#[tokio::test]
async fn query_pages_through_next_records_url_on_the_instance() {
    let org = Org::start().await;
    org.tokens(0).await;
    let q = format!("{EVENT_FIELDS} WHERE IsChild = false");
    Mock::given(method("GET"))
        .and(path(format!("{API}/query")))
        .and(query_param("q", q.as_str()))
        .and(header("authorization", T1))
        .and(header("sforce-query-options", "batchSize=2000"))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("events_page1.json")))
        .expect(1)
        .mount(&org.instance)
        .await;
    for (locator, page) in [
        ("01gRO0000016PIAYA2-2", "events_page2.json"),
        ("01gRO0000016PIAYA2-4", "events_page3.json"),
    ] {
        Mock::given(method("GET"))
            .and(path(format!("{API}/query/{locator}")))
            .and(header("authorization", T1))
            .respond_with(
                ResponseTemplate::new(200)
                    .insert_header("Sforce-Limit-Info", "api-usage=18/15000")
                    .set_body_json(fixture(page)),
            )
            .expect(1)
            .mount(&org.instance)
            .await;
    }
    let c = org.connector();
    let caps = c.capabilities("events");
    assert!(caps.modified_since && caps.deletion_feed && caps.get);
    let mut ids = Vec::new();
    let mut page = None;
    loop {
        let p = c.list("events", None, page).await.unwrap();
        ids.extend(p.records.iter().map(|r| r.id.clone()));
        match p.next {
            Some(n) => page = Some(n),
            None => break,
        }
    }
    assert_eq!(
        ids,
        [
            "00UKZ00000AbCdE2AM",
            "00UKZ00000AbCdF2AM",
            "00UKZ00000AbCdG2AM",
            "00UKZ00000AbCdH2AM",
            "00UKZ00000AbCdI2AM"
        ]
    );
    // One token request on the login host; every API call went to the instance.
    assert_eq!(org.login.received_requests().await.unwrap().len(), 1);
    assert_eq!(org.instance.received_requests().await.unwrap().len(), 3);
    assert_eq!(c.calls(), 4);
}

/// Change feed: the SOQL gains `SystemModstamp > <since>` ordered by SystemModstamp.
#[tokio::test]
async fn change_feed_filters_on_system_modstamp() {
    let org = Org::start().await;
    org.tokens(0).await;
    let q = format!("{EVENT_FIELDS} WHERE IsChild = false AND SystemModstamp > 2029-12-04T00:00:00Z ORDER BY SystemModstamp");
    Mock::given(method("GET"))
        .and(path(format!("{API}/query")))
        .and(query_param("q", q.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("events_changed.json")))
        .expect(1)
        .mount(&org.instance)
        .await;
    let c = org.connector();
    let p = c.list("events", Some(since()), None).await.unwrap();
    assert_eq!(p.next, None);
    assert_eq!(p.records.len(), 1);
    assert_eq!(p.records[0].id, "00UKZ00000AbCdE2AM");
    assert_eq!(
        p.records[0].data["Subject"],
        "Contract review, Müller GmbH (moved)"
    );
    assert_eq!(
        p.records[0].modified.unwrap().to_rfc3339(),
        "2029-12-05T16:42:10+00:00"
    );
    assert_eq!(c.calls(), 2);
}

/// Deletions: sObject Get Deleted with start (the watermark) and end (now), ISO 8601 offsets.
#[tokio::test]
async fn get_deleted_is_the_deletion_feed() {
    let org = Org::start().await;
    org.tokens(0).await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/sobjects/Event/deleted/")))
        .and(query_param("start", "2029-12-04T00:00:00+00:00"))
        .and(|r: &wiremock::Request| {
            r.url
                .query_pairs()
                .any(|(k, v)| k == "end" && v.ends_with("+00:00"))
        })
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("events_deleted.json")))
        .expect(1)
        .mount(&org.instance)
        .await;
    let c = org.connector();
    let p = c.list_deleted("events", Some(since()), None).await.unwrap();
    assert_eq!(p.records.len(), 1);
    assert_eq!(p.records[0].id, "00UKZ00000AbCdH2AM");
    assert_eq!(
        p.records[0].modified.unwrap().to_rfc3339(),
        "2029-12-06T07:30:00+00:00"
    );
    assert_eq!(p.next, None);
    assert_eq!(c.calls(), 2);
}

/// A refused create: 400 with Salesforce's error array → `Invalid` with its message.
#[tokio::test]
async fn validation_error_on_create_is_invalid_with_the_message() {
    let org = Org::start().await;
    org.tokens(0).await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/sobjects/Event")))
        .and(body_json(
            json!({"Subject": "No end", "StartDateTime": "2030-01-15T14:00:00Z"}),
        ))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(fixture("error_required_field.json")),
        )
        .expect(1)
        .mount(&org.instance)
        .await;
    let c = org.connector();
    let err = c
        .create(
            "events",
            &json!({"Subject": "No end", "StartDateTime": "2030-01-15T14:00:00Z"}),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Invalid {
            message: "Required fields are missing: [EndDateTime]".into()
        }
    );
    assert_eq!(c.calls(), 2);
}

/// A create answers {"id","success"}: the record is read back by Id.
#[tokio::test]
async fn create_reads_the_record_back_by_id() {
    let org = Org::start().await;
    org.tokens(0).await;
    Mock::given(method("POST"))
        .and(path(format!("{API}/sobjects/Event")))
        .respond_with(ResponseTemplate::new(201).set_body_json(fixture("create_ok.json")))
        .expect(1)
        .mount(&org.instance)
        .await;
    let mut page = fixture("events_changed.json");
    page["records"][0]["Id"] = json!("00UKZ00000AbCdJ2AM");
    let q = format!("{EVENT_FIELDS} WHERE Id = '00UKZ00000AbCdJ2AM'");
    Mock::given(method("GET"))
        .and(path(format!("{API}/query")))
        .and(query_param("q", q.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(page))
        .expect(1)
        .mount(&org.instance)
        .await;
    let c = org.connector();
    let r = c.create("events", &json!({"Subject": "x"})).await.unwrap();
    assert_eq!(r.id, "00UKZ00000AbCdJ2AM");
    assert_eq!(r.data["StartDateTime"], "2030-01-16T13:00:00.000+0000");
    // An id that could change the SOQL is refused before any request.
    assert_eq!(c.get("events", "x' OR Id != '").await.unwrap(), None);
    assert_eq!(c.calls(), 3);
}

/// Salesforce sends no 429: an exhausted org allowance is 403 REQUEST_LIMIT_EXCEEDED with
/// `Sforce-Limit-Info` at the limit. It fails at once with `RateLimited` (no retry).
#[tokio::test]
async fn request_limit_exceeded_is_rate_limited_without_retries() {
    let org = Org::start().await;
    org.tokens(0).await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/query")))
        .respond_with(
            ResponseTemplate::new(403)
                .insert_header("Sforce-Limit-Info", "api-usage=15000/15000")
                .set_body_json(fixture("error_request_limit.json")),
        )
        .expect(1)
        .mount(&org.instance)
        .await;
    let c = org.connector();
    let err = c.list("events", None, None).await.unwrap_err();
    assert_eq!(err, ConnectorError::RateLimited { retry_after: None });
    assert_eq!(c.calls(), 2);
}

/// The session expires mid-sync: 401 INVALID_SESSION_ID on page 2 → one refresh → page 2 again.
#[tokio::test]
async fn expired_session_is_refreshed_mid_sync() {
    let org = Org::start().await;
    org.tokens(1).await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/query")))
        .and(header("authorization", T1))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("events_page1.json")))
        .expect(1)
        .mount(&org.instance)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/query/01gRO0000016PIAYA2-2")))
        .and(header("authorization", T1))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(fixture("error_session_expired.json")),
        )
        .expect(1)
        .mount(&org.instance)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/query/01gRO0000016PIAYA2-2")))
        .and(header("authorization", T2))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("events_page2.json")))
        .expect(1)
        .mount(&org.instance)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/query/01gRO0000016PIAYA2-4")))
        .and(header("authorization", T2))
        .respond_with(ResponseTemplate::new(200).set_body_json(fixture("events_page3.json")))
        .expect(1)
        .mount(&org.instance)
        .await;
    let c = org.connector();
    let mut n = 0;
    let mut page = None;
    loop {
        let p = c.list("events", None, page).await.unwrap();
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

/// A token answer naming a host outside base_url_hosts is refused (no SSRF via instance_url).
#[tokio::test]
async fn instance_url_outside_the_allowed_hosts_is_refused() {
    let org = Org::start().await;
    Mock::given(method("POST"))
        .and(path("/services/oauth2/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "x", "instance_url": "https://evil.example", "token_type": "Bearer"
        })))
        .expect(1)
        .mount(&org.login)
        .await;
    let c = org.connector();
    let err = c.list("events", None, None).await.unwrap_err();
    assert!(matches!(err, ConnectorError::Protocol { .. }), "{err:?}");
    assert_eq!(org.instance.received_requests().await.unwrap().len(), 0);
    assert_eq!(c.calls(), 1);
}

fn record(v: Value) -> Record {
    Record {
        id: v["Id"].as_str().unwrap().to_string(),
        modified: v["SystemModstamp"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
            .map(|d| d.with_timezone(&chrono::Utc)),
        data: v,
        version: None,
    }
}

#[test]
fn event_renders_through_the_mapping_and_parses_back() {
    let tz: HashMap<String, String> =
        [("timezone".to_string(), "America/New_York".to_string())].into();
    let m = Mapping::load_with(root("mappings/salesforce/events.toml"), &tz).unwrap();
    let page = fixture("events_page1.json");
    let ics = m.to_component(&record(page["records"][0].clone()));
    for line in [
        "UID:salesforce-events-00UKZ00000AbCdE2AM@crmdav",
        "DTSTAMP:20291202T101500Z",
        "SUMMARY:Contract review\\, Müller GmbH",
        "DTSTART;TZID=America/New_York:20300115T040000",
        "DTEND;TZID=America/New_York:20300115T053000",
        "LOCATION:HQ\\, room 4",
        "TRANSP:OPAQUE",
        "CLASS:PUBLIC",
        "ATTENDEE:mailto:zoe.brandt@mueller.example",
        "ATTENDEE:mailto:jon@firm.example",
        "X-SALESFORCE-WHO-ID:003KZ00000XyZaB2AM",
        "CREATED:20291201T080000Z",
    ] {
        assert!(
            ics.contains(&format!("{line}\r\n")),
            "{line} missing in\n{ics}"
        );
    }
    // All-day: midnight UTC of the first and last day; DTEND is exclusive (one day more).
    let all_day = m.to_component(&record(page["records"][1].clone()));
    assert!(
        all_day.contains("DTSTART;VALUE=DATE:20300203\r\n"),
        "{all_day}"
    );
    assert!(
        all_day.contains("DTEND;VALUE=DATE:20300205\r\n"),
        "{all_day}"
    );
    assert!(all_day.contains("CLASS:PRIVATE\r\n") && all_day.contains("TRANSP:OPAQUE\r\n"));
    let patch = m.to_record(&all_day).unwrap();
    assert_eq!(patch["StartDateTime"], "2030-02-03T00:00:00Z");
    assert_eq!(patch["EndDateTime"], "2030-02-04T00:00:00Z");
    assert_eq!(patch["IsAllDayEvent"], true);
    assert_eq!(patch["IsPrivate"], true);
    assert_eq!(patch["ShowAs"], "Busy");

    // A phone moves the meeting to a Windows-named zone, marks it free; attendees stay read-only.
    let edited = ics
        .replace(
            "DTSTART;TZID=America/New_York:20300115T040000",
            "DTSTART;TZID=Pacific Standard Time:20300116T090000",
        )
        .replace(
            "DTEND;TZID=America/New_York:20300115T053000",
            "DTEND;TZID=Pacific Standard Time:20300116T100000",
        )
        .replace("TRANSP:OPAQUE", "TRANSP:TRANSPARENT");
    let patch = m.to_record(&edited).unwrap();
    assert_eq!(
        patch,
        json!({
            "Subject": "Contract review, Müller GmbH",
            "StartDateTime": "2030-01-16T17:00:00Z",
            "EndDateTime": "2030-01-16T18:00:00Z",
            "Location": "HQ, room 4",
            "Description": "Bring the draft",
            "ShowAs": "Free",
            "IsPrivate": false,
            "WhoId": "003KZ00000XyZaB2AM",
            "IsAllDayEvent": false
        })
    );
}

#[test]
fn contact_renders_through_the_mapping_and_parses_back() {
    let m = Mapping::load(root("mappings/salesforce/contacts.toml")).unwrap();
    let c = record(fixture("contact_query.json")["records"][0].clone());
    let vcf = m.to_component(&c);
    for line in [
        "UID:salesforce-contacts-003KZ00000XyZaB2AM@crmdav",
        "FN:Zoë Brandt",
        "N:Brandt;Zoë;;Ms.;",
        "ORG:Müller GmbH;Purchasing",
        "TITLE:Head of Purchasing",
        "EMAIL;TYPE=INTERNET:zoe.brandt@mueller.example",
        "TEL;TYPE=CELL:+49 171 7654321",
        "TEL;TYPE=FAX:+49 30 1234568",
        "TEL;TYPE=WORK:+49 30 1234567",
        "ADR:;;Hauptstraße 5;Berlin;BE;10115;Germany",
        "BDAY:19840709",
        "NOTE:Prefers calls after 10:00",
        "REV:20291103T120000Z",
    ] {
        assert!(
            vcf.contains(&format!("{line}\r\n")),
            "{line} missing in\n{vcf}"
        );
    }
    let v4 = m.to_vcard(&c, crmdav_crm::mapping::VCardVersion::V4);
    assert!(v4.contains("VERSION:4.0\r\n"));
    let edited = vcf
        .replace("TEL;TYPE=CELL:+49 171 7654321", "TEL;TYPE=HOME:+49 30 999")
        .replace("NOTE:Prefers calls after 10:00\r\n", "");
    let patch = m.to_record(&edited).unwrap();
    assert_eq!(patch["LastName"], "Brandt");
    assert_eq!(patch["Salutation"], "Ms.");
    assert_eq!(patch["MobilePhone"], Value::Null);
    assert_eq!(patch["HomePhone"], "+49 30 999");
    assert_eq!(patch["Phone"], "+49 30 1234567");
    assert_eq!(patch["MailingCity"], "Berlin");
    assert_eq!(patch["Birthdate"], "1984-07-09");
    assert_eq!(patch["Description"], Value::Null);
    assert!(patch.get("Account").is_none(), "ORG is read-only: {patch}");
}

/// Issue 10: the org's users (`[users]`, for linking people by e-mail), a SOQL query on `User`
/// paged through `nextRecordsUrl` (https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_user.htm);
/// `IsActive = false` users are listed as inactive, `UserRoleId` is the team.
#[tokio::test]
async fn users_are_listed_from_soql_with_their_role_as_team() {
    let org = Org::start().await;
    org.tokens(0).await;
    let q = "SELECT Id, Email, Name, IsActive, UserRoleId FROM User WHERE UserType = 'Standard'";
    Mock::given(method("GET"))
        .and(path(format!("{API}/query/0r8xx3ZXUSERS-2000")))
        .and(header("authorization", T1))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "totalSize": 3, "done": true,
            "records": [{"attributes": {"type": "User", "url": format!("{API}/sobjects/User/005xx000001X7ZZAA0")},
                "Id": "005xx000001X7ZZAA0", "Email": "gone@firm.example", "Name": "Gone Away",
                "IsActive": false, "UserRoleId": null}]
        })))
        .expect(1)
        .mount(&org.instance)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{API}/query")))
        .and(query_param("q", q))
        .and(header("authorization", T1))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "totalSize": 3, "done": false,
            "nextRecordsUrl": format!("{API}/query/0r8xx3ZXUSERS-2000"),
            "records": [
                {"attributes": {"type": "User", "url": format!("{API}/sobjects/User/005xx000001X7YYAA0")},
                 "Id": "005xx000001X7YYAA0", "Email": "Alice@Firm.example", "Name": "Alice Ng",
                 "IsActive": true, "UserRoleId": "00Exx000000RoleAAA"},
                {"attributes": {"type": "User", "url": format!("{API}/sobjects/User/005xx000001X7YXAA0")},
                 "Id": "005xx000001X7YXAA0", "Email": "bo@firm.example", "Name": "Bo Lund",
                 "IsActive": true, "UserRoleId": null}
            ]
        })))
        .expect(1)
        .mount(&org.instance)
        .await;
    let c = org.connector();
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
                "005xx000001X7YYAA0",
                Some("Alice@Firm.example"),
                true,
                Some("00Exx000000RoleAAA")
            ),
            ("005xx000001X7YXAA0", Some("bo@firm.example"), true, None),
            ("005xx000001X7ZZAA0", Some("gone@firm.example"), false, None),
        ]
    );
    // The token request, then two query pages.
    assert_eq!(c.calls(), 3);
}
