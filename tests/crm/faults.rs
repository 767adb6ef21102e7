//! The CRM fault matrix over DAV: the real gateway on the wiremock HubSpot
//! (tests/support/saas.rs), with faults injected into its answers ([`Faults`]). For each
//! fault: what the phone sees and what the CRM holds afterwards.

use crate::support::gateway::{free_port, Gateway, StateDir};
use crate::support::saas::{write_config, FakeCrm, Faults, Phone, Vendor, TENANT};
use std::collections::BTreeMap;

const COLL: &str = "/dav/calendars/alice/meetings/";

fn event(uid: &str, title: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//faults//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:{title}\r\nDTSTART:20300301T090000Z\r\nDTEND:20300301T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// The gateway on `crm` refreshing on every read, and with `full_scan` also listing everything
/// on every refresh (so deletions are looked for).
fn gateway(dir: &StateDir, crm: &FakeCrm, full_scan: bool) -> Phone {
    let port = free_port();
    write_config(dir.path(), port, crm.vendor, &crm.uri(), "meetings", 0);
    if full_scan {
        let f = dir.path().join(format!("tenants/{TENANT}.toml"));
        let t = std::fs::read_to_string(&f).unwrap();
        std::fs::write(&f, t.replace("full_scan_secs = 600", "full_scan_secs = 0")).unwrap();
    }
    Phone::new(Gateway::new(dir.path(), port).start())
}

/// CRM records whose title is `title`.
fn titled(crm: &FakeCrm, title: &str) -> Vec<String> {
    let v = crm.vendor;
    crm.state
        .lock()
        .unwrap()
        .records
        .iter()
        .filter(|r| {
            let t = match v {
                Vendor::HubSpot => &r["properties"]["hs_meeting_title"],
                Vendor::Salesforce => &r["Subject"],
                Vendor::Dynamics365 => &r["subject"],
            };
            t == title
        })
        .map(|r| r[v.id_field()].as_str().unwrap_or_default().to_string())
        .collect()
}

fn faults(crm: &FakeCrm, f: impl FnOnce(&mut Faults)) {
    f(&mut crm.state.lock().unwrap().faults);
}

async fn put(gw: &Phone, href: &str, body: &str) -> (u16, String) {
    let (st, _, text) = gw
        .req(
            "PUT",
            href,
            Some(body.to_string()),
            &[("Content-Type", "text/calendar")],
        )
        .await;
    (st, text)
}

/// (a) The CRM commits the create but its answer is lost (504 after the body was sent): the
/// gateway finds the record by the definition's lookup (HubSpot: its search API; Salesforce
/// and Dynamics 365: their modified-since listings), links it and answers 201; the phone's
/// repeats of the same PUT make no second record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_create_answer_is_linked_not_duplicated() {
    lost_create_answer(Vendor::HubSpot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_create_answer_is_linked_not_duplicated_salesforce() {
    lost_create_answer(Vendor::Salesforce).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_create_answer_is_linked_not_duplicated_dynamics365() {
    lost_create_answer(Vendor::Dynamics365).await;
}

async fn lost_create_answer(vendor: Vendor) {
    let crm = FakeCrm::start(vendor).await;
    let dir = StateDir::new("faults-lost");
    let gw = gateway(&dir, &crm, false);
    gw.sync(COLL, "").await;
    faults(&crm, |f| f.lose_create_answers = 1);
    let href = format!("{COLL}lost-answer.ics");
    let body = event("lost-answer", "Answer lost");
    let (st, text) = put(&gw, &href, &body).await;
    assert_eq!(st, 201, "{text}");
    let ids = titled(&crm, "Answer lost");
    assert_eq!(ids.len(), 1, "one record in the CRM");
    for _ in 0..3 {
        let (st, text) = put(&gw, &href, &body).await;
        assert_eq!(
            st, 204,
            "a repeat is an update of the linked record: {text}"
        );
    }
    assert_eq!(
        titled(&crm, "Answer lost"),
        ids,
        "still one record after 3 retries"
    );
    let patches: Vec<_> = crm
        .writes()
        .await
        .into_iter()
        .filter(|r| r.method.as_str() == "PATCH")
        .map(|r| r.url.path().to_string())
        .collect();
    assert!(
        patches.iter().all(|p| p.contains(&ids[0])),
        "the repeats update the found record: {patches:?}"
    );
    assert!(gw
        .log()
        .contains("found the record of a create whose answer was lost"));
}

/// (a') The answer is lost and the lookup fails too: 503 saying the outcome is unknown; three
/// retries while the lookup still fails create nothing; once it works the retry links the one
/// record (201). Before the fix, 3 PUTs made 3 records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresolved_create_is_looked_up_on_every_retry() {
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let dir = StateDir::new("faults-unresolved");
    let gw = gateway(&dir, &crm, false);
    gw.sync(COLL, "").await;
    faults(&crm, |f| {
        f.lose_create_answers = 1;
        f.fail_searches = true;
    });
    let href = format!("{COLL}unresolved.ics");
    let body = event("unresolved", "Outcome unknown");
    let (st, text) = put(&gw, &href, &body).await;
    assert_eq!(st, 503, "{text}");
    assert!(text.contains("outcome of the create is unknown"), "{text}");
    assert!(text.contains("nothing was duplicated"), "{text}");
    for _ in 0..3 {
        let (st, text) = put(&gw, &href, &body).await;
        assert_eq!(st, 503, "{text}");
    }
    assert_eq!(titled(&crm, "Outcome unknown").len(), 1, "no second record");
    assert_eq!(
        gw.get(&href).await.0,
        404,
        "no item before the outcome is known"
    );
    faults(&crm, |f| f.fail_searches = false);
    let (st, text) = put(&gw, &href, &body).await;
    assert_eq!(st, 201, "{text}");
    let ids = titled(&crm, "Outcome unknown");
    assert_eq!(ids.len(), 1, "still one record");
    let (st, _, got) = gw.get(&href).await;
    assert_eq!(st, 200);
    assert!(got.contains("SUMMARY:Outcome unknown"), "{got}");
}

/// (b) A create answered 201 without an id: the record is found and linked (201), one record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_answer_without_id_is_resolved() {
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let dir = StateDir::new("faults-noid");
    let gw = gateway(&dir, &crm, false);
    gw.sync(COLL, "").await;
    faults(&crm, |f| f.creates_without_id = 1);
    let href = format!("{COLL}no-id.ics");
    let (st, text) = put(&gw, &href, &event("no-id", "No id answered")).await;
    assert_eq!(st, 201, "{text}");
    assert_eq!(titled(&crm, "No id answered").len(), 1);
    let (st, text) = put(&gw, &href, &event("no-id", "No id, edited")).await;
    assert_eq!(st, 204, "{text}");
    assert_eq!(
        titled(&crm, "No id, edited").len(),
        1,
        "the edit reached the linked record"
    );
    assert!(titled(&crm, "No id answered").is_empty());
}

/// (c) The record is deleted in the CRM while the phone edits it: the conditional PUT gets
/// 412, nothing is re-created, and the phone's next sync reports the item removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_of_a_record_deleted_in_the_crm() {
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let dir = StateDir::new("faults-deleted");
    let gw = gateway(&dir, &crm, false);
    let href = format!("{COLL}doomed.ics");
    let (st, text) = put(&gw, &href, &event("doomed", "Doomed")).await;
    assert_eq!(st, 201, "{text}");
    let (tok, _) = gw.sync(COLL, "").await;
    let (_, etag, body) = gw.get(&href).await;
    let id = titled(&crm, "Doomed").remove(0);
    crm.state
        .lock()
        .unwrap()
        .records
        .retain(|r| r["id"] != id.as_str());
    let edited = body.replace("SUMMARY:Doomed", "SUMMARY:Edited too late");
    let (st, _, text) = gw
        .req(
            "PUT",
            &href,
            Some(edited),
            &[("If-Match", &etag), ("Content-Type", "text/calendar")],
        )
        .await;
    assert_eq!(st, 412, "{text}");
    assert!(
        titled(&crm, "Edited too late").is_empty(),
        "nothing re-created"
    );
    let (_, changes) = gw.sync(COLL, &tok).await;
    assert_eq!(
        changes.get(&href),
        Some(&None),
        "reported removed: {changes:?}"
    );
    assert_eq!(gw.get(&href).await.0, 404);
}

