//! Authentication (HTTP Basic, RFC 7617) and tenant isolation.

use crate::support::dav::*;
use crate::support::demo::*;

const METHODS: &[&str] = &[
    "OPTIONS",
    "GET",
    "HEAD",
    "PUT",
    "DELETE",
    "PROPFIND",
    "PROPPATCH",
    "REPORT",
    "MKCOL",
    "MKCALENDAR",
    "COPY",
    "MOVE",
];

fn paths() -> Vec<String> {
    vec![
        "/".into(),
        "/dav/".into(),
        PRINCIPAL.into(),
        CAL_HOME.into(),
        MEETINGS.into(),
        format!("{MEETINGS}demo-evt-0001@crmdav.ics"),
        format!("{CONTACTS}demo-card-0001@crmdav.vcf"),
        "/dav/calendars/demo/nonexistent/x.ics".into(),
    ]
}

#[track_caller]
fn assert_challenge(r: &Resp, what: &str) {
    assert_eq!(r.status, 401, "{what}: expected 401, body {}", r.text());
    let h = r
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("{what}: 401 without WWW-Authenticate"));
    assert!(h.to_ascii_lowercase().starts_with("basic "), "{what}: {h}");
    assert!(
        h.contains("realm=\""),
        "{what}: challenge has a quoted realm: {h}"
    );
}

#[test]
fn no_credentials_gets_401_with_basic_challenge_everywhere() {
    let before = demo().get(&format!("{MEETINGS}demo-evt-0001@crmdav.ics"));
    before.expect(200);
    for p in paths() {
        for m in METHODS {
            let body: &[u8] = match *m {
                "PUT" => b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                "PROPFIND" => b"<propfind xmlns=\"DAV:\"><allprop/></propfind>",
                _ => b"",
            };
            let r = anon().dav(
                m,
                &p,
                Some("0"),
                body.to_vec(),
                &[("Destination", "/dav/calendars/demo/copy-target.ics")],
            );
            assert_challenge(&r, &format!("{m} {p}"));
        }
    }
    // Nothing changed.
    let after = demo().get(&format!("{MEETINGS}demo-evt-0001@crmdav.ics"));
    assert_eq!(after.body, before.body);
    assert_eq!(
        demo().get("/dav/calendars/demo/copy-target.ics").status,
        404
    );
}

#[test]
fn realm_is_the_configured_one() {
    let r = anon().get("/dav/");
    let challenge = r.header("www-authenticate").unwrap();
    assert!(
        challenge.contains("realm=\"crmdav demo\""),
        "challenge: {challenge}"
    );
}

#[test]
fn wrong_password_gets_401() {
    for c in [
        as_user("demo", "wrong"),
        as_user("demo@demo", "wrong"),
        as_user("demo", ""),
        as_user("nobody", "demo"),
        as_user("alice@acme", "demo"),
        as_user("alice", ALICE_PASS), // alice is not in the default tenant
    ] {
        let r = c.propfind("/dav/", "0", "<D:current-user-principal/>");
        assert_challenge(&r, &format!("{:?}", c.auth));
    }
}

#[test]
fn malformed_authorization_headers_get_401() {
    for h in [
        "Basic",
        "Basic !!!notbase64",
        "Bearer abc",
        "Basic ZGVtbw==", /* "demo", no colon */
    ] {
        let r = anon().dav(
            "PROPFIND",
            "/dav/",
            Some("0"),
            Vec::new(),
            &[("Authorization", h)],
        );
        assert_challenge(&r, h);
    }
}

#[test]
fn user_at_tenant_login_works() {
    let ms = as_user("demo@demo", DEMO_PASS)
        .propfind("/dav/", "0", "<D:current-user-principal/>")
        .multistatus();
    assert_eq!(
        ms.get("/dav/").ok(DAV, "current-user-principal").hrefs(),
        vec![PRINCIPAL.to_string()]
    );
    as_user("demo", DEMO_PASS)
        .get(&format!("{MEETINGS}demo-evt-0001@crmdav.ics"))
        .expect(200);
}

#[test]
fn alice_sees_only_her_own_homes() {
    let ms = alice()
        .propfind(
            "/",
            "0",
            "<D:current-user-principal/><C:calendar-home-set/><CR:addressbook-home-set/>",
        )
        .multistatus();
    let r = ms.get("/");
    assert_eq!(
        r.ok(DAV, "current-user-principal").hrefs(),
        vec!["/dav/principals/alice/".to_string()]
    );
    assert_eq!(
        r.ok(CALDAV, "calendar-home-set").hrefs(),
        vec!["/dav/calendars/alice/".to_string()]
    );
    assert_eq!(
        r.ok(CARDDAV, "addressbook-home-set").hrefs(),
        vec!["/dav/addressbooks/alice/".to_string()]
    );

    let ms = alice()
        .propfind("/dav/calendars/alice/", "1", "<D:resourcetype/>")
        .multistatus();
    let hrefs = ms.hrefs();
    assert!(
        hrefs.contains(&"/dav/calendars/alice/work/".to_string()),
        "{hrefs:?}"
    );
    assert!(
        !hrefs
            .iter()
            .any(|h| h.contains("meetings") || h.contains("demo")),
        "{hrefs:?}"
    );
    // None of the demo seed is in her calendar: it belongs to the demo tenant only. (Other
    // tests in this file may put their own items there concurrently.)
    let ms = alice()
        .propfind("/dav/calendars/alice/work/", "1", "<D:getetag/>")
        .multistatus();
    let hrefs = ms.hrefs();
    assert_eq!(hrefs[0], "/dav/calendars/alice/work/");
    assert!(!hrefs.iter().any(|h| h.contains("demo-")), "{hrefs:?}");
}

