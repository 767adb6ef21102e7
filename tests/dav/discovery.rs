//! Service discovery as iOS/macOS and DAVx5 do it: RFC 6764 (well-known URIs), RFC 5397
//! (current-user-principal), RFC 4791 §6 / RFC 6352 §7 (home sets), RFC 3744 (privileges).

use crate::support::dav::*;
use crate::support::demo::*;

const PRINCIPAL_PROPS: &str = "<D:current-user-principal/><D:principal-URL/><C:calendar-home-set/>\
<CR:addressbook-home-set/><C:calendar-user-address-set/><D:displayname/><D:resourcetype/>\
<D:supported-report-set/><D:owner/><D:current-user-privilege-set/>";

#[test]
fn well_known_caldav_redirects_to_context_path() {
    for path in ["/.well-known/caldav", "/.well-known/carddav"] {
        for c in [anon(), demo()] {
            let r = c.get(path);
            assert_eq!(r.status, 301, "GET {path}");
            let loc = r.header("location").expect("Location");
            assert_eq!(path_of(&loc), "/dav/", "Location of {path}");
        }
        // iOS sends PROPFIND to the well-known URI first.
        let r = anon().propfind(path, "0", "<D:current-user-principal/>");
        assert_eq!(r.status, 301, "PROPFIND {path}");
        assert_eq!(path_of(&r.header("location").unwrap()), "/dav/");
    }
}

#[test]
fn following_the_redirect_needs_auth() {
    let r = anon().propfind("/dav/", "0", "<D:current-user-principal/>");
    assert_eq!(r.status, 401);
    assert!(r
        .header("www-authenticate")
        .unwrap_or_default()
        .starts_with("Basic "));
}

fn check_principal_props(path: &str) {
    let ms = demo().propfind(path, "0", PRINCIPAL_PROPS).multistatus();
    let all = ms.responses();
    assert_eq!(all.len(), 1, "Depth 0 gives one response: {}", ms.text);
    let r = ms.get(path);

    assert_eq!(
        r.ok(DAV, "current-user-principal").hrefs(),
        vec![PRINCIPAL.to_string()],
        "{path}"
    );
    assert_eq!(
        r.ok(DAV, "principal-URL").hrefs(),
        vec![PRINCIPAL.to_string()],
        "{path}"
    );

    let chs = r.ok(CALDAV, "calendar-home-set");
    assert_eq!(
        chs.children.len(),
        1,
        "exactly one href in calendar-home-set: {chs:?}"
    );
    assert_eq!(chs.hrefs(), vec![CAL_HOME.to_string()]);
    let ahs = r.ok(CARDDAV, "addressbook-home-set");
    assert_eq!(
        ahs.children.len(),
        1,
        "exactly one href in addressbook-home-set: {ahs:?}"
    );
    assert_eq!(ahs.hrefs(), vec![CARD_HOME.to_string()]);

    let cuas = r.ok(CALDAV, "calendar-user-address-set").hrefs();
    assert!(
        cuas.iter()
            .any(|h| h.eq_ignore_ascii_case("mailto:demo@crmdav.example")),
        "calendar-user-address-set has the user's mailto: {cuas:?}"
    );

    let dn = r.ok(DAV, "displayname");
    assert!(!dn.text.trim().is_empty(), "displayname is not empty");

    let rt = r.ok(DAV, "resourcetype");
    assert!(
        rt.child(DAV, "collection").is_some(),
        "resourcetype has DAV:collection"
    );

    let srs = r.ok(DAV, "supported-report-set");
    let reports: Vec<&Child> = srs
        .children
        .iter()
        .filter(|c| c.is(DAV, "supported-report"))
        .collect();
    assert!(!reports.is_empty(), "supported-report-set lists reports");
    for sr in &reports {
        let rep = sr.find(DAV, "report");
        assert_eq!(
            rep.len(),
            1,
            "each supported-report has one DAV:report: {sr:?}"
        );
        assert_eq!(rep[0].children.len(), 1, "each DAV:report names one report");
    }

    assert_eq!(r.ok(DAV, "owner").hrefs(), vec![PRINCIPAL.to_string()]);

    let cups = r.ok(DAV, "current-user-privilege-set");
    let privs: Vec<&Child> = cups
        .children
        .iter()
        .filter(|c| c.is(DAV, "privilege"))
        .collect();
    assert!(
        !privs.is_empty(),
        "current-user-privilege-set lists privileges"
    );
    for p in &privs {
        assert_eq!(
            p.children.len(),
            1,
            "one privilege per DAV:privilege: {p:?}"
        );
    }
    assert!(
        privs.iter().any(|p| p.children[0].is(DAV, "read")),
        "the user may read: {privs:?}"
    );
}

#[test]
fn root_answers_principal_properties() {
    check_principal_props("/");
}

#[test]
fn context_path_answers_principal_properties() {
    check_principal_props("/dav/");
}

