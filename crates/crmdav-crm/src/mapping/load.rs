//! Reading a mapping file: `${VAR}` placeholders, defaults from the file's place, and every
//! check that can be made before a record is seen.

use super::rules::{FieldType, MappingFile};
use super::{Mapping, MappingError};
use crate::record::vars::substitute_toml;
use crate::record::{jsonpath, timefmt};
use std::collections::{BTreeSet, HashMap};

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
        // Only all-day properties the file names are mapped ones (not the defaults).
        let all_day_named = value
            .get("all_day")
            .and_then(|a| a.get("properties"))
            .is_some();
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
        f.values.validate().map_err(|m| format!("values: {m}"))?;
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
        let mut mapped: BTreeSet<String> = f
            .fields
            .iter()
            .map(|r| r.property.to_ascii_uppercase())
            .collect();
        if let Some(a) = f.all_day.as_ref().filter(|_| all_day_named) {
            mapped.extend(a.properties.iter().map(|p| p.to_ascii_uppercase()));
        }
        Ok(Self {
            mapped,
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
            values: f.values,
        })
    }
}
