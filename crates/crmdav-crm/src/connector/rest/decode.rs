//! The CRM's answers: JSON bodies, the CRM's own error messages mapped to [`ConnectorError`],
//! records found at the definition's paths, and the envelope a write body goes in.

use super::def::{Endpoint, EntityDef};
use super::transport::Resp;
use super::{jsonpath, RestConnector};
use crate::connector::{ConnectorError, Record};
use serde_json::Value;

impl RestConnector {
    /// The CRM's message from an error body, per `error_message_paths`.
    pub(super) fn error_message(&self, body: &[u8]) -> Option<String> {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            return (!text.is_empty()).then(|| text.chars().take(300).collect());
        };
        for p in &self.def.error_message_paths {
            if let Some(prefix) = wildcard_prefix(p) {
                if let Some(m) = jsonpath::get(&v, prefix).and_then(per_field_messages) {
                    return Some(m);
                }
                continue;
            }
            match jsonpath::get(&v, p) {
                Some(Value::String(s)) if !s.is_empty() => return Some(s.clone()),
                Some(Value::Array(items)) if !items.is_empty() => {
                    let parts: Vec<String> = items
                        .iter()
                        .map(|i| match i {
                            Value::String(s) => s.clone(),
                            other => ["msg", "message", "detail"]
                                .iter()
                                .find_map(|k| other.get(k).and_then(Value::as_str))
                                .map(str::to_string)
                                .unwrap_or_else(|| other.to_string()),
                        })
                        .collect();
                    return Some(parts.join("; "));
                }
                // `{"error": true}` is a flag, not a message.
                Some(Value::Null | Value::Bool(_) | Value::Object(_)) | None => {}
                Some(other) => return Some(other.to_string()),
            }
        }
        None
    }

    /// Turn a non-retried answer into JSON or the matching error.
    pub(super) fn check(&self, resp: &Resp) -> Result<Value, ConnectorError> {
        let status = resp.status.as_u16();
        if resp.status.is_success() {
            if resp.body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            let body: Value =
                serde_json::from_slice(&resp.body).map_err(|e| ConnectorError::Protocol {
                    message: format!("malformed JSON from the CRM (HTTP {status}): {e}"),
                })?;
            // `[body_errors]`: a refusal inside a 200 is not a success.
            if let Some(err) = self.body_error(&body) {
                return Err(err.into_error());
            }
            return Ok(body);
        }
        let message = self
            .error_message(&resp.body)
            .unwrap_or_else(|| format!("HTTP {status}"));
        if let Some(e) = super::status_map::overridden(&self.def.status_overrides, status, &message)
        {
            return Err(e);
        }
        Err(match status {
            400 | 422 => ConnectorError::Invalid { message },
            401 => ConnectorError::Auth { message },
            403 => ConnectorError::Forbidden { message },
            404 | 410 => ConnectorError::NotFound { message },
            405 | 501 => ConnectorError::NotSupported { message },
            409 => ConnectorError::Conflict { message },
            412 => ConnectorError::VersionMismatch { message },
            _ => ConnectorError::Protocol {
                message: format!("HTTP {status}: {message}"),
            },
        })
    }

    pub(super) fn record_from(&self, e: &EntityDef, v: Value) -> Result<Record, ConnectorError> {
        let id = jsonpath::get(&v, &e.id_field)
            .and_then(jsonpath::scalar_string)
            .ok_or_else(|| ConnectorError::Protocol {
                message: format!("record without id field {:?}", e.id_field),
            })?;
        Ok(self.record_with_id(e, v, id))
    }

    pub(super) fn record_with_id(&self, e: &EntityDef, v: Value, id: String) -> Record {
        let modified = e
            .modified_field
            .as_deref()
            .and_then(|p| jsonpath::get(&v, p))
            .and_then(|m| self.def.values.to_utc(m, self.tz));
        let version = e
            .version_field
            .as_deref()
            .and_then(|p| jsonpath::get(&v, p))
            .and_then(jsonpath::scalar_string);
        Record {
            id,
            data: v,
            modified,
            version,
        }
    }

    pub(super) fn single_record(
        &self,
        e: &EntityDef,
        body: Value,
    ) -> Result<Record, ConnectorError> {
        let inner = jsonpath::get(&body, &e.record_path)
            .cloned()
            .ok_or_else(|| ConnectorError::Protocol {
                message: format!("no record at {:?} in the CRM's answer", e.record_path),
            })?;
        self.record_from(e, inner)
    }

    /// The record in a create/update answer: at `write_record_path` (default `record_path`),
    /// its id `known_id` (an update) or at `created_id_path` (default `id_field`).
    pub(super) fn written_record(
        &self,
        e: &EntityDef,
        body: Value,
        known_id: Option<&str>,
    ) -> Result<Record, ConnectorError> {
        let path = e.write_record_path.as_deref().unwrap_or(&e.record_path);
        let inner =
            jsonpath::get(&body, path)
                .cloned()
                .ok_or_else(|| ConnectorError::Protocol {
                    message: format!("no record at {path:?} in the CRM's write answer"),
                })?;
        let id = match known_id {
            Some(id) => id.to_string(),
            None => {
                let id_path = e.created_id_path.as_deref().unwrap_or(&e.id_field);
                jsonpath::get(&inner, id_path)
                    .and_then(jsonpath::scalar_string)
                    .ok_or_else(|| ConnectorError::Protocol {
                        message: format!("create answer without id at {id_path:?}"),
                    })?
            }
        };
        Ok(self.record_with_id(e, inner, id))
    }

    /// The write body: `data` with the endpoint's `constants` merged in, wrapped.
    pub(super) fn write_body(&self, e: &EntityDef, ep: &Endpoint, data: &Value) -> Value {
        if ep.constants.is_empty() {
            return self.wrap(e, data);
        }
        let mut merged = data.clone();
        for (path, value) in &ep.constants {
            if jsonpath::get(&merged, path).is_some_and(|v| !v.is_null()) {
                continue;
            }
            if let Ok(segs) = jsonpath::parse(path) {
                // A path through a non-object value cannot be set; the record is sent as is.
                let _ = jsonpath::set(&mut merged, &segs, value.clone());
            }
        }
        self.wrap(e, &merged)
    }

    pub(super) fn wrap(&self, e: &EntityDef, data: &Value) -> Value {
        match &e.body_wrap {
            // A JSON path: `properties` → {"properties": {…}}, `data[0]` → {"data": [{…}]}.
            Some(k) => {
                let mut out = Value::Null;
                match jsonpath::parse(k) {
                    Ok(segs) if jsonpath::set(&mut out, &segs, data.clone()).is_ok() => out,
                    _ => {
                        let mut m = serde_json::Map::new();
                        m.insert(k.clone(), data.clone());
                        Value::Object(m)
                    }
                }
            }
            None => data.clone(),
        }
    }
}

