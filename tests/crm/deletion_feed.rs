//! The sync layer uses a definition's deleted-records feed between full scans: a meeting
//! archived in the wiremock HubSpot leaves the phone through sync-collection at the next sync,
//! with no full listing (full scans stay as the fallback, every `feed_full_scan_secs`).

use crate::support::saas::{start_gateway, FakeCrm, Vendor};
use chrono::Utc;

const COLL: &str = "/dav/calendars/alice/meetings/";

/// Full listings of meetings (not the archived feed, not a search).
async fn full_listings(crm: &FakeCrm) -> usize {
    crm.requests()
        .await
        .iter()
        .filter(|r| {
            r.method.as_str() == "GET"
                && r.url.path() == "/crm/v3/objects/meetings"
                && !r.url.query().unwrap_or("").contains("archived=true")
        })
        .count()
}

async fn feed_reads(crm: &FakeCrm) -> usize {
    crm.requests()
        .await
        .iter()
        .filter(|r| r.url.query().unwrap_or("").contains("archived=true"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_deleted_in_the_crm_leaves_through_the_feed() {
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let dir = crate::support::gateway::StateDir::new("deletion-feed");
    let gw = start_gateway(dir.path(), &crm, "meetings", 0);
    let (token, first) = gw.sync(COLL, "").await;
    let scans = full_listings(&crm).await;
    assert!(scans >= 1);
    assert_eq!(feed_reads(&crm).await, 0, "a full scan needs no feed");

    // Archived in HubSpot (it moves to the archived list with its archivedAt).
    let victim = "88003";
    {
        let mut st = crm.state.lock().unwrap();
        st.records.retain(|r| r["id"] != victim);
        st.deleted.push((victim.to_string(), Utc::now()));
    }
    let (token, changed) = gw.sync(COLL, &token).await;
    let gone: Vec<&String> = changed
        .iter()
        .filter(|(_, e)| e.is_none())
        .map(|(h, _)| h)
        .collect();
    assert_eq!(gone.len(), 1, "{changed:?}");
    assert!(first.contains_key(gone[0].as_str()));
    assert_eq!(full_listings(&crm).await, scans, "no full scan was needed");
    assert_eq!(feed_reads(&crm).await, 1);
    // (With a TTL of 0 every request refreshes: this GET reads the feed once more.)
    assert_eq!(gw.get(gone[0]).await.0, 404);

    // Idle: the feed is read again (HubSpot cannot filter it by time), nothing moves.
    let (_, idle) = gw.sync(COLL, &token).await;
    assert!(idle.is_empty(), "{idle:?}");
    assert_eq!(full_listings(&crm).await, scans);
    assert_eq!(feed_reads(&crm).await, 3);
}
