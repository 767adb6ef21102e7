//! `connectors/odoo.toml` + `mappings/odoo/*.toml` (a JSON-RPC API expressed in files alone)
//! against the simulated Odoo of `odoo_fake.rs`: events, tasks and contacts read, created,
//! updated and deleted with dates; one login shared by concurrent requests and a new login
//! after the CRM refuses the session; errors inside HTTP 200 answers mapped to outcomes. Every
//! request body is checked and every HTTP call counted.

use super::odoo_fake::{FakeOdoo, DB, LOGIN, PASSWORD, UID};
use crmdav_crm::connector::{Connector, ConnectorError, RestConnector};
use crmdav_crm::mapping::Mapping;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

fn root(p: &str) -> String {
    format!("{}/../../{p}", env!("CARGO_MANIFEST_DIR"))
}

fn connector_with(odoo: &FakeOdoo, password: &str) -> RestConnector {
    let options: HashMap<String, String> = [
        ("base_url", odoo.uri()),
        ("database", DB.to_string()),
        ("username", LOGIN.to_string()),
        ("password", password.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    RestConnector::from_file(root("connectors/odoo.toml"), &options, None).unwrap()
}

fn mapping(entity: &str) -> Mapping {
    let o: HashMap<String, String> = [("timezone".to_string(), "Europe/Berlin".to_string())].into();
    Mapping::load_with(root(&format!("mappings/odoo/{entity}.toml")), &o).unwrap()
}

/// The `execute_kw` arguments of request `body`: (model, method, positional, kwargs).
fn kw(body: &Value) -> (String, String, Value, Value) {
    let args = &body["params"]["args"];
    assert_eq!(body["params"]["service"], "object", "{body}");
    assert_eq!(
        args.as_array().unwrap()[..3],
        [json!(DB), json!(UID), json!(PASSWORD)],
        "db, the uid from the login (an integer) and the password lead every call: {body}"
    );
    (
        args[3].as_str().unwrap().to_string(),
        args[4].as_str().unwrap().to_string(),
        args[5].clone(),
        args.get(6).cloned().unwrap_or(Value::Null),
    )
}

const NEW_EVENT: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//phone//EN\r\nBEGIN:VEVENT\r\nUID:phone-1\r\nDTSTAMP:20261201T080000Z\r\nSUMMARY:Lunch with Zoë\r\nDTSTART;TZID=Europe/Berlin:20261208T123000\r\nDTEND;TZID=Europe/Berlin:20261208T133000\r\nLOCATION:Café Luise\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

#[tokio::test]
async fn events_read_create_update_delete_with_odoo_dates() {
    let odoo = FakeOdoo::start().await;
    let c = connector_with(&odoo, PASSWORD);
    let m = mapping("events");

    // Read: one login, one search_read.
    let page = c.list("events", None, None).await.unwrap();
    assert_eq!(c.calls(), 2);
    assert_eq!(page.next, None, "one short page");
    assert_eq!(page.records.len(), 1);
    let rec = &page.records[0];
    assert_eq!(rec.id, "7");
    assert_eq!(
        rec.modified.map(|t| t.to_rfc3339()),
        Some("2026-12-01T08:01:00+00:00".into()),
        "write_date is naive UTC"
    );
    let ics = m.to_component(rec);
    for line in [
        "SUMMARY:Board meeting\r\n",
        "DTSTART;TZID=Europe/Berlin:20261207T100000\r\n",
        "DTEND;TZID=Europe/Berlin:20261207T113000\r\n",
        "LOCATION:Room 4\r\n",
        "TRANSP:OPAQUE\r\n",
    ] {
        assert!(ics.contains(line), "{line:?} missing from\n{ics}");
    }
    assert!(
        !ics.contains("DESCRIPTION"),
        "`false` is an empty description, not the text false: {ics}"
    );
    let bodies = odoo.bodies().await;
    assert_eq!(bodies[0]["params"]["service"], "common");
    assert_eq!(bodies[0]["params"]["method"], "login");
    assert_eq!(bodies[0]["params"]["args"], json!([DB, LOGIN, PASSWORD]));
    let (model, method, pos, kwargs) = kw(&bodies[1]);
    assert_eq!(
        (model.as_str(), method.as_str()),
        ("calendar.event", "search_read")
    );
    assert_eq!(pos, json!([[]]));
    assert_eq!(
        kwargs["limit"],
        json!(100),
        "paging lives in the body, typed"
    );
    assert_eq!(kwargs["offset"], json!(0));
    assert!(
        odoo.server.received_requests().await.unwrap()[1]
            .url
            .query()
            .is_none(),
        "nothing of the paging goes to the query string"
    );

    // Modified since: the domain carries write_date in Odoo's format.
    let since = "2026-12-01T08:00:30Z".parse().unwrap();
    let changed = c.list("events", Some(since), None).await.unwrap();
    assert_eq!(changed.records.len(), 1);
    let later = "2026-12-01T08:01:00Z".parse().unwrap();
    assert!(c
        .list("events", Some(later), None)
        .await
        .unwrap()
        .records
        .is_empty());
    let bodies = odoo.bodies().await;
    let (_, _, pos, kwargs) = kw(&bodies[2]);
    assert_eq!(pos, json!([[["write_date", ">", "2026-12-01 08:00:30"]]]));
    assert_eq!(kwargs["order"], "write_date");
    assert_eq!(c.calls(), 4, "the session is kept: no second login");

    // Create: the mapped record inside `create`'s positional args, dates as Odoo strings in
    // UTC; the answer is the bare id, so the record is read back.
    let data = m.to_record(NEW_EVENT).unwrap();
    let created = c.create("events", &data).await.unwrap();
    assert_eq!(c.calls(), 6, "create + read back");
    let bodies = odoo.bodies().await;
    let (model, method, pos, _) = kw(&bodies[4]);
    assert_eq!(
        (model.as_str(), method.as_str()),
        ("calendar.event", "create")
    );
    assert_eq!(
        pos,
        json!([{"name": "Lunch with Zoë", "start": "2026-12-08 11:30:00",
                "stop": "2026-12-08 12:30:00", "location": "Café Luise",
                "description": false, "show_as": "busy"}]),
        "cleared fields are written as false"
    );
    let (_, method, pos, _) = kw(&bodies[5]);
    assert_eq!(method, "search_read");
    assert_eq!(pos, json!([[["id", "=", 11]]]), "{{id}} is an integer");
    assert_eq!(created.id, "11");
    assert_eq!(created.data["start"], "2026-12-08 11:30:00");
    let back = m.to_component(&created);
    assert!(
        back.contains("DTSTART;TZID=Europe/Berlin:20261208T123000\r\n"),
        "{back}"
    );

    // Update: `write` with [[id], record], then read back.
    let edited = NEW_EVENT.replace(
        "DTEND;TZID=Europe/Berlin:20261208T133000",
        "DTEND;TZID=Europe/Berlin:20261208T140000",
    );
    let updated = c
        .update(
            "events",
            "11",
            &m.to_record(&edited).unwrap(),
            created.version.as_deref(),
        )
        .await
        .unwrap();
    assert_eq!(c.calls(), 8);
    let bodies = odoo.bodies().await;
    let (_, method, pos, _) = kw(&bodies[6]);
    assert_eq!(method, "write");
    assert_eq!(pos[0], json!([11]));
    assert_eq!(pos[1]["stop"], "2026-12-08 13:00:00");
    assert_eq!(updated.data["stop"], "2026-12-08 13:00:00");
    assert_eq!(
        odoo.record("calendar.event", 11).unwrap()["stop"],
        "2026-12-08 13:00:00"
    );

    // A refused write (Odoo's ValidationError inside a 200) is a refusal with Odoo's message.
    let backwards = NEW_EVENT.replace(
        "DTEND;TZID=Europe/Berlin:20261208T133000",
        "DTEND;TZID=Europe/Berlin:20261208T090000",
    );
    let err = c
        .update("events", "11", &m.to_record(&backwards).unwrap(), None)
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Invalid {
            message: "The ending date and time cannot be earlier than the starting date and time."
                .into()
        }
    );
    assert_eq!(c.calls(), 9, "no read back after a refusal");

    // Delete: `unlink` with [[id]]; a second delete is Odoo's MissingError → not found.
    c.delete("events", "11").await.unwrap();
    let bodies = odoo.bodies().await;
    let (_, method, pos, _) = kw(&bodies[9]);
    assert_eq!((method.as_str(), pos), ("unlink", json!([[11]])));
    assert!(odoo.record("calendar.event", 11).is_none());
    assert!(matches!(
        c.delete("events", "11").await,
        Err(ConnectorError::NotFound { .. })
    ));
    assert_eq!(
        c.get("events", "11").await.unwrap(),
        None,
        "an empty search_read is no record"
    );
    assert_eq!(
        c.get("events", "not-a-number").await.unwrap(),
        None,
        "an id that cannot be an integer is asked of nobody"
    );
    assert_eq!(c.calls(), 12);
    assert_eq!(odoo.state.lock().unwrap().logins, 1);
}

#[tokio::test]
async fn tasks_and_contacts_round_trip() {
    let odoo = FakeOdoo::start().await;
    let c = connector_with(&odoo, PASSWORD);

    // Tasks: DUE from date_deadline, STATUS from state.
    let t = mapping("tasks");
    let tasks = c.list("tasks", None, None).await.unwrap().records;
    assert_eq!(tasks.len(), 1);
    let todo = t.to_component(&tasks[0]);
    assert!(
        todo.contains("DUE;TZID=Europe/Berlin:20261210T170000\r\n"),
        "{todo}"
    );
    assert!(todo.contains("STATUS:NEEDS-ACTION\r\n"), "{todo}");
    let done = todo
        .replace("STATUS:NEEDS-ACTION", "STATUS:COMPLETED")
        .replace(
            "DUE;TZID=Europe/Berlin:20261210T170000",
            "DUE;TZID=Europe/Berlin:20261211T090000",
        );
    let rec = c
        .update("tasks", &tasks[0].id, &t.to_record(&done).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(rec.data["state"], "1_done");
    assert_eq!(rec.data["date_deadline"], "2026-12-11 08:00:00");
    let new_task = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//p//EN\r\nBEGIN:VTODO\r\nUID:t1\r\nDTSTAMP:20261201T080000Z\r\nSUMMARY:Call back\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
    let created = c
        .create("tasks", &t.to_record(new_task).unwrap())
        .await
        .unwrap();
    assert_eq!(
        created.data["date_deadline"], false,
        "no DUE: Odoo's empty value"
    );
    c.delete("tasks", &created.id).await.unwrap();
    // login, list, write + read, create + read, unlink
    assert_eq!(c.calls(), 7);

    // Contacts: people only (the domain leaves the company out), `false` fields absent.
    let p = mapping("contacts");
    let people = c.list("contacts", None, None).await.unwrap().records;
    assert_eq!(people.len(), 1, "{people:?}");
    let card = p.to_vcard(&people[0], crmdav_crm::mapping::VCardVersion::V3);
    for line in [
        "FN:Zoë Brandt\r\n",
        "EMAIL:zoe@acme.example\r\n",
        "TEL;TYPE=WORK:+49 30 1234\r\n",
        "ADR;TYPE=WORK:;;Hauptstraße 5;Berlin;;10115;\r\n",
        "ORG:Acme GmbH\r\n",
        "TITLE:Buyer\r\n",
    ] {
        assert!(card.contains(line), "{line:?} missing from\n{card}");
    }
    assert!(!card.contains("false"), "{card}");
    let bodies = odoo.bodies().await;
    let (model, _, pos, _) = kw(&bodies[7]);
    assert_eq!(model, "res.partner");
    assert_eq!(pos, json!([[["is_company", "=", false]]]));
    let edited = card.replace(
        "TEL;TYPE=WORK:+49 30 1234\r\n",
        "TEL;TYPE=CELL:+49 170 555\r\n",
    );
    let rec = c
        .update(
            "contacts",
            &people[0].id,
            &p.to_record(&edited).unwrap(),
            None,
        )
        .await
        .unwrap();
    assert_eq!(rec.data["mobile"], "+49 170 555");
    assert_eq!(
        rec.data["phone"], false,
        "the removed work phone is cleared with false"
    );
    assert_eq!(rec.data["street"], "Hauptstraße 5");
    let bodies = odoo.bodies().await;
    let (_, method, pos, _) = kw(&bodies[8]);
    assert_eq!(method, "write");
    assert_eq!(pos[1]["phone"], false);
    assert!(
        pos[1].get("commercial_company_name").is_none(),
        "read-only ORG is not written"
    );
    assert_eq!(c.calls(), 10);
    assert_eq!(odoo.state.lock().unwrap().logins, 1);
}

#[tokio::test]
async fn one_login_under_concurrency_and_a_new_one_when_refused() {
    let odoo = FakeOdoo::start().await;
    let c = Arc::new(connector_with(&odoo, PASSWORD));
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let c = c.clone();
        tasks.push(tokio::spawn(
            async move { c.list("events", None, None).await },
        ));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().records.len(), 1);
    }
    assert_eq!(
        odoo.state.lock().unwrap().logins,
        1,
        "one login for six requests"
    );
    assert_eq!(c.calls(), 7);

    // Odoo refuses the session once (AccessDenied in a 200): log in again, retry once.
    odoo.state.lock().unwrap().deny_next = 1;
    assert_eq!(c.list("events", None, None).await.unwrap().records.len(), 1);
    assert_eq!(odoo.state.lock().unwrap().logins, 2);
    assert_eq!(c.calls(), 10, "refused call, login, retried call");

    // Refused again after the new login: the error stands (no loop).
    odoo.state.lock().unwrap().deny_next = 2;
    let err = c.list("events", None, None).await.unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Auth {
            message: "Access Denied".into()
        }
    );
    assert_eq!(c.calls(), 13);

    // A second connector on the same credential shares the session.
    let c2 = connector_with(&odoo, PASSWORD);
    c2.list("tasks", None, None).await.unwrap();
    assert_eq!(c2.calls(), 1, "no login of its own");
}