/// The object path of a wildcard error path (`errors.*` → `errors`, `*` → the whole body).
fn wildcard_prefix(path: &str) -> Option<&str> {
    let prefix = path.strip_suffix('*')?;
    Some(prefix.strip_suffix('.').unwrap_or(prefix))
}

/// Messages kept under a key per field (`{"last_name": ["may not be empty"]}`), each with its
/// field name: `last_name: may not be empty`. `None` when no member holds a message.
fn per_field_messages(v: &Value) -> Option<String> {
    let obj = v.as_object()?;
    let mut out = Vec::new();
    for (field, val) in obj {
        let texts: Vec<String> = match val {
            Value::String(s) if !s.is_empty() => vec![s.clone()],
            Value::Array(items) => items
                .iter()
                .filter_map(|i| match i {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) => ["message", "msg", "detail"]
                        .iter()
                        .find_map(|k| o.get(*k).and_then(Value::as_str))
                        .map(str::to_string),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        if !texts.is_empty() {
            out.push(format!("{field}: {}", texts.join(", ")));
        }
    }
    (!out.is_empty()).then(|| out.join("; "))
}

/// Whether `path` ends in an index into an array that exists and is empty (`records[0]` of
/// `{"records": []}`): a query-style get that found nothing.
pub(super) fn record_slot_empty(body: &Value, path: &str) -> bool {
    let Ok(segs) = jsonpath::parse(path) else {
        return false;
    };
    match segs.split_last() {
        Some((jsonpath::Seg::Index(_), parent)) => jsonpath::get_segs(body, parent)
            .and_then(Value::as_array)
            .is_some_and(|a| a.is_empty()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::rest::test_connector;

    #[test]
    fn empty_query_answer_is_no_record() {
        let empty = serde_json::json!({"totalSize": 0, "records": []});
        let one = serde_json::json!({"records": [{"Id": "1"}]});
        assert!(record_slot_empty(&empty, "records[0]"));
        assert!(!record_slot_empty(&one, "records[0]"));
        assert!(!record_slot_empty(&empty, ""));
    }

    #[test]
    fn error_messages() {
        let c = test_connector("https://crm.example");
        assert_eq!(
            c.error_message(br#"{"detail":"end must be after start"}"#),
            Some("end must be after start".into())
        );
        assert_eq!(
            c.error_message(br#"{"detail":[{"msg":"too big","loc":["query"]}]}"#),
            Some("too big".into())
        );
        assert_eq!(
            c.error_message(br#"{"error":{"message":"nope"}}"#),
            Some("nope".into())
        );
        assert_eq!(c.error_message(b"plain text"), Some("plain text".into()));
        assert_eq!(
            c.error_message(br#"{"error":true,"errors":{"last_name":["may not be empty"]}}"#),
            Some("last_name: may not be empty".into())
        );
        assert_eq!(c.error_message(br#"{"error":true}"#), None);
        assert_eq!(c.error_message(b""), None);
    }
}
