//! Gateway instances sharing one PostgreSQL database in front of one CRM (wiremock) do the
//! CRM's work once between them: phones hitting all of them at once cost one listing per TTL,
//! and every instance then serves the same items; an OAuth refresh token the CRM rotates is
//! used by one instance at a time, so none is lost to a race. Skipped, saying why, without the PostgreSQL
//! server binaries (support/postgres.rs).

use crate::support::gateway::{free_port, Gateway, StateDir};
use crate::support::phone::Phone;
use crate::support::postgres::PgCluster;
use crate::support::saas::{fixture, write_config, FakeCrm, Vendor, SF_REFRESH};
use futures_util::future::join_all;
use serde_json::json;
use std::sync::{Arc, Mutex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

/// Long enough that the whole test runs within one TTL.
const TTL: u64 = 300;
const COLL: &str = "/dav/calendars/alice/meetings/";

/// One gateway instance on `crm` with its state in `state` (a PostgreSQL URL).
fn instance(crm: &FakeCrm, state: &str) -> (StateDir, Phone) {
    instance_with(crm, state, None, TTL)
}

/// As [`instance`], with the OAuth token endpoint at `login` when given.
fn instance_with(crm: &FakeCrm, state: &str, login: Option<&str>, ttl: u64) -> (StateDir, Phone) {
    let dir = StateDir::new("coord");
    let port = free_port();
    let coll = crm.vendor.entity();
    write_config(dir.path(), port, crm.vendor, &crm.uri(), coll, ttl);
    let cfg = dir.path().join("crmdav.toml");
    let text = std::fs::read_to_string(&cfg)
        .expect("config")
        .replace("sqlite://state/crmdav.db", state);
    std::fs::write(&cfg, text).expect("config");
    if let Some(login) = login {
        let t = dir.path().join("tenants/firm.toml");
        let text = std::fs::read_to_string(&t).expect("tenant").replace(
            &format!("login_url = \"{}\"", crm.uri()),
            &format!("login_url = \"{login}\""),
        );
        assert!(text.contains(login), "{text}");
        std::fs::write(&t, text).expect("tenant");
    }
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
    // Each page with its attendees' associations read (one request per page).
    assert_eq!(requests.len(), 6, "one listing of three pages: {paths:?}");
    let associations = paths
        .iter()
        .filter(|p| p.contains("/associations/"))
        .count();
    assert_eq!(associations, 3, "{paths:?}");
    let calls = join_all(gws.iter().map(|(_, p)| p.metric("crmdav_crm_calls_total"))).await;
    println!("CRM calls per instance: {calls:?}");
    assert_eq!(calls.iter().sum::<u64>(), 6, "{calls:?}");
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

/// The baseline for the test above: one instance, the same fifteen syncs in one TTL, the same
/// CRM requests (docs/benchmarks.md reports both).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_instance_lists_the_crm_once_per_ttl_as_three_do() {
    let Some(pg) = PgCluster::start_or_skip("one_instance_lists_the_crm_once_per_ttl_as_three_do")
    else {
        return;
    };
    let url = pg.create_db("coord_one");
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let (_dir, phone) = instance(&crm, &url);
    join_all((0..12).map(|_| phone.sync(COLL, ""))).await;
    join_all((0..3).map(|_| phone.members(COLL))).await;
    let requests = crm.requests().await;
    println!(
        "CRM requests for 1 instance x 15 syncs in one TTL: {}",
        requests.len()
    );
    // Each page with its attendees' associations read (one request per page), as above.
    assert_eq!(
        requests.len(),
        6,
        "one listing of three pages and their associations"
    );
    assert_eq!(phone.metric("crmdav_crm_calls_total").await, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_instances_list_once_in_each_ttl() {
    const SHORT: u64 = 4;
    let Some(pg) = PgCluster::start_or_skip("three_instances_list_once_in_each_ttl") else {
        return;
    };
    let url = pg.create_db("ttls");
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let gws: Vec<(StateDir, Phone)> = (0..3)
        .map(|_| instance_with(&crm, &url, None, SHORT))
        .collect();
    let listings = || async {
        join_all(
            gws.iter()
                .map(|(_, p)| p.metric("crmdav_crm_listings_total")),
        )
        .await
        .iter()
        .sum::<u64>()
    };
    for ttl in 1..=2 {
        // A phone on each instance at once, then again on each.
        join_all(gws.iter().map(|(_, p)| p.sync(COLL, ""))).await;
        join_all(gws.iter().map(|(_, p)| p.sync(COLL, ""))).await;
        // A stale read is answered at once and its refresh runs behind it (counted pending
        // before the answer): the listings are counted once every instance's has ended.
        join_all(
            gws.iter()
                .map(|(_, p)| p.await_metric("crmdav_refreshes_pending", |n| n == 0)),
        )
        .await;
        let n = listings().await;
        println!("listings after TTL {ttl} with 3 instances: {n}");
        assert_eq!(n, ttl, "one listing per TTL for all three instances");
        // The next TTL.
        tokio::time::sleep(std::time::Duration::from_millis(SHORT * 1000 + 200)).await;
    }
}

/// Seconds an access token lives: the gateway takes it as stale 60 s before it expires, so
/// this one is good for 3 s.
const TOKEN_LIFE: i64 = 63;

/// A Salesforce token endpoint that rotates the refresh token on every use and refuses a used
/// one (as `invalid_grant`), as CRMs with rotation do.
struct RotatingTokens {
    /// The API the answers name (`instance_url`).
    api: String,
    /// (the refresh token now valid, token requests answered, token requests refused).
    state: Arc<Mutex<(String, u64, u64)>>,
}

impl Respond for RotatingTokens {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let body = String::from_utf8_lossy(&r.body).to_string();
        let given = body
            .split('&')
            .find_map(|kv| kv.strip_prefix("refresh_token="))
            .unwrap_or_default()
            .to_string();
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if r.url.path() != "/services/oauth2/token" || given != st.0 {
            st.2 += 1;
            return ResponseTemplate::new(400).set_body_json(
                json!({"error": "invalid_grant", "error_description": "expired access/refresh token"}),
            );
        }
        st.1 += 1;
        st.0 = format!("rotated-{}", st.1);
        let mut t = fixture(Vendor::Salesforce, "token_1.json");
        t["instance_url"] = json!(self.api);
        t["refresh_token"] = json!(st.0);
        t["expires_in"] = json!(TOKEN_LIFE);
        // Slow, as token endpoints are: two instances refreshing at once overlap here.
        ResponseTemplate::new(200)
            .set_body_json(t)
            .set_delay(std::time::Duration::from_millis(1500))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_refresh_a_rotating_oauth_token_once() {
    let Some(pg) = PgCluster::start_or_skip("two_instances_refresh_a_rotating_oauth_token_once")
    else {
        return;
    };
    let url = pg.create_db("oauth");
    let crm = FakeCrm::start(Vendor::Salesforce).await;
    let login = MockServer::start().await;
    let tokens = Arc::new(Mutex::new((SF_REFRESH.to_string(), 0, 0)));
    Mock::given(wiremock::matchers::any())
        .respond_with(RotatingTokens {
            api: crm.uri(),
            state: tokens.clone(),
        })
        .mount(&login)
        .await;
    let gws: Vec<(StateDir, Phone)> = (0..2)
        .map(|_| instance_with(&crm, &url, Some(&login.uri()), TTL))
        .collect();
    let (a, b) = (&gws[0].1, &gws[1].1);
    let coll = format!("/dav/calendars/alice/{}/", Vendor::Salesforce.entity());
    let issued = || tokens.lock().map(|t| (t.1, t.2)).unwrap_or_default();
    // A lists (its token request stores the token); B's write then loads that token.
    assert_eq!(a.sync(&coll, "").await.1.len(), 5);
    put_event(b, &coll, "early").await;
    assert_eq!(issued(), (1, 0), "B used the token A stored");
    // Once the access token is stale, a phone on each instance writes at once: both need a
    // token; one requests it, the other re-reads it under the lease.
    let stale = TOKEN_LIFE - 60 + 1;
    tokio::time::sleep(std::time::Duration::from_secs(stale as u64)).await;
    join_all([put_event(a, &coll, "a"), put_event(b, &coll, "b")]).await;
    let (answered, refused) = issued();
    println!("token requests after the race: {answered} answered, {refused} refused");
    assert_eq!(
        (answered, refused),
        (2, 0),
        "exactly one token request for both"
    );
    assert_eq!(
        tokens.lock().map(|t| t.0.clone()).unwrap_or_default(),
        "rotated-2"
    );
    // Both instances keep working, and neither logged a refusal.
    for p in [a, b] {
        assert_eq!(p.members(&coll).await.len(), 8);
        assert!(!p.log().contains("invalid_grant"), "{}", p.log());
    }
}

/// A phone creates event `id` in `coll`: 201.
async fn put_event(p: &Phone, coll: &str, id: &str) {
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:race-{id}@phone\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:Race {id}\r\nDTSTART:20300220T110000Z\r\nDTEND:20300220T120000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    let href = format!("{coll}race-{id}.ics");
    let (st, _, body) = p
        .req(
            "PUT",
            &href,
            Some(ics),
            &[("Content-Type", "text/calendar")],
        )
        .await;
    assert_eq!(st, 201, "PUT {href}: {body}");
}
