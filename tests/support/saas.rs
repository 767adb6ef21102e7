//! Scaffolding for DAV-level scenarios against SaaS CRMs simulated with wiremock.
//!
//! [`FakeCrm`] is one wiremock server shaped like the vendor's API (HubSpot CRM v3 objects,
//! Salesforce REST query/sObjects with the OAuth refresh-token flow, Dynamics 365 Web API with
//! client-credentials tokens), seeded from `tests/fixtures/<crm>/` and holding its records in
//! memory, so a CRM-side edit is a change of [`FakeCrm::records`] and phone writes change what
//! the next listing returns. Every request stays in wiremock's `received_requests`.
//!
//! [`start_gateway`] runs the real `crmdav` binary with one tenant ("firm") on that CRM, for
//! a [`Phone`] to speak DAV to. The connector options of each vendor live in
//! [`Vendor::options`] only.

use super::gateway::{free_port, hash_password, Gateway};
pub use super::phone::{Phone, PASS, TENANT, USER};
use chrono::{DateTime, Duration as ChronoDuration, SecondsFormat, Utc};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const HUBSPOT_TOKEN: &str = "pat-na1-11111111-2222-3333-4444-555555555555";
pub const SF_CLIENT_ID: &str = "3MVG9IHf89I1t8hrvswazsWedXWY";
pub const SF_REFRESH: &str = "5Aep861TSESvWeug_xvFHRBTTbf_YrTWgEyjBJrHmL";
pub const D365_TENANT: &str = "8f1c2d3e-0000-4000-8000-00000000d365";
pub const SF_API: &str = "/services/data/v62.0";
pub const D365_API: &str = "/api/data/v9.2";
/// Records per page of an unfiltered listing (small, so a full scan pages).
pub const PAGE: usize = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    HubSpot,
    Salesforce,
    Dynamics365,
}

