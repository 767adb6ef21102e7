//! Side-by-side HTTP benchmark: crmdav vs Radicale 3.9.0 vs Xandikos 0.4.10.
//!
//! ```text
//! cargo bench --bench dav_compare -- [--sizes 1000[,10000]] [--duration 2] [--concurrency 8]
//!     [--runs 3] [--timeout 30] [--json out.json] [--md out.md]
//!     [--servers crmdav,radicale,xandikos] [--scale 100000] [--http-seed 100]
//!     [--load-concurrency 4] [--no-build] [--keep] [--rss]
//! ```
//!
//! See docs/benchmarks.md for what it does and how to read the output. Everything runs on
//! 127.0.0.1; every server is a child of this process and is killed when it ends (also on
//! error or panic: `Drop`; Ctrl-C reaches the whole foreground process group).

#[path = "common/build.rs"]
mod build;
#[path = "common/gen.rs"]
mod gen;

use gen::GenItem;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Client, Method};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RADICALE_VERSION: &str = "3.9.0";
const XANDIKOS_VERSION: &str = "0.4.10";
/// Timeout of the untimed listing after a restart (a peer may build its caches then).
const LISTING_TIMEOUT: Duration = Duration::from_secs(600);

type Res<T> = Result<T, String>;

macro_rules! log {
    ($($t:tt)*) => {{
        eprintln!("[{:>6.1}s] {}", started().elapsed().as_secs_f64(), format!($($t)*));
    }};
}

fn started() -> &'static Instant {
    static T: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    T.get_or_init(Instant::now)
}

// ---------------------------------------------------------------------------------------------
// arguments

#[derive(Debug, Clone)]
struct Args {
    sizes: Vec<usize>,
    duration: Duration,
    concurrency: usize,
    runs: usize,
    json: Option<PathBuf>,
    md: Option<PathBuf>,
    scale: Option<usize>,
    servers: Vec<Flavor>,
    http_seed: usize,
    load_concurrency: usize,
    no_build: bool,
    keep: bool,
    /// Log each server's VmRSS and VmHWM after its restart and after each operation.
    rss: bool,
    timeout: Duration,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        sizes: vec![1000],
        duration: Duration::from_secs(2),
        concurrency: 8,
        runs: 3,
        json: None,
        md: None,
        scale: None,
        servers: vec![Flavor::Crmdav, Flavor::Radicale, Flavor::Xandikos],
        http_seed: 100,
        load_concurrency: 4,
        no_build: false,
        keep: false,
        rss: false,
        timeout: Duration::from_secs(30),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--bench" | "--nocapture" => {}
            "--sizes" => {
                a.sizes = val("--sizes")?
                    .split(',')
                    .map(|s| s.trim().replace('_', "").parse::<usize>())
                    .collect::<Result<_, _>>()
                    .map_err(|e| format!("--sizes: {e}"))?
            }
            "--duration" => {
                let s: f64 = val("--duration")?
                    .parse()
                    .map_err(|e| format!("--duration: {e}"))?;
                a.duration = Duration::from_secs_f64(s.clamp(0.1, 600.0));
            }
            "--concurrency" => {
                a.concurrency = val("--concurrency")?
                    .parse::<usize>()
                    .map_err(|e| format!("--concurrency: {e}"))?
                    .clamp(1, 256)
            }
            "--runs" => {
                a.runs = val("--runs")?
                    .parse::<usize>()
                    .map_err(|e| format!("--runs: {e}"))?
                    .clamp(1, 50)
            }
            "--json" => a.json = Some(val("--json")?.into()),
            "--md" => a.md = Some(val("--md")?.into()),
            "--scale" => {
                a.scale = Some(
                    val("--scale")?
                        .replace('_', "")
                        .parse()
                        .map_err(|e| format!("--scale: {e}"))?,
                )
            }
            "--servers" => {
                a.servers = val("--servers")?
                    .split(',')
                    .map(|s| match s.trim() {
                        "crmdav" => Ok(Flavor::Crmdav),
                        "radicale" => Ok(Flavor::Radicale),
                        "xandikos" => Ok(Flavor::Xandikos),
                        o => Err(format!("unknown server {o}")),
                    })
                    .collect::<Res<_>>()?
            }
            "--http-seed" => {
                a.http_seed = val("--http-seed")?
                    .parse()
                    .map_err(|e| format!("--http-seed: {e}"))?
            }
            "--load-concurrency" => {
                a.load_concurrency = val("--load-concurrency")?
                    .parse::<usize>()
                    .map_err(|e| format!("--load-concurrency: {e}"))?
                    .clamp(1, 64)
            }
            "--timeout" => {
                let s: f64 = val("--timeout")?
                    .parse()
                    .map_err(|e| format!("--timeout: {e}"))?;
                a.timeout = Duration::from_secs_f64(s.clamp(1.0, 600.0));
            }
            "--no-build" => a.no_build = true,
            "--keep" => a.keep = true,
            "--rss" => a.rss = true,
            "-h" | "--help" => {
                println!(
                    "{}",
                    include_str!("dav_compare.rs")
                        .lines()
                        .take(10)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                std::process::exit(0);
            }
            o if o.starts_with("--") => return Err(format!("unknown option {o} (see --help)")),
            _ => {} // cargo's filter argument
        }
    }
    if a.sizes.is_empty() || a.sizes.iter().any(|&s| !(100..=1_000_000).contains(&s)) {
        return Err("--sizes: each size must be between 100 and 1,000,000".into());
    }
    if a.servers.is_empty() {
        return Err("--servers: at least one".into());
    }
    Ok(a)
}

// ---------------------------------------------------------------------------------------------
// servers

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Flavor {
    Crmdav,
    Radicale,
    Xandikos,
}

impl Flavor {
    fn name(self) -> &'static str {
        match self {
            Flavor::Crmdav => "crmdav",
            Flavor::Radicale => "Radicale",
            Flavor::Xandikos => "Xandikos",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Cal,
    Card,
}

struct Server {
    flavor: Flavor,
    port: u16,
    dir: PathBuf,
    program: PathBuf,
    child: Option<Child>,
}

impl Server {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn auth(&self) -> Option<&'static str> {
        match self.flavor {
            // demo:demo and test:test
            Flavor::Crmdav => Some("Basic ZGVtbzpkZW1v"),
            Flavor::Radicale => Some("Basic dGVzdDp0ZXN0"),
            Flavor::Xandikos => None,
        }
    }

    /// The collection path of a kind and size.
    fn coll(&self, kind: Kind, size: usize) -> String {
        let leaf = match kind {
            Kind::Cal => format!("bench-cal-{size}"),
            Kind::Card => format!("bench-card-{size}"),
        };
        match (self.flavor, kind) {
            (Flavor::Crmdav, Kind::Cal) => format!("/dav/calendars/demo/{leaf}/"),
            (Flavor::Crmdav, Kind::Card) => format!("/dav/addressbooks/demo/{leaf}/"),
            (Flavor::Radicale, _) => format!("/test/{leaf}/"),
            (Flavor::Xandikos, Kind::Cal) => format!("/user/calendars/{leaf}/"),
            (Flavor::Xandikos, Kind::Card) => format!("/user/contacts/{leaf}/"),
        }
    }

    /// Where the collection lives on disk (peers only).
    fn coll_dir(&self, kind: Kind, size: usize) -> PathBuf {
        let rel = self.coll(kind, size);
        let rel = rel.trim_matches('/');
        match self.flavor {
            Flavor::Radicale => self.dir.join("collections/collection-root").join(rel),
            Flavor::Xandikos => self.dir.join("data").join(rel),
            Flavor::Crmdav => self.dir.join("unused"),
        }
    }

