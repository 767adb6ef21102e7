//! Format features of issue 12 at the engine, in the shapes of common web frameworks' default
//! APIs (Django REST Framework, Rails, Laravel): per-field error messages (`errors.*`), the
//! `error: true` flag never read as a message, and `[[status_overrides]]`.

use crmdav_crm::connector::rest::def::ConnectorDef;
use crmdav_crm::connector::{Connector, ConnectorError, RestConnector};
use serde_json::json;
use std::collections::HashMap;
use wiremock::matchers::{method, path};
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
