//! Running it like infrastructure, each on a gateway of its own: native TLS with a
//! certificate renewed while serving, the plain-HTTP redirect listener.

use crate::edge::{CAL, HASH_OF_DEMO, PASS, USER};
use crate::support::gateway::{free_port, Gateway, StateDir};
use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A throwaway self-signed certificate for `localhost`, with `cn` as its common name:
/// (certificate PEM, key PEM, certificate DER).
fn certificate(cn: &str) -> (String, String, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().to_vec())
}

/// Replace a file in one step (a renewal tool writes a new file and renames it).
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A gateway with one local tenant (user `ed`, calendar `cal`) and `extra` in its server
/// file; `health` is the plain-HTTP port its readiness is asked on.
fn gateway(dir: &StateDir, port: u16, health: u16, extra: &str) -> Gateway {
    configure(dir, health, extra, "");
    Gateway::new(dir.path(), port).health_on(health).start()
}

/// Write the server file (`extra` at the top level, `http` in `[http]`) and the `edge`
/// tenant.
fn configure(dir: &StateDir, health: u16, extra: &str, http: &str) {
    let p = dir.path();
    std::fs::write(
        p.join("crmdav.toml"),
        format!(
            "state = \"sqlite://{}\"\ndefault_tenant = \"edge\"\n{extra}\n[http]\nops_listen = \"127.0.0.1:{health}\"\n{http}\n",
            p.join("state.db").display()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(p.join("tenants")).unwrap();
    std::fs::write(
        p.join("tenants/edge.toml"),
        format!("name = \"edge\"\n\n[[users]]\nname = \"{USER}\"\npassword_hash = \"{HASH_OF_DEMO}\"\n\n[[collections]]\nid = \"cal\"\nkind = \"calendar\"\nusers = [\"{USER}\"]\n"),
    )
    .unwrap();
}

/// The leaf certificate (DER) the server presents on a new connection; `roots` are trusted.
fn served_certificate(port: u16, roots: &[&[u8]]) -> Vec<u8> {
    let mut store = rustls::RootCertStore::empty();
    for r in roots {
        store
            .add(rustls::pki_types::CertificateDer::from(r.to_vec()))
            .unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(store)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    tls.write_all(b"HEAD /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    tls.flush().unwrap();
    tls.conn.peer_certificates().unwrap()[0].to_vec()
}

/// An HTTPS client that trusts `cert_pem` and reaches `localhost` at 127.0.0.1.
fn https_client(cert_pem: &str, port: u16) -> reqwest::blocking::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::blocking::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap()])
        .resolve("localhost", ([127, 0, 0, 1], port).into())
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn propfind(client: &reqwest::blocking::Client, port: u16) -> u16 {
    client
        .request(
            reqwest::Method::from_bytes(b"PROPFIND").unwrap(),
            format!("https://localhost:{port}{CAL}"),
        )
        .basic_auth(USER, Some(PASS))
        .header("Depth", "0")
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// PROPFIND over HTTPS answers 207; a renewed certificate serves new connections without a
/// restart; the redirect listener sends plain-HTTP clients to https.
#[test]
fn tls_serves_dav_and_picks_up_a_renewed_certificate() {
    let dir = StateDir::new("tls");
    let (cert1, key1, der1) = certificate("crmdav test one");
    std::fs::write(dir.path().join("cert.pem"), &cert1).unwrap();
    std::fs::write(dir.path().join("key.pem"), &key1).unwrap();
    let (port, health, redirect) = (free_port(), free_port(), free_port());
    configure(
        &dir,
        health,
        &format!("tls_cert_file = \"cert.pem\"\ntls_key_file = \"key.pem\"\ntls_reload_secs = 1\nredirect_http_listen = \"127.0.0.1:{redirect}\"\n"),
        // An open connection must outlive the renewal below.
        "keep_alive_secs = 120",
    );
    let gw = Gateway::new(dir.path(), port).health_on(health).start();

    let client = https_client(&cert1, port);
    assert_eq!(propfind(&client, port), 207, "{}", gw.log());
    assert_eq!(served_certificate(port, &[&der1]), der1);

    // Renew: a new key and certificate (another serial and CN), replaced in place.
    let (cert2, key2, der2) = certificate("crmdav test two");
    assert_ne!(der1, der2);
    replace(&dir.path().join("key.pem"), &key2);
    replace(&dir.path().join("cert.pem"), &cert2);
    let deadline = Instant::now() + Duration::from_secs(30);
    while served_certificate(port, &[&der1, &der2]) != der2 {
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was not served within 30 s:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(propfind(&https_client(&cert2, port), port), 207);
    // The connection opened before the renewal still serves: `client` trusts only the old
    // certificate, so a new connection of its would fail.
    assert_eq!(propfind(&client, port), 207, "{}", gw.log());
    let fresh = https_client(&cert1, port)
        .get(format!("https://localhost:{port}/healthz"))
        .send();
    assert!(
        fresh.is_err(),
        "a new connection trusting only the old certificate got through"
    );
    assert!(
        gw.log().contains("TLS certificate reloaded"),
        "{}",
        gw.log()
    );

    // The redirect listener: 308 to the same path and query on the https port.
    let plain = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = plain
        .get(format!("http://localhost:{redirect}/dav/calendars/ed/?x=1"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 308);
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        format!("https://localhost:{port}/dav/calendars/ed/?x=1")
    );
}

/// A key that does not belong to the certificate stops the start with both file names.
#[test]
fn tls_with_a_mismatched_key_refuses_to_start() {
    let dir = StateDir::new("tls-bad");
    let (cert1, _, _) = certificate("one");
    let (_, key2, _) = certificate("two");
    std::fs::write(dir.path().join("cert.pem"), cert1).unwrap();
    std::fs::write(dir.path().join("key.pem"), key2).unwrap();
    std::fs::create_dir_all(dir.path().join("tenants")).unwrap();
    std::fs::write(
        dir.path().join("tenants/edge.toml"),
        format!(
            "name = \"edge\"\n[[users]]\nname = \"{USER}\"\npassword_hash = \"{HASH_OF_DEMO}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("crmdav.toml"),
        "state = \"sqlite://:memory:\"\ntls_cert_file = \"cert.pem\"\ntls_key_file = \"key.pem\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(crate::support::gateway::bin())
        .args(["serve", "--listen"])
        .arg(format!("127.0.0.1:{}", free_port()))
        .arg("--config")
        .arg(dir.path().join("crmdav.toml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("cert.pem") && err.contains("key.pem"), "{err}");
}

/// Wait for `done`, polling, at most 30 s; `what` and the log explain a timeout.
fn await_event(gw: &Gateway, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            Instant::now() < deadline,
            "{what} within 30 s:\n{}",
            gw.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tenant_file(name: &str, user: &str) -> String {
    format!("name = \"{name}\"\n\n[[users]]\nname = \"{user}\"\npassword_hash = \"{HASH_OF_DEMO}\"\n\n[[collections]]\nid = \"cal\"\nkind = \"calendar\"\nusers = [\"{user}\"]\n")
}

/// SIGHUP reloads tenant files under a steady load of requests: a new tenant's user logs in,
/// a removed tenant's gets 401, an invalid file keeps its tenant working and the log names
/// the file and the key; no request of the load fails meanwhile.
#[test]
fn sighup_reloads_tenants_without_failing_a_request() {
    use crate::support::dav::as_user;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let dir = StateDir::new("reload");
    let (port, health) = (free_port(), free_port());
    let gw = gateway(&dir, port, health, "");
    let base = gw.base.clone();
    let tenants = dir.path().join("tenants");
    let propfind = |user: &str, path: &str| {
        as_user(user, PASS)
            .at(&base)
            .dav("PROPFIND", path, Some("0"), "", &[])
            .status
    };
    assert_eq!(propfind(USER, CAL), 207, "{}", gw.log());

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, done, base) = (stop.clone(), done.clone(), base.clone());
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                let r = as_user(USER, PASS)
                    .at(&base)
                    .dav("PROPFIND", CAL, Some("0"), "", &[]);
                if r.status != 207 {
                    failures.push(r.status);
                }
                done.fetch_add(1, Ordering::SeqCst);
            }
            failures
        })
    };
    let reloads = |gw: &Gateway| gw.log().matches("tenant files reloaded").count();
    let hup = |gw: &Gateway| {
        let before = reloads(gw);
        gw.signal(libc::SIGHUP);
        await_event(gw, "the reload did not finish", || reloads(gw) > before);
    };

    // A new tenant: its user logs in (user@tenant, since edge is the default tenant).
    assert_eq!(propfind("fy@fresh", "/dav/calendars/fy/cal/"), 401);
    std::fs::write(tenants.join("fresh.toml"), tenant_file("fresh", "fy")).unwrap();
    hup(&gw);
    assert_eq!(
        propfind("fy@fresh", "/dav/calendars/fy/cal/"),
        207,
        "{}",
        gw.log()
    );

    // Removed: 401.
    std::fs::remove_file(tenants.join("fresh.toml")).unwrap();
    hup(&gw);
    assert_eq!(propfind("fy@fresh", "/dav/calendars/fy/cal/"), 401);

    // An invalid file for a serving tenant: it keeps its previous config; the log says why.
    let good = std::fs::read_to_string(tenants.join("edge.toml")).unwrap();
    std::fs::write(
        tenants.join("edge.toml"),
        good.replace(HASH_OF_DEMO, "not-a-hash"),
    )
    .unwrap();
    hup(&gw);
    let log = gw.log();
    let line = log
        .lines()
        .find(|l| l.contains("tenant file not reloaded"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert!(
        line.contains("edge.toml") && line.contains("users[0].password_hash"),
        "{line}"
    );
    assert_eq!(propfind(USER, CAL), 207);

    let seen = done.load(Ordering::SeqCst);
    await_event(&gw, "the load made no progress", || {
        done.load(Ordering::SeqCst) > seen + 2
    });
    stop.store(true, Ordering::SeqCst);
    let failures = load.join().unwrap();
    assert!(
        failures.is_empty(),
        "failed requests: {failures:?}\n{}",
        gw.log()
    );
    assert!(done.load(Ordering::SeqCst) > 3);
}

/// `/metrics` on the operations port.
fn ops_metrics(health: u16) -> String {
    crate::support::dav::anon()
        .at(&format!("http://127.0.0.1:{health}"))
        .get("/metrics")
        .text()
}

/// Latency histograms per method and request counters per tenant, both over bounded label
/// sets (a made-up method is `other`, an unknown tenant is never a label); every request line
/// names the client address, tenant and user; a stop is logged.
#[test]
fn histograms_tenant_counters_and_request_lines() {
    use crate::support::dav::as_user;
    let dir = StateDir::new("metrics");
    let (port, health) = (free_port(), free_port());
    configure(&dir, health, "", "metrics_tenant_names = true");
    std::fs::write(
        dir.path().join("tenants/other.toml"),
        tenant_file("other", "ot"),
    )
    .unwrap();
    let gw = Gateway::new(dir.path(), port).health_on(health).start();
    let at = |u: &str, p: &str| as_user(u, p).at(&gw.base);
    at(USER, PASS)
        .dav("PROPFIND", CAL, Some("0"), "", &[])
        .expect(207);
    at("ot@other", PASS)
        .dav("PROPFIND", "/dav/calendars/ot/cal/", Some("0"), "", &[])
        .expect(207);
    at(USER, PASS).dav("FROBNICATE", CAL, None, "", &[]);
    at(USER, "wrong")
        .dav("PROPFIND", CAL, Some("0"), "", &[])
        .expect(401);
    at("x@nosuchtenant", PASS)
        .dav("PROPFIND", CAL, Some("0"), "", &[])
        .expect(401);

    let m = ops_metrics(health);
    for line in [
        "# TYPE crmdav_request_duration_seconds histogram",
        "crmdav_request_duration_seconds_bucket{method=\"PROPFIND\",le=\"+Inf\"} 4\n",
        "crmdav_request_duration_seconds_count{method=\"PROPFIND\"} 4\n",
        "crmdav_request_duration_seconds_bucket{method=\"other\",le=\"+Inf\"} 1\n",
        "crmdav_tenant_requests_total{tenant=\"edge\",class=\"2xx\"} 1\n",
        "crmdav_tenant_requests_total{tenant=\"other\",class=\"2xx\"} 1\n",
    ] {
        assert!(m.contains(line), "no {line:?} in\n{m}");
    }
    // The made-up method (405), the wrong password and the unknown tenant's login (it falls
    // back to the default tenant, edge) count for edge; the unknown name is no label.
    assert!(
        m.contains("crmdav_tenant_requests_total{tenant=\"edge\",class=\"4xx\"} 3\n"),
        "{m}"
    );
    assert!(
        !m.contains("FROBNICATE") && !m.contains("nosuchtenant"),
        "{m}"
    );

    // The request line of the first PROPFIND: client, tenant and user in its span.
    let log = gw.log();
    let line = log
        .lines()
        .find(|l| l.contains("method=PROPFIND") && l.contains(" done") && l.contains("status=207"))
        .unwrap_or_else(|| panic!("no request line:\n{log}"));
    for field in ["client=127.0.0.1", "tenant=edge", "user=ed", "id="] {
        assert!(line.contains(field), "{field} missing: {line}");
    }
    // A failed login names the login and the client address (fail2ban reads these).
    let failed = log
        .lines()
        .find(|l| l.contains("authentication failed") && l.contains("\"ed\""))
        .unwrap_or_else(|| panic!("no failed login line:\n{log}"));
    assert!(failed.contains("client=127.0.0.1"), "{failed}");

    gw.signal(libc::SIGTERM);
    await_event(&gw, "no stop line", || gw.log().contains("crmdav stopped"));
    assert!(
        gw.log().contains("signal=\"SIGTERM\"") || gw.log().contains("signal=SIGTERM"),
        "{}",
        gw.log()
    );
}

/// Without `http.metrics_tenant_names`, no series names a tenant; with
/// `CRMDAV_LOG_FORMAT=json` every line is a JSON object and a request line's span carries
/// client, tenant and user.
#[test]
fn unnamed_tenants_and_json_request_lines() {
    use crate::support::dav::as_user;
    let dir = StateDir::new("json");
    let (port, health) = (free_port(), free_port());
    configure(&dir, health, "", "");
    let gw = Gateway::new(dir.path(), port)
        .health_on(health)
        .env("CRMDAV_LOG_FORMAT", "json")
        .start();
    as_user(USER, PASS)
        .at(&gw.base)
        .dav("PROPFIND", CAL, Some("0"), "", &[])
        .expect(207);
    let m = ops_metrics(health);
    assert!(
        m.contains("crmdav_request_duration_seconds_count{method=\"PROPFIND\"} 1\n"),
        "{m}"
    );
    assert!(
        !m.contains("crmdav_tenant_requests_total") && !m.contains("edge"),
        "{m}"
    );

    let log = gw.log();
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let done = lines
        .iter()
        .find(|v| v["message"] == "done" && v["span"]["method"] == "PROPFIND")
        .unwrap_or_else(|| panic!("no request line:\n{log}"));
    assert_eq!(done["span"]["client"], "127.0.0.1", "{done}");
    assert_eq!(done["span"]["tenant"], "edge", "{done}");
    assert_eq!(done["span"]["user"], "ed", "{done}");
    assert_eq!(done["status"], 207, "{done}");
}
