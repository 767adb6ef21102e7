//! One CRM record (JSON) ⇄ one iCalendar VEVENT/VTODO or one vCard, driven by
//! `mappings/<crm>/<entity>.toml` (see `docs/connectors.md`).
//!
//! Rendering is deterministic (same record, same bytes: the sync layer's ETag is a hash of
//! them): properties come out in rule order, DTSTAMP comes from the record, VTIMEZONE blocks
//! are generated from the IANA database for the years the record touches.
//! Parsing returns the JSON patch of the writable mapped fields only; read-only and template
//! fields never go upstream.

pub mod text;

use crate::connector::rest::def::substitute_toml;
use crate::connector::rest::{jsonpath, timefmt};
use crate::connector::Record;
use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use text::{escape, param_value, push_line, split_unescaped, unescape, Prop};

/// Why a mapping could not be loaded or a body not be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// The mapping file is wrong.
    #[error("mapping configuration: {0}")]
    Config(String),
    /// The body is not the expected component.
    #[error("cannot read the item: {0}")]
    Parse(String),
    /// A property holds a value the CRM field cannot take.
    #[error("{property}: {message}")]
    Invalid { property: String, message: String },
}

pub use crate::vocab::ComponentKind;
pub use crate::vocab::VCardVersion;

/// Who may write a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// CRM → DAV and DAV → CRM.
    #[default]
    ReadWrite,
    /// CRM → DAV only: never written upstream.
    ReadOnly,
    /// DAV → CRM only: not rendered.
    WriteOnly,
}

/// Field rule kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A text value (escaped), or a URI when `prefix` is set.
    #[default]
    Text,
    /// A date-time in any ISO 8601 form; rendered in the mapping's zone (or UTC).
    Datetime,
    /// A date alone (all-day DUE, BDAY).
    Date,
    /// A number of `unit`s ⇄ an ISO 8601 DURATION.
    Duration,
    /// A lookup table CRM value ⇄ DAV value.
    Enum,
    /// Text built from several fields (read-only).
    Template,
    /// A structured value (N, ADR, ORG) from several paths.
    Structured,
    /// An array field ⇄ repeated properties or one comma list.
    List,
}

/// What an absent property means on write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Absent {
    /// Clear the CRM field (`null`; `[]` for lists).
    #[default]
    Null,
    /// Leave the CRM field out of the patch.
    Omit,
    /// Write an empty string (CRMs that clear a field with `""`, not `null`).
    Empty,
}

/// How a rule's `params` pick among several properties of one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ParamsMatch {
    /// Prefer a property carrying all the params, else take any of that name.
    #[default]
    Prefer,
    /// Only a property carrying all the params (e.g. `TEL;TYPE=CELL` for a mobile field).
    Strict,
}

/// JSON type to write a text or enum value back as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// Strings stay strings; for enums `true`/`false`/integers become JSON bools/numbers.
    #[default]
    Auto,
    String,
    Integer,
    Number,
    Bool,
}

