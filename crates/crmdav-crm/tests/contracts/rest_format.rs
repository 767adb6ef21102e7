//! Format features of issue 12 at the engine, in the shapes of common web frameworks' default
//! APIs (Django REST Framework, Rails, Laravel): per-field error messages (`errors.*`), the
//! `error: true` flag never read as a message, `[[status_overrides]]`, fallback chains and
//! value tables inside structured properties.

use crmdav_crm::connector::rest::def::ConnectorDef;
use crmdav_crm::connector::{Connector, ConnectorError, RestConnector};
use crmdav_crm::mapping::{Mapping, VCardVersion};
use serde_json::json;
use std::collections::HashMap;
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn build(toml: &str, s: &MockServer) -> RestConnector {
    let vars: HashMap<String, String> = [("base".to_string(), s.uri())].into();
    RestConnector::new(ConnectorDef::from_toml_str(toml, &vars).unwrap(), None).unwrap()
}

const CONTACTS: &str = r#"
name = "t"
base_url = "${base}"
[entities.contacts]
records_path = ""
list = { path = "/contacts" }
create = { method = "POST", path = "/contacts" }
"#;

async fn refused_create(toml: &str, status: u16, body: serde_json::Value) -> ConnectorError {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/contacts"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .expect(1)
        .mount(&s)
        .await;
    let c = build(toml, &s);
    let e = c
        .create("contacts", &json!({"first_name": "Ada"}))
        .await
        .unwrap_err();
    assert_eq!(c.calls(), 1);
    e
}

#[tokio::test]
async fn per_field_errors_keep_the_field_name() {
    // The unseen CRM: a boolean flag next to messages under a key per field. The default
    // paths skip `error: true` and find `errors.*`.
    let e = refused_create(
        CONTACTS,
        400,
        json!({"error": true, "errors": {"last_name": ["may not be empty"]}}),
    )
    .await;
    assert_eq!(
        e,
        ConnectorError::Invalid {
            message: "last_name: may not be empty".into()
        }
    );
    assert!(!e.to_string().ends_with("true"), "{e}");

    // Rails: `render json: {errors: record.errors}, status: 422`, several fields.
    let e = refused_create(
        CONTACTS,
        422,
        json!({"errors": {"email": ["is invalid", "has already been taken"], "last_name": ["can't be blank"]}}),
    )
    .await;
    assert_eq!(
        e,
        ConnectorError::Invalid {
            message: "email: is invalid, has already been taken; last_name: can't be blank".into()
        }
    );

    // Django REST Framework: the fields are the body itself; `*` reads the whole body.
    let drf = CONTACTS.replace(
        "name = \"t\"",
        "name = \"t\"\nerror_message_paths = [\"detail\", \"non_field_errors\", \"*\"]",
    );
    let e = refused_create(
        &drf,
        400,
        json!({"last_name": ["This field may not be blank."]}),
    )
    .await;
    assert_eq!(
        e,
        ConnectorError::Invalid {
            message: "last_name: This field may not be blank.".into()
        }
    );

    // Laravel: a summary `message` first, the per-field `errors` when asked for.
    let laravel = CONTACTS.replace(
        "name = \"t\"",
        "name = \"t\"\nerror_message_paths = [\"errors.*\", \"message\"]",
    );
    let e = refused_create(
        &laravel,
        422,
        json!({"message": "The last name field is required.", "errors": {"last_name": ["The last name field is required."]}}),
    )
    .await;
    assert_eq!(
        e,
        ConnectorError::Invalid {
            message: "last_name: The last name field is required.".into()
        }
    );
    // A bare flag is no message: the status stands in.
    let e = refused_create(CONTACTS, 400, json!({"error": true})).await;
    assert_eq!(
        e,
        ConnectorError::Invalid {
            message: "HTTP 400".into()
        }
    );
}

const OVERRIDES: &str = r#"
name = "t"
base_url = "${base}"
[[status_overrides]]
status = 403
message_contains = "token"
means = "auth"
[[status_overrides]]
status = 400
message_contains = "already exists"
means = "conflict"
[entities.contacts]
records_path = ""
list = { path = "/contacts" }
create = { method = "POST", path = "/contacts" }
"#;

