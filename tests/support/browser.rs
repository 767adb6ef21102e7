//! A real browser: Debian's headless `chromium`, driven over WebDriver by `chromedriver`
//! (plain JSON over HTTP with reqwest). Downloads land in a given folder; screenshots are
//! PNG files.
//!
//! Without chromium and chromedriver the tests that need them fail when `CI` is set, and
//! otherwise say why and return early.

use crate::support::gateway::{free_port, Helper};
use crate::support::oidc::{required, tls};
use base64::Engine;
use reqwest::blocking::Client;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The element key of WebDriver's element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn on_path(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A headless chromium session.
pub struct Browser {
    http: Client,
    session: String,
    _driver: Helper,
}

impl Browser {
    /// Start chromedriver and a headless chromium that downloads into `downloads`; `None`
    /// (after a note) when they are missing outside CI.
    pub fn start(downloads: &Path, profile: &Path) -> Option<Browser> {
        let present = on_path("chromium") && on_path("chromedriver");
        if !required(
            "chromium/chromedriver",
            present,
            "apt-get install -y chromium chromium-driver",
        ) {
            return None;
        }
        tls();
        let port = free_port();
        let mut cmd = Command::new("chromedriver");
        cmd.arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut driver = Helper::spawn(cmd).expect("spawn chromedriver");
        let http = Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            assert!(driver.exited().is_none(), "chromedriver exited");
            let ready = http
                .get(format!("{base}/status"))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                break;
            }
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let dl = downloads.display().to_string();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1000,1500",
                         format!("--user-data-dir={}", profile.display())],
                "prefs": {"download.default_directory": dl,
                          "download.prompt_for_download": false}
            }
        }}});
        let v: Value = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .expect("new session")
            .json()
            .expect("session JSON");
        let id = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {v}"))
            .to_string();
        let b = Browser {
            http,
            session: format!("{base}/session/{id}"),
            _driver: driver,
        };
        // Headless chromium downloads only when told where.
        b.call(
            "POST",
            "/chromium/send_command",
            json!({"cmd": "Page.setDownloadBehavior",
                   "params": {"behavior": "allow", "downloadPath": dl}}),
        );
        Some(b)
    }

    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.session);
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self.http.post(url).json(&body),
        };
        let v: Value = req
            .send()
            .expect("WebDriver call")
            .json()
            .expect("WebDriver JSON");
        v["value"].clone()
    }

    /// Open `url`.
    pub fn goto(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    /// The current URL.
    pub fn url(&self) -> String {
        self.call("GET", "/url", Value::Null)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// The page's HTML.
    pub fn source(&self) -> String {
        self.call("GET", "/source", Value::Null)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    fn element(&self, css: &str) -> Option<String> {
        let v = self.call(
            "POST",
            "/element",
            json!({"using": "css selector", "value": css}),
        );
        v[ELEMENT].as_str().map(str::to_string)
    }

    /// Wait (bounded) until `css` matches an element; returns its reference.
    pub fn wait_for(&self, css: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(e) = self.element(css) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "no {css} at {}:\n{}",
                self.url(),
                self.source()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Click the element `css` matches.
    pub fn click(&self, css: &str) {
        let e = self.wait_for(css);
        self.call("POST", &format!("/element/{e}/click"), json!({}));
    }

    /// Type `text` into the element `css` matches.
    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.wait_for(css);
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            json!({ "text": text }),
        );
    }

    /// The visible text of the element `css` matches.
    pub fn text(&self, css: &str) -> String {
        let e = self.wait_for(css);
        self.call("GET", &format!("/element/{e}/text"), Value::Null)
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Run axe-core (the accessibility checker, from `axe_js`) on the page for WCAG 2 A and
    /// AA rules; returns the violations as `rule-id: nodes`. WebDriver scripts are not bound
    /// by the page's Content-Security-Policy, so the page itself still runs no script.
    pub fn accessibility_violations(&self, axe_js: &str) -> Vec<String> {
        self.call(
            "POST",
            "/execute/sync",
            json!({"script": format!("{axe_js}\nreturn typeof axe;"), "args": []}),
        );
        let v = self.call(
            "POST",
            "/execute/async",
            json!({"script": "const done = arguments[arguments.length - 1];\
                axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21aa']}})\
                .then(r => done(r.violations.map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))\
                .catch(e => done(['axe failed: ' + e]));",
                   "args": []}),
        );
        match v.as_array() {
            Some(list) => list
                .iter()
                .map(|x| x.as_str().unwrap_or("?").to_string())
                .collect(),
            None => vec![format!("axe did not run: {v}")],
        }
    }

    /// Save a PNG of the window.
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.call("GET", "/screenshot", Value::Null);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap_or(""))
            .expect("screenshot base64");
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(path, png).expect("write the screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Ends chromium; the driver itself is killed by its Helper.
        let _ = self.http.delete(&self.session).send();
    }
}