    fn setup(flavor: Flavor, dir: PathBuf, program: PathBuf, repo: &Path) -> Res<Server> {
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let port = free_port()?;
        match flavor {
            Flavor::Crmdav => {
                let src = repo.join("deploy/demo");
                let cfg =
                    std::fs::read_to_string(src.join("crmdav.toml")).map_err(|e| e.to_string())?;
                std::fs::write(dir.join("crmdav.toml"), cfg).map_err(|e| e.to_string())?;
                std::fs::create_dir_all(dir.join("tenants")).map_err(|e| e.to_string())?;
                std::fs::create_dir_all(dir.join("data")).map_err(|e| e.to_string())?;
                std::fs::copy(src.join("tenants/demo.toml"), dir.join("tenants/demo.toml"))
                    .map_err(|e| format!("copy the demo tenant: {e}"))?;
            }
            Flavor::Radicale => {
                std::fs::create_dir_all(dir.join("collections")).map_err(|e| e.to_string())?;
                std::fs::write(dir.join("users"), "test:test\n").map_err(|e| e.to_string())?;
                let cfg = format!(
                    "[server]\nhosts = 127.0.0.1:{port}\nmax_connections = 20\ntimeout = 120\n\n\
                     [auth]\ntype = htpasswd\nhtpasswd_filename = {users}\nhtpasswd_encryption = plain\ndelay = 0\n\n\
                     [rights]\ntype = owner_only\n\n[storage]\nfilesystem_folder = {coll}\n\n\
                     [logging]\nlevel = warning\nmask_passwords = True\n",
                    users = dir.join("users").display(),
                    coll = dir.join("collections").display()
                );
                std::fs::write(dir.join("config"), cfg).map_err(|e| e.to_string())?;
            }
            Flavor::Xandikos => {
                std::fs::create_dir_all(dir.join("data")).map_err(|e| e.to_string())?;
                std::fs::create_dir_all(dir.join("state")).map_err(|e| e.to_string())?;
            }
        }
        Ok(Server {
            flavor,
            port,
            dir,
            program,
            child: None,
        })
    }

    fn start(&mut self) -> Res<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new(&self.program);
        cmd.current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        match self.flavor {
            Flavor::Crmdav => {
                cmd.arg("serve")
                    .arg("--config")
                    .arg(self.dir.join("crmdav.toml"))
                    .arg("--listen")
                    .arg(format!("127.0.0.1:{}", self.port))
                    .env("CRMDAV_LOG", "warn");
            }
            Flavor::Radicale => {
                cmd.arg("-C").arg(self.dir.join("config"));
            }
            Flavor::Xandikos => {
                cmd.arg("serve")
                    .arg("-d")
                    .arg(self.dir.join("data"))
                    .arg("--state-dir")
                    .arg(self.dir.join("state"))
                    .arg("--defaults")
                    .args(["-l", "127.0.0.1", "-p"])
                    .arg(self.port.to_string())
                    .arg("--no-detect-systemd");
            }
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.program.display()))?;
        self.child = Some(child);
        // Wait until it answers anything over HTTP (bounded: 60 s).
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(c) = self.child.as_mut() {
                if let Ok(Some(st)) = c.try_wait() {
                    return Err(format!(
                        "{} exited at start ({st}); log: {}",
                        self.flavor.name(),
                        tail(&self.dir.join("server.log"))
                    ));
                }
            }
            if http_probe(self.port) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{} did not answer within 60 s", self.flavor.name()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn restart(&mut self) -> Res<()> {
        self.stop();
        // the port is ours again once the process is gone; wait for it to be free (bounded)
        for _ in 0..50 {
            if TcpListener::bind(("127.0.0.1", self.port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.start()
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Peak resident set size (kB) since the process started.
    fn peak_rss_kb(&self) -> Option<u64> {
        self.status_kb("VmHWM:")
    }

    /// A `kB` field of the server's `/proc/<pid>/status` (`VmHWM:`, `VmRSS:`).
    fn status_kb(&self, field: &str) -> Option<u64> {
        let pid = self.pid()?;
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        s.lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
    }

    /// With `--rss`: one log line with the server's resident and peak memory after `what`.
    fn log_rss(&self, args: &Args, what: &str) {
        if !args.rss {
            return;
        }
        let mb = |k: Option<u64>| k.map_or("?".into(), |k| format!("{:.1}", k as f64 / 1024.0));
        log!(
            "  {} RSS after {what}: {} MB (VmHWM {} MB)",
            self.flavor.name(),
            mb(self.status_kb("VmRSS:")),
            mb(self.peak_rss_kb())
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tail(p: &Path) -> String {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

fn free_port() -> Res<u16> {
    let l = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn http_probe(port: u16) -> bool {
    use std::io::Read;
    let Ok(mut s) = std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_millis(300),
    ) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"OPTIONS / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n >= 12 && buf.starts_with(b"HTTP/1."))
}

// ---------------------------------------------------------------------------------------------
// environment: the crmdav binary and the Python venv

fn ensure_crmdav(args: &Args, repo: &Path) -> Res<PathBuf> {
    let bin = build::crmdav_bin()?;
    if !args.no_build && std::env::var_os("CRMDAV_BIN").is_none() {
        log!("building the crmdav binary (cargo build --profile dist --bin crmdav)");
        build::build_release_crmdav(repo)?;
    }
    if !bin.exists() {
        return Err(format!(
            "{} not found: build it with `cargo build --profile dist --bin crmdav` or set CRMDAV_BIN",
            bin.display()
        ));
    }
    Ok(bin)
}

fn ensure_venv(target: &Path) -> Res<PathBuf> {
    let venv = std::env::var_os("BENCH_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| target.join("bench-venv"));
    let marker = venv.join(format!(
        ".crmdav-bench-radicale-{RADICALE_VERSION}-xandikos-{XANDIKOS_VERSION}"
    ));
    if marker.exists() && venv.join("bin/radicale").exists() && venv.join("bin/xandikos").exists() {
        return Ok(venv);
    }
    log!(
        "installing radicale=={RADICALE_VERSION} xandikos=={XANDIKOS_VERSION} into {}",
        venv.display()
    );
    let python = std::env::var("BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let st = Command::new(&python)
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map_err(|e| format!("{python} -m venv: {e}"))?;
    if !st.success() {
        return Err(format!("{python} -m venv {} failed", venv.display()));
    }
    let st = Command::new(venv.join("bin/pip"))
        .args([
            "install",
            "--quiet",
            &format!("radicale=={RADICALE_VERSION}"),
            &format!("xandikos=={XANDIKOS_VERSION}"),
        ])
        .status()
        .map_err(|e| format!("pip install: {e}"))?;
    if !st.success() {
        return Err("pip install radicale xandikos failed".into());
    }
    std::fs::write(&marker, b"ok").map_err(|e| e.to_string())?;
    Ok(venv)
}

// ---------------------------------------------------------------------------------------------
// HTTP

struct Resp {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

async fn send(
    client: &Client,
    srv: &SrvInfo,
    method: &str,
    path_or_url: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> Res<Resp> {
    let url = if path_or_url.starts_with("http") {
        path_or_url.to_string()
    } else {
        format!("{}{}", srv.base, path_or_url)
    };
    let m = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut rb = client.request(m, &url);
    if let Some(a) = srv.auth {
        rb = rb.header("Authorization", HeaderValue::from_static(a));
    }
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb.body(b);
    }
    let r = rb
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r
        .bytes()
        .await
        .map_err(|e| format!("{method} {url}: reading body: {e}"))?
        .to_vec();
    Ok(Resp {
        status,
        headers,
        body,
    })
}

fn expect(r: &Resp, ok: &[u16], what: &str) -> Res<()> {
    if ok.contains(&r.status) {
        Ok(())
    } else {
        Err(format!(
            "{what}: HTTP {} {}",
            r.status,
            String::from_utf8_lossy(&r.body[..r.body.len().min(300)])
        ))
    }
}

/// Text of the first element with local name `name` (any namespace).
fn xml_text(body: &[u8], name: &str) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    let doc = roxmltree::Document::parse(s).ok()?;
    doc.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == name)
        .map(|n| n.text().unwrap_or("").trim().to_string())
}

/// The first DAV:href inside the first element with local name `name`.
fn xml_href_in(body: &[u8], name: &str) -> Option<String> {
    let s = std::str::from_utf8(body).ok()?;
    let doc = roxmltree::Document::parse(s).ok()?;
    let el = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == name)?;
    el.descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "href")
        .and_then(|n| n.text())
        .map(|t| t.trim().to_string())
}

fn count_responses(body: &[u8]) -> usize {
    let Ok(s) = std::str::from_utf8(body) else {
        return 0;
    };
    let Ok(doc) = roxmltree::Document::parse(s) else {
        return 0;
    };
    doc.descendants()
        .filter(|n| {
            n.is_element()
                && n.tag_name().name() == "response"
                && n.tag_name().namespace() == Some("DAV:")
        })
        .count()
}

fn resolve(base: &str, loc: &str) -> String {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        loc.to_string()
    } else if loc.starts_with('/') {
        format!("{base}{loc}")
    } else {
        format!("{base}/{loc}")
    }
}

/// What a measurement task needs of a server (cheap to clone, no process handle).
#[derive(Clone)]
struct SrvInfo {
    flavor: Flavor,
    base: String,
    auth: Option<&'static str>,
}

// ---------------------------------------------------------------------------------------------
// request bodies

const PROPFIND_ETAG: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:getcontenttype/></d:prop></d:propfind>"#;

fn multiget_body(kind: Kind, hrefs: &[String]) -> String {
    let (root, ns, data) = match kind {
        Kind::Cal => (
            "calendar-multiget",
            "urn:ietf:params:xml:ns:caldav",
            "calendar-data",
        ),
        Kind::Card => (
            "addressbook-multiget",
            "urn:ietf:params:xml:ns:carddav",
            "address-data",
        ),
    };
    let mut b = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><c:{root} xmlns:d="DAV:" xmlns:c="{ns}"><d:prop><d:getetag/><c:{data}/></d:prop>"#
    );
    for h in hrefs {
        let _ = write!(b, "<d:href>{h}</d:href>");
    }
    let _ = write!(b, "</c:{root}>");
    b
}

fn calquery_body() -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav">
 <d:prop><d:getetag/><c:calendar-data><c:expand start="{s}" end="{e}"/></c:calendar-data></d:prop>
 <c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT">
  <c:time-range start="{s}" end="{e}"/>
 </c:comp-filter></c:comp-filter></c:filter>
</c:calendar-query>"#,
        s = gen::MONTH_START,
        e = gen::MONTH_END
    )
}

fn cardquery_body() -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<c:addressbook-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav">
 <d:prop><d:getetag/><c:address-data/></d:prop>
 <c:filter><c:prop-filter name="FN">
  <c:text-match collation="i;unicode-casemap" match-type="contains">{}</c:text-match>
 </c:prop-filter></c:filter>
</c:addressbook-query>"#,
        gen::FN_NEEDLE
    )
}

