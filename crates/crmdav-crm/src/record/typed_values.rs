//! `[values]`: how a CRM encodes dates and empty values when it does not use ISO 8601 strings
//! and `null` — typed date objects (`{"__type": "date", "value": "2026-12-05"}`,
//! `{"__class__": "datetime", "year": 2026, …}`), fixed patterns in a fixed zone (Odoo's naive
//! UTC `2026-12-05 10:00:00`), `false` for an empty field. Declared in a connector definition
//! (for `modified_field`) and in a mapping file (for its date, date-time and text rules); both
//! directions.

use super::jsonpath;
use super::timefmt::{self, Parsed};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use serde::Deserialize;
use serde_json::Value;

/// The `[values]` table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueCodecDef {
    /// JSON values that mean "no value" on read, besides `null` (Odoo: `[false]`).
    #[serde(default)]
    pub empty: Vec<Value>,
    /// What a cleared field is written as instead of `null` (Odoo accepts `false`).
    #[serde(default)]
    pub write_empty: Option<Value>,
    /// How dates and date-times are encoded; without it ISO 8601 strings and epoch numbers.
    #[serde(default)]
    pub dates: Option<DateCodecDef>,
    /// The zone of date-times without an offset in this encoding (Odoo: `UTC`); default the
    /// zone of the rule or definition reading them.
    #[serde(default)]
    pub zone: Option<String>,
}

/// Date encodings.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum DateCodecDef {
    /// An object with a type tag and an ISO 8601 value:
    /// `{"__type": "date", "value": "2026-12-05"}`.
    Tagged {
        #[serde(default = "type_tag")]
        tag_path: String,
        #[serde(default = "value_key")]
        value_path: String,
        #[serde(default = "date_name")]
        date_tag: String,
        #[serde(default = "datetime_name")]
        datetime_tag: String,
    },
    /// An object of numeric parts (Tryton): `{"__class__": "datetime", "year": 2026,
    /// "month": 12, "day": 5, "hour": 10, "minute": 0, "second": 0}`; dates lack the time.
    Parts {
        #[serde(default = "class_tag")]
        tag_path: String,
        #[serde(default = "date_name")]
        date_tag: String,
        #[serde(default = "datetime_name")]
        datetime_tag: String,
    },
    /// Strings in strftime patterns (Odoo: `%Y-%m-%d %H:%M:%S`, dates `%Y-%m-%d`).
    Pattern {
        datetime_format: String,
        #[serde(default = "date_pattern")]
        date_format: String,
    },
}

fn type_tag() -> String {
    "__type".into()
}
fn class_tag() -> String {
    "__class__".into()
}
fn value_key() -> String {
    "value".into()
}
fn date_name() -> String {
    "date".into()
}
fn datetime_name() -> String {
    "datetime".into()
}
fn date_pattern() -> String {
    "%Y-%m-%d".into()
}