#[tokio::test]
async fn status_overrides_pick_the_meaning() {
    // A bad token answered 403: an auth failure (so `crmdav check` says the credentials were
    // refused), with exactly one call.
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/contacts"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_json(json!({"error": true, "message": "Invalid token"})),
        )
        .expect(1)
        .mount(&s)
        .await;
    let c = build(OVERRIDES, &s);
    let e = c.list("contacts", None, None).await.unwrap_err();
    assert_eq!(
        e,
        ConnectorError::Auth {
            message: "Invalid token".into()
        }
    );
    assert_eq!(c.calls(), 1);

    // A duplicate answered 400 "already exists": a conflict (409 at the phone).
    let e = refused_create(
        OVERRIDES,
        400,
        json!({"error": true, "message": "A contact with this e-mail already exists"}),
    )
    .await;
    assert!(matches!(e, ConnectorError::Conflict { .. }), "{e:?}");
    // Other 400s and 403s keep their usual meaning.
    let e = refused_create(OVERRIDES, 400, json!({"message": "bad date"})).await;
    assert!(matches!(e, ConnectorError::Invalid { .. }), "{e:?}");
    let e = refused_create(OVERRIDES, 403, json!({"message": "read-only role"})).await;
    assert!(matches!(e, ConnectorError::Forbidden { .. }), "{e:?}");
}

/// A Laravel-style contacts API: `last_name` is required, the country an ISO code.
const LARAVEL_CONTACTS: &str = r#"
name = "t"
base_url = "${base}"
error_message_paths = ["errors.*", "message"]
[entities.contacts]
records_path = "data"
record_path = "data"
list = { path = "/api/contacts" }
get = { path = "/api/contacts/{id}" }
create = { method = "POST", path = "/api/contacts" }
"#;

const CONTACT_MAPPING: &str = r#"
component = "VCARD"
[[field]]
property = "N"
type = "structured"
parts = ["last_name", "first_name", "", "prefix", ""]
part_fallback = { last_name = ["ORG", "FN"] }
part_values = { prefix = { mr = "Mr.", ms = "Ms.", dr = "Dr." } }
[[field]]
property = "ORG"
path = "company"
[[field]]
property = "ADR"
type = "structured"
parts = ["", "", "street", "city", "", "zip", "country"]
part_values = { country = { DE = "Germany", FR = "France", GB = "United Kingdom" } }
"#;

fn contact_mapping() -> Mapping {
    Mapping::from_toml_str(
        CONTACT_MAPPING,
        &HashMap::new(),
        Some("t".into()),
        Some("contacts".into()),
    )
    .unwrap()
}

fn vcard(lines: &[&str]) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\n{}\r\nEND:VCARD\r\n",
        lines.join("\r\n")
    )
}

