//! iCalendar/vCard → the JSON patch of the writable mapped fields.

use super::fallback::first_available;
use super::rules::{Absent, Access, AllDay, FieldRule, FieldType, ParamsMatch};
use super::text::{self, split_unescaped, unescape, Prop};
use super::values::{crm_value, duration_value, parse_duration, typed, URI_PROPS};
use super::{Mapping, MappingError};
use crate::record::{jsonpath, timefmt};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

impl Mapping {
    /// Parse a client's body into the JSON patch of the writable mapped fields.
    pub fn to_record(&self, body: &str) -> Result<Value, MappingError> {
        let kind = self.component.as_str();
        let props = text::component_props(body, kind, |props| {
            // For events, the master (no RECURRENCE-ID) is the one the CRM record mirrors.
            !props.iter().any(|p| p.name == "RECURRENCE-ID")
        })
        .or_else(|| text::component_props(body, kind, |_| true))
        .ok_or_else(|| MappingError::Parse(format!("no {kind} in the body")))?;

        let mut ctx = ParseCtx {
            props,
            claimed: Vec::new(),
            rule_params: self
                .fields
                .iter()
                .filter(|r| r.access != Access::ReadOnly)
                .map(|r| (r.property.to_ascii_uppercase(), r.params.clone()))
                .collect(),
        };
        ctx.claimed = vec![false; ctx.props.len()];
        let all_day = self.all_day.as_ref().is_some_and(|a| {
            a.properties.iter().any(|name| {
                ctx.props
                    .iter()
                    .find(|p| p.name.eq_ignore_ascii_case(name))
                    .is_some_and(is_date_value)
            })
        });
        let mut out = Value::Object(Map::new());
        for rule in &self.fields {
            if rule.access == Access::ReadOnly || rule.kind == FieldType::Template {
                continue;
            }
            self.parse_rule(rule, &mut ctx, &mut out)?;
        }
        if let Some(AllDay {
            mode,
            flag: Some(flag),
            ..
        }) = &self.all_day
        {
            if mode == "flag" {
                set_path(&mut out, flag, Value::Bool(all_day))?;
            }
        }
        if let Some(empty) = &self.values.write_empty {
            replace_nulls(&mut out, empty);
        }
        Ok(out)
    }

