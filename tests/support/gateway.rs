//! The one launcher of the real `crmdav` binary: `crmdav serve` on a free loopback port with a
//! given config folder, ready once `/healthz` answers, killed on drop and at process exit.
//!
//! Children are forked by one thread that lives as long as the test process, so their
//! `PR_SET_PDEATHSIG` fires only when the process dies (it is tied to the forking thread, and
//! libtest ends a thread per test). A state folder is removed at the end unless a test failed
//! (or `CRMDAV_ITEST_KEEP` is set): then its path is printed and `server.log` stays there.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

/// The `crmdav` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_crmdav")
}

/// A path in the repository.
pub fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// Hash a password with the binary's own `hash-password`.
pub fn hash_password(pw: &str) -> String {
    let mut child = Command::new(bin())
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run crmdav hash-password");
    child
        .stdin
        .take()
        .expect("stdin of hash-password")
        .write_all(format!("{pw}\n").as_bytes())
        .expect("write the password");
    let out = child.wait_with_output().expect("hash-password output");
    assert!(out.status.success(), "hash-password failed");
    let h = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(h.starts_with("$argon2"), "unexpected hash {h}");
    h
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().expect("local addr").port()
}

// ---- process-wide bookkeeping ----------------------------------------------------------------

/// Set by the panic hook: some test of this process failed, so state folders are kept.
static FAILED: AtomicBool = AtomicBool::new(false);
/// Children still running and folders to remove, for the exit hook.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static AT_EXIT: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn keep_requested() -> bool {
    FAILED.load(Ordering::SeqCst) || std::env::var_os("CRMDAV_ITEST_KEEP").is_some()
}

extern "C" fn at_exit() {
    // The process is ending: nothing may block here for long, so locks are only tried.
    if let Ok(live) = LIVE.try_lock() {
        for &pid in live.iter() {
            // SAFETY: kill(2) on a pid this process spawned and has not reaped.
            unsafe {
                libc::kill(pid as i32, libc::SIGKILL);
            }
        }
    }
    if let Ok(dirs) = AT_EXIT.try_lock() {
        for d in dirs.iter() {
            if keep_requested() {
                eprintln!("crmdav test state kept in {}", d.display());
            } else {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
}

/// The panic hook that records failures and the exit hook, installed once per process.
fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            FAILED.store(true, Ordering::SeqCst);
            previous(info);
        }));
        // SAFETY: registers a plain extern "C" function.
        unsafe {
            libc::atexit(at_exit);
        }
    });
}

type SpawnRequest = (Command, mpsc::Sender<std::io::Result<Child>>);

/// Spawn on the long-lived forking thread (see the module doc).
fn spawn(mut cmd: Command) -> std::io::Result<Child> {
    static FORKER: OnceLock<Mutex<mpsc::Sender<SpawnRequest>>> = OnceLock::new();
    let tx = FORKER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::spawn(move || {
            for (mut cmd, reply) in rx {
                let _ = reply.send(cmd.spawn());
            }
        });
        Mutex::new(tx)
    });
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    let (reply_tx, reply_rx) = mpsc::channel();
    tx.lock()
        .expect("forker lock")
        .send((cmd, reply_tx))
        .expect("forker thread alive");
    reply_rx.recv().expect("forker thread answers")
}

// ---- state folders ---------------------------------------------------------------------------

