//! Issue 12 items 2 and 7 through the gateway: a Rails-shaped CRM (wiremock) whose contact
//! list rows lack the e-mail and notes (`detail`) and carry tag ids (`relations` through a
//! `/tags.json` lookup), defined in files only (`connectors_dir`, `mappings_dir`). Measured:
//! the CRM calls of a first sync, of an idle sync and of a sync after one change; CATEGORIES
//! written from the phone as tag ids, an unknown tag created.

use crate::support::gateway::{free_port, hash_password, Gateway, StateDir};
use crate::support::phone::{Phone, PASS, TENANT, USER};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const COLL: &str = "/dav/addressbooks/alice/people/";

const CONNECTOR: &str = r#"
name = "railsy"
base_url = "${base_url}"
[entities.contacts]
modified_field = "updated_at"
list = { path = "/contacts.json" }
get = { path = "/contacts/{id}.json" }
update = { method = "PATCH", path = "/contacts/{id}.json" }
body_wrap = "contact"
detail = { max_concurrency = 2 }

[[entities.contacts.relations]]
entity = "tags"
name_field = "name"
read_ids = "tag_ids"
names = "tag_names"
write_ids = "tag_ids"
unknown = "create"

[[entities.contacts.relations]]
entity = "users"
name_field = "email"
read_names = "owners[].email"
names = "owner_emails"
write_ids = "owner_ids"
unknown = "refuse"

[entities.tags]
list = { path = "/tags.json" }
create = { method = "POST", path = "/tags.json" }
body_wrap = "tag"

[entities.users]
list = { path = "/users.json" }
"#;

const MAPPING: &str = r#"
component = "VCARD"
vcard_version = "3.0"

[[field]]
property = "FN"
type = "template"
template = ["{first_name} {last_name}"]

[[field]]
property = "N"
type = "structured"
parts = ["last_name", "first_name", "", "", ""]

[[field]]
property = "EMAIL"
path = "email"

[[field]]
property = "NOTE"
path = "notes"

[[field]]
property = "CATEGORIES"
path = "tag_names"
type = "list"
style = "comma"

[[field]]
property = "X-OWNER"
path = "owner_emails"
type = "list"
absent = "omit"
"#;

#[derive(Default)]
struct Crm {
    contacts: Vec<Value>,
    tags: Vec<Value>,
    clock: u32,
}

/// The CRM: list rows without `email`/`notes`, whole records by id, tags, PATCH, tag create.
struct Api(Arc<Mutex<Crm>>);

impl Respond for Api {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let mut st = self.0.lock().unwrap();
        let path = r.url.path().to_string();
        let m = r.method.as_str();
        let id_of = |p: &str| {
            p.strip_prefix("/contacts/")
                .and_then(|x| x.strip_suffix(".json"))
                .map(str::to_string)
        };
        match (m, path.as_str()) {
            ("GET", "/contacts.json") => {
                let rows: Vec<Value> = st
                    .contacts
                    .iter()
                    .map(|c| {
                        json!({"id": c["id"], "first_name": c["first_name"], "last_name": c["last_name"],
                               "updated_at": c["updated_at"], "tag_ids": c["tag_ids"]})
                    })
                    .collect();
                ResponseTemplate::new(200).set_body_json(rows)
            }
            ("GET", "/tags.json") => ResponseTemplate::new(200).set_body_json(st.tags.clone()),
            ("GET", "/users.json") => ResponseTemplate::new(200)
                .set_body_json(json!([{"id": 7, "email": "olga@firm.example"}])),
            ("POST", "/tags.json") => {
                let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                let id = 10 + st.tags.len() as u64;
                let tag = json!({"id": id, "name": body["tag"]["name"]});
                st.tags.push(tag.clone());
                ResponseTemplate::new(201).set_body_json(tag)
            }
            ("GET", p) if id_of(p).is_some() => {
                let id = id_of(p).unwrap_or_default();
                match st
                    .contacts
                    .iter()
                    .find(|c| c["id"].as_u64() == id.parse::<u64>().ok())
                {
                    Some(c) => ResponseTemplate::new(200).set_body_json(c.clone()),
                    None => ResponseTemplate::new(404).set_body_json(json!({"error": "Not Found"})),
                }
            }
            ("PATCH", p) if id_of(p).is_some() => {
                let id = id_of(p).unwrap_or_default();
                let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                st.clock += 1;
                let stamp = format!("2030-01-01T00:{:02}:00Z", st.clock);
                let Some(c) = st
                    .contacts
                    .iter_mut()
                    .find(|c| c["id"].as_u64() == id.parse::<u64>().ok())
                else {
                    return ResponseTemplate::new(404).set_body_json(json!({"error": "Not Found"}));
                };
                if let (Some(c), Some(p)) = (c.as_object_mut(), body["contact"].as_object()) {
                    for (k, v) in p {
                        c.insert(k.clone(), v.clone());
                    }
                    c.insert("updated_at".into(), stamp.into());
                }
                ResponseTemplate::new(200).set_body_json(c.clone())
            }
            _ => ResponseTemplate::new(404).set_body_json(json!({"error": "no route"})),
        }
    }
}

