//! CRM tokens at rest, through the real binary on the simulated Salesforce (OAuth refresh
//! token): with `secrets_key` (here from `${ENV}`) the state file holds neither the access nor
//! the refresh token, and a gateway restarted with another key says so for that tenant (at
//! start and at each refresh) and keeps serving the last known state: never an empty calendar
//! from a token silently dropped.

use crate::support::gateway::{free_port, Gateway, StateDir};
use crate::support::phone::Phone;
use crate::support::saas::{fixture, write_config, FakeCrm, Vendor, SF_REFRESH};
use std::path::Path;
use std::time::Duration;

const KEY_ENV: &str = "CRMDAV_TEST_SECRETS_KEY";

/// Every byte of the state folder (the SQLite file and its write-ahead log).
fn state_bytes(dir: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.join("state")).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

fn start(dir: &Path, port: u16, key: &str) -> Phone {
    Phone::new(Gateway::new(dir, port).env(KEY_ENV, key).start())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_tokens_are_sealed_in_the_state_file() {
    let crm = FakeCrm::start(Vendor::Salesforce).await;
    let dir = StateDir::new("sealed");
    let port = free_port();
    let coll = "/dav/calendars/alice/events/";
    write_config(
        dir.path(),
        port,
        Vendor::Salesforce,
        &crm.uri(),
        "events",
        1,
    );
    let server_file = dir.path().join("crmdav.toml");
    let mut cfg = std::fs::read_to_string(&server_file).unwrap();
    cfg.push_str(&format!("secrets_key = \"${{{KEY_ENV}}}\"\n"));
    std::fs::write(&server_file, cfg).unwrap();

    let gw = start(dir.path(), port, &"11".repeat(32));
    let (_, members) = gw.sync(coll, "").await;
    assert_eq!(members.len(), 5, "the CRM's records are served");
    assert!(!gw.log().contains("stored unencrypted"), "{}", gw.log());
    drop(gw);

    let bytes = state_bytes(dir.path());
    let access = fixture(Vendor::Salesforce, "token_1.json")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(contains(&bytes, "crm:oauth2-token"), "a token was stored");
    assert!(
        !contains(&bytes, &access),
        "the access token is in the state file"
    );
    assert!(
        !contains(&bytes, SF_REFRESH),
        "the refresh token is in the state file"
    );

    // Another key: the refresh fails and says why; the phone keeps the last known state.
    let gw = start(dir.path(), port, &"22".repeat(32));
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let body = r#"<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token/><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#;
    let (st, _, text) = gw
        .req(
            "REPORT",
            coll,
            Some(body.into()),
            &[("Content-Type", "application/xml")],
        )
        .await;
    assert_eq!(st, 207, "{text}");
    assert_eq!(text.matches("<d:response>").count(), 5, "{text}");
    // The stale read was answered from the stored state; the refresh it started fails.
    gw.refreshes_reach(1).await;
    let log = gw.log();
    let named = |what: &str| {
        log.lines().any(|l| {
            l.contains(what)
                && l.contains("tenant firm: the stored CRM token cannot be read")
                && l.contains("does not decrypt with the configured secrets_key")
        })
    };
    assert!(named("CRM token unusable"), "at start: {log}");
    assert!(named("refresh failed"), "at the refresh: {log}");
    let issued = crm.state.lock().unwrap().tokens_issued;
    assert_eq!(
        issued, 1,
        "no token asked with the configured refresh token after the restart"
    );
}

/// Without a key, an OAuth tenant is served and the log says its tokens are stored in the
/// clear; a tenant with a static token keeps nothing in the store, so nothing is said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_oauth_tenants_are_warned_about() {
    for (vendor, warned) in [(Vendor::Salesforce, true), (Vendor::HubSpot, false)] {
        let crm = FakeCrm::start(vendor).await;
        let dir = StateDir::new("unsealed");
        let port = free_port();
        write_config(dir.path(), port, vendor, &crm.uri(), "events", 1);
        let gw = Phone::new(Gateway::new(dir.path(), port).start());
        let (_, members) = gw.sync("/dav/calendars/alice/events/", "").await;
        assert_eq!(members.len(), 5);
        let log = gw.log();
        let warning = log
            .lines()
            .any(|l| l.contains("no secrets_key configured") && l.contains("tenant=firm"));
        assert_eq!(warning, warned, "{vendor:?}: {log}");
    }
}
