//! The HTTP edge, each on a gateway of its own (configured for the case): request logging
//! under concurrency, bounded metrics, `/metrics` and the operations address, body limits and
//! timeouts, slow clients and CONNECT, spoken over raw sockets where HTTP clients would hide
//! the behaviour.

use crate::support::dav::*;
use crate::support::gateway::{free_port, Gateway, StateDir};
use base64::Engine;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// argon2id of "demo" (as in deploy/demo), so no test has to hash a password first.
pub const HASH_OF_DEMO: &str = "$argon2id$v=19$m=19456,t=2,p=1$d6F8Dc0t1M+DLaQVU8ljjw$6t6WTUWFCaJPYHcC92PFeYHpDChoGZua6yjoTk8hBQs";
/// The user of the edge gateways (password "demo").
pub const USER: &str = "ed";
pub const PASS: &str = "demo";
pub const CAL: &str = "/dav/calendars/ed/cal/";

/// A gateway with one local tenant `edge` (user `ed`, calendar `cal`), optionally a CRM
/// tenant `secretcorp` (never contacted), and `extra` appended to the server file.
pub struct Edge {
    pub gw: Gateway,
    _dir: StateDir,
}

impl Edge {
    pub fn start(extra: &str, crm_tenant: bool) -> Edge {
        let dir = StateDir::new("edge");
        let p = dir.path();
        std::fs::write(
            p.join("crmdav.toml"),
            format!(
                "state = \"sqlite://{}\"\ndefault_tenant = \"edge\"\nrealm = \"edge\"\n{extra}\n",
                p.join("state.db").display()
            ),
        )
        .expect("write crmdav.toml");
        let tenants = p.join("tenants");
        std::fs::create_dir_all(&tenants).expect("tenants dir");
        std::fs::write(
            tenants.join("edge.toml"),
            format!(
                "name = \"edge\"\nconnector = \"local\"\n\n[[users]]\nname = \"{USER}\"\npassword_hash = \"{HASH_OF_DEMO}\"\n\n[[collections]]\nid = \"cal\"\nkind = \"calendar\"\ndisplay_name = \"Cal\"\ncomponents = [\"VEVENT\"]\nusers = [\"{USER}\"]\n"
            ),
        )
        .expect("write edge.toml");
        if crm_tenant {
            std::fs::write(
                tenants.join("secretcorp.toml"),
                format!(
                    "name = \"secretcorp\"\n\n[connector]\nkind = \"amagi-crm\"\noptions = {{ base_url = \"http://127.0.0.1:9/api\", token = \"t\", timezone = \"UTC\" }}\n\n[[users]]\nname = \"sam\"\npassword_hash = \"{HASH_OF_DEMO}\"\n\n[[collections]]\nid = \"meetings\"\nkind = \"calendar\"\nentity = \"appointments\"\ndisplay_name = \"Appointments\"\nusers = [\"sam\"]\n"
                ),
            )
            .expect("write secretcorp.toml");
        }
        let gw = Gateway::new(p, free_port()).start();
        Edge { gw, _dir: dir }
    }

    pub fn user(&self) -> Client {
        as_user(USER, PASS).at(&self.gw.base)
    }

    pub fn anon(&self) -> Client {
        anon().at(&self.gw.base)
    }

    /// `/metrics` text (from the main listener).
    pub fn metrics(&self) -> String {
        let r = self.anon().get("/metrics");
        assert_eq!(r.status, 200, "{}", r.text());
        r.text()
    }

    /// The value of an unlabelled series in `/metrics`.
    pub fn metric(&self, name: &str) -> u64 {
        metric_in(&self.metrics(), name)
    }
}

/// The value of an unlabelled series in a metrics text.
pub fn metric_in(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no series {name} in:\n{text}"))
}

/// `Authorization` for the edge user.
pub fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}

/// Write `head` (and `body`) on a fresh connection and read what comes back until the server
/// closes or `wait` passes; returns the text and how long it took.
pub fn raw(port: u16, head: &str, body: &[u8], wait: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("read timeout");
    s.write_all(head.as_bytes()).expect("write head");
    s.write_all(body).expect("write body");
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < wait {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => break,
        }
    }
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

