//! The sign-in page on two gateway instances sharing one PostgreSQL database, as behind a
//! round-robin load balancer: every request of the walk goes to the other instance than the
//! one before (the sign-in started on one returns on the other; the session made on one is
//! used, extended with a device and ended on the other), and DAVx5's Login Flow v2 started on
//! one instance is granted and polled on the other. A real OpenID Connect provider
//! (support/oidc.rs) and a throwaway PostgreSQL cluster (support/postgres.rs); skipped, saying
//! why, without Node or the PostgreSQL binaries unless `CI` is set.

use super::setup::{
    by_id, field, location, propfind, tenant_file, Web, CLIENT_ID, CLIENT_SECRET, USERS,
};
use crate::support::gateway::{free_port, Gateway, StateDir};
use crate::support::oidc::{node_present, required, Provider};
use crate::support::postgres::PgCluster;
use reqwest::blocking::{Client, Response};
use reqwest::StatusCode;

/// Two gateways on one database and the provider; `public` is the address the tenant file
/// names (the load balancer's), which [`Pair::at`] maps onto an instance.
struct Pair {
    public: String,
    bases: [String; 2],
    gateways: Vec<Gateway>,
    provider: Provider,
    next: usize,
    _dirs: Vec<StateDir>,
    _pg: PgCluster,
}

impl Pair {
    fn start(test: &str) -> Option<Pair> {
        if !required(
            "node/npm",
            node_present(),
            "the sign-in tests run oidc-provider",
        ) {
            return None;
        }
        let pg = PgCluster::start_or_skip(test)?;
        let url = pg.create_db("setup_pair");
        let public = format!("http://127.0.0.1:{}", free_port());
        let provider = Provider::start(
            CLIENT_ID,
            CLIENT_SECRET,
            &[format!("{public}/setup/acme/callback")],
            USERS,
        );
        let mut dirs = Vec::new();
        let mut gateways = Vec::new();
        for _ in 0..2 {
            let dir = StateDir::new("setup-pair");
            let p = dir.path();
            std::fs::write(
                p.join("crmdav.toml"),
                format!("state = \"{url}\"\ndefault_tenant = \"acme\"\n"),
            )
            .expect("write crmdav.toml");
            std::fs::write(p.join("oidc-client-secret"), format!("{CLIENT_SECRET}\n"))
                .expect("write the client secret");
            std::fs::create_dir_all(p.join("tenants")).expect("tenants folder");
            std::fs::write(
                p.join("tenants/acme.toml"),
                tenant_file("acme", &provider.issuer, &public, 900),
            )
            .expect("write the tenant file");
            gateways.push(Gateway::new(p, free_port()).start());
            dirs.push(dir);
        }
        let bases = [gateways[0].base.clone(), gateways[1].base.clone()];
        Some(Pair {
            public,
            bases,
            gateways,
            provider,
            next: 0,
            _dirs: dirs,
            _pg: pg,
        })
    }

    /// `url` (on the public address or a path) on the next instance, alternating.
    fn at(&mut self, url: &str) -> String {
        let base = &self.bases[self.next % 2];
        self.next += 1;
        let path = url.strip_prefix(&self.public).unwrap_or(url);
        assert!(path.starts_with('/'), "a gateway URL: {url}");
        format!("{base}{path}")
    }

    fn logs(&self) -> String {
        self.gateways
            .iter()
            .map(|g| g.log())
            .collect::<Vec<_>>()
            .join("\n----\n")
    }
}

/// Follow the provider's redirects from its authorize URL, sign in as `login`, and return the
/// callback URL (on the public address) it sends the browser back to.
fn at_provider(web: &mut Web, pair: &Pair, authorize: &str, login: &str) -> String {
    assert!(authorize.starts_with(&pair.provider.issuer), "{authorize}");
    let r = web.get(authorize);
    let interaction = location(&r, &pair.provider.issuer);
    let r = web.post(&interaction, &[("login", login)]);
    let resume = location(&r, &pair.provider.issuer);
    let r = web.get(&resume);
    let callback = location(&r, &pair.provider.issuer);
    assert!(callback.starts_with(&pair.public), "{callback}");
    callback
}

fn ok_page(r: Response, what: &str, pair: &Pair) -> String {
    assert_eq!(r.status(), StatusCode::OK, "{what}\n{}", pair.logs());
    r.text().expect("page")
}