    fn parse_rule(
        &self,
        rule: &FieldRule,
        ctx: &mut ParseCtx,
        out: &mut Value,
    ) -> Result<(), MappingError> {
        let invalid = |message: String| MappingError::Invalid {
            property: rule.property.clone(),
            message,
        };
        match rule.kind {
            FieldType::Structured => {
                let prop = ctx.take(rule);
                let parts = prop
                    .map(|p| split_unescaped(&p.value, ';'))
                    .unwrap_or_default();
                for (i, path) in rule.parts.iter().enumerate() {
                    if path.is_empty() {
                        continue;
                    }
                    let v = parts
                        .get(i)
                        .map(|s| unescape(s).trim().to_string())
                        .filter(|s| !s.is_empty())
                        .or_else(|| {
                            rule.part_fallback
                                .get(path)
                                .and_then(|chain| first_available(&ctx.props, chain))
                        })
                        .map(|s| match rule.part_values.get(path) {
                            Some(table) => crm_value(table, &s),
                            None => s,
                        });
                    match v {
                        Some(s) => set_path(out, path, Value::String(s))?,
                        None if rule.absent == Absent::Null => set_path(out, path, Value::Null)?,
                        None if rule.absent == Absent::Empty => {
                            set_path(out, path, Value::String(String::new()))?
                        }
                        None => {}
                    }
                }
                Ok(())
            }
            FieldType::List if rule.item_value.is_some() => self.parse_items(rule, ctx, out),
            FieldType::List => {
                let Some(path) = rule.path.as_deref() else {
                    return Ok(());
                };
                let mut items = Vec::new();
                while let Some(p) = ctx.take(rule) {
                    let values = if rule.style.as_deref() == Some("comma") {
                        split_unescaped(&p.value, ',')
                            .iter()
                            .map(|s| unescape(s))
                            .collect()
                    } else {
                        vec![self.text_from(rule, &p)]
                    };
                    for s in values
                        .into_iter()
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                    {
                        items.push(typed(&s, rule.value_type, false).map_err(invalid)?);
                    }
                }
                if items.is_empty() && rule.absent == Absent::Omit {
                    return Ok(());
                }
                rule.write_list(out, path, items)
            }
            _ => {
                let Some(path) = rule.path.as_deref() else {
                    return Ok(());
                };
                let prop = ctx.take(rule);
                let value = match (rule.kind, prop) {
                    (FieldType::Text, Some(p)) => {
                        let s = self.text_from(rule, &p);
                        if s.is_empty() {
                            None
                        } else {
                            Some(typed(&s, rule.value_type, false).map_err(invalid)?)
                        }
                    }
                    (FieldType::Enum, p) => {
                        let dav = p
                            .map(|p| unescape(&p.value).trim().to_string())
                            .or_else(|| rule.default.clone());
                        match dav {
                            None => None,
                            Some(dav) => {
                                let key = rule
                                    .values
                                    .iter()
                                    .find(|(_, v)| v.eq_ignore_ascii_case(&dav))
                                    .map(|(k, _)| k.clone())
                                    .or_else(|| {
                                        rule.write_values
                                            .iter()
                                            .find(|(d, _)| d.eq_ignore_ascii_case(&dav))
                                            .map(|(_, k)| k.clone())
                                    })
                                    .ok_or_else(|| {
                                        invalid(format!(
                                            "{dav:?} is not one of {}",
                                            rule.values
                                                .values()
                                                .cloned()
                                                .collect::<Vec<_>>()
                                                .join(", ")
                                        ))
                                    })?;
                                Some(typed(&key, rule.value_type, true).map_err(invalid)?)
                            }
                        }
                    }
                    (FieldType::Duration, None) => {
                        // No DURATION: the span DTSTART → DTEND (or DUE) of a timed item.
                        self.derived_duration(ctx).map(|secs| {
                            duration_value(rule.format.as_deref(), rule.unit.as_deref(), secs)
                        })
                    }
                    (FieldType::Duration, Some(p)) => {
                        let secs = parse_duration(p.value.trim())
                            .ok_or_else(|| invalid(format!("bad duration {:?}", p.value)))?;
                        Some(duration_value(
                            rule.format.as_deref(),
                            rule.unit.as_deref(),
                            secs,
                        ))
                    }
                    (FieldType::Date, Some(p)) => {
                        let v = self.parse_time(&p).map_err(invalid)?;
                        let d = match v {
                            TimeVal::Date(d) => d,
                            TimeVal::Instant(t) => t.with_timezone(&self.tz).date_naive(),
                        };
                        Some(
                            self.values
                                .encode_date(d)
                                .unwrap_or_else(|| Value::String(d.format("%Y-%m-%d").to_string())),
                        )
                    }
                    (FieldType::Datetime, p) => {
                        let p = p.or_else(|| self.derived_end(rule, ctx));
                        match p {
                            None => None,
                            Some(p) => {
                                let mut v = self.parse_time(&p).map_err(invalid)?;
                                if let TimeVal::Date(d) = &mut v {
                                    // The CRM keeps the last day of an all-day item.
                                    if self.inclusive_end_prop(&rule.property) {
                                        *d -= Duration::days(1);
                                    }
                                }
                                if let Some(tp) = rule.time_path.as_deref() {
                                    return self.write_split(rule, path, tp, v, out);
                                }
                                let fmt = rule.write_format.as_deref().unwrap_or("offset");
                                let t = match v {
                                    TimeVal::Date(d) => {
                                        let zone = if self.is_all_day_property(&rule.property) {
                                            self.all_day_tz
                                        } else {
                                            self.tz
                                        };
                                        timefmt::local_to_zone(d.and_time(NaiveTime::MIN), zone)
                                            .with_timezone(&Utc)
                                    }
                                    TimeVal::Instant(t) => t,
                                };
                                // `[values] dates` encode unless the rule names its format.
                                let coded = rule
                                    .write_format
                                    .is_none()
                                    .then(|| self.values.encode_datetime(t, self.tz))
                                    .flatten();
                                Some(coded.unwrap_or_else(|| {
                                    Value::String(timefmt::format_instant(t, fmt, self.tz))
                                }))
                            }
                        }
                    }
                    (_, None) => None,
                    (FieldType::Template | FieldType::Structured | FieldType::List, _) => None,
                };
                let value = match value {
                    Some(v) => Some(v),
                    None if !rule.fallback.is_empty() => {
                        match first_available(&ctx.props, &rule.fallback) {
                            Some(s) => Some(typed(&s, rule.value_type, false).map_err(invalid)?),
                            None => None,
                        }
                    }
                    None => None,
                };
                let value = match value {
                    Some(v) => Some(v),
                    None if rule.kind != FieldType::Enum => match &rule.default {
                        Some(d) => Some(typed(d, rule.value_type, false).map_err(invalid)?),
                        None => None,
                    },
                    None => None,
                };
                let value = match value {
                    Some(v) => v,
                    None if rule.absent == Absent::Null => Value::Null,
                    None if rule.absent == Absent::Empty => Value::String(String::new()),
                    None => return Ok(()),
                };
                for extra in &rule.also_paths {
                    set_path(out, extra, value.clone())?;
                }
                set_path(out, path, value)
            }
        }
    }

