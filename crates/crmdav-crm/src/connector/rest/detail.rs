//! Detail fetch (`[entities.<name>.detail]`): list rows that carry fewer fields than the
//! single record (no description, no links) are completed from the single-record endpoint.
//!
//! Only rows that are new or changed cost a request: the connector remembers, per record, what
//! the row looked like (a hash of the whole row, or its modified stamp) and the completed
//! record; a row that still looks the same is completed from that memory. The sync layer asks
//! only for the rows it has to render (it skips rows whose hash it already stored), so after a
//! restart unchanged rows cost nothing either. Requests run `max_concurrency` at a time (and
//! under the connector's own `max_concurrency`), each one counted like every call.

use super::decode::record_slot_empty;
use super::def::{Endpoint, EntityDef};
use super::{jsonpath, RestConnector};
use crate::connector::{ConnectorError, Record};
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Mutex;

/// How a listed row is completed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetailDef {
    /// The single-record request (`{id}` is the row's id); default the entity's `get`.
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    /// The record inside its answer; default the entity's `record_path`.
    #[serde(default)]
    pub record_path: Option<String>,
    /// Detail requests in flight at once (the connector's `max_concurrency` bounds them too).
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// What tells that a row changed: `row` (a hash of the whole row, the default) or
    /// `modified` (the row's `modified_field` stamp; a row without one counts as changed).
    #[serde(default)]
    pub changed_by: ChangedBy,
}

fn default_concurrency() -> usize {
    4
}

/// What tells that a listed row changed since it was last completed.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ChangedBy {
    /// Any change of the row's JSON.
    #[default]
    Row,
    /// A new modified stamp.
    Modified,
}

/// The completed records of the rows seen last, by (entity, id): the row's fingerprint and the
/// whole record. Bounded: past `LIMIT` entries it starts over.
#[derive(Debug, Default)]
pub(super) struct DetailCache {
    map: Mutex<HashMap<(String, String), (u64, Record)>>,
}

const LIMIT: usize = 100_000;

impl DetailCache {
    fn get(&self, entity: &str, id: &str, print: u64) -> Option<Record> {
        let m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&(entity.to_string(), id.to_string()))
            .filter(|(p, _)| *p == print)
            .map(|(_, r)| r.clone())
    }

    fn put(&self, entity: &str, id: &str, print: u64, r: &Record) {
        let mut m = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= LIMIT {
            m.clear();
        }
        m.insert((entity.to_string(), id.to_string()), (print, r.clone()));
    }
}

/// What a row looks like, for telling whether it changed.
fn fingerprint(d: &DetailDef, row: &Record) -> u64 {
    let mut h = DefaultHasher::new();
    match (d.changed_by, row.modified) {
        (ChangedBy::Modified, Some(m)) => m.timestamp_millis().hash(&mut h),
        _ => serde_json::to_string(&row.data)
            .unwrap_or_default()
            .hash(&mut h),
    }
    h.finish()
}

/// The row with the detail laid over it (the detail wins; members only the row has stay).
fn merged(row: &Value, detail: Value) -> Value {
    match (row, detail) {
        (Value::Object(r), Value::Object(mut d)) => {
            for (k, v) in r {
                d.entry(k.clone()).or_insert_with(|| v.clone());
            }
            Value::Object(d)
        }
        (_, d) => d,
    }
}

impl RestConnector {
    /// Complete listed `rows` of `entity` (`Connector::complete`): with a `detail` declaration,
    /// each new or changed row is replaced by its single record (merged over the row); a row
    /// whose record is gone by now (404) is left out. Without one, the rows as they are.
    pub(super) async fn complete_rows(
        &self,
        entity: &str,
        rows: Vec<Record>,
    ) -> Result<Vec<Record>, ConnectorError> {
        let e = self.entity(entity)?;
        let Some(d) = &e.detail else {
            return Ok(rows);
        };
        let ep =
            d.endpoint
                .as_ref()
                .or(e.get.as_ref())
                .ok_or_else(|| ConnectorError::Protocol {
                    message: format!("{entity}.detail has no endpoint and the entity no get"),
                })?;
        let record_path = d.record_path.as_deref().unwrap_or(&e.record_path);
        let fetches = rows.into_iter().map(|row| async move {
            let print = fingerprint(d, &row);
            if let Some(hit) = self.details.get(entity, &row.id, print) {
                return Ok(Some(hit));
            }
            let full = self.detail_of(e, ep, record_path, &row).await?;
            if let Some(r) = &full {
                self.details.put(entity, &row.id, print, r);
            }
            Ok::<_, ConnectorError>(full)
        });
        let done: Vec<Result<Option<Record>, ConnectorError>> = stream::iter(fetches)
            .buffered(d.max_concurrency.max(1))
            .collect()
            .await;
        let mut out = Vec::with_capacity(done.len());
        for r in done {
            if let Some(rec) = r? {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// One row's single record, merged over the row; `None` when the CRM no longer has it.
    async fn detail_of(
        &self,
        e: &EntityDef,
        ep: &Endpoint,
        record_path: &str,
        row: &Record,
    ) -> Result<Option<Record>, ConnectorError> {
        // An RPC-style read carries the id in its body template, as `get` does.
        let body = match self.op_body(e, ep.body.as_ref(), Some(&row.id), None, None) {
            Err(ConnectorError::NotFound { .. }) => return Ok(None),
            other => other?,
        };
        let req = match self.endpoint_req(ep, Some(&row.id), body, true) {
            Err(ConnectorError::NotFound { .. }) => return Ok(None),
            other => other?,
        };
        let resp = self.execute(&req).await?;
        let body = match self.check(&resp) {
            Err(ConnectorError::NotFound { .. }) => {
                tracing::info!(crm = %self.def.name, id = %row.id, "a listed record was gone before its detail was read; left out");
                return Ok(None);
            }
            other => other?,
        };
        if record_slot_empty(&body, record_path) {
            return Ok(None);
        }
        let detail =
            jsonpath::get(&body, record_path)
                .cloned()
                .ok_or_else(|| ConnectorError::Protocol {
                    message: format!("no record at {record_path:?} in the detail answer"),
                })?;
        let rec = self.record_with_id(e, merged(&row.data, detail), row.id.clone());
        Ok(Some(Record {
            // A detail answer without the stamp keeps the row's.
            modified: rec.modified.or(row.modified),
            version: rec.version.or_else(|| row.version.clone()),
            ..rec
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detail_wins_and_row_only_members_stay() {
        let out = merged(
            &json!({"id": 1, "title": "short", "owner": 3}),
            json!({"id": 1, "title": "long", "notes": "n"}),
        );
        assert_eq!(
            out,
            json!({"id": 1, "title": "long", "notes": "n", "owner": 3})
        );
    }

    #[test]
    fn fingerprint_by_modified_ignores_other_changes() {
        let d: DetailDef = toml::from_str("changed_by = \"modified\"").unwrap();
        let t = chrono::Utc::now();
        let a = Record {
            id: "1".into(),
            data: json!({"a": 1}),
            modified: Some(t),
            version: None,
        };
        let b = Record {
            data: json!({"a": 2}),
            ..a.clone()
        };
        assert_eq!(fingerprint(&d, &a), fingerprint(&d, &b));
        let by_row: DetailDef = toml::from_str("").unwrap();
        assert_ne!(fingerprint(&by_row, &a), fingerprint(&by_row, &b));
    }
}