impl ValueCodecDef {
    /// Check paths and the zone.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(z) = &self.zone {
            timefmt::resolve_tz(z).ok_or_else(|| format!("unknown time zone {z:?}"))?;
        }
        match &self.dates {
            Some(DateCodecDef::Tagged {
                tag_path,
                value_path,
                ..
            }) => {
                jsonpath::parse(tag_path)?;
                jsonpath::parse(value_path)?;
            }
            Some(DateCodecDef::Parts { tag_path, .. }) => {
                jsonpath::parse(tag_path)?;
            }
            Some(DateCodecDef::Pattern {
                datetime_format, ..
            }) if !datetime_format.contains('%') => {
                return Err(format!(
                    "dates.datetime_format {datetime_format:?} is not a strftime pattern"
                ))
            }
            _ => {}
        }
        Ok(())
    }

    /// Whether `v` means "no value" (`null`, or one of `empty`).
    pub fn is_empty(&self, v: &Value) -> bool {
        v.is_null() || self.empty.contains(v)
    }

    /// A date or date-time in this encoding; `None` when `v` is not one (callers then try
    /// ISO 8601 and epoch numbers). A naive value in a codec with `zone` comes back with that
    /// zone's offset applied.
    pub fn decode(&self, v: &Value) -> Option<Parsed> {
        let parsed = match self.dates.as_ref()? {
            DateCodecDef::Tagged {
                tag_path,
                value_path,
                date_tag,
                datetime_tag,
            } => {
                let tag = jsonpath::get(v, tag_path)?.as_str()?;
                let raw = jsonpath::get(v, value_path)?.as_str()?;
                match timefmt::parse_iso(raw)? {
                    Parsed::Date(d) if tag == date_tag || tag == datetime_tag => Parsed::Date(d),
                    p if tag == datetime_tag => p,
                    p if tag == date_tag => Parsed::Date(date_of(p)),
                    _ => return None,
                }
            }
            DateCodecDef::Parts {
                tag_path,
                date_tag,
                datetime_tag,
            } => {
                let tag = jsonpath::get(v, tag_path)?.as_str()?;
                let n = |k: &str| v.get(k).and_then(Value::as_u64).map(|x| x as u32);
                let date = NaiveDate::from_ymd_opt(n("year")? as i32, n("month")?, n("day")?)?;
                if tag == date_tag {
                    Parsed::Date(date)
                } else if tag == datetime_tag {
                    let time = NaiveTime::from_hms_micro_opt(
                        n("hour").unwrap_or(0),
                        n("minute").unwrap_or(0),
                        n("second").unwrap_or(0),
                        n("microsecond").unwrap_or(0),
                    )?;
                    Parsed::Naive(date.and_time(time))
                } else {
                    return None;
                }
            }
            DateCodecDef::Pattern {
                datetime_format,
                date_format,
            } => {
                let s = v.as_str()?.trim();
                if let Ok(n) = NaiveDateTime::parse_from_str(s, datetime_format) {
                    Parsed::Naive(n)
                } else {
                    Parsed::Date(NaiveDate::parse_from_str(s, date_format).ok()?)
                }
            }
        };
        Some(match (parsed, self.zone_tz()) {
            (Parsed::Naive(n), Some(tz)) => {
                Parsed::Offset(timefmt::local_to_zone(n, tz).fixed_offset())
            }
            (p, _) => p,
        })
    }

    /// An instant as a CRM value: `Some` in this encoding, `None` without `dates` (callers
    /// then use their `write_format`). Naive encodings are written in `zone` (else `tz`).
    pub fn encode_datetime(&self, t: DateTime<Utc>, tz: chrono_tz::Tz) -> Option<Value> {
        let dates = self.dates.as_ref()?;
        let zone = self.zone_tz().unwrap_or(tz);
        let local = t.with_timezone(&zone).naive_local();
        Some(match dates {
            DateCodecDef::Tagged {
                tag_path,
                value_path,
                datetime_tag,
                ..
            } => {
                let iso = if self.zone.is_some() {
                    local.format("%Y-%m-%dT%H:%M:%S").to_string()
                } else {
                    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
                };
                tagged(tag_path, datetime_tag, value_path, iso)
            }
            DateCodecDef::Parts {
                tag_path,
                datetime_tag,
                ..
            } => {
                let mut o = parts(local.date());
                o["hour"] = local.hour().into();
                o["minute"] = local.minute().into();
                o["second"] = local.second().into();
                o["microsecond"] = 0.into();
                with_tag(o, tag_path, datetime_tag)
            }
            DateCodecDef::Pattern {
                datetime_format, ..
            } => Value::String(local.format(datetime_format).to_string()),
        })
    }

    /// A date as a CRM value; `None` without `dates`.
    pub fn encode_date(&self, d: NaiveDate) -> Option<Value> {
        Some(match self.dates.as_ref()? {
            DateCodecDef::Tagged {
                tag_path,
                value_path,
                date_tag,
                ..
            } => tagged(
                tag_path,
                date_tag,
                value_path,
                d.format("%Y-%m-%d").to_string(),
            ),
            DateCodecDef::Parts {
                tag_path, date_tag, ..
            } => with_tag(parts(d), tag_path, date_tag),
            DateCodecDef::Pattern { date_format, .. } => {
                Value::String(d.format(date_format).to_string())
            }
        })
    }

    /// A CRM value as an instant: this encoding first, then ISO 8601 and epoch numbers (naive
    /// values in `tz`). `None` for empty values and anything else.
    pub fn to_utc(&self, v: &Value, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
        if self.is_empty(v) {
            return None;
        }
        match self.decode(v) {
            Some(p) => Some(timefmt::to_utc(p, tz)),
            None => timefmt::value_to_utc(v, tz),
        }
    }

    fn zone_tz(&self) -> Option<chrono_tz::Tz> {
        self.zone.as_deref().and_then(timefmt::resolve_tz)
    }
}