fn seed() -> Crm {
    let c = |id: u32, first: &str, last: &str, tags: Value| {
        json!({"id": id, "first_name": first, "last_name": last, "email": format!("{first}@firm.example").to_lowercase(),
               "notes": format!("met {first}"), "updated_at": "2030-01-01T00:00:00Z", "tag_ids": tags})
    };
    Crm {
        contacts: vec![
            c(1, "Ada", "Lovelace", json!([10])),
            c(2, "Bo", "Berg", json!([10, 11])),
            c(3, "Cy", "Chan", json!([])),
        ],
        tags: vec![
            json!({"id": 10, "name": "VIP"}),
            json!({"id": 11, "name": "Press"}),
        ],
        clock: 0,
    }
}

/// The CRM requests since `from`, as "METHOD path".
async fn calls(s: &MockServer, from: usize) -> Vec<String> {
    let all = s.received_requests().await.unwrap_or_default();
    all[from..]
        .iter()
        .map(|r| format!("{} {}", r.method, r.url.path()))
        .collect()
}

async fn count(s: &MockServer) -> usize {
    s.received_requests().await.unwrap_or_default().len()
}

fn write_config(dir: &std::path::Path, port: u16, crm: &str) {
    std::fs::create_dir_all(dir.join("tenants")).unwrap();
    std::fs::create_dir_all(dir.join("connectors")).unwrap();
    std::fs::create_dir_all(dir.join("mappings/railsy")).unwrap();
    std::fs::write(dir.join("connectors/railsy.toml"), CONNECTOR).unwrap();
    std::fs::write(dir.join("mappings/railsy/contacts.toml"), MAPPING).unwrap();
    std::fs::write(
        dir.join("crmdav.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\nstate = \"sqlite://state/crmdav.db\"\ntenants_dir = \"tenants\"\nconnectors_dir = \"connectors\"\nmappings_dir = \"mappings\"\ndefault_tenant = \"{TENANT}\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("tenants/{TENANT}.toml")),
        format!(
            "name = \"{TENANT}\"\n[connector]\nkind = \"railsy\"\n[connector.options]\nbase_url = \"{crm}\"\n[sync]\nrefresh_ttl_secs = 0\n\n[[users]]\nname = \"{USER}\"\npassword_hash = \"{}\"\n\n[[collections]]\nid = \"people\"\nkind = \"addressbook\"\nentity = \"contacts\"\nusers = [\"{USER}\"]\n",
            hash_password(PASS)
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_and_relations_cost_one_listing_and_one_lookup_per_idle_sync() {
    let state = Arc::new(Mutex::new(seed()));
    let s = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(Api(state.clone()))
        .mount(&s)
        .await;
    let dir = StateDir::new("detail-relations");
    let port = free_port();
    write_config(dir.path(), port, &s.uri());
    let gw = Phone::new(Gateway::new(dir.path(), port).start());

    // First sync: one listing, one tags listing, one detail read per contact.
    let (token, first) = gw.sync(COLL, "").await;
    assert_eq!(first.len(), 3, "{first:?}");
    let mut got = calls(&s, 0).await;
    got.sort();
    assert_eq!(
        got,
        [
            "GET /contacts.json",
            "GET /contacts/1.json",
            "GET /contacts/2.json",
            "GET /contacts/3.json",
            "GET /tags.json"
        ]
    );
    let bo = first
        .keys()
        .find(|h| h.contains("-2@"))
        .expect("contact 2")
        .clone();
    let (_, _, card) = gw.get(&bo).await;
    assert!(card.contains("\r\nEMAIL:bo@firm.example\r\n"), "{card}");
    assert!(card.contains("\r\nNOTE:met Bo\r\n"), "{card}");
    assert!(card.contains("\r\nCATEGORIES:VIP,Press\r\n"), "{card}");

    // Idle sync: the listing and the tags lookup, no detail read: 2 CRM calls.
    let n = count(&s).await;
    let (token, idle) = gw.sync(COLL, &token).await;
    assert!(idle.is_empty(), "{idle:?}");
    assert_eq!(calls(&s, n).await, ["GET /contacts.json", "GET /tags.json"]);

    // One contact changed in the CRM: one detail read, for it.
    {
        let mut st = state.lock().unwrap();
        st.contacts[1]["notes"] = "met Bo twice".into();
        st.contacts[1]["updated_at"] = "2030-01-02T00:00:00Z".into();
    }
    let n = count(&s).await;
    let (token, changed) = gw.sync(COLL, &token).await;
    assert_eq!(changed.keys().collect::<Vec<_>>(), [&bo]);
    let mut got = calls(&s, n).await;
    got.sort();
    assert_eq!(
        got,
        [
            "GET /contacts.json",
            "GET /contacts/2.json",
            "GET /tags.json"
        ]
    );
    assert!(gw.get(&bo).await.2.contains("\r\nNOTE:met Bo twice\r\n"));

    // The phone writes CATEGORIES: names become tag ids, the unknown one is created.
    let (_, etag, card) = gw.get(&bo).await;
    let edited = card.replace("CATEGORIES:VIP,Press", "CATEGORIES:Press,Newcomer");
    let (st, _, text) = gw
        .req(
            "PUT",
            &bo,
            Some(edited),
            &[("Content-Type", "text/vcard"), ("If-Match", &etag)],
        )
        .await;
    assert!(st == 204 || st == 201, "{st} {text}");
    let sent = s.received_requests().await.unwrap_or_default();
    let patch = sent
        .iter()
        .find(|r| r.method.as_str() == "PATCH")
        .expect("a PATCH");
    let body: Value = serde_json::from_slice(&patch.body).unwrap();
    assert_eq!(body["contact"]["tag_ids"], json!([11, 12]), "{body}");
    assert!(
        body["contact"].get("tag_names").is_none(),
        "names never go upstream: {body}"
    );
    assert_eq!(
        sent.iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/tags.json")
            .count(),
        1
    );
    let (_, _, after) = gw.get(&bo).await;
    assert!(after.contains("CATEGORIES:Press,Newcomer"), "{after}");
    let (token, moved) = gw.sync(COLL, &token).await;
    assert!(moved.contains_key(&bo), "{moved:?}");

    // An owner no CRM user has: the relation says `refuse`, so the phone gets 403 with the
    // reason, nothing is written, and the item stays as it was.
    let (_, etag, card) = gw.get(&bo).await;
    let patches = |s: &[Request]| s.iter().filter(|r| r.method.as_str() == "PATCH").count();
    let before = patches(&s.received_requests().await.unwrap_or_default());
    let edited = card.replace("END:VCARD", "X-OWNER:nobody@firm.example\r\nEND:VCARD");
    let (st, _, text) = gw
        .req(
            "PUT",
            &bo,
            Some(edited),
            &[("Content-Type", "text/vcard"), ("If-Match", &etag)],
        )
        .await;
    assert_eq!(st, 403, "{text}");
    assert!(
        text.contains("users has no record named") && text.contains("nobody@firm.example"),
        "{text}"
    );
    assert_eq!(
        patches(&s.received_requests().await.unwrap_or_default()),
        before
    );
    assert_eq!(gw.get(&bo).await.1, etag);
    let log = gw.log();
    assert!(
        log.lines().any(|l| l.contains("status=403")
            && l.contains("user=alice")
            && l.contains("tenant=firm")),
        "{log}"
    );
    // A known owner goes through as an id.
    let (_, etag, card) = gw.get(&bo).await;
    let edited = card.replace("END:VCARD", "X-OWNER:Olga@firm.example\r\nEND:VCARD");
    let (st, _, text) = gw
        .req(
            "PUT",
            &bo,
            Some(edited),
            &[("Content-Type", "text/vcard"), ("If-Match", &etag)],
        )
        .await;
    assert!(st == 204 || st == 201, "{st} {text}");
    let sent = s.received_requests().await.unwrap_or_default();
    let last = sent
        .iter()
        .rev()
        .find(|r| r.method.as_str() == "PATCH")
        .expect("a PATCH");
    let body: Value = serde_json::from_slice(&last.body).unwrap();
    assert_eq!(body["contact"]["owner_ids"], json!([7]), "{body}");
    let _ = token;
}
