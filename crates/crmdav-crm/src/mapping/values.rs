//! Value conversions shared by render and parse: URI properties, templates, JSON types,
//! durations.

use super::rules::ValueType;
use crate::record::jsonpath;
use serde_json::Value;
use std::collections::BTreeMap;

/// Properties whose values are URIs or cal-addresses, never TEXT-escaped.
pub(super) const URI_PROPS: &[&str] = &[
    "ATTENDEE",
    "ORGANIZER",
    "URL",
    "PHOTO",
    "SOURCE",
    "TZURL",
    "IMPP",
];

/// Convert a DAV string to the JSON type the CRM field wants.
pub(super) fn typed(s: &str, t: ValueType, enum_key: bool) -> Result<Value, String> {
    match t {
        ValueType::String => Ok(Value::String(s.to_string())),
        ValueType::Integer => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{s:?} is not a whole number")),
        ValueType::Number => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("{s:?} is not a number")),
        ValueType::Bool => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Value::Bool(true)),
            "false" | "0" | "no" => Ok(Value::Bool(false)),
            _ => Err(format!("{s:?} is not true or false")),
        },
        ValueType::Auto if enum_key => Ok(match s {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => s
                .parse::<i64>()
                .map(Value::from)
                .unwrap_or_else(|_| Value::String(s.to_string())),
        }),
        ValueType::Auto => Ok(Value::String(s.to_string())),
    }
}

/// `{path}` placeholders filled from `data` (missing → empty); `{id}` from `id` when given.
pub(super) fn fill_template(t: &str, data: &Value, id: Option<&str>) -> String {
    let mut out = String::new();
    let mut rest = t;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = &after[..end];
        match (key, id) {
            ("id", Some(id)) => out.push_str(id),
            ("crm" | "entity", _) => {
                out.push('{');
                out.push_str(key);
                out.push('}');
            }
            _ => {
                if let Some(s) = jsonpath::get(data, key).and_then(jsonpath::scalar_string) {
                    out.push_str(&s);
                }
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

pub(super) fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

pub(super) fn unit_seconds(unit: Option<&str>) -> i64 {
    match unit.unwrap_or("minutes") {
        "seconds" => 1,
        "hours" => 3600,
        "days" => 86_400,
        _ => 60,
    }
}

/// `"01:30"` (hours:minutes, as Pipedrive's `duration`) → seconds.
pub(super) fn parse_hh_mm(s: &str) -> Option<i64> {
    let (h, m) = s.trim().split_once(':')?;
    let m = m.split(':').next()?;
    Some(h.trim().parse::<i64>().ok()? * 3600 + m.trim().parse::<i64>().ok()? * 60)
}

/// Seconds → `"HH:MM"` (rounded down to the minute).
pub(super) fn format_hh_mm(secs: i64) -> String {
    let m = secs.max(0) / 60;
    format!("{:02}:{:02}", m / 60, m % 60)
}

pub use crate::contentline::format_duration;

/// RFC 5545 §3.3.6 DURATION → seconds (`P1W`, `PT1H30M`, `-P2D`), days counted as 86,400 s.
pub fn parse_duration(s: &str) -> Option<i64> {
    crate::contentline::parse_duration(s).map(|d| d.approx_secs())
}

/// A part's DAV value → the CRM value by a `part_values` table (CRM → DAV), any case;
/// a value not in the table passes through.
pub(super) fn crm_value(table: &BTreeMap<String, String>, dav: &str) -> String {
    table
        .iter()
        .find(|(k, v)| v.eq_ignore_ascii_case(dav) || k.eq_ignore_ascii_case(dav))
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| dav.to_string())
}

/// A part's CRM value → the DAV value by a `part_values` table; unknown values pass through.
pub(super) fn dav_value(table: &BTreeMap<String, String>, crm: &str) -> String {
    table
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(crm))
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| crm.to_string())
}

/// Seconds → the CRM's duration value: `format = "hh:mm"` (`"01:30"`), `"iso8601"`
/// (`"PT1H30M"`), else a number of `unit`s (whole when it divides).
pub(super) fn duration_value(format: Option<&str>, unit: Option<&str>, secs: i64) -> Value {
    match format {
        Some("hh:mm") => Value::String(format_hh_mm(secs)),
        Some("iso8601") => Value::String(format_duration(secs)),
        _ => {
            let unit = unit_seconds(unit);
            if secs % unit == 0 {
                Value::from(secs / unit)
            } else {
                Value::from(secs as f64 / unit as f64)
            }
        }
    }
}

/// The CRM's duration value → seconds, per `format` and `unit` (numbers may be strings).
pub(super) fn duration_secs(format: Option<&str>, unit: Option<&str>, v: &Value) -> Option<i64> {
    match format {
        Some("hh:mm") => v.as_str().and_then(parse_hh_mm),
        Some("iso8601") => v.as_str().and_then(|s| parse_duration(s.trim())),
        _ => {
            let n = v
                .as_f64()
                .or_else(|| v.as_str().and_then(|s| s.trim().parse::<f64>().ok()))?;
            Some((n * unit_seconds(unit) as f64).round() as i64)
        }
    }
}