fn sync_body(token: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#
    )
}

const MKCALENDAR: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop>
<d:displayname>bench</d:displayname>
<c:supported-calendar-component-set><c:comp name="VEVENT"/></c:supported-calendar-component-set>
</d:prop></d:set></c:mkcalendar>"#;

const MKCOL_CARD: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:mkcol xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:carddav"><d:set><d:prop>
<d:resourcetype><d:collection/><c:addressbook/></d:resourcetype>
<d:displayname>bench</d:displayname>
</d:prop></d:set></d:mkcol>"#;

const PROPFIND_CUP: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/><d:principal-URL/><d:resourcetype/></d:prop></d:propfind>"#;

const PROPFIND_PRINCIPAL: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:a="urn:ietf:params:xml:ns:carddav"><d:prop>
<c:calendar-home-set/><a:addressbook-home-set/><d:displayname/><c:calendar-user-address-set/><d:current-user-principal/>
</d:prop></d:propfind>"#;

const PROPFIND_HOME: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/"><d:prop>
<d:resourcetype/><d:displayname/><c:supported-calendar-component-set/><cs:getctag/><d:sync-token/>
<d:current-user-privilege-set/><d:supported-report-set/>
</d:prop></d:propfind>"#;

// ---------------------------------------------------------------------------------------------
// loading

fn content_type(kind: Kind) -> &'static str {
    match kind {
        Kind::Cal => "text/calendar; charset=utf-8",
        Kind::Card => "text/vcard; charset=utf-8",
    }
}

async fn put_items(
    client: &Client,
    srv: &SrvInfo,
    coll: &str,
    kind: Kind,
    items: Arc<Vec<GenItem>>,
    range: std::ops::Range<usize>,
    conc: usize,
) -> Res<usize> {
    use futures_util::StreamExt;
    let errors = Arc::new(Mutex::new(Vec::<String>::new()));
    let stream = futures_util::stream::iter(range.clone()).map(|i| {
        let items = items.clone();
        let client = client.clone();
        let srv = srv.clone();
        let coll = coll.to_string();
        let errors = errors.clone();
        async move {
            let it = &items[i];
            let r = send(
                &client,
                &srv,
                "PUT",
                &format!("{coll}{}", it.name),
                &[("Content-Type", content_type(kind)), ("If-None-Match", "*")],
                Some(it.body.clone().into_bytes()),
            )
            .await
            .and_then(|r| expect(&r, &[200, 201, 204], &format!("PUT {}", it.name)));
            if let Err(e) = r {
                errors.lock().unwrap().push(e);
            }
        }
    });
    stream.buffer_unordered(conc).collect::<Vec<()>>().await;
    let errs = errors.lock().unwrap();
    if !errs.is_empty() {
        log!(
            "  {} refused {} of {} PUTs; first: {}",
            srv.flavor.name(),
            errs.len(),
            range.len(),
            errs[0]
        );
    }
    Ok(range.len() - errs.len())
}

const XANDIKOS_SEED_PY: &str = r#"
import sys
from dulwich.repo import Repo
repo_dir, list_file = sys.argv[1], sys.argv[2]
names = [l.strip() for l in open(list_file, encoding="utf-8") if l.strip()]
r = Repo(repo_dir)
wt = r.get_worktree() if hasattr(r, "get_worktree") else r
for i in range(0, len(names), 5000):
    wt.stage(names[i:i + 5000])
wt.commit(message=b"crmdav bench: bulk import", committer=b"bench <bench@localhost>", author=b"bench <bench@localhost>")
r.close()
print(len(names))
"#;