fn date_of(p: Parsed) -> NaiveDate {
    match p {
        Parsed::Date(d) => d,
        Parsed::Naive(n) => n.date(),
        Parsed::Offset(o) => o.date_naive(),
    }
}

fn parts(d: NaiveDate) -> Value {
    serde_json::json!({"year": d.year(), "month": d.month(), "day": d.day()})
}

fn with_tag(mut o: Value, tag_path: &str, tag: &str) -> Value {
    if let Ok(segs) = jsonpath::parse(tag_path) {
        // `o` is an object: setting a key in it cannot fail.
        let _ = jsonpath::set(&mut o, &segs, Value::String(tag.to_string()));
    }
    o
}

fn tagged(tag_path: &str, tag: &str, value_path: &str, value: String) -> Value {
    let mut o = Value::Object(Default::default());
    if let Ok(segs) = jsonpath::parse(value_path) {
        let _ = jsonpath::set(&mut o, &segs, Value::String(value));
    }
    with_tag(o, tag_path, tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn codec(t: &str) -> ValueCodecDef {
        let d: ValueCodecDef = toml::from_str(t).unwrap();
        d.validate().unwrap();
        d
    }

    #[test]
    fn tagged_objects_both_ways() {
        let c = codec("[dates]\nstyle = \"tagged\"\n");
        let berlin = chrono_tz::Europe::Berlin;
        let d = json!({"__type": "date", "value": "2026-12-05"});
        assert_eq!(
            c.decode(&d),
            Some(Parsed::Date(NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()))
        );
        assert_eq!(
            c.encode_date(NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()),
            Some(d)
        );
        let t = Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap();
        let enc = c.encode_datetime(t, berlin).unwrap();
        assert_eq!(
            enc,
            json!({"__type": "datetime", "value": "2026-12-05T09:00:00Z"})
        );
        assert_eq!(c.to_utc(&enc, berlin), Some(t));
        assert_eq!(
            c.decode(&json!("2026-12-05")),
            None,
            "plain ISO is left to callers"
        );
        assert_eq!(
            c.to_utc(&json!("2026-12-05T09:00:00Z"), berlin),
            Some(t),
            "ISO strings still read"
        );
    }

    #[test]
    fn parts_and_patterns_in_a_zone() {
        let berlin = chrono_tz::Europe::Berlin;
        let t = Utc.with_ymd_and_hms(2026, 12, 5, 9, 30, 0).unwrap();
        let c = codec("zone = \"UTC\"\n[dates]\nstyle = \"parts\"\n");
        let v = json!({"__class__": "datetime", "year": 2026, "month": 12, "day": 5,
                       "hour": 9, "minute": 30, "second": 0, "microsecond": 0});
        assert_eq!(c.to_utc(&v, berlin), Some(t));
        assert_eq!(c.encode_datetime(t, berlin), Some(v));
        let odoo = codec(
            "empty = [false]\nwrite_empty = false\nzone = \"UTC\"\n[dates]\nstyle = \"pattern\"\ndatetime_format = \"%Y-%m-%d %H:%M:%S\"\n",
        );
        assert_eq!(odoo.to_utc(&json!("2026-12-05 09:30:00"), berlin), Some(t));
        assert_eq!(
            odoo.encode_datetime(t, berlin),
            Some(json!("2026-12-05 09:30:00"))
        );
        assert_eq!(
            odoo.decode(&json!("2026-12-05")),
            Some(Parsed::Date(NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()))
        );
        assert!(odoo.is_empty(&json!(false)) && odoo.is_empty(&Value::Null));
        assert!(!odoo.is_empty(&json!(true)));
        assert_eq!(odoo.to_utc(&json!(false), berlin), None);
    }
}
