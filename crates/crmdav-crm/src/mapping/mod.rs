//! One CRM record (JSON) ⇄ one iCalendar VEVENT/VTODO or one vCard, driven by
//! `mappings/<crm>/<entity>.toml` (see `docs/connectors.md`).
//!
//! Rendering is deterministic (same record, same bytes: the store's ETag is a hash of
//! them): properties come out in rule order, DTSTAMP comes from the record, VTIMEZONE blocks
//! are generated from the IANA database for the years the record touches.
//! Parsing returns the JSON patch of the writable mapped fields only; read-only and template
//! fields never go upstream.
//!
//! The files, one concern each: `rules` (the rule types of a mapping file), `load` (reading
//! and checking a file), `render` (CRM JSON → iCalendar/vCard), `parse` (iCalendar/vCard →
//! CRM JSON), `dates` (zones, all-day detection and date-time input), `values` (value
//! conversions: templates, JSON types, durations), `vtimezone` (VTIMEZONE blocks), `text`
//! (content lines).

mod dates;
mod element_filter;
mod fallback;
mod load;
mod parse;
mod render;
mod rules;
pub mod text;
mod values;
mod vtimezone;

pub use rules::{Absent, Access, AllDay, FieldRule, FieldType, ParamsMatch, ValueType};
pub use values::{format_duration, parse_duration};

use chrono_tz::Tz;
use std::collections::BTreeSet;

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

pub use crate::vocab::{ComponentKind, VCardVersion};

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
    /// How the CRM encodes dates and empty values (`[values]`).
    values: crate::record::typed_values::ValueCodecDef,
    /// Upper-case names of the properties the rules write (see [`Mapping::mapped_properties`]).
    mapped: BTreeSet<String>,
}

impl Mapping {
    /// The component this mapping produces.
    pub fn component(&self) -> ComponentKind {
        self.component
    }

    /// The CRM and entity names.
    pub fn names(&self) -> (&str, &str) {
        (&self.crm, &self.entity)
    }

    /// The upper-case names of the properties this mapping owns: every rule's property (any
    /// access) and the all-day properties the file names. On render these come from the CRM;
    /// a client's other properties are kept.
    pub fn mapped_properties(&self) -> BTreeSet<String> {
        self.mapped.clone()
    }

    /// Whether a CRM value means "no value" for this mapping (`null`, or one of `[values]
    /// empty`, e.g. Odoo's `false`).
    pub fn is_empty_value(&self, v: &serde_json::Value) -> bool {
        self.values.is_empty(v)
    }
}

#[cfg(test)]
mod roundtrip_props;
#[cfg(test)]
mod tests;
