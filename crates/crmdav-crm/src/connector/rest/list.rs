//! One page of a listing: the modified-since filter (query, header or body), the page's
//! place, the records, the next page; and the deleted-records feed read the same way.

use super::def::{Endpoint, EntityDef, ModifiedSinceDef};
use super::paging::Answer;
use super::{jsonpath, timefmt, RestConnector};
use crate::connector::{ConnectorError, Page, Record};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde_json::Value;

/// The list request once the modified-since filter is applied: the endpoint (its query, or
/// its method, path and query for a body filter), a body template with the formatted time,
/// and extra headers.
struct Filtered {
    ep: Endpoint,
    body_template: Option<(Value, String)>,
    headers: Vec<(String, String)>,
}

impl RestConnector {
    /// One page of `entity`'s deleted-records feed (`[entities.x.deleted]`,
    /// `Connector::list_deleted`): records carry the deleted id, the feed's entry as `data` and
    /// the deletion time (`deleted_field`) as `modified`. The window start is `since`, else
    /// `lookback_days` back; with `since`, entries deleted at or before it are left out (also
    /// when the CRM cannot filter).
    pub(super) async fn deleted_page(
        &self,
        entity: &str,
        since: Option<DateTime<Utc>>,
        page: Option<String>,
    ) -> Result<Page, ConnectorError> {
        let e = self.entity(entity)?;
        let d = e
            .deleted
            .as_ref()
            .ok_or_else(|| ConnectorError::NotSupported {
                message: format!("{entity} has no deleted-records feed in this CRM"),
            })?;
        let window = since.or_else(|| {
            d.lookback_days
                .map(|days| Utc::now() - chrono::Duration::days(i64::from(days)))
        });
        let feed = EntityDef {
            id_field: d.id_field.clone().unwrap_or_else(|| e.id_field.clone()),
            modified_field: d.deleted_field.clone(),
            version_field: None,
            version_header: None,
            records_path: d
                .records_path
                .clone()
                .unwrap_or_else(|| e.records_path.clone()),
            list: d.list.clone(),
            paging: d.paging.clone().unwrap_or_else(|| e.paging.clone()),
            modified_since: d.since.clone(),
            deleted: None,
            find_created: None,
            ..e.clone()
        };
        let mut p = self.list_page(&feed, window, page).await?;
        if let Some(t) = since {
            p.records.retain(|r| r.modified.is_none_or(|m| m > t));
        }
        Ok(p)
    }

    /// One page of a listing of `e`: records modified after `since` when the entity can filter,
    /// at the place `page` names (none: the first page).
    pub(super) async fn list_page(
        &self,
        e: &EntityDef,
        since: Option<DateTime<Utc>>,
        page: Option<String>,
    ) -> Result<Page, ConnectorError> {
        let filtered = self.since_filter(e, since);
        let mut place = self.page_place(&e.paging, page.as_deref())?;
        let mut req = self.endpoint_req(&filtered.ep, None, None, true)?;
        req.headers.extend(filtered.headers);
        // A list endpoint's own body is a template too (paging placeholders; RPC listings).
        let template = filtered
            .body_template
            .or_else(|| filtered.ep.body.clone().map(|b| (b, String::new())));
        if let Some((template, since_s)) = template {
            let mut used = Vec::new();
            let body = drop_unset_placeholders(fill_template(
                template,
                &since_s,
                &place.params,
                &mut used,
            ));
            // Values the body took are not repeated in the query.
            place.params.retain(|(_, _, ph)| !used.contains(ph));
            req.body = Some(body);
        }
        if let Some(u) = place.next_url {
            req.url = u;
        } else if !place.params.is_empty() {
            let mut q = req.url.query_pairs_mut();
            for (k, v, _) in &place.params {
                q.append_pair(k, v);
            }
        }
        let resp = self.execute(&req).await?;
        if resp.status == StatusCode::NOT_MODIFIED {
            return Ok(Page::default());
        }
        let body = self.check(&resp)?;
        if body.is_null() {
            // 204 No Content (Zoho's answer to a list with nothing in it): an empty last page.
            return Ok(Page::default());
        }
        let records = self.page_records(e, &body)?;
        let count = records.len() as u64;
        let next = self.next_page(
            &e.paging,
            page.as_deref(),
            &Answer {
                body: &body,
                headers: &resp.headers,
                url: &req.url,
                count,
            },
        )?;
        Ok(Page { records, next })
    }