impl Vendor {
    /// The connector kind (`connectors/<kind>.toml`).
    pub fn kind(self) -> &'static str {
        match self {
            Vendor::HubSpot => "hubspot",
            Vendor::Salesforce => "salesforce",
            Vendor::Dynamics365 => "dynamics365",
        }
    }

    /// The calendar entity used by the scenarios.
    pub fn entity(self) -> &'static str {
        match self {
            Vendor::HubSpot => "meetings",
            Vendor::Salesforce => "events",
            Vendor::Dynamics365 => "appointments",
        }
    }

    /// The record's id field.
    pub fn id_field(self) -> &'static str {
        match self {
            Vendor::HubSpot => "id",
            Vendor::Salesforce => "Id",
            Vendor::Dynamics365 => "activityid",
        }
    }

    /// The tenant's `[connector.options]`, pointing every endpoint at the mock. The one place
    /// that knows the option names (see deploy/examples/saas/<crm>.toml, connectors/<crm>.toml);
    /// defaults (auth variant, client auth) are left to the definitions.
    pub fn options(self, uri: &str) -> Vec<(&'static str, String)> {
        match self {
            Vendor::HubSpot => vec![
                ("base_url", uri.to_string()),
                ("access_token", HUBSPOT_TOKEN.to_string()),
                ("timezone", "Europe/Berlin".to_string()),
            ],
            Vendor::Salesforce => vec![
                ("login_url", uri.to_string()),
                // The token answer's instance_url is the mock (127.0.0.1): allow that host.
                ("instance_host", "127.0.0.1".to_string()),
                ("client_id", SF_CLIENT_ID.to_string()),
                ("client_secret", "sf-secret".to_string()),
                ("refresh_token", SF_REFRESH.to_string()),
                ("api_version", "62.0".to_string()),
                ("timezone", "America/New_York".to_string()),
            ],
            Vendor::Dynamics365 => vec![
                ("org_url", uri.to_string()),
                ("login_url", uri.to_string()),
                ("tenant_id", D365_TENANT.to_string()),
                ("client_id", "0e9a1b2c-app".to_string()),
                ("client_secret", "d365-secret".to_string()),
                ("timezone", "W. Europe Standard Time".to_string()),
                ("page_size", PAGE.to_string()),
            ],
        }
    }

    fn seed_files(self) -> &'static [&'static str] {
        match self {
            Vendor::HubSpot => &[
                "meetings_page1.json",
                "meetings_page2.json",
                "meetings_page3.json",
            ],
            Vendor::Salesforce => &[
                "events_page1.json",
                "events_page2.json",
                "events_page3.json",
            ],
            Vendor::Dynamics365 => &[
                "appointments_page1.json",
                "appointments_page2.json",
                "appointments_page3.json",
            ],
        }
    }

    fn records_key(self) -> &'static str {
        match self {
            Vendor::HubSpot => "results",
            Vendor::Salesforce => "records",
            Vendor::Dynamics365 => "value",
        }
    }

    /// The record's last-modified time as the vendor writes it.
    pub fn modified(self, r: &Value) -> DateTime<Utc> {
        let s = match self {
            Vendor::HubSpot => r["updatedAt"].as_str(),
            Vendor::Salesforce => r["SystemModstamp"].as_str(),
            Vendor::Dynamics365 => r["modifiedon"].as_str(),
        }
        .unwrap_or_else(|| panic!("no modified time in {r}"));
        parse_time(s).unwrap_or_else(|| panic!("bad time {s:?}"))
    }

    /// Sets every last-modified field of the record (and Dynamics' row version).
    pub fn touch(self, r: &mut Value, at: DateTime<Utc>, version: u64) {
        match self {
            Vendor::HubSpot => {
                let t = at.to_rfc3339_opts(SecondsFormat::Millis, true);
                r["updatedAt"] = json!(t);
                r["properties"]["hs_lastmodifieddate"] = json!(t);
            }
            Vendor::Salesforce => {
                let t = at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
                r["SystemModstamp"] = json!(t);
                r["LastModifiedDate"] = json!(t);
            }
            Vendor::Dynamics365 => {
                r["modifiedon"] = json!(at.to_rfc3339_opts(SecondsFormat::Secs, true));
                r["@odata.etag"] = json!(format!("W/\"{version}\""));
            }
        }
    }
}

/// Any of the vendors' time spellings.
pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .or_else(|_| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z"))
        .ok()
        .map(|d| d.with_timezone(&Utc))
}

/// A JSON file of tests/fixtures/<crm>/.
pub fn fixture(vendor: Vendor, name: &str) -> Value {
    let p = format!(
        "{}/tests/fixtures/{}/{name}",
        env!("CARGO_MANIFEST_DIR"),
        vendor.kind()
    );
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
}

/// The CRM's data.
#[derive(Debug)]
pub struct CrmState {
    pub records: Vec<Value>,
    /// Deleted ids with their deletion time (HubSpot archive, Salesforce recycle bin).
    pub deleted: Vec<(String, DateTime<Utc>)>,
    pub version: u64,
    pub next_id: u64,
    pub tokens_issued: u64,
    /// Faults the API injects (the fault matrix, `tests/crm/faults.rs`).
    pub faults: Faults,
}

/// Faults a [`FakeCrm`] injects into its answers.
#[derive(Debug, Default)]
pub struct Faults {
    /// The next this many creates are committed, then answered 504 (the answer is lost).
    pub lose_create_answers: u32,
    /// The next this many creates are committed, then answered 201 without an id.
    pub creates_without_id: u32,
    /// Every request is answered 503 (the CRM is down).
    pub down: bool,
    /// Every request is answered 401 (the static token was revoked).
    pub revoked: bool,
    /// Listing pages at this offset are answered 500.
    pub fail_page_at: Option<usize>,
    /// When the listing page at this offset is served, the record with this id is deleted
    /// first (a delete while a scan pages: the records after it shift back by one).
    pub delete_at_page: Option<(usize, String)>,
    /// Searches (POST …/search) are answered 500.
    pub fail_searches: bool,
    /// When the listing page at this offset is served, this record is inserted first, at the
    /// front of the list (an insert while a scan pages).
    pub insert_at_page: Option<(usize, Value)>,
    /// Every listing or search page is answered this much later (a CRM slower than the TTL).
    pub list_delay: Option<std::time::Duration>,
}

