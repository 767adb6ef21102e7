//! "Connect your CRM account" on the sign-in page, over HTTP: a person signed in with the real
//! OpenID Connect provider (setup.rs's fixture) connects their own account of a CRM whose
//! OAuth endpoints and API are wiremock (tenant `crmoauth`, definition
//! `tests/fixtures/person-oauth/`). PKCE and `state` bound to the page session; a wrong or
//! replayed `state` gets a clear page and writes nothing; the person's reads then use their
//! own tokens, refreshed once per person for concurrent requests, the rotated refresh token
//! kept (sealed) in the state store.

use crate::setup::{by_id, field, fixture, location, sign_in, Web};
use base64::Engine;
use reqwest::StatusCode;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Arc;
use wiremock::matchers::{body_string_contains, header, method, path};
use wiremock::{Mock, Request, ResponseTemplate};

/// The tenant file of `crmoauth`: alice, two calendars on the CRM's `things`.
pub fn tenant_file(crm: &str, issuer: &str, base: &str) -> String {
    format!(
        r#"name = "crmoauth"
[connector]
kind = "person-crm"
options = {{ base_url = "{crm}/api", token = "service-token", oauth = "{crm}/oauth", client_id = "crmdav-client", client_secret = "client-s3cret" }}
[[users]]
name = "alice"
email = "Alice@Example.com"
[[collections]]
id = "things"
kind = "calendar"
entity = "things"
users = ["alice"]
[[collections]]
id = "more"
kind = "calendar"
entity = "things"
users = ["alice"]
[oidc]
issuer = "{issuer}"
client_id = "{client}"
client_secret_file = "../oidc-client-secret"
public_url = "{base}"
allowed_domains = ["example.com"]
"#,
        client = crate::setup::CLIENT_ID
    )
}

fn form_of(req: &Request) -> HashMap<String, String> {
    let dec = |s: &str| {
        percent_encoding::percent_decode_str(&s.replace('+', " "))
            .decode_utf8_lossy()
            .into_owned()
    };
    String::from_utf8_lossy(&req.body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (dec(k), dec(v)))
        .collect()
}

/// The code exchange the CRM accepts: its code, its client, and a verifier whose S256 hash is
/// the challenge the authorization request carried (RFC 7636 §4.6).
struct CodeExchange {
    challenge: String,
    redirect_uri: String,
}

impl wiremock::Match for CodeExchange {
    fn matches(&self, req: &Request) -> bool {
        let f = form_of(req);
        let g = |k: &str| f.get(k).map(String::as_str);
        let verified = g("code_verifier").is_some_and(|v| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(v.as_bytes()))
                == self.challenge
        });
        g("grant_type") == Some("authorization_code")
            && g("code") == Some("code-1")
            && g("client_id") == Some("crmdav-client")
            && g("client_secret") == Some("client-s3cret")
            && g("redirect_uri") == Some(self.redirect_uri.as_str())
            && verified
    }
}

fn thing(id: &str, title: &str) -> serde_json::Value {
    serde_json::json!({"id": id, "title": title, "start": "2030-01-15T10:00:00+01:00", "end": "2030-01-15T11:00:00+01:00"})
}

/// The SUMMARYs of one of alice's calendars, with her app password.
fn summaries(base: &str, password: &str, coll: &str) -> Vec<String> {
    let q = r#"<?xml version="1.0" encoding="utf-8"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>"#;
    let r = reqwest::blocking::Client::new()
        .request(
            reqwest::Method::from_bytes(b"REPORT").unwrap(),
            format!("{base}/dav/calendars/alice/{coll}/"),
        )
        .basic_auth("alice@crmoauth", Some(password))
        .header("Depth", "1")
        .header("Content-Type", "application/xml")
        .body(q)
        .send()
        .unwrap();
    assert_eq!(r.status(), StatusCode::MULTI_STATUS);
    let text = r.text().unwrap();
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("SUMMARY:"))
        .map(|s| s.trim_end_matches("&#13;").trim().to_string())
        .collect()
}