#[tokio::test]
async fn fallback_chain_fills_a_required_last_name() {
    let s = MockServer::start().await;
    // The CRM refuses a contact without a last name; the mapping never sends one.
    Mock::given(method("POST"))
        .and(path("/api/contacts"))
        .and(body_partial_json(
            json!({"last_name": "Acme GmbH", "first_name": null}),
        ))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"data": {"id": 1, "last_name": "Acme GmbH"}})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/contacts"))
        .and(body_partial_json(json!({"last_name": "Ada Lovelace"})))
        .respond_with(
            ResponseTemplate::new(201)
                .set_body_json(json!({"data": {"id": 2, "last_name": "Ada Lovelace"}})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/contacts"))
        .and(body_partial_json(
            json!({"last_name": "Lovelace", "first_name": "Ada"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"data": {"id": 3}})))
        .expect(1)
        .mount(&s)
        .await;
    let c = build(LARAVEL_CONTACTS, &s);
    let m = contact_mapping();
    // No family name: the company.
    let body = m
        .to_record(&vcard(&["FN:Acme GmbH", "N:;;;;", "ORG:Acme GmbH"]))
        .unwrap();
    assert_eq!(c.create("contacts", &body).await.unwrap().id, "1");
    // No N at all and no company: the full name.
    let body = m.to_record(&vcard(&["FN:Ada Lovelace"])).unwrap();
    assert_eq!(body["last_name"], json!("Ada Lovelace"));
    assert_eq!(body["company"], json!(null));
    assert_eq!(c.create("contacts", &body).await.unwrap().id, "2");
    // A family name of its own wins.
    let body = m
        .to_record(&vcard(&[
            "FN:Ada Lovelace",
            "N:Lovelace;Ada;;;",
            "ORG:Acme GmbH",
        ]))
        .unwrap();
    assert_eq!(c.create("contacts", &body).await.unwrap().id, "3");
    assert_eq!(c.calls(), 3);
}

#[tokio::test]
async fn value_tables_inside_adr_and_n_both_ways() {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/contacts/7"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": {
            "id": 7, "last_name": "Curie", "first_name": "Marie", "prefix": "dr",
            "street": "1 Rue Pierre", "city": "Paris", "zip": "75005", "country": "FR"
        }})))
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/contacts"))
        .and(body_partial_json(
            json!({"country": "DE", "prefix": "mr", "city": "Berlin"}),
        ))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"data": {"id": 8}})))
        .expect(1)
        .mount(&s)
        .await;
    let c = build(LARAVEL_CONTACTS, &s);
    let m = contact_mapping();
    let rec = c.get("contacts", "7").await.unwrap().unwrap();
    let card = m.to_vcard(&rec, VCardVersion::V3);
    assert!(card.contains("N:Curie;Marie;;Dr.;"), "{card}");
    assert!(
        card.contains("ADR:;;1 Rue Pierre;Paris;;75005;France"),
        "{card}"
    );

    // The phone writes names; the CRM gets codes (any case). Unknown values pass through.
    let body = m
        .to_record(&vcard(&[
            "FN:Max Mustermann",
            "N:Mustermann;Max;;MR.;",
            "ADR;TYPE=WORK:;;Hauptstr. 1;Berlin;;10115;germany",
        ]))
        .unwrap();
    assert_eq!(body["country"], json!("DE"));
    assert_eq!(body["prefix"], json!("mr"));
    assert_eq!(c.create("contacts", &body).await.unwrap().id, "8");
    let body = m
        .to_record(&vcard(&["FN:X", "N:X;;;;", "ADR:;;;;;;Atlantis"]))
        .unwrap();
    assert_eq!(body["country"], json!("Atlantis"));
    assert_eq!(c.calls(), 2);
}

/// A Django REST Framework events API: a start and a length (in seconds here; the same
/// mapping with `unit = "minutes"` or `format = "iso8601"` for CRMs that keep those).
const DRF_EVENTS: &str = r#"
name = "t"
base_url = "${base}"
[entities.events]
records_path = "results"
record_path = ""
list = { path = "/api/events/" }
get = { path = "/api/events/{id}/" }
create = { method = "POST", path = "/api/events/" }
"#;

const EVENT_MAPPING: &str = r#"
component = "VEVENT"
timezone = "UTC"
[[field]]
property = "SUMMARY"
path = "title"
[[field]]
property = "DTSTART"
path = "start"
type = "datetime"
write_format = "rfc3339"
[[field]]
property = "DURATION"
path = "length_s"
type = "duration"
unit = "seconds"
"#;