/// A wiremock server acting as the vendor's API.
pub struct FakeCrm {
    pub vendor: Vendor,
    pub server: MockServer,
    pub state: Arc<Mutex<CrmState>>,
}

impl FakeCrm {
    /// Seeds the fixtures' records (page 1..3), their modified times moved into the past
    /// (a live CRM never reports a change in the future), and mounts the API.
    pub async fn start(vendor: Vendor) -> FakeCrm {
        let server = MockServer::start().await;
        let mut records = Vec::new();
        for f in vendor.seed_files() {
            let page = fixture(vendor, f);
            records.extend(
                page[vendor.records_key()]
                    .as_array()
                    .unwrap()
                    .iter()
                    .cloned(),
            );
        }
        let base = Utc::now() - ChronoDuration::days(1);
        let n = records.len() as i64;
        for (i, r) in records.iter_mut().enumerate() {
            if let Some(o) = r.as_object_mut() {
                // The listing's `@odata.context` etc. are per page, not per record.
                o.remove("@odata.context");
            }
            vendor.touch(
                r,
                base - ChronoDuration::minutes(n - i as i64),
                72_201_545 + i as u64,
            );
        }
        let state = Arc::new(Mutex::new(CrmState {
            records,
            deleted: Vec::new(),
            version: 72_300_000,
            next_id: 1,
            tokens_issued: 0,
            faults: Faults::default(),
        }));
        Mock::given(wiremock::matchers::any())
            .respond_with(Api {
                vendor,
                uri: server.uri(),
                state: state.clone(),
            })
            .mount(&server)
            .await;
        FakeCrm {
            vendor,
            server,
            state,
        }
    }

    /// The mock's base URL.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// A copy of the record with this id.
    pub fn record(&self, id: &str) -> Option<Value> {
        let f = self.vendor.id_field();
        self.state
            .lock()
            .unwrap()
            .records
            .iter()
            .find(|r| r[f] == id)
            .cloned()
    }

    /// The ids of all live records.
    pub fn ids(&self) -> Vec<String> {
        let f = self.vendor.id_field();
        self.state
            .lock()
            .unwrap()
            .records
            .iter()
            .map(|r| r[f].as_str().unwrap().to_string())
            .collect()
    }

    /// A CRM-side edit: `change` on the record, then its modified time set to now.
    pub fn edit(&self, id: &str, change: impl FnOnce(&mut Value)) {
        let f = self.vendor.id_field();
        let mut st = self.state.lock().unwrap();
        st.version += 1;
        let v = st.version;
        let r = st
            .records
            .iter_mut()
            .find(|r| r[f] == id)
            .unwrap_or_else(|| panic!("no record {id}"));
        change(r);
        self.vendor.touch(r, Utc::now(), v);
    }

    /// Every request received so far.
    pub async fn requests(&self) -> Vec<Request> {
        self.server.received_requests().await.unwrap_or_default()
    }

    /// Requests that change data (not token requests, not listings/reads, not searches).
    pub async fn writes(&self) -> Vec<Request> {
        self.requests().await.into_iter().filter(is_write).collect()
    }
}

/// True for a request that changes data.
pub fn is_write(r: &Request) -> bool {
    r.method.as_str() != "GET" && !is_search_or_token(r)
}

/// A search (a read sent as POST) or a token request.
fn is_search_or_token(r: &Request) -> bool {
    let p = r.url.path();
    p.ends_with("/search") || p.ends_with("/batch/read") || p.contains("/oauth2/")
}

fn json_body(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap_or(Value::Null)
}