/// (d) A record is inserted at the front while a full scan pages (offset paging shifts): no
/// record is lost or doubled once the next refresh has run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_while_paging_loses_and_doubles_nothing() {
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let mut rec = crm.record(&crm.ids()[0]).unwrap();
    rec["id"] = "77001".into();
    rec["properties"]["hs_object_id"] = "77001".into();
    rec["properties"]["hs_meeting_title"] = "Inserted mid-scan".into();
    Vendor::HubSpot.touch(&mut rec, chrono::Utc::now(), 1);
    faults(&crm, |f| f.insert_at_page = Some((2, rec)));
    let dir = StateDir::new("faults-insert");
    let gw = gateway(&dir, &crm, true);
    let (tok, first) = gw.sync(COLL, "").await;
    assert!(first.len() >= 5, "{first:?}");
    let (_, _) = gw.sync_fresh(COLL, &tok).await;
    let members = gw.members(COLL).await;
    assert_eq!(members.len(), 6, "every record once: {members:?}");
    let mut uids = BTreeMap::new();
    for href in members.keys() {
        let (_, _, body) = gw.get(href).await;
        let uid = body
            .lines()
            .find(|l| l.starts_with("UID:"))
            .unwrap()
            .to_string();
        *uids.entry(uid).or_insert(0) += 1;
    }
    assert!(uids.values().all(|&n| n == 1), "{uids:?}");
}

