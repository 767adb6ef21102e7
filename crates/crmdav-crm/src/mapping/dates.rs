//! Zones and all-day items: which zone a CRM value is in, whether a record is all-day, and a
//! datetime rule's input (one field, or a date field plus a time field).

use super::rules::{FieldRule, FieldType};
use super::Mapping;
use crate::record::{jsonpath, timefmt};
use chrono::NaiveTime;
use chrono_tz::Tz;
use serde_json::Value;

impl Mapping {
    pub(super) fn is_all_day(&self, data: &Value) -> bool {
        let Some(a) = &self.all_day else {
            return false;
        };
        if a.mode == "flag" {
            return a
                .flag
                .as_deref()
                .and_then(|p| jsonpath::get(data, p))
                .is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
        }
        // midnight: every all-day property present, each at local midnight (or a bare date).
        let mut seen = 0;
        for prop in &a.properties {
            let Some(rule) = self
                .fields
                .iter()
                .find(|r| r.property.eq_ignore_ascii_case(prop) && r.kind == FieldType::Datetime)
            else {
                continue;
            };
            let Some(parsed) = self.datetime_input(rule, data) else {
                return false;
            };
            let midnight = match parsed {
                timefmt::Parsed::Date(_) => true,
                p => {
                    let local =
                        timefmt::to_utc(p, self.rule_zone(rule)).with_timezone(&self.all_day_tz);
                    local.time() == NaiveTime::MIN
                }
            };
            if !midnight {
                return false;
            }
            seen += 1;
        }
        seen > 0
    }

    /// Whether `property` is rendered as DATE on all-day items.
    pub(super) fn is_all_day_property(&self, property: &str) -> bool {
        self.all_day.as_ref().is_some_and(|a| {
            a.properties
                .iter()
                .any(|p| p.eq_ignore_ascii_case(property))
        })
    }

    /// Whether `property` is an all-day end the CRM keeps as the last day (`inclusive_end`).
    pub(super) fn inclusive_end_prop(&self, property: &str) -> bool {
        self.all_day.as_ref().is_some_and(|a| a.inclusive_end)
            && (property.eq_ignore_ascii_case("DTEND") || property.eq_ignore_ascii_case("DUE"))
            && self.is_all_day_property(property)
    }

    /// The zone naive CRM values of `rule` are in.
    pub(super) fn rule_zone(&self, rule: &FieldRule) -> Tz {
        rule.zone
            .as_deref()
            .and_then(timefmt::resolve_tz)
            .unwrap_or(self.tz)
    }

    /// A datetime rule's CRM value: one ISO 8601 field (or epoch number), or a date field
    /// plus a `time_path` field (no time = a date alone).
    pub(super) fn datetime_input(&self, rule: &FieldRule, data: &Value) -> Option<timefmt::Parsed> {
        let v = rule
            .path
            .as_deref()
            .and_then(|p| jsonpath::get(data, p))
            .filter(|v| !self.values.is_empty(v))?;
        let Some(tp) = rule.time_path.as_deref() else {
            if let Some(p) = self.values.decode(v) {
                return Some(p);
            }
            return match v {
                Value::String(s) => timefmt::parse_iso(s),
                Value::Number(_) => timefmt::value_to_utc(v, self.rule_zone(rule))
                    .map(|t| timefmt::Parsed::Offset(t.fixed_offset())),
                _ => None,
            };
        };
        let date = match timefmt::parse_iso(v.as_str()?)? {
            timefmt::Parsed::Date(d) => d,
            timefmt::Parsed::Naive(n) => n.date(),
            timefmt::Parsed::Offset(o) => o.date_naive(),
        };
        let time = jsonpath::get(data, tp)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|t| !t.is_empty());
        match time {
            None => Some(timefmt::Parsed::Date(date)),
            Some(t) => {
                let fmt = rule.time_format.as_deref().unwrap_or("%H:%M");
                let time = NaiveTime::parse_from_str(t, fmt)
                    .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M:%S"))
                    .or_else(|_| NaiveTime::parse_from_str(t, "%H:%M"))
                    .ok()?;
                Some(timefmt::Parsed::Naive(date.and_time(time)))
            }
        }
    }
}
