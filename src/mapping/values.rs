//! Value conversions shared by render and parse: URI properties, templates, JSON types,
//! durations.

use super::rules::ValueType;
use crate::record::jsonpath;
use serde_json::Value;

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

/// Seconds → ISO 8601 duration (`PT45M`, `P1DT2H`, `-PT5M`).
pub fn format_duration(secs: i64) -> String {
    let sign = if secs < 0 { "-" } else { "" };
    let mut s = secs.unsigned_abs();
    let days = s / 86_400;
    s %= 86_400;
    let (h, m, sec) = (s / 3600, (s % 3600) / 60, s % 60);
    let mut out = format!("{sign}P");
    if days > 0 {
        out.push_str(&format!("{days}D"));
    }
    if h > 0 || m > 0 || sec > 0 || days == 0 {
        out.push('T');
        if h > 0 {
            out.push_str(&format!("{h}H"));
        }
        if m > 0 {
            out.push_str(&format!("{m}M"));
        }
        if sec > 0 || (h == 0 && m == 0) {
            out.push_str(&format!("{sec}S"));
        }
    }
    out
}

/// ISO 8601 / RFC 5545 duration → seconds (`P1W`, `PT1H30M`, `-P2D`).
pub fn parse_duration(s: &str) -> Option<i64> {
    let (sign, rest) = match s.strip_prefix('-') {
        Some(r) => (-1, r),
        None => (1, s.strip_prefix('+').unwrap_or(s)),
    };
    let rest = rest.strip_prefix(['P', 'p'])?;
    let mut total: i64 = 0;
    let mut num = String::new();
    let mut in_time = false;
    let mut any = false;
    for c in rest.chars() {
        match c.to_ascii_uppercase() {
            'T' => in_time = true,
            d if d.is_ascii_digit() => num.push(d),
            u => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                any = true;
                total += n * match (u, in_time) {
                    ('W', false) => 604_800,
                    ('D', false) => 86_400,
                    ('H', true) => 3600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
            }
        }
    }
    (any && num.is_empty()).then_some(sign * total)
}