/// Write items straight into a peer's on-disk store, in the server's own layout.
fn seed_on_disk(srv: &Server, venv: &Path, kind: Kind, size: usize, items: &[GenItem]) -> Res<()> {
    let dir = srv.coll_dir(kind, size);
    if !dir.is_dir() {
        return Err(format!(
            "{}: collection folder {} is missing",
            srv.flavor.name(),
            dir.display()
        ));
    }
    for it in items {
        std::fs::write(dir.join(&it.name), &it.body).map_err(|e| e.to_string())?;
    }
    if srv.flavor == Flavor::Xandikos {
        let list = srv.dir.join("seed-list.txt");
        let names: Vec<&str> = items.iter().map(|i| i.name.as_str()).collect();
        std::fs::write(&list, names.join("\n")).map_err(|e| e.to_string())?;
        let script = srv.dir.join("seed.py");
        std::fs::write(&script, XANDIKOS_SEED_PY).map_err(|e| e.to_string())?;
        let out = Command::new(venv.join("bin/python"))
            .arg(&script)
            .arg(&dir)
            .arg(&list)
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| format!("dulwich seeding: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "dulwich seeding failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

async fn create_collection(client: &Client, srv: &SrvInfo, path: &str, kind: Kind) -> Res<()> {
    let (m, body) = match kind {
        Kind::Cal => ("MKCALENDAR", MKCALENDAR),
        Kind::Card => ("MKCOL", MKCOL_CARD),
    };
    let r = send(
        client,
        srv,
        m,
        path,
        &[("Content-Type", "application/xml; charset=utf-8")],
        Some(body.as_bytes().to_vec()),
    )
    .await?;
    expect(
        &r,
        &[200, 201],
        &format!("{m} {path} on {}", srv.flavor.name()),
    )
}

async fn count_items(client: &Client, srv: &SrvInfo, coll: &str) -> Res<(usize, Duration, usize)> {
    let t = Instant::now();
    let r = send(
        client,
        srv,
        "PROPFIND",
        coll,
        &[
            ("Depth", "1"),
            ("Content-Type", "application/xml; charset=utf-8"),
        ],
        Some(PROPFIND_ETAG.as_bytes().to_vec()),
    )
    .await?;
    expect(&r, &[207], &format!("PROPFIND {coll}"))?;
    Ok((
        count_responses(&r.body).saturating_sub(1),
        t.elapsed(),
        r.body.len(),
    ))
}

// ---------------------------------------------------------------------------------------------
// operations

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    PropfindD1(Kind),
    Multiget(Kind),
    CalQuery,
    SyncInitial(Kind),
    SyncAfterChange,
    CardQuery,
    Get,
    PutIfMatch,
    Discovery,
}

impl Op {
    fn label(self) -> &'static str {
        match self {
            Op::PropfindD1(Kind::Cal) => "PROPFIND Depth 1 (calendar)",
            Op::PropfindD1(Kind::Card) => "PROPFIND Depth 1 (address book)",
            Op::Multiget(Kind::Cal) => "calendar-multiget 100",
            Op::Multiget(Kind::Card) => "addressbook-multiget 100",
            Op::CalQuery => "calendar-query 1 month + expand",
            Op::SyncInitial(Kind::Cal) => "sync-collection initial (calendar)",
            Op::SyncInitial(Kind::Card) => "sync-collection initial (address book)",
            Op::SyncAfterChange => "sync-collection after 1 change",
            Op::CardQuery => "addressbook-query FN contains",
            Op::Get => "GET one event",
            Op::PutIfMatch => "PUT one event (If-Match)",
            Op::Discovery => "iPhone discovery (6 requests)",
        }
    }
    fn key(self) -> String {
        self.label()
            .to_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>()
            .split('_')
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("_")
    }
}

/// State shared by the workers of one measurement.
struct Ctx {
    srv: SrvInfo,
    size: usize,
    cal: String,
    card: String,
    multiget_cal: String,
    multiget_card: String,
    calquery: String,
    cardquery: String,
    sync_token: Mutex<String>,
    /// PUT If-Match: worker w edits event `PUT_BASE + w`; its current ETag and version.
    put_state: Mutex<Vec<(String, usize)>>,
    events: Arc<Vec<GenItem>>,
    timeout: Duration,
}

const PUT_BASE: usize = 50;

fn edited(item: &GenItem, version: usize) -> String {
    item.body
        .replacen(
            "SEQUENCE:0\r\n",
            &format!("SEQUENCE:{}\r\n", version % 1000),
            1,
        )
        .replacen(
            "STATUS:CONFIRMED",
            if version.is_multiple_of(2) {
                "STATUS:CONFIRMED"
            } else {
                "STATUS:TENTATIVE"
            },
            1,
        )
}

fn etag_of(r: &Resp) -> Option<String> {
    r.headers
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn get_etag(client: &Client, srv: &SrvInfo, path: &str) -> Res<String> {
    let r = send(client, srv, "GET", path, &[], None).await?;
    expect(&r, &[200], &format!("GET {path}"))?;
    etag_of(&r).ok_or_else(|| format!("GET {path}: no ETag"))
}

/// One timed operation, bounded by `ctx.timeout`. Returns the response bytes.
async fn once(op: Op, ctx: &Ctx, client: &Client, worker: usize, iter: usize) -> Res<usize> {
    match tokio::time::timeout(ctx.timeout, once_inner(op, ctx, client, worker, iter)).await {
        Ok(r) => r,
        Err(_) => Err(format!("{TIMEOUT_MARK} {:.0} s", ctx.timeout.as_secs_f64())),
    }
}

const TIMEOUT_MARK: &str = "timeout: no answer within";

async fn once_inner(op: Op, ctx: &Ctx, client: &Client, worker: usize, iter: usize) -> Res<usize> {
    let xml = ("Content-Type", "application/xml; charset=utf-8");
    let srv = &ctx.srv;
    let r = match op {
        Op::PropfindD1(k) => {
            let coll = if k == Kind::Cal { &ctx.cal } else { &ctx.card };
            let r = send(
                client,
                srv,
                "PROPFIND",
                coll,
                &[("Depth", "1"), xml],
                Some(PROPFIND_ETAG.into()),
            )
            .await?;
            expect(&r, &[207], "PROPFIND")?;
            r
        }
        Op::Multiget(k) => {
            let (coll, body) = if k == Kind::Cal {
                (&ctx.cal, &ctx.multiget_cal)
            } else {
                (&ctx.card, &ctx.multiget_card)
            };
            let r = send(
                client,
                srv,
                "REPORT",
                coll,
                &[("Depth", "1"), xml],
                Some(body.clone().into_bytes()),
            )
            .await?;
            expect(&r, &[207], "multiget")?;
            r
        }
        Op::CalQuery => {
            let r = send(
                client,
                srv,
                "REPORT",
                &ctx.cal,
                &[("Depth", "1"), xml],
                Some(ctx.calquery.clone().into_bytes()),
            )
            .await?;
            expect(&r, &[207], "calendar-query")?;
            r
        }
        Op::CardQuery => {
            let r = send(
                client,
                srv,
                "REPORT",
                &ctx.card,
                &[("Depth", "1"), xml],
                Some(ctx.cardquery.clone().into_bytes()),
            )
            .await?;
            expect(&r, &[207], "addressbook-query")?;
            r
        }
        Op::SyncInitial(k) => {
            let coll = if k == Kind::Cal { &ctx.cal } else { &ctx.card };
            let r = send(
                client,
                srv,
                "REPORT",
                coll,
                &[xml],
                Some(sync_body("").into_bytes()),
            )
            .await?;
            expect(&r, &[207], "sync-collection")?;
            r
        }
        Op::SyncAfterChange => {
            let token = ctx.sync_token.lock().unwrap().clone();
            let r = send(
                client,
                srv,
                "REPORT",
                &ctx.cal,
                &[xml],
                Some(sync_body(&token).into_bytes()),
            )
            .await?;
            expect(&r, &[207], "sync-collection")?;
            r
        }
        Op::Get => {
            let i = (worker * 7 + iter * 13) % ctx.size.min(1000);
            let path = format!("{}{}", ctx.cal, ctx.events[i].name);
            let r = send(client, srv, "GET", &path, &[], None).await?;
            expect(&r, &[200], "GET")?;
            r
        }
        Op::PutIfMatch => {
            let idx = PUT_BASE + worker;
            let item = &ctx.events[idx];
            let (etag, version) = ctx.put_state.lock().unwrap()[worker].clone();
            let path = format!("{}{}", ctx.cal, item.name);
            let body = edited(item, version + 1);
            let r = send(
                client,
                srv,
                "PUT",
                &path,
                &[
                    ("Content-Type", content_type(Kind::Cal)),
                    ("If-Match", &etag),
                ],
                Some(body.into_bytes()),
            )
            .await?;
            expect(&r, &[200, 201, 204], "PUT If-Match")?;
            // A client needs the new ETag for its next conditional write; fetch it if the
            // server did not return one (counted: that is what a client has to do).
            let new = match etag_of(&r) {
                Some(e) => e,
                None => get_etag(client, srv, &path).await?,
            };
            ctx.put_state.lock().unwrap()[worker] = (new, version + 1);
            r
        }
        Op::Discovery => return discovery(client, srv).await,
    };
    Ok(r.body.len())
}

/// What iOS does at account setup: well-known → current-user-principal → home sets →
/// Depth 1 on both homes. Returns the bytes received.
async fn discovery(client: &Client, srv: &SrvInfo) -> Res<usize> {
    let xml = ("Content-Type", "application/xml; charset=utf-8");
    let mut bytes = 0;
    let mut url = format!("{}/.well-known/caldav", srv.base);
    let mut cup: Option<String> = None;
    for _ in 0..4 {
        let r = send(
            client,
            srv,
            "PROPFIND",
            &url,
            &[("Depth", "0"), xml],
            Some(PROPFIND_CUP.into()),
        )
        .await?;
        bytes += r.body.len();
        if (300..400).contains(&r.status) {
            let loc = r
                .headers
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or("redirect without Location")?;
            url = resolve(&srv.base, loc);
            continue;
        }
        expect(&r, &[207], "PROPFIND current-user-principal")?;
        cup = xml_href_in(&r.body, "current-user-principal");
        break;
    }
    let principal = cup.ok_or("no current-user-principal")?;
    let r = send(
        client,
        srv,
        "PROPFIND",
        &resolve(&srv.base, &principal),
        &[("Depth", "0"), xml],
        Some(PROPFIND_PRINCIPAL.into()),
    )
    .await?;
    expect(&r, &[207], "PROPFIND principal")?;
    bytes += r.body.len();
    let cal_home = xml_href_in(&r.body, "calendar-home-set").ok_or("no calendar-home-set")?;
    let card_home =
        xml_href_in(&r.body, "addressbook-home-set").ok_or("no addressbook-home-set")?;
    for home in [cal_home, card_home] {
        let r = send(
            client,
            srv,
            "PROPFIND",
            &resolve(&srv.base, &home),
            &[("Depth", "1"), xml],
            Some(PROPFIND_HOME.into()),
        )
        .await?;
        expect(&r, &[207], "PROPFIND home Depth 1")?;
        bytes += r.body.len();
    }
    Ok(bytes)
}

/// Untimed preparation before each run of an operation.
async fn prepare(op: Op, ctx: &Ctx, client: &Client, conc: usize) -> Res<()> {
    match op {
        Op::SyncAfterChange => {
            // initial sync → token; change one item; the timed request syncs from that token.
            let r = send(
                client,
                &ctx.srv,
                "REPORT",
                &ctx.cal,
                &[("Content-Type", "application/xml")],
                Some(sync_body("").into_bytes()),
            )
            .await?;
            expect(&r, &[207], "sync-collection initial")?;
            let token = xml_text(&r.body, "sync-token").ok_or("no sync-token in the answer")?;
            let item = &ctx.events[0];
            let stamp = Instant::now().duration_since(*started()).as_micros() as usize;
            let r = send(
                client,
                &ctx.srv,
                "PUT",
                &format!("{}{}", ctx.cal, item.name),
                &[("Content-Type", content_type(Kind::Cal))],
                Some(edited(item, stamp).into_bytes()),
            )
            .await?;
            expect(&r, &[200, 201, 204], "PUT (the one change)")?;
            *ctx.sync_token.lock().unwrap() = token;
        }
        Op::PutIfMatch => {
            let mut st = Vec::new();
            for w in 0..conc {
                let path = format!("{}{}", ctx.cal, ctx.events[PUT_BASE + w].name);
                let etag = get_etag(client, &ctx.srv, &path).await?;
                let v = ctx
                    .put_state
                    .lock()
                    .unwrap()
                    .get(w)
                    .map(|x| x.1)
                    .unwrap_or(0);
                st.push((etag, v));
            }
            *ctx.put_state.lock().unwrap() = st;
        }
        _ => {}
    }
    Ok(())
}

#[derive(Clone, Debug, Default)]
struct RunStats {
    n: usize,
    errors: usize,
    first_error: Option<String>,
    wall_s: f64,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    bytes: usize,
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Run `op` with `conc` workers until `dur` has passed or `max_req` requests were started.
async fn measure(
    op: Op,
    ctx: Arc<Ctx>,
    client: &Client,
    conc: usize,
    dur: Duration,
    max_req: usize,
) -> RunStats {
    let t0 = Instant::now();
    let started_n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..conc {
        let ctx = ctx.clone();
        let client = client.clone();
        let started_n = started_n.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errs = 0usize;
            let mut first = None;
            let mut bytes = 0;
            let mut iter = 0;
            while t0.elapsed() < dur
                && started_n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < max_req
            {
                let t = Instant::now();
                match once(op, &ctx, &client, w, iter).await {
                    Ok(b) => {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        bytes = b;
                    }
                    Err(e) => {
                        errs += 1;
                        first.get_or_insert(e);
                    }
                }
                iter += 1;
            }
            (lat, errs, first, bytes)
        }));
    }
    let mut all = Vec::new();
    let mut st = RunStats::default();
    for t in tasks {
        if let Ok((lat, errs, first, bytes)) = t.await {
            all.extend(lat);
            st.errors += errs;
            if st.first_error.is_none() {
                st.first_error = first;
            }
            st.bytes = st.bytes.max(bytes);
        }
    }
    st.wall_s = t0.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.partial_cmp(b).unwrap());
    st.n = all.len();
    st.rps = st.n as f64 / st.wall_s;
    st.p50_ms = pct(&all, 50.0);
    st.p99_ms = pct(&all, 99.0);
    st
}

