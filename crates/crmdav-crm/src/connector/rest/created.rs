//! Finding a record whose create went unanswered (`[entities.x.find_created]`): the lookup
//! request filled from what was sent, and the candidates that carry the sent values and were
//! created inside the window around the lost create.

use super::def::{Endpoint, EntityDef, FindCreatedDef, ModifiedSinceDef};
use super::{jsonpath, timefmt, RestConnector};
use crate::connector::{ConnectorError, Record};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::Value;

/// The prefix of a placeholder naming a field of the record that was sent.
const SENT: &str = "{sent.";

impl RestConnector {
    /// Records of `entity` that may be the one created from `data` at `sent_at`, in the
    /// CRM's order; `NotSupported` without a `find_created` definition.
    pub(super) async fn lookup_created(
        &self,
        entity: &str,
        data: &Value,
        sent_at: DateTime<Utc>,
    ) -> Result<Vec<Record>, ConnectorError> {
        let e = self.entity(entity)?;
        let f = e
            .find_created
            .as_ref()
            .ok_or_else(|| ConnectorError::NotSupported {
                message: format!(
                    "{entity} has no lookup for a record whose create went unanswered"
                ),
            })?;
        let since = sent_at - chrono::Duration::seconds(f.window_secs as i64);
        let (look, with_since) = match &f.list {
            Some(list) => {
                let look = lookup_entity(e, f, list, data);
                let with_body = look.modified_since.is_some();
                (look, with_body)
            }
            // The entity's own modified-since listing from the window's start.
            None => (e.clone(), true),
        };
        let mut found = Vec::new();
        let mut page = None;
        for _ in 0..f.max_pages.max(1) {
            let p = self
                .list_page(&look, with_since.then_some(since), page)
                .await?;
            found.extend(
                p.records
                    .into_iter()
                    .filter(|r| is_candidate(r, data, f, sent_at, self.tz)),
            );
            match p.next {
                Some(n) => page = Some(n),
                None => break,
            }
        }
        tracing::info!(%entity, candidates = found.len(), "looked up a create that went unanswered");
        Ok(found)
    }
}

/// The entity as the lookup lists it: the filled request as its list endpoint (a body goes
/// through the search-body machinery so `{since}` and paging placeholders are filled).
fn lookup_entity(e: &EntityDef, f: &FindCreatedDef, list: &Endpoint, data: &Value) -> EntityDef {
    let mut ep = list.clone();
    ep.query = ep
        .query
        .into_iter()
        .filter_map(|(k, v)| fill_str(&v, data).map(|v| (k, v)))
        .collect();
    ep.headers = ep
        .headers
        .into_iter()
        .filter_map(|(k, v)| fill_str(&v, data).map(|v| (k, v)))
        .collect();
    let body = ep.body.take().map(|b| fill_json(b, data));
    EntityDef {
        records_path: f
            .records_path
            .clone()
            .unwrap_or_else(|| e.records_path.clone()),
        paging: f.paging.clone().unwrap_or_else(|| e.paging.clone()),
        modified_since: body.map(|body| ModifiedSinceDef::Body {
            method: Some(ep.method.clone()),
            path: Some(ep.path.clone()),
            query: Some(ep.query.clone()),
            body,
            format: f.format.clone(),
        }),
        list: ep,
        deleted: None,
        find_created: None,
        ..e.clone()
    }
}