#[test]
fn a_person_connects_their_crm_account_by_oauth() {
    let Some(f) = fixture() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let crm = &f.crm;
    rt.block_on(async {
        Mock::given(method("GET"))
            .and(path("/api/things"))
            .and(header("authorization", "Bearer service-token"))
            .respond_with(ResponseTemplate::new(200).set_body_json(vec![thing("1", "Everyone's")]))
            .mount(crm)
            .await;
        Mock::given(method("GET"))
            .and(path("/api/things"))
            .and(header("authorization", "Bearer at-2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(vec![thing("2", "Alice's own")]))
            .mount(crm)
            .await;
    });

    let mut web = Web::new();
    let page = sign_in(&mut web, f, "crmoauth", "alice");
    assert!(
        by_id(&page, "crm-connect").contains("Connect your CRM account"),
        "{page}"
    );
    let csrf = field(&page, "csrf");
    // A device first: the phone's reads before and after connecting.
    let r = web.post(
        &format!("{}/setup/crmoauth/devices", f.base),
        &[("csrf", &csrf), ("label", "phone")],
    );
    let password = by_id(&r.text().unwrap(), "password");
    assert_eq!(summaries(&f.base, &password, "things"), ["Everyone's"]);

    // A forged post starts nothing.
    let r = web.post(
        &format!("{}/setup/crmoauth/crm/connect", f.base),
        &[("csrf", "forged")],
    );
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let r = web.post(
        &format!("{}/setup/crmoauth/crm/connect", f.base),
        &[("csrf", &csrf)],
    );
    let authorize = location(&r, &f.base);
    let url = reqwest::Url::parse(&authorize).unwrap();
    assert_eq!(url.path(), "/oauth/authorize", "{authorize}");
    let q: HashMap<String, String> = url.query_pairs().into_owned().collect();
    let redirect_uri = format!("{}/setup/crmoauth/crm/callback", f.base);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "crmdav-client");
    assert_eq!(q["redirect_uri"], redirect_uri);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["scope"], "things.read things.write");
    assert!(!authorize.contains("client-s3cret"), "no secret in a URL");
    let state = q["state"].clone();
    assert!(state.len() >= 32, "{state}");
    // Refused callbacks exchange nothing.
    let unused = rt.block_on(
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .and(CodeExchange {
                challenge: q["code_challenge"].clone(),
                redirect_uri: redirect_uri.clone(),
            })
            .respond_with(ResponseTemplate::new(500))
            .expect(0)
            .mount_as_scoped(crm),
    );
    let refresh = rt.block_on(
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .and(body_string_contains("grant_type=refresh_token"))
            .and(body_string_contains("refresh_token=rt-1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "at-2", "refresh_token": "rt-2", "expires_in": 3600, "token_type": "bearer"
            })))
            .expect(1)
            .mount_as_scoped(crm),
    );

    // A wrong state, and the right one from another (signed-out) browser: clear pages,
    // nothing stored; the right state is then spent.
    let cb = |st: &str| format!("{redirect_uri}?code=code-1&state={st}");
    let r = web.get(&cb("not-the-state"));
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().unwrap().contains("no longer valid"));
    let mut stranger = Web::new();
    let r = stranger.get(&cb(&state));
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = web.get(&cb(&state));
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "the state was spent");
    assert_eq!(summaries(&f.base, &password, "things"), ["Everyone's"]);

    // A fresh start, completed.
    let r = web.post(
        &format!("{}/setup/crmoauth/crm/connect", f.base),
        &[("csrf", &csrf)],
    );
    let authorize = location(&r, &f.base);
    let q: HashMap<String, String> = reqwest::Url::parse(&authorize)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect();
    drop(unused);
    // Expires within the engine's one-minute margin: the first use refreshes.
    let _exchange = rt.block_on(
        Mock::given(method("POST"))
            .and(path("/oauth/token"))
            .and(CodeExchange {
                challenge: q["code_challenge"].clone(),
                redirect_uri: redirect_uri.clone(),
            })
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "access_token": "at-1", "refresh_token": "rt-1", "expires_in": 30, "token_type": "bearer"
            })))
            .expect(1)
            .mount_as_scoped(crm),
    );
    let r = web.get(&cb(&q["state"]));
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{}", f.log());
    let page = web.get(&location(&r, &f.base)).text().unwrap();
    assert!(
        by_id(&page, "crm-account").contains("use your own CRM account"),
        "{page}"
    );
    // Replayed: refused, nothing written again.
    let r = web.get(&cb(&q["state"]));
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // Two concurrent reads of two calendars: one refresh of alice's token, both list with it.
    let (a, b) = std::thread::scope(|s| {
        let one = s.spawn(|| summaries(&f.base, &password, "things"));
        let two = s.spawn(|| summaries(&f.base, &password, "more"));
        (one.join().unwrap(), two.join().unwrap())
    });
    assert_eq!(a, ["Alice's own"]);
    assert_eq!(b, ["Alice's own"]);
    drop(refresh); // verifies: exactly one refresh

    // The rotated refresh token is what the state store keeps, sealed.
    let key = crmdav::config::SecretsKey::parse(&f.secrets_key).unwrap();
    let stored = rt.block_on(async {
        let store = Arc::new(
            crmdav::store::Store::open_beside_server(&format!("sqlite://{}", f.state_db.display()))
                .await
                .unwrap(),
        );
        let raw = store
            .kv_get("crmoauth", "crm:oauth2-token:person:alice")
            .await
            .unwrap()
            .expect("alice's tokens are stored");
        assert!(!raw.contains("rt-2") && raw.starts_with("sealed:"), "{raw}");
        use crmdav::connector::TokenStore;
        crmdav::crm::KvTokenStore::personal(
            store,
            "crmoauth",
            "alice",
            Some(Arc::new(crmdav::crm::sealed::Sealer::new(&key))),
        )
        .load()
        .await
        .unwrap()
        .unwrap()
    });
    assert_eq!(stored.refresh_token.as_deref(), Some("rt-2"));
    assert_eq!(stored.access_token.as_deref(), Some("at-2"));

    let log = f.log();
    assert!(log.contains("setup: CRM account connected"), "{log}");
    let refused = log
        .lines()
        .find(|l| l.contains("CRM sign-in refused"))
        .unwrap_or_else(|| panic!("no refusal logged:\n{log}"));
    assert!(
        refused.contains("tenant=crmoauth") && refused.contains("client="),
        "{refused}"
    );
    for secret in ["rt-1", "rt-2", "at-2", "client-s3cret", "code-1"] {
        assert!(
            !log.contains(&format!("={secret}")) && !log.contains(&format!("\"{secret}\"")),
            "{secret} in the log"
        );
    }
}