#[test]
fn concurrent_requests_log_each_line_in_its_own_span_only() {
    let edge = Edge::start("", false);
    let base = edge.gw.base.clone();
    std::thread::scope(|s| {
        for t in 0..8 {
            let base = base.clone();
            s.spawn(move || {
                let c = as_user(USER, PASS).at(&base);
                for i in 0..25 {
                    let uid = format!("span-{t}-{i}");
                    c.put_ics(
                        &format!("{CAL}{uid}.ics"),
                        &vevent(&uid, "x", "20260101T100000Z", "20260101T110000Z"),
                    )
                    .expect(201);
                }
            });
        }
    });
    let log = edge.gw.log();
    let done = log.lines().filter(|l| l.contains(" done")).count();
    assert!(done >= 200, "{done} request lines in:\n{log}");
    for line in log.lines() {
        assert!(
            line.matches("req{").count() <= 1 && line.len() < 2000,
            "a line carries other requests' spans: {}",
            &line[..line.len().min(2000)]
        );
    }
}

#[test]
fn made_up_methods_neither_grow_metrics_nor_log_more_than_once() {
    let edge = Edge::start("", false);
    edge.user()
        .propfind("/dav/", "0", "<D:displayname/>")
        .expect(207);
    let before = edge.metrics();
    for i in 0..500 {
        let r = edge
            .anon()
            .dav(&format!("XMADEUP{i}"), "/dav/", None, Vec::new(), &[]);
        assert_eq!(r.status, 401);
    }
    for i in 0..20 {
        let r = edge
            .user()
            .dav(&format!("YMADEUP{i}"), "/dav/", None, Vec::new(), &[]);
        assert_eq!(r.status, 405);
    }
    let after = edge.metrics();
    assert!(!after.contains("MADEUP"), "{after}");
    // `other` adds its counters (401, 405) and one latency histogram (15 lines), once.
    assert!(
        after.len() < before.len() + 2048,
        "/metrics grew from {} to {} bytes:\n{after}",
        before.len(),
        after.len()
    );
    let series = after
        .lines()
        .filter(|l| l.starts_with("crmdav_requests_total{"))
        .count();
    assert!(series <= 6, "{series} request series:\n{after}");
    assert!(after.contains("method=\"other\",status=\"401\""), "{after}");
    // One line per request.
    let log = edge.gw.log();
    let lines = log.lines().filter(|l| l.contains("method=XMADEUP")).count();
    assert_eq!(lines, 500, "{log}");
}

#[test]
fn metrics_name_no_tenant_unless_configured() {
    let edge = Edge::start("", true);
    let text = edge.metrics();
    assert!(text.contains("crmdav_crm_calls_total "), "{text}");
    assert!(!text.contains("secretcorp"), "{text}");
}

#[test]
fn ops_listen_serves_metrics_and_probes_apart_from_dav() {
    let ops = free_port();
    let edge = Edge::start(
        &format!("[http]\nops_listen = \"127.0.0.1:{ops}\"\nmetrics_tenant_names = true\n"),
        true,
    );
    let ops_base = format!("http://127.0.0.1:{ops}");
    // Not on the DAV listener any more (it is a DAV path there: authentication needed).
    assert_eq!(edge.anon().get("/metrics").status, 401);
    let r = anon().at(&ops_base).get("/metrics");
    assert_eq!(r.status, 200);
    assert!(
        r.text()
            .contains("crmdav_crm_calls_total{tenant=\"secretcorp\"}"),
        "{}",
        r.text()
    );
    assert_eq!(anon().at(&ops_base).get("/healthz").status, 200);
    assert_eq!(anon().at(&ops_base).get("/readyz").status, 200);
    // No DAV there.
    let r = as_user(USER, PASS)
        .at(&ops_base)
        .propfind("/dav/", "0", "<D:displayname/>");
    assert_eq!(r.status, 404);
    assert_eq!(edge.anon().get("/healthz").status, 200);
}

fn limited() -> Edge {
    Edge::start(
        "[limits]\nmax_body_bytes = 1048576\nmax_resource_bytes = 524288\n\n[http]\nbody_timeout_secs = 3\nbody_idle_secs = 1\nheader_timeout_secs = 1\n",
        false,
    )
}