/// A string with every `{sent.<path>}` replaced by the sent value; `None` when one is missing.
fn fill_str(template: &str, data: &Value) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find(SENT) {
        out.push_str(&rest[..at]);
        let after = &rest[at + SENT.len()..];
        let end = after.find('}')?;
        let v = jsonpath::get(data, &after[..end]).and_then(jsonpath::scalar_string)?;
        out.push_str(&v);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// A body template: a string that is exactly `{sent.<path>}` takes the sent value as it is
/// (numbers stay numbers); other strings are filled as text (a missing value leaves the
/// placeholder, which matches nothing).
fn fill_json(v: Value, data: &Value) -> Value {
    match v {
        Value::String(s) => {
            if let Some(path) = s.strip_prefix(SENT).and_then(|r| r.strip_suffix('}')) {
                if !path.contains('}') {
                    return jsonpath::get(data, path).cloned().unwrap_or(Value::Null);
                }
            }
            Value::String(fill_str(&s, data).unwrap_or(s))
        }
        Value::Array(a) => Value::Array(a.into_iter().map(|x| fill_json(x, data)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| (k, fill_json(x, data)))
                .collect(),
        ),
        other => other,
    }
}

/// Whether `r` carries every matched value that was sent and was created inside the window.
fn is_candidate(
    r: &Record,
    sent: &Value,
    f: &FindCreatedDef,
    sent_at: DateTime<Utc>,
    tz: Tz,
) -> bool {
    let fields_match = f.match_fields.iter().all(|p| match jsonpath::get(sent, p) {
        None => true,
        Some(want) => same_value(want, jsonpath::get(&r.data, p).unwrap_or(&Value::Null), tz),
    });
    let in_window = f.created_field.as_deref().is_none_or(|p| {
        jsonpath::get(&r.data, p)
            .and_then(|v| timefmt::value_to_utc(v, tz))
            .is_some_and(|t| (t - sent_at).num_seconds().abs() <= f.window_secs as i64)
    });
    fields_match && in_window
}

/// Equal as sent and as the CRM stores it: the same JSON, the same text once trimmed, the
/// same number written as text, or the same instant in two spellings.
fn same_value(sent: &Value, stored: &Value, tz: Tz) -> bool {
    if sent == stored {
        return true;
    }
    match (sent, stored) {
        (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) => s.trim().is_empty(),
        (Value::Array(_) | Value::Object(_), _) | (_, Value::Array(_) | Value::Object(_)) => false,
        _ => {
            let (Some(a), Some(b)) = (
                jsonpath::scalar_string(sent),
                jsonpath::scalar_string(stored),
            ) else {
                return false;
            };
            if a.trim() == b.trim() {
                return true;
            }
            let instant = |s: &str| {
                timefmt::parse_iso(s.trim())
                    .filter(|p| !matches!(p, timefmt::Parsed::Date(_)))
                    .map(|p| timefmt::to_utc(p, tz))
            };
            matches!((instant(&a), instant(&b)), (Some(x), Some(y)) if x == y)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_take_the_sent_values() {
        let sent = json!({"start": "2030-01-01T10:00:00+01:00", "n": 3, "p": {"uid": "a b"}});
        assert_eq!(
            fill_str("{sent.start}", &sent).as_deref(),
            Some("2030-01-01T10:00:00+01:00")
        );
        assert_eq!(
            fill_str("x={sent.p.uid};", &sent).as_deref(),
            Some("x=a b;")
        );
        assert_eq!(fill_str("{sent.missing}", &sent), None);
        let body = json!({"filters": [{"value": "{sent.p.uid}"}, {"value": "{sent.n}"}], "after": "{cursor}"});
        assert_eq!(
            fill_json(body, &sent),
            json!({"filters": [{"value": "a b"}, {"value": 3}], "after": "{cursor}"})
        );
    }

    #[test]
    fn values_compare_as_the_crm_stores_them() {
        let tz = chrono_tz::Europe::Berlin;
        // Salesforce answers `+0000` for what was sent as `Z`.
        assert!(same_value(
            &json!("2030-03-01T09:00:00Z"),
            &json!("2030-03-01T09:00:00.000+0000"),
            tz
        ));
        assert!(same_value(
            &json!("2030-01-01T10:00:00+01:00"),
            &json!("2030-01-01T09:00:00Z"),
            tz
        ));
        assert!(same_value(
            &json!("2030-01-01T10:00"),
            &json!("2030-01-01T10:00:00+01:00"),
            tz
        ));
        assert!(!same_value(
            &json!("2030-01-01T10:00"),
            &json!("2030-01-01T11:00:00+01:00"),
            tz
        ));
        assert!(same_value(&json!(7), &json!("7"), tz));
        assert!(same_value(&json!(" Lunch "), &json!("Lunch"), tz));
        assert!(!same_value(&json!("Lunch"), &json!("Dinner"), tz));
        assert!(same_value(&Value::Null, &json!(""), tz));
    }
}
