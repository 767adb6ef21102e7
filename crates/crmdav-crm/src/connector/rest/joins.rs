//! Per-page joins (`[[entities.<name>.joins]]`): one request per listed page (per `max_ids`
//! records) that answers, for each listed record, the ids of records related to it, put into
//! the record at `into`. HubSpot keeps meeting attendees as associations to contacts, read with
//! the v4 associations batch read; a relation then turns those contact ids into e-mails.
//!
//! A full listing asks for every record. An incremental one (modified since) reuses what was
//! answered for a record whose row has not changed since (the overlap of modified-since
//! listings re-lists the latest records every time), so an idle sync costs no join request.

use super::def::EntityDef;
use super::transport::parse_method;
use super::{jsonpath, RestConnector};
use crate::connector::{ConnectorError, Page};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

/// Which join (its index) about which listed record.
type JoinKey = (usize, String);

/// The related ids last answered per (join, record id), with the row they were asked for.
#[derive(Debug, Default)]
pub(super) struct JoinCache {
    map: Mutex<HashMap<JoinKey, (u64, Vec<Value>)>>,
}

const LIMIT: usize = 100_000;

fn row_print(v: &Value) -> u64 {
    let mut h = DefaultHasher::new();
    serde_json::to_string(v).unwrap_or_default().hash(&mut h);
    h.finish()
}

/// The placeholder in a join body that becomes the page's ids.
const IDS: &str = "{ids}";
/// The placeholder in `id_item` that becomes one id.
const ID: &str = "{id}";

/// One per-page join.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinDef {
    /// Request method (default `POST`).
    #[serde(default = "post")]
    pub method: String,
    /// Request path, relative to `base_url`.
    pub path: String,
    /// Fixed query parameters.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Request body; a string that is exactly `{ids}` becomes the array of the page's ids,
    /// each written as `id_item`.
    pub body: Value,
    /// One id in that array; a string that is exactly `{id}` is the id (default: the id alone).
    #[serde(default = "plain_id")]
    pub id_item: Value,
    /// The array of results in the answer.
    pub results_path: String,
    /// In one result: the id of the listed record it is about.
    pub from_path: String,
    /// In one result: the related ids (`to[].toObjectId`).
    pub to_path: String,
    /// Where the related ids go in each listed record (an array, empty when none).
    pub into: String,
    /// Ids per request (the CRM's batch limit); a longer page takes several requests.
    #[serde(default = "default_max_ids")]
    pub max_ids: usize,
}

fn post() -> String {
    "POST".into()
}
fn plain_id() -> Value {
    Value::String(ID.into())
}
fn default_max_ids() -> usize {
    100
}

impl JoinDef {
    /// Check paths and method (definition validation).
    pub(super) fn check(&self) -> Result<(), String> {
        for p in [
            &self.results_path,
            &self.from_path,
            &self.to_path,
            &self.into,
        ] {
            jsonpath::parse(p)?;
        }
        if self.path.contains("://") {
            return Err("endpoint paths are relative to base_url".into());
        }
        if self.max_ids == 0 {
            return Err("max_ids must be at least 1".into());
        }
        reqwest::Method::from_bytes(self.method.as_bytes())
            .map(|_| ())
            .map_err(|_| format!("bad method {:?}", self.method))
    }
}

/// `template` with `{ids}` (exactly) replaced by the ids, each as `item` with `{id}` filled.
fn fill(template: &Value, item: &Value, ids: &[String]) -> Value {
    match template {
        Value::String(s) if s == IDS => Value::Array(
            ids.iter()
                .map(|id| fill_id(item, id))
                .collect::<Vec<Value>>(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, item, ids)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), fill(x, item, ids)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn fill_id(item: &Value, id: &str) -> Value {
    match item {
        Value::String(s) if s == ID => Value::String(id.to_string()),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill_id(x, id)).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, x)| (k.clone(), fill_id(x, id))).collect())
        }
        other => other.clone(),
    }
}

impl RestConnector {
    /// Run the entity's joins for one page and put the related ids into its records; with
    /// `reuse` (an incremental listing), unchanged rows take the last answer.
    pub(super) async fn joins_in_page(
        &self,
        e: &EntityDef,
        mut page: Page,
        reuse: bool,
    ) -> Result<Page, ConnectorError> {
        if page.records.is_empty() {
            return Ok(page);
        }
        let prints: Vec<u64> = page.records.iter().map(|r| row_print(&r.data)).collect();
        for (ji, j) in e.joins.iter().enumerate() {
            let mut related: HashMap<String, Vec<Value>> = HashMap::new();
            if reuse {
                let cache = self
                    .join_cache
                    .map
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                for (r, print) in page.records.iter().zip(&prints) {
                    if let Some((p, ids)) = cache.get(&(ji, r.id.clone())) {
                        if p == print {
                            related.insert(r.id.clone(), ids.clone());
                        }
                    }
                }
            }
            let ids: Vec<String> = page
                .records
                .iter()
                .filter(|r| !related.contains_key(&r.id))
                .map(|r| r.id.clone())
                .collect();
            let mut answered: HashMap<String, Vec<Value>> =
                ids.iter().map(|id| (id.clone(), Vec::new())).collect();
            for chunk in ids.chunks(j.max_ids) {
                let mut url = self.url_for(&j.path, None)?;
                if !j.query.is_empty() {
                    url.query_pairs_mut().extend_pairs(j.query.iter());
                }
                let req = super::transport::Req {
                    method: parse_method(&j.method)?,
                    url,
                    body: Some(fill(&j.body, &j.id_item, chunk)),
                    headers: Vec::new(),
                    // A read, whatever its method: safe to repeat.
                    idempotent: true,
                };
                let resp = self.execute(&req).await?;
                let body = self.check(&resp)?;
                let results = jsonpath::get(&body, &j.results_path)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let to = jsonpath::parse(&j.to_path).map_err(|m| ConnectorError::Protocol {
                    message: format!("join to_path: {m}"),
                })?;
                for r in results {
                    let Some(from) =
                        jsonpath::get(&r, &j.from_path).and_then(jsonpath::scalar_string)
                    else {
                        continue;
                    };
                    let slot = answered.entry(from).or_default();
                    for v in jsonpath::get_all(&r, &to) {
                        if !slot.contains(v) {
                            slot.push(v.clone());
                        }
                    }
                }
            }
            {
                let mut cache = self
                    .join_cache
                    .map
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if cache.len() >= LIMIT {
                    cache.clear();
                }
                for (r, print) in page.records.iter().zip(&prints) {
                    if let Some(ids) = answered.get(&r.id) {
                        cache.insert((ji, r.id.clone()), (*print, ids.clone()));
                    }
                }
            }
            related.extend(answered);
            let into = jsonpath::parse(&j.into).map_err(|m| ConnectorError::Protocol {
                message: format!("join into: {m}"),
            })?;
            for rec in &mut page.records {
                let ids = related.remove(&rec.id).unwrap_or_default();
                let _ = jsonpath::set(&mut rec.data, &into, Value::Array(ids));
            }
        }
        Ok(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_fill_the_body() {
        let body = json!({"inputs": "{ids}", "keep": "{ids}x"});
        let out = fill(&body, &json!({"id": "{id}"}), &["1".into(), "2".into()]);
        assert_eq!(
            out,
            json!({"inputs": [{"id": "1"}, {"id": "2"}], "keep": "{ids}x"})
        );
        assert_eq!(
            fill(&json!({"ids": "{ids}"}), &plain_id(), &["7".into()]),
            json!({"ids": ["7"]})
        );
    }
}
