//! Issue 10 items 2 and 3 through the real binary: per-person scopes (`mine`, `team`), shared
//! listings and calendar windows, on a small wiremock CRM whose definition declares them
//! (`scopecrm`, from `connectors_dir` / `mappings_dir`). Every pair of people on every
//! collection URL, exact CRM call counts for 1, 10 and 100 people, a phone create assigned to
//! its person, a reassigned record and a record moved out of the window leaving through
//! sync-collection.

use crate::support::gateway::{free_port, Gateway, StateDir};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const PASS: &str = "scope-Secret-1";

const CONNECTOR: &str = r#"
name = "scopecrm"
base_url = "${base_url}"
timezone = "UTC"
max_retries = 0

[entities.tasks]
records_path = ""
list = { path = "/tasks" }
create = { method = "POST", path = "/tasks" }
update = { method = "PATCH", path = "/tasks/{id}" }
delete = { style = "delete", path = "/tasks/{id}" }

# The CRM filters by owner; the local predicate tells a reassigned record from a missed one.
[entities.tasks.scopes.mine]
filter_params = { owner_id = "{user.crm_id}" }
match = [{ path = "owner_id", equals = "{user.crm_id}" }]
assign = { owner_id = "{user.crm_id}" }
numeric = ["owner_id"]

[entities.tasks.scopes.team]
filter_params = { team_id = "{user.team_id}" }
match = [{ path = "team_id", equals = "{user.team_id}" }]

# Events: the CRM takes the window's bounds but cannot filter by attendee.
[entities.events]
records_path = ""
list = { path = "/events" }
create = { method = "POST", path = "/events" }
update = { method = "PATCH", path = "/events/{id}" }
delete = { style = "delete", path = "/events/{id}" }
window = { start_param = "from", end_param = "to", format = "rfc3339" }

[entities.events.scopes.mine]
match = [{ path = "attendees[].email", contains = "{user.email}" }]
assign = { "attendees[0].email" = "{user.email}" }

[users]
list = { path = "/users" }
email_field = "email"
name_field = "name"
active_field = "active"
"#;

const TASKS_MAPPING: &str = r#"
component = "VTODO"
timezone = "UTC"

[[field]]
property = "SUMMARY"
path = "title"
"#;

const EVENTS_MAPPING: &str = r#"
component = "VEVENT"
timezone = "UTC"

[[field]]
property = "SUMMARY"
path = "title"

[[field]]
property = "DTSTART"
path = "start"
type = "datetime"

[[field]]
property = "DTEND"
path = "end"
type = "datetime"
"#;

/// The fake CRM's records and every request it answered.
#[derive(Default)]
pub struct CrmState {
    tasks: Vec<Value>,
    events: Vec<Value>,
    pub(crate) users: Vec<Value>,
    next: u64,
    /// (method, path, sorted query) of every request.
    log: Vec<(String, String, BTreeMap<String, String>)>,
}

