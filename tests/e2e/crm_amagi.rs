//! End to end: a real amagi-crm 0.1.0 and the real `crmdav` binary with a CRM-backed tenant,
//! driven over HTTP as a phone would. Needs Python >= 3.10 with pip and PyPI on the first run
//! (see support/amagi.rs); fails loudly without them.

use crate::support::amagi::Amagi;
use crate::support::gateway::{bin, free_port, hash_password, Gateway, StateDir};
use crate::support::phone::{Phone, PASS, USER};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const TTL: u64 = 2;
const MEETINGS: &str = "/dav/calendars/alice/meetings/";
const TASKS: &str = "/dav/calendars/alice/tasks/";
const CONTACTS: &str = "/dav/addressbooks/alice/contacts/";

fn etag_of(body: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..16]))
}

/// The amagi-crm tenant's config (port as the gateway's `listen`).
fn write_config(dir: &Path, port: u16) {
    std::fs::create_dir_all(dir.join("tenants")).unwrap();
    std::fs::write(
        dir.join("crmdav.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\nstate = \"sqlite://state/crmdav.db\"\ntenants_dir = \"tenants\"\ndefault_tenant = \"firm\"\nhttp = {{ metrics_tenant_names = true }}\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("tenants/firm.toml"),
        format!(
            r#"name = "firm"

[connector]
kind = "amagi-crm"
options = {{ base_url = "${{CRM_URL}}", token = "${{CRM_TOKEN}}", timezone = "Europe/Berlin" }}

[sync]
refresh_ttl_secs = {TTL}
full_scan_secs = 600

[[users]]
name = "{USER}"
password_hash = "{}"

[[collections]]
id = "meetings"
kind = "calendar"
entity = "appointments"
users = ["{USER}"]

[[collections]]
id = "tasks"
kind = "calendar"
entity = "tasks"
users = ["{USER}"]

[[collections]]
id = "contacts"
kind = "addressbook"
entity = "contacts"
users = ["{USER}"]
"#,
            hash_password(PASS)
        ),
    )
    .unwrap();
}

/// The gateway on `crm`, its config and state in `dir`, started.
fn start_gateway(crm: &Amagi, dir: &Path) -> Phone {
    let port = free_port();
    write_config(dir, port);
    Phone::new(
        Gateway::new(dir, port)
            .env("CRM_URL", &crm.api)
            .env("CRM_TOKEN", &crm.token)
            .start(),
    )
}

fn event(uid: &str, summary: &str, start: &str, end: &str, extra: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple Inc.//iPhone OS 18.1//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:{summary}\r\nDTSTART;TZID=W. Europe Standard Time:{start}\r\nDTEND;TZID=W. Europe Standard Time:{end}\r\n{extra}X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\nATTENDEE;CN=\"Bob, B.\";PARTSTAT=ACCEPTED;X-CUSTOM=1:mailto:bob@example.com\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:Reminder\r\nX-WR-ALARMUID:A1B2\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

async fn appointments(crm: &Amagi) -> Vec<Value> {
    crm.call(
        &crm.token,
        "GET",
        "/appointments?include_cancelled=true",
        None,
    )
    .await
    .as_array()
    .cloned()
    .unwrap()
}

fn href_for(coll: &str, members: &BTreeMap<String, Option<String>>, needle: &str) -> String {
    members
        .keys()
        .find(|h| h.starts_with(coll) && h.contains(needle))
        .unwrap_or_else(|| panic!("no member of {coll} containing {needle:?} in {members:?}"))
        .clone()
}

/// The TTL passes (no event to await: time itself).
async fn sleep_ttl() {
    tokio::time::sleep(Duration::from_millis(TTL * 1000 + 200)).await;
}

/// The TTL passes, and the background refresh a read of `coll` then starts has finished: the
/// next read serves what amagi holds (a stale read is answered from the last state at once).
async fn past_ttl(gw: &Phone, coll: &str) {
    sleep_ttl().await;
    gw.refreshed(coll).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn phone_and_crm_stay_in_step() {
    let mut crm = Amagi::start().await;
    let tok = crm.token.clone();

    // ---- the CRM has data before the gateway first looks --------------------------------------
    let a1 = crm
        .call(&tok, "POST", "/appointments", Some(json!({
            "title": "CRM kickoff", "start": "2030-01-15T10:00:00+01:00", "end": "2030-01-15T11:00:00+01:00",
            "location": "HQ"})))
        .await;
    let a1_id = a1["id"].as_i64().unwrap();
    let c1 = crm
        .call(&tok, "POST", "/contacts", Some(json!({
            "first_name": "Zoë", "last_name": "Müller", "email": "zoe@example.de", "phone": "+49 30 1"})))
        .await;
    let t1 = crm
        .call(
            &tok,
            "POST",
            "/tasks",
            Some(json!({"title": "Send offer", "due_date": "2030-01-20"})),
        )
        .await;

    let dir = StateDir::new("amagi");
    let mut gw = start_gateway(&crm, dir.path());

    // ---- initial sync: appointments, tasks and contacts appear ------------------------------
    let calls0 = gw.metric("crmdav_crm_calls_total").await;
    assert_eq!(
        calls0, 0,
        "nothing is read from the CRM before a client asks"
    );
    let (tok_m, m) = gw.sync(MEETINGS, "").await;
    let calls_initial = gw.metric("crmdav_crm_calls_total").await;
    println!("CRM calls for the initial sync of the meetings calendar: {calls_initial}");
    assert_eq!(calls_initial, 1, "one listing for the initial sync");
    assert_eq!(m.len(), 1, "{m:?}");
    let a1_href = href_for(MEETINGS, &m, &format!("amagi-crm-appointments-{a1_id}"));
    let (st, etag, body) = gw.get(&a1_href).await;
    assert_eq!(st, 200);
    assert_eq!(Some(etag.clone()), m[&a1_href]);
    assert!(body.contains("SUMMARY:CRM kickoff\r\n"), "{body}");
    assert!(
        body.contains("DTSTART;TZID=Europe/Berlin:20300115T100000\r\n"),
        "{body}"
    );
    assert!(body.contains("LOCATION:HQ\r\n"));
    assert!(body.contains(&format!("UID:amagi-crm-appointments-{a1_id}@crmdav\r\n")));

    let (_, t) = gw.sync(TASKS, "").await;
    let t1_href = href_for(TASKS, &t, &format!("amagi-crm-tasks-{}", t1["id"]));
    let (_, _, tbody) = gw.get(&t1_href).await;
    assert!(
        tbody.contains("BEGIN:VTODO") && tbody.contains("SUMMARY:Send offer"),
        "{tbody}"
    );
    assert!(tbody.contains("DUE;VALUE=DATE:20300120"), "{tbody}");
    let (_, c) = gw.sync(CONTACTS, "").await;
    let c1_href = href_for(CONTACTS, &c, &format!("amagi-crm-contacts-{}", c1["id"]));
    let (_, _, cbody) = gw.get(&c1_href).await;
    assert!(
        cbody.contains("FN:Zoë Müller") && cbody.contains("EMAIL:zoe@example.de"),
        "{cbody}"
    );
    // CRM contacts are searchable like any others (the field index is kept for them too).
    let (st, _, found) = gw
        .req(
            "REPORT",
            CONTACTS,
            Some(
                r#"<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><C:filter><C:prop-filter name="FN"><C:text-match match-type="contains">müller</C:text-match></C:prop-filter></C:filter></C:addressbook-query>"#
                    .into(),
            ),
            &[("Depth", "1"), ("Content-Type", "application/xml")],
        )
        .await;
    assert_eq!(st, 207, "{found}");
    assert!(
        found.contains(&c1_href),
        "addressbook-query finds the CRM contact: {found}"
    );

    // ---- a CRM-side create appears on the next sync (after the TTL) ---------------------------
    let a2 = crm
        .call(&tok, "POST", "/appointments", Some(json!({
            "title": "Created in the CRM", "start": "2030-01-16T14:00:00+01:00", "duration_minutes": 30})))
        .await;
    let (same_tok, none) = gw.sync(MEETINGS, &tok_m).await;
    assert!(
        none.is_empty() && same_tok == tok_m,
        "within the TTL nothing is asked: {none:?}"
    );
    past_ttl(&gw, MEETINGS).await;
    let (tok_m2, ch) = gw.sync(MEETINGS, &tok_m).await;
    assert_ne!(tok_m2, tok_m);
    assert_eq!(ch.len(), 1, "{ch:?}");
    href_for(
        MEETINGS,
        &ch,
        &format!("amagi-crm-appointments-{}", a2["id"]),
    );

    // ---- a phone PUT creates the CRM record ---------------------------------------------------
    let p_href = format!("{MEETINGS}phone-lunch.ics");
    let body1 = event(
        "phone-lunch-1@iphone",
        "Lunch from the phone",
        "20300220T090000",
        "20300220T100000",
        "X-MY-APP:keep me\r\n",
    );
    let (st, h, text) = gw
        .req(
            "PUT",
            &p_href,
            Some(body1.clone()),
            &[("Content-Type", "text/calendar"), ("If-None-Match", "*")],
        )
        .await;
    assert_eq!(st, 201, "{text}");
    assert_eq!(
        h["etag"].to_str().unwrap(),
        etag_of(body1.as_bytes()),
        "the client's own ETag"
    );
    let appts = appointments(&crm).await;
    let p_rec = appts
        .iter()
        .find(|a| a["title"] == "Lunch from the phone")
        .unwrap_or_else(|| panic!("not in the CRM: {appts:?}"));
    assert_eq!(p_rec["start"], "2030-02-20T09:00:00+01:00");
    assert_eq!(p_rec["end"], "2030-02-20T10:00:00+01:00");
    assert_eq!(p_rec["status"], "booked");
    let p_id = p_rec["id"].as_i64().unwrap();
    let (st, etag_p, got) = gw.get(&p_href).await;
    assert_eq!(
        (st, got.as_str()),
        (200, body1.as_str()),
        "served byte for byte"
    );
    assert_eq!(etag_p, etag_of(body1.as_bytes()));
    // The refresh after the TTL sees the new record as the phone's item, not a second one.
    past_ttl(&gw, MEETINGS).await;
    let (tok_m3, ch) = gw.sync(MEETINGS, &tok_m2).await;
    assert_eq!(
        ch.keys().collect::<Vec<_>>(),
        vec![&p_href],
        "only the phone's item, once"
    );
    let all = gw.members(MEETINGS).await;
    assert_eq!(all.len(), 3, "{all:?}");
    assert_eq!(
        gw.get(&p_href).await.2,
        body1,
        "an untouched item comes back byte for byte"
    );

    // ---- phone edit → CRM; a stale If-Match is refused before any CRM call ------------------
    let body2 = body1.replace("SUMMARY:Lunch from the phone", "SUMMARY:Lunch (moved)");
    let (st, h, text) = gw
        .req(
            "PUT",
            &p_href,
            Some(body2.clone()),
            &[("Content-Type", "text/calendar"), ("If-Match", &etag_p)],
        )
        .await;
    assert_eq!(st, 204, "{text}");
    let etag_p2 = h["etag"].to_str().unwrap().to_string();
    assert_eq!(etag_p2, etag_of(body2.as_bytes()));
    let before = gw.metric("crmdav_crm_calls_total").await;
    let (st, _, _) = gw
        .req(
            "PUT",
            &p_href,
            Some(body1.clone()),
            &[("Content-Type", "text/calendar"), ("If-Match", &etag_p)],
        )
        .await;
    assert_eq!(st, 412);
    assert_eq!(
        gw.metric("crmdav_crm_calls_total").await,
        before,
        "412 without a CRM call"
    );
    let appts = appointments(&crm).await;
    let rec = appts.iter().find(|a| a["id"] == p_id).unwrap();
    assert_eq!(rec["title"], "Lunch (moved)");

    // ---- CRM edit of another field → phone; alarms, X- props, attendee params survive -------
    crm.call(
        &tok,
        "PATCH",
        &format!("/appointments/{p_id}"),
        Some(json!({"location": "Room 7"})),
    )
    .await;
    past_ttl(&gw, MEETINGS).await;
    let (tok_m4, ch) = gw.sync(MEETINGS, &tok_m3).await;
    assert_eq!(ch.keys().collect::<Vec<_>>(), vec![&p_href], "{ch:?}");
    let (_, etag_p3, got) = gw.get(&p_href).await;
    assert_ne!(etag_p3, etag_p2);
    assert!(got.contains("LOCATION:Room 7\r\n"), "{got}");
    assert!(got.contains("SUMMARY:Lunch (moved)\r\n"), "{got}");
    assert!(got.contains("UID:phone-lunch-1@iphone\r\n"));
    assert!(got.contains("X-MY-APP:keep me\r\n"), "{got}");
    assert!(got.contains("X-APPLE-TRAVEL-ADVISORY-BEHAVIOR:AUTOMATIC\r\n"));
    assert!(
        got.contains("TRIGGER:-PT15M\r\n") && got.contains("X-WR-ALARMUID:A1B2\r\n"),
        "{got}"
    );
    assert!(
        got.contains("ATTENDEE;CN=\"Bob, B.\";PARTSTAT=ACCEPTED;X-CUSTOM=1:mailto:bob@example.com")
    );
    assert!(
        got.contains("DTSTART;TZID=W. Europe Standard Time:20300220T090000\r\n"),
        "times unchanged keep the phone's spelling: {got}"
    );
    // A CRM move of the time reaches the phone too.
    crm.call(
        &tok,
        "PATCH",
        &format!("/appointments/{p_id}"),
        Some(json!({"start": "2030-02-20T12:00:00+01:00"})),
    )
    .await;
    past_ttl(&gw, MEETINGS).await;
    let (tok_m5, _) = gw.sync(MEETINGS, &tok_m4).await;
    let (_, etag_p4, got) = gw.get(&p_href).await;
    assert!(
        got.contains("DTSTART;TZID=Europe/Berlin:20300220T120000\r\n"),
        "{got}"
    );
    assert!(
        got.contains("DTEND;TZID=Europe/Berlin:20300220T130000\r\n"),
        "{got}"
    );
    assert!(
        got.contains("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin"),
        "{got}"
    );
    assert!(got.contains("TRIGGER:-PT15M\r\n"));

    // ---- an overlapping booking from the phone: 409 with the CRM's message; nothing changes --
    let n_appts = appointments(&crm).await.len();
    let clash_href = format!("{MEETINGS}clash.ics");
    let clash = event(
        "clash@iphone",
        "Clash",
        "20300115T103000",
        "20300115T110000",
        "",
    );
    let (st, _, text) = gw
        .req(
            "PUT",
            &clash_href,
            Some(clash),
            &[("Content-Type", "text/calendar"), ("If-None-Match", "*")],
        )
        .await;
    assert_eq!(st, 409, "{text}");
    assert!(
        text.contains("that time overlaps another booked appointment"),
        "{text}"
    );
    let doc = roxmltree::Document::parse(&text).expect("a DAV:error body");
    assert!(doc.root_element().has_tag_name(("DAV:", "error")));
    assert_eq!(gw.get(&clash_href).await.0, 404);
    assert_eq!(appointments(&crm).await.len(), n_appts);
    let (tok_same, ch) = gw.sync(MEETINGS, &tok_m5).await;
    assert!(
        ch.is_empty() && tok_same == tok_m5,
        "nothing stored: {ch:?}"
    );

    // ---- the phone edits a CRM-created item: the CRM record is updated, not duplicated -------
    let (_, etag_a1, a1_body) = gw.get(&a1_href).await;
    let a1_edit = a1_body.replace(
        "SUMMARY:CRM kickoff",
        "SUMMARY:Kickoff (edited on the phone)",
    );
    let (st, h, text) = gw
        .req(
            "PUT",
            &a1_href,
            Some(a1_edit.clone()),
            &[("Content-Type", "text/calendar"), ("If-Match", &etag_a1)],
        )
        .await;
    assert_eq!(st, 204, "{text}");
    assert_eq!(h["etag"].to_str().unwrap(), etag_of(a1_edit.as_bytes()));
    let recs = appointments(&crm).await;
    assert_eq!(recs.len(), n_appts, "updated, not created");
    let rec = recs.iter().find(|a| a["id"] == a1_id).unwrap();
    assert_eq!(rec["title"], "Kickoff (edited on the phone)");
    assert_eq!(rec["location"], "HQ");
    let (tok_m5, ch) = gw.sync(MEETINGS, &tok_m5).await;
    assert_eq!(ch.keys().collect::<Vec<_>>(), vec![&a1_href]);

    // ---- a contact from the phone -------------------------------------------------------------
    let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-1@iphone\r\nFN:Kai Phone\r\nN:Phone;Kai;;;\r\nEMAIL;TYPE=INTERNET:kai@example.org\r\nX-ABSHOWAS:PERSON\r\nEND:VCARD\r\n";
    let (st, _, text) = gw
        .req(
            "PUT",
            &format!("{CONTACTS}card-1.vcf"),
            Some(card.into()),
            &[("Content-Type", "text/vcard"), ("If-None-Match", "*")],
        )
        .await;
    assert_eq!(st, 201, "{text}");
    let cs = crm
        .call(&tok, "GET", "/contacts?search=kai@example.org", None)
        .await;
    assert_eq!(cs["total"], 1, "{cs}");
    assert_eq!(cs["items"][0]["first_name"], "Kai");

    // ---- idle re-sync: ≤ 1 CRM call per refresh, none within the TTL ------------------------
    sleep_ttl().await;
    let c0 = gw.metric("crmdav_crm_calls_total").await;
    let r0 = gw.metric("crmdav_refreshes_total").await;
    gw.refreshed(MEETINGS).await;
    let (tok_idle, ch) = gw.sync(MEETINGS, &tok_m5).await;
    assert!(
        ch.is_empty() && tok_idle == tok_m5,
        "an idle refresh moves nothing: {ch:?}"
    );
    gw.members(MEETINGS).await;
    gw.sync(MEETINGS, &tok_m5).await;
    let c1 = gw.metric("crmdav_crm_calls_total").await;
    let r1 = gw.metric("crmdav_refreshes_total").await;
    println!(
        "idle sync within the TTL: {} CRM call(s) for {} refresh(es)",
        c1 - c0,
        r1 - r0
    );
    assert_eq!(r1 - r0, 1, "one refresh, then the TTL holds");
    assert!(c1 - c0 <= 1, "{} CRM calls for an idle refresh", c1 - c0);
    gw.sync(MEETINGS, &tok_m5).await;
    assert_eq!(
        gw.metric("crmdav_crm_calls_total").await,
        c1,
        "0 calls within the TTL"
    );
    past_ttl(&gw, MEETINGS).await;
    let (tok_idle2, ch) = gw.sync(MEETINGS, &tok_m5).await;
    assert!(ch.is_empty() && tok_idle2 == tok_m5);
    let c2 = gw.metric("crmdav_crm_calls_total").await;
    println!("idle sync after the TTL: {} CRM call(s)", c2 - c1);
    assert!(c2 - c1 <= 1);

    // ---- DELETE on the phone cancels in the CRM; the item does not come back ----------------
    let (_, etag_now, _) = gw.get(&p_href).await;
    assert_eq!(etag_now, etag_p4);
    let (st, _, text) = gw
        .req("DELETE", &p_href, None, &[("If-Match", &etag_now)])
        .await;
    assert_eq!(st, 204, "{text}");
    let rec = appointments(&crm)
        .await
        .into_iter()
        .find(|a| a["id"] == p_id)
        .unwrap();
    assert_eq!(rec["status"], "cancelled");
    assert_eq!(gw.get(&p_href).await.0, 404);
    past_ttl(&gw, MEETINGS).await;
    let (tok_m6, ch) = gw.sync(MEETINGS, &tok_m5).await;
    assert_eq!(ch.get(&p_href), Some(&None), "reported deleted: {ch:?}");
    assert_eq!(
        ch.len(),
        1,
        "the cancelled record is not imported again: {ch:?}"
    );
    let members_before = gw.members(MEETINGS).await;
    assert_eq!(members_before.len(), 2, "{members_before:?}");

    // ---- a restart duplicates nothing -----------------------------------------------------------
    let contacts_before = gw.members(CONTACTS).await;
    let mut uids_before = BTreeMap::new();
    for h in members_before.keys() {
        let b = gw.get(h).await.2;
        uids_before.insert(
            h.clone(),
            b.lines()
                .find(|l| l.starts_with("UID:"))
                .unwrap()
                .to_string(),
        );
    }
    gw.stop();
    gw.spawn();
    let (tok_r, ch) = gw.sync(MEETINGS, &tok_m6).await;
    assert!(
        ch.is_empty() && tok_r == tok_m6,
        "nothing moved across a restart: {ch:?}"
    );
    assert_eq!(
        gw.members(MEETINGS).await,
        members_before,
        "same hrefs and ETags"
    );
    assert_eq!(gw.members(CONTACTS).await, contacts_before);
    for (h, uid) in &uids_before {
        let b = gw.get(h).await.2;
        assert_eq!(b.lines().find(|l| l.starts_with("UID:")).unwrap(), uid);
    }

    // ---- CRM down: reads answer from the last state; a PUT is 503 and stores nothing --------
    crm.stop();
    sleep_ttl().await;
    let f0 = gw.metric("crmdav_refresh_failures_total").await;
    assert_eq!(
        gw.members(MEETINGS).await,
        members_before,
        "stale-while-revalidate"
    );
    gw.await_metric("crmdav_refresh_failures_total", |f| f > f0)
        .await;
    let (st, _, body) = gw.get(&a1_href).await;
    assert_eq!(st, 200);
    assert!(
        body.contains("SUMMARY:Kickoff (edited on the phone)"),
        "{body}"
    );
    assert!(
        gw.metric("crmdav_refresh_failures_total").await > f0,
        "the failed refresh is counted"
    );
    let down_href = format!("{MEETINGS}down.ics");
    let (st, h, text) = gw
        .req(
            "PUT",
            &down_href,
            Some(event(
                "down@iphone",
                "While down",
                "20300301T090000",
                "20300301T100000",
                "",
            )),
            &[("Content-Type", "text/calendar")],
        )
        .await;
    assert_eq!(st, 503, "{text}");
    assert!(h.get("retry-after").is_some(), "Retry-After on 503");
    assert_eq!(gw.get(&down_href).await.0, 404);
    let (tok_d, ch) = gw.sync(MEETINGS, &tok_m6).await;
    assert!(
        ch.is_empty() && tok_d == tok_m6,
        "nothing stored while down: {ch:?}"
    );
    assert!(
        !gw.log().contains(&crm.token),
        "the CRM token never reaches the log"
    );
}

fn check(dir: &Path, crm_url: &str, token: &str, tenant: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(bin());
    cmd.args(["check", "--config"]).arg(dir.join("crmdav.toml"));
    if let Some(t) = tenant {
        cmd.args(["--tenant", t]);
    }
    let out = cmd
        .env("CRM_URL", crm_url)
        .env("CRM_TOKEN", token)
        .output()
        .expect("run crmdav check");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_says_what_is_wrong() {
    let crm = Amagi::start().await;
    let tok = crm.token.clone();
    crm.call(
        &tok,
        "POST",
        "/contacts",
        Some(json!({"first_name": "Ada", "email": "ada@example.org"})),
    )
    .await;
    crm.call(
        &tok,
        "POST",
        "/appointments",
        Some(
            json!({"title": "Probe", "start": "2030-05-01T09:00:00+02:00", "duration_minutes": 30}),
        ),
    )
    .await;
    let dir = StateDir::new("amagi-check");
    let d = dir.path();
    write_config(d, free_port());
    // A mapping override (mappings_dir) that reads a field amagi does not have.
    let mdir = d.join("mappings/amagi-crm");
    std::fs::create_dir_all(&mdir).unwrap();
    let stock = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/amagi-crm/contacts.toml"),
    )
    .unwrap();
    std::fs::write(
        mdir.join("contacts.toml"),
        format!("{stock}\n[[field]]\nproperty = \"BDAY\"\npath = \"birthday\"\ntype = \"date\"\n"),
    )
    .unwrap();
    let server = std::fs::read_to_string(d.join("crmdav.toml")).unwrap();
    std::fs::write(
        d.join("crmdav.toml"),
        format!("{server}mappings_dir = \"mappings\"\n"),
    )
    .unwrap();

    let (ok, out) = check(d, &crm.api, &tok, Some("firm"));
    assert!(ok, "{out}");
    assert!(
        out.contains("appointments: 1 record(s) on the first page"),
        "{out}"
    );
    assert!(
        out.contains("contacts: 1 record(s) on the first page"),
        "{out}"
    );
    assert!(out.contains("→ amagi-crm-appointments-"), "{out}");
    assert!(
        out.contains("field 'birthday' (BDAY) is absent from every listed contacts record"),
        "{out}"
    );
    assert!(out.contains("tenant firm: OK"), "{out}");

    let (ok, out) = check(d, &crm.api, "acrm_not-a-real-token", Some("firm"));
    assert!(!ok);
    assert!(out.contains("the CRM refused the credentials"), "{out}");
    assert!(
        !out.contains("acrm_not-a-real-token"),
        "secrets stay out of the output"
    );

    let (ok, out) = check(d, "http://127.0.0.1:9/api", &tok, Some("firm"));
    assert!(!ok);
    assert!(
        out.contains("cannot reach the CRM at http://127.0.0.1:9/api"),
        "{out}"
    );

    // Config errors name the file and the key.
    let tenant = d.join("tenants/firm.toml");
    let text = std::fs::read_to_string(&tenant).unwrap();
    std::fs::write(
        &tenant,
        text.replacen("entity = \"appointments\"", "entity = \"deals\"", 1),
    )
    .unwrap();
    let (ok, out) = check(d, &crm.api, &tok, None);
    assert!(!ok);
    assert!(
        out.contains(&format!(
            "{}: collections[0].entity: connector 'amagi-crm' has no entity 'deals' (it has: appointments, contacts, tasks)",
            tenant.display()
        )),
        "{out}"
    );
    std::fs::write(
        &tenant,
        text.replacen(
            "entity = \"appointments\"",
            "entity = \"appointments\"\nmapping = \"contacts\"",
            1,
        ),
    )
    .unwrap();
    let (ok, out) = check(d, &crm.api, &tok, None);
    assert!(!ok);
    assert!(
        out.contains("collections[0].mapping: mapping 'amagi-crm/contacts' makes Vcard items"),
        "{out}"
    );
}
