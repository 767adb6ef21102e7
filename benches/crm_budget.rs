//! CRM-call budget: a real amagi-crm, the release crmdav in front of it, and one phone that
//! polls the way DAVx5 and iOS do. Measures per poll cycle the CRM calls the gateway makes
//! (`crmdav_crm_calls_total`), the DAV requests and bytes, and for each change made in the CRM
//! how long it takes to reach the phone.
//!
//! ```text
//! cargo bench --bench crm_budget -- [--cycles 8] [--interval 5] [--ttl 2×interval]
//!     [--changes-per-cycle 2] [--idle-cycles 6] [--contacts 25] [--appointments 25]
//!     [--json out.json] [--md out.md] [--no-build]
//! cargo bench --bench crm_budget -- --interval 15 --ttl 30      # the realistic run, ~5 min
//! cargo bench --bench crm_budget -- --sizes 1000,10000,100000 [--ttl 5] [--amagi-max 10000]
//!     [--page-cost-ms N] [--md out.md]    # the CRM grown to each size (common/crm_scale.rs)
//! ```
//!
//! See docs/benchmarks.md ("CRM-call budget"). Everything runs on 127.0.0.1; amagi-crm and
//! crmdav are children of this process and are killed when it ends (also on error or panic:
//! `Drop`; Ctrl-C reaches the whole foreground process group). Every loop is bounded.

#[path = "../tests/support/amagi.rs"]
mod amagi;
#[path = "common/build.rs"]
mod build;

use amagi::Amagi;
use reqwest::{Client, Method};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

type Res<T> = Result<T, String>;

const USER: &str = "alice";
const PASS: &str = "budget-Phone-7";
const TENANT: &str = "firm";
const MEETINGS: &str = "/dav/calendars/alice/meetings/";
const CONTACTS: &str = "/dav/addressbooks/alice/contacts/";
/// Hrefs per multiget, as DAVx5 batches them (iOS asks for more at once; only the initial
/// sync has more than a handful).
const MULTIGET_BATCH: usize = 10;
/// amagi contacts page size in `connectors/amagi-crm.toml`.
const CONTACTS_PAGE: usize = 1000;

macro_rules! log {
    ($($t:tt)*) => {{
        eprintln!("[{:>6.1}s] {}", started().elapsed().as_secs_f64(), format!($($t)*));
    }};
}

#[path = "common/crm_scale.rs"]
mod scale;

fn started() -> &'static Instant {
    static T: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    T.get_or_init(Instant::now)
}

// ---------------------------------------------------------------------------------------------
// arguments

#[derive(Debug, Clone)]
struct Args {
    cycles: usize,
    interval: Duration,
    ttl: u64,
    changes_per_cycle: usize,
    idle_cycles: usize,
    contacts: usize,
    appointments: usize,
    json: Option<PathBuf>,
    md: Option<PathBuf>,
    no_build: bool,
    /// `--sizes`: the CRM grown to each size instead of the poll cycles (`common/crm_scale.rs`).
    sizes: Vec<usize>,
    amagi_max: usize,
    page_cost_ms: Option<u64>,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        cycles: 8,
        interval: Duration::from_secs(5),
        ttl: 0,
        changes_per_cycle: 2,
        idle_cycles: 6,
        contacts: 25,
        appointments: 25,
        json: None,
        md: None,
        no_build: false,
        sizes: Vec::new(),
        amagi_max: 10_000,
        page_cost_ms: None,
    };
    let mut ttl = None;
    let mut it = std::env::args().skip(1);
    fn num<T: std::str::FromStr>(name: &str, v: Option<String>) -> Res<T>
    where
        T::Err: std::fmt::Display,
    {
        v.ok_or_else(|| format!("{name} needs a value"))?
            .parse::<T>()
            .map_err(|e| format!("{name}: {e}"))
    }
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bench" | "--nocapture" => {}
            "--cycles" => a.cycles = num::<usize>("--cycles", it.next())?.clamp(1, 200),
            "--interval" => {
                let s = num::<f64>("--interval", it.next())?;
                a.interval = Duration::from_secs_f64(s.clamp(1.0, 600.0));
            }
            "--ttl" => ttl = Some(num::<u64>("--ttl", it.next())?.clamp(1, 3600)),
            "--changes-per-cycle" => {
                a.changes_per_cycle = num::<usize>("--changes-per-cycle", it.next())?.min(20)
            }
            "--idle-cycles" => a.idle_cycles = num::<usize>("--idle-cycles", it.next())?.min(200),
            "--contacts" => a.contacts = num::<usize>("--contacts", it.next())?.clamp(1, 2000),
            "--appointments" => {
                a.appointments = num::<usize>("--appointments", it.next())?.clamp(1, 300)
            }
            "--json" => a.json = Some(it.next().ok_or("--json needs a value")?.into()),
            "--md" => a.md = Some(it.next().ok_or("--md needs a value")?.into()),
            "--no-build" => a.no_build = true,
            "--sizes" => {
                a.sizes = it
                    .next()
                    .ok_or("--sizes needs a value")?
                    .split(',')
                    .map(|v| {
                        v.trim()
                            .parse::<usize>()
                            .map_err(|e| format!("--sizes: {e}"))
                    })
                    .collect::<Res<Vec<usize>>>()?
                    .into_iter()
                    .map(|n| n.clamp(1, 1_000_000))
                    .collect()
            }
            "--amagi-max" => a.amagi_max = num::<usize>("--amagi-max", it.next())?,
            "--page-cost-ms" => a.page_cost_ms = Some(num::<u64>("--page-cost-ms", it.next())?),
            "-h" | "--help" => {
                println!(
                    "{}",
                    include_str!("crm_budget.rs")
                        .lines()
                        .take(12)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                std::process::exit(0);
            }
            o if o.starts_with("--") => return Err(format!("unknown option {o} (see --help)")),
            _ => {} // cargo's filter argument
        }
    }
    // The TTL keeps the ratio of the realistic setting (poll every 15 s, TTL 30 s) unless given.
    a.ttl = ttl.unwrap_or_else(|| (2.0 * a.interval.as_secs_f64()).round().max(1.0) as u64);
    Ok(a)
}

// ---------------------------------------------------------------------------------------------
// the crmdav binary and process

