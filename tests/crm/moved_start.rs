//! Issue 9 item 9, the CRM half: a CRM without an end field moves an event's start. The
//! gateway keeps the phone's length (DTEND becomes DURATION) instead of serving the phone's old
//! DTEND, which would now be before the new start. The wiremock HubSpot with a meetings
//! mapping that has no DTEND (a `mappings_dir` override).

use crate::support::gateway::{free_port, repo, Gateway, StateDir};
use crate::support::saas::{write_config, FakeCrm, Phone, Vendor};

const COLL: &str = "/dav/calendars/alice/meetings/";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crm_moved_start_without_end_keeps_the_phones_length() {
    let crm = FakeCrm::start(Vendor::HubSpot).await;
    let dir = StateDir::new("moved-start");
    let port = free_port();
    write_config(dir.path(), port, crm.vendor, &crm.uri(), "meetings", 0);
    // The shipped meetings mapping without its DTEND field: the CRM holds only the start.
    let shipped = std::fs::read_to_string(repo("mappings/hubspot/meetings.toml")).unwrap();
    let end_field = "[[field]]\nproperty = \"DTEND\"\npath = \"properties.hs_meeting_end_time\"\ntype = \"datetime\"\nwrite_format = \"rfc3339_millis\"\n";
    assert!(shipped.contains(end_field), "the shipped mapping changed");
    let no_end = shipped.replace(end_field, "").replace(
        "properties = [\"DTSTART\", \"DTEND\"]",
        "properties = [\"DTSTART\"]",
    );
    std::fs::create_dir_all(dir.path().join("mappings/hubspot")).unwrap();
    std::fs::write(dir.path().join("mappings/hubspot/meetings.toml"), no_end).unwrap();
    let server = dir.path().join("crmdav.toml");
    let cfg = std::fs::read_to_string(&server).unwrap();
    std::fs::write(&server, format!("mappings_dir = \"mappings\"\n{cfg}")).unwrap();
    let gw = Phone::new(Gateway::new(dir.path(), port).start());

    let href = format!("{COLL}moved.ics");
    let body = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:moved\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:Moved in the CRM\r\nDTSTART:20300301T090000Z\r\nDTEND:20300301T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let (st, _, text) = gw
        .req(
            "PUT",
            &href,
            Some(body.into()),
            &[("Content-Type", "text/calendar")],
        )
        .await;
    assert_eq!(st, 201, "{text}");
    let id = crm
        .state
        .lock()
        .unwrap()
        .records
        .iter()
        .find(|r| r["properties"]["hs_meeting_title"] == "Moved in the CRM")
        .map(|r| r["id"].as_str().unwrap().to_string())
        .expect("created");
    assert!(crm.record(&id).unwrap()["properties"]["hs_meeting_end_time"].is_null());
    crm.edit(&id, |r| {
        r["properties"]["hs_meeting_start_time"] = "2030-03-03T09:00:00.000Z".into();
        r["properties"]["hs_timestamp"] = "2030-03-03T09:00:00.000Z".into();
    });
    gw.sync(COLL, "").await;
    let (st, _, got) = gw.get(&href).await;
    assert_eq!(st, 200);
    assert!(
        got.contains("DTSTART;TZID=Europe/Berlin:20300303T100000\r\n"),
        "{got}"
    );
    assert!(
        !got.contains("DTEND"),
        "the old end would be before the new start:\n{got}"
    );
    assert!(got.contains("DURATION:PT1H\r\n"), "{got}");
}
