//! The sign-in page in a real browser: headless chromium over WebDriver signs in through
//! the real oidc-provider, creates an app password, downloads the profile (a valid property
//! list with both payloads), logs in over CalDAV with the password, revokes it on the page
//! and gets 401; then allows DAVx5's Login Flow v2 and signs out. Each page state passes
//! axe-core's WCAG 2 A/AA rules (the provider's own page excepted). A screenshot of each page state is kept in
//! `<target>/test-artifacts/setup/`.

use super::setup::{check_profile, field, fixture, propfind};
use crate::support::browser::Browser;
use crate::support::gateway::StateDir;
use crate::support::oidc::target_dir;
use reqwest::StatusCode;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A poll request's form body.
trait PollBody {
    fn form_body(self, token: &str) -> Self;
}

impl PollBody for reqwest::blocking::RequestBuilder {
    fn form_body(self, token: &str) -> Self {
        self.header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
    }
}

/// Wait (bounded) for a finished `.mobileconfig` in `dir`. Chromium reserves the final name
/// with an empty file while it writes `<name>.crdownload`, so a profile counts as downloaded
/// only once it has bytes and no partial download is left beside it.
fn downloaded(dir: &std::path::Path) -> PathBuf {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let files: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        let partial = files
            .iter()
            .any(|p| p.extension().is_some_and(|x| x == "crdownload"));
        let found = files.into_iter().find(|p| {
            p.extension().is_some_and(|x| x == "mobileconfig")
                && std::fs::metadata(p).is_ok_and(|m| m.len() > 0)
        });
        if let (Some(p), false) = (found, partial) {
            return p;
        }
        assert!(Instant::now() < deadline, "no profile was downloaded");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_person_sets_up_a_phone_in_a_real_browser() {
    let Some(f) = fixture() else { return };
    let work = StateDir::new("setup-browser");
    let downloads = work.path().join("downloads");
    std::fs::create_dir_all(&downloads).expect("downloads folder");
    let Some(b) = Browser::start(&downloads, &work.path().join("profile")) else {
        return;
    };
    let shots = target_dir().join("test-artifacts/setup");
    std::fs::create_dir_all(&shots).expect("artifact folder");
    // Every page state: a screenshot, and no WCAG 2 A/AA violation axe-core can find.
    let axe = std::fs::read_to_string(
        crate::support::oidc::install().join("node_modules/axe-core/axe.min.js"),
    )
    .expect("axe-core");
    let shot = |name: &str| {
        b.screenshot(&shots.join(format!("{name}.png")));
        let found = b.accessibility_violations(&axe);
        assert!(found.is_empty(), "{name}: accessibility: {found:#?}");
    };

    // The checker finds what it should: a page without `lang` and with an unlabelled input.
    b.goto("data:text/html,<title>x</title><input type=text>");
    let bad = b.accessibility_violations(&axe);
    assert!(
        bad.iter().any(|v| v.starts_with("label"))
            && bad.iter().any(|v| v.starts_with("html-has-lang")),
        "{bad:?}"
    );

    b.goto(&format!("{}/setup", f.base));
    b.wait_for("#sign-in");
    assert!(b.url().ends_with("/setup/acme/"), "{}", b.url());
    shot("01-sign-in");

    b.click("#sign-in");
    b.wait_for("#login");
    assert!(b.url().starts_with(&f.provider.issuer), "{}", b.url());
    b.screenshot(&shots.join("02-identity-provider.png"));
    b.type_into("#login", "alice");
    b.click("#submit");

    b.wait_for("#create");
    assert!(b.source().contains("Work calendar"));
    shot("03-signed-in");

    b.type_into("#label", "Alice's phone");
    b.click("#create");
    let password = b.text("#password");
    let login = b.text("#login");
    assert_eq!(login, "alice@acme");
    assert!(b.source().contains("<svg"), "the QR code");
    shot("04-app-password");
    assert_eq!(
        propfind(&f.base, &login, &password),
        StatusCode::MULTI_STATUS
    );

    b.click("#profile");
    let profile = downloaded(&downloads);
    check_profile(&std::fs::read(&profile).expect("profile"), &password, f);

    let device = field(&b.source(), "device");
    b.goto(&format!("{}/setup/acme/", f.base));
    b.wait_for(&format!("#revoke-{device}"));
    shot("05-devices");
    b.click(&format!("#revoke-{device}"));
    b.wait_for(".notice");
    assert!(!b.source().contains(&format!("revoke-{device}")));
    shot("06-revoked");
    assert_eq!(
        propfind(&f.base, &login, &password),
        StatusCode::UNAUTHORIZED
    );

    // A replayed or forged callback: the error page.
    b.goto(&format!(
        "{}/setup/acme/callback?state=forged&code=x",
        f.base
    ));
    b.wait_for(".error");
    shot("07-bad-state");
    assert!(b.source().contains("no longer valid"));

    // DAVx5's browser login: the app starts a flow, the (signed-in) person allows it.
    let init: serde_json::Value = reqwest::blocking::Client::new()
        .post(format!("{}/index.php/login/v2", f.base))
        .header("user-agent", "DAVx5/4.4.2-ose")
        .send()
        .expect("login flow")
        .json()
        .expect("JSON");
    b.goto(init["login"].as_str().expect("login URL"));
    b.wait_for("#allow");
    shot("08-login-flow-consent");
    b.click("#allow");
    b.wait_for(".notice");
    shot("09-login-flow-connected");
    let creds: serde_json::Value = reqwest::blocking::Client::new()
        .post(init["poll"]["endpoint"].as_str().expect("endpoint"))
        .form_body(init["poll"]["token"].as_str().expect("token"))
        .send()
        .expect("poll")
        .json()
        .expect("credentials");
    let app_password = creds["appPassword"].as_str().expect("app password");
    assert_eq!(
        propfind(&f.base, "alice@acme", app_password),
        StatusCode::MULTI_STATUS
    );

    // Signing out ends the session.
    b.goto(&format!("{}/setup/acme/", f.base));
    b.click("#sign-out");
    b.wait_for("#sign-in");
    shot("10-signed-out");
    eprintln!("screenshots in {}", shots.display());
}
