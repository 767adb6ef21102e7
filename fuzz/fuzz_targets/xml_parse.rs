//! The request-body XML reader (`crmdav::xml::parse`) with the default configuration's limits,
//! and the serialisation of what it accepts (dead properties are stored as `to_xml`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(root) = crmdav::xml::parse(data, crmdav::dav::fuzzing::xml_limits()) {
        for e in root.elements() {
            let _ = e.to_xml();
        }
        let _ = root.text();
    }
});
