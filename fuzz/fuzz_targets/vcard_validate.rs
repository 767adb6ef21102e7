//! PUT validation of a vCard into an address book (`dav::validate`: `carddav::inspect` and the
//! indexed, folded fields), then the 3.0 and 4.0 renderings `address-data` serves of it.
#![no_main]

use crmdav::config::Limits;
use crmdav::store::{Collection, CollectionKind};
use crmdav::vocab::VCardVersion;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn addressbook() -> &'static (Limits, Collection) {
    static C: OnceLock<(Limits, Collection)> = OnceLock::new();
    C.get_or_init(|| {
        let coll = Collection {
            id: 1,
            path: "addressbooks/fuzz/contacts/".into(),
            kind: CollectionKind::Addressbook,
            components: Vec::new(),
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
    let (limits, coll) = addressbook();
    let ok = crmdav::dav::validate::validate(limits, coll, Some("text/vcard"), data).is_ok();
    if ok {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = crmdav::carddav::convert(text, VCardVersion::V3);
            let _ = crmdav::carddav::convert(text, VCardVersion::V4);
        }
    }
});