fn query(r: &Request, k: &str) -> Option<String> {
    r.url
        .query_pairs()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.into_owned())
}

fn bearer(r: &Request) -> String {
    r.headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn merge(target: &mut Value, patch: &Value) {
    if let (Some(t), Some(p)) = (target.as_object_mut(), patch.as_object()) {
        for (k, v) in p {
            t.insert(k.clone(), v.clone());
        }
    }
}

struct Api {
    vendor: Vendor,
    uri: String,
    state: Arc<Mutex<CrmState>>,
}

impl Respond for Api {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let mut st = self.state.lock().unwrap();
        if st.faults.down {
            return ResponseTemplate::new(503)
                .set_body_json(json!({"message": "down for maintenance"}));
        }
        if st.faults.revoked {
            return ResponseTemplate::new(401)
                .set_body_json(json!({"message": "the token was revoked"}));
        }
        let listing = r.method.as_str() == "GET"
            && !r
                .url
                .path()
                .rsplit('/')
                .next()
                .is_some_and(|s| s.chars().all(|c| c.is_ascii_digit()));
        let offset = query(r, "after")
            .and_then(|a| a.parse::<usize>().ok())
            .unwrap_or(0);
        if listing && st.faults.fail_page_at == Some(offset) && query(r, "archived").is_none() {
            return ResponseTemplate::new(500).set_body_json(json!({"message": "internal error"}));
        }
        if listing
            && st
                .faults
                .insert_at_page
                .as_ref()
                .is_some_and(|(at, _)| *at == offset)
        {
            if let Some((_, rec)) = st.faults.insert_at_page.take() {
                st.records.insert(0, rec);
            }
        }
        if st.faults.fail_searches && r.url.path().ends_with("/search") {
            return ResponseTemplate::new(500)
                .set_body_json(json!({"message": "search unavailable"}));
        }
        if listing
            && st
                .faults
                .delete_at_page
                .as_ref()
                .is_some_and(|(at, _)| *at == offset)
        {
            if let Some((_, id)) = st.faults.delete_at_page.take() {
                let f = self.vendor.id_field();
                st.records.retain(|x| x[f] != id.as_str());
                st.deleted.push((id, Utc::now()));
            }
        }
        let create = r.method.as_str() == "POST"
            && !is_search_or_token(r)
            && !r.url.path().contains("/cancel");
        let resp = match self.vendor {
            Vendor::HubSpot => hubspot(&mut st, r),
            Vendor::Salesforce => salesforce(&mut st, r, &self.uri),
            Vendor::Dynamics365 => dynamics(&mut st, r, &self.uri),
        };
        if create && st.faults.lose_create_answers > 0 {
            st.faults.lose_create_answers -= 1;
            return ResponseTemplate::new(504).set_body_json(json!({"message": "gateway timeout"}));
        }
        if create && st.faults.creates_without_id > 0 {
            st.faults.creates_without_id -= 1;
            return ResponseTemplate::new(201).set_body_json(json!({"status": "accepted"}));
        }
        match st.faults.list_delay {
            Some(d) if listing || r.url.path().ends_with("/search") => resp.set_delay(d),
            _ => resp,
        }
    }
}

fn page_of(list: &[Value], offset: usize) -> (Vec<Value>, Option<usize>) {
    let end = (offset + PAGE).min(list.len());
    let next = (end < list.len()).then_some(end);
    (list[offset.min(list.len())..end].to_vec(), next)
}

fn not_found() -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_json(json!({"message": "not found"}))
}

fn since_filter(records: &[Value], vendor: Vendor, since: DateTime<Utc>) -> Vec<Value> {
    let mut out: Vec<Value> = records
        .iter()
        .filter(|r| vendor.modified(r) > since)
        .cloned()
        .collect();
    out.sort_by_key(|r| vendor.modified(r));
    out
}

// ---- HubSpot CRM v3 ------------------------------------------------------------------------

