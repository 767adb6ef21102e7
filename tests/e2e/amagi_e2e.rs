//! End to end against a real amagi-crm 0.1.0: the `rest` engine driven by
//! `connectors/amagi-crm.toml` and the mappings in `mappings/amagi-crm/`.
//! Needs Python >= 3.10 with pip and PyPI on the first run; fails loudly without them.

use crate::support::amagi::{Amagi, TIMEZONE};
use crmdav::connector::{Connector, ConnectorError, DeleteStyle, Record, RestConnector};
use crmdav::mapping::{Mapping, VCardVersion};
use serde_json::{json, Value};
use std::collections::HashMap;

fn repo(p: &str) -> String {
    format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))
}

fn options(crm: &Amagi, token: &str) -> HashMap<String, String> {
    [
        ("base_url".to_string(), crm.api.clone()),
        ("token".to_string(), token.to_string()),
        ("timezone".to_string(), TIMEZONE.to_string()),
    ]
    .into()
}

fn mapping(entity: &str) -> Mapping {
    let opts: HashMap<String, String> = [("timezone".to_string(), TIMEZONE.to_string())].into();
    Mapping::load_with(repo(&format!("mappings/amagi-crm/{entity}.toml")), &opts)
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn list_all(c: &RestConnector, entity: &str) -> Vec<Record> {
    let mut out = Vec::new();
    let mut page = None;
    loop {
        let p = c
            .list(entity, None, page)
            .await
            .unwrap_or_else(|e| panic!("list {entity}: {e}"));
        out.extend(p.records);
        match p.next {
            Some(n) => page = Some(n),
            None => return out,
        }
    }
}

fn event(uid: &str, props: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//iOS 18//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20300101T000000Z\r\n{props}BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:x\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

fn by_title<'a>(records: &'a [Record], title: &str) -> &'a Record {
    records
        .iter()
        .find(|r| r.data["title"] == title)
        .unwrap_or_else(|| panic!("no record titled {title:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amagi_crm_through_the_engine_and_mappings() {
    let crm = Amagi::start().await;
    let tok = crm.token.clone();

    // ---- seed through the CRM's own API --------------------------------------------------
    let zoe = crm
        .call(&tok, "POST", "/contacts", Some(json!({
            "first_name": "Zoë", "last_name": "Müller-Lüdenscheidt", "email": "zoe.mueller@example.de",
            "phone": "+49 30 901820", "company": "Bäckerei Müller GmbH", "tags": ["client", "de"],
            "notes": "Comma, semicolon; backslash \\ test\nline 2"})))
        .await;
    let zoe_id = zoe["id"].as_i64().expect("id");
    crm.call(
        &tok,
        "POST",
        "/contacts",
        Some(json!({"company": "ACME Corp (no person)", "email": "info@acme.example"})),
    )
    .await;
    crm.call(
        &tok,
        "POST",
        "/contacts",
        Some(json!({"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com"})),
    )
    .await;
    for (title, start, end) in [
        (
            "Kaffee mit Zoë ☕",
            "2030-01-15T10:00:00+01:00",
            "2030-01-15T11:00:00+01:00",
        ),
        (
            "Conference (3 days)",
            "2030-02-04T00:00:00+01:00",
            "2030-02-07T00:00:00+01:00",
        ),
        (
            "Night shift across spring DST change",
            "2030-03-30T22:00:00",
            "2030-03-31T04:00:00",
        ),
        (
            "Night shift across autumn DST change",
            "2030-10-27T01:30:00+02:00",
            "2030-10-27T03:30:00+01:00",
        ),
    ] {
        let mut body = json!({"title": title, "start": start, "end": end});
        if title.starts_with("Kaffee") {
            body["contact_id"] = json!(zoe_id);
            body["location"] = json!("Bäckerei Müller");
        }
        crm.call(&tok, "POST", "/appointments", Some(body)).await;
    }
    let t = crm
        .call(
            &tok,
            "POST",
            "/tasks",
            Some(
                json!({"title": "Prepare slides", "due_date": "2030-12-24", "contact_id": zoe_id}),
            ),
        )
        .await;
    crm.call(
        &tok,
        "PATCH",
        &format!("/tasks/{}", t["id"]),
        Some(json!({"done": true})),
    )
    .await;
    crm.call(
        &tok,
        "POST",
        "/tasks",
        Some(json!({"title": "No due date task"})),
    )
    .await;

    // ---- the engine -------------------------------------------------------------------
    let c = RestConnector::from_file(
        repo("connectors/amagi-crm.toml"),
        &options(&crm, &tok),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let caps = c.capabilities("appointments");
    assert!(!caps.modified_since && !caps.get, "{caps:?}");
    assert_eq!(caps.delete, DeleteStyle::StatusChange);
    assert!(c.capabilities("contacts").get);
    assert_eq!(c.capabilities("tasks").delete, DeleteStyle::Delete);

    // Lists.
    let calls0 = c.calls();
    let contacts = list_all(&c, "contacts").await;
    assert_eq!(c.calls() - calls0, 1, "one page of contacts, one call");
    assert_eq!(contacts.len(), 3);
    let z = contacts
        .iter()
        .find(|r| r.id == zoe_id.to_string())
        .expect("Zoë listed");
    assert_eq!(z.data["company"], "Bäckerei Müller GmbH");
    assert!(z.modified.is_some(), "contacts carry updated_at");
    let appts = list_all(&c, "appointments").await;
    assert_eq!(appts.len(), 4);
    assert!(appts.iter().all(|r| r.modified.is_none()));
    let spring = by_title(&appts, "Night shift across spring DST change");
    assert_eq!(spring.data["start"], "2030-03-30T22:00:00+01:00");
    assert_eq!(spring.data["end"], "2030-03-31T04:00:00+02:00");
    let tasks = list_all(&c, "tasks").await;
    assert_eq!(tasks.len(), 2);
    assert_eq!(by_title(&tasks, "Prepare slides").data["done"], true);

    // Render through the mappings and read back.
    let am = mapping("appointments");
    let ics = am.to_component(spring);
    assert!(
        ics.contains("DTSTART;TZID=Europe/Berlin:20300330T220000\r\n"),
        "{ics}"
    );
    assert!(
        ics.contains("DTEND;TZID=Europe/Berlin:20300331T040000\r\n"),
        "{ics}"
    );
    assert!(
        ics.contains("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"),
        "{ics}"
    );
    assert!(ics.contains(&format!("UID:amagi-crm-appointments-{}@crmdav", spring.id)));
    let back = am.to_record(&ics).unwrap();
    assert_eq!(back["start"], "2030-03-30T22:00:00+01:00");
    assert_eq!(back["end"], "2030-03-31T04:00:00+02:00");
    let autumn = am.to_component(by_title(&appts, "Night shift across autumn DST change"));
    assert!(
        autumn.contains("DTSTART;TZID=Europe/Berlin:20301027T013000\r\n"),
        "{autumn}"
    );
    assert!(
        autumn.contains("DTEND;TZID=Europe/Berlin:20301027T033000\r\n"),
        "{autumn}"
    );
    let conf = am.to_component(by_title(&appts, "Conference (3 days)"));
    assert!(
        conf.contains("DTSTART;VALUE=DATE:20300204\r\nDTEND;VALUE=DATE:20300207\r\n"),
        "{conf}"
    );
    let kaffee = by_title(&appts, "Kaffee mit Zoë ☕");
    let k = am.to_component(kaffee);
    assert!(
        k.contains("SUMMARY:Kaffee mit Zoë ☕\r\n") && k.contains("STATUS:CONFIRMED\r\n"),
        "{k}"
    );
    assert!(
        k.contains(&format!("X-AMAGI-CONTACT-ID:{zoe_id}\r\n")),
        "{k}"
    );

    let cm = mapping("contacts");
    let card = cm.to_component(z);
    assert!(card.contains("FN:Zoë Müller-Lüdenscheidt\r\n"), "{card}");
    assert!(
        card.contains("NOTE:Comma\\, semicolon\\; backslash \\\\ test\\nline 2\r\n"),
        "{card}"
    );
    let card4 = cm.to_vcard(z, VCardVersion::V4);
    assert!(card4.contains("VERSION:4.0\r\n"));
    let back = cm.to_record(&card).unwrap();
    for k in [
        "first_name",
        "last_name",
        "email",
        "phone",
        "company",
        "tags",
        "notes",
    ] {
        assert_eq!(back[k], z.data[k], "{k} round trip");
    }
    let acme = contacts
        .iter()
        .find(|r| r.data["first_name"].is_null() && r.data["last_name"].is_null())
        .expect("company-only");
    assert!(cm
        .to_component(acme)
        .contains("FN:ACME Corp (no person)\r\n"));

    let tm = mapping("tasks");
    let todo = tm.to_component(by_title(&tasks, "Prepare slides"));
    assert!(
        todo.contains("DUE;VALUE=DATE:20301224\r\n") && todo.contains("STATUS:COMPLETED\r\n"),
        "{todo}"
    );

    // ---- writes: create, update, overlap, invalid, cancel ---------------------------------
    let phone = event(
        "E5A1-PHONE",
        "SUMMARY:Board meeting\\, Q1\r\nDTSTART;TZID=W. Europe Standard Time:20300220T090000\r\nDTEND;TZID=W. Europe Standard Time:20300220T103000\r\nLOCATION:HQ\\; Room 3\r\nDESCRIPTION:Agenda:\\n1. Numbers\r\n",
    );
    let patch = am.to_record(&phone).unwrap();
    let created = c
        .create("appointments", &patch)
        .await
        .unwrap_or_else(|e| panic!("create: {e}"));
    assert_eq!(created.data["start"], "2030-02-20T09:00:00+01:00");
    let listed = crm
        .call(
            &tok,
            "GET",
            "/appointments?start=2030-02-20&end=2030-02-21",
            None,
        )
        .await;
    let listed = listed.as_array().expect("array");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0]["id"].as_i64().map(|i| i.to_string()),
        Some(created.id.clone())
    );
    assert_eq!(listed[0]["title"], "Board meeting, Q1");
    assert_eq!(listed[0]["location"], "HQ; Room 3");
    assert_eq!(listed[0]["notes"], "Agenda:\n1. Numbers");
    assert_eq!(listed[0]["end"], "2030-02-20T10:30:00+01:00");
    assert_eq!(listed[0]["status"], "booked");

    // Move it by an hour (the phone sends UTC this time).
    let moved = event(
        "E5A1-PHONE",
        "SUMMARY:Board meeting\\, Q1 (moved)\r\nDTSTART:20300220T090000Z\r\nDTEND:20300220T103000Z\r\nLOCATION:HQ\\; Room 3\r\n",
    );
    let upd = c
        .update(
            "appointments",
            &created.id,
            &am.to_record(&moved).unwrap(),
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("update: {e}"));
    assert_eq!(upd.data["start"], "2030-02-20T10:00:00+01:00");
    let listed = crm
        .call(
            &tok,
            "GET",
            "/appointments?start=2030-02-20&end=2030-02-21",
            None,
        )
        .await;
    assert_eq!(listed[0]["title"], "Board meeting, Q1 (moved)");
    assert_eq!(listed[0]["end"], "2030-02-20T11:30:00+01:00");
    assert_eq!(
        listed[0]["notes"],
        Value::Null,
        "DESCRIPTION removed on the phone clears the notes"
    );

    // An overlapping booking: Conflict with the CRM's message, nothing written.
    let clash = event("CLASH", "SUMMARY:clash\r\nDTSTART;TZID=Europe/Berlin:20300220T110000\r\nDTEND;TZID=Europe/Berlin:20300220T120000\r\n");
    let err = c
        .create("appointments", &am.to_record(&clash).unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        ConnectorError::Conflict {
            message: "that time overlaps another booked appointment".into()
        }
    );
    // A timed meeting inside the all-day conference clashes too.
    let inside = event("IN", "SUMMARY:inside\r\nDTSTART;TZID=Europe/Berlin:20300205T100000\r\nDTEND;TZID=Europe/Berlin:20300205T110000\r\n");
    assert!(matches!(
        c.create("appointments", &am.to_record(&inside).unwrap())
            .await,
        Err(ConnectorError::Conflict { .. })
    ));
    // Invalid data: the CRM's own words.
    let backwards = event("BW", "SUMMARY:backwards\r\nDTSTART;TZID=Europe/Berlin:20300301T110000\r\nDTEND;TZID=Europe/Berlin:20300301T100000\r\n");
    assert_eq!(
        c.create("appointments", &am.to_record(&backwards).unwrap())
            .await
            .unwrap_err(),
        ConnectorError::Invalid {
            message: "end must be after start".into()
        }
    );
    let n = crm
        .call(&tok, "GET", "/appointments?include_cancelled=true", None)
        .await;
    assert_eq!(
        n.as_array().map(Vec::len),
        Some(5),
        "refused writes left nothing behind"
    );

    // An all-day event from a phone: DATE values become local midnights.
    let allday = event(
        "AD",
        "SUMMARY:Holiday\r\nDTSTART;VALUE=DATE:20300415\r\nDTEND;VALUE=DATE:20300416\r\n",
    );
    let hol = c
        .create("appointments", &am.to_record(&allday).unwrap())
        .await
        .unwrap();
    assert_eq!(hol.data["start"], "2030-04-15T00:00:00+02:00");
    assert_eq!(hol.data["end"], "2030-04-16T00:00:00+02:00");
    assert!(am
        .to_component(&hol)
        .contains("DTSTART;VALUE=DATE:20300415\r\n"));

    // Delete → cancel; the record stays, CANCELLED.
    c.delete("appointments", &created.id)
        .await
        .unwrap_or_else(|e| panic!("cancel: {e}"));
    let all = crm
        .call(
            &tok,
            "GET",
            "/appointments?start=2030-02-20&end=2030-02-21&include_cancelled=true",
            None,
        )
        .await;
    assert_eq!(all[0]["status"], "cancelled");
    let got = c
        .get("appointments", &created.id)
        .await
        .unwrap()
        .expect("found by scanning the list");
    assert!(am.to_component(&got).contains("STATUS:CANCELLED\r\n"));
    // The slot is free again.
    c.create("appointments", &am.to_record(&clash).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    // Contacts: create and edit from vCards, verify through the API.
    let vcard = "BEGIN:VCARD\r\nVERSION:3.0\r\nN:Hopper;Grace;;;\r\nFN:Grace Hopper\r\nORG:US Navy\r\nitem1.EMAIL;type=INTERNET;type=pref:grace@example.com\r\nTEL;type=CELL;type=VOICE:+1 202 555 0103\r\nCATEGORIES:partner,vip\r\nEND:VCARD\r\n";
    let g = c
        .create("contacts", &cm.to_record(vcard).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let api = crm
        .call(&tok, "GET", &format!("/contacts/{}", g.id), None)
        .await;
    assert_eq!(api["first_name"], "Grace");
    assert_eq!(api["company"], "US Navy");
    assert_eq!(api["phone"], "+1 202 555 0103");
    assert_eq!(api["tags"], json!(["partner", "vip"]));
    let edited = vcard
        .replace("ORG:US Navy\r\n", "")
        .replace("partner,vip", "vip");
    c.update("contacts", &g.id, &cm.to_record(&edited).unwrap(), None)
        .await
        .unwrap();
    let api = crm
        .call(&tok, "GET", &format!("/contacts/{}", g.id), None)
        .await;
    assert_eq!(api["company"], Value::Null);
    assert_eq!(api["tags"], json!(["vip"]));
    let fetched = c.get("contacts", &g.id).await.unwrap().expect("single GET");
    assert_eq!(fetched.data["email"], "grace@example.com");
    assert_eq!(c.get("contacts", "99999").await.unwrap(), None);
    let dup = c
        .create("contacts", &cm.to_record(vcard).unwrap())
        .await
        .unwrap_err();
    assert_eq!(
        dup,
        ConnectorError::Conflict {
            message: "a contact with that email already exists".into()
        }
    );
    c.delete("contacts", &g.id).await.unwrap();
    let (status, _) = crm
        .try_call(&tok, "GET", &format!("/contacts/{}", g.id), None)
        .await;
    assert_eq!(status, 404);

    // Tasks from a VTODO.
    let vtodo = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nUID:t1\r\nSUMMARY:Call back\r\nDUE;VALUE=DATE:20301201\r\nSTATUS:NEEDS-ACTION\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";
    let task = c
        .create("tasks", &tm.to_record(vtodo).unwrap())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(task.data["due_date"], "2030-12-01");
    assert_eq!(task.data["done"], false);
    let done = vtodo.replace("NEEDS-ACTION", "COMPLETED");
    let task = c
        .update("tasks", &task.id, &tm.to_record(&done).unwrap(), None)
        .await
        .unwrap();
    assert_eq!(task.data["done"], true);
    assert!(task.data["completed_at"].is_string());

    // A read-only user's token: Forbidden with the CRM's message.
    let ro = RestConnector::from_file(
        repo("connectors/amagi-crm.toml"),
        &options(&crm, &crm.readonly_token),
        None,
    )
    .unwrap();
    assert_eq!(
        ro.create("tasks", &json!({"title": "x"}))
            .await
            .unwrap_err(),
        ConnectorError::Forbidden {
            message: "your role is read-only".into()
        }
    );
    // A bad token: Auth.
    let bad = RestConnector::from_file(
        repo("connectors/amagi-crm.toml"),
        &options(&crm, "acrm_nope"),
        None,
    )
    .unwrap();
    assert_eq!(
        bad.list("tasks", None, None).await.unwrap_err(),
        ConnectorError::Auth {
            message: "missing or invalid bearer token".into()
        }
    );
    assert_eq!(bad.calls(), 1, "a static token is not retried");
}
