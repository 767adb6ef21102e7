//! PUT validation of an iCalendar body into a calendar (`dav::validate`: media type, size,
//! `caldav::inspect`, the store's index), then what a REPORT renders of a stored object.
#![no_main]

use crmdav::config::Limits;
use crmdav::store::{Collection, CollectionKind};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn calendar() -> &'static (Limits, Collection) {
    static C: OnceLock<(Limits, Collection)> = OnceLock::new();
    C.get_or_init(|| {
        let coll = Collection {
            id: 1,
            path: "calendars/fuzz/work/".into(),
            kind: CollectionKind::Calendar,
            components: vec!["VEVENT".into(), "VTODO".into(), "VJOURNAL".into()],
            seq: 1,
            min_seq: 0,
            instance: "fuzz".into(),
            epoch: String::new(),
            prev: None,
            modified: 0,
            created: 0,
        };
        (Limits::default(), coll)
    })
}

fuzz_target!(|data: &[u8]| {
    let (limits, coll) = calendar();
    let ok = crmdav::dav::validate::validate(limits, coll, Some("text/calendar"), data).is_ok();
    if ok {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = crmdav::caldav::free_busy(
                &[text],
                crmdav::caldav::TimeRange {
                    start: Some(1_600_000_000),
                    end: Some(1_900_000_000),
                },
                limits.max_instances,
            );
        }
    }
});