fn hubspot(st: &mut CrmState, r: &Request) -> ResponseTemplate {
    if bearer(r) != format!("Bearer {HUBSPOT_TOKEN}") {
        return ResponseTemplate::new(401).set_body_json(
            json!({"status": "error", "message": "Authentication credentials not found.", "category": "INVALID_AUTHENTICATION"}),
        );
    }
    let path = r.url.path().to_string();
    let base = "/crm/v3/objects/meetings";
    let id = path
        .strip_prefix(&format!("{base}/"))
        .filter(|s| !s.contains('/'))
        .map(String::from);
    let m = r.method.as_str();
    match (m, path.as_str(), id) {
        // Meeting attendees (v4 associations batch read): this portal's meetings have none.
        ("POST", "/crm/v4/associations/meetings/contacts/batch/read", _) => {
            ResponseTemplate::new(200).set_body_json(json!({"status": "COMPLETE", "results": []}))
        }
        ("GET", p, None) if p == base => {
            if query(r, "archived").as_deref() == Some("true") {
                let results: Vec<Value> = st
                    .deleted
                    .iter()
                    .map(|(id, at)| {
                        let t = at.to_rfc3339_opts(SecondsFormat::Millis, true);
                        json!({"id": id, "properties": {"hs_object_id": id}, "createdAt": t, "updatedAt": t, "archived": true, "archivedAt": t})
                    })
                    .collect();
                return ResponseTemplate::new(200).set_body_json(json!({ "results": results }));
            }
            let offset = query(r, "after").and_then(|a| a.parse().ok()).unwrap_or(0);
            let (results, next) = page_of(&st.records, offset);
            let mut body = json!({ "results": results });
            if let Some(n) = next {
                body["paging"] = json!({"next": {"after": n.to_string(), "link": format!("https://api.hubapi.com{base}?after={n}")}});
            }
            ResponseTemplate::new(200).set_body_json(body)
        }
        ("POST", p, _) if p == format!("{base}/search") => {
            let b = json_body(r);
            let v = &b["filterGroups"][0]["filters"][0];
            let Some(ms) = v["value"]
                .as_str()
                .and_then(|s| s.parse::<i64>().ok())
                .or_else(|| v["value"].as_i64())
            else {
                return ResponseTemplate::new(400).set_body_json(json!({"status": "error", "message": format!("bad search body {b}"), "category": "VALIDATION_ERROR"}));
            };
            let since = DateTime::from_timestamp_millis(ms).unwrap();
            let results = since_filter(&st.records, Vendor::HubSpot, since);
            ResponseTemplate::new(200)
                .set_body_json(json!({"total": results.len(), "results": results}))
        }
        ("POST", p, _) if p == base => {
            let id = format!("99{:03}", st.next_id);
            st.next_id += 1;
            let mut rec = json!({"id": id, "properties": json_body(r)["properties"].clone(), "archived": false});
            rec["properties"]["hs_object_id"] = json!(id);
            Vendor::HubSpot.touch(&mut rec, Utc::now(), 0);
            rec["createdAt"] = rec["updatedAt"].clone();
            st.records.push(rec.clone());
            ResponseTemplate::new(201).set_body_json(rec)
        }
        ("GET", _, Some(id)) => match st.records.iter().find(|x| x["id"] == id) {
            Some(rec) => ResponseTemplate::new(200).set_body_json(rec),
            None => not_found(),
        },
        ("PATCH", _, Some(id)) => {
            let Some(rec) = st.records.iter_mut().find(|x| x["id"] == id) else {
                return not_found();
            };
            merge(&mut rec["properties"], &json_body(r)["properties"]);
            Vendor::HubSpot.touch(rec, Utc::now(), 0);
            ResponseTemplate::new(200).set_body_json(rec.clone())
        }
        ("DELETE", _, Some(id)) => {
            let before = st.records.len();
            st.records.retain(|x| x["id"] != id);
            if st.records.len() < before {
                st.deleted.push((id, Utc::now()));
            }
            ResponseTemplate::new(204)
        }
        _ => ResponseTemplate::new(404)
            .set_body_json(json!({"status": "error", "message": format!("no route {m} {path}")})),
    }
}