#[derive(Clone)]
pub(crate) struct Crm(pub(crate) Arc<Mutex<CrmState>>);

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl Respond for Crm {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let mut s = self.0.lock().unwrap();
        let q: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        let path = req.url.path().to_string();
        let method = req.method.to_string();
        s.log.push((method.clone(), path.clone(), q.clone()));
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
        match (method.as_str(), parts.as_slice()) {
            ("GET", ["users"]) => ResponseTemplate::new(200).set_body_json(json!(s.users)),
            ("GET", ["tasks"]) => {
                let out: Vec<&Value> = s
                    .tasks
                    .iter()
                    .filter(|t| {
                        q.get("owner_id").is_none_or(|o| text(&t["owner_id"]) == *o)
                            && q.get("team_id").is_none_or(|o| text(&t["team_id"]) == *o)
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!(out))
            }
            ("GET", ["events"]) => {
                let out: Vec<&Value> = s
                    .events
                    .iter()
                    .filter(|e| {
                        // Overlap with [from, to) (RFC 3339 UTC strings compare as times).
                        q.get("from")
                            .is_none_or(|f| e["end"].as_str().unwrap_or("") > f.as_str())
                            && q.get("to")
                                .is_none_or(|t| e["start"].as_str().unwrap_or("") < t.as_str())
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(json!(out))
            }
            ("POST", [kind]) => {
                s.next += 1;
                let mut r = body;
                r["id"] = json!(format!("n{}", s.next));
                if *kind == "tasks" {
                    s.tasks.push(r.clone());
                } else {
                    s.events.push(r.clone());
                }
                ResponseTemplate::new(201).set_body_json(r)
            }
            ("PATCH", [kind, id]) => {
                let list = if *kind == "tasks" {
                    &mut s.tasks
                } else {
                    &mut s.events
                };
                match list.iter_mut().find(|r| r["id"] == *id) {
                    Some(r) => {
                        if let (Some(o), Some(p)) = (r.as_object_mut(), body.as_object()) {
                            for (k, v) in p {
                                o.insert(k.clone(), v.clone());
                            }
                        }
                        ResponseTemplate::new(200).set_body_json(r.clone())
                    }
                    None => ResponseTemplate::new(404).set_body_json(json!({"detail": "no"})),
                }
            }
            ("DELETE", [kind, id]) => {
                let list = if *kind == "tasks" {
                    &mut s.tasks
                } else {
                    &mut s.events
                };
                list.retain(|r| r["id"] != *id);
                ResponseTemplate::new(204)
            }
            _ => ResponseTemplate::new(404).set_body_json(json!({"detail": "no route"})),
        }
    }
}

impl Crm {
    pub(crate) async fn start(tasks: Vec<Value>, events: Vec<Value>) -> (MockServer, Crm) {
        let server = MockServer::start().await;
        let crm = Crm(Arc::new(Mutex::new(CrmState {
            tasks,
            events,
            ..Default::default()
        })));
        Mock::given(wiremock::matchers::any())
            .respond_with(crm.clone())
            .mount(&server)
            .await;
        (server, crm)
    }

    /// Listings of `path` so far.
    pub(crate) fn listings(&self, path: &str) -> usize {
        let s = self.0.lock().unwrap();
        s.log
            .iter()
            .filter(|(m, p, _)| m == "GET" && p == path)
            .count()
    }

    /// Every request so far.
    pub(crate) fn calls(&self) -> usize {
        self.0.lock().unwrap().log.len()
    }

    fn edit(&self, kind: &str, id: &str, f: impl FnOnce(&mut Value)) {
        let mut s = self.0.lock().unwrap();
        let list = if kind == "tasks" {
            &mut s.tasks
        } else {
            &mut s.events
        };
        f(list.iter_mut().find(|r| r["id"] == id).expect("record"));
    }

    fn find(&self, kind: &str, title: &str) -> Option<Value> {
        let s = self.0.lock().unwrap();
        let list = if kind == "tasks" { &s.tasks } else { &s.events };
        list.iter().find(|r| r["title"] == title).cloned()
    }
}

/// One person of the tenant file.
pub(crate) struct Who {
    pub(crate) name: String,
    pub(crate) crm_id: Option<String>,
    pub(crate) email: String,
    pub(crate) team: String,
}

pub(crate) fn people(n: usize) -> Vec<Who> {
    (0..n)
        .map(|i| Who {
            name: format!("p{i}"),
            crm_id: Some(format!("{}", 100 + i)),
            email: format!("P{i}@Firm.example"),
            team: if i % 2 == 0 {
                "red".into()
            } else {
                "blue".into()
            },
        })
        .collect()
}

/// A cheap argon2 hash (tests log in a hundred people).
fn cheap_hash() -> String {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(8, 1, 1, None).unwrap();
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    a.hash_password(
        PASS.as_bytes(),
        &SaltString::from_b64("c2NvcGVzY29wZXNjb3Bl").unwrap(),
    )
    .unwrap()
    .to_string()
}

pub(crate) fn write_config(dir: &std::path::Path, port: u16, crm_uri: &str, who: &[Who], ttl: u64) {
    for d in ["tenants", "connectors", "mappings/scopecrm"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::write(dir.join("connectors/scopecrm.toml"), CONNECTOR).unwrap();
    std::fs::write(dir.join("mappings/scopecrm/tasks.toml"), TASKS_MAPPING).unwrap();
    std::fs::write(dir.join("mappings/scopecrm/events.toml"), EVENTS_MAPPING).unwrap();
    std::fs::write(
        dir.join("crmdav.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\nstate = \"sqlite://state/crmdav.db\"\ntenants_dir = \"tenants\"\ndefault_tenant = \"firm\"\nconnectors_dir = \"connectors\"\nmappings_dir = \"mappings\"\nhttp = {{ metrics_tenant_names = true }}\n"
        ),
    )
    .unwrap();
    let hash = cheap_hash();
    let mut t = format!(
        "name = \"firm\"\n\n[connector]\nkind = \"scopecrm\"\noptions = {{ base_url = \"{crm_uri}\" }}\n\n[sync]\nrefresh_ttl_secs = {ttl}\nfull_scan_secs = 600\n\n"
    );
    for w in who {
        t.push_str(&format!(
            "[[users]]\nname = \"{}\"\npassword_hash = \"{hash}\"\nteam_id = \"{}\"\n",
            w.name, w.team
        ));
        if !w.email.is_empty() {
            t.push_str(&format!("email = \"{}\"\n", w.email));
        }
        if let Some(c) = &w.crm_id {
            t.push_str(&format!("crm_id = \"{c}\"\n"));
        }
        t.push('\n');
    }
    let names: Vec<String> = who.iter().map(|w| format!("\"{}\"", w.name)).collect();
    let users = names.join(", ");
    t.push_str(&format!(
        r#"[[collections]]
id = "tasks"
kind = "calendar"
entity = "tasks"
scope = "mine"
users = [{users}]

[[collections]]
id = "team"
kind = "calendar"
entity = "tasks"
scope = "team"
users = [{users}]

[[collections]]
id = "all"
kind = "calendar"
entity = "tasks"
users = [{users}]

[[collections]]
id = "events"
kind = "calendar"
entity = "events"
scope = "mine"
window_past_days = 30
window_future_days = 60
users = [{users}]
"#
    ));
    std::fs::write(dir.join("tenants/firm.toml"), t).unwrap();
}

pub(crate) fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

async fn req(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    method: &str,
    path: &str,
    body: Option<String>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut rb = http
        .request(m, format!("{base}{path}"))
        .basic_auth(user, Some(PASS));
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb.body(b);
    }
    let r = rb.send().await.expect("crmdav reachable");
    let st = r.status().as_u16();
    (st, r.text().await.unwrap())
}

/// A per-tenant metric of the gateway at `base`.
async fn metric(http: &reqwest::Client, base: &str, name: &str) -> u64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = format!("{name}{{tenant=\"firm\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .unwrap_or_else(|| panic!("no {key} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Wait until a metric satisfies `done` (bounded: 60 s).
async fn await_metric(http: &reqwest::Client, base: &str, name: &str, done: impl Fn(u64) -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = metric(http, base, name).await;
        if done(now) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} is {now} after 60 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A sync of a stale collection is answered from its stored state while a background refresh
/// runs: this syncs once that refresh (started after any earlier one ended) has finished.
async fn sync_fresh(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    coll: &str,
    token: &str,
) -> (String, BTreeMap<String, bool>) {
    await_metric(http, base, "crmdav_refreshes_pending", |n| n == 0).await;
    let before = metric(http, base, "crmdav_refreshes_total").await;
    let (st, text) = req(http, base, user, "PROPFIND", coll, None, &[("Depth", "0")]).await;
    assert_eq!(st, 207, "{text}");
    await_metric(http, base, "crmdav_refreshes_total", |n| n > before).await;
    sync(http, base, user, coll, token).await
}

fn sync_body(token: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>{token}</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#
    )
}

const QUERY: &str = r#"<?xml version="1.0" encoding="utf-8"?><c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>"#;

fn multiget(hrefs: &[String]) -> String {
    let h: String = hrefs
        .iter()
        .map(|h| format!("<d:href>{h}</d:href>"))
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>{h}</c:calendar-multiget>"#
    )
}

/// sync-collection: (token, href → present?).
pub(crate) async fn sync(
    http: &reqwest::Client,
    base: &str,
    user: &str,
    coll: &str,
    token: &str,
) -> (String, BTreeMap<String, bool>) {
    let (st, text) = req(
        http,
        base,
        user,
        "REPORT",
        coll,
        Some(sync_body(token)),
        &[("Content-Type", "application/xml")],
    )
    .await;
    assert_eq!(st, 207, "{user} sync {coll}: {text}");
    let doc = roxmltree::Document::parse(&text).unwrap();
    let token = doc
        .descendants()
        .find(|n| n.has_tag_name(("DAV:", "sync-token")))
        .and_then(|n| n.text())
        .unwrap()
        .to_string();
    let mut out = BTreeMap::new();
    for r in doc
        .descendants()
        .filter(|n| n.has_tag_name(("DAV:", "response")))
    {
        let href = r
            .children()
            .find(|n| n.has_tag_name(("DAV:", "href")))
            .and_then(|n| n.text())
            .unwrap()
            .to_string();
        let present = r.descendants().any(|n| n.has_tag_name(("DAV:", "getetag")));
        out.insert(href, present);
    }
    (token, out)
}

pub(crate) fn task(id: &str, owner: &str, team: &str) -> Value {
    json!({"id": id, "title": format!("task {id} of {owner}"), "owner_id": owner, "team_id": team})
}

fn event(id: &str, attendee: &str, days_from_now: i64) -> Value {
    let start = chrono::Utc::now() + chrono::Duration::days(days_from_now);
    let end = start + chrono::Duration::hours(1);
    json!({"id": id, "title": format!("event {id} with {attendee}"),
        "start": start.format("%Y-%m-%dT%H:00:00Z").to_string(),
        "end": end.format("%Y-%m-%dT%H:00:00Z").to_string(),
        "attendees": [{"email": attendee}]})
}

fn vtodo(uid: &str, summary: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:{summary}\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
}

fn vevent(uid: &str, summary: &str, start: &str, end: &str) -> String {
    format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:{summary}\r\nDTSTART:{start}\r\nDTEND:{end}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
}

const COLLS: [&str; 4] = ["tasks", "team", "all", "events"];

pub(crate) fn coll(user: &str, id: &str) -> String {
    format!("/dav/calendars/{user}/{id}/")
}

/// Every pair of people on every collection URL: a person's collections hold only their own
/// records, and another person's URLs (GET of each item, PROPFIND Depth 1, calendar-query,
/// multiget, sync-collection) answer nothing of theirs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_crosses_between_people_on_any_url_or_report() {
    let mut who = people(3);
    who[2].crm_id = None; // p2 is not linked: their `mine` collections are empty.
    let tasks = vec![
        task("1", "100", "red"),
        task("2", "101", "blue"),
        task("3", "102", "red"),
        task("4", "999", "green"),
    ];
    let events = vec![
        event("e1", "p0@firm.example", 1),
        event("e2", "P1@FIRM.EXAMPLE", 2),
        event("e3", "p2@firm.example", 3),
    ];
    let (server, crm) = Crm::start(tasks, events).await;
    let dir = StateDir::new("scopes-isolation");
    let port = free_port();
    write_config(dir.path(), port, &server.uri(), &who, 300);
    let gw = Gateway::new(dir.path(), port).start();
    let http = client();
    let base = gw.base.clone();

    // What each person's own collections hold: (collection, href) → body.
    let mut own: BTreeMap<(String, String), Vec<(String, String)>> = BTreeMap::new();
    for w in &who {
        for c in COLLS {
            let path = coll(&w.name, c);
            let (_, members) = sync(&http, &base, &w.name, &path, "").await;
            let mut items = Vec::new();
            for href in members.keys() {
                let (st, body) = req(&http, &base, &w.name, "GET", href, None, &[]).await;
                assert_eq!(st, 200, "{href}");
                items.push((href.clone(), body));
            }
            own.insert((w.name.clone(), c.to_string()), items);
        }
    }
    let titles = |u: &str, c: &str| -> Vec<String> {
        own[&(u.to_string(), c.to_string())]
            .iter()
            .map(|(_, b)| {
                b.lines()
                    .find_map(|l| l.strip_prefix("SUMMARY:"))
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(titles("p0", "tasks"), ["task 1 of 100"]);
    assert_eq!(titles("p1", "tasks"), ["task 2 of 101"]);
    assert!(
        titles("p2", "tasks").is_empty(),
        "an unlinked person's `mine` is empty"
    );
    let mut red = titles("p0", "team");
    red.sort();
    assert_eq!(red, ["task 1 of 100", "task 3 of 102"]);
    assert_eq!(titles("p1", "team"), ["task 2 of 101"]);
    assert_eq!(
        titles("p2", "team"),
        red,
        "team needs no CRM link, only a team"
    );
    assert_eq!(titles("p0", "events"), ["event e1 with p0@firm.example"]);
    assert_eq!(titles("p1", "events"), ["event e2 with P1@FIRM.EXAMPLE"]);
    assert_eq!(titles("p2", "events"), ["event e3 with p2@firm.example"]);

    // Every pair, every URL of the other person, every read method and REPORT.
    for p in &who {
        for q in who.iter().filter(|q| q.name != p.name) {
            for c in COLLS {
                let theirs = &own[&(q.name.clone(), c.to_string())];
                let their_hrefs: Vec<String> = theirs.iter().map(|(h, _)| h.clone()).collect();
                let mut probes = Vec::new();
                for h in &their_hrefs {
                    probes.push(req(&http, &base, &p.name, "GET", h, None, &[]).await);
                }
                let path = coll(&q.name, c);
                probes.push(
                    req(
                        &http,
                        &base,
                        &p.name,
                        "PROPFIND",
                        &path,
                        None,
                        &[("Depth", "1")],
                    )
                    .await,
                );
                let xml = [("Content-Type", "application/xml"), ("Depth", "1")];
                probes.push(
                    req(
                        &http,
                        &base,
                        &p.name,
                        "REPORT",
                        &path,
                        Some(QUERY.into()),
                        &xml,
                    )
                    .await,
                );
                if !their_hrefs.is_empty() {
                    probes.push(
                        req(
                            &http,
                            &base,
                            &p.name,
                            "REPORT",
                            &path,
                            Some(multiget(&their_hrefs)),
                            &xml,
                        )
                        .await,
                    );
                }
                probes.push(
                    req(
                        &http,
                        &base,
                        &p.name,
                        "REPORT",
                        &path,
                        Some(sync_body("")),
                        &xml,
                    )
                    .await,
                );
                // The other's member names asked of the person's own collection.
                let mine_path = coll(&p.name, c);
                let renamed: Vec<String> = their_hrefs
                    .iter()
                    .map(|h| h.replace(&path, &mine_path))
                    .collect();
                let own_text = if renamed.is_empty() {
                    String::new()
                } else {
                    let (st, t) = req(
                        &http,
                        &base,
                        &p.name,
                        "REPORT",
                        &mine_path,
                        Some(multiget(&renamed)),
                        &xml,
                    )
                    .await;
                    assert_eq!(st, 207);
                    t
                };
                for (_, body) in theirs {
                    let title = body
                        .lines()
                        .find_map(|l| l.strip_prefix("SUMMARY:"))
                        .unwrap()
                        .trim()
                        .to_string();
                    if titles(&p.name, c).contains(&title) {
                        continue; // shared by scope (a team), not crossed
                    }
                    assert!(
                        !own_text.contains(&title),
                        "{} got {}'s {title} from their own {c}",
                        p.name,
                        q.name
                    );
                    for (st, text) in &probes {
                        assert!(
                            !(200..300).contains(st) || !text.contains(&title),
                            "{} reached {}'s {title} on {c}: {st}",
                            p.name,
                            q.name
                        );
                    }
                }
                for (st, _) in &probes {
                    assert!(
                        matches!(st, 403 | 404),
                        "{} on {}'s {c}: {st}",
                        p.name,
                        q.name
                    );
                }
            }
        }
    }

    // An unlinked person cannot write into their `mine` collection (403 before any CRM call).
    let before = crm.calls();
    let (st, _) = req(
        &http,
        &base,
        "p2",
        "PUT",
        "/dav/calendars/p2/tasks/x.ics",
        Some(vtodo("x", "unlinked write")),
        &[("Content-Type", "text/calendar")],
    )
    .await;
    assert_eq!(st, 403);
    assert_eq!(crm.calls(), before, "no CRM call for a refused write");
    drop(gw);
}

/// A phone create in `mine` is assigned to its person in the CRM, and the others never see it;
/// a record reassigned in the CRM leaves the first person's collection through sync-collection
/// and arrives in the new owner's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_create_in_mine_is_assigned_and_a_reassigned_record_moves() {
    let who = people(2);
    let (server, crm) = Crm::start(vec![task("1", "100", "red")], vec![]).await;
    let dir = StateDir::new("scopes-assign");
    let port = free_port();
    write_config(dir.path(), port, &server.uri(), &who, 0);
    let gw = Gateway::new(dir.path(), port).start();
    let http = client();
    let base = gw.base.clone();
    let a = coll("p0", "tasks");
    let b = coll("p1", "tasks");
    let (ta, _) = sync(&http, &base, "p0", &a, "").await;
    let (tb, _) = sync(&http, &base, "p1", &b, "").await;

    let (st, text) = req(
        &http,
        &base,
        "p0",
        "PUT",
        &format!("{a}phone.ics"),
        Some(vtodo("phone-1", "from p0's phone")),
        &[("Content-Type", "text/calendar"), ("If-None-Match", "*")],
    )
    .await;
    assert_eq!(st, 201, "{text}");
    let created = crm
        .find("tasks", "from p0's phone")
        .expect("created in the CRM");
    // An id that reads as an integer is sent as a number.
    assert_eq!(created["owner_id"], json!(100), "assigned to p0's CRM user");
    let (ta, changed) = sync(&http, &base, "p0", &a, &ta).await;
    assert_eq!(
        changed.keys().collect::<Vec<_>>(),
        [&format!("{a}phone.ics")],
        "p0's own item, once, no duplicate import"
    );
    let (tb, changed) = sync(&http, &base, "p1", &b, &tb).await;
    assert!(changed.is_empty(), "p1 sees nothing of p0's: {changed:?}");

    // Reassigned in the CRM: it leaves p0 (a tombstone) and reaches p1.
    crm.edit("tasks", "1", |r| r["owner_id"] = json!("101"));
    let (_, changed) = sync_fresh(&http, &base, "p0", &a, &ta).await;
    assert_eq!(changed.values().filter(|p| !**p).count(), 1, "{changed:?}");
    let (_, changed) = sync_fresh(&http, &base, "p1", &b, &tb).await;
    assert_eq!(changed.values().filter(|p| **p).count(), 1, "{changed:?}");
    drop(gw);
}

/// The window: an event moved out of it by the CRM leaves through sync-collection; a phone's
/// PUT outside it works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_drops_what_leaves_it_and_takes_a_put_outside_it() {
    let who = people(1);
    let (server, crm) = Crm::start(
        vec![],
        vec![
            event("e1", "p0@firm.example", 1),
            event("e2", "p0@firm.example", 400),
        ],
    )
    .await;
    let dir = StateDir::new("scopes-window");
    let port = free_port();
    let ttl = 2;
    write_config(dir.path(), port, &server.uri(), &who, ttl);
    let gw = Gateway::new(dir.path(), port).start();
    let http = client();
    let base = gw.base.clone();
    let c = coll("p0", "events");
    let (t, members) = sync(&http, &base, "p0", &c, "").await;
    assert_eq!(
        members.len(),
        1,
        "only the event inside the window: {members:?}"
    );
    {
        let s = crm.0.lock().unwrap();
        let (_, _, q) = s.log.iter().rev().find(|(_, p, _)| p == "/events").unwrap();
        assert!(q.contains_key("from") && q.contains_key("to"), "{q:?}");
    }

    crm.edit("events", "e1", |r| {
        r["start"] = json!("2099-01-01T10:00:00Z");
        r["end"] = json!("2099-01-01T11:00:00Z");
    });
    tokio::time::sleep(Duration::from_secs(ttl)).await;
    let (t, changed) = sync_fresh(&http, &base, "p0", &c, &t).await;
    assert_eq!(changed.len(), 1);
    assert!(changed.values().all(|p| !p), "a tombstone: {changed:?}");

    let (st, text) = req(
        &http,
        &base,
        "p0",
        "PUT",
        &format!("{c}far.ics"),
        Some(vevent(
            "far",
            "far away",
            "20990601T100000Z",
            "20990601T110000Z",
        )),
        &[("Content-Type", "text/calendar")],
    )
    .await;
    assert_eq!(st, 201, "{text}");
    let created = crm.find("events", "far away").expect("created in the CRM");
    assert_eq!(created["attendees"][0]["email"], "P0@Firm.example");
    let (st, _) = req(&http, &base, "p0", "GET", &format!("{c}far.ics"), None, &[]).await;
    assert_eq!(st, 200, "the phone's item is there right after its PUT");
    let (t, changed) = sync(&http, &base, "p0", &c, &t).await;
    assert_eq!(changed.values().filter(|p| **p).count(), 1, "{changed:?}");
    // The next full scan (every listing, for a CRM without modified-since) takes it away: the
    // calendar serves its window.
    tokio::time::sleep(Duration::from_secs(ttl)).await;
    let (_, changed) = sync_fresh(&http, &base, "p0", &c, &t).await;
    assert_eq!(changed.values().filter(|p| !**p).count(), 1, "{changed:?}");
    assert!(crm.find("events", "far away").is_some(), "the CRM keeps it");
    drop(gw);
}

/// Cost: people whose scope resolves to one CRM query share one listing per TTL; a scope
/// that resolves per person costs one listing per person; two teams cost two. Exact counts of
/// the CRM's list requests on an idle sync of 1, 10 and 100 people.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_syncs_cost_one_listing_per_distinct_query() {
    let ttl = 8;
    let who = people(100);
    let tasks: Vec<Value> = (0..100)
        .map(|i| {
            task(
                &format!("{i}"),
                &format!("{}", 100 + i),
                if i % 2 == 0 { "red" } else { "blue" },
            )
        })
        .collect();
    let events: Vec<Value> = (0..100)
        .map(|i| event(&format!("e{i}"), &format!("p{i}@firm.example"), 1))
        .collect();
    let (server, crm) = Crm::start(tasks, events).await;
    let dir = StateDir::new("scopes-cost");
    let port = free_port();
    write_config(dir.path(), port, &server.uri(), &who, ttl);
    let gw = Gateway::new(dir.path(), port).start();
    let http = client();
    let base = gw.base.clone();

    // Everyone's first sync (logins, homes, first listings), then idle syncs.
    let mut tokens: BTreeMap<(String, &str), String> = BTreeMap::new();
    for w in &who {
        for c in COLLS {
            let (t, _) = sync(&http, &base, &w.name, &coll(&w.name, c), "").await;
            tokens.insert((w.name.clone(), c), t);
        }
    }
    let mut table = Vec::new();
    for n in [1usize, 10, 100] {
        tokio::time::sleep(Duration::from_secs(ttl + 1)).await;
        let before: Vec<usize> = ["/events", "/tasks"]
            .iter()
            .map(|p| crm.listings(p))
            .collect();
        let calls = crm.calls();
        let started = std::time::Instant::now();
        // Idle syncs, eight at a time, all within one TTL.
        let mut jobs = Vec::new();
        for w in who.iter().take(n) {
            for c in COLLS {
                let token = tokens[&(w.name.clone(), c)].clone();
                let (http, base, user, path) =
                    (http.clone(), base.clone(), w.name.clone(), coll(&w.name, c));
                jobs.push(async move {
                    let (_, changed) = sync(&http, &base, &user, &path, &token).await;
                    assert!(changed.is_empty(), "{user} {path}: {changed:?}");
                });
            }
        }
        let mut it = jobs.into_iter();
        loop {
            let batch: Vec<_> = it.by_ref().take(8).collect();
            if batch.is_empty() {
                break;
            }
            futures_util::future::join_all(batch).await;
        }
        assert!(
            started.elapsed() < Duration::from_secs(ttl - 1),
            "the syncs must fit in one TTL to count one"
        );
        // They were answered from the stored state; the refreshes they started end here.
        await_metric(&http, &base, "crmdav_refreshes_pending", |n| n == 0).await;
        let events = crm.listings("/events") - before[0];
        let tasks_all = crm.listings("/tasks") - before[1];
        let s = crm.0.lock().unwrap();
        let since = &s.log[calls..];
        let team = since
            .iter()
            .filter(|(_, p, q)| p == "/tasks" && q.contains_key("team_id"))
            .count();
        let mine = since
            .iter()
            .filter(|(_, p, q)| p == "/tasks" && q.contains_key("owner_id"))
            .count();
        let all = since
            .iter()
            .filter(|(_, p, q)| p == "/tasks" && q.is_empty())
            .count();
        let total = since.len();
        drop(s);
        assert_eq!(tasks_all, team + mine + all);
        assert_eq!(all, 1, "{n} people sharing `all`");
        assert_eq!(
            events, 1,
            "{n} people sharing `mine` over one listing (local predicate)"
        );
        assert_eq!(mine, n, "{n} people with `mine` resolved per person");
        assert_eq!(team, n.min(2), "{n} people in two teams");
        assert_eq!(
            total,
            events + tasks_all,
            "nothing but listings on an idle sync"
        );
        table.push(format!(
            "people={n:>3}  `all`: {all}  shared `mine` (local match): {events}  per-person `mine` (owner filter): {mine}  two teams: {team}  all CRM calls: {total}"
        ));
    }
    eprintln!("CRM calls per idle sync (one TTL):\n{}", table.join("\n"));
    drop(gw);
}