#[derive(Clone, Debug)]
struct OpResult {
    op: Op,
    concurrency: usize,
    /// The first request (may fill caches).
    cold_ms: f64,
    /// The faster of the first two requests.
    warm_ms: f64,
    runs: Vec<RunStats>,
    /// crmdav's same operation with one worker, for the ratio against a peer that could only
    /// be run with one (like with like: eight concurrent requests on two cores queue).
    one_worker: Option<Box<OpResult>>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

impl OpResult {
    fn rps(&self) -> f64 {
        median(self.runs.iter().map(|r| r.rps).collect())
    }
    fn p50(&self) -> f64 {
        median(self.runs.iter().map(|r| r.p50_ms).collect())
    }
    fn p99(&self) -> f64 {
        median(self.runs.iter().map(|r| r.p99_ms).collect())
    }
    /// (max - min) / 2 / median of req/s, in percent.
    fn spread(&self) -> f64 {
        let v: Vec<f64> = self
            .runs
            .iter()
            .map(|r| r.rps)
            .filter(|x| x.is_finite())
            .collect();
        if v.len() < 2 {
            return f64::NAN;
        }
        let (mn, mx) = v
            .iter()
            .fold((f64::MAX, f64::MIN), |(a, b), &x| (a.min(x), b.max(x)));
        (mx - mn) / 2.0 / self.rps() * 100.0
    }
    fn errors(&self) -> usize {
        self.runs.iter().map(|r| r.errors).sum()
    }
    fn ok(&self) -> bool {
        self.runs.iter().any(|r| r.n > 0)
    }
}

/// Warm once, then `runs` measured runs. Slow operations (one request longer than a quarter of
/// the duration) run with one worker and as many requests as fit the duration (at least one);
/// very slow ones (> 4 × duration) get a single measured run.
async fn bench_op(op: Op, ctx: Arc<Ctx>, client: &Client, args: &Args) -> OpResult {
    let conc = args.concurrency;
    let mut warm_ms = f64::NAN;
    if let Err(e) = prepare(op, &ctx, client, conc).await {
        log!(
            "    {} {}: preparation failed: {e}",
            ctx.srv.flavor.name(),
            op.label()
        );
        return OpResult {
            op,
            concurrency: conc,
            cold_ms: f64::NAN,
            warm_ms,
            one_worker: None,
            runs: vec![RunStats {
                errors: 1,
                first_error: Some(e),
                ..Default::default()
            }],
        };
    }
    // The first request may fill the server's caches; a second one (when the first took less
    // than 5 s) gives the warm latency that decides how the operation is run.
    let mut cold_ms = f64::NAN;
    for k in 0..2 {
        let t = Instant::now();
        let warm = once(op, &ctx, client, 0, k).await;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if let Err(e) = warm {
            log!("    {} {}: {e}", ctx.srv.flavor.name(), op.label());
            return OpResult {
                op,
                concurrency: conc,
                cold_ms,
                warm_ms,
                one_worker: None,
                runs: vec![RunStats {
                    errors: 1,
                    first_error: Some(e),
                    ..Default::default()
                }],
            };
        }
        if k == 0 {
            cold_ms = ms;
            warm_ms = ms;
            if ms > 5000.0 {
                break;
            }
        } else {
            warm_ms = warm_ms.min(ms);
        }
    }
    let dur = args.duration;
    let slow = warm_ms / 1000.0 > dur.as_secs_f64() / 4.0;
    let (c, max_req, runs) = if slow {
        let fit = ((dur.as_secs_f64() * 1000.0 / warm_ms).floor() as usize).max(1);
        let runs = if warm_ms / 1000.0 > 4.0 * dur.as_secs_f64() {
            1
        } else {
            args.runs
        };
        (1, fit, runs)
    } else {
        (conc, usize::MAX, args.runs)
    };
    let mut res = OpResult {
        op,
        concurrency: c,
        cold_ms,
        warm_ms,
        runs: Vec::new(),
        one_worker: None,
    };
    for run in 0..runs {
        if run > 0 {
            if let Err(e) = prepare(op, &ctx, client, c).await {
                log!("    preparation failed: {e}");
                break;
            }
        }
        let st = measure(op, ctx.clone(), client, c, dur, max_req).await;
        let timed_out = st
            .first_error
            .as_deref()
            .is_some_and(|e| e.starts_with(TIMEOUT_MARK));
        if let Some(e) = &st.first_error {
            log!(
                "    {} {} run {}: {} errors, first: {e}",
                ctx.srv.flavor.name(),
                op.label(),
                run + 1,
                st.errors
            );
        }
        res.runs.push(st);
        if timed_out {
            break;
        }
    }
    log!(
        "    {:<9} {:<40} c={} {:>9.1} req/s  p50 {:>9.2} ms  p99 {:>9.2} ms  (cold {:.1} ms, warm {:.1} ms, {} B)",
        ctx.srv.flavor.name(),
        op.label(),
        res.concurrency,
        res.rps(),
        res.p50(),
        res.p99(),
        cold_ms,
        warm_ms,
        res.runs.iter().map(|r| r.bytes).max().unwrap_or(0)
    );
    res
}

// ---------------------------------------------------------------------------------------------
// reporting

#[derive(Clone, Debug)]
struct ServerSize {
    flavor: Flavor,
    loaded_events: usize,
    loaded_contacts: usize,
    peak_rss_kb: Option<u64>,
    results: Vec<OpResult>,
    /// Events PUT per second while loading (crmdav: past the first 1,000).
    put_load: Option<f64>,
}

fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        "–".into()
    } else if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn cell_rps(r: Option<&OpResult>) -> (String, String, String) {
    match r {
        Some(r) if r.ok() => {
            let sp = r.spread();
            let mut rps = fmt_num(r.rps());
            if sp.is_finite() {
                let _ = write!(rps, " ±{sp:.0}%");
            }
            if r.concurrency == 1 {
                rps.push_str(" ¹");
            }
            if r.errors() > 0 {
                let _ = write!(rps, " ({} err)", r.errors());
            }
            (rps, fmt_num(r.p50()), fmt_num(r.p99()))
        }
        Some(r)
            if !r.ok()
                && r.runs.iter().any(|x| {
                    x.first_error
                        .as_deref()
                        .is_some_and(|e| e.starts_with(TIMEOUT_MARK))
                }) =>
        {
            let e = r
                .runs
                .iter()
                .find_map(|x| x.first_error.clone())
                .unwrap_or_default();
            (
                "timeout".into(),
                format!(">{}", e.trim_start_matches(TIMEOUT_MARK)),
                "–".into(),
            )
        }
        Some(_) => ("failed".into(), "–".into(), "–".into()),
        None => ("–".into(), "–".into(), "–".into()),
    }
}

