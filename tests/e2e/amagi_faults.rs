//! The lost create answer against a real amagi-crm: a loopback proxy between the gateway and
//! amagi forwards every request but drops the answer to chosen creates (amagi has committed the
//! record; the gateway's connection is closed without an answer). The gateway finds the record
//! with the amagi definition's `find_created` lookup, the phone gets 201 once, and amagi holds
//! one record, also after the phone repeats its PUT.

use crate::support::amagi::Amagi;
use crate::support::gateway::{free_port, hash_password, Gateway, StateDir};
use crate::support::phone::{Phone, PASS, USER};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

const MEETINGS: &str = "/dav/calendars/alice/meetings/";
const CONTACTS: &str = "/dav/addressbooks/alice/contacts/";

/// A one-request-per-connection HTTP/1.1 proxy to `upstream` that drops the answer to the next
/// `drop` POSTs whose path ends with `suffix` (after forwarding them).
struct DropProxy {
    port: u16,
    drop: Arc<AtomicU32>,
    suffix: Arc<std::sync::Mutex<String>>,
}

impl DropProxy {
    fn start(upstream_port: u16) -> DropProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy addr").port();
        let drop = Arc::new(AtomicU32::new(0));
        let suffix = Arc::new(std::sync::Mutex::new(String::new()));
        let (d, s) = (drop.clone(), suffix.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (d, s) = (d.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = relay(conn, upstream_port, &d, &s);
                });
            }
        });
        DropProxy { port, drop, suffix }
    }

    /// Drop the answers to the next `n` POSTs to a path ending with `suffix`.
    fn drop_creates(&self, suffix: &str, n: u32) {
        *self.suffix.lock().unwrap() = suffix.to_string();
        self.drop.store(n, Ordering::SeqCst);
    }
}

/// The head (up to the blank line) and the body (per Content-Length) of one request.
fn read_request(c: &mut TcpStream) -> std::io::Result<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = c.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let n = c.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Ok((head, body))
}

/// `head` with its Connection header replaced by `Connection: close`.
fn closing(head: &str) -> String {
    let mut out: String = head
        .trim_end_matches("\r\n")
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    out.push_str("Connection: close\r\n\r\n");
    out
}

fn relay(
    mut client: TcpStream,
    upstream_port: u16,
    drop: &AtomicU32,
    suffix: &std::sync::Mutex<String>,
) -> std::io::Result<()> {
    let (head, body) = read_request(&mut client)?;
    let line = head.lines().next().unwrap_or_default().to_string();
    let mut up = TcpStream::connect(("127.0.0.1", upstream_port))?;
    up.write_all(closing(&head).as_bytes())?;
    up.write_all(&body)?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer)?;
    let mut parts = line.split(' ');
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let want = suffix.lock().unwrap().clone();
    let lose = method == "POST"
        && !want.is_empty()
        && path.ends_with(&want)
        && drop
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
    if lose {
        // Committed upstream; the caller gets no answer at all.
        return client.shutdown(Shutdown::Both);
    }
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(answer.len(), |i| i + 4);
    client.write_all(closing(&String::from_utf8_lossy(&answer[..split])).as_bytes())?;
    client.write_all(&answer[split..])?;
    client.shutdown(Shutdown::Both)
}

fn write_config(dir: &std::path::Path, port: u16) {
    std::fs::create_dir_all(dir.join("tenants")).unwrap();
    std::fs::write(
        dir.join("crmdav.toml"),
        format!("listen = \"127.0.0.1:{port}\"\nstate = \"sqlite://state/crmdav.db\"\ntenants_dir = \"tenants\"\ndefault_tenant = \"firm\"\n"),
    )
    .unwrap();
    std::fs::write(
        dir.join("tenants/firm.toml"),
        format!(
            r#"name = "firm"

[connector]
kind = "amagi-crm"
options = {{ base_url = "${{CRM_URL}}", token = "${{CRM_TOKEN}}", timezone = "Europe/Berlin" }}

[sync]
refresh_ttl_secs = 0
full_scan_secs = 600

[[users]]
name = "{USER}"
password_hash = "{}"

[[collections]]
id = "meetings"
kind = "calendar"
entity = "appointments"
users = ["{USER}"]

[[collections]]
id = "contacts"
kind = "addressbook"
entity = "contacts"
users = ["{USER}"]
"#,
            hash_password(PASS)
        ),
    )
    .unwrap();
}

async fn put(gw: &Phone, href: &str, body: &str, ct: &str) -> (u16, String) {
    let (st, _, text) = gw
        .req("PUT", href, Some(body.to_string()), &[("Content-Type", ct)])
        .await;
    (st, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_create_answers_make_one_record() {
    let crm = Amagi::start().await;
    let crm_port: u16 = crm
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("amagi's port");
    let proxy = DropProxy::start(crm_port);
    let dir = StateDir::new("amagi-faults");
    let port = free_port();
    write_config(dir.path(), port);
    let gw = Phone::new(
        Gateway::new(dir.path(), port)
            .env("CRM_URL", &format!("http://127.0.0.1:{}/api", proxy.port))
            .env("CRM_TOKEN", &crm.token)
            .start(),
    );
    gw.sync(MEETINGS, "").await;

    // An appointment whose create answer is lost.
    let title = "Lost answer at amagi";
    let ev = format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//faults//EN\r\nBEGIN:VEVENT\r\nUID:amagi-lost-1\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:{title}\r\nDTSTART:20300301T090000Z\r\nDTEND:20300301T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n");
    let href = format!("{MEETINGS}amagi-lost-1.ics");
    proxy.drop_creates("/api/appointments", 1);
    let (st, text) = put(&gw, &href, &ev, "text/calendar").await;
    assert_eq!(st, 201, "{text}");
    for _ in 0..3 {
        let (st, text) = put(&gw, &href, &ev, "text/calendar").await;
        assert_eq!(st, 204, "{text}");
    }
    let all = crm
        .call(
            &crm.token,
            "GET",
            "/appointments?include_cancelled=true",
            None,
        )
        .await;
    let same: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["title"] == title)
        .collect();
    assert_eq!(same.len(), 1, "one appointment in amagi: {same:?}");
    assert_eq!(gw.get(&href).await.0, 200);

    // A contact whose create answer is lost: found by its email.
    let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:amagi-lost-card\r\nFN:Lena Lost\r\nN:Lost;Lena;;;\r\nEMAIL;TYPE=INTERNET:lena.lost@example.org\r\nEND:VCARD\r\n";
    let href = format!("{CONTACTS}amagi-lost-card.vcf");
    proxy.drop_creates("/api/contacts", 1);
    let (st, text) = put(&gw, &href, card, "text/vcard").await;
    assert_eq!(st, 201, "{text}");
    let (st, text) = put(&gw, &href, card, "text/vcard").await;
    assert_eq!(st, 204, "{text}");
    let found = crm
        .call(&crm.token, "GET", "/contacts?search=lena.lost", None)
        .await;
    assert_eq!(found["total"], 1, "one contact in amagi: {found}");
    assert!(gw
        .log()
        .contains("found the record of a create whose answer was lost"));
}
