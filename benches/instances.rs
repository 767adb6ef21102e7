//! Instances benchmark (issue 11): requests per second of the release `crmdav` for four
//! operations at a fixed concurrency, on one instance over SQLite, one over PostgreSQL, and two
//! over one PostgreSQL database behind a round-robin TCP front (tests/support/front.rs, the one
//! the integration tests use); plus one PostgreSQL instance behind the same front, which shows
//! what the front itself costs. Same run, same data, ratios to the SQLite row.
//!
//! ```text
//! cargo bench --bench instances -- [--duration 5] [--concurrency 8] [--items 200]
//!     [--md out.md] [--no-build]
//! ```
//!
//! Operations, each for `--duration` seconds with `--concurrency` workers on one keep-alive
//! client pool: GET of one event (a random one of `--items`), PROPFIND Depth 1 on the calendar
//! (ETag and content type of every item), calendar-multiget of 10 random events, and PUT of a
//! new event (a fresh UID each time). PostgreSQL is a throwaway cluster
//! (tests/support/postgres.rs: `initdb` in a temporary folder, a free loopback port; as root it
//! runs as `postgres` through `setpriv`). Everything runs on 127.0.0.1 and stops when the bench
//! ends; the load generator shares the machine with the servers.

#[path = "common/build.rs"]
mod build;
#[path = "../tests/support/front.rs"]
mod front;
#[path = "common/gen.rs"]
mod gen;
#[path = "../tests/support/postgres.rs"]
mod postgres;

use reqwest::{Client, Method};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type Res<T> = Result<T, String>;

const USER: &str = "bench";
const PASS: &str = "bench-Secret-1";
const CAL: &str = "/dav/calendars/bench/cal/";
/// Events per calendar-multiget.
const MULTIGET: usize = 10;

struct Args {
    duration: Duration,
    concurrency: usize,
    items: usize,
    md: Option<PathBuf>,
    build: bool,
}