#[test]
fn a_declared_oversize_body_gets_413_at_once_and_never_100_continue() {
    let edge = limited();
    let auth = basic(USER, PASS);
    let head = format!(
        "PUT {CAL}big.ics HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: text/calendar\r\nContent-Length: 10000000000\r\nExpect: 100-continue\r\n\r\n"
    );
    let (resp, took) = raw(edge.gw.port, &head, b"", Duration::from_secs(10));
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp:?} after {took:?}");
    assert!(!resp.contains("100 Continue"), "{resp:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // Without Expect, still before reading: nothing of the body is sent.
    let head = head.replace("Expect: 100-continue\r\n", "");
    let (resp, took) = raw(edge.gw.port, &head, b"", Duration::from_secs(10));
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp:?} after {took:?}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // A body within the limit is still asked for and stored.
    let ics = vevent("small", "x", "20260101T100000Z", "20260101T110000Z");
    let head = format!(
        "PUT {CAL}small.ics HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
        ics.len()
    );
    let (resp, _) = raw(edge.gw.port, &head, ics.as_bytes(), Duration::from_secs(10));
    assert!(resp.contains("201 Created"), "{resp:?}");
    edge.user().get(&format!("{CAL}small.ics")).expect(200);
    assert_eq!(edge.user().get(&format!("{CAL}big.ics")).status, 404);
}

#[test]
fn a_stalled_body_gets_408_within_the_timeout() {
    let edge = limited();
    let head = format!(
        "PUT {CAL}stall.ics HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: text/calendar\r\nContent-Length: 1000\r\n\r\n",
        basic(USER, PASS)
    );
    let (resp, took) = raw(
        edge.gw.port,
        &head,
        b"BEGIN:VCALENDAR\r\n",
        Duration::from_secs(15),
    );
    assert!(resp.starts_with("HTTP/1.1 408"), "{resp:?} after {took:?}");
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_eq!(edge.user().get(&format!("{CAL}stall.ics")).status, 404);
}

#[test]
fn a_dribbled_body_gets_408_at_the_total_deadline() {
    let edge = limited();
    let mut s = TcpStream::connect(("127.0.0.1", edge.gw.port)).expect("connect");
    let head = format!(
        "PUT {CAL}dribble.ics HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: text/calendar\r\nContent-Length: 1000\r\n\r\n",
        basic(USER, PASS)
    );
    s.write_all(head.as_bytes()).expect("head");
    s.set_read_timeout(Some(Duration::from_millis(400)))
        .expect("timeout");
    let started = Instant::now();
    let mut got = Vec::new();
    // A byte every 400 ms stays within the idle limit; the total limit (3 s) ends it.
    while started.elapsed() < Duration::from_secs(15) {
        if s.write_all(b"X").is_err() {
            break;
        }
        let mut buf = [0u8; 1024];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(&buf[..n]);
                break;
            }
            Err(_) => {}
        }
    }
    let resp = String::from_utf8_lossy(&got);
    assert!(
        resp.starts_with("HTTP/1.1 408"),
        "{resp:?} after {:?}",
        started.elapsed()
    );
    assert!(started.elapsed() < Duration::from_secs(8));
}

#[test]
fn a_dribbled_request_head_is_cut_off() {
    let edge = limited();
    let (resp, took) = raw(
        edge.gw.port,
        "PROPFIND /dav/ HTTP/1.1\r\nHost: x\r\n",
        b"",
        Duration::from_secs(10),
    );
    // actix answers 408 to a head that does not complete in time, and closes.
    assert!(took < Duration::from_secs(4), "{resp:?} after {took:?}");
    assert!(
        resp.is_empty() || resp.starts_with("HTTP/1.1 408"),
        "{resp:?}"
    );
}

#[test]
fn connect_with_valid_credentials_gets_405_with_allow() {
    let edge = Edge::start("", false);
    let head = format!(
        "CONNECT /dav/ HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\n\r\n",
        basic(USER, PASS)
    );
    let (resp, took) = raw(edge.gw.port, &head, b"", Duration::from_secs(10));
    assert!(resp.starts_with("HTTP/1.1 405"), "{resp:?} after {took:?}");
    let allow = resp
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("allow:"))
        .unwrap_or_else(|| panic!("no Allow in {resp:?}"));
    assert!(allow.contains("PROPFIND"), "{allow}");
    // Without credentials it is still a challenge.
    let (resp, _) = raw(
        edge.gw.port,
        "CONNECT /dav/ HTTP/1.1\r\nHost: x\r\n\r\n",
        b"",
        Duration::from_secs(10),
    );
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp:?}");
}
