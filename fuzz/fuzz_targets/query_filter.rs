//! calendar-query and addressbook-query filter evaluation: the input is a REPORT body, then
//! optionally a 0xFF byte and the object to test (a fixed event or card without it). The
//! filter is parsed as the REPORT handler parses it and evaluated against the object.
#![no_main]

use crmdav::dav::fuzzing::{xml_limits, CARD, EVENT};
use crmdav::xml::{NS_CALDAV, NS_CARDDAV};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (query, object) = match data.iter().position(|b| *b == 0xFF) {
        Some(i) => (&data[..i], std::str::from_utf8(&data[i + 1..]).ok()),
        None => (data, None),
    };
    let Ok(root) = crmdav::xml::parse(query, xml_limits()) else {
        return;
    };
    let max_instances = crmdav::config::Limits::default().max_instances;
    if let Some(f) = root.child(NS_CALDAV, "filter") {
        if let Ok(filter) = crmdav::caldav::parse_filter(f) {
            let _ = crmdav::caldav::time_bounds_hint(&filter);
            let _ = crmdav::caldav::matches(&filter, object.unwrap_or(EVENT), max_instances);
        }
    }
    if let Some(f) = root.child(NS_CARDDAV, "filter") {
        if let Ok(filter) = crmdav::carddav::parse_filter(f) {
            let _ = crmdav::carddav::probes(&filter);
            let _ = crmdav::carddav::matches(&filter, object.unwrap_or(CARD));
        }
    }
});