/// One field rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// The iCalendar/vCard property (e.g. `SUMMARY`, `DTSTART`, `TEL`).
    pub property: String,
    /// JSON path in the record (absent for a constant `default` or a `template`).
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default, rename = "type")]
    pub kind: FieldType,
    #[serde(default)]
    pub access: Access,
    /// Value rendered when the CRM field is missing; for enums the DAV value assumed when the
    /// property is absent or the CRM value unknown.
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub absent: Absent,
    /// Parameters put on the property and preferred when several properties share a name.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// `prefer` (default) or `strict`: see [`ParamsMatch`].
    #[serde(default)]
    pub params_match: ParamsMatch,
    /// URI prefix (`mailto:`, `tel:`) added on render, stripped on parse; the value is not
    /// TEXT-escaped then.
    #[serde(default)]
    pub prefix: Option<String>,
    /// Datetime: how to write it upstream (`offset`, `local`, `rfc3339`, `unix`, …; see
    /// `timefmt::format_instant`).
    #[serde(default)]
    pub write_format: Option<String>,
    /// Datetime: render in `zone` (default, with TZID and VTIMEZONE) or `utc`.
    #[serde(default)]
    pub output: Option<String>,
    /// Duration: `seconds`, `minutes` (default), `hours`, `days`.
    #[serde(default)]
    pub unit: Option<String>,
    /// Enum: CRM value → DAV value.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
    /// Enum: extra DAV value → CRM value pairs accepted on write (e.g. `IN-PROCESS` → `false`).
    #[serde(default)]
    pub write_values: BTreeMap<String, String>,
    /// Template alternatives; the first that renders non-empty wins.
    #[serde(default)]
    pub template: Vec<String>,
    /// Structured: a path per component (empty string = nothing).
    #[serde(default)]
    pub parts: Vec<String>,
    /// List: `repeat` (one property per element, default) or `comma`.
    #[serde(default)]
    pub style: Option<String>,
    #[serde(default)]
    pub value_type: ValueType,
    /// DAV → CRM: also write the value to these paths (a CRM that wants one value in two
    /// fields, e.g. HubSpot's `hs_timestamp` beside `hs_meeting_start_time`).
    #[serde(default)]
    pub also_paths: Vec<String>,
    /// Datetime: the time of day lives in this other field (`path` then holds the date), as
    /// Pipedrive's `due_date` + `due_time`; an empty time means a date alone (all-day).
    #[serde(default)]
    pub time_path: Option<String>,
    /// Datetime with `time_path`: strftime pattern of the time field (default `%H:%M`).
    #[serde(default)]
    pub time_format: Option<String>,
    /// Datetime: the zone of naive CRM values of this field, and of split date/time written
    /// back (e.g. `UTC`); default the mapping's `timezone`.
    #[serde(default)]
    pub zone: Option<String>,
    /// Duration: `hh:mm` when the CRM stores `"01:30"` instead of a number of `unit`s.
    #[serde(default)]
    pub format: Option<String>,
    /// List of objects: the path of the value inside each element of the array at `path`
    /// (`emails` = `[{"value": …, "label": "work"}]` with `item_value = "value"`).
    #[serde(default)]
    pub item_value: Option<String>,
    /// List of objects: parameter ← path inside each element (`{ TYPE = "label" }`).
    #[serde(default)]
    pub item_params: BTreeMap<String, String>,
    /// Per parameter, CRM value → DAV value (`{ TYPE = { mobile = "CELL" } }`); reversed on
    /// write (first parameter value that maps wins). Unmapped CRM values are upper-cased.
    #[serde(default)]
    pub param_values: BTreeMap<String, BTreeMap<String, String>>,
}

/// All-day detection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllDay {
    /// `midnight`: start and end both at local midnight means all-day; `flag`: a boolean field.
    pub mode: String,
    /// Path of the boolean for `flag` mode.
    #[serde(default)]
    pub flag: Option<String>,
    /// The properties rendered as DATE when all-day.
    #[serde(default = "all_day_props")]
    pub properties: Vec<String>,
    /// Zone in which the CRM keeps all-day timestamps (Salesforce: midnight `UTC`); default
    /// the mapping's zone.
    #[serde(default)]
    pub date_zone: Option<String>,
    /// The CRM's end of an all-day event is its last day (Salesforce), not the day after
    /// (iCalendar's exclusive DTEND): one day is added on render and taken off on write.
    #[serde(default)]
    pub inclusive_end: bool,
}