    /// All properties of a list-of-objects rule → `[{item_value: …, <param paths>: …}]`.
    fn parse_items(
        &self,
        rule: &FieldRule,
        ctx: &mut ParseCtx,
        out: &mut Value,
    ) -> Result<(), MappingError> {
        let (Some(path), Some(iv)) = (rule.path.as_deref(), rule.item_value.as_deref()) else {
            return Ok(());
        };
        let mut items = Vec::new();
        while let Some(p) = ctx.take(rule) {
            let text = self.text_from(rule, &p).trim().to_string();
            if text.is_empty() {
                continue;
            }
            let mut el = Value::Object(Map::new());
            rule.stamp_filter(&mut el)?;
            set_path(&mut el, iv, Value::String(text))?;
            for (param, sub) in &rule.item_params {
                let values: Vec<String> = p
                    .params
                    .iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case(param))
                    .flat_map(|(_, v)| v.iter())
                    .flat_map(|v| v.split(','))
                    .map(|v| v.trim().to_string())
                    .filter(|v| !v.is_empty())
                    .collect();
                let crm = match rule.param_values.get(param) {
                    Some(map) => values.iter().find_map(|v| {
                        map.iter()
                            .find(|(_, dav)| dav.eq_ignore_ascii_case(v))
                            .map(|(k, _)| k.clone())
                    }),
                    None => values.first().cloned(),
                };
                if let Some(c) = crm {
                    set_path(&mut el, sub, Value::String(c))?;
                }
            }
            items.push(el);
        }
        if items.is_empty() && rule.absent == Absent::Omit {
            return Ok(());
        }
        rule.write_list(out, path, items)
    }

    fn text_from(&self, rule: &FieldRule, p: &Prop) -> String {
        let raw = match &rule.prefix {
            Some(prefix) => {
                let v = p.value.trim();
                match v.get(..prefix.len()) {
                    Some(head) if head.eq_ignore_ascii_case(prefix) => {
                        v[prefix.len()..].to_string()
                    }
                    _ => v.to_string(),
                }
            }
            None if URI_PROPS.contains(&rule.property.to_ascii_uppercase().as_str()) => {
                p.value.trim().to_string()
            }
            None => unescape(&p.value),
        };
        raw.trim_end_matches(['\r', '\n']).to_string()
    }

    /// DTEND (or DUE) from DTSTART + DURATION, or the RFC 5545 default (one day for a DATE).
    fn derived_end(&self, rule: &FieldRule, ctx: &ParseCtx) -> Option<Prop> {
        let end_name = rule.property.to_ascii_uppercase();
        if end_name != "DTEND" && end_name != "DUE" {
            return None;
        }
        let start = ctx.props.iter().find(|p| p.name == "DTSTART")?;
        let dur = ctx
            .props
            .iter()
            .find(|p| p.name == "DURATION")
            .and_then(|p| parse_duration(p.value.trim()));
        let v = self.parse_time(start).ok()?;
        let (value, params) = match v {
            TimeVal::Date(d) => {
                let days = dur.map(|s| s / 86_400).unwrap_or(1);
                let end = d + Duration::days(days);
                (
                    end.format("%Y%m%d").to_string(),
                    vec![("VALUE".to_string(), vec!["DATE".to_string()])],
                )
            }
            TimeVal::Instant(t) => {
                let end = t + Duration::seconds(dur.unwrap_or(0));
                (end.format("%Y%m%dT%H%M%SZ").to_string(), vec![])
            }
        };
        Some(Prop {
            name: end_name,
            params,
            value,
        })
    }

    fn parse_time(&self, p: &Prop) -> Result<TimeVal, String> {
        let v = p.value.trim();
        if is_date_value(p) || (v.len() == 8 && v.bytes().all(|b| b.is_ascii_digit())) {
            let d = NaiveDate::parse_from_str(v, "%Y%m%d")
                .or_else(|_| NaiveDate::parse_from_str(v, "%Y-%m-%d"))
                .map_err(|_| format!("bad date {v:?}"))?;
            return Ok(TimeVal::Date(d));
        }
        if let Some(body) = v.strip_suffix(['Z', 'z']) {
            let n = NaiveDateTime::parse_from_str(body, "%Y%m%dT%H%M%S")
                .map_err(|_| format!("bad date-time {v:?}"))?;
            return Ok(TimeVal::Instant(Utc.from_utc_datetime(&n)));
        }
        if let Ok(n) = NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%S") {
            let tz = match p.param("TZID") {
                // Unknown TZIDs (custom VTIMEZONEs) fall back to the mapping's zone.
                Some(name) => timefmt::resolve_tz(name).unwrap_or(self.tz),
                // Floating time: the CRM's local time.
                None => self.tz,
            };
            return Ok(TimeVal::Instant(
                timefmt::local_to_zone(n, tz).with_timezone(&Utc),
            ));
        }
        // vCard 4.0 and sloppy clients: extended ISO forms.
        timefmt::parse_iso(v)
            .map(|parsed| match parsed {
                timefmt::Parsed::Date(d) => TimeVal::Date(d),
                other => TimeVal::Instant(timefmt::to_utc(other, self.tz)),
            })
            .ok_or_else(|| format!("bad date-time {v:?}"))
    }

    /// Write a DAV time as a date field + a time field in the rule's zone (a DATE: time null).
    fn write_split(
        &self,
        rule: &FieldRule,
        date_path: &str,
        time_path: &str,
        v: TimeVal,
        out: &mut Value,
    ) -> Result<(), MappingError> {
        match v {
            TimeVal::Date(d) => {
                set_path(
                    out,
                    date_path,
                    Value::String(d.format("%Y-%m-%d").to_string()),
                )?;
                set_path(out, time_path, Value::Null)
            }
            TimeVal::Instant(t) => {
                let local = t.with_timezone(&self.rule_zone(rule));
                let fmt = rule.time_format.as_deref().unwrap_or("%H:%M");
                set_path(
                    out,
                    date_path,
                    Value::String(local.format("%Y-%m-%d").to_string()),
                )?;
                set_path(out, time_path, Value::String(local.format(fmt).to_string()))
            }
        }
    }

    /// Seconds from DTSTART to DTEND (or DUE) when both are date-times.
    fn derived_duration(&self, ctx: &ParseCtx) -> Option<i64> {
        let find = |n: &str| ctx.props.iter().find(|p| p.name == n);
        let start = self.parse_time(find("DTSTART")?).ok()?;
        let end = self
            .parse_time(find("DTEND").or_else(|| find("DUE"))?)
            .ok()?;
        match (start, end) {
            (TimeVal::Instant(a), TimeVal::Instant(b)) if b >= a => Some((b - a).num_seconds()),
            _ => None,
        }
    }
}

