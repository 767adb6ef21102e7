//! A phone's write during a slow background refresh (HubSpot on wiremock, every listing page
//! delayed): the refresh lists without the collection's lock, so a PUT and a DELETE are
//! answered while the listing is still in flight; the listing's older copies of those records
//! neither overwrite the PUT nor bring the deleted item back.

use crate::support::gateway::StateDir;
use crate::support::phone::Phone;
use crate::support::saas::{start_gateway, FakeCrm, Vendor};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const TTL: u64 = 2;
/// Per listing page: far longer than a write to the CRM takes.
const SLOW_PAGE: Duration = Duration::from_millis(2500);
const VENDOR: Vendor = Vendor::HubSpot;

fn href_of(coll: &str, members: &BTreeMap<String, Option<String>>, crm_id: &str) -> String {
    let needle = format!("{}-{}-{crm_id}", VENDOR.kind(), VENDOR.entity());
    members
        .keys()
        .find(|h| h.starts_with(coll) && h.contains(&needle))
        .unwrap_or_else(|| panic!("no member for {crm_id} in {members:?}"))
        .clone()
}

fn title(crm: &FakeCrm, id: &str) -> Option<String> {
    crm.record(id).map(|r| {
        r["properties"]["hs_meeting_title"]
            .as_str()
            .unwrap_or("")
            .to_string()
    })
}

fn with_summary(body: &str, summary: &str) -> String {
    body.split("\r\n")
        .map(|l| {
            if l.starts_with("SUMMARY:") {
                format!("SUMMARY:{summary}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Wait until the CRM has received a read (a listing page or a search) after the first `n`
/// requests: the refresh's listing is in flight (its answer is delayed by `SLOW_PAGE`).
async fn listing_started(crm: &FakeCrm, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reqs = crm.requests().await;
        if reqs
            .iter()
            .skip(n)
            .any(|r| !crate::support::saas::is_write(r))
        {
            return;
        }
        assert!(Instant::now() < deadline, "no listing after 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_phone_write_during_a_slow_refresh_is_answered_at_once_and_kept() {
    let crm = FakeCrm::start(VENDOR).await;
    let dir = StateDir::new("write-during-refresh");
    let gw: Phone = start_gateway(dir.path(), &crm, "meetings", TTL);
    let coll = "/dav/calendars/alice/meetings/";
    let (tok0, m) = gw.sync(coll, "").await;
    assert_eq!(m.len(), 5, "{m:?}");
    let ids = crm.ids();
    let (edited, deleted) = (ids[0].clone(), ids[1].clone());
    let (href_e, href_d) = (href_of(coll, &m, &edited), href_of(coll, &m, &deleted));
    let (_, etag_e, body_e) = gw.get(&href_e).await;
    let (_, etag_d, _) = gw.get(&href_d).await;

    // Both records change in the CRM, so the next listing holds them, as they are when it is
    // read; then the CRM becomes slow and the TTL passes (time itself: nothing to await).
    crm.edit(&edited, |r| {
        r["properties"]["hs_meeting_title"] = json!("Renamed in the CRM")
    });
    crm.edit(&deleted, |r| {
        r["properties"]["hs_meeting_title"] = json!("Also renamed in the CRM")
    });
    crm.state.lock().unwrap().faults.list_delay = Some(SLOW_PAGE);
    tokio::time::sleep(Duration::from_millis(TTL * 1000 + 200)).await;

    // A stale read starts the background refresh; its listing reaches the CRM.
    let r0 = gw.metric("crmdav_refreshes_total").await;
    let n0 = crm.requests().await.len();
    let (tok1, ch) = gw.sync(coll, &tok0).await;
    assert!(ch.is_empty(), "served from the stored state: {ch:?}");
    listing_started(&crm, n0).await;

    // The phone edits one record and deletes the other while the listing is delayed.
    let t = Instant::now();
    let phone_body = with_summary(&body_e, "Edited on the phone during the refresh");
    let (st, h, text) = gw
        .req(
            "PUT",
            &href_e,
            Some(phone_body.clone()),
            &[("Content-Type", "text/calendar"), ("If-Match", &etag_e)],
        )
        .await;
    assert_eq!(st, 204, "{text}");
    let etag_put = h["etag"].to_str().unwrap().to_string();
    let (st, _, text) = gw
        .req("DELETE", &href_d, None, &[("If-Match", &etag_d)])
        .await;
    assert_eq!(st, 204, "{text}");
    let took = t.elapsed();
    println!("PUT and DELETE during a refresh answered in {took:?} (listing page: {SLOW_PAGE:?})");
    assert_eq!(
        gw.metric("crmdav_refreshes_total").await,
        r0,
        "both writes were answered before the refresh's listing ended ({took:?})"
    );
    assert_eq!(gw.metric("crmdav_refreshes_pending").await, 1);

    // The refresh ends: it listed the CRM's older copies, and applies neither.
    gw.refreshes_reach(r0 + 1).await;
    let check = |when: &'static str| {
        let (gw, crm, href_e, href_d) = (&gw, &crm, &href_e, &href_d);
        let (phone_body, etag_put, edited, deleted) = (&phone_body, &etag_put, &edited, &deleted);
        async move {
            let (st, etag, body) = gw.get(href_e).await;
            assert_eq!(st, 200, "{when}");
            assert_eq!(&body, phone_body, "{when}: the phone's version stands");
            assert_eq!(&etag, etag_put, "{when}");
            assert_eq!(gw.get(href_d).await.0, 404, "{when}: not resurrected");
            assert_eq!(
                title(crm, edited).as_deref(),
                Some("Edited on the phone during the refresh"),
                "{when}: the CRM holds the phone's version"
            );
            assert_eq!(title(crm, deleted), None, "{when}: deleted in the CRM");
        }
    };
    check("after the refresh that listed during the writes").await;
    let (_, ch) = gw.sync(coll, &tok1).await;
    assert_eq!(ch.get(&href_e), Some(&Some(etag_put.clone())), "{ch:?}");
    assert_eq!(ch.get(&href_d), Some(&None), "{ch:?}");
    assert_eq!(ch.len(), 2, "nothing else changed: {ch:?}");

    // The next refresh lists the CRM as it is now: still the phone's versions.
    crm.state.lock().unwrap().faults.list_delay = None;
    tokio::time::sleep(Duration::from_millis(TTL * 1000 + 200)).await;
    gw.refreshed(coll).await;
    check("after the next refresh").await;
    assert_eq!(gw.members(coll).await.len(), 4);
}
