//! A simulated Odoo 17 external API on wiremock, in the shapes of Odoo's documentation
//! (https://www.odoo.com/documentation/17.0/developer/reference/external_api.html): one
//! `POST /jsonrpc` endpoint; `common.login(db, login, password)` answers the uid or `false`;
//! `object.execute_kw(db, uid, password, model, method, args, kwargs)` with `search_read`
//! (domain, fields, limit, offset, order), `create` (answers the new id), `write` and `unlink`
//! (answer `true`); empty fields are `false`, date-times naive UTC `"%Y-%m-%d %H:%M:%S"`;
//! errors are `{"error": {"code": 200, "message": "Odoo Server Error", "data": {"name":
//! "odoo.exceptions.…", "message": …}}}` inside an HTTP 200.
//!
//! Shared by the contract tests and the gateway-level test (tests/crm/odoo_dav.rs includes it
//! by path), so it uses nothing but wiremock, serde_json and chrono.

use chrono::{Duration, NaiveDate, NaiveDateTime};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

pub const DB: &str = "firm";
pub const LOGIN: &str = "admin@firm.example";
pub const PASSWORD: &str = "odoo-api-key-5f1c";
pub const UID: i64 = 2;

/// The fields every model's records carry (`false` when unset).
fn model_fields(model: &str) -> &'static [&'static str] {
    match model {
        "calendar.event" => &[
            "name",
            "start",
            "stop",
            "allday",
            "description",
            "location",
            "show_as",
            "user_id",
        ],
        "project.task" => &[
            "name",
            "description",
            "date_deadline",
            "state",
            "priority",
            "project_id",
        ],
        _ => &[
            "name",
            "email",
            "phone",
            "mobile",
            "street",
            "street2",
            "city",
            "zip",
            "function",
            "website",
            "comment",
            "commercial_company_name",
            "is_company",
        ],
    }
}

/// What the simulated Odoo holds.
pub struct State {
    /// Records by model, then id.
    pub models: BTreeMap<String, BTreeMap<i64, Map<String, Value>>>,
    next_id: i64,
    clock: NaiveDateTime,
    /// Successful and refused `common.login` calls.
    pub logins: u64,
    /// Answer the next this many `execute_kw` calls with AccessDenied (a revoked key, a
    /// session the server dropped).
    pub deny_next: u32,
    /// Answer the next `execute_kw` calls with these errors (exception name, message).
    pub fail_next: Vec<(String, String)>,
}

impl State {
    fn tick(&mut self) -> String {
        self.clock += Duration::minutes(1);
        self.clock.format("%Y-%m-%d %H:%M:%S").to_string()
    }

    /// Insert a record as Odoo would store it; returns its id.
    pub fn insert(&mut self, model: &str, vals: Value) -> i64 {
        let id = self.next_id;
        self.next_id += 1;
        let now = self.tick();
        let mut rec = Map::new();
        for f in model_fields(model) {
            rec.insert(f.to_string(), Value::Bool(false));
        }
        if let Value::Object(v) = vals {
            rec.extend(v);
        }
        rec.insert("id".into(), id.into());
        rec.insert("create_date".into(), now.clone().into());
        rec.insert("write_date".into(), now.into());
        self.models.entry(model.into()).or_default().insert(id, rec);
        id
    }
}

/// The server and its state.
pub struct FakeOdoo {
    pub server: MockServer,
    pub state: Arc<Mutex<State>>,
}

impl FakeOdoo {
    /// Start with one event, one task and two people (and a company) in the database.
    pub async fn start() -> FakeOdoo {
        let mut st = State {
            models: BTreeMap::new(),
            next_id: 7,
            clock: NaiveDate::from_ymd_opt(2026, 12, 1)
                .and_then(|d| d.and_hms_opt(8, 0, 0))
                .expect("a valid date"),
            logins: 0,
            deny_next: 0,
            fail_next: Vec::new(),
        };
        st.insert(
            "calendar.event",
            json!({"name": "Board meeting", "start": "2026-12-07 09:00:00",
                   "stop": "2026-12-07 10:30:00", "location": "Room 4", "show_as": "busy",
                   "user_id": [UID, "Mitchell Admin"]}),
        );
        st.insert(
            "project.task",
            json!({"name": "Send the offer", "date_deadline": "2026-12-10 16:00:00",
                   "state": "01_in_progress", "priority": "1", "project_id": [1, "Sales"]}),
        );
        st.insert(
            "res.partner",
            json!({"name": "Acme GmbH", "is_company": true}),
        );
        st.insert(
            "res.partner",
            json!({"name": "Zoë Brandt", "email": "zoe@acme.example", "phone": "+49 30 1234",
                   "street": "Hauptstraße 5", "city": "Berlin", "zip": "10115",
                   "function": "Buyer", "commercial_company_name": "Acme GmbH"}),
        );
        let state = Arc::new(Mutex::new(st));
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .and(path("/jsonrpc"))
            .respond_with(Rpc(state.clone()))
            .mount(&server)
            .await;
        FakeOdoo { server, state }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The JSON bodies of every request so far.
    pub async fn bodies(&self) -> Vec<Value> {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap_or(Value::Null))
            .collect()
    }

