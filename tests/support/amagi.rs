//! Runs a real amagi-crm 0.1.0 (PyPI) on a free loopback port for end-to-end tests.
//!
//! Installs it into a venv when missing (`$CRMDAV_AMAGI_VENV`, default under cargo's
//! target tmp dir), initialises a fresh firm in a temp dir, starts `amagi-crm serve`, and
//! creates the users the tests need. Any failure panics with the reason: a missing Python or
//! pip must fail the test, never skip it. The server process is killed on drop.

#![allow(dead_code)]
// Self-contained on purpose (its own `free_port`): benches/crm_budget.rs includes this file by
// path, where the sibling `gateway` module does not exist.

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const PACKAGE: &str = "amagi-crm==0.1.0";
pub const TIMEZONE: &str = "Europe/Berlin";

pub struct Amagi {
    pub base: String,
    pub api: String,
    pub admin_token: String,
    pub token: String,
    pub readonly_token: String,
    pub http: reqwest::Client,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Amagi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn venv_dir() -> PathBuf {
    std::env::var_os("CRMDAV_AMAGI_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("amagi-crm-venv"))
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {cmd:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `amagi-crm` executable, installed on first use.
pub fn ensure_installed() -> PathBuf {
    // Tests of one process start their CRMs in parallel: one of them installs, the others wait.
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let venv = venv_dir();
    let exe = venv.join("bin").join("amagi-crm");
    let py = venv.join("bin").join("python");
    let ok = py.exists()
        && Command::new(&py)
            .args([
                "-c",
                "import importlib.metadata as m,sys; sys.exit(m.version('amagi-crm')!='0.1.0')",
            ])
            .status()
            .is_ok_and(|s| s.success());
    if ok && exe.exists() {
        return exe;
    }
    let python = std::env::var("CRM_PYTHON").unwrap_or_else(|_| "python3".into());
    run(
        Command::new(&python).args(["-c", "import sys; sys.exit(sys.version_info < (3, 10))"]),
        "amagi-crm needs Python >= 3.10 (set CRM_PYTHON)",
    );
    let _ = std::fs::remove_dir_all(&venv);
    run(
        Command::new(&python).arg("-m").arg("venv").arg(&venv),
        "creating the amagi-crm venv",
    );
    run(
        Command::new(venv.join("bin").join("pip")).args([
            "install",
            "-q",
            "--disable-pip-version-check",
            PACKAGE,
        ]),
        "pip install amagi-crm",
    );
    assert!(exe.exists(), "pip installed no amagi-crm executable");
    exe
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    l.local_addr().expect("local addr").port()
}

impl Amagi {
    /// Install if needed, start a fresh firm, and create users `alice` (member) and `viewer`.
    pub async fn start() -> Amagi {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let exe = ensure_installed();
        let dir = tempfile::tempdir().expect("temp dir");
        let db = format!("sqlite:///{}/amagi_crm.db", dir.path().display());
        let out = run(
            Command::new(&exe).current_dir(dir.path()).args([
                "init",
                "--admin",
                "admin",
                "--timezone",
                TIMEZONE,
                "--hours",
                "mon-sun 00:00-23:59",
                "--database-url",
                &db,
            ]),
            "amagi-crm init",
        );
        let admin_token = out
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .find(|w| w.starts_with("acrm_"))
            .unwrap_or_else(|| panic!("amagi-crm init printed no token: {out}"))
            .to_string();
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let child = Command::new(&exe)
            .current_dir(dir.path())
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::from(log.try_clone().expect("log")))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("start amagi-crm serve");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let mut amagi = Amagi {
            api: format!("{base}/api"),
            base,
            admin_token,
            token: String::new(),
            readonly_token: String::new(),
            http,
            child,
            _dir: dir,
        };
        let t0 = Instant::now();
        loop {
            if let Ok(r) = amagi
                .http
                .get(format!("{}/healthz", amagi.base))
                .send()
                .await
            {
                if r.status().is_success() {
                    break;
                }
            }
            if let Ok(Some(status)) = amagi.child.try_wait() {
                let log = std::fs::read_to_string(amagi._dir.path().join("server.log"))
                    .unwrap_or_default();
                panic!("amagi-crm exited ({status}):\n{log}");
            }
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "amagi-crm not up after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let admin = amagi.admin_token.clone();
        let alice = amagi
            .call(
                &admin,
                "POST",
                "/users",
                Some(json!({"name": "alice", "role": "member"})),
            )
            .await;
        amagi.token = alice["token"].as_str().expect("alice's token").to_string();
        let viewer = amagi
            .call(
                &admin,
                "POST",
                "/users",
                Some(json!({"name": "viewer", "role": "readonly"})),
            )
            .await;
        amagi.readonly_token = viewer["token"]
            .as_str()
            .expect("viewer's token")
            .to_string();
        amagi
    }

    /// Stop the CRM (to test what happens when it is down).
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A direct API call (not through the engine); panics on a non-2xx answer.
    pub async fn call(&self, token: &str, method: &str, path: &str, body: Option<Value>) -> Value {
        let (status, v) = self.try_call(token, method, path, body).await;
        assert!(status < 300, "{method} {path} → {status} {v}");
        v
    }

    /// A direct API call: (status, JSON body or Null).
    pub async fn try_call(
        &self,
        token: &str,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self
            .http
            .request(m, format!("{}{path}", self.api))
            .bearer_auth(token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.expect("amagi-crm reachable");
        let status = r.status().as_u16();
        let text = r.text().await.unwrap_or_default();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}