#[test]
fn principal_answers_principal_properties() {
    check_principal_props(PRINCIPAL);
    let ms = demo()
        .propfind(
            PRINCIPAL,
            "0",
            "<D:resourcetype/><D:displayname/><C:calendar-user-type/>",
        )
        .multistatus();
    let r = ms.get(PRINCIPAL);
    let rt = r.ok(DAV, "resourcetype");
    assert!(
        rt.child(DAV, "principal").is_some(),
        "a principal's resourcetype has DAV:principal"
    );
    assert_eq!(r.ok(DAV, "displayname").text, "Demo User");
    assert_eq!(r.ok(CALDAV, "calendar-user-type").text.trim(), "INDIVIDUAL");
}

#[test]
fn principal_url_without_trailing_slash_resolves() {
    let r = demo().propfind("/dav/principals/demo", "0", "<D:current-user-principal/>");
    let ms = r.multistatus();
    let resp = &ms.responses()[0];
    assert_eq!(
        resp.ok(DAV, "current-user-principal").hrefs(),
        vec![PRINCIPAL.to_string()]
    );
}

fn is_uri(s: &str) -> bool {
    // RFC 3986: scheme ":" ...; scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
    match s.split_once(':') {
        Some((scheme, rest)) => {
            !rest.is_empty()
                && scheme
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        }
        None => false,
    }
}

fn report_names(p: &Prop) -> Vec<(String, String)> {
    p.children
        .iter()
        .filter(|c| c.is(DAV, "supported-report"))
        .flat_map(|sr| sr.find(DAV, "report"))
        .flat_map(|r| r.children.iter())
        .map(|c| (c.ns.clone(), c.name.clone()))
        .collect()
}

#[test]
fn calendar_home_depth1_lists_calendars() {
    let ms = demo()
        .propfind(
            CAL_HOME,
            "1",
            "<D:resourcetype/><D:displayname/><CS:getctag/><D:sync-token/>\
             <C:supported-calendar-component-set/><D:supported-report-set/><A:calendar-color/>",
        )
        .multistatus();
    let hrefs = ms.hrefs();
    assert!(
        hrefs.contains(&CAL_HOME.to_string()),
        "the home itself is listed: {hrefs:?}"
    );
    for (coll, comp, name) in [
        (MEETINGS, "VEVENT", "CRM meetings"),
        (TASKS, "VTODO", "CRM tasks"),
    ] {
        let r = ms.get(coll);
        let rt = r.ok(DAV, "resourcetype");
        assert!(
            rt.child(DAV, "collection").is_some() && rt.child(CALDAV, "calendar").is_some(),
            "{coll}: {rt:?}"
        );
        assert_eq!(r.ok(DAV, "displayname").text, name);
        assert!(
            !r.ok(CS, "getctag").text.trim().is_empty(),
            "{coll} getctag"
        );
        let tok = r.ok(DAV, "sync-token").text.trim().to_string();
        assert!(
            is_uri(&tok),
            "sync-token must be a URI (RFC 6578 §6.2): {tok:?}"
        );
        let comps: Vec<String> = r
            .ok(CALDAV, "supported-calendar-component-set")
            .children
            .iter()
            .filter(|c| c.is(CALDAV, "comp"))
            .map(|c| c.attr("name").unwrap_or("").to_string())
            .collect();
        assert_eq!(comps, vec![comp.to_string()], "{coll}");
        let reps = report_names(r.ok(DAV, "supported-report-set"));
        for want in [
            (DAV, "sync-collection"),
            (CALDAV, "calendar-multiget"),
            (CALDAV, "calendar-query"),
        ] {
            assert!(
                reps.iter().any(|(n, l)| n == want.0 && l == want.1),
                "{coll} supports {want:?}: {reps:?}"
            );
        }
        assert!(r.ok(ICAL, "calendar-color").text.starts_with('#'));
    }
    // Tokens of two collections differ.
    assert_ne!(
        ms.get(MEETINGS).ok(DAV, "sync-token").text,
        ms.get(TASKS).ok(DAV, "sync-token").text
    );
}

#[test]
fn addressbook_home_depth1_lists_addressbooks() {
    let ms = demo()
        .propfind(
            CARD_HOME,
            "1",
            "<D:resourcetype/><D:displayname/><CS:getctag/><D:sync-token/>\
             <D:supported-report-set/><CR:supported-address-data/><CR:addressbook-description/>",
        )
        .multistatus();
    let r = ms.get(CONTACTS);
    let rt = r.ok(DAV, "resourcetype");
    assert!(rt.child(DAV, "collection").is_some() && rt.child(CARDDAV, "addressbook").is_some());
    assert_eq!(r.ok(DAV, "displayname").text, "CRM contacts");
    assert!(!r.ok(CS, "getctag").text.trim().is_empty());
    assert!(is_uri(r.ok(DAV, "sync-token").text.trim()));
    let reps = report_names(r.ok(DAV, "supported-report-set"));
    for want in [
        (DAV, "sync-collection"),
        (CARDDAV, "addressbook-multiget"),
        (CARDDAV, "addressbook-query"),
    ] {
        assert!(
            reps.iter().any(|(n, l)| n == want.0 && l == want.1),
            "{want:?}: {reps:?}"
        );
    }
    let sad = r.ok(CARDDAV, "supported-address-data");
    let versions: Vec<&str> = sad
        .children
        .iter()
        .filter(|c| c.is(CARDDAV, "address-data-type"))
        .filter_map(|c| c.attr("version"))
        .collect();
    assert!(
        versions.contains(&"3.0"),
        "RFC 6352 requires vCard 3.0: {versions:?}"
    );
    assert_eq!(
        r.ok(CARDDAV, "addressbook-description").text,
        "People and companies from the CRM"
    );
}