enum TimeVal {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

struct ParseCtx {
    props: Vec<Prop>,
    claimed: Vec<bool>,
    /// (property, params) of every writable rule: a property that matches another rule's
    /// params is left for that rule instead of being taken as a fallback.
    rule_params: Vec<(String, BTreeMap<String, String>)>,
}

impl ParseCtx {
    /// The next unclaimed property for `rule`: one carrying all the rule's params first,
    /// else any with the name.
    fn take(&mut self, rule: &FieldRule) -> Option<Prop> {
        let name = rule.property.to_ascii_uppercase();
        let candidates: Vec<usize> = (0..self.props.len())
            .filter(|&i| !self.claimed[i] && self.props[i].name == name)
            .collect();
        let pick = candidates
            .iter()
            .copied()
            .find(|&i| {
                !rule.params.is_empty()
                    && rule
                        .params
                        .iter()
                        .all(|(k, v)| self.props[i].has_param(k, v))
            })
            .or_else(|| {
                if rule.params_match == ParamsMatch::Strict && !rule.params.is_empty() {
                    return None;
                }
                // A property carrying another rule's params is left for that rule.
                candidates.iter().copied().find(|&i| {
                    !self.rule_params.iter().any(|(n, params)| {
                        *n == name
                            && !params.is_empty()
                            && *params != rule.params
                            && params.iter().all(|(k, v)| self.props[i].has_param(k, v))
                    })
                })
            })?;
        self.claimed[pick] = true;
        Some(self.props[pick].clone())
    }
}

fn is_date_value(p: &Prop) -> bool {
    p.param("VALUE")
        .is_some_and(|v| v.eq_ignore_ascii_case("DATE"))
}

/// `[values] write_empty`: a cleared field is written as the CRM's empty value.
fn replace_nulls(v: &mut Value, empty: &Value) {
    match v {
        Value::Null => *v = empty.clone(),
        Value::Object(o) => o.values_mut().for_each(|x| replace_nulls(x, empty)),
        Value::Array(a) => a.iter_mut().for_each(|x| replace_nulls(x, empty)),
        _ => {}
    }
}

pub(super) fn set_path(out: &mut Value, path: &str, v: Value) -> Result<(), MappingError> {
    let segs = jsonpath::parse(path).map_err(MappingError::Config)?;
    jsonpath::set(out, &segs, v).map_err(MappingError::Config)
}