/// crmdav's advantage over a peer: throughput ratio when both ran with the same number of
/// workers; against a peer that ran with one worker, crmdav's own one-worker run (marked
/// "c=1"); otherwise the ratio of median latencies (marked "lat").
fn ratio(c: Option<&OpResult>, p: Option<&OpResult>) -> String {
    match (c, p) {
        (Some(c), Some(p)) if c.ok() && p.ok() => {
            let one = c.one_worker.as_deref().filter(|o| o.ok());
            if c.concurrency == p.concurrency {
                format!("{}×", fmt_num(c.rps() / p.rps()))
            } else if let (1, Some(one)) = (p.concurrency, one) {
                format!("{}× c=1", fmt_num(one.rps() / p.rps()))
            } else {
                format!("{}× lat", fmt_num(p.p50() / c.p50()))
            }
        }
        _ => "–".into(),
    }
}

fn table(size: usize, rows: &[ServerSize], args: &Args) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n### {size} events / {size} contacts\n\n{} workers, {} s per run, median of {} runs (± = half the range of req/s across runs); latencies in ms.\n",
        args.concurrency,
        args.duration.as_secs_f64(),
        args.runs
    );
    let mut head = String::from("| operation |");
    let mut sep = String::from("|---|");
    for s in rows {
        let n = s.flavor.name();
        let _ = write!(head, " {n} warm | {n} req/s | {n} p50 | {n} p99 |");
        sep.push_str("---:|---:|---:|---:|");
    }
    let crm = rows.iter().find(|r| r.flavor == Flavor::Crmdav);
    let peers: Vec<&ServerSize> = rows.iter().filter(|r| r.flavor != Flavor::Crmdav).collect();
    if crm.is_some() {
        for p in &peers {
            let _ = write!(head, " crmdav vs {} |", p.flavor.name());
            sep.push_str("---:|");
        }
        for p in &peers {
            let _ = write!(head, " warm vs {} |", p.flavor.name());
            sep.push_str("---:|");
        }
    }
    let _ = writeln!(out, "{head}\n{sep}");
    let ops: Vec<Op> = rows[0].results.iter().map(|r| r.op).collect();
    for op in ops {
        let mut line = format!("| {} |", op.label());
        for s in rows {
            let r = s.results.iter().find(|r| r.op == op);
            let warm = r.map(|r| fmt_num(r.warm_ms)).unwrap_or("–".into());
            let (a, b, c) = cell_rps(r);
            let _ = write!(line, " {warm} | {a} | {b} | {c} |");
        }
        if let Some(c) = crm {
            let cr = c.results.iter().find(|r| r.op == op);
            for p in &peers {
                let _ = write!(
                    line,
                    " {} |",
                    ratio(cr, p.results.iter().find(|r| r.op == op))
                );
            }
            for p in &peers {
                let pr = p.results.iter().find(|r| r.op == op);
                let w = match (cr, pr) {
                    (Some(c), Some(p)) if c.warm_ms > 0.0 && p.warm_ms.is_finite() => {
                        format!("{}×", fmt_num(p.warm_ms / c.warm_ms))
                    }
                    _ => "–".into(),
                };
                let _ = write!(line, " {w} |");
            }
        }
        let _ = writeln!(out, "{line}");
    }
    let mut line = String::from("| PUT load, events (obj/s while loading) |");
    for s in rows {
        let v = s.put_load.map(fmt_num).unwrap_or("–".into());
        let _ = write!(line, " | {v} | | |");
    }
    if let Some(c) = crm {
        for p in &peers {
            let r = match (c.put_load, p.put_load) {
                (Some(a), Some(b)) if b > 0.0 => format!("{}×", fmt_num(a / b)),
                _ => "–".into(),
            };
            let _ = write!(line, " {r} |");
        }
        for _ in &peers {
            line.push_str(" |");
        }
    }
    let _ = writeln!(out, "{line}");
    let mut line = String::from("| peak RSS (VmHWM, MB) |");
    for s in rows {
        let v = s
            .peak_rss_kb
            .map(|k| format!("{:.0}", k as f64 / 1024.0))
            .unwrap_or("–".into());
        let _ = write!(line, " | {v} | | |");
    }
    if let Some(c) = crm {
        for p in &peers {
            let r = match (c.peak_rss_kb, p.peak_rss_kb) {
                (Some(a), Some(b)) if a > 0 => format!("{:.2}×", b as f64 / a as f64),
                _ => "–".into(),
            };
            let _ = write!(line, " {r} |");
        }
        for _ in &peers {
            line.push_str(" |");
        }
    }
    let _ = writeln!(out, "{line}");
    let mut notes = Vec::new();
    for s in rows {
        if s.loaded_events != size || s.loaded_contacts != size {
            notes.push(format!(
                "{} lists {} events and {} contacts (expected {size}).",
                s.flavor.name(),
                s.loaded_events,
                s.loaded_contacts
            ));
        }
    }
    let _ = writeln!(
        out,
        "\n¹ one worker: a single request took longer than a quarter of the run time, so requests were sent one at a time (as many as fit the run time, at least one). Ratios: crmdav req/s ÷ peer req/s with the same number of workers; \"c=1\" = crmdav measured again with one worker, against a peer that ran with one; \"lat\" = peer p50 ÷ crmdav p50 (worker counts differ otherwise). >1 = crmdav faster."
    );
    for n in notes {
        let _ = writeln!(out, "\n**Warning:** {n}");
    }
    out
}

