//! CRM JSON → iCalendar/vCard. Deterministic: the same record gives the same bytes.

use super::rules::{Access, FieldRule, FieldType};
use super::text::{escape, param_value, push_line};
use super::values::{
    collapse, dav_value, duration_secs, fill_template, format_duration, URI_PROPS,
};
use super::vtimezone::vtimezone;
use super::{ComponentKind, Mapping, VCardVersion};
use crate::record::{jsonpath, timefmt, Record};
use chrono::{DateTime, Duration, NaiveTime, Utc};
use serde_json::Value;

impl Mapping {
    /// The deterministic UID for a CRM-created record (`<crm>-<entity>-<id>@crmdav` by default).
    pub fn uid_for(&self, record: &Record) -> String {
        fill_template(&self.uid_template, &record.data, Some(&record.id))
            .replace("{crm}", &self.crm)
            .replace("{entity}", &self.entity)
    }

    /// Render `record` as a full VCALENDAR (with a VTIMEZONE per TZID) or a vCard in the
    /// mapping's default version.
    pub fn to_component(&self, record: &Record) -> String {
        self.render(record, &self.uid_for(record), self.vcard_version)
    }

    /// Render with a given UID (the client's own, for items created on a phone).
    pub fn to_component_with_uid(&self, record: &Record, uid: &str) -> String {
        self.render(record, uid, self.vcard_version)
    }

    /// Render a vCard in a requested version (3.0 or 4.0).
    pub fn to_vcard(&self, record: &Record, version: VCardVersion) -> String {
        self.render(record, &self.uid_for(record), version)
    }

    fn render(&self, record: &Record, uid: &str, version: VCardVersion) -> String {
        let data = &record.data;
        let all_day = self.is_all_day(data);
        let mut body = String::new();
        let mut tz_range: Option<(i64, i64)> = None;
        let mut has_fn = false;
        let mut has_n = false;
        for rule in self.fields.iter().filter(|r| r.access != Access::WriteOnly) {
            let lines = self.render_rule(rule, data, all_day, &mut tz_range);
            if !lines.is_empty() {
                has_fn |= rule.property.eq_ignore_ascii_case("FN");
                has_n |= rule.property.eq_ignore_ascii_case("N");
            }
            for l in lines {
                push_line(&mut body, &l);
            }
        }
        let mut out = String::new();
        match self.component {
            ComponentKind::Vcard => {
                push_line(&mut out, "BEGIN:VCARD");
                push_line(
                    &mut out,
                    match version {
                        VCardVersion::V3 => "VERSION:3.0",
                        VCardVersion::V4 => "VERSION:4.0",
                    },
                );
                push_line(&mut out, &format!("PRODID:{}", escape(&self.prodid)));
                push_line(&mut out, &format!("UID:{}", escape(uid)));
                if !has_fn {
                    push_line(&mut out, &format!("FN:{}", escape(&record.id)));
                }
                if !has_n && version == VCardVersion::V3 {
                    push_line(&mut out, "N:;;;;");
                }
                out.push_str(&body);
                push_line(&mut out, "END:VCARD");
            }
            _ => {
                push_line(&mut out, "BEGIN:VCALENDAR");
                push_line(&mut out, "VERSION:2.0");
                push_line(&mut out, &format!("PRODID:{}", escape(&self.prodid)));
                push_line(&mut out, "CALSCALE:GREGORIAN");
                if let Some((from, to)) = tz_range {
                    if let Some(block) = vtimezone(&self.tz_name, from, to) {
                        out.push_str(&block);
                    }
                }
                let kind = self.component.as_str();
                push_line(&mut out, &format!("BEGIN:{kind}"));
                push_line(&mut out, &format!("UID:{}", escape(uid)));
                let stamp = record
                    .modified
                    .or_else(|| {
                        self.dtstamp_path
                            .as_deref()
                            .and_then(|p| jsonpath::get(data, p))
                            .and_then(|v| timefmt::value_to_utc(v, self.tz))
                    })
                    .unwrap_or(DateTime::<Utc>::UNIX_EPOCH);
                push_line(
                    &mut out,
                    &format!("DTSTAMP:{}", stamp.format("%Y%m%dT%H%M%SZ")),
                );
                out.push_str(&body);
                push_line(&mut out, &format!("END:{kind}"));
                push_line(&mut out, "END:VCALENDAR");
            }
        }
        out
    }

    fn head(&self, rule: &FieldRule, extra: &str) -> String {
        let mut h = rule.property.to_ascii_uppercase();
        for (k, v) in &rule.params {
            h.push(';');
            h.push_str(&k.to_ascii_uppercase());
            h.push('=');
            h.push_str(&param_value(v));
        }
        h.push_str(extra);
        h
    }