fn all_day_props() -> Vec<String> {
    vec!["DTSTART".into(), "DTEND".into()]
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct MappingFile {
    #[serde(default)]
    crm: Option<String>,
    #[serde(default)]
    entity: Option<String>,
    #[serde(deserialize_with = "mapped_component")]
    component: ComponentKind,
    #[serde(default = "utc")]
    timezone: String,
    #[serde(default)]
    prodid: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    vcard_version: VCardVersion,
    #[serde(default)]
    dtstamp_path: Option<String>,
    #[serde(default)]
    all_day: Option<AllDay>,
    #[serde(default, rename = "field")]
    fields: Vec<FieldRule>,
}

/// A mapping renders a VEVENT, a VTODO or a VCARD (named as in the file, upper case).
fn mapped_component<'de, D: serde::Deserializer<'de>>(d: D) -> Result<ComponentKind, D::Error> {
    const NAMES: &[&str] = &["VEVENT", "VTODO", "VCARD"];
    let name = String::deserialize(d)?;
    match name.as_str() {
        "VEVENT" => Ok(ComponentKind::Vevent),
        "VTODO" => Ok(ComponentKind::Vtodo),
        "VCARD" => Ok(ComponentKind::Vcard),
        _ => Err(serde::de::Error::unknown_variant(&name, NAMES)),
    }
}

fn utc() -> String {
    "UTC".into()
}

/// A loaded mapping for one CRM entity.
#[derive(Debug, Clone)]
pub struct Mapping {
    crm: String,
    entity: String,
    component: ComponentKind,
    tz: Tz,
    tz_name: String,
    prodid: String,
    uid_template: String,
    vcard_version: VCardVersion,
    dtstamp_path: Option<String>,
    all_day: Option<AllDay>,
    /// Zone of all-day timestamps (`all_day.date_zone`, else the mapping's zone).
    all_day_tz: Tz,
    fields: Vec<FieldRule>,
}

/// Properties whose values are URIs or cal-addresses, never TEXT-escaped.
const URI_PROPS: &[&str] = &[
    "ATTENDEE",
    "ORGANIZER",
    "URL",
    "PHOTO",
    "SOURCE",
    "TZURL",
    "IMPP",
];

impl Mapping {
    /// Load `mappings/<crm>/<entity>.toml` (defaults: `crm` is the folder name, `entity` the
    /// file stem). `${VAR:-default}` placeholders take their defaults.
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self, MappingError> {
        Self::load_with(path, &HashMap::new())
    }

    /// Load with tenant options for `${VAR}` placeholders (e.g. `${timezone}`).
    pub fn load_with(
        path: impl AsRef<std::path::Path>,
        options: &HashMap<String, String>,
    ) -> Result<Self, MappingError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| MappingError::Config(format!("cannot read {}: {e}", path.display())))?;
        let crm = path
            .parent()
            .and_then(|p| p.file_name())
            .map(|s| s.to_string_lossy().into_owned());
        let entity = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        Self::from_toml_str(&text, options, crm, entity)
            .map_err(|e| MappingError::Config(format!("{}: {e}", path.display())))
    }

    /// Parse a mapping from text; `crm`/`entity` are defaults for the file's own keys.
    pub fn from_toml_str(
        text: &str,
        options: &HashMap<String, String>,
        crm: Option<String>,
        entity: Option<String>,
    ) -> Result<Self, String> {
        let mut value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
        substitute_toml(&mut value, options)?;
        let f: MappingFile = value
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())?;
        let crm = f.crm.or(crm).unwrap_or_else(|| "crm".into());
        let entity = f.entity.or(entity).unwrap_or_else(|| "item".into());
        let tz = timefmt::resolve_tz(&f.timezone)
            .ok_or_else(|| format!("unknown time zone {:?}", f.timezone))?;
        for r in &f.fields {
            for p in r.path.iter().chain(r.parts.iter()) {
                jsonpath::parse(p).map_err(|e| format!("{}: {e}", r.property))?;
            }
            let needs_path = !matches!(r.kind, FieldType::Template | FieldType::Structured);
            if needs_path && r.path.is_none() && r.default.is_none() {
                return Err(format!("{}: needs a path or a default", r.property));
            }
            if r.kind == FieldType::Template && r.template.is_empty() {
                return Err(format!("{}: template rule without template", r.property));
            }
            if let Some(z) = &r.zone {
                timefmt::resolve_tz(z)
                    .ok_or_else(|| format!("{}: unknown time zone {z:?}", r.property))?;
            }
            for p in r.time_path.iter().chain(r.item_value.iter()) {
                jsonpath::parse(p).map_err(|e| format!("{}: {e}", r.property))?;
            }
            if r.kind == FieldType::Enum && r.values.is_empty() {
                return Err(format!("{}: enum rule without values", r.property));
            }
        }
        if let Some(a) = &f.all_day {
            if a.mode != "midnight" && a.mode != "flag" {
                return Err(format!(
                    "all_day.mode must be midnight or flag, not {:?}",
                    a.mode
                ));
            }
            if a.mode == "flag" && a.flag.is_none() {
                return Err("all_day.mode = flag needs all_day.flag".into());
            }
        }
        for r in &f.fields {
            for p in &r.also_paths {
                jsonpath::parse(p).map_err(|e| format!("{}: {e}", r.property))?;
            }
        }
        let all_day_tz = match f.all_day.as_ref().and_then(|a| a.date_zone.as_deref()) {
            Some(z) => timefmt::resolve_tz(z)
                .ok_or_else(|| format!("all_day.date_zone: unknown time zone {z:?}"))?,
            None => tz,
        };
        Ok(Self {
            prodid: f.prodid.unwrap_or_else(|| format!("-//crmdav//{crm}//EN")),
            uid_template: f
                .uid
                .unwrap_or_else(|| format!("{crm}-{entity}-{{id}}@crmdav")),
            crm,
            entity,
            component: f.component,
            tz,
            tz_name: tz.name().to_string(),
            vcard_version: f.vcard_version,
            dtstamp_path: f.dtstamp_path,
            all_day: f.all_day,
            all_day_tz,
            fields: f.fields,
        })
    }

    /// The component this mapping produces.
    pub fn component(&self) -> ComponentKind {
        self.component
    }

    /// The CRM and entity names.
    pub fn names(&self) -> (&str, &str) {
        (&self.crm, &self.entity)
    }

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

    fn is_all_day(&self, data: &Value) -> bool {
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
        let value = at(&rule.path).filter(|v| !v.is_null());
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
                                .and_then(jsonpath::scalar_string)
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
                if rule.format.as_deref() == Some("hh:mm") {
                    return match value.and_then(Value::as_str).and_then(parse_hh_mm) {
                        Some(secs) => {
                            vec![format!("{}:{}", self.head(rule, ""), format_duration(secs))]
                        }
                        None => vec![],
                    };
                }
                let n = value.and_then(|v| {
                    v.as_f64()
                        .or_else(|| v.as_str().and_then(|s| s.parse::<f64>().ok()))
                });
                match n {
                    Some(n) => {
                        let secs = (n * unit_seconds(rule.unit.as_deref()) as f64).round() as i64;
                        vec![format!("{}:{}", self.head(rule, ""), format_duration(secs))]
                    }
                    None => vec![],
                }
            }
            FieldType::Date => {
                let d = value
                    .and_then(Value::as_str)
                    .and_then(timefmt::parse_iso)
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
                        .filter(|s| !s.is_empty());
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
                    items.extend(
                        values
                            .into_iter()
                            .map(|s| s.trim().to_string())
                            .filter(|s| !s.is_empty())
                            .map(Value::String),
                    );
                }
                if items.is_empty() && rule.absent == Absent::Omit {
                    return Ok(());
                }
                set_path(out, path, Value::Array(items))
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
                    (FieldType::Duration, None) if rule.format.as_deref() == Some("hh:mm") => {
                        // No DURATION: the span DTSTART → DTEND (or DUE) of a timed item.
                        self.derived_duration(ctx)
                            .map(|secs| Value::String(format_hh_mm(secs)))
                    }
                    (FieldType::Duration, Some(p)) if rule.format.as_deref() == Some("hh:mm") => {
                        let secs = parse_duration(p.value.trim())
                            .ok_or_else(|| invalid(format!("bad duration {:?}", p.value)))?;
                        Some(Value::String(format_hh_mm(secs)))
                    }
                    (FieldType::Duration, Some(p)) => {
                        let secs = parse_duration(p.value.trim())
                            .ok_or_else(|| invalid(format!("bad duration {:?}", p.value)))?;
                        let unit = unit_seconds(rule.unit.as_deref());
                        Some(if secs % unit == 0 {
                            Value::from(secs / unit)
                        } else {
                            Value::from(secs as f64 / unit as f64)
                        })
                    }
                    (FieldType::Date, Some(p)) => {
                        let v = self.parse_time(&p).map_err(invalid)?;
                        let d = match v {
                            TimeVal::Date(d) => d,
                            TimeVal::Instant(t) => t.with_timezone(&self.tz).date_naive(),
                        };
                        Some(Value::String(d.format("%Y-%m-%d").to_string()))
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
                                Some(Value::String(timefmt::format_instant(t, fmt, self.tz)))
                            }
                        }
                    }
                    (_, None) => None,
                    (FieldType::Template | FieldType::Structured | FieldType::List, _) => None,
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

    /// Whether `property` is rendered as DATE on all-day items.
    fn is_all_day_property(&self, property: &str) -> bool {
        self.all_day.as_ref().is_some_and(|a| {
            a.properties
                .iter()
                .any(|p| p.eq_ignore_ascii_case(property))
        })
    }

    /// Whether `property` is an all-day end the CRM keeps as the last day (`inclusive_end`).
    fn inclusive_end_prop(&self, property: &str) -> bool {
        self.all_day.as_ref().is_some_and(|a| a.inclusive_end)
            && (property.eq_ignore_ascii_case("DTEND") || property.eq_ignore_ascii_case("DUE"))
            && self.is_all_day_property(property)
    }

    /// The zone naive CRM values of `rule` are in.
    fn rule_zone(&self, rule: &FieldRule) -> Tz {
        rule.zone
            .as_deref()
            .and_then(timefmt::resolve_tz)
            .unwrap_or(self.tz)
    }

    /// A datetime rule's CRM value: one ISO 8601 field (or epoch number), or a date field
    /// plus a `time_path` field (no time = a date alone).
    fn datetime_input(&self, rule: &FieldRule, data: &Value) -> Option<timefmt::Parsed> {
        let v = rule
            .path
            .as_deref()
            .and_then(|p| jsonpath::get(data, p))
            .filter(|v| !v.is_null())?;
        let Some(tp) = rule.time_path.as_deref() else {
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
        for el in elements {
            let Some(value) = jsonpath::get(el, iv)
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
        set_path(out, path, Value::Array(items))
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

fn set_path(out: &mut Value, path: &str, v: Value) -> Result<(), MappingError> {
    let segs = jsonpath::parse(path).map_err(MappingError::Config)?;
    jsonpath::set(out, &segs, v).map_err(MappingError::Config)
}

/// Convert a DAV string to the JSON type the CRM field wants.
fn typed(s: &str, t: ValueType, enum_key: bool) -> Result<Value, String> {
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
fn fill_template(t: &str, data: &Value, id: Option<&str>) -> String {
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

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn unit_seconds(unit: Option<&str>) -> i64 {
    match unit.unwrap_or("minutes") {
        "seconds" => 1,
        "hours" => 3600,
        "days" => 86_400,
        _ => 60,
    }
}

/// `"01:30"` (hours:minutes, as Pipedrive's `duration`) → seconds.
fn parse_hh_mm(s: &str) -> Option<i64> {
    let (h, m) = s.trim().split_once(':')?;
    let m = m.split(':').next()?;
    Some(h.trim().parse::<i64>().ok()? * 3600 + m.trim().parse::<i64>().ok()? * 60)
}

/// Seconds → `"HH:MM"` (rounded down to the minute).
fn format_hh_mm(secs: i64) -> String {
    let m = secs.max(0) / 60;
    format!("{:02}:{:02}", m / 60, m % 60)
}

pub use crate::contentline::format_duration;

/// A DURATION (RFC 5545 §3.3.6) in seconds, days counted as 86,400 (`P1W`, `PT1H30M`, `-P2D`).
pub fn parse_duration(s: &str) -> Option<i64> {
    crate::contentline::parse_duration(s).map(|d| d.approx_secs())
}

/// A VTIMEZONE block for `tz_name` covering the years from `from` to `to` (unix seconds),
/// generated by calcard from the IANA database.
fn vtimezone(tz_name: &str, from: i64, to: i64) -> Option<String> {
    let year = |ts: i64| DateTime::<Utc>::from_timestamp(ts, 0).map(|d| d.year());
    let start = Utc
        .with_ymd_and_hms(year(from)?, 1, 1, 0, 0, 0)
        .single()?
        .timestamp()
        - 86_400;
    let end = Utc
        .with_ymd_and_hms(year(to)? + 2, 1, 1, 0, 0, 0)
        .single()?
        .timestamp();
    let mut cal = calcard::icalendar::ICalendar::parse(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmdav//EN\r\nEND:VCALENDAR\r\n",
    )
    .ok()?;
    cal.add_timezone(tz_name, start, end)?;
    let text = cal.to_string();
    let begin = text.find("BEGIN:VTIMEZONE")?;
    let end_marker = "END:VTIMEZONE\r\n";
    let stop = text.rfind(end_marker)? + end_marker.len();
    Some(text.get(begin..stop)?.to_string())
}

#[cfg(test)]
mod tests;
