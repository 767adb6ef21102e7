//! `Prefer: return=minimal` (RFC 7240, RFC 8144 §3) and its older spelling `Brief: t` on the
//! methods that answer with a multistatus of properties: the properties that would be 404 are
//! left out (and, for PROPPATCH, those that were set), the answer says `Preference-Applied`,
//! and every such answer varies on both headers.

use crate::support::dav::*;
use crate::support::demo::*;

const MINIMAL: &[(&str, &str)] = &[("Prefer", "return=minimal")];
const BRIEF: &[(&str, &str)] = &[("Brief", "t")];
/// Asked for with each property that exists: one that never does.
const MISSING: &str = r#"<X:missing xmlns:X="urn:x-test:"/>"#;

/// How many properties of the multistatus have status `code`.
fn count(ms: &Ms, code: u16) -> usize {
    ms.responses()
        .iter()
        .flat_map(|r| r.props.iter())
        .filter(|p| p.status == code)
        .count()
}

/// The answer honoured the preference (or not, with `applied` false), and says it varies.
#[track_caller]
fn assert_marked(r: &Resp, applied: bool) {
    let vary = r.header_all("vary").to_ascii_lowercase();
    assert!(
        vary.contains("prefer") && vary.contains("brief"),
        "Vary: {vary}"
    );
    assert_eq!(
        r.header("preference-applied").as_deref(),
        applied.then_some("return=minimal"),
        "{}",
        r.text()
    );
}

/// A calendar with one event, and an address book with one card.
fn fixture(d: &Client) -> (String, String, String) {
    let cal = d.new_calendar(&["VEVENT"]);
    let ev = format!("{cal}one.ics");
    d.put_ics(
        &ev,
        &vevent("one", "one", "20300101T100000Z", "20300101T110000Z"),
    )
    .expect(201);
    let book = d.new_addressbook();
    d.put_vcf(&format!("{book}one.vcf"), &vcard3("one", "One Person"))
        .expect(201);
    (cal, ev, book)
}

fn propfind(d: &Client, path: &str, depth: &str, headers: &[(&str, &str)]) -> Resp {
    let body = format!(
        r#"<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:displayname/>{MISSING}</D:prop></D:propfind>"#
    );
    d.dav("PROPFIND", path, Some(depth), body, headers)
}

#[test]
fn propfind_leaves_out_404_properties_when_asked() {
    let d = demo();
    let (cal, ev, _) = fixture(&d);
    for depth in ["0", "1"] {
        let full = propfind(&d, &cal, depth, &[]);
        assert!(count(&full.multistatus(), 404) > 0);
        assert_marked(&full, false);
        for headers in [
            MINIMAL,
            BRIEF,
            &[("Prefer", "handling=lenient, return=\"minimal\"")],
        ] {
            let r = propfind(&d, &cal, depth, headers);
            let ms = r.multistatus();
            assert_eq!(count(&ms, 404), 0, "{headers:?}: {}", ms.text);
            assert_eq!(ms.get(&cal).prop(DAV, "displayname").unwrap().status, 200);
            if depth == "1" {
                assert_eq!(ms.get(&ev).prop(DAV, "getetag").unwrap().status, 200);
            }
            assert_marked(&r, true);
        }
    }
    // Another preference is not this one.
    let r = propfind(&d, &cal, "0", &[("Prefer", "return=representation")]);
    assert!(count(&r.multistatus(), 404) > 0);
    assert_marked(&r, false);
    // A resource with nothing left keeps one empty 200 propstat.
    let body = format!(r#"<D:propfind xmlns:D="DAV:"><D:prop>{MISSING}</D:prop></D:propfind>"#);
    let r = d.dav("PROPFIND", &ev, Some("0"), body, MINIMAL);
    let ms = r.multistatus();
    assert!(ms.get(&ev).props.is_empty(), "{}", ms.text);
    assert!(ms.text.contains("200 OK"), "{}", ms.text);
}

#[test]
fn proppatch_lists_only_failures_when_asked() {
    let d = demo();
    let (cal, _, _) = fixture(&d);
    let set = |name: &str| {
        format!(
            r#"<D:propertyupdate xmlns:D="DAV:" xmlns:X="urn:x-test:"><D:set><D:prop><D:displayname>{name}</D:displayname><X:note>n</X:note></D:prop></D:set></D:propertyupdate>"#
        )
    };
    let full = d.dav("PROPPATCH", &cal, None, set("full"), &[]);
    assert_eq!(count(&full.multistatus(), 200), 2);
    assert_marked(&full, false);
    for (headers, name) in [(MINIMAL, "minimal"), (BRIEF, "brief")] {
        let r = d.dav("PROPPATCH", &cal, None, set(name), headers);
        let ms = r.multistatus();
        let resp = ms.get(&cal);
        assert!(resp.props.is_empty(), "{}", ms.text);
        assert!(ms.text.contains("200 OK"), "{}", ms.text);
        assert_marked(&r, true);
        let now = d.propfind(&cal, "0", "<D:displayname/>").multistatus();
        assert_eq!(now.get(&cal).ok(DAV, "displayname").text, name);
    }
    // A refusal still names every property: the failed one and those it took down.
    let bad = r#"<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:getetag>x</D:getetag><D:displayname>no</D:displayname></D:prop></D:set></D:propertyupdate>"#;
    let r = d.dav("PROPPATCH", &cal, None, bad, MINIMAL);
    let ms = r.multistatus();
    assert_marked(&r, false);
    assert_eq!(ms.get(&cal).prop_status(DAV, "getetag"), 403);
    assert_eq!(ms.get(&cal).prop_status(DAV, "displayname"), 424);
}

#[test]
fn reports_leave_out_404_properties_when_asked() {
    let d = demo();
    let (cal, ev, book) = fixture(&d);
    let props = format!("<D:prop><D:getetag/>{MISSING}</D:prop>");
    let reports = [
        (
            cal.clone(),
            format!(
                r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">{props}<C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>"#
            ),
        ),
        (
            cal.clone(),
            format!(
                r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">{props}<D:href>{ev}</D:href></C:calendar-multiget>"#
            ),
        ),
        (
            cal.clone(),
            format!(
                r#"<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level>{props}</D:sync-collection>"#
            ),
        ),
        (
            book.clone(),
            format!(
                r#"<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">{props}<CR:filter/></CR:addressbook-query>"#
            ),
        ),
        (
            PRINCIPAL.to_string(),
            r#"<D:expand-property xmlns:D="DAV:"><D:property name="displayname"/><D:property name="missing" namespace="urn:x-test:"/></D:expand-property>"#
                .to_string(),
        ),
    ];
    for (path, body) in &reports {
        let full = d.report(path, "1", body);
        assert!(
            count(&full.multistatus(), 404) > 0,
            "{body}: {}",
            full.text()
        );
        assert_marked(&full, false);
        for headers in [MINIMAL, BRIEF] {
            let r = d.dav("REPORT", path, Some("1"), body.as_bytes().to_vec(), headers);
            let ms = r.multistatus();
            assert_eq!(count(&ms, 404), 0, "{body}: {}", ms.text);
            assert!(count(&ms, 200) > 0, "{body}: {}", ms.text);
            assert_marked(&r, true);
        }
    }
}
