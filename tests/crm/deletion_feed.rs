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

/// A feed the CRM does not answer: the refresh still serves its listing (nothing is removed on
/// its word), and full scans come back to `full_scan_secs`, so the deletion is seen by the
/// next full scan instead of waiting for `feed_full_scan_secs`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_feed_brings_full_scans_back_to_their_short_schedule() {
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let dir = crate::support::gateway::StateDir::new("deletion-feed-down");
    let port = crate::support::gateway::free_port();
    crate::support::saas::write_config(dir.path(), port, crm.vendor, &crm.uri(), "meetings", 0);
    // Full scans every 3 s without a feed (108 s with one: 36 × 3 s).
    let f = dir
        .path()
        .join(format!("tenants/{}.toml", crate::support::phone::TENANT));
    let t = std::fs::read_to_string(&f).unwrap();
    std::fs::write(&f, t.replace("full_scan_secs = 600", "full_scan_secs = 3")).unwrap();
    let gw = crate::support::phone::Phone::new(
        crate::support::gateway::Gateway::new(dir.path(), port).start(),
    );
    let (token, first) = gw.sync(COLL, "").await;
    wiremock::Mock::given(wiremock::matchers::query_param("archived", "true"))
        .respond_with(
            wiremock::ResponseTemplate::new(500)
                .set_body_json(serde_json::json!({"message": "boom"})),
        )
        .with_priority(1)
        .mount(&crm.server)
        .await;
    let victim = "88003";
    {
        let mut st = crm.state.lock().unwrap();
        st.records.retain(|r| r["id"] != victim);
        st.deleted.push((victim.to_string(), Utc::now()));
    }
    let (token, changed) = gw.sync(COLL, &token).await;
    assert!(
        changed.is_empty(),
        "the failed feed removes nothing: {changed:?}"
    );
    assert!(gw.log().contains("deleted-records feed could not be read"));
    let scans = full_listings(&crm).await;
    // Past the short schedule (the long one is 108 s away): a full scan sees the deletion.
    tokio::time::sleep(std::time::Duration::from_millis(3300)).await;
    let (_, changed) = gw.sync(COLL, &token).await;
    let gone: Vec<&String> = changed
        .iter()
        .filter(|(_, e)| e.is_none())
        .map(|(h, _)| h)
        .collect();
    assert_eq!(gone.len(), 1, "{changed:?}");
    assert!(gone[0].contains(victim) && first.contains_key(gone[0].as_str()));
    assert!(full_listings(&crm).await > scans, "a full scan ran");
}
