//! The rule types of a mapping file (`mappings/<crm>/<entity>.toml`), as deserialised.

use super::{ComponentKind, VCardVersion};
use serde::Deserialize;
use std::collections::BTreeMap;

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
    /// Duration: `hh:mm` when the CRM stores `"01:30"`, `iso8601` for `"PT1H30M"`; default a
    /// number of `unit`s.
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
    /// DAV → CRM: where to take the value from when the client's property is missing or
    /// empty, tried in order: `ORG` (a property's first component), `N.1` (component 1 of a
    /// structured property), `FN`. Before `default`.
    #[serde(default)]
    pub fallback: Vec<String>,
    /// Structured: a fallback chain per part path (`{ last_name = ["ORG", "FN"] }`), as
    /// `fallback` for the whole value.
    #[serde(default)]
    pub part_fallback: BTreeMap<String, Vec<String>>,
    /// Structured: a value table per part path, CRM value → DAV value
    /// (`{ country = { DE = "Germany" } }`); reversed on write (any case), unknown values
    /// pass through unchanged.
    #[serde(default)]
    pub part_values: BTreeMap<String, BTreeMap<String, String>>,
    /// List of objects: only elements carrying these values (path inside the element → value,
    /// `{ type = "email" }`) are this rule's; elements written get them set. Several rules may
    /// share one array this way (EMAIL and TEL from `contact_methods`); together they write
    /// the whole array.
    #[serde(default)]
    pub item_filter: BTreeMap<String, serde_json::Value>,
    /// List: the JSON the list is written inside, `"{items}"` standing for the array (Odoo's
    /// replace command `[[6, 0, "{items}"]]`), for CRMs where a plain array would add to the
    /// existing entries instead of replacing them.
    #[serde(default)]
    pub write_template: Option<serde_json::Value>,
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
pub(super) struct MappingFile {
    #[serde(default)]
    pub(super) crm: Option<String>,
    #[serde(default)]
    pub(super) entity: Option<String>,
    #[serde(deserialize_with = "mapped_component")]
    pub(super) component: ComponentKind,
    #[serde(default = "utc")]
    pub(super) timezone: String,
    #[serde(default)]
    pub(super) prodid: Option<String>,
    #[serde(default)]
    pub(super) uid: Option<String>,
    #[serde(default)]
    pub(super) vcard_version: VCardVersion,
    #[serde(default)]
    pub(super) dtstamp_path: Option<String>,
    #[serde(default)]
    pub(super) all_day: Option<AllDay>,
    #[serde(default, rename = "field")]
    pub(super) fields: Vec<FieldRule>,
    /// How the CRM encodes dates and empty values (`[values]`, see `record::typed_values`).
    #[serde(default)]
    pub(super) values: crate::record::typed_values::ValueCodecDef,
}

fn utc() -> String {
    "UTC".into()
}

/// A mapping makes a VEVENT, a VTODO or a vCard (the same serde error as an enum of those three).
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