    fn text_value(&self, rule: &FieldRule, s: &str) -> String {
        match &rule.prefix {
            Some(p) => format!("{p}{s}"),
            None if URI_PROPS.contains(&rule.property.to_ascii_uppercase().as_str()) => {
                s.to_string()
            }
            None => escape(s),
        }
    }

    fn render_rule(
        &self,
        rule: &FieldRule,
        data: &Value,
        all_day: bool,
        tz_range: &mut Option<(i64, i64)>,
    ) -> Vec<String> {
        let at = |p: &Option<String>| p.as_deref().and_then(|p| jsonpath::get(data, p));
        // `[values] empty` (Odoo's `false`) is no value; an enum may map such a value itself.
        let value = at(&rule.path).filter(|v| match rule.kind {
            FieldType::Enum => !v.is_null(),
            _ => !self.values.is_empty(v),
        });
        match rule.kind {
            FieldType::Text => {
                let s = value
                    .and_then(jsonpath::scalar_string)
                    .or_else(|| rule.default.clone());
                match s {
                    Some(s) if !s.is_empty() => {
                        vec![format!(
                            "{}:{}",
                            self.head(rule, ""),
                            self.text_value(rule, &s)
                        )]
                    }
                    _ => vec![],
                }
            }
            FieldType::Enum => {
                let key = value.and_then(jsonpath::scalar_string);
                let out = key
                    .and_then(|k| rule.values.get(&k).cloned())
                    .or_else(|| rule.default.clone());
                out.map(|v| vec![format!("{}:{}", self.head(rule, ""), escape(&v))])
                    .unwrap_or_default()
            }
            FieldType::Template => {
                let s = rule
                    .template
                    .iter()
                    .map(|t| collapse(&fill_template(t, data, None)))
                    .find(|s| !s.is_empty())
                    .or_else(|| rule.default.clone());
                s.map(|s| vec![format!("{}:{}", self.head(rule, ""), escape(&s))])
                    .unwrap_or_default()
            }
            FieldType::Structured => {
                let parts: Vec<String> = rule
                    .parts
                    .iter()
                    .map(|p| {
                        if p.is_empty() {
                            String::new()
                        } else {
                            jsonpath::get(data, p)
                                .filter(|v| !self.values.is_empty(v))
                                .and_then(jsonpath::scalar_string)
                                .map(|s| match rule.part_values.get(p) {
                                    Some(table) => dav_value(table, &s),
                                    None => s,
                                })
                                .map(|s| escape(&s))
                                .unwrap_or_default()
                        }
                    })
                    .collect();
                if parts.iter().all(String::is_empty) && !rule.property.eq_ignore_ascii_case("N") {
                    return vec![];
                }
                vec![format!("{}:{}", self.head(rule, ""), parts.join(";"))]
            }
            FieldType::List if rule.item_value.is_some() => self.render_items(rule, data),
            FieldType::List => {
                let Some(path) = rule.path.as_deref() else {
                    return vec![];
                };
                let Ok(segs) = jsonpath::parse(path) else {
                    return vec![];
                };
                let items: Vec<String> = jsonpath::get_all(data, &segs)
                    .into_iter()
                    // A path to an array (`tags`) means its elements.
                    .flat_map(|v| match v {
                        Value::Array(a) => a.iter().collect::<Vec<_>>(),
                        other => vec![other],
                    })
                    .filter(|v| !self.values.is_empty(v))
                    .filter_map(jsonpath::scalar_string)
                    .filter(|s| !s.is_empty())
                    .collect();
                if items.is_empty() {
                    return vec![];
                }
                if rule.style.as_deref() == Some("comma") {
                    let joined: Vec<String> = items.iter().map(|s| escape(s)).collect();
                    vec![format!("{}:{}", self.head(rule, ""), joined.join(","))]
                } else {
                    items
                        .iter()
                        .map(|s| format!("{}:{}", self.head(rule, ""), self.text_value(rule, s)))
                        .collect()
                }
            }
            FieldType::Duration => {
                match value
                    .and_then(|v| duration_secs(rule.format.as_deref(), rule.unit.as_deref(), v))
                {
                    Some(secs) => {
                        vec![format!("{}:{}", self.head(rule, ""), format_duration(secs))]
                    }
                    None => vec![],
                }
            }
            FieldType::Date => {
                let d = value
                    .and_then(|v| {
                        self.values
                            .decode(v)
                            .or_else(|| v.as_str().and_then(timefmt::parse_iso))
                    })
                    .map(|p| match p {
                        timefmt::Parsed::Date(d) => d,
                        other => timefmt::to_utc(other, self.tz)
                            .with_timezone(&self.tz)
                            .date_naive(),
                    });
                match d {
                    Some(d) if self.component == ComponentKind::Vcard => {
                        vec![format!("{}:{}", self.head(rule, ""), d.format("%Y%m%d"))]
                    }
                    Some(d) => vec![format!(
                        "{}:{}",
                        self.head(rule, ";VALUE=DATE"),
                        d.format("%Y%m%d")
                    )],
                    None => vec![],
                }
            }
            FieldType::Datetime => {
                let Some(parsed) = self.datetime_input(rule, data) else {
                    return vec![];
                };
                let is_all_day_prop = all_day
                    && self.all_day.as_ref().is_some_and(|a| {
                        a.properties
                            .iter()
                            .any(|p| p.eq_ignore_ascii_case(&rule.property))
                    });
                let instant = timefmt::to_utc(parsed, self.rule_zone(rule));
                if is_all_day_prop {
                    let mut d = match parsed {
                        timefmt::Parsed::Date(d) => d,
                        _ => {
                            let local = instant.with_timezone(&self.all_day_tz);
                            let end = matches!(
                                rule.property.to_ascii_uppercase().as_str(),
                                "DTEND" | "DUE"
                            );
                            if end
                                && local.time() != NaiveTime::MIN
                                && !self.inclusive_end_prop(&rule.property)
                            {
                                // An all-day end inside its last day (Zoho: 23:59) is inclusive:
                                // the exclusive DATE end is the next day.
                                local.date_naive() + Duration::days(1)
                            } else {
                                local.date_naive()
                            }
                        }
                    };
                    if self.inclusive_end_prop(&rule.property) {
                        d += Duration::days(1);
                    }
                    return vec![format!(
                        "{}:{}",
                        self.head(rule, ";VALUE=DATE"),
                        d.format("%Y%m%d")
                    )];
                }
                let utc_out = self.component == ComponentKind::Vcard
                    || rule.output.as_deref() == Some("utc")
                    || self.tz == chrono_tz::UTC;
                if utc_out {
                    return vec![format!(
                        "{}:{}",
                        self.head(rule, ""),
                        instant.format("%Y%m%dT%H%M%SZ")
                    )];
                }
                let ts = instant.timestamp();
                *tz_range = Some(match *tz_range {
                    Some((a, b)) => (a.min(ts), b.max(ts)),
                    None => (ts, ts),
                });
                let local = instant.with_timezone(&self.tz);
                vec![format!(
                    "{}:{}",
                    self.head(rule, &format!(";TZID={}", param_value(&self.tz_name))),
                    local.format("%Y%m%dT%H%M%S")
                )]
            }
        }
    }

