//! Entry points for the fuzz targets in `fuzz/` (not part of the API): each runs the
//! request parsers a handler runs on a body, without a server, a store or a principal.

use super::propfind::{propfind_of, PropRequest};
use super::proppatch::parse_updates;
use super::report::{self, DataRequest, ReportKind};
use crate::config::Limits;
use crate::store::{Collection, CollectionKind};
use crate::xml::{self, Element, NS_CALDAV, NS_CARDDAV, NS_DAV};

/// A recurring event that `calendar-data` requests (expand, limit-recurrence-set, component
/// and property selection) are rendered against.
pub const EVENT: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//fuzz//EN\r\nBEGIN:VEVENT\r\n\
UID:fuzz-1\r\nDTSTAMP:20240101T000000Z\r\nDTSTART:20240102T100000Z\r\n\
DTEND:20240102T110000Z\r\nRRULE:FREQ=DAILY;COUNT=5\r\nSUMMARY:Fuzz\r\n\
BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\nEND:VEVENT\r\n\
BEGIN:VEVENT\r\nUID:fuzz-1\r\nDTSTAMP:20240101T000000Z\r\nRECURRENCE-ID:20240103T100000Z\r\n\
DTSTART:20240103T120000Z\r\nDTEND:20240103T130000Z\r\nSUMMARY:Moved\r\nEND:VEVENT\r\n\
END:VCALENDAR\r\n";

/// A vCard 4.0 that `address-data` requests (property selection, version) are rendered
/// against.
pub const CARD: &str = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:fuzz-card\r\nFN:Fuzz Tester\r\n\
N:Tester;Fuzz;;;\r\nEMAIL;TYPE=work:fuzz@example.com\r\nTEL;VALUE=uri:tel:+1-555-0100\r\n\
KIND:individual\r\nEND:VCARD\r\n";

/// The XML limits a default configuration applies to request bodies.
pub fn xml_limits() -> xml::Limits {
    let l = Limits::default();
    xml::Limits {
        max_depth: l.xml_max_depth,
        max_elements: l.xml_max_elements,
    }
}

/// Parse `body` as a request body and run every PROPFIND, PROPPATCH/MKCOL and REPORT parser
/// on it, as the handler for its root element would. Errors are answers, not failures: only a
/// panic, a hang or unbounded memory is a finding.
pub fn request_body(body: &[u8]) {
    let Ok(root) = xml::parse(body, xml_limits()) else {
        return;
    };
    let _ = propfind_of(&root);
    let _ = parse_updates(&root);
    let _ = ReportKind::of(&root);
    report_parts(&root);
}

fn report_parts(root: &Element) {
    let max_instances = Limits::default().max_instances;
    let pr: PropRequest = report::prop_request(root);
    match DataRequest::parse(&pr) {
        Ok(DataRequest::Calendar(r)) => {
            let _ = crate::caldav::render_calendar_data(&r, EVENT, max_instances);
        }
        Ok(DataRequest::Address(r)) => {
            let _ = crate::carddav::render_address_data(&r, CARD);
        }
        Ok(DataRequest::None) | Err(_) => {}
    }
    if let Some(f) = root.child(NS_CALDAV, "filter") {
        if let Ok(filter) = crate::caldav::parse_filter(f) {
            let _ = crate::caldav::time_bounds_hint(&filter);
        }
    }
    if let Some(f) = root.child(NS_CARDDAV, "filter") {
        if let Ok(filter) = crate::carddav::parse_filter(f) {
            let _ = crate::carddav::probes(&filter);
        }
    }
    let _ = crate::carddav::parse_limit(root);
    if let Some(t) = root.child(NS_DAV, "sync-token") {
        let _ = collection().parse_token(t.text().trim());
    }
    for h in root.children_named(NS_DAV, "href") {
        let _ = crate::tree::parse_href(h.text().trim());
    }
    if let Some(tr) = root.child(NS_CALDAV, "time-range") {
        let _ = tr.attr("start").and_then(crate::caldav::parse_utc);
        let _ = tr.attr("end").and_then(crate::caldav::parse_utc);
    }
}

/// The collection sync tokens are parsed against.
fn collection() -> Collection {
    Collection {
        id: 1,
        path: "calendars/fuzz/work/".into(),
        kind: CollectionKind::Calendar,
        components: vec!["VEVENT".into()],
        seq: 100,
        min_seq: 10,
        instance: "fuzz".into(),
        epoch: String::new(),
        prev: None,
        modified: 0,
        created: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_every_parser_on_golden_shapes() {
        request_body(
            br#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><C:calendar-data><C:expand start="20240101T000000Z" end="20250101T000000Z"/></C:calendar-data></D:prop>
<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter>
</C:calendar-query>"#,
        );
        request_body(b"<D:propfind xmlns:D='DAV:'><D:allprop/></D:propfind>");
        request_body(b"not xml");
    }
}
