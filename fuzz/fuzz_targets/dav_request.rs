//! The PROPFIND, PROPPATCH/MKCOL and REPORT request parsers (prop requests, calendar-data and
//! address-data requests rendered against a fixed item, filters, sync tokens, hrefs).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    crmdav::dav::fuzzing::request_body(data);
});