#[test]
fn alice_cannot_reach_demo_resources() {
    let item = format!("{MEETINGS}demo-evt-0001@crmdav.ics");
    let before = demo().get(&item);
    before.expect(200);
    let a = alice();
    for (m, p) in [
        ("GET", item.as_str()),
        ("PROPFIND", MEETINGS),
        ("PROPFIND", CAL_HOME),
        ("PROPFIND", PRINCIPAL),
        ("PROPFIND", CONTACTS),
        ("DELETE", item.as_str()),
        ("MKCOL", "/dav/calendars/demo/alice-was-here/"),
        ("OPTIONS", MEETINGS),
    ] {
        let r = a.dav(m, p, Some("0"), Vec::new(), &[]);
        assert_eq!(r.status, 403, "alice {m} {p}: {}", r.text());
    }
    let r = a.put_ics(
        &format!("{MEETINGS}alice.ics"),
        &vevent("alice-1", "x", "20260101T100000Z", "20260101T110000Z"),
    );
    assert_eq!(r.status, 403);
    let r = a.report(
        MEETINGS,
        "1",
        r#"<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>"#,
    );
    assert_eq!(r.status, 403, "{}", r.text());
    // A multiget from her own collection naming demo's item must not return it.
    let r = a.report(
        "/dav/calendars/alice/work/",
        "1",
        &format!(r#"<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data/></D:prop><D:href>{item}</D:href></C:calendar-multiget>"#),
    );
    let ms = r.multistatus();
    let resp = ms.get(&item);
    assert!(
        resp.status.is_some_and(|s| s == 403 || s == 404),
        "{resp:?}"
    );
    assert!(
        !ms.text.contains("BEGIN:VCALENDAR"),
        "no data leaked: {}",
        ms.text
    );
    // COPY from her calendar into demo's
    alice()
        .put_ics(
            "/dav/calendars/alice/work/a1.ics",
            &vevent("alice-a1", "Alice", "20260101T100000Z", "20260101T110000Z"),
        )
        .expect(201);
    let r = a.dav(
        "COPY",
        "/dav/calendars/alice/work/a1.ics",
        None,
        Vec::new(),
        &[("Destination", &format!("{MEETINGS}stolen.ics"))],
    );
    assert_eq!(r.status, 403);
    assert_eq!(demo().get(&format!("{MEETINGS}stolen.ics")).status, 404);
    // Nothing of demo changed.
    assert_eq!(demo().get(&item).body, before.body);
    assert_eq!(
        demo()
            .dav(
                "PROPFIND",
                "/dav/calendars/demo/alice-was-here/",
                Some("0"),
                Vec::new(),
                &[]
            )
            .status,
        404
    );
}

#[test]
fn demo_cannot_reach_alice() {
    let r = demo().propfind("/dav/calendars/alice/", "0", "<D:resourcetype/>");
    assert_eq!(r.status, 403);
    let r = demo().propfind("/dav/principals/alice/", "0", "<D:displayname/>");
    assert_eq!(r.status, 403);
}

#[test]
fn healthz_needs_no_auth() {
    let r = anon().get("/healthz");
    assert_eq!(r.status, 200);
    assert!(r.header("www-authenticate").is_none());
}

#[test]
fn credentials_are_checked_on_every_request_not_just_the_first() {
    // A successful login must not open the door for a wrong password later.
    demo()
        .propfind("/dav/", "0", "<D:displayname/>")
        .expect(207);
    let r = as_user("demo", "demo ").propfind("/dav/", "0", "<D:displayname/>");
    assert_eq!(r.status, 401);
    let r = as_user("demo", "DEMO").propfind("/dav/", "0", "<D:displayname/>");
    assert_eq!(r.status, 401);
}

// ---- the password verifier and login throttling, each on a gateway of its own ------------

use crate::edge::{Edge, PASS, USER};

fn from(c: Client, addr: &str) -> impl Fn(&str) -> Resp + '_ {
    move |path: &str| {
        c.dav(
            "PROPFIND",
            path,
            Some("0"),
            Vec::new(),
            &[("X-Forwarded-For", addr)],
        )
    }
}

