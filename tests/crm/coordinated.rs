//! Gateway instances sharing one PostgreSQL database in front of one CRM (wiremock) do the
//! CRM's work once between them: phones hitting all of them at once cost one listing per TTL,
//! and every instance then serves the same items. Skipped, saying why, without the PostgreSQL
//! server binaries (support/postgres.rs).

use crate::support::gateway::{free_port, Gateway, StateDir};
use crate::support::phone::Phone;
use crate::support::postgres::PgCluster;
use crate::support::saas::{write_config, FakeCrm, Vendor};
use futures_util::future::join_all;

/// Long enough that the whole test runs within one TTL.
const TTL: u64 = 300;
const COLL: &str = "/dav/calendars/alice/meetings/";

/// One gateway instance on `crm` with its state in `state` (a PostgreSQL URL).
fn instance(crm: &FakeCrm, state: &str) -> (StateDir, Phone) {
    let dir = StateDir::new("coord");
    let port = free_port();
    write_config(
        dir.path(),
        port,
        Vendor::HubSpot,
        &crm.uri(),
        "meetings",
        TTL,
    );
    let cfg = dir.path().join("crmdav.toml");
    let text = std::fs::read_to_string(&cfg)
        .expect("config")
        .replace("sqlite://state/crmdav.db", state);
    std::fs::write(&cfg, text).expect("config");
    let phone = Phone::new(Gateway::new(dir.path(), port).start());
    (dir, phone)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_list_the_crm_once_per_ttl() {
    let Some(pg) = PgCluster::start_or_skip("three_instances_list_the_crm_once_per_ttl") else {
        return;
    };
    let url = pg.create_db("coord");
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let gws: Vec<(StateDir, Phone)> = (0..3).map(|_| instance(&crm, &url)).collect();
    assert!(
        crm.requests().await.is_empty(),
        "nothing listed before a phone asks"
    );

    // Twelve phones at once, four on each instance, then each instance again.
    let first = join_all((0..12).map(|i| gws[i % 3].1.sync(COLL, ""))).await;
    let again = join_all(gws.iter().map(|(_, p)| p.members(COLL))).await;

    // One listing (its three pages) for all of them.
    let requests = crm.requests().await;
    let paths: Vec<String> = requests
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect();
    println!(
        "CRM requests for 3 instances x 5 syncs in one TTL: {}",
        requests.len()
    );
    assert_eq!(requests.len(), 3, "one listing of three pages: {paths:?}");
    let calls = join_all(gws.iter().map(|(_, p)| p.metric("crmdav_crm_calls_total"))).await;
    println!("CRM calls per instance: {calls:?}");
    assert_eq!(calls.iter().sum::<u64>(), 3, "{calls:?}");
    assert_eq!(calls.iter().filter(|c| **c > 0).count(), 1, "{calls:?}");

    // Every phone sees the five records, with the same ETags on every instance.
    for (_, members) in &first {
        assert_eq!(members.len(), 5, "{members:?}");
    }
    let tags: Vec<_> = first[0]
        .1
        .iter()
        .map(|(h, e)| (h.clone(), e.clone().unwrap_or_default()))
        .collect();
    for members in &again {
        let got: Vec<_> = members
            .iter()
            .map(|(h, e)| (h.clone(), e.clone()))
            .collect();
        assert_eq!(got, tags);
    }
}
