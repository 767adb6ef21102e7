//! A real OpenID Connect provider for the sign-in page: the npm package `oidc-provider`
//! (tests/support/oidc/provider.mjs) under Node, installed with `npm ci` into
//! `<target>/test-tools/oidc-provider/` on first use, started on a free port with one client
//! and the given users. Its login page is one form field (the login name), no password.
//!
//! Without Node the tests that need it fail when `CI` is set, and otherwise say why and
//! return early ([`crate::support::oidc::required`]).

use crate::support::gateway::{free_port, repo, Helper};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Whether a tool the test needs is here; when not: a panic under `CI`, else a note and
/// `false` (the caller returns early).
pub fn required(tool: &str, present: bool, why: &str) -> bool {
    if present {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{tool} is missing and CI is set: {why}");
    }
    eprintln!("SKIPPED: {tool} is missing ({why}); install it to run this test");
    false
}

fn runs(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// reqwest is built without a default TLS provider: install ring's (once, harmless after).
pub fn tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Node and npm are installed.
pub fn node_present() -> bool {
    runs("node", "--version") && runs("npm", "--version")
}

/// The target folder of this build (the test binary is `<target>/debug/deps/<name>`).
pub fn target_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| repo("target"))
}

/// Install the provider and axe-core (once per lock file) and return their folder.
pub fn install() -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|p| p.into_inner());
    let src = repo("tests/support/oidc");
    let dir = target_dir().join("test-tools/oidc-provider");
    std::fs::create_dir_all(&dir).expect("create the provider folder");
    let lock = std::fs::read(src.join("package-lock.json")).expect("package-lock.json");
    let installed = std::fs::read(dir.join("package-lock.json")).ok();
    for f in ["package.json", "provider.mjs"] {
        std::fs::copy(src.join(f), dir.join(f)).expect("copy the provider");
    }
    if installed.as_deref() != Some(&lock[..]) || !dir.join("node_modules/oidc-provider").is_dir() {
        std::fs::write(dir.join("package-lock.json"), &lock).expect("write the lock");
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .output()
            .expect("run npm ci");
        assert!(
            out.status.success(),
            "npm ci of oidc-provider failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    dir
}

/// A running provider.
pub struct Provider {
    /// Its issuer URL (`http://127.0.0.1:<port>`).
    pub issuer: String,
    log: PathBuf,
    _process: Helper,
}

impl Provider {
    /// Start a provider for client `client_id`/`secret` that may redirect to `redirect_uris`,
    /// with `users` as JSON (`{"<login>": {"email": "...", "email_verified": true}}`).
    pub fn start(client_id: &str, secret: &str, redirect_uris: &[String], users: &str) -> Provider {
        tls();
        let dir = install();
        let port = free_port();
        let log = dir.join(format!("provider-{port}.log"));
        let out = std::fs::File::create(&log).expect("provider log");
        let mut cmd = Command::new("node");
        cmd.arg("provider.mjs")
            .current_dir(&dir)
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_CLIENT_ID", client_id)
            .env("OIDC_CLIENT_SECRET", secret)
            .env("OIDC_REDIRECT_URIS", redirect_uris.join(","))
            .env("OIDC_USERS", users)
            .stdin(Stdio::null())
            .stdout(out.try_clone().expect("log handle"))
            .stderr(out);
        let mut process = Helper::spawn(cmd).expect("spawn node provider.mjs");
        let issuer = format!("http://127.0.0.1:{port}");
        let discovery = format!("{issuer}/.well-known/openid-configuration");
        let http = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        // Nothing announces readiness but the answer itself: poll with a deadline.
        loop {
            if let Some(st) = process.exited() {
                panic!(
                    "oidc-provider exited ({st}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if http
                .get(&discovery)
                .send()
                .is_ok_and(|r| r.status().is_success())
            {
                break;
            }
            assert!(Instant::now() < deadline, "oidc-provider did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Provider {
            issuer,
            log,
            _process: process,
        }
    }

    /// What the provider printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}