#[test]
fn unknown_users_and_tenants_run_the_password_verifier_too() {
    let edge = Edge::start("", false);
    let before = edge.metric("crmdav_password_verifications_total");
    for login in ["nobody", "nobody@nosuchtenant", "ed@nosuchtenant"] {
        let r = as_user(login, "demo").at(&edge.gw.base).get("/dav/");
        assert_eq!(r.status, 401, "{login}");
    }
    let after = edge.metric("crmdav_password_verifications_total");
    assert_eq!(
        after - before,
        3,
        "one argon2 verification per unknown login"
    );
    // A wrong password for a known user: one more, as before.
    assert_eq!(
        as_user(USER, "wrong").at(&edge.gw.base).get("/dav/").status,
        401
    );
    assert_eq!(
        edge.metric("crmdav_password_verifications_total") - after,
        1
    );
}

#[test]
fn guessing_from_one_address_is_throttled_without_locking_the_user_out() {
    let edge = Edge::start(
        "[http]\ntrusted_proxies = [\"127.0.0.1\"]\n\n[auth]\nuser_address_failures = 3\nbackoff_base_secs = 60\n",
        false,
    );
    let attacker = from(as_user(USER, "guess").at(&edge.gw.base), "203.0.113.7");
    for i in 0..3 {
        assert_eq!(attacker("/dav/").status, 401, "guess {i}");
    }
    let verified = edge.metric("crmdav_password_verifications_total");
    let r = attacker("/dav/");
    assert_eq!(r.status, 429, "{}", r.text());
    let retry: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!((1..=60).contains(&retry), "{retry}");
    // Even the right password from that address waits, and no argon2 runs meanwhile.
    let right_from_attacker = from(as_user(USER, PASS).at(&edge.gw.base), "203.0.113.7");
    assert_eq!(right_from_attacker("/dav/").status, 429);
    assert_eq!(edge.metric("crmdav_password_verifications_total"), verified);
    assert!(edge.metric("crmdav_logins_throttled_total") >= 2);
    // The real user, elsewhere, gets in (through the proxy, and directly).
    let real = from(as_user(USER, PASS).at(&edge.gw.base), "198.51.100.2");
    assert_eq!(real("/dav/").status, 207);
    edge.user()
        .propfind("/dav/", "0", "<D:displayname/>")
        .expect(207);
    // The failures are logged with login and client address.
    let log = edge.gw.log();
    assert!(
        log.lines().any(|l| l.contains("authentication failed")
            && l.contains("login=\"ed\"")
            && l.contains("tenant=edge")
            && l.contains("client=203.0.113.7")),
        "{log}"
    );
    assert!(log.lines().any(|l| l.contains("login throttled")), "{log}");
}

#[test]
fn forwarded_for_is_ignored_from_an_untrusted_peer() {
    let edge = Edge::start(
        "[auth]\nuser_address_failures = 2\nbackoff_base_secs = 60\n",
        false,
    );
    // Each guess claims another address; without a trusted proxy the peer address counts.
    for i in 0..2 {
        let fake = format!("192.0.2.{i}");
        assert_eq!(
            from(as_user(USER, "guess").at(&edge.gw.base), &fake)("/dav/").status,
            401
        );
    }
    assert_eq!(
        from(as_user(USER, "guess").at(&edge.gw.base), "192.0.2.99")("/dav/").status,
        429
    );
}

#[test]
fn healthz_answers_while_guessers_run() {
    let edge = Edge::start("[auth]\nverify_concurrency = 1\nuser_address_failures = 100000\naddress_failures = 100000\nuser_failures = 100000\n", false);
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| {
                let c = as_user(USER, "guess").at(&edge.gw.base);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    assert_eq!(c.get("/dav/").status, 401);
                }
            });
        }
        // Wait until guessing is under way, then probe.
        while edge.metric("crmdav_password_verifications_total") < 8 {
            std::thread::yield_now();
        }
        for _ in 0..20 {
            let (resp, took) = crate::edge::raw(
                edge.gw.port,
                "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"",
                std::time::Duration::from_secs(10),
            );
            assert!(resp.starts_with("HTTP/1.1 200"), "{resp:?} after {took:?}");
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}

/// The sign-in pages are one `/setup` scope: what none of its routes takes (another method,
/// a deeper path) still reaches the DAV handler and its authentication, as before the scope.
#[test]
fn setup_paths_the_pages_do_not_take_go_to_the_dav_handler() {
    for (m, p) in [
        ("PROPFIND", "/setup/demo"),
        ("PUT", "/setup/demo/login"),
        ("GET", "/setup/demo/not/a/page"),
        ("DELETE", "/setup"),
    ] {
        let r = anon().dav(m, p, Some("0"), Vec::new(), &[]);
        assert_challenge(&r, &format!("{m} {p}"));
    }
    // Authenticated, the DAV handler answers: no such resource.
    let r = demo().dav("PROPFIND", "/setup/demo", Some("0"), Vec::new(), &[]);
    assert_eq!(r.status, 404, "{}", r.text());
    // The pages' own routes still take theirs: the page handler answers without asking
    // for credentials (this configuration has no sign-in page: 404; tests/e2e/setup*.rs
    // cover the pages served).
    for p in ["/setup", "/setup/", "/setup/demo"] {
        let r = anon().get(p);
        assert_eq!(r.status, 404, "GET {p}: {}", r.text());
        assert!(r.header("www-authenticate").is_none(), "GET {p}");
    }
}