#[test]
fn the_page_flow_alternating_between_two_instances() {
    let Some(mut pair) = Pair::start("the_page_flow_alternating_between_two_instances") else {
        return;
    };
    let mut web = Web::new();
    // Instance 0 starts the sign-in (OIDC state, nonce and PKCE verifier stored)...
    let url = pair.at("/setup/acme/login");
    let authorize = location(&web.get(&url), &pair.bases[0]);
    let callback = at_provider(&mut web, &pair, &authorize, "alice");
    // ...instance 1 finishes it and makes the session...
    let url = pair.at(&callback);
    let r = web.get(&url);
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", pair.logs());
    assert!(web.cookie("crmdav_setup").is_some());
    // ...which instance 0 knows.
    let url = pair.at("/setup/acme/");
    let page = ok_page(web.get(&url), "the signed-in page on instance 0", &pair);
    assert!(
        page.contains("Signed in as <strong>alice</strong>"),
        "{page}"
    );
    let csrf = field(&page, "csrf");

    // A device made on instance 1; its profile downloaded from instance 0 (the new password
    // travels in the session, sealed in the store).
    let url = pair.at("/setup/acme/devices");
    let page = ok_page(
        web.post(&url, &[("csrf", &csrf), ("label", "Alice's phone")]),
        "create a device on instance 1",
        &pair,
    );
    let password = by_id(&page, "password");
    let device = field(&page, "device");
    let url = pair.at("/setup/acme/profile");
    let r = web.post(&url, &[("csrf", &csrf), ("device", &device)]);
    assert_eq!(r.status(), StatusCode::OK, "{}", pair.logs());
    let profile = r.bytes().expect("profile");
    assert!(
        String::from_utf8_lossy(&profile).contains(&password),
        "the profile from instance 0 carries the password made on instance 1"
    );
    for base in &pair.bases {
        assert_eq!(
            propfind(base, "alice@acme", &password),
            StatusCode::MULTI_STATUS
        );
    }

    // A forged post on either instance is refused; signing out on instance 1 ends the
    // session on instance 0 too.
    let url = pair.at("/setup/acme/logout");
    assert_eq!(
        web.post(&url, &[("csrf", "forged")]).status(),
        StatusCode::FORBIDDEN
    );
    let url = pair.at("/setup/acme/logout");
    assert_eq!(
        web.post(&url, &[("csrf", &csrf)]).status(),
        StatusCode::SEE_OTHER
    );
    assert!(web.cookie("crmdav_setup").is_none());
    let url = pair.at("/setup/acme/devices");
    let mut stale = Web::new();
    let r = stale.post(&url, &[("csrf", &csrf), ("label", "late")]);
    assert_eq!(
        r.status(),
        StatusCode::UNAUTHORIZED,
        "no cookie, no session"
    );

    // The state a callback carries is single use across instances: replaying the callback
    // on the other instance is refused.
    let url = pair.at(&callback);
    let r = web.get(&url);
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{}", pair.logs());
    let logs = pair.logs();
    assert!(!logs.contains(&password), "the secret is never logged");
    for (i, g) in pair.gateways.iter().enumerate() {
        assert!(
            g.log().contains("setup:"),
            "instance {i} served part of the walk"
        );
    }
}

#[test]
fn login_flow_v2_started_on_one_instance_is_polled_on_the_other() {
    let Some(mut pair) =
        Pair::start("login_flow_v2_started_on_one_instance_is_polled_on_the_other")
    else {
        return;
    };
    let http = Client::new();
    let init: serde_json::Value = http
        .post(format!("{}/index.php/login/v2", pair.bases[0]))
        .header("user-agent", "DAVx5/4.4.2-ose (test)")
        .send()
        .expect("init")
        .json()
        .expect("JSON");
    let token = init["poll"]["token"].as_str().expect("token").to_string();
    let login_url = init["login"].as_str().expect("login").to_string();
    let poll = |base: &str| {
        http.post(format!("{base}/index.php/login/v2/poll"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("token={token}"))
            .send()
            .expect("poll")
            .status()
    };
    assert_eq!(
        poll(&pair.bases[1]),
        StatusCode::NOT_FOUND,
        "before consent"
    );

    // The person opens the login URL on instance 1: sign in (returning on instance 0), then
    // the consent page on instance 1 and the grant on instance 0.
    let mut web = Web::new();
    pair.next = 1;
    let url = pair.at(&login_url);
    let authorize = location(&web.get(&url), &pair.bases[1]);
    let callback = at_provider(&mut web, &pair, &authorize, "alice");
    let url = pair.at(&callback);
    let r = web.get(&url);
    assert_eq!(location(&r, &pair.public), login_url, "{}", pair.logs());
    let url = pair.at(&login_url);
    let page = ok_page(web.get(&url), "consent on instance 1", &pair);
    assert!(page.contains("DAVx5/4.4.2-ose (test)"), "{page}");
    let url = pair.at(&login_url);
    let r = web.post(&url, &[("csrf", &field(&page, "csrf"))]);
    assert_eq!(r.status(), StatusCode::OK, "{}", pair.logs());

    // Polled on instance 1: the credentials, once; instance 0 then has nothing either.
    let r = http
        .post(format!("{}/index.php/login/v2/poll", pair.bases[1]))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .expect("poll");
    assert_eq!(r.status(), StatusCode::OK, "{}", pair.logs());
    let creds: serde_json::Value = r.json().expect("credentials");
    assert_eq!(creds["loginName"], "alice@acme");
    let password = creds["appPassword"].as_str().expect("password").to_string();
    assert_eq!(
        poll(&pair.bases[0]),
        StatusCode::NOT_FOUND,
        "once only, on every instance"
    );
    assert_eq!(poll(&pair.bases[1]), StatusCode::NOT_FOUND);
    assert_eq!(
        propfind(&pair.bases[0], "alice@acme", &password),
        StatusCode::MULTI_STATUS
    );
    assert!(
        !pair.logs().contains(&password),
        "the secret is never logged"
    );
}
