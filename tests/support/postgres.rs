//! A throwaway PostgreSQL cluster for tests: `initdb` in a temp folder, `postgres` on a free
//! loopback port with its unix socket inside that folder, a database per caller, stopped and
//! removed on drop. Standard library only, so the store's unit tests include it too
//! (`#[path]`) and the integration binaries use it through `support`.
//!
//! The server binaries come from `PG_BIN` or the newest `/usr/lib/postgresql/*/bin` (Debian's
//! layout). Without them [`PgCluster::start_or_skip`] fails under `CI` (the CI installs them)
//! and otherwise prints why and returns `None`, so the test passes as skipped.
//!
//! PostgreSQL refuses to run as root: as root, `initdb` and `postgres` run as the `postgres`
//! user (or `nobody`) through `setpriv`, and the folder is handed to that user. TCP logins
//! need a password (scram-sha-256, so a URL's password is really checked); the socket trusts.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The superuser's password for TCP logins.
pub const PG_PASSWORD: &str = "crmdav-test-pw";

/// A running throwaway cluster.
pub struct PgCluster {
    dir: PathBuf,
    bin: PathBuf,
    /// The loopback TCP port.
    pub port: u16,
    child: Option<Child>,
}

/// The folder holding `initdb`, `postgres`, `createdb`, `pg_isready`: `PG_BIN`, or the newest
/// `/usr/lib/postgresql/<version>/bin`.
pub fn pg_bin() -> Option<PathBuf> {
    if let Some(b) = std::env::var_os("PG_BIN") {
        let b = PathBuf::from(b);
        return b.join("initdb").exists().then_some(b);
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b)
}

/// The uid and gid to run the server as when this process is root: `postgres`, else `nobody`.
fn unprivileged_ids() -> Option<(u32, u32)> {
    // SAFETY: geteuid(2) has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let id = |flag: &str| -> Option<u32> {
        let out = Command::new("id").args([flag, "postgres"]).output().ok()?;
        if !out.status.success() {
            return None;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().ok()
    };
    Some(match (id("-u"), id("-g")) {
        (Some(u), Some(g)) => (u, g),
        _ => (65534, 65534),
    })
}

/// A command for a server binary, run as the unprivileged user when this process is root.
fn server_command(bin: &Path, name: &str) -> Command {
    match unprivileged_ids() {
        Some((u, g)) => {
            let mut c = Command::new("setpriv");
            c.args([
                "--reuid",
                &u.to_string(),
                "--regid",
                &g.to_string(),
                "--clear-groups",
                // Tied to the spawning thread, which outlives the cluster (see Drop): the
                // server ends (fast shutdown) if the test process dies without dropping it.
                "--pdeathsig",
                "INT",
                "--",
            ])
            .arg(bin.join(name));
            c
        }
        None => {
            use std::os::unix::process::CommandExt;
            let mut c = Command::new(bin.join(name));
            // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
            unsafe {
                c.pre_exec(|| {
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGINT);
                    Ok(())
                });
            }
            c
        }
    }
}

fn chown_to_server_user(p: &Path) {
    if let Some((u, g)) = unprivileged_ids() {
        std::os::unix::fs::chown(p, Some(u), Some(g))
            .unwrap_or_else(|e| panic!("chown {}: {e}", p.display()));
    }
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

impl PgCluster {
    /// Start a cluster, or `None` (after saying why) when no PostgreSQL binaries are installed
    /// and `CI` is not set; under `CI` their absence fails the test.
    pub fn start_or_skip(test: &str) -> Option<PgCluster> {
        match pg_bin() {
            Some(bin) => Some(PgCluster::start(bin)),
            None if std::env::var_os("CI").is_some() => panic!(
                "{test}: no PostgreSQL server binaries (no initdb in PG_BIN or in \
                 /usr/lib/postgresql/*/bin); CI must install the postgresql package"
            ),
            None => {
                eprintln!(
                    "SKIPPED {test}: no PostgreSQL server binaries (set PG_BIN or install \
                     postgresql to run it)"
                );
                None
            }
        }
    }

    /// initdb and start a cluster with the binaries in `bin`.
    pub fn start(bin: PathBuf) -> PgCluster {
        let dir = tempfile::Builder::new()
            .prefix("crmdav-pg-")
            .tempdir()
            .expect("temp dir")
            .keep();
        chown_to_server_user(&dir);
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PG_PASSWORD).expect("password file");
        chown_to_server_user(&pwfile);
        let sock = dir.join("sock");
        std::fs::create_dir(&sock).expect("socket folder");
        chown_to_server_user(&sock);
        let out = server_command(&bin, "initdb")
            .arg("-D")
            .arg(dir.join("data"))
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--no-sync",
                "--locale=C",
                "--encoding=UTF8",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut last = String::new();
        // A port picked free may be taken before the server binds it: try a few.
        for _ in 0..3 {
            let mut c = PgCluster {
                dir: dir.clone(),
                bin: bin.clone(),
                port: free_port(),
                child: None,
            };
            match c.spawn() {
                Ok(()) => return c,
                Err(log) => {
                    last = log;
                    c.dir = PathBuf::new(); // keep the folder for the next try
                }
            }
        }
        panic!("postgres did not start:\n{last}");
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log_path = self.dir.join("postgres.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("postgres.log");
        let child = server_command(&self.bin, "postgres")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-k")
            .arg(self.dir.join("sock"))
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=300",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn postgres");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                self.child = None;
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                return Err(format!("postgres exited ({st}):\n{log}"));
            }
            let ready = Command::new(self.bin.join("pg_isready"))
                .arg("-q")
                .arg("-h")
                .arg(self.dir.join("sock"))
                .arg("-p")
                .arg(self.port.to_string())
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(std::fs::read_to_string(&log_path).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Create a fresh database (named after `prefix`, unique in this cluster) and return its
    /// URL with the password.
    pub fn create_db(&self, prefix: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name: String = format!("{prefix}_{}", N.fetch_add(1, Ordering::SeqCst))
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        let out = Command::new(self.bin.join("createdb"))
            .arg("-h")
            .arg(self.dir.join("sock"))
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", "postgres", &name])
            .output()
            .expect("run createdb");
        assert!(
            out.status.success(),
            "createdb {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        self.url(&name, PG_PASSWORD)
    }

    /// The URL of database `db` over TCP with `password`.
    pub fn url(&self, db: &str, password: &str) -> String {
        format!(
            "postgres://postgres:{password}@127.0.0.1:{}/{db}",
            self.port
        )
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postgres.log")).unwrap_or_default()
    }

    /// The folder of the server binaries, which holds `pg_dump` and `pg_restore` too.
    pub fn bin(&self) -> &Path {
        &self.bin
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SIGINT is PostgreSQL's fast shutdown: clients are disconnected, no waiting.
            // SAFETY: kill(2) on the child this value spawned and has not reaped.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGINT);
            }
            let deadline = Instant::now() + Duration::from_secs(20);
            while matches!(child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        if !self.dir.as_os_str().is_empty() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