/// (e) A page fails in the middle of a full scan: the refresh is abandoned, nothing is taken
/// for a deletion, and the next good scan changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_page_mid_scan_deletes_nothing() {
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let dir = StateDir::new("faults-page");
    let gw = gateway(&dir, &crm, true);
    let (tok, first) = gw.sync(COLL, "").await;
    assert_eq!(first.len(), 5);
    faults(&crm, |f| f.fail_page_at = Some(2));
    let (st, _, _) = gw
        .req(
            "REPORT",
            COLL,
            Some(sync_body(&tok)),
            &[("Content-Type", "application/xml")],
        )
        .await;
    assert_eq!(st, 207, "the last good listing is served");
    assert_eq!(gw.members(COLL).await.len(), 5, "nothing taken for deleted");
    faults(&crm, |f| f.fail_page_at = None);
    let (_, changes) = gw.sync(COLL, &tok).await;
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(crm.ids().len(), 5);
}

fn sync_body(token: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#
    )
}

/// (f) The static token is revoked: a phone write gets 503 naming the CRM's authentication
/// failure, a log line says so, the CRM holds nothing new and the phone's items stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoked_token_is_a_clear_503() {
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let dir = StateDir::new("faults-revoked");
    let gw = gateway(&dir, &crm, false);
    let (_, first) = gw.sync(COLL, "").await;
    faults(&crm, |f| f.revoked = true);
    let (st, text) = put(
        &gw,
        &format!("{COLL}revoked.ics"),
        &event("revoked", "Revoked"),
    )
    .await;
    assert_eq!(st, 503, "{text}");
    assert!(
        text.contains("authentication with the CRM failed"),
        "{text}"
    );
    assert!(gw.log().contains("authentication with the CRM failed"));
    assert!(titled(&crm, "Revoked").is_empty());
    assert_eq!(gw.members(COLL).await.len(), first.len(), "nothing lost");
}