fn parse_args() -> Res<Args> {
    let mut a = Args {
        duration: Duration::from_secs(5),
        concurrency: 8,
        items: 200,
        md: None,
        build: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{k} needs a value"));
        match k.as_str() {
            "--duration" => {
                let s: f64 = val()?.parse().map_err(|e| format!("--duration: {e}"))?;
                a.duration = Duration::from_secs_f64(s.clamp(0.5, 600.0));
            }
            "--concurrency" => {
                a.concurrency = val()?
                    .parse::<usize>()
                    .map_err(|e| format!("--concurrency: {e}"))?
                    .clamp(1, 256)
            }
            "--items" => {
                a.items = val()?
                    .parse::<usize>()
                    .map_err(|e| format!("--items: {e}"))?
                    .clamp(MULTIGET, 100_000)
            }
            "--md" => a.md = Some(PathBuf::from(val()?)),
            "--no-build" => a.build = false,
            // cargo bench passes --bench to every harness = false target.
            "--bench" => {}
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

fn free_port() -> Res<u16> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

/// One `crmdav serve` child, killed on drop.
struct Gateway {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn hash_password(bin: &Path) -> Res<String> {
    let mut c = Command::new(bin)
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("crmdav hash-password: {e}"))?;
    c.stdin
        .take()
        .ok_or("no stdin")?
        .write_all(PASS.as_bytes())
        .map_err(|e| e.to_string())?;
    let out = c.wait_with_output().map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A config folder for one instance on `state`.
fn write_config(dir: &Path, port: u16, state: &str, hash: &str) -> Res<()> {
    std::fs::create_dir_all(dir.join("tenants")).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("crmdav.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\nstate = \"{state}\"\ntenants_dir = \"tenants\"\ndefault_tenant = \"b\"\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("tenants/b.toml"),
        format!(
            "name = \"b\"\nconnector = \"local\"\n[[users]]\nname = \"{USER}\"\npassword_hash = \"{hash}\"\n[[collections]]\nid = \"cal\"\nkind = \"calendar\"\ndisplay_name = \"Bench\"\ncomponents = [\"VEVENT\"]\nusers = [\"{USER}\"]\n"
        ),
    )
    .map_err(|e| e.to_string())
}

async fn start(bin: &Path, dir: &Path, state: &str, hash: &str, client: &Client) -> Res<Gateway> {
    let port = free_port()?;
    write_config(dir, port, state, hash)?;
    let log = dir.join("crmdav.log");
    let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let child = Command::new(bin)
        .args(["serve", "--config"])
        .arg(dir.join("crmdav.toml"))
        .current_dir(dir)
        .env("CRMDAV_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(out)
        .spawn()
        .map_err(|e| format!("crmdav serve: {e}"))?;
    let g = Gateway { child, port, log };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            return Ok(g);
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(&g.log).unwrap_or_default();
            return Err(format!("crmdav did not come up on {port}:\n{log}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Get,
    Propfind,
    Multiget,
    Put,
}

const OPS: [Op; 4] = [Op::Get, Op::Propfind, Op::Multiget, Op::Put];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::Get => "GET event",
            Op::Propfind => "PROPFIND D1",
            Op::Multiget => "multiget 10",
            Op::Put => "PUT new",
        }
    }
}

const PROPFIND: &str = r#"<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><d:getcontenttype/></d:prop></d:propfind>"#;

fn multiget(names: &[&str]) -> String {
    let hrefs: String = names
        .iter()
        .map(|n| format!("<d:href>{CAL}{n}</d:href>"))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>{hrefs}</c:calendar-multiget>"#
    )
}

/// What every worker shares: the base URL, the seeded item names, a counter for new UIDs.
struct Ctx {
    base: String,
    names: Vec<String>,
    fresh: AtomicUsize,
}

/// A cheap deterministic pseudo-random index (xorshift of the worker and iteration).
fn pick(worker: usize, iter: usize, n: usize) -> usize {
    let mut x = (worker as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ iter as u64;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    (x % n as u64) as usize
}

async fn once(op: Op, ctx: &Ctx, client: &Client, worker: usize, iter: usize) -> Res<()> {
    let (method, url, body, ok, ctype) = match op {
        Op::Get => {
            let n = &ctx.names[pick(worker, iter, ctx.names.len())];
            ("GET", format!("{}{CAL}{n}", ctx.base), None, 200, "")
        }
        Op::Propfind => (
            "PROPFIND",
            format!("{}{CAL}", ctx.base),
            Some(PROPFIND.to_string()),
            207,
            "application/xml",
        ),
        Op::Multiget => {
            let names: Vec<&str> = (0..MULTIGET)
                .map(|k| ctx.names[pick(worker, iter * MULTIGET + k, ctx.names.len())].as_str())
                .collect();
            (
                "REPORT",
                format!("{}{CAL}", ctx.base),
                Some(multiget(&names)),
                207,
                "application/xml",
            )
        }
        Op::Put => {
            let i = ctx.fresh.fetch_add(1, Ordering::Relaxed);
            let item = gen::event(i);
            (
                "PUT",
                format!("{}{CAL}{}", ctx.base, item.name),
                Some(item.body),
                201,
                "text/calendar; charset=utf-8",
            )
        }
    };
    let m = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let mut rb = client.request(m, url).basic_auth(USER, Some(PASS));
    if op == Op::Propfind {
        rb = rb.header("Depth", "1");
    }
    if op == Op::Put {
        rb = rb.header("If-None-Match", "*");
    }
    if let Some(b) = body {
        rb = rb.header("Content-Type", ctype).body(b);
    }
    let r = rb.send().await.map_err(|e| e.to_string())?;
    let st = r.status().as_u16();
    // Read the whole answer: a server is done when its last byte is.
    let _ = r.bytes().await.map_err(|e| e.to_string())?;
    if st != ok {
        return Err(format!("{} answered {st}", op.name()));
    }
    Ok(())
}

/// Requests per second of `op` over `duration` with `conc` workers; errors fail the cell.
async fn measure(
    op: Op,
    ctx: Arc<Ctx>,
    client: &Client,
    conc: usize,
    duration: Duration,
) -> Res<f64> {
    let started = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..conc {
        let (ctx, client) = (ctx.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = 0usize;
            let mut err = None;
            while started.elapsed() < duration {
                match once(op, &ctx, &client, w, done).await {
                    Ok(()) => done += 1,
                    Err(e) => {
                        err = Some(e);
                        break;
                    }
                }
            }
            (done, err)
        }));
    }
    let mut total = 0;
    for t in tasks {
        let (n, err) = t.await.map_err(|e| e.to_string())?;
        if let Some(e) = err {
            return Err(e);
        }
        total += n;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

/// PUT the seed events through `base`, `conc` at a time.
async fn seed(base: &str, client: &Client, items: usize, conc: usize) -> Res<Vec<String>> {
    let ctx = Arc::new(Ctx {
        base: base.to_string(),
        names: Vec::new(),
        fresh: AtomicUsize::new(0),
    });
    let mut tasks = Vec::new();
    for w in 0..conc {
        let (ctx, client) = (ctx.clone(), client.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                if ctx.fresh.load(Ordering::Relaxed) >= items {
                    return Res::Ok(());
                }
                once(Op::Put, &ctx, &client, w, 0).await?;
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| e.to_string())??;
    }
    let n = ctx.fresh.load(Ordering::Relaxed);
    Ok((0..n).map(|i| gen::event(i).name).collect())
}

/// One row: a setup and its four numbers.
struct Row {
    name: String,
    rps: Vec<f64>,
}

async fn run_row(name: &str, base: &str, args: &Args, client: &Client) -> Res<Row> {
    eprintln!("[{name}] seeding {} events through {base}", args.items);
    let names = seed(base, client, args.items, args.concurrency).await?;
    let ctx = Arc::new(Ctx {
        base: base.to_string(),
        names,
        // New UIDs after the seeded ones.
        fresh: AtomicUsize::new(args.items + 1_000_000),
    });
    let mut rps = Vec::new();
    for op in OPS {
        let r = measure(op, ctx.clone(), client, args.concurrency, args.duration).await?;
        eprintln!("[{name}] {}: {r:.0} req/s", op.name());
        rps.push(r);
    }
    Ok(Row {
        name: name.to_string(),
        rps,
    })
}

fn table(rows: &[Row], args: &Args) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "c={}, {} s per cell, {} events in the calendar, release build; req/s (ratio to SQLite)\n",
        args.concurrency,
        args.duration.as_secs_f64(),
        args.items
    );
    let _ = write!(s, "| setup |");
    for op in OPS {
        let _ = write!(s, " {} |", op.name());
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "|---|{}", "---:|".repeat(OPS.len()));
    let base = rows.first().map(|r| r.rps.clone()).unwrap_or_default();
    for r in rows {
        let _ = write!(s, "| {} |", r.name);
        for (i, v) in r.rps.iter().enumerate() {
            let ratio = base.get(i).filter(|b| **b > 0.0).map_or(0.0, |b| v / b);
            let _ = write!(s, " {v:.0} ({ratio:.2}) |");
        }
        let _ = writeln!(s);
    }
    s
}

async fn run(args: Args) -> Res<()> {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if args.build {
        eprintln!("building crmdav ({} profile)", build::PROFILE);
        build::build_release_crmdav(&repo)?;
    }
    let bin = build::crmdav_bin()?;
    if !bin.exists() {
        return Err(format!("no crmdav binary at {}", bin.display()));
    }
    let pg_bin = postgres::pg_bin().ok_or(
        "no PostgreSQL server binaries (PG_BIN or /usr/lib/postgresql/*/bin): install postgresql",
    )?;
    let tmp = tempfile::Builder::new()
        .prefix("crmdav-instances-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let client = Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .timeout(Duration::from_secs(60))
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let hash = hash_password(&bin)?;
    let pg = postgres::PgCluster::start(pg_bin);
    let mut rows = Vec::new();

    // 1 instance, SQLite.
    {
        let dir = tmp.path().join("sqlite");
        let state = format!("sqlite://{}", dir.join("state.db").display());
        let g = start(&bin, &dir, &state, &hash, &client).await?;
        let base = format!("http://127.0.0.1:{}", g.port);
        rows.push(run_row("1 instance, SQLite", &base, &args, &client).await?);
    }
    // 1 instance, PostgreSQL; then the same behind the front (what the front costs).
    {
        let url = pg.create_db("bench_one");
        let dir = tmp.path().join("pg1");
        let g = start(&bin, &dir, &url, &hash, &client).await?;
        let base = format!("http://127.0.0.1:{}", g.port);
        rows.push(run_row("1 instance, PostgreSQL", &base, &args, &client).await?);
    }
    {
        let url = pg.create_db("bench_front");
        let dir = tmp.path().join("pg1f");
        let g = start(&bin, &dir, &url, &hash, &client).await?;
        let f = front::Front::start(vec![g.port]);
        rows.push(run_row("1 instance, PostgreSQL, via front", &f.base, &args, &client).await?);
    }
    // 2 instances on one PostgreSQL database behind the round-robin front.
    {
        let url = pg.create_db("bench_two");
        let a = start(&bin, &tmp.path().join("pg2a"), &url, &hash, &client).await?;
        let b = start(&bin, &tmp.path().join("pg2b"), &url, &hash, &client).await?;
        let f = front::Front::start(vec![a.port, b.port]);
        rows.push(
            run_row(
                "2 instances, PostgreSQL, via front",
                &f.base,
                &args,
                &client,
            )
            .await?,
        );
    }
    drop(pg);
    let t = table(&rows, &args);
    println!("{t}");
    if let Some(p) = &args.md {
        std::fs::write(p, &t).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(())
}

fn main() {
    // reqwest is built with rustls and no default crypto provider: install ring's.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("instances: {e}");
            std::process::exit(64);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("instances: {e}");
        std::process::exit(1);
    }
}