// ---- Salesforce REST -----------------------------------------------------------------------

fn sf_error(status: u16, code: &str, msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!([{"message": msg, "errorCode": code}]))
}

fn sf_query_page(list: &[Value], offset: usize) -> Value {
    let (records, next) = page_of(list, offset);
    let mut body = json!({"totalSize": list.len(), "done": next.is_none(), "records": records});
    if let Some(n) = next {
        body["nextRecordsUrl"] = json!(format!("{SF_API}/query/01gFAKE-{n}"));
    }
    body
}

fn salesforce(st: &mut CrmState, r: &Request, uri: &str) -> ResponseTemplate {
    let path = r.url.path().to_string();
    let m = r.method.as_str();
    if m == "POST" && path == "/services/oauth2/token" {
        let form: BTreeMap<String, String> = url_form(&r.body);
        if form.get("grant_type").map(String::as_str) != Some("refresh_token")
            || form.get("refresh_token").map(String::as_str) != Some(SF_REFRESH)
            || form.get("client_id").map(String::as_str) != Some(SF_CLIENT_ID)
        {
            return ResponseTemplate::new(400).set_body_json(
                json!({"error": "invalid_grant", "error_description": "expired access/refresh token"}),
            );
        }
        st.tokens_issued += 1;
        let mut t = fixture(Vendor::Salesforce, "token_1.json");
        t["instance_url"] = json!(uri);
        return ResponseTemplate::new(200).set_body_json(t);
    }
    let token = fixture(Vendor::Salesforce, "token_1.json")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    if bearer(r) != format!("Bearer {token}") {
        return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid");
    }
    let sobj = format!("{SF_API}/sobjects/Event");
    if m == "GET" && path == format!("{SF_API}/query") {
        let q = query(r, "q").unwrap_or_default();
        if let Some(rest) = q.split("WHERE Id = '").nth(1) {
            let id = rest.split('\'').next().unwrap_or("");
            let recs: Vec<Value> = st
                .records
                .iter()
                .filter(|x| x["Id"] == id)
                .cloned()
                .collect();
            return ResponseTemplate::new(200)
                .set_body_json(json!({"totalSize": recs.len(), "done": true, "records": recs}));
        }
        if let Some(rest) = q.split("SystemModstamp > ").nth(1) {
            let lit = rest.split_whitespace().next().unwrap_or("");
            let Some(since) = parse_time(lit) else {
                return sf_error(
                    400,
                    "MALFORMED_QUERY",
                    &format!("value of filter criterion for field 'SystemModstamp' must be of type dateTime: {lit}"),
                );
            };
            let recs = since_filter(&st.records, Vendor::Salesforce, since);
            return ResponseTemplate::new(200)
                .set_body_json(json!({"totalSize": recs.len(), "done": true, "records": recs}));
        }
        return ResponseTemplate::new(200).set_body_json(sf_query_page(&st.records, 0));
    }
    if m == "GET" {
        if let Some(n) = path.strip_prefix(&format!("{SF_API}/query/01gFAKE-")) {
            return ResponseTemplate::new(200)
                .set_body_json(sf_query_page(&st.records, n.parse().unwrap_or(0)));
        }
        if path == format!("{sobj}/deleted/") {
            let recs: Vec<Value> = st
                .deleted
                .iter()
                .map(|(id, at)| json!({"id": id, "deletedDate": at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()}))
                .collect();
            return ResponseTemplate::new(200).set_body_json(json!({"deletedRecords": recs}));
        }
    }
    if m == "POST" && path == sobj {
        let id = format!("00UKZ00000FAKE{:04}", st.next_id);
        st.next_id += 1;
        let mut rec = json_body(r);
        rec["Id"] = json!(id);
        rec["attributes"] = json!({"type": "Event", "url": format!("{sobj}/{id}")});
        rec["EventRelations"] = Value::Null;
        Vendor::Salesforce.touch(&mut rec, Utc::now(), 0);
        rec["CreatedDate"] = rec["SystemModstamp"].clone();
        st.records.push(rec);
        return ResponseTemplate::new(201)
            .set_body_json(json!({"id": id, "success": true, "errors": []}));
    }
    if let Some(id) = path.strip_prefix(&format!("{sobj}/")) {
        let id = id.to_string();
        match m {
            "PATCH" => {
                let Some(rec) = st.records.iter_mut().find(|x| x["Id"] == id) else {
                    return sf_error(404, "NOT_FOUND", "The requested resource does not exist");
                };
                merge(rec, &json_body(r));
                Vendor::Salesforce.touch(rec, Utc::now(), 0);
                return ResponseTemplate::new(204);
            }
            "DELETE" => {
                let before = st.records.len();
                st.records.retain(|x| x["Id"] != id);
                if st.records.len() == before {
                    return sf_error(404, "ENTITY_IS_DELETED", "entity is deleted");
                }
                st.deleted.push((id, Utc::now()));
                return ResponseTemplate::new(204);
            }
            _ => {}
        }
    }
    sf_error(404, "NOT_FOUND", &format!("no route {m} {path}"))
}