fn ensure_crmdav(args: &Args, repo: &Path) -> Res<PathBuf> {
    // This bench binary lives in <target>/release/deps/; crmdav lands in <target>/release/.
    let from_env = std::env::var_os("CRMDAV_BIN");
    let bin = build::crmdav_bin()?;
    if !args.no_build && from_env.is_none() {
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

fn free_port() -> Res<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn hash_password(bin: &Path, pw: &str) -> Res<String> {
    use std::io::Write;
    let mut child = Command::new(bin)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("crmdav hash-password: {e}"))?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(format!("{pw}\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let h = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || h.is_empty() {
        return Err("crmdav hash-password failed".into());
    }
    Ok(h)
}

/// The gateway: one CRM tenant on the amagi connector, modelled on deploy/examples/amagi/.
struct Gateway {
    base: String,
    dir: tempfile::TempDir,
    child: Option<Child>,
    http: Client,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A snapshot of the gateway's CRM metrics.
#[derive(Debug, Clone, Copy, Default)]
struct Metrics {
    calls: u64,
    refreshes: u64,
    failures: u64,
    refresh_sum: f64,
}

impl Metrics {
    fn since(self, before: Metrics) -> Metrics {
        Metrics {
            calls: self.calls - before.calls,
            refreshes: self.refreshes - before.refreshes,
            failures: self.failures - before.failures,
            refresh_sum: self.refresh_sum - before.refresh_sum,
        }
    }
}

impl Gateway {
    /// The gateway on the amagi API at `api` with `token`.
    async fn start_on(bin: &Path, api: &str, token: &str, ttl: u64) -> Res<Gateway> {
        let dir = tempfile::Builder::new()
            .prefix("crmdav-budget-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let d = dir.path();
        let port = free_port()?;
        std::fs::create_dir_all(d.join("tenants")).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(d.join("data")).map_err(|e| e.to_string())?;
        std::fs::write(
            d.join("crmdav.toml"),
            format!(
                "listen = \"127.0.0.1:{port}\"\nstate = \"sqlite://data/crmdav.db\"\n\
                 tenants_dir = \"tenants\"\ndefault_tenant = \"{TENANT}\"\n\
                 http = {{ metrics_tenant_names = true }}\n"
            ),
        )
        .map_err(|e| e.to_string())?;
        let hash = hash_password(bin, PASS)?;
        std::fs::write(
            d.join("tenants/firm.toml"),
            format!(
                r#"name = "{TENANT}"

[connector]
kind = "amagi-crm"
options = {{ base_url = "${{CRM_URL}}", token = "${{CRM_TOKEN}}", timezone = "Europe/Berlin" }}

[sync]
refresh_ttl_secs = {ttl}
full_scan_secs = 600

[[users]]
name = "{USER}"
password_hash = "{hash}"
display_name = "Alice"

[[collections]]
id = "meetings"
kind = "calendar"
entity = "appointments"
display_name = "Appointments"
users = ["{USER}"]

[[collections]]
id = "tasks"
kind = "calendar"
entity = "tasks"
display_name = "Tasks"
users = ["{USER}"]

[[collections]]
id = "contacts"
kind = "addressbook"
entity = "contacts"
display_name = "CRM contacts"
users = ["{USER}"]
"#
            ),
        )
        .map_err(|e| e.to_string())?;
        let log = std::fs::File::create(d.join("server.log")).map_err(|e| e.to_string())?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(bin)
            .current_dir(d)
            .arg("serve")
            .arg("--config")
            .arg(d.join("crmdav.toml"))
            .env("CRM_URL", api)
            .env("CRM_TOKEN", token)
            .env("CRMDAV_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", bin.display()))?;
        let mut g = Gateway {
            base: format!("http://127.0.0.1:{port}"),
            dir,
            child: Some(child),
            http: client()?,
        };
        let t0 = Instant::now();
        loop {
            if let Ok(r) = g.http.get(format!("{}/healthz", g.base)).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            if let Some(Ok(Some(st))) = g.child.as_mut().map(|c| c.try_wait()) {
                return Err(format!("crmdav exited ({st}):\n{}", g.log()));
            }
            if t0.elapsed() > Duration::from_secs(30) {
                return Err(format!("crmdav not up after 30 s:\n{}", g.log()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(g)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// `/metrics` (not counted as phone traffic).
    async fn metrics(&self) -> Res<Metrics> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .map_err(|e| format!("/metrics: {e}"))?
            .text()
            .await
            .map_err(|e| format!("/metrics: {e}"))?;
        let tenant = |name: &str| -> Res<u64> {
            let key = format!("{name}{{tenant=\"{TENANT}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&key))
                .ok_or_else(|| format!("no {key} in /metrics"))?
                .trim()
                .parse()
                .map_err(|e| format!("{name}: {e}"))
        };
        let plain = |name: &str| -> f64 {
            let key = format!("{name} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&key))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0.0)
        };
        Ok(Metrics {
            calls: tenant("crmdav_crm_calls_total")?,
            refreshes: tenant("crmdav_refreshes_total")?,
            failures: tenant("crmdav_refresh_failures_total")?,
            refresh_sum: plain("crmdav_refresh_seconds_sum"),
        })
    }
}

fn client() -> Res<Client> {
    Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------------
// the phone

#[derive(Debug, Clone, Copy, Default)]
struct Traffic {
    requests: u64,
    up: u64,
    down: u64,
}

impl Traffic {
    fn since(self, b: Traffic) -> Traffic {
        Traffic {
            requests: self.requests - b.requests,
            up: self.up - b.up,
            down: self.down - b.down,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Calendar,
    AddressBook,
}

/// What the phone keeps of one collection.
struct PhoneColl {
    label: &'static str,
    path: &'static str,
    kind: Kind,
    ctag: Option<String>,
    token: String,
    etags: BTreeMap<String, String>,
    bodies: BTreeMap<String, String>,
    /// When the last PROPFIND that made the gateway refresh was sent and answered.
    last_refresh: Option<(Instant, Instant)>,
    refresh_times: Vec<Instant>,
}

impl PhoneColl {
    fn new(label: &'static str, path: &'static str, kind: Kind) -> Self {
        PhoneColl {
            label,
            path,
            kind,
            ctag: None,
            token: String::new(),
            etags: BTreeMap::new(),
            bodies: BTreeMap::new(),
            last_refresh: None,
            refresh_times: Vec::new(),
        }
    }
}

struct Phone {
    base: String,
    http: Client,
    traffic: Traffic,
}

const PROPFIND_CTAG: &str = r#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>"#;

impl Phone {
    async fn dav(
        &mut self,
        method: &str,
        path: &str,
        depth: Option<&str>,
        body: String,
    ) -> Res<(u16, String)> {
        let m = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
        self.traffic.requests += 1;
        self.traffic.up += body.len() as u64;
        let mut rb = self
            .http
            .request(m, format!("{}{path}", self.base))
            .basic_auth(USER, Some(PASS))
            .header("Content-Type", "application/xml; charset=utf-8")
            .body(body);
        if let Some(d) = depth {
            rb = rb.header("Depth", d);
        }
        let r = rb
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let st = r.status().as_u16();
        let bytes = r
            .bytes()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        self.traffic.down += bytes.len() as u64;
        Ok((st, String::from_utf8_lossy(&bytes).into_owned()))
    }
}

fn parse_xml(text: &str) -> Res<roxmltree::Document<'_>> {
    roxmltree::Document::parse(text).map_err(|e| format!("bad XML ({e}): {text}"))
}

fn child_text<'a>(n: roxmltree::Node<'a, 'a>, ns: &str, name: &str) -> Option<String> {
    n.descendants()
        .find(|c| c.has_tag_name((ns, name)))
        .and_then(|c| c.text())
        .map(str::to_string)
}

/// `(entity, crm id)` of a CRM-created member (`amagi-crm-appointments-8@crmdav.ics`).
fn crm_member(href: &str) -> Option<(String, i64)> {
    let seg = href.trim_end_matches('/').rsplit('/').next()?;
    let rest = seg.strip_prefix("amagi-crm-")?;
    let (entity, tail) = rest.split_once('-')?;
    let digits: String = tail.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((entity.to_string(), digits.parse().ok()?))
}

/// What one collection's poll did.
#[derive(Debug, Default, Clone)]
struct CollPoll {
    /// CRM calls / refreshes during the PROPFIND (where the gateway refreshes).
    propfind: Metrics,
    /// CRM calls during the rest of the poll (sync-collection, multiget): within the TTL.
    rest_calls: u64,
    synced: usize,
    fetched: usize,
    deleted: usize,
    /// When the sync-collection answered (the moment the phone learns of a change).
    sync_at: Option<Instant>,
    /// Freshness as the phone can bound it: Some(true) certainly within the TTL, Some(false)
    /// certainly past it, None too close to tell (or no refresh yet).
    within_ttl: Option<bool>,
    violations: Vec<String>,
}

/// One PROPFIND Depth 0 (getctag + sync-token); when it changed, sync-collection with the last
/// token and a multiget of the changed hrefs.
async fn poll_coll(
    phone: &mut Phone,
    gw: &Gateway,
    c: &mut PhoneColl,
    ttl: Duration,
) -> Res<CollPoll> {
    let mut out = CollPoll::default();
    let m0 = gw.metrics().await?;
    let sent = Instant::now();
    let (st, text) = phone
        .dav("PROPFIND", c.path, Some("0"), PROPFIND_CTAG.into())
        .await?;
    let done = Instant::now();
    if st != 207 {
        return Err(format!("PROPFIND {}: {st} {text}", c.path));
    }
    let (ctag, token) = {
        let doc = parse_xml(&text)?;
        (
            child_text(doc.root(), "http://calendarserver.org/ns/", "getctag"),
            child_text(doc.root(), "DAV:", "sync-token").unwrap_or_default(),
        )
    };
    let m1 = gw.metrics().await?;
    out.propfind = m1.since(m0);
    if let Some((last_sent, last_done)) = c.last_refresh {
        let ttl_f = ttl.as_secs_f64();
        if done.duration_since(last_sent).as_secs_f64() < ttl_f {
            out.within_ttl = Some(true);
        } else if sent.duration_since(last_done).as_secs_f64() > ttl_f + 0.25 {
            out.within_ttl = Some(false);
        }
    }
    if out.propfind.refreshes > 0 {
        c.last_refresh = Some((sent, done));
        c.refresh_times.push(sent);
    }
    if out.propfind.failures > 0 {
        out.violations.push(format!(
            "{}: {} refresh failure(s)",
            c.label, out.propfind.failures
        ));
    }
    if ctag.is_some() && ctag == c.ctag && !c.token.is_empty() && token == c.token {
        return Ok(out);
    }
    // sync-collection with the last token (empty on the first sync).
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#,
        c.token
    );
    let (st, text) = phone.dav("REPORT", c.path, None, body).await?;
    out.sync_at = Some(Instant::now());
    if st != 207 {
        return Err(format!("sync-collection {}: {st} {text}", c.path));
    }
    let mut fetch = Vec::new();
    let new_token;
    {
        let doc = parse_xml(&text)?;
        new_token = doc
            .root_element()
            .children()
            .find(|n| n.has_tag_name(("DAV:", "sync-token")))
            .and_then(|n| n.text())
            .ok_or_else(|| format!("no sync-token in {text}"))?
            .to_string();
        for r in doc
            .descendants()
            .filter(|n| n.has_tag_name(("DAV:", "response")))
        {
            let Some(href) = r
                .children()
                .find(|n| n.has_tag_name(("DAV:", "href")))
                .and_then(|n| n.text())
            else {
                continue;
            };
            if href == c.path {
                continue;
            }
            out.synced += 1;
            match child_text(r, "DAV:", "getetag") {
                Some(etag) => {
                    if c.etags.get(href) != Some(&etag) {
                        fetch.push(href.to_string());
                    }
                }
                None => {
                    c.etags.remove(href);
                    c.bodies.remove(href);
                    out.deleted += 1;
                }
            }
        }
    }
    for batch in fetch.chunks(MULTIGET_BATCH) {
        let hrefs: String = batch
            .iter()
            .map(|h| format!("<d:href>{h}</d:href>"))
            .collect();
        let (ns, report, data) = match c.kind {
            Kind::Calendar => (
                "urn:ietf:params:xml:ns:caldav",
                "calendar-multiget",
                "calendar-data",
            ),
            Kind::AddressBook => (
                "urn:ietf:params:xml:ns:carddav",
                "addressbook-multiget",
                "address-data",
            ),
        };
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><x:{report} xmlns:d="DAV:" xmlns:x="{ns}"><d:prop><d:getetag/><x:{data}/></d:prop>{hrefs}</x:{report}>"#
        );
        let (st, text) = phone.dav("REPORT", c.path, Some("1"), body).await?;
        if st != 207 {
            return Err(format!("{report} {}: {st} {text}", c.path));
        }
        let doc = parse_xml(&text)?;
        for r in doc
            .descendants()
            .filter(|n| n.has_tag_name(("DAV:", "response")))
        {
            let Some(href) = child_text(r, "DAV:", "href") else {
                continue;
            };
            match (child_text(r, "DAV:", "getetag"), child_text(r, ns, data)) {
                (Some(e), Some(b)) => {
                    c.etags.insert(href.clone(), e);
                    c.bodies.insert(href, b);
                    out.fetched += 1;
                }
                _ => {
                    // Gone between the sync and the multiget: the next sync says so.
                    c.etags.remove(&href);
                    c.bodies.remove(&href);
                }
            }
        }
    }
    c.token = new_token;
    c.ctag = ctag;
    let m2 = gw.metrics().await?;
    out.rest_calls = m2.calls - m1.calls;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// CRM changes

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChangeKind {
    CreateAppointment,
    EditContactCompany,
    CancelAppointment,
    MoveAppointment,
    CreateContact,
    RenameAppointment,
    DeleteContact,
}

const ROTATION: [ChangeKind; 7] = [
    ChangeKind::CreateAppointment,
    ChangeKind::EditContactCompany,
    ChangeKind::CancelAppointment,
    ChangeKind::MoveAppointment,
    ChangeKind::CreateContact,
    ChangeKind::RenameAppointment,
    ChangeKind::DeleteContact,
];

impl ChangeKind {
    fn name(self) -> &'static str {
        match self {
            ChangeKind::CreateAppointment => "create appointment",
            ChangeKind::EditContactCompany => "edit contact company (ORG)",
            ChangeKind::CancelAppointment => "cancel appointment",
            ChangeKind::MoveAppointment => "move appointment",
            ChangeKind::CreateContact => "create contact",
            ChangeKind::RenameAppointment => "rename appointment",
            ChangeKind::DeleteContact => "delete contact",
        }
    }
}

#[derive(Debug, Clone)]
enum Expect {
    /// The item's body contains this (with a new ETag).
    Contains(String),
    /// The item is gone.
    Gone,
}

#[derive(Debug, Clone)]
struct Change {
    n: usize,
    kind: ChangeKind,
    entity: &'static str,
    crm_id: i64,
    expect: Expect,
    prev_etag: Option<String>,
    /// The poll cycle after which it was made.
    after_cycle: usize,
    at: Instant,
    seen: Option<(usize, Instant)>,
}

impl Change {
    fn coll(&self) -> &'static str {
        if self.entity == "contacts" {
            CONTACTS
        } else {
            MEETINGS
        }
    }
}

struct Seeds {
    appointments: VecDeque<i64>,
    contacts: VecDeque<i64>,
    contacts_total: usize,
    serial: usize,
}

async fn crm(amagi: &Amagi, method: &str, path: &str, body: Option<Value>) -> Res<Value> {
    let (st, v) = amagi.try_call(&amagi.token, method, path, body).await;
    if st >= 300 {
        return Err(format!("amagi {method} {path}: {st} {v}"));
    }
    Ok(v)
}

fn id_of(v: &Value) -> Res<i64> {
    v["id"].as_i64().ok_or_else(|| format!("no id in {v}"))
}

async fn seed(amagi: &Amagi, args: &Args) -> Res<Seeds> {
    let mut s = Seeds {
        appointments: VecDeque::new(),
        contacts: VecDeque::new(),
        contacts_total: 0,
        serial: 0,
    };
    for i in 0..args.contacts {
        let v = crm(
            amagi,
            "POST",
            "/contacts",
            Some(json!({
                "first_name": format!("Seed{i}"),
                "last_name": if i % 5 == 0 { "Müller".to_string() } else { format!("Person{i}") },
                "email": format!("seed{i}@example.org"),
                "phone": format!("+49 30 {:04}", 1000 + i),
                "company": if i % 3 == 0 { Value::Null } else { json!(format!("Firm {i} GmbH")) },
                "tags": ["seed"],
            })),
        )
        .await?;
        s.contacts.push_back(id_of(&v)?);
    }
    s.contacts_total = args.contacts;
    // One per day from 2030-03-01 at 09:00 (booked appointments may not overlap).
    for i in 0..args.appointments {
        let day = chrono_day(2030, 3, i);
        let v = crm(
            amagi,
            "POST",
            "/appointments",
            Some(json!({
                "title": format!("Seeded meeting {i}"),
                "start": format!("{day}T09:00"),
                "duration_minutes": 60,
                "location": if i % 2 == 0 { json!("HQ") } else { Value::Null },
            })),
        )
        .await?;
        s.appointments.push_back(id_of(&v)?);
    }
    for i in 0..3 {
        crm(
            amagi,
            "POST",
            "/tasks",
            Some(json!({"title": format!("Seeded task {i}"), "due_date": format!("2030-04-0{}", i + 1)})),
        )
        .await?;
    }
    Ok(s)
}

/// `YYYY-MM-DD` of day `offset` counted from year-month-01.
fn chrono_day(y: i32, m: u32, offset: usize) -> String {
    let d = chrono::NaiveDate::from_ymd_opt(y, m, 1).expect("valid date")
        + chrono::Days::new(offset as u64);
    d.format("%Y-%m-%d").to_string()
}

async fn make_change(
    amagi: &Amagi,
    seeds: &mut Seeds,
    phone_contacts: &PhoneColl,
    phone_meetings: &PhoneColl,
    n: usize,
    after_cycle: usize,
) -> Res<Change> {
    let mut kind = ROTATION[n % ROTATION.len()];
    // Out of seeded records to edit: create instead.
    let needs_appt = matches!(
        kind,
        ChangeKind::CancelAppointment | ChangeKind::MoveAppointment | ChangeKind::RenameAppointment
    );
    let needs_contact = matches!(
        kind,
        ChangeKind::EditContactCompany | ChangeKind::DeleteContact
    );
    if needs_appt && seeds.appointments.is_empty() {
        kind = ChangeKind::CreateAppointment;
    }
    if needs_contact && seeds.contacts.is_empty() {
        kind = ChangeKind::CreateContact;
    }
    seeds.serial += 1;
    let tag = format!("n{n}");
    let (entity, crm_id, expect) = match kind {
        ChangeKind::CreateAppointment => {
            let day = chrono_day(2031, 1, seeds.serial);
            let title = format!("Budget new {tag}");
            let v = crm(
                amagi,
                "POST",
                "/appointments",
                Some(json!({"title": title, "start": format!("{day}T10:00"), "duration_minutes": 30})),
            )
            .await?;
            (
                "appointments",
                id_of(&v)?,
                Expect::Contains(format!("SUMMARY:{title}")),
            )
        }
        ChangeKind::CreateContact => {
            let v = crm(
                amagi,
                "POST",
                "/contacts",
                Some(json!({"first_name": "Budget", "last_name": tag, "email": format!("budget-{tag}@example.org")})),
            )
            .await?;
            seeds.contacts_total += 1;
            (
                "contacts",
                id_of(&v)?,
                Expect::Contains(format!("FN:Budget {tag}")),
            )
        }
        ChangeKind::EditContactCompany => {
            let id = seeds.contacts.pop_front().ok_or("no contact left")?;
            let company = format!("Budget Corp {tag}");
            crm(
                amagi,
                "PATCH",
                &format!("/contacts/{id}"),
                Some(json!({ "company": company })),
            )
            .await?;
            ("contacts", id, Expect::Contains(format!("ORG:{company}")))
        }
        ChangeKind::DeleteContact => {
            let id = seeds.contacts.pop_front().ok_or("no contact left")?;
            crm(amagi, "DELETE", &format!("/contacts/{id}"), None).await?;
            seeds.contacts_total -= 1;
            ("contacts", id, Expect::Gone)
        }
        ChangeKind::CancelAppointment => {
            let id = seeds
                .appointments
                .pop_front()
                .ok_or("no appointment left")?;
            crm(amagi, "POST", &format!("/appointments/{id}/cancel"), None).await?;
            (
                "appointments",
                id,
                Expect::Contains("STATUS:CANCELLED".into()),
            )
        }
        ChangeKind::MoveAppointment => {
            let id = seeds
                .appointments
                .pop_front()
                .ok_or("no appointment left")?;
            // Same day, 14:00 (the seeded ones are 09:00-10:00): no overlap.
            let list = crm(amagi, "GET", "/appointments?include_cancelled=true", None).await?;
            let start = list
                .as_array()
                .and_then(|a| a.iter().find(|x| x["id"] == id))
                .and_then(|x| x["start"].as_str())
                .ok_or_else(|| format!("appointment {id} not listed"))?
                .to_string();
            let day = &start[..10];
            crm(
                amagi,
                "PATCH",
                &format!("/appointments/{id}"),
                Some(json!({"start": format!("{day}T14:00")})),
            )
            .await?;
            (
                "appointments",
                id,
                Expect::Contains(format!(
                    "DTSTART;TZID=Europe/Berlin:{}T140000",
                    day.replace('-', "")
                )),
            )
        }
        ChangeKind::RenameAppointment => {
            let id = seeds
                .appointments
                .pop_front()
                .ok_or("no appointment left")?;
            let title = format!("Budget renamed {tag}");
            crm(
                amagi,
                "PATCH",
                &format!("/appointments/{id}"),
                Some(json!({ "title": title })),
            )
            .await?;
            (
                "appointments",
                id,
                Expect::Contains(format!("SUMMARY:{title}")),
            )
        }
    };
    let at = Instant::now();
    let coll = if entity == "contacts" {
        phone_contacts
    } else {
        phone_meetings
    };
    let prev_etag = coll
        .etags
        .iter()
        .find(|(h, _)| crm_member(h).is_some_and(|(e, i)| e == entity && i == crm_id))
        .map(|(_, e)| e.clone());
    Ok(Change {
        n,
        kind,
        entity,
        crm_id,
        expect,
        prev_etag,
        after_cycle,
        at,
        seen: None,
    })
}

/// Mark the changes the phone now has (after a poll of `coll`).
fn mark_seen(changes: &mut [Change], coll: &PhoneColl, cycle: usize, at: Option<Instant>) {
    let Some(at) = at else { return };
    for ch in changes
        .iter_mut()
        .filter(|c| c.seen.is_none() && c.coll() == coll.path)
    {
        let href = coll
            .etags
            .keys()
            .find(|h| crm_member(h).is_some_and(|(e, i)| e == ch.entity && i == ch.crm_id));
        let ok = match (&ch.expect, href) {
            (Expect::Gone, None) => true,
            (Expect::Gone, Some(_)) => false,
            (Expect::Contains(_), None) => false,
            (Expect::Contains(s), Some(h)) => {
                coll.etags.get(h) != ch.prev_etag.as_ref()
                    && coll.bodies.get(h).is_some_and(|b| b.contains(s.as_str()))
            }
        };
        if ok {
            ch.seen = Some((cycle, at));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the run

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Initial,
    Changes,
    Drain,
    Idle,
}

impl Phase {
    fn name(self) -> &'static str {
        match self {
            Phase::Initial => "initial",
            Phase::Changes => "changes",
            Phase::Drain => "drain",
            Phase::Idle => "idle",
        }
    }
}

#[derive(Debug, Clone)]
struct CycleRow {
    cycle: usize,
    phase: Phase,
    t: f64,
    changes_before: usize,
    traffic: Traffic,
    crm: Metrics,
    meetings: CollPoll,
    contacts: CollPoll,
    seen: usize,
    duration: f64,
}

fn expected_refresh_period(interval: f64, ttl: f64) -> f64 {
    // The gateway refreshes on the first poll at least `ttl` after the last refresh *ended*;
    // polls come every `interval`, so when the interval divides the TTL the poll at exactly
    // `ttl` is a few milliseconds early and the refresh waits one more interval.
    let k = (ttl / interval).floor() + 1.0;
    k * interval
}

fn main() {
    started();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("crm_budget: {e}");
            std::process::exit(64);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("crm_budget: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Res<()> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = ensure_crmdav(&args, &repo)?;
    if !args.sizes.is_empty() {
        return scale::run(
            &bin,
            &args.sizes,
            args.ttl,
            args.amagi_max,
            args.page_cost_ms.map(Duration::from_millis),
            args.md.as_deref(),
        )
        .await;
    }
    log!(
        "starting amagi-crm (installs {} on first use)",
        amagi::PACKAGE
    );
    let amagi = Amagi::start().await;
    log!("amagi-crm on {}", amagi.base);
    let mut seeds = seed(&amagi, &args).await?;
    log!(
        "seeded {} contacts, {} appointments, 3 tasks",
        args.contacts,
        args.appointments
    );
    let gw = Gateway::start_on(&bin, &amagi.api, &amagi.token, args.ttl).await?;
    log!(
        "crmdav {} on {} (pid {}), TTL {} s, state in {}",
        bin.display(),
        gw.base,
        gw.pid(),
        args.ttl,
        gw.dir.path().display()
    );
    let res = measure(&args, &amagi, &mut seeds, &gw).await;
    if res.is_err() {
        let log = gw.log();
        let tail: Vec<&str> = log.lines().rev().take(30).collect();
        eprintln!(
            "crmdav log (last lines):\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    drop(gw);
    drop(amagi);
    log!("amagi-crm and crmdav stopped");
    res
}

async fn measure(args: &Args, amagi: &Amagi, seeds: &mut Seeds, gw: &Gateway) -> Res<()> {
    let ttl = Duration::from_secs(args.ttl);
    let interval = args.interval;
    let ivl = interval.as_secs_f64();
    let mut phone = Phone {
        base: gw.base.clone(),
        http: client()?,
        traffic: Traffic::default(),
    };
    let mut meetings = PhoneColl::new("meetings", MEETINGS, Kind::Calendar);
    let mut contacts = PhoneColl::new("contacts", CONTACTS, Kind::AddressBook);
    let mut changes: Vec<Change> = Vec::new();
    let mut rows: Vec<CycleRow> = Vec::new();
    let m_start = gw.metrics().await?;
    if m_start.calls != 0 {
        return Err(format!(
            "{} CRM calls before the phone asked anything",
            m_start.calls
        ));
    }
    // Drain: enough polls for one full refresh period after the last change, plus one.
    let drain_max = (expected_refresh_period(ivl, args.ttl as f64) / ivl).ceil() as usize + 2;
    let max_cycles = 1 + args.cycles + drain_max + args.idle_cycles;
    let t0 = Instant::now();
    let mut phase = Phase::Initial;
    let mut idle_done = 0usize;
    let mut changes_before = 0usize;
    for cycle in 0..max_cycles {
        let due = t0 + interval * cycle as u32;
        let now = Instant::now();
        if due > now {
            tokio::time::sleep(due - now).await;
        } else if cycle > 0 {
            log!(
                "cycle {cycle}: {:.2} s late",
                now.duration_since(due).as_secs_f64()
            );
        }
        let start = Instant::now();
        let tr0 = phone.traffic;
        let m0 = gw.metrics().await?;
        let mp = poll_coll(&mut phone, gw, &mut meetings, ttl).await?;
        mark_seen(&mut changes, &meetings, cycle, mp.sync_at);
        let cp = poll_coll(&mut phone, gw, &mut contacts, ttl).await?;
        mark_seen(&mut changes, &contacts, cycle, cp.sync_at);
        let m1 = gw.metrics().await?;
        let seen = changes
            .iter()
            .filter(|c| c.seen.is_some_and(|(cy, _)| cy == cycle))
            .count();
        let row = CycleRow {
            cycle,
            phase,
            t: start.duration_since(t0).as_secs_f64(),
            changes_before,
            traffic: phone.traffic.since(tr0),
            crm: m1.since(m0),
            meetings: mp,
            contacts: cp,
            seen,
            duration: start.elapsed().as_secs_f64(),
        };
        log!(
            "cycle {cycle:>2} {:<7} {} DAV req, {} CRM call(s), {} refresh(es), synced {}+{}, {} change(s) seen{}",
            phase.name(),
            row.traffic.requests,
            row.crm.calls,
            row.crm.refreshes,
            row.meetings.synced,
            row.contacts.synced,
            seen,
            {
                let v: Vec<String> = row
                    .meetings
                    .violations
                    .iter()
                    .chain(&row.contacts.violations)
                    .cloned()
                    .collect();
                if v.is_empty() {
                    String::new()
                } else {
                    format!(" — {}", v.join("; "))
                }
            }
        );
        rows.push(row);
        changes_before = 0;

        // What comes next.
        let unseen = changes.iter().any(|c| c.seen.is_none());
        phase = match phase {
            Phase::Initial | Phase::Changes if cycle < args.cycles => Phase::Changes,
            Phase::Initial | Phase::Changes | Phase::Drain if unseen => Phase::Drain,
            Phase::Initial | Phase::Changes | Phase::Drain => Phase::Idle,
            Phase::Idle => Phase::Idle,
        };
        if phase == Phase::Drain
            && rows.iter().filter(|r| r.phase == Phase::Drain).count() >= drain_max
        {
            log!("changes not seen after {drain_max} drain cycles; going idle");
            phase = Phase::Idle;
        }
        if phase == Phase::Idle {
            if idle_done >= args.idle_cycles {
                break;
            }
            idle_done += 1;
        }
        // Changes between the cycles of the changes phase, half an interval after the poll.
        if phase == Phase::Changes && args.changes_per_cycle > 0 {
            let at = t0 + interval * cycle as u32 + interval / 2;
            let now = Instant::now();
            if at > now {
                tokio::time::sleep(at - now).await;
            }
            for _ in 0..args.changes_per_cycle {
                let n = changes.len();
                let ch = make_change(amagi, seeds, &contacts, &meetings, n, cycle).await?;
                changes.push(ch);
                changes_before += 1;
            }
        }
    }
    for c in &mut rows {
        check_invariants(c, args, seeds);
    }
    report(args, &rows, &changes, &meetings, &contacts, gw).await
}

fn check_invariants(row: &mut CycleRow, args: &Args, seeds: &Seeds) {
    let pages = |label: &str| -> u64 {
        if label == "contacts" {
            seeds.contacts_total.div_ceil(CONTACTS_PAGE).max(1) as u64
        } else {
            1
        }
    };
    for (label, p) in [
        ("meetings", &mut row.meetings),
        ("contacts", &mut row.contacts),
    ] {
        if p.rest_calls > 0 {
            p.violations.push(format!(
                "{label}: {} CRM call(s) from sync-collection/multiget within the TTL",
                p.rest_calls
            ));
        }
        if p.propfind.calls > p.propfind.refreshes * pages(label) {
            p.violations.push(format!(
                "{label}: {} CRM call(s) for {} refresh(es)",
                p.propfind.calls, p.propfind.refreshes
            ));
        }
        match p.within_ttl {
            Some(true) if p.propfind.calls > 0 || p.propfind.refreshes > 0 => {
                p.violations.push(format!(
                    "{label}: refreshed within the TTL ({} s)",
                    args.ttl
                ));
            }
            Some(false) if p.propfind.refreshes == 0 => {
                p.violations
                    .push(format!("{label}: no refresh although the TTL had passed"));
            }
            _ => {}
        }
    }
}

fn stats(v: &mut [f64]) -> Option<(f64, f64, f64)> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let med = if v.len() % 2 == 1 {
        v[v.len() / 2]
    } else {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    Some((v[0], med, v[v.len() - 1]))
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let load = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(String::from))
        .unwrap_or_else(|| "?".into());
    format!("{cpus} CPUs ({model}), load average {load}")
}

fn poll_cell(p: &CollPoll) -> String {
    let mut s = match p.propfind.refreshes {
        0 => "–".to_string(),
        n => format!("R{}", if n > 1 { n.to_string() } else { String::new() }),
    };
    if p.synced > 0 {
        let _ = write!(s, " {}Δ", p.synced);
    }
    s
}

async fn report(
    args: &Args,
    rows: &[CycleRow],
    changes: &[Change],
    meetings: &PhoneColl,
    contacts: &PhoneColl,
    gw: &Gateway,
) -> Res<()> {
    let ivl = args.interval.as_secs_f64();
    let ttl = args.ttl as f64;
    let period = expected_refresh_period(ivl, ttl);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "### CRM-call budget: poll every {ivl} s, TTL {} s, {} change(s) per cycle\n",
        args.ttl, args.changes_per_cycle
    );
    let _ = writeln!(
        md,
        "Machine: {}. Data: {} contacts, {} appointments, 3 tasks (not polled). \
         The phone polls the meetings calendar and the address book.\n",
        machine(),
        args.contacts,
        args.appointments
    );
    let _ = writeln!(
        md,
        "| cycle | phase | t (s) | CRM changes before | DAV req | bytes up | bytes down | CRM calls | refreshes | refresh ms | meetings | contacts | changes seen | invariant |"
    );
    let _ = writeln!(
        md,
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|---|"
    );
    let mut violations = 0usize;
    for r in rows {
        let v: Vec<String> = r
            .meetings
            .violations
            .iter()
            .chain(&r.contacts.violations)
            .cloned()
            .collect();
        violations += v.len();
        let _ = writeln!(
            md,
            "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} | {} | {} |",
            r.cycle,
            r.phase.name(),
            r.t,
            r.changes_before,
            r.traffic.requests,
            r.traffic.up,
            r.traffic.down,
            r.crm.calls,
            r.crm.refreshes,
            r.crm.refresh_sum * 1000.0,
            poll_cell(&r.meetings),
            poll_cell(&r.contacts),
            r.seen,
            if v.is_empty() {
                "ok".to_string()
            } else {
                v.join("; ")
            }
        );
    }
    let _ = writeln!(
        md,
        "\nR = the gateway refreshed that collection during the poll's PROPFIND; nΔ = hrefs \
         reported by sync-collection; – = served within the TTL (no sync-collection needed).\n"
    );

    // Per phase.
    let _ = writeln!(
        md,
        "| phase | cycles | DAV req | bytes up | bytes down | CRM calls | refreshes | CRM calls / refresh | polls within the TTL | CRM calls within the TTL | CRM calls / cycle |"
    );
    let _ = writeln!(
        md,
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let mut phases_json = Vec::new();
    for ph in [Phase::Initial, Phase::Changes, Phase::Drain, Phase::Idle] {
        let rs: Vec<&CycleRow> = rows.iter().filter(|r| r.phase == ph).collect();
        if rs.is_empty() {
            continue;
        }
        let sum = |f: &dyn Fn(&CycleRow) -> u64| rs.iter().map(|r| f(r)).sum::<u64>();
        let req = sum(&|r| r.traffic.requests);
        let up = sum(&|r| r.traffic.up);
        let down = sum(&|r| r.traffic.down);
        let calls = sum(&|r| r.crm.calls);
        let refreshes = sum(&|r| r.crm.refreshes);
        let polls_fresh = sum(&|r| {
            [&r.meetings, &r.contacts]
                .iter()
                .filter(|p| p.propfind.refreshes == 0)
                .count() as u64
        });
        let calls_fresh = sum(&|r| {
            [&r.meetings, &r.contacts]
                .iter()
                .map(|p| {
                    p.rest_calls
                        + if p.propfind.refreshes == 0 {
                            p.propfind.calls
                        } else {
                            0
                        }
                })
                .sum()
        });
        let per_refresh = if refreshes > 0 {
            format!("{:.2}", calls as f64 / refreshes as f64)
        } else {
            "–".into()
        };
        let _ = writeln!(
            md,
            "| {} | {} | {req} | {up} | {down} | {calls} | {refreshes} | {per_refresh} | {polls_fresh} | {calls_fresh} | {:.2} |",
            ph.name(),
            rs.len(),
            calls as f64 / rs.len() as f64
        );
        phases_json.push(json!({
            "phase": ph.name(), "cycles": rs.len(), "dav_requests": req, "bytes_up": up,
            "bytes_down": down, "crm_calls": calls, "refreshes": refreshes,
            "polls_within_ttl": polls_fresh, "crm_calls_within_ttl": calls_fresh,
        }));
    }

    // Changes.
    let _ = writeln!(
        md,
        "\n| # | change | CRM id | made after cycle | seen in cycle | polls | latency (s) |"
    );
    let _ = writeln!(md, "|---:|---|---:|---:|---:|---:|---:|");
    let mut lats = Vec::new();
    let mut changes_json = Vec::new();
    for c in changes {
        let (seen_cycle, polls, lat) = match c.seen {
            Some((cy, at)) => {
                let l = at.duration_since(c.at).as_secs_f64();
                lats.push(l);
                (
                    cy.to_string(),
                    (cy - c.after_cycle).to_string(),
                    format!("{l:.1}"),
                )
            }
            None => ("never".into(), "–".into(), "–".into()),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} {} | {} | {seen_cycle} | {polls} | {lat} |",
            c.n + 1,
            c.kind.name(),
            c.entity,
            c.crm_id,
            c.after_cycle
        );
        changes_json.push(json!({
            "n": c.n + 1, "kind": c.kind.name(), "entity": c.entity, "crm_id": c.crm_id,
            "after_cycle": c.after_cycle,
            "seen_cycle": c.seen.map(|(cy, _)| cy),
            "latency_s": c.seen.map(|(_, at)| at.duration_since(c.at).as_secs_f64()),
        }));
    }
    let unseen = changes.iter().filter(|c| c.seen.is_none()).count();
    let lat_stats = stats(&mut lats);
    let bound = ttl + ivl;
    let _ = writeln!(md);
    if let Some((min, med, max)) = lat_stats {
        let _ = writeln!(
            md,
            "Change → phone latency: min {min:.1} s, median {med:.1} s, max {max:.1} s over {} change(s){}. \
             Expected: ≤ TTL + interval = {bound:.0} s (the gateway refreshes on the first poll at least \
             TTL after the last refresh ended; with polls every {ivl} s and TTL {} s that is every \
             {period:.0} s); changes made half an interval after a poll land between {:.1} s and {:.1} s.",
            lats.len(),
            if unseen > 0 {
                format!(", {unseen} never seen")
            } else {
                String::new()
            },
            args.ttl,
            ivl / 2.0,
            period - ivl / 2.0
        );
    }
    // Observed refresh periods.
    let mut periods = Vec::new();
    for c in [meetings, contacts] {
        for w in c.refresh_times.windows(2) {
            periods.push(w[1].duration_since(w[0]).as_secs_f64());
        }
    }
    let period_stats = stats(&mut periods);
    if let Some((min, med, max)) = period_stats {
        let _ = writeln!(
            md,
            "\nObserved time between two refreshes of a collection: min {min:.1} s, median {med:.1} s, \
             max {max:.1} s (expected {period:.0} s{}).",
            if (ttl / ivl).fract() == 0.0 {
                format!(
                    "; {ttl:.0} s when a poll happens to land just after the expiry: the poll at \
                     exactly the TTL races it"
                )
            } else {
                String::new()
            }
        );
    }
    let idle: Vec<&CycleRow> = rows.iter().filter(|r| r.phase == Phase::Idle).collect();
    let idle_calls: u64 = idle.iter().map(|r| r.crm.calls).sum();
    let idle_refreshes: u64 = idle.iter().map(|r| r.crm.refreshes).sum();
    let invariant_ok = violations == 0;
    let _ = writeln!(
        md,
        "\nInvariant \"≤ 1 CRM call per refresh, 0 within the TTL\": {} (idle phase: {idle_calls} CRM \
         call(s) for {idle_refreshes} refresh(es) over {} cycle(s); {violations} violation(s) in all cycles).",
        if invariant_ok { "**holds**" } else { "**VIOLATED**" },
        idle.len()
    );
    let m = gw.metrics().await?;
    let _ = writeln!(
        md,
        "Totals from /metrics: {} CRM calls, {} refreshes, {} refresh failures, {:.1} ms per refresh on average.",
        m.calls,
        m.refreshes,
        m.failures,
        if m.refreshes > 0 {
            m.refresh_sum * 1000.0 / m.refreshes as f64
        } else {
            0.0
        }
    );

    let cycles_json: Vec<Value> = rows
        .iter()
        .map(|r| {
            let coll = |p: &CollPoll| {
                json!({
                    "refreshes": p.propfind.refreshes, "crm_calls": p.propfind.calls + p.rest_calls,
                    "synced": p.synced, "fetched": p.fetched, "deleted": p.deleted,
                    "within_ttl": p.within_ttl, "violations": p.violations,
                })
            };
            json!({
                "cycle": r.cycle, "phase": r.phase.name(), "t_s": r.t,
                "crm_changes_before": r.changes_before, "dav_requests": r.traffic.requests,
                "bytes_up": r.traffic.up, "bytes_down": r.traffic.down,
                "crm_calls": r.crm.calls, "refreshes": r.crm.refreshes,
                "refresh_ms": r.crm.refresh_sum * 1000.0, "poll_s": r.duration,
                "meetings": coll(&r.meetings), "contacts": coll(&r.contacts),
                "changes_seen": r.seen,
            })
        })
        .collect();
    let doc = json!({
        "bench": "crm_budget",
        "machine": machine(),
        "params": {
            "cycles": args.cycles, "interval_s": ivl, "ttl_s": args.ttl,
            "changes_per_cycle": args.changes_per_cycle, "idle_cycles": args.idle_cycles,
            "contacts": args.contacts, "appointments": args.appointments,
            "multiget_batch": MULTIGET_BATCH,
        },
        "expected": {
            "refresh_period_s": period, "latency_bound_s": bound,
        },
        "cycles": cycles_json,
        "phases": phases_json,
        "changes": changes_json,
        "latency_s": lat_stats.map(|(a, b, c)| json!({"min": a, "median": b, "max": c})),
        "refresh_period_s": period_stats.map(|(a, b, c)| json!({"min": a, "median": b, "max": c})),
        "invariant_holds": invariant_ok,
        "violations": violations,
        "unseen_changes": unseen,
        "metrics_total": {"crm_calls": m.calls, "refreshes": m.refreshes, "failures": m.failures,
                          "refresh_seconds_sum": m.refresh_sum},
    });
    let json_text = serde_json::to_string_pretty(&doc).map_err(|e| e.to_string())?;
    println!("{md}");
    println!("```json\n{json_text}\n```");
    if let Some(p) = &args.json {
        std::fs::write(p, &json_text).map_err(|e| format!("{}: {e}", p.display()))?;
        log!("JSON written to {}", p.display());
    }
    if let Some(p) = &args.md {
        std::fs::write(p, &md).map_err(|e| format!("{}: {e}", p.display()))?;
        log!("Markdown written to {}", p.display());
    }
    if unseen > 0 {
        return Err(format!("{unseen} CRM change(s) never reached the phone"));
    }
    Ok(())
}