fn to_json(args: &Args, mode: &str, sizes: &BTreeMap<usize, Vec<ServerSize>>) -> String {
    let mut v = serde_json::Map::new();
    v.insert("mode".into(), mode.into());
    v.insert("duration_s".into(), args.duration.as_secs_f64().into());
    v.insert("concurrency".into(), args.concurrency.into());
    v.insert("runs".into(), args.runs.into());
    v.insert("machine".into(), machine().into());
    let mut out = Vec::new();
    for (size, rows) in sizes {
        for s in rows {
            let results: Vec<serde_json::Value> = s
                .results
                .iter()
                .map(|r| {
                    serde_json::json!({
                        "op": r.op.key(),
                        "label": r.op.label(),
                        "concurrency": r.concurrency,
                        "cold_ms": r.cold_ms,
                        "warm_ms": r.warm_ms,
                        "rps_median": r.rps(),
                        "rps_spread_pct": r.spread(),
                        "p50_ms_median": r.p50(),
                        "p99_ms_median": r.p99(),
                        "errors": r.errors(),
                        "one_worker_rps_median": r.one_worker.as_ref().map(|o| o.rps()),
                        "one_worker_p50_ms_median": r.one_worker.as_ref().map(|o| o.p50()),
                        "runs": r.runs.iter().map(|x| serde_json::json!({
                            "requests": x.n, "errors": x.errors, "first_error": x.first_error,
                            "wall_s": x.wall_s, "rps": x.rps, "p50_ms": x.p50_ms, "p99_ms": x.p99_ms,
                            "response_bytes": x.bytes,
                        })).collect::<Vec<_>>(),
                    })
                })
                .collect();
            out.push(serde_json::json!({
                "size": size,
                "server": s.flavor.name(),
                "loaded_events": s.loaded_events,
                "loaded_contacts": s.loaded_contacts,
                "peak_rss_kb": s.peak_rss_kb,
                "results": results,
            }));
        }
    }
    v.insert("results".into(), out.into());
    // NaN is not JSON: serde_json writes null for it.
    serde_json::to_string_pretty(&serde_json::Value::Object(v)).unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0);
    format!(
        "{} CPUs ({}), {:.1} GiB RAM",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0),
        cpu,
        mem as f64 / 1024.0 / 1024.0
    )
}

// ---------------------------------------------------------------------------------------------
// main