/// `crmdav users` and the server link people to CRM users by e-mail (case-insensitive), not
/// inactive ones nor an address two CRM users share, with one read of the user list per
/// `users_ttl_secs` however many people sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_link_by_email_and_crmdav_users_says_why_not() {
    let mut who = people(6);
    for w in who.iter_mut() {
        w.crm_id = None;
    }
    who[2].email = "dup@firm.example".into();
    who[3].email = "nobody@firm.example".into();
    who[4].email = String::new();
    who[5].crm_id = Some("555".into());
    let (server, crm) = Crm::start(
        vec![
            task("1", "100", "red"),
            task("2", "101", "blue"),
            task("3", "555", "red"),
        ],
        vec![],
    )
    .await;
    crm.0.lock().unwrap().users = vec![
        json!({"id": 100, "email": "p0@firm.example", "name": "P Zero", "active": true}),
        json!({"id": 101, "email": "P1@firm.example", "name": "P One", "active": false}),
        json!({"id": 200, "email": "dup@firm.example", "active": true}),
        json!({"id": 201, "email": "DUP@firm.example", "active": true}),
    ];
    let dir = StateDir::new("scopes-users");
    let port = free_port();
    write_config(dir.path(), port, &server.uri(), &who, 300);

    let out = std::process::Command::new(crate::support::gateway::bin())
        .args(["users", "--config"])
        .arg(dir.path().join("crmdav.toml"))
        .args(["--tenant", "firm"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |name: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no line for {name}:\n{text}"))
            .to_string()
    };
    assert!(
        line("p0").contains("linked      CRM user 100 (by e-mail)"),
        "{text}"
    );
    assert!(
        line("p1").contains("NOT LINKED") && line("p1").contains("inactive"),
        "{text}"
    );
    assert!(
        line("p2").contains("2 active CRM users have the e-mail address dup@firm.example"),
        "{text}"
    );
    assert!(
        line("p3").contains("no CRM user has the e-mail address nobody@firm.example"),
        "{text}"
    );
    assert!(line("p4").contains("no e-mail address"), "{text}");
    assert!(
        line("p5").contains("CRM user 555 (crm_id in the tenant file)"),
        "{text}"
    );
    assert!(text.contains("2 of 6 linked"), "{text}");
    assert_eq!(crm.listings("/users"), 1);

    let gw = Gateway::new(dir.path(), port).start();
    let http = client();
    let base = gw.base.clone();
    let mut seen = BTreeMap::new();
    for w in &who {
        let (_, m) = sync(&http, &base, &w.name, &coll(&w.name, "tasks"), "").await;
        seen.insert(w.name.clone(), m.len());
    }
    let want: BTreeMap<String, usize> = [
        ("p0", 1),
        ("p1", 0),
        ("p2", 0),
        ("p3", 0),
        ("p4", 0),
        ("p5", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(seen, want);
    assert_eq!(
        crm.listings("/users"),
        2,
        "one read of the user list for six people"
    );
    drop(gw);
}

/// A `mine` collection over an entity whose definition declares no `mine` is refused when the
/// configuration loads, naming the file, the key and the declaration it lacks.
#[test]
fn a_mine_collection_without_a_declaration_is_refused_at_load() {
    let dir = StateDir::new("scopes-refused");
    let d = dir.path();
    std::fs::create_dir_all(d.join("tenants")).unwrap();
    std::fs::write(
        d.join("crmdav.toml"),
        "listen = \"127.0.0.1:9\"\nstate = \"sqlite://state/crmdav.db\"\ntenants_dir = \"tenants\"\n",
    )
    .unwrap();
    std::fs::write(
        d.join("tenants/firm.toml"),
        format!(
            "name = \"firm\"\n[connector]\nkind = \"amagi-crm\"\noptions = {{ base_url = \"http://127.0.0.1:9/api\", token = \"t\" }}\n\n[[users]]\nname = \"a\"\npassword_hash = \"{}\"\n\n[[collections]]\nid = \"c\"\nkind = \"addressbook\"\nentity = \"contacts\"\nscope = \"mine\"\nusers = [\"a\"]\n",
            cheap_hash()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(crate::support::gateway::bin())
        .args(["check", "--config"])
        .arg(d.join("crmdav.toml"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("collections[0].scope")
            && err.contains("declares no 'mine' scope for entity 'contacts'"),
        "{err}"
    );
}