    /// Apply the entity's modified-since filter (when it has one and `since` is given).
    fn since_filter(&self, e: &EntityDef, since: Option<DateTime<Utc>>) -> Filtered {
        let mut out = Filtered {
            ep: e.list.clone(),
            body_template: None,
            headers: Vec::new(),
        };
        let (Some(def), Some(t)) = (since.and(e.modified_since.as_ref()), since) else {
            return out;
        };
        match def {
            ModifiedSinceDef::Query {
                param,
                format,
                template,
                until_param,
            } => {
                let since_s = timefmt::format_instant(t, format, self.tz);
                let value = match template {
                    Some(tpl) => tpl.replace("{since}", &since_s),
                    None => since_s,
                };
                out.ep.query.insert(param.clone(), value);
                if let Some(up) = until_param {
                    out.ep.query.insert(
                        up.clone(),
                        timefmt::format_instant(Utc::now(), format, self.tz),
                    );
                }
            }
            ModifiedSinceDef::Header { header, format } => {
                out.headers
                    .push((header.clone(), timefmt::format_instant(t, format, self.tz)));
            }
            ModifiedSinceDef::Body {
                method,
                path,
                query,
                body,
                format,
            } => {
                if let Some(m) = method {
                    out.ep.method = m.clone();
                }
                if let Some(q) = query {
                    out.ep.query = q.clone();
                }
                if let Some(p) = path {
                    out.ep.path = p.clone();
                }
                // `format = "values"`: `{since}` in the CRM's `[values]` date encoding.
                out.body_template = Some(match self.typed_since(body, format, t) {
                    Some(typed) => (typed, String::new()),
                    None => (body.clone(), timefmt::format_instant(t, format, self.tz)),
                });
            }
        }
        out
    }

    /// The records of a list answer, at the entity's `records_path`.
    fn page_records(&self, e: &EntityDef, body: &Value) -> Result<Vec<Record>, ConnectorError> {
        let items = jsonpath::get(body, &e.records_path)
            .and_then(Value::as_array)
            .ok_or_else(|| ConnectorError::Protocol {
                message: format!("no record array at {:?} in the list answer", e.records_path),
            })?;
        items
            .iter()
            .cloned()
            .map(|v| self.record_from(e, v))
            .collect()
    }
}

/// Object members still holding a bare paging placeholder (`"after": "{cursor}"` on the first
/// page) had no value to take: leave them out instead of sending the placeholder.
pub(super) fn drop_unset_placeholders(v: Value) -> Value {
    const PH: [&str; 4] = ["{limit}", "{offset}", "{page}", "{cursor}"];
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(_, x)| !x.as_str().is_some_and(|s| PH.contains(&s)))
                .map(|(k, x)| (k, drop_unset_placeholders(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(drop_unset_placeholders).collect()),
        other => other,
    }
}

/// Fill a JSON body template: `{since}` and paging placeholders (whole-string matches become
/// typed values; numbers stay numbers).
pub(super) fn fill_template(
    v: Value,
    since: &str,
    paging: &[(String, String, &'static str)],
    used: &mut Vec<&'static str>,
) -> Value {
    match v {
        Value::String(s) => {
            if s == "{since}" {
                return Value::String(since.to_string());
            }
            if let Some((_, val, ph)) = paging.iter().find(|(_, _, ph)| *ph == s) {
                used.push(ph);
                return val
                    .parse::<u64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(val.clone()));
            }
            Value::String(s.replace("{since}", since))
        }
        Value::Array(a) => Value::Array(
            a.into_iter()
                .map(|x| fill_template(x, since, paging, used))
                .collect(),
        ),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| (k, fill_template(x, since, paging, used)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unset_paging_placeholders_are_left_out() {
        let t = serde_json::json!({"filters": [{"value": "{since}"}], "limit": "{limit}", "after": "{cursor}"});
        let mut used = Vec::new();
        let out = drop_unset_placeholders(fill_template(
            t,
            "1",
            &[("limit".into(), "100".into(), "{limit}")],
            &mut used,
        ));
        assert_eq!(
            out,
            serde_json::json!({"filters": [{"value": "1"}], "limit": 100})
        );
    }

    #[test]
    fn template_fill() {
        let t = serde_json::json!({"filter": {"after": "{since}"}, "limit": "{limit}", "note": "x {since}"});
        let mut used = Vec::new();
        let out = fill_template(
            t,
            "2026-01-01T00:00:00Z",
            &[("limit".into(), "50".into(), "{limit}")],
            &mut used,
        );
        assert_eq!(
            out,
            serde_json::json!({"filter": {"after": "2026-01-01T00:00:00Z"}, "limit": 50, "note": "x 2026-01-01T00:00:00Z"})
        );
        assert_eq!(used, vec!["{limit}"]);
    }
}
