//! Per-operation body templates: an endpoint's `body` with placeholders (`{record}`, `{id}`,
//! `{version}`, `{since}`, paging, `{session}`), for RPC-style APIs where every operation is
//! a POST to one endpoint and the method, the id and the record travel in the body.
//!
//! A string that is exactly one placeholder becomes the placeholder's typed value (an integer
//! id stays an integer, the record stays an object); inside a longer string a placeholder is
//! replaced as text. An object member or array element that is exactly a placeholder without
//! a value is left out. `{session}` is filled per attempt at send time (a re-login changes it),
//! so it survives [`fill`].

use super::def::{ConnectorDef, DeleteDef, Endpoint, EntityDef, ModifiedSinceDef};
use super::RestConnector;
use crate::connector::ConnectorError;
use serde::Deserialize;
use serde_json::Value;

/// The JSON type an id or version takes in a body template.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum IdType {
    /// A JSON string (the default).
    #[default]
    String,
    /// A JSON integer (Odoo and most SQL-backed RPC APIs).
    Integer,
}

impl IdType {
    /// `raw` as this JSON type; `None` when an integer id is not a number (no such record
    /// can exist).
    pub fn value(self, raw: &str) -> Option<Value> {
        match self {
            IdType::String => Some(Value::String(raw.to_string())),
            IdType::Integer => raw.trim().parse::<i64>().ok().map(Value::from),
        }
    }
}

/// The values one request's template can take; `None` = no value (the member is left out).
#[derive(Debug, Default)]
pub(super) struct Vars<'a> {
    pub(super) record: Option<&'a Value>,
    pub(super) id: Option<Value>,
    pub(super) version: Option<Value>,
    pub(super) since: Option<String>,
    /// `(query name, value, placeholder)` triples of the page's place (see `paging`).
    pub(super) paging: &'a [(String, String, &'static str)],
}

/// The placeholder filled at send time, from the login session.
pub(super) const SESSION: &str = "{session}";

/// Placeholders that a template may hold without a value for this request.
const DROPPABLE: [&str; 9] = [
    "{record}",
    "{id}",
    "{version}",
    "{since}",
    "{limit}",
    "{offset}",
    "{page}",
    "{cursor}",
    "{session}",
];

impl Vars<'_> {
    /// The typed value of `placeholder`; `Ok(None)` when it has none here, `Err` when it is
    /// not one of ours (kept as text).
    fn typed(&self, placeholder: &str, used: &mut Vec<&'static str>) -> Result<Option<Value>, ()> {
        Ok(match placeholder {
            "{record}" => self.record.cloned(),
            "{id}" => self.id.clone(),
            "{version}" => self.version.clone(),
            "{since}" => self.since.clone().map(Value::String),
            _ => {
                if let Some((_, v, ph)) = self.paging.iter().find(|(_, _, ph)| *ph == placeholder) {
                    used.push(ph);
                    return Ok(Some(
                        v.parse::<u64>()
                            .map(Value::from)
                            .unwrap_or_else(|_| Value::String(v.clone())),
                    ));
                }
                if DROPPABLE.contains(&placeholder) {
                    return Ok(None);
                }
                return Err(());
            }
        })
    }

    /// `s` with every placeholder that has a value replaced as text.
    fn text(&self, s: &str, used: &mut Vec<&'static str>) -> String {
        let mut out = s.to_string();
        for ph in DROPPABLE {
            if ph == SESSION || !out.contains(ph) {
                continue;
            }
            if let Ok(Some(v)) = self.typed(ph, used) {
                let t = match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                out = out.replace(ph, &t);
            }
        }
        out
    }
}

/// Fill `template`; `used` collects the paging placeholders the body took (they then stay
/// out of the query string).
pub(super) fn fill(template: &Value, vars: &Vars<'_>, used: &mut Vec<&'static str>) -> Value {
    fill_opt(template, vars, used).unwrap_or(Value::Null)
}

/// `None`: a bare placeholder without a value (its member or element is left out).
fn fill_opt(v: &Value, vars: &Vars<'_>, used: &mut Vec<&'static str>) -> Option<Value> {
    match v {
        Value::String(s) if s == SESSION => Some(v.clone()),
        Value::String(s) => match vars.typed(s, used) {
            Ok(value) => value,
            Err(()) => Some(Value::String(vars.text(s, used))),
        },
        Value::Array(a) => Some(Value::Array(
            a.iter().filter_map(|x| fill_opt(x, vars, used)).collect(),
        )),
        Value::Object(o) => Some(Value::Object(
            o.iter()
                .filter_map(|(k, x)| fill_opt(x, vars, used).map(|x| (k.clone(), x)))
                .collect(),
        )),
        other => Some(other.clone()),
    }
}

/// Put the session into a body at send time: a bare `"{session}"` becomes the session value
/// (an integer uid stays an integer), inside a longer string its text.
pub(super) fn put_session(v: &mut Value, session: &Value) {
    match v {
        Value::String(s) if s == SESSION => *v = session.clone(),
        Value::String(s) if s.contains(SESSION) => {
            let text = match session {
                Value::String(t) => t.clone(),
                other => other.to_string(),
            };
            *s = s.replace(SESSION, &text);
        }
        Value::Array(a) => a.iter_mut().for_each(|x| put_session(x, session)),
        Value::Object(o) => o.values_mut().for_each(|x| put_session(x, session)),
        _ => {}
    }
}

