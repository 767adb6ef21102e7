//! Issue 12 item 12 over HTTP: a gateway restarted with a changed mapping on the same state
//! file re-renders every item once at the next refresh; items whose bytes change get new ETags
//! and appear in sync-collection, the others keep theirs. The wiremock HubSpot, with the
//! meetings mapping as a `mappings_dir` override.

use crate::support::gateway::{free_port, repo, Gateway, StateDir};
use crate::support::saas::{write_config, FakeCrm, Phone, Vendor};

const COLL: &str = "/dav/calendars/alice/meetings/";
const LOCATION_RULE: &str =
    "[[field]]\nproperty = \"LOCATION\"\npath = \"properties.hs_meeting_location\"\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_mapping_re_renders_once_and_moves_only_changed_items() {
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let dir = StateDir::new("rerender");
    let port = free_port();
    write_config(dir.path(), port, crm.vendor, &crm.uri(), "meetings", 0);
    let shipped = std::fs::read_to_string(repo("mappings/hubspot/meetings.toml")).unwrap();
    assert!(
        shipped.contains(LOCATION_RULE),
        "the shipped mapping changed"
    );
    let mapping = dir.path().join("mappings/hubspot/meetings.toml");
    std::fs::create_dir_all(mapping.parent().unwrap()).unwrap();
    std::fs::write(&mapping, &shipped).unwrap();
    let server = dir.path().join("crmdav.toml");
    let cfg = std::fs::read_to_string(&server).unwrap();
    std::fs::write(&server, format!("mappings_dir = \"mappings\"\n{cfg}")).unwrap();

    let mut gw = Phone::new(Gateway::new(dir.path(), port).start());
    let (token, first) = gw.sync(COLL, "").await;
    assert!(first.len() >= 4, "{first:?}");
    let before = gw.members(COLL).await;
    // Only one seeded meeting has a location (88001).
    let with_location: Vec<String> = {
        let mut v = Vec::new();
        for href in before.keys() {
            if gw.get(href).await.2.contains("\r\nLOCATION:") {
                v.push(href.clone());
            }
        }
        v
    };
    assert_eq!(with_location.len(), 1, "{before:?}");
    // Nothing changed, nothing moves: the same definition renders the same bytes.
    let (token, idle) = gw.sync(COLL, &token).await;
    assert!(idle.is_empty(), "{idle:?}");
    gw.stop();

    // The location now goes into a custom property: only the meeting with one renders anew.
    std::fs::write(
        &mapping,
        shipped.replace(
            LOCATION_RULE,
            "[[field]]\nproperty = \"X-PLACE\"\npath = \"properties.hs_meeting_location\"\n",
        ),
    )
    .unwrap();
    gw.spawn();
    // The restarted gateway has a stored state: the read that finds it stale is answered from
    // it, and the re-render runs in the background it starts.
    let (token, changed) = gw.sync_fresh(COLL, &token).await;
    assert_eq!(
        changed.keys().cloned().collect::<Vec<_>>(),
        with_location,
        "only the item whose bytes changed is reported"
    );
    let after = gw.members(COLL).await;
    for (href, etag) in &before {
        if with_location.contains(href) {
            assert_ne!(after.get(href), Some(etag), "{href} got a new ETag");
            let body = gw.get(href).await.2;
            assert!(body.contains("\r\nX-PLACE:Zoom\r\n"), "{body}");
            assert!(!body.contains("\r\nLOCATION:"), "{body}");
        } else {
            assert_eq!(after.get(href), Some(etag), "{href} kept its ETag");
        }
    }
    // Once: the next refresh renders nothing again.
    let (_, again) = gw.sync(COLL, &token).await;
    assert!(again.is_empty(), "{again:?}");
}