    /// A list of objects → one property per element, with per-element parameters.
    fn render_items(&self, rule: &FieldRule, data: &Value) -> Vec<String> {
        let (Some(path), Some(iv)) = (rule.path.as_deref(), rule.item_value.as_deref()) else {
            return vec![];
        };
        let Ok(segs) = jsonpath::parse(path) else {
            return vec![];
        };
        let elements: Vec<&Value> = jsonpath::get_all(data, &segs)
            .into_iter()
            .flat_map(|v| match v {
                Value::Array(a) => a.iter().collect::<Vec<_>>(),
                other => vec![other],
            })
            .collect();
        let mut lines = Vec::new();
        for el in elements.into_iter().filter(|el| rule.filter_matches(el)) {
            let Some(value) = jsonpath::get(el, iv)
                .filter(|v| !self.values.is_empty(v))
                .and_then(jsonpath::scalar_string)
                .filter(|s| !s.is_empty())
            else {
                continue;
            };
            let mut extra = String::new();
            for (param, sub) in &rule.item_params {
                let Some(raw) = jsonpath::get(el, sub)
                    .and_then(jsonpath::scalar_string)
                    .filter(|s| !s.is_empty())
                else {
                    continue;
                };
                let dav = rule
                    .param_values
                    .get(param)
                    .and_then(|m| {
                        m.iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case(&raw))
                            .map(|(_, v)| v.clone())
                    })
                    .unwrap_or_else(|| {
                        if rule.param_values.contains_key(param) {
                            raw.to_ascii_uppercase()
                        } else {
                            raw.clone()
                        }
                    });
                extra.push(';');
                extra.push_str(&param.to_ascii_uppercase());
                extra.push('=');
                extra.push_str(&param_value(&dav));
            }
            lines.push(format!(
                "{}:{}",
                self.head(rule, &extra),
                self.text_value(rule, &value)
            ));
        }
        lines
    }
}