/// (g) DELETE and MOVE while the CRM is down: 503 for the DELETE (MOVE of a CRM item is
/// refused whatever the CRM's state), the item and the record stay; (h) once the CRM is back
/// the DELETE goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_and_move_while_down_then_recovery() {
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let dir = StateDir::new("faults-down");
    let gw = gateway(&dir, &crm, false);
    let href = format!("{COLL}keep.ics");
    assert_eq!(put(&gw, &href, &event("keep", "Keep me")).await.0, 201);
    gw.sync(COLL, "").await;
    faults(&crm, |f| f.down = true);
    let (st, h, text) = gw.req("DELETE", &href, None, &[]).await;
    assert_eq!(st, 503, "{text}");
    assert!(h.get("retry-after").is_some());
    let dest = format!("http://127.0.0.1{COLL}moved.ics");
    let (st, _, text) = gw.req("MOVE", &href, None, &[("Destination", &dest)]).await;
    assert_eq!(st, 403, "MOVE of a CRM item is refused: {text}");
    assert_eq!(gw.get(&href).await.0, 200, "the item stays");
    assert_eq!(
        gw.get(&format!("{COLL}moved.ics")).await.0,
        404,
        "nothing half-done"
    );
    assert_eq!(titled(&crm, "Keep me").len(), 1, "the record stays");
    faults(&crm, |f| f.down = false);
    let (st, _, text) = gw.req("DELETE", &href, None, &[]).await;
    assert_eq!(st, 204, "{text}");
    assert!(titled(&crm, "Keep me").is_empty());
    assert_eq!(gw.get(&href).await.0, 404);
}

/// (a'') The answer is lost, the lookup fails, and a refresh imports the committed record
/// under a CRM href before the phone retries: the retry finds it, the phone's item takes the
/// record over (the imported copy goes), and the CRM still holds one record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_takes_over_a_record_the_refresh_imported() {
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let dir = StateDir::new("faults-takeover");
    let gw = gateway(&dir, &crm, false);
    let (tok, _) = gw.sync(COLL, "").await;
    faults(&crm, |f| {
        f.lose_create_answers = 1;
        f.fail_searches = true;
    });
    let href = format!("{COLL}taken-over.ics");
    let body = event("taken-over", "Imported first");
    assert_eq!(put(&gw, &href, &body).await.0, 503);
    faults(&crm, |f| f.fail_searches = false);
    let (tok2, imported) = gw.sync_fresh(COLL, &tok).await;
    assert_eq!(
        imported.len(),
        1,
        "the refresh imported the record: {imported:?}"
    );
    let imported_href = imported.keys().next().unwrap().clone();
    assert_ne!(imported_href, href);
    let (st, text) = put(&gw, &href, &body).await;
    assert_eq!(st, 201, "{text}");
    assert_eq!(titled(&crm, "Imported first").len(), 1, "one record");
    let (_, changes) = gw.sync(COLL, &tok2).await;
    assert_eq!(changes.get(&imported_href), Some(&None), "{changes:?}");
    assert!(
        changes.get(&href).is_some_and(Option::is_some),
        "{changes:?}"
    );
}

/// (d') A record is deleted while a full scan pages: the records after it shift back and one of
/// them is on no page. A record missing from a full scan is read back before it is taken for
/// deleted: the skipped one stays untouched, and only the deleted record goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_while_paging_removes_only_the_deleted_record() {
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let ids = crm.ids();
    let dir = StateDir::new("faults-shift");
    let gw = gateway(&dir, &crm, true);
    let (tok, first) = gw.sync(COLL, "").await;
    assert_eq!(first.len(), 5);
    let href_of = |id: &str| {
        first
            .keys()
            .find(|h| h.contains(&format!("hubspot-meetings-{id}")))
            .unwrap_or_else(|| panic!("no item for {id} in {first:?}"))
            .clone()
    };
    // Page 2 starts at offset 2; deleting the first record there shifts the third onto page 1.
    faults(&crm, |f| f.delete_at_page = Some((2, ids[0].clone())));
    // (A TTL of 0: each sync waits for its own refresh, a full scan here.)
    let (tok2, changes) = gw.sync(COLL, &tok).await;
    assert!(
        changes.values().all(Option::is_some),
        "nothing is taken for deleted by a scan that shifted: {changes:?}"
    );
    // The deleted record had been listed before it went; the next scan removes it, only it.
    let (_, changes) = gw.sync(COLL, &tok2).await;
    let expected: BTreeMap<String, Option<String>> = [(href_of(&ids[0]), None)].into();
    assert_eq!(changes, expected, "only the deleted record goes");
    let members = gw.members(COLL).await;
    assert_eq!(members.len(), 4, "{members:?}");
    assert_eq!(
        Some(&members[&href_of(&ids[2])]),
        first[&href_of(&ids[2])].as_ref()
    );
}