#[tokio::test]
async fn durations_in_seconds_minutes_and_iso_8601_both_ways() {
    let shape = |from: &str, to: &str| {
        Mapping::from_toml_str(
            &EVENT_MAPPING.replace(from, to),
            &HashMap::new(),
            Some("t".into()),
            Some("events".into()),
        )
        .unwrap()
    };
    let m = shape("", "");
    let minutes = shape("unit = \"seconds\"", "unit = \"minutes\"");
    let iso = shape("unit = \"seconds\"", "format = \"iso8601\"");
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/events/4/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 4, "title": "Review", "start": "2026-03-02T09:00:00Z", "length_s": 5400
        })))
        .expect(1)
        .mount(&s)
        .await;
    // DTEND − DTSTART written as seconds, minutes and ISO 8601 at once.
    Mock::given(method("POST"))
        .and(path("/api/events/"))
        .and(body_partial_json(json!({
            "start": "2026-03-02T09:00:00Z", "length_s": 2700
        })))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": 5})))
        .expect(1)
        .mount(&s)
        .await;
    let c = build(DRF_EVENTS, &s);
    let rec = c.get("events", "4").await.unwrap().unwrap();
    let ics = m.to_component(&rec);
    assert!(ics.contains("DURATION:PT1H30M"), "{ics}");

    let body = m
        .to_record(
            "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nSUMMARY:Call\r\nDTSTART:20260302T090000Z\r\nDTEND:20260302T094500Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        )
        .unwrap();
    assert_eq!(c.create("events", &body).await.unwrap().id, "5");

    // DTEND in the other shapes; a DURATION sent by the phone, in each shape.
    let dtend = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260302T090000Z\r\nDTEND:20260302T094500Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_eq!(minutes.to_record(dtend).unwrap()["length_s"], json!(45));
    assert_eq!(iso.to_record(dtend).unwrap()["length_s"], json!("PT45M"));
    let dur = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20260302T090000Z\r\nDURATION:PT1H30S\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    assert_eq!(m.to_record(dur).unwrap()["length_s"], json!(3630));
    assert_eq!(minutes.to_record(dur).unwrap()["length_s"], json!(60.5));
    assert_eq!(iso.to_record(dur).unwrap()["length_s"], json!("PT1H30S"));
    // Read back: minutes as a number or a string, ISO 8601 as text.
    let rec = |v: serde_json::Value| crmdav_crm::record::Record {
        id: "9".into(),
        data: json!({"id": 9, "start": "2026-03-02T09:00:00Z", "length_s": v}),
        modified: None,
        version: None,
    };
    assert!(minutes
        .to_component(&rec(json!("90")))
        .contains("DURATION:PT1H30M"));
    assert!(iso
        .to_component(&rec(json!("P1DT2H")))
        .contains("DURATION:P1DT2H"));
    assert_eq!(c.calls(), 2);
}

/// A Rails contacts API wants `kind` and `source` on every create, beside the mapped record.
const RAILS_CONSTANTS: &str = r#"
name = "t"
base_url = "${base}"
[entities.contacts]
records_path = ""
body_wrap = "contact"
record_path = ""
list = { path = "/contacts.json" }
create = { method = "POST", path = "/contacts.json", constants = { kind = "person", source = "crmdav", "owner.id" = 3 } }
update = { method = "PATCH", path = "/contacts/{id}.json" }
"#;

#[tokio::test]
async fn constants_are_merged_into_create_bodies() {
    let s = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/contacts.json"))
        .and(wiremock::matchers::body_json(json!({"contact": {
            "last_name": "Lovelace", "kind": "person", "source": "phone", "owner": {"id": 3}
        }})))
        .respond_with(
            ResponseTemplate::new(201).set_body_json(json!({"id": 11, "last_name": "Lovelace"})),
        )
        .expect(1)
        .mount(&s)
        .await;
    Mock::given(method("PATCH"))
        .and(path("/contacts/11.json"))
        .and(wiremock::matchers::body_json(
            json!({"contact": {"last_name": "Byron"}}),
        ))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 11, "last_name": "Byron"})),
        )
        .expect(1)
        .mount(&s)
        .await;
    let c = build(RAILS_CONSTANTS, &s);
    // The record stays; the constants join it; a value the mapping wrote wins.
    let r = c
        .create(
            "contacts",
            &json!({"last_name": "Lovelace", "source": "phone"}),
        )
        .await
        .unwrap();
    assert_eq!(r.id, "11");
    // Constants belong to the endpoint that names them: the update goes without.
    c.update("contacts", "11", &json!({"last_name": "Byron"}), None)
        .await
        .unwrap();
    assert_eq!(c.calls(), 2);
}
