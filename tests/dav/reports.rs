//! ACL reports clients use (RFC 3744 §9.3–9.5, §3.8 expand-property) and unknown REPORTs.

use crate::support::dav::*;
use crate::support::demo::*;

fn pps(c: &Client, path: &str, inner: &str, test: Option<&str>) -> Resp {
    let t = test.map(|t| format!(r#" test="{t}""#)).unwrap_or_default();
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:principal-property-search xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"{t}>{inner}<D:prop><D:displayname/><C:calendar-home-set/><C:calendar-user-address-set/></D:prop></D:principal-property-search>"#
    );
    c.report(path, "0", &body)
}

fn search(prop: &str, text: &str) -> String {
    format!(
        "<D:property-search><D:prop>{prop}</D:prop><D:match>{text}</D:match></D:property-search>"
    )
}

#[test]
fn principal_property_search_by_displayname_finds_self() {
    for path in ["/dav/principals/", "/dav/", PRINCIPAL] {
        let ms = pps(&demo(), path, &search("<D:displayname/>", "demo"), None).multistatus();
        assert_eq!(ms.hrefs(), vec![PRINCIPAL.to_string()], "{path}");
        let r = ms.get(PRINCIPAL);
        assert_eq!(r.ok(DAV, "displayname").text, "Demo User");
        assert_eq!(
            r.ok(CALDAV, "calendar-home-set").hrefs(),
            vec![CAL_HOME.to_string()]
        );
    }
    // case-insensitive substring
    let ms = pps(
        &demo(),
        "/dav/principals/",
        &search("<D:displayname/>", "MO US"),
        None,
    )
    .multistatus();
    assert_eq!(ms.hrefs(), vec![PRINCIPAL.to_string()]);
    // by email
    let ms = pps(
        &demo(),
        "/dav/principals/",
        &search("<C:calendar-user-address-set/>", "demo@crmdav"),
        None,
    )
    .multistatus();
    assert_eq!(ms.hrefs(), vec![PRINCIPAL.to_string()]);
}

#[test]
fn principal_property_search_with_no_match_is_empty_and_well_formed() {
    let ms = pps(
        &demo(),
        "/dav/principals/",
        &search("<D:displayname/>", "zzz-no-such-person"),
        None,
    )
    .multistatus();
    assert!(ms.responses().is_empty(), "{}", ms.text);
    // anyof/allof
    let both = format!(
        "{}{}",
        search("<D:displayname/>", "demo"),
        search("<D:displayname/>", "nobody-here")
    );
    let ms = pps(&demo(), "/dav/principals/", &both, Some("anyof")).multistatus();
    assert_eq!(ms.hrefs(), vec![PRINCIPAL.to_string()]);
    let ms = pps(&demo(), "/dav/principals/", &both, None).multistatus();
    assert!(ms.responses().is_empty(), "allof is the default");
}

#[test]
fn principal_property_search_never_finds_other_tenants() {
    let ms = pps(
        &demo(),
        "/dav/principals/",
        &search("<D:displayname/>", "alice"),
        None,
    )
    .multistatus();
    assert!(ms.responses().is_empty(), "{}", ms.text);
    let ms = pps(
        &alice(),
        "/dav/principals/",
        &search("<D:displayname/>", "demo"),
        None,
    )
    .multistatus();
    assert!(ms.responses().is_empty(), "{}", ms.text);
    let ms = pps(
        &alice(),
        "/dav/principals/",
        &search("<D:displayname/>", "alice"),
        None,
    )
    .multistatus();
    assert_eq!(ms.hrefs(), vec!["/dav/principals/alice/".to_string()]);
}

#[test]
fn principal_search_property_set() {
    let body = r#"<?xml version="1.0" encoding="utf-8"?><D:principal-search-property-set xmlns:D="DAV:"/>"#;
    let r = demo().report("/dav/principals/", "0", body);
    r.expect(200);
    let t = r.text();
    let doc = roxmltree::Document::parse(&t).unwrap();
    let root = doc.root_element();
    assert!(
        root.has_tag_name((DAV, "principal-search-property-set")),
        "{t}"
    );
    let props: Vec<(String, String)> = root
        .children()
        .filter(|c| c.has_tag_name((DAV, "principal-search-property")))
        .flat_map(|sp| {
            let prop = sp
                .children()
                .find(|c| c.has_tag_name((DAV, "prop")))
                .expect("prop");
            assert!(
                sp.children().any(|c| c.has_tag_name((DAV, "description"))),
                "each has a description"
            );
            prop.children()
                .filter(|c| c.is_element())
                .map(|c| {
                    (
                        c.tag_name().namespace().unwrap_or("").to_string(),
                        c.tag_name().name().to_string(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        props.contains(&(DAV.to_string(), "displayname".to_string())),
        "{props:?}"
    );
}

#[test]
fn expand_property_of_current_user_principal() {
    let body = r#"<?xml version="1.0" encoding="utf-8"?><D:expand-property xmlns:D="DAV:"><D:property name="current-user-principal"><D:property name="calendar-home-set" namespace="urn:ietf:params:xml:ns:caldav"/><D:property name="displayname"/></D:property></D:expand-property>"#;
    let r = demo().report("/dav/", "0", body);
    let t = r.multistatus().text;
    let doc = roxmltree::Document::parse(&t).unwrap();
    let cup = doc
        .descendants()
        .find(|n| n.has_tag_name((DAV, "current-user-principal")))
        .expect("current-user-principal in the answer");
    // The value is a DAV:response for the principal, with the asked properties inside.
    let resp = cup
        .children()
        .find(|c| c.has_tag_name((DAV, "response")))
        .unwrap_or_else(|| panic!("current-user-principal expanded into a DAV:response:\n{t}"));
    let href = resp
        .children()
        .find(|c| c.has_tag_name((DAV, "href")))
        .map(all_text)
        .unwrap();
    assert_eq!(path_of(&href), PRINCIPAL);
    let chs = resp
        .descendants()
        .find(|n| n.has_tag_name((CALDAV, "calendar-home-set")))
        .unwrap_or_else(|| panic!("calendar-home-set inside:\n{t}"));
    let home = chs
        .descendants()
        .find(|n| n.has_tag_name((DAV, "href")))
        .map(all_text)
        .unwrap();
    assert_eq!(path_of(&home), CAL_HOME);
    let dn = resp
        .descendants()
        .find(|n| n.has_tag_name((DAV, "displayname")))
        .map(all_text)
        .unwrap();
    assert_eq!(dn, "Demo User");
}

#[test]
fn expand_property_unknown_property_is_404() {
    let body = r#"<D:expand-property xmlns:D="DAV:"><D:property name="no-such-prop" namespace="urn:x-test:"/></D:expand-property>"#;
    let ms = demo().report(PRINCIPAL, "0", body).multistatus();
    assert_eq!(
        ms.get(PRINCIPAL).prop_status("urn:x-test:", "no-such-prop"),
        404
    );
}

#[test]
fn unknown_report_is_403_supported_report() {
    for (path, body) in [
        (MEETINGS, r#"<X:frobnicate xmlns:X="urn:x-test:"/>"#),
        (PRINCIPAL, r#"<D:version-tree xmlns:D="DAV:"/>"#),
        // a CardDAV report on a calendar
        (
            MEETINGS,
            r#"<CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/></D:prop><CR:filter/></CR:addressbook-query>"#,
        ),
        // a calendar-multiget element in the wrong namespace is not a calendar-multiget
        (
            MEETINGS,
            r#"<X:calendar-multiget xmlns:X="urn:x-wrong:" xmlns:D="DAV:"><D:href>/dav/calendars/demo/meetings/demo-evt-0001@crmdav.ics</D:href></X:calendar-multiget>"#,
        ),
    ] {
        let r = demo().report(path, "0", body);
        r.expect_error(403, DAV, "supported-report");
    }
}

#[test]
fn multiget_body_in_the_wrong_namespace_inside_is_not_honoured() {
    // The filter element in a foreign namespace must not be read as CALDAV:filter.
    let body = r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:X="urn:x-wrong:"><D:prop><D:getetag/></D:prop><X:filter><C:comp-filter name="VCALENDAR"/></X:filter></C:calendar-query>"#;
    demo()
        .report(MEETINGS, "1", body)
        .expect_error(403, CALDAV, "valid-filter");
}