#[tokio::test]
async fn wrong_password_is_an_auth_failure_after_one_call() {
    let odoo = FakeOdoo::start().await;
    let c = connector_with(&odoo, "Tr0ub4dor-x");
    let err = c.list("events", None, None).await.unwrap_err();
    match err {
        ConnectorError::Auth { message } => {
            assert!(message.contains("refused the login"), "{message}");
            assert!(
                !message.contains("Tr0ub4dor"),
                "the password never shows: {message}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.calls(), 1, "only the login was sent");
    assert_eq!(odoo.bodies().await.len(), 1);
}

#[tokio::test]
async fn a_serialization_failure_is_retried_for_reads_only() {
    let odoo = FakeOdoo::start().await;
    let c = connector_with(&odoo, PASSWORD);
    let conflict = || {
        (
            "psycopg2.errors.SerializationFailure".to_string(),
            "could not serialize access due to concurrent update".to_string(),
        )
    };
    odoo.state.lock().unwrap().fail_next = vec![conflict()];
    assert_eq!(c.list("events", None, None).await.unwrap().records.len(), 1);
    assert_eq!(c.calls(), 3, "login, the refused read, the read again");

    odoo.state.lock().unwrap().fail_next = vec![conflict()];
    let err = c
        .update(
            "events",
            "7",
            &json!({"name": "Board meeting (moved)"}),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ConnectorError::Unavailable { message, .. } if message.contains("could not serialize")),
        "{err:?}"
    );
    assert_eq!(c.calls(), 4, "a write is never repeated blindly");
    assert_eq!(
        odoo.record("calendar.event", 7).unwrap()["name"],
        "Board meeting"
    );
}