/// Every string exactly `placeholder` inside `v` becomes `value`.
fn replace_bare(v: &mut Value, placeholder: &str, value: &Value) {
    match v {
        Value::String(s) if s == placeholder => *v = value.clone(),
        Value::Array(a) => a
            .iter_mut()
            .for_each(|x| replace_bare(x, placeholder, value)),
        Value::Object(o) => o
            .values_mut()
            .for_each(|x| replace_bare(x, placeholder, value)),
        _ => {}
    }
}

/// Whether a body still waits for a session.
pub(super) fn wants_session(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains(SESSION),
        Value::Array(a) => a.iter().any(wants_session),
        Value::Object(o) => o.values().any(wants_session),
        _ => false,
    }
}

/// The first entity of `def` whose body templates place `{session}`, if any.
pub(super) fn entity_wanting_session(def: &ConnectorDef) -> Option<&str> {
    def.entities.iter().find_map(|(name, e)| {
        let since_body = match &e.modified_since {
            Some(ModifiedSinceDef::Body { body, .. }) => Some(body),
            _ => None,
        };
        let delete_body = match &e.delete {
            DeleteDef::Delete { body, .. } | DeleteDef::StatusChange { body, .. } => body.as_ref(),
            DeleteDef::Forbidden => None,
        };
        [
            Some(&e.list),
            e.get.as_ref(),
            e.create.as_ref(),
            e.update.as_ref(),
        ]
        .into_iter()
        .flatten()
        .filter_map(|ep| ep.body.as_ref())
        .chain(since_body)
        .chain(delete_body)
        .any(wants_session)
        .then_some(name.as_str())
    })
}

impl RestConnector {
    /// A modified-since body with `format = "values"`: every bare `"{since}"` replaced by the
    /// time in the definition's `[values] dates` encoding (a typed date object). `None` for
    /// other formats or without `dates`.
    pub(super) fn typed_since(
        &self,
        body: &Value,
        format: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Option<Value> {
        if format != "values" {
            return None;
        }
        let encoded = self.def.values.encode_datetime(since, self.tz)?;
        let mut out = body.clone();
        replace_bare(&mut out, "{since}", &encoded);
        Some(out)
    }

    /// `{id}` typed per the entity's `id_type`; an integer-typed id that is not a number
    /// names no record (`NotFound`).
    pub(super) fn typed_id(&self, e: &EntityDef, id: &str) -> Result<Value, ConnectorError> {
        e.id_type.value(id).ok_or_else(|| ConnectorError::NotFound {
            message: "an id of that form cannot exist in this CRM".into(),
        })
    }

    /// The body of a get, update, delete or create: the endpoint's template filled with the
    /// id, the version and the record (`record`: the mapped record with constants and
    /// `body_wrap`); without a template the record itself (or nothing).
    pub(super) fn op_body(
        &self,
        e: &EntityDef,
        template: Option<&Value>,
        id: Option<&str>,
        version: Option<&str>,
        record: Option<Value>,
    ) -> Result<Option<Value>, ConnectorError> {
        let Some(t) = template else {
            return Ok(record);
        };
        let id = id.map(|i| self.typed_id(e, i)).transpose()?;
        let version = version.and_then(|v| e.version_type.value(v));
        let vars = Vars {
            record: record.as_ref(),
            id,
            version,
            ..Vars::default()
        };
        Ok(Some(fill(t, &vars, &mut Vec::new())))
    }

    /// A create or update body: the mapped record (constants merged, wrapped), placed in the
    /// endpoint's template when it has one.
    pub(super) fn write_request_body(
        &self,
        e: &EntityDef,
        ep: &Endpoint,
        data: &Value,
        id: Option<&str>,
        version: Option<&str>,
    ) -> Result<Value, ConnectorError> {
        let record = self.write_body(e, ep, data);
        Ok(self
            .op_body(e, ep.body.as_ref(), id, version, Some(record))?
            .unwrap_or(Value::Null))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_alone_are_typed_and_unset_ones_left_out() {
        let t = json!({
            "params": {"args": ["db", "{session}", "pw", "m", "write", [["{id}"], "{record}"]],
                       "kwargs": {"context": {"v": "{version}"}}},
            "note": "id {id} in text", "limit": "{limit}", "after": "{cursor}"
        });
        let rec = json!({"name": "x"});
        let paging = [("limit".to_string(), "50".to_string(), "{limit}")];
        let vars = Vars {
            record: Some(&rec),
            id: IdType::Integer.value("42"),
            paging: &paging,
            ..Vars::default()
        };
        let mut used = Vec::new();
        let out = fill(&t, &vars, &mut used);
        assert_eq!(
            out,
            json!({
                "params": {"args": ["db", "{session}", "pw", "m", "write", [[42], {"name": "x"}]],
                           "kwargs": {"context": {}}},
                "note": "id 42 in text", "limit": 50
            })
        );
        assert_eq!(used, vec!["{limit}"]);
        let mut sent = out.clone();
        put_session(&mut sent, &json!(7));
        assert_eq!(sent["params"]["args"][1], json!(7));
        assert!(wants_session(&out) && !wants_session(&sent));
    }

    #[test]
    fn id_types() {
        assert_eq!(IdType::Integer.value("12"), Some(json!(12)));
        assert_eq!(IdType::Integer.value("12a"), None);
        assert_eq!(IdType::String.value("12"), Some(json!("12")));
    }
}