fn url_form(body: &[u8]) -> BTreeMap<String, String> {
    let text = String::from_utf8_lossy(body);
    reqwest::Url::parse(&format!("http://form/?{text}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

// ---- Dynamics 365 Web API ------------------------------------------------------------------

fn d365_error(status: u16, code: &str, msg: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"error": {"code": code, "message": msg}}))
}

fn dynamics(st: &mut CrmState, r: &Request, uri: &str) -> ResponseTemplate {
    let path = r.url.path().to_string();
    let m = r.method.as_str();
    if m == "POST" && path == format!("/{D365_TENANT}/oauth2/v2.0/token") {
        let form = url_form(&r.body);
        if form.get("grant_type").map(String::as_str) != Some("client_credentials")
            || form.get("client_secret").map(String::as_str) != Some("d365-secret")
        {
            return ResponseTemplate::new(401).set_body_json(
                json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."}),
            );
        }
        st.tokens_issued += 1;
        return ResponseTemplate::new(200)
            .set_body_json(fixture(Vendor::Dynamics365, "token_1.json"));
    }
    let token = fixture(Vendor::Dynamics365, "token_1.json")["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    if bearer(r) != format!("Bearer {token}") {
        return d365_error(
            401,
            "0x80072560",
            "The user is not a member of the organization.",
        );
    }
    let coll = format!("{D365_API}/appointments");
    let context = format!("{uri}{D365_API}/$metadata#appointments");
    if m == "GET" && path == coll {
        if let Some(f) = query(r, "$filter") {
            let lit = f.strip_prefix("modifiedon gt ").unwrap_or("");
            let Some(since) = parse_time(lit) else {
                return d365_error(400, "0x80060888", &format!("Syntax error in $filter: {f}"));
            };
            let recs = since_filter(&st.records, Vendor::Dynamics365, since);
            return ResponseTemplate::new(200)
                .set_body_json(json!({"@odata.context": context, "value": recs}));
        }
        let offset = query(r, "$skiptoken")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let (recs, next) = page_of(&st.records, offset);
        let mut body = json!({"@odata.context": context, "value": recs});
        if let Some(n) = next {
            body["@odata.nextLink"] = json!(format!("{uri}{coll}?$skiptoken={n}"));
        }
        return ResponseTemplate::new(200).set_body_json(body);
    }
    if m == "POST" && path == coll {
        st.next_id += 1;
        st.version += 1;
        let id = format!("7c1f0f3a-0d5e-ec11-8f8f-0022480fa{:03}", st.next_id);
        let mut rec = json_body(r);
        rec["activityid"] = json!(id);
        for k in ["statecode", "statuscode", "prioritycode"] {
            if rec.get(k).is_none() {
                rec[k] = json!(if k == "statecode" { 3 } else { 1 });
            }
        }
        rec["appointment_activity_parties"] = json!([]);
        let v = st.version;
        Vendor::Dynamics365.touch(&mut rec, Utc::now(), v);
        rec["createdon"] = rec["modifiedon"].clone();
        st.records.push(rec.clone());
        return ResponseTemplate::new(201).set_body_json(rec);
    }
    if let Some(id) = path
        .strip_prefix(&format!("{coll}("))
        .and_then(|s| s.strip_suffix(')'))
    {
        let id = id.to_string();
        st.version += 1;
        let v = st.version;
        let Some(rec) = st.records.iter_mut().find(|x| x["activityid"] == id) else {
            return d365_error(
                404,
                "0x80040217",
                &format!("appointment With Id = {id} Does Not Exist"),
            );
        };
        match m {
            "GET" => return ResponseTemplate::new(200).set_body_json(rec.clone()),
            "PATCH" => {
                let if_match = r
                    .headers
                    .get("if-match")
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("");
                if if_match != "*" && Some(if_match) != rec["@odata.etag"].as_str() {
                    return d365_error(412, "0x80060882", "The version of the existing record doesn't match the RowVersion property provided.");
                }
                merge(rec, &json_body(r));
                Vendor::Dynamics365.touch(rec, Utc::now(), v);
                return ResponseTemplate::new(204);
            }
            _ => {}
        }
    }
    d365_error(404, "0x80060888", &format!("no route {m} {path}"))
}