    /// One record as stored.
    pub fn record(&self, model: &str, id: i64) -> Option<Map<String, Value>> {
        let st = self.state.lock().unwrap();
        st.models.get(model).and_then(|m| m.get(&id)).cloned()
    }
}

struct Rpc(Arc<Mutex<State>>);

fn answer(id: &Value, result: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"jsonrpc": "2.0", "id": id, "result": result}))
}

/// An Odoo server error, as `odoo.http` serialises an exception (`name` without a module is
/// one of `odoo.exceptions`).
pub fn odoo_error(id: &Value, name: &str, message: &str) -> ResponseTemplate {
    let name = if name.contains('.') {
        name.to_string()
    } else {
        format!("odoo.exceptions.{name}")
    };
    ResponseTemplate::new(200).set_body_json(json!({
        "jsonrpc": "2.0", "id": id,
        "error": {"code": 200, "message": "Odoo Server Error",
                  "data": {"name": name, "debug": "Traceback (most recent call last): …",
                           "message": message, "arguments": [message], "context": {}}}
    }))
}

/// Whether `rec` satisfies a search domain (implicit AND of `[field, op, value]` triples).
fn matches(rec: &Map<String, Value>, domain: &Value) -> bool {
    domain.as_array().into_iter().flatten().all(|cond| {
        let (Some(f), Some(op), Some(want)) = (
            cond.get(0).and_then(Value::as_str),
            cond.get(1).and_then(Value::as_str),
            cond.get(2),
        ) else {
            return true;
        };
        let have = rec.get(f).unwrap_or(&Value::Bool(false));
        match op {
            "=" => have == want,
            ">" => match (have.as_str(), want.as_str()) {
                (Some(a), Some(b)) => a > b,
                _ => have.as_i64().zip(want.as_i64()).is_some_and(|(a, b)| a > b),
            },
            _ => false,
        }
    })
}

impl Respond for Rpc {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
            return ResponseTemplate::new(400);
        };
        let id = body.get("id").cloned().unwrap_or(Value::Null);
        let params = &body["params"];
        let args = params["args"].as_array().cloned().unwrap_or_default();
        let mut st = self.0.lock().unwrap();
        match (params["service"].as_str(), params["method"].as_str()) {
            (Some("common"), Some("login")) => {
                st.logins += 1;
                let ok = args == [json!(DB), json!(LOGIN), json!(PASSWORD)];
                answer(&id, if ok { json!(UID) } else { json!(false) })
            }
            (Some("object"), Some("execute_kw")) => {
                if args.first() != Some(&json!(DB))
                    || args.get(1) != Some(&json!(UID))
                    || args.get(2) != Some(&json!(PASSWORD))
                {
                    return odoo_error(&id, "AccessDenied", "Access Denied");
                }
                if st.deny_next > 0 {
                    st.deny_next -= 1;
                    return odoo_error(&id, "AccessDenied", "Access Denied");
                }
                if !st.fail_next.is_empty() {
                    let (name, message) = st.fail_next.remove(0);
                    return odoo_error(&id, &name, &message);
                }
                let model = args.get(3).and_then(Value::as_str).unwrap_or("").to_string();
                let method = args.get(4).and_then(Value::as_str).unwrap_or("");
                let pos = args.get(5).cloned().unwrap_or(json!([]));
                let kw = args.get(6).cloned().unwrap_or(json!({}));
                self.execute(&mut st, &id, &model, method, &pos, &kw)
            }
            _ => ResponseTemplate::new(200).set_body_json(json!({
                "jsonrpc": "2.0", "id": id,
                "error": {"code": 404, "message": "404: Not Found",
                          "data": {"name": "werkzeug.exceptions.NotFound", "message": "no such service"}}
            })),
        }
    }
}