/// A fresh temp folder for a gateway's config and state. Removed on drop, except when the
/// test is failing (or `CRMDAV_ITEST_KEEP` is set): then it stays, with its `server.log`.
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// A new empty folder named `crmdav-<prefix>-…` in the system temp dir.
    pub fn new(prefix: &str) -> StateDir {
        StateDir {
            path: fresh_dir(prefix),
        }
    }

    /// A folder that lives as long as the process (for a server shared by all its tests):
    /// the exit hook removes it, or keeps it when a test of the process failed.
    pub fn for_process(prefix: &str) -> PathBuf {
        let path = fresh_dir(prefix);
        AT_EXIT.lock().expect("exit list").push(path.clone());
        path
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn fresh_dir(prefix: &str) -> PathBuf {
    init();
    tempfile::Builder::new()
        .prefix(&format!("crmdav-{prefix}-"))
        .tempdir()
        .expect("temp dir")
        .keep()
}

impl Drop for StateDir {
    fn drop(&mut self) {
        if std::thread::panicking() || keep_requested() {
            eprintln!("crmdav test state kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

// ---- the gateway -----------------------------------------------------------------------------

/// A running `crmdav serve` with its config folder (`<dir>/crmdav.toml`, log in
/// `<dir>/server.log`).
pub struct Gateway {
    pub base: String,
    pub port: u16,
    pub dir: PathBuf,
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// Where `/healthz` is asked over plain HTTP (`port` unless the DAV port speaks TLS).
    health_port: Option<u16>,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.stop();
        if std::thread::panicking() {
            eprintln!(
                "crmdav log ({}):\n{}",
                self.dir.join("server.log").display(),
                self.log()
            );
        }
    }
}

impl Gateway {
    /// A gateway for the config in `dir`, to listen on `port` (not started yet).
    pub fn new(dir: &Path, port: u16) -> Gateway {
        init();
        Gateway {
            base: format!("http://127.0.0.1:{port}"),
            port,
            dir: dir.to_path_buf(),
            env: Vec::new(),
            child: None,
            health_port: None,
        }
    }

    /// Ask `/healthz` on this port (the config's `http.ops_listen`) instead of the DAV port,
    /// for a gateway whose DAV port speaks TLS.
    pub fn health_on(mut self, port: u16) -> Gateway {
        self.health_port = Some(port);
        self
    }

    /// An environment variable for the server process (the config may refer to it).
    pub fn env(mut self, key: &str, value: &str) -> Gateway {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Start and wait until it answers.
    pub fn start(mut self) -> Gateway {
        self.spawn();
        self
    }

    /// `crmdav serve` with this gateway's config, port and environment, logging to
    /// `server.log`.
    fn command(&self) -> Command {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("server.log"))
            .expect("server.log");
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .arg("--config")
            .arg(self.dir.join("crmdav.toml"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .env("CRMDAV_LOG", "info,sqlx=warn,actix_server=warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        cmd
    }

    /// (Re)start the process on the same port and state, and wait until `/healthz` answers.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "crmdav is already running");
        let cmd = self.command();
        let child = spawn(cmd).expect("spawn crmdav serve");
        LIVE.lock().expect("live list").push(child.id());
        self.child = Some(child);
        self.wait_ready();
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        // Nothing announces readiness but the answer itself: poll, backing off a little.
        let mut pause = Duration::from_millis(5);
        loop {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!("crmdav exited early ({st}):\n{}", self.log());
            }
            if healthz(self.health_port.unwrap_or(self.port)) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "crmdav did not answer /healthz within 60 s:\n{}",
                self.log()
            );
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(100));
        }
    }

    /// Run `crmdav serve` expecting it to refuse to start: its exit status and log. Fails
    /// when it is still running after 60 s (then it is killed).
    pub fn expect_exit(&mut self) -> (std::process::ExitStatus, String) {
        assert!(self.child.is_none(), "crmdav is already running");
        let cmd = self.command();
        let mut child = spawn(cmd).expect("spawn crmdav serve");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return (st, self.log());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "crmdav kept running (expected it to refuse):\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kill the process (the state stays, for a restart with [`Gateway::spawn`]).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
            LIVE.lock().expect("live list").retain(|&p| p != c.id());
        }
    }

    /// Send `signal` to the running process (e.g. `libc::SIGHUP` to reload tenant files).
    pub fn signal(&self, signal: i32) {
        let pid = self.child.as_ref().expect("crmdav is running").id();
        // SAFETY: kill(2) on a child this process spawned and has not reaped.
        let rc = unsafe { libc::kill(pid as i32, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal})");
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }
}

/// True when `GET /healthz` answers 200 (plain std I/O: usable from sync and async tests).
fn healthz(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let req =
        format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

// ---- helper processes ------------------------------------------------------------------------

/// A helper process (an identity provider, a browser driver) spawned like the gateway: killed
/// on drop and when the test process dies.
pub struct Helper {
    child: Child,
}

impl Helper {
    /// Spawn `cmd` on the forking thread and track it.
    pub fn spawn(cmd: Command) -> std::io::Result<Helper> {
        init();
        let child = spawn(cmd)?;
        LIVE.lock().expect("live list").push(child.id());
        Ok(Helper { child })
    }

    /// Its exit status, if it has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let id = self.child.id();
        if let Ok(mut live) = LIVE.lock() {
            live.retain(|&p| p != id);
        }
    }
}