// ---- the gateway on the fake CRM ------------------------------------------------------------

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Writes crmdav.toml and tenants/firm.toml: one calendar collection `coll_id` on the
/// vendor's calendar entity, refreshed after `ttl` seconds.
pub fn write_config(dir: &Path, port: u16, vendor: Vendor, crm_uri: &str, coll_id: &str, ttl: u64) {
    std::fs::create_dir_all(dir.join("tenants")).unwrap();
    std::fs::write(
        dir.join("crmdav.toml"),
        format!(
            "listen = \"127.0.0.1:{port}\"\nstate = \"sqlite://state/crmdav.db\"\ntenants_dir = \"tenants\"\ndefault_tenant = \"{TENANT}\"\nhttp = {{ metrics_tenant_names = true }}\n"
        ),
    )
    .unwrap();
    let options: String = vendor
        .options(crm_uri)
        .iter()
        .map(|(k, v)| format!("{k} = {}\n", toml_str(v)))
        .collect();
    std::fs::write(
        dir.join(format!("tenants/{TENANT}.toml")),
        format!(
            r#"name = "{TENANT}"

[connector]
kind = "{kind}"

[connector.options]
{options}
[sync]
refresh_ttl_secs = {ttl}
full_scan_secs = 600

[[users]]
name = "{USER}"
password_hash = "{hash}"

[[collections]]
id = "{coll_id}"
kind = "calendar"
entity = "{entity}"
users = ["{USER}"]
"#,
            kind = vendor.kind(),
            entity = vendor.entity(),
            hash = hash_password(PASS),
        ),
    )
    .unwrap();
}

/// The gateway on `crm`, its config and state in `dir`, started.
pub fn start_gateway(dir: &Path, crm: &FakeCrm, coll_id: &str, ttl: u64) -> Phone {
    let port = free_port();
    write_config(dir, port, crm.vendor, &crm.uri(), coll_id, ttl);
    Phone::new(Gateway::new(dir, port).start())
}

/// The UID line of an item body.
pub fn uid_line(body: &str) -> String {
    body.lines()
        .find(|l| l.starts_with("UID:"))
        .unwrap_or_else(|| panic!("no UID in {body}"))
        .to_string()
}