#[test]
fn depth1_on_the_principal_does_not_leak_other_users() {
    let ms = demo()
        .propfind("/dav/principals/", "1", "<D:displayname/>")
        .multistatus();
    let hrefs = ms.hrefs();
    assert!(hrefs.contains(&PRINCIPAL.to_string()), "{hrefs:?}");
    assert!(!hrefs.iter().any(|h| h.contains("alice")), "{hrefs:?}");
}

#[test]
fn root_depth1_leads_to_context() {
    let ms = demo().propfind("/", "1", "<D:resourcetype/>").multistatus();
    let hrefs = ms.hrefs();
    assert!(hrefs.contains(&"/".to_string()));
    assert!(hrefs.contains(&"/dav/".to_string()), "{hrefs:?}");
}

#[test]
fn calendar_props_on_homes_and_items_are_404_not_errors() {
    // A client asking the home for collection properties gets per-property 404, not a failure.
    let ms = demo()
        .propfind(
            CAL_HOME,
            "0",
            "<CS:getctag/><C:supported-calendar-component-set/><D:displayname/>",
        )
        .multistatus();
    let r = ms.get(CAL_HOME);
    assert_eq!(r.prop_status(CS, "getctag"), 404);
    assert_eq!(
        r.prop_status(CALDAV, "supported-calendar-component-set"),
        404
    );
}

/// The port of this process's demo server.
fn demo_port() -> u16 {
    server()
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("the demo server's port")
}

/// One HTTP/1.1 response read from `s`: the head (lower-cased) and the body it declares.
fn read_response(s: &mut std::net::TcpStream) -> (String, Vec<u8>) {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut buf).expect("read a response");
        assert!(n > 0, "the server closed before a whole head: {got:?}");
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().expect("a Content-Length"));
    while got.len() < head_end + length {
        let n = s.read(&mut buf).expect("read the body");
        assert!(n > 0, "the server closed before the whole body");
        got.extend_from_slice(&buf[..n]);
    }
    (head, got[head_end..head_end + length].to_vec())
}

#[test]
fn the_well_known_redirect_of_a_propfind_keeps_the_connection() {
    use base64::Engine as _;
    use std::io::Write;
    // iOS sends its PROPFIND (with a body) to the well-known URI, then follows the redirect
    // on the same connection: the server must read that body and keep the connection open.
    let port = demo_port();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("read timeout");
    let body = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop></d:propfind>"#;
    write!(
        s,
        "PROPFIND /.well-known/caldav HTTP/1.1\r\nHost: 127.0.0.1\r\nDepth: 0\r\n\
         Content-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send the PROPFIND");
    let (head, _) = read_response(&mut s);
    assert!(head.starts_with("http/1.1 301"), "{head}");
    assert!(head.contains("location: /dav/"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    // The redirect's target, authenticated, on the same connection.
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{DEMO_USER}:{DEMO_PASS}"));
    write!(
        s,
        "PROPFIND /dav/ HTTP/1.1\r\nHost: 127.0.0.1\r\nDepth: 0\r\nAuthorization: Basic {auth}\r\n\
         Content-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("send the second PROPFIND");
    let (head, body) = read_response(&mut s);
    assert!(head.starts_with("http/1.1 207"), "{head}");
    assert!(
        String::from_utf8_lossy(&body).contains(PRINCIPAL),
        "{}",
        String::from_utf8_lossy(&body)
    );
}

#[test]
fn the_well_known_redirect_does_not_read_a_large_body() {
    use std::io::Write;
    // Before authentication only a small body is read: a larger one is left unread and
    // that connection closes after the redirect, as it did before.
    let port = demo_port();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("read timeout");
    let body = format!(
        "<d:propfind xmlns:d=\"DAV:\"><d:prop><d:displayname/></d:prop>{}</d:propfind>",
        " ".repeat(64 * 1024)
    );
    write!(
        s,
        "PROPFIND /.well-known/caldav HTTP/1.1\r\nHost: 127.0.0.1\r\nDepth: 0\r\n\
         Content-Type: application/xml\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("send the head");
    let (head, _) = read_response(&mut s);
    assert!(head.starts_with("http/1.1 301"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
}