impl Rpc {
    fn execute(
        &self,
        st: &mut State,
        id: &Value,
        model: &str,
        method: &str,
        pos: &Value,
        kw: &Value,
    ) -> ResponseTemplate {
        let ids =
            |v: &Value| -> Option<Vec<i64>> { v.as_array()?.iter().map(Value::as_i64).collect() };
        let missing =
            "Record does not exist or has been deleted.\n(Record: calendar.event(99,), User: 2)";
        match method {
            "search_read" => {
                let domain = &pos[0];
                let fields: Vec<String> = kw["fields"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|f| f.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                let mut recs: Vec<&Map<String, Value>> = st
                    .models
                    .get(model)
                    .map(|m| m.values().filter(|r| matches(r, domain)).collect())
                    .unwrap_or_default();
                if kw["order"] == "write_date" {
                    recs.sort_by_key(|r| r["write_date"].as_str().unwrap_or("").to_string());
                }
                let offset = kw["offset"].as_u64().unwrap_or(0) as usize;
                let limit = kw["limit"]
                    .as_u64()
                    .map(|l| l as usize)
                    .unwrap_or(usize::MAX);
                let out: Vec<Value> = recs
                    .into_iter()
                    .skip(offset)
                    .take(limit)
                    .map(|r| {
                        let mut o = Map::new();
                        o.insert("id".into(), r["id"].clone());
                        for f in &fields {
                            o.insert(f.clone(), r.get(f).cloned().unwrap_or(Value::Bool(false)));
                        }
                        Value::Object(o)
                    })
                    .collect();
                answer(id, Value::Array(out))
            }
            "create" => {
                let vals = pos[0].clone();
                if let Some(e) = validate(model, &vals, None) {
                    return odoo_error(id, "ValidationError", &e);
                }
                let new = st.insert(model, vals);
                answer(id, json!(new))
            }
            "write" => {
                let (Some(ids), Some(vals)) = (ids(&pos[0]), pos[1].as_object().cloned()) else {
                    return odoo_error(id, "ValidationError", "write expects [ids] and a dict");
                };
                let now = st.tick();
                let Some(m) = st.models.get_mut(model) else {
                    return odoo_error(id, "MissingError", missing);
                };
                if ids.iter().any(|i| !m.contains_key(i)) {
                    return odoo_error(id, "MissingError", missing);
                }
                for i in &ids {
                    if let Some(e) = validate(model, &Value::Object(vals.clone()), m.get(i)) {
                        return odoo_error(id, "ValidationError", &e);
                    }
                }
                for i in ids {
                    if let Some(r) = m.get_mut(&i) {
                        r.extend(vals.clone());
                        r.insert("write_date".into(), now.clone().into());
                    }
                }
                answer(id, json!(true))
            }
            "unlink" => {
                let Some(ids) = ids(&pos[0]) else {
                    return odoo_error(id, "ValidationError", "unlink expects [ids]");
                };
                let m = st.models.entry(model.into()).or_default();
                if ids.iter().any(|i| !m.contains_key(i)) {
                    return odoo_error(id, "MissingError", missing);
                }
                for i in ids {
                    m.remove(&i);
                }
                answer(id, json!(true))
            }
            other => odoo_error(
                id,
                "UserError",
                &format!("The method '{other}' does not exist on the model '{model}'"),
            ),
        }
    }
}

/// Odoo's own checks: an event ends after it starts; dates are Odoo strings.
fn validate(model: &str, vals: &Value, before: Option<&Map<String, Value>>) -> Option<String> {
    let get = |k: &str| {
        vals.get(k)
            .or_else(|| before.and_then(|b| b.get(k)))
            .and_then(Value::as_str)
            .map(String::from)
    };
    for k in ["start", "stop", "date_deadline"] {
        if let Some(v) = vals.get(k).and_then(Value::as_str) {
            if NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S").is_err() {
                return Some(format!("'{v}' does not match format '%Y-%m-%d %H:%M:%S'"));
            }
        }
    }
    if model == "calendar.event" {
        if let (Some(a), Some(b)) = (get("start"), get("stop")) {
            if b < a {
                return Some(
                    "The ending date and time cannot be earlier than the starting date and time."
                        .into(),
                );
            }
        }
    }
    None
}