fn main() {
    // reqwest is built with rustls and no default crypto provider: install ring's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    started();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("dav_compare: {e}");
            std::process::exit(64);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match rt.block_on(run(args)) {
        Ok(()) => {}
        Err(e) => {
            eprintln!("dav_compare: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(args: Args) -> Res<()> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let crmdav_bin = ensure_crmdav(&args, &repo)?;
    let target = crmdav_bin
        .parent()
        .and_then(|p| p.parent())
        .map(Path::to_path_buf)
        .unwrap_or_else(|| repo.join("target"));
    let servers_wanted: Vec<Flavor> = if args.scale.is_some() {
        vec![Flavor::Crmdav]
    } else {
        args.servers.clone()
    };
    let venv = if servers_wanted.iter().any(|f| *f != Flavor::Crmdav) {
        Some(ensure_venv(&target)?)
    } else {
        None
    };
    let tmp = tempfile::Builder::new()
        .prefix("crmdav-bench-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    log!("state under {}", tmp.path().display());
    let client = make_client(&args)?;

    let mut servers = Vec::new();
    for f in &servers_wanted {
        let program = match f {
            Flavor::Crmdav => crmdav_bin.clone(),
            Flavor::Radicale => venv.as_ref().unwrap().join("bin/radicale"),
            Flavor::Xandikos => venv.as_ref().unwrap().join("bin/xandikos"),
        };
        let mut s = Server::setup(*f, tmp.path().join(f.name().to_lowercase()), program, &repo)?;
        s.start()?;
        log!(
            "{} listening on {} (pid {})",
            f.name(),
            s.base(),
            s.pid().unwrap_or(0)
        );
        servers.push(s);
    }

    let result = if let Some(scale) = args.scale {
        scale_mode(&args, scale, &mut servers[0], &client).await
    } else {
        compare_mode(&args, &mut servers, venv.as_deref()).await
    };
    for s in servers.iter_mut() {
        s.stop();
    }
    if args.keep {
        let p = tmp.keep();
        log!("kept the servers' state in {}", p.display());
    }
    result
}

/// A keep-alive client pool (HTTP/1.1, no proxy, no redirects followed). A new one is made
/// after each server restart so that no request goes to a dead pooled connection.
fn make_client(args: &Args) -> Res<Client> {
    Client::builder()
        .pool_max_idle_per_host(args.concurrency.max(args.load_concurrency) * 2)
        .timeout(LISTING_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())
}

fn info(s: &Server) -> SrvInfo {
    SrvInfo {
        flavor: s.flavor,
        base: s.base(),
        auth: s.auth(),
    }
}

fn make_ctx(
    s: &Server,
    size: usize,
    events: Arc<Vec<GenItem>>,
    scale_kind: Kind,
    timeout: Duration,
) -> Ctx {
    let cal = s.coll(Kind::Cal, size);
    let card = s.coll(Kind::Card, size);
    let step = (size / 100).max(1);
    let hrefs = |coll: &str, ext: &str| -> Vec<String> {
        (0..100.min(size))
            .map(|k| {
                let i = k * step;
                match ext {
                    "ics" => format!("{coll}bench-evt-{i:06}.ics"),
                    _ => format!("{coll}bench-card-{i:06}.vcf"),
                }
            })
            .collect()
    };
    let _ = scale_kind;
    Ctx {
        srv: info(s),
        size,
        multiget_cal: multiget_body(Kind::Cal, &hrefs(&cal, "ics")),
        multiget_card: multiget_body(Kind::Card, &hrefs(&card, "vcf")),
        cal,
        card,
        calquery: calquery_body(),
        cardquery: cardquery_body(),
        sync_token: Mutex::new(String::new()),
        put_state: Mutex::new(Vec::new()),
        events,
        timeout,
    }
}

#[allow(clippy::too_many_arguments)] // a benchmark driver: plain arguments read best here
async fn load_all(
    args: &Args,
    servers: &mut [Server],
    venv: Option<&Path>,
    client: &Client,
    size: usize,
    events: &Arc<Vec<GenItem>>,
    contacts: &Arc<Vec<GenItem>>,
    with_events: bool,
) -> Res<Vec<(Flavor, f64)>> {
    // Events PUT per second: crmdav past its first 1,000 (the issue's "PUT load"), a peer
    // over its HTTP seed.
    let mut put_rates = Vec::new();
    for s in servers.iter() {
        let si = info(s);
        for (kind, items) in [(Kind::Cal, events), (Kind::Card, contacts)] {
            if kind == Kind::Cal && !with_events {
                continue;
            }
            let coll = s.coll(kind, size);
            create_collection(client, &si, &coll, kind).await?;
            let t = Instant::now();
            let http_n = if s.flavor == Flavor::Crmdav {
                size
            } else {
                args.http_seed.min(size)
            };
            let warm_n = if s.flavor == Flavor::Crmdav {
                http_n.min(1000)
            } else {
                0
            };
            let mut ok = put_items(
                client,
                &si,
                &coll,
                kind,
                items.clone(),
                0..warm_n,
                args.load_concurrency,
            )
            .await?;
            let t_rest = Instant::now();
            ok += put_items(
                client,
                &si,
                &coll,
                kind,
                items.clone(),
                warm_n..http_n,
                args.load_concurrency,
            )
            .await?;
            if kind == Kind::Cal && http_n > warm_n {
                put_rates.push((
                    s.flavor,
                    (http_n - warm_n) as f64 / t_rest.elapsed().as_secs_f64(),
                ));
            }
            let put_s = t.elapsed().as_secs_f64();
            if http_n < size {
                let t2 = Instant::now();
                seed_on_disk(s, venv.ok_or("no venv")?, kind, size, &items[http_n..size])?;
                log!(
                    "  {:<9} {:?} {size}: {ok}/{http_n} over HTTP PUT ({:.1} PUT/s), {} on disk in {:.1} s",
                    s.flavor.name(),
                    kind,
                    http_n as f64 / put_s,
                    size - http_n,
                    t2.elapsed().as_secs_f64()
                );
            } else {
                log!(
                    "  {:<9} {:?} {size}: {ok}/{size} over HTTP PUT in {:.1} s ({:.0} PUT/s)",
                    s.flavor.name(),
                    kind,
                    put_s,
                    size as f64 / put_s
                );
            }
        }
    }
    Ok(put_rates)
}

async fn compare_mode(args: &Args, servers: &mut [Server], venv: Option<&Path>) -> Res<()> {
    let max = *args.sizes.iter().max().unwrap();
    log!("generating {max} events and {max} contacts");
    let events = Arc::new(gen::events(max));
    let contacts = Arc::new(gen::contacts(max));
    let mut all: BTreeMap<usize, Vec<ServerSize>> = BTreeMap::new();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## crmdav vs Radicale {RADICALE_VERSION} vs Xandikos {XANDIKOS_VERSION}\n\nMachine: {}",
        machine()
    );
    let mut sizes = args.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    let ops = [
        Op::PropfindD1(Kind::Cal),
        Op::Multiget(Kind::Cal),
        Op::CalQuery,
        Op::SyncInitial(Kind::Cal),
        Op::SyncAfterChange,
        Op::CardQuery,
        Op::Get,
        Op::PutIfMatch,
        Op::Discovery,
    ];
    for &size in &sizes {
        // Each size on its own: load, restart, measure, delete. The homes then hold only this
        // size's collections (Radicale's home listing reads every collection in it).
        log!("loading {size} events + {size} contacts into each server");
        let put_rates = {
            let client = &make_client(args)?;
            load_all(args, servers, venv, client, size, &events, &contacts, true).await?
        };
        log!(
            "size {size}: restarting the servers (peak RSS then covers this size's requests only)"
        );
        let mut rows = Vec::new();
        let has_peers = servers.iter().any(|s| s.flavor != Flavor::Crmdav);
        for s in servers.iter_mut() {
            s.restart()?;
            s.log_rss(args, "restart");
            let client = &make_client(args)?;
            let si = info(s);
            let (ne, t1, b1) = count_items(client, &si, &s.coll(Kind::Cal, size))
                .await
                .unwrap_or_else(|e| {
                    log!("  {}: listing the calendar failed: {e}", s.flavor.name());
                    (0, Duration::ZERO, 0)
                });
            let (nc, t2, _) = count_items(client, &si, &s.coll(Kind::Card, size))
                .await
                .unwrap_or_else(|e| {
                    log!(
                        "  {}: listing the address book failed: {e}",
                        s.flavor.name()
                    );
                    (0, Duration::ZERO, 0)
                });
            log!(
                "  {:<9} lists {ne} events ({:.0} ms first PROPFIND, {b1} B), {nc} contacts ({:.0} ms)",
                s.flavor.name(),
                t1.as_secs_f64() * 1000.0,
                t2.as_secs_f64() * 1000.0
            );
            s.log_rss(args, "listing both collections");
            let ctx = Arc::new(make_ctx(s, size, events.clone(), Kind::Cal, args.timeout));
            let mut results = Vec::new();
            for op in ops {
                let mut r = bench_op(op, ctx.clone(), client, args).await;
                s.log_rss(args, op.label());
                // Like with like: a peer too slow for eight workers runs with one, so crmdav
                // runs the operation with one as well (the ratio's "c=1").
                if s.flavor == Flavor::Crmdav && has_peers && r.concurrency > 1 {
                    let one = Args {
                        concurrency: 1,
                        ..args.clone()
                    };
                    r.one_worker = Some(Box::new(bench_op(op, ctx.clone(), client, &one).await));
                }
                results.push(r);
            }
            let peak = s.peak_rss_kb();
            // `--keep` keeps the data too, so a kept state can be served again to profile it.
            for kind in [Kind::Cal, Kind::Card].into_iter().filter(|_| !args.keep) {
                if let Err(e) = send(client, &si, "DELETE", &s.coll(kind, size), &[], None).await {
                    log!(
                        "  {}: deleting {}: {e}",
                        s.flavor.name(),
                        s.coll(kind, size)
                    );
                }
            }
            rows.push(ServerSize {
                flavor: s.flavor,
                loaded_events: ne,
                loaded_contacts: nc,
                peak_rss_kb: peak,
                results,
                put_load: put_rates
                    .iter()
                    .find(|(f, _)| *f == s.flavor)
                    .map(|(_, r)| *r),
            });
        }
        let t = table(size, &rows, args);
        println!("{t}");
        let _ = std::io::stdout().flush();
        md.push_str(&t);
        all.insert(size, rows);
        write_outputs(args, "compare", &all, &md)?;
    }
    Ok(())
}

fn write_outputs(
    args: &Args,
    mode: &str,
    all: &BTreeMap<usize, Vec<ServerSize>>,
    md: &str,
) -> Res<()> {
    if let Some(p) = &args.json {
        std::fs::write(p, to_json(args, mode, all)).map_err(|e| format!("{}: {e}", p.display()))?;
        log!("wrote {}", p.display());
    }
    if let Some(p) = &args.md {
        std::fs::write(p, md).map_err(|e| format!("{}: {e}", p.display()))?;
        log!("wrote {}", p.display());
    }
    Ok(())
}

async fn scale_mode(args: &Args, scale: usize, crm: &mut Server, client: &Client) -> Res<()> {
    let mut sizes: Vec<usize> = [1000, 10_000, 100_000, 1_000_000]
        .into_iter()
        .filter(|&s| s <= scale)
        .collect();
    if !sizes.contains(&scale) {
        sizes.push(scale);
    }
    log!("scaling mode: crmdav alone, contacts {sizes:?}");
    let events = Arc::new(gen::events(PUT_BASE + args.concurrency + 1));
    let ops = [
        Op::PropfindD1(Kind::Card),
        Op::Multiget(Kind::Card),
        Op::CardQuery,
        Op::SyncInitial(Kind::Card),
    ];
    let mut all: BTreeMap<usize, Vec<ServerSize>> = BTreeMap::new();
    let mut md = format!(
        "## crmdav scaling (contacts, 10 % with a 50 KB photo)\n\nMachine: {}. {} workers, {} s per run, median of {} runs; latencies in ms.\n\n\
         | contacts | operation | req/s | p50 | p99 | response bytes |\n|---:|---|---:|---:|---:|---:|\n",
        machine(),
        args.concurrency,
        args.duration.as_secs_f64(),
        args.runs
    );
    for &size in &sizes {
        log!("generating and loading {size} contacts");
        let contacts = Arc::new(gen::contacts(size));
        load_all(
            args,
            std::slice::from_mut(crm),
            None,
            client,
            size,
            &events,
            &contacts,
            false,
        )
        .await?;
        drop(contacts);
        crm.restart()?;
        crm.log_rss(args, "restart");
        let client = &make_client(args)?;
        let si = info(crm);
        let (nc, t, b) = count_items(client, &si, &crm.coll(Kind::Card, size)).await?;
        log!(
            "  crmdav lists {nc} contacts ({:.0} ms, {b} B)",
            t.as_secs_f64() * 1000.0
        );
        crm.log_rss(args, "listing the address book");
        let ctx = Arc::new(make_ctx(
            crm,
            size,
            events.clone(),
            Kind::Card,
            args.timeout,
        ));
        let mut results = Vec::new();
        for op in ops {
            results.push(bench_op(op, ctx.clone(), client, args).await);
            crm.log_rss(args, op.label());
        }
        let rss = crm.peak_rss_kb();
        for r in &results {
            let (a, b, c) = cell_rps(Some(r));
            let _ = writeln!(
                md,
                "| {size} | {} | {a} | {b} | {c} | {} |",
                r.op.label(),
                r.runs.iter().map(|x| x.bytes).max().unwrap_or(0)
            );
        }
        let _ = writeln!(
            md,
            "| {size} | peak RSS (VmHWM) | {} MB | | | |",
            rss.map(|k| format!("{:.0}", k as f64 / 1024.0))
                .unwrap_or("–".into())
        );
        all.insert(
            size,
            vec![ServerSize {
                flavor: Flavor::Crmdav,
                loaded_events: 0,
                loaded_contacts: nc,
                peak_rss_kb: rss,
                results,
                put_load: None,
            }],
        );
    }
    println!("{md}");
    write_outputs(args, "scale", &all, &md)
}
