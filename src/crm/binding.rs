//! A bound collection: the CRM entity it shows and the mapping that renders its records.

use super::overlay;
use super::scope::ScopeSpec;
use crate::connector::Record;
use crate::mapping::{ComponentKind, Mapping, VCardVersion};
use crate::store::CrmIdentity;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};

/// One collection's CRM entity and mapping.
pub struct Binding {
    /// Connector entity.
    pub entity: String,
    /// The mapping.
    pub mapping: Mapping,
    /// Upper-case property names the mapping owns (overlaid from the CRM on render).
    pub mapped: BTreeSet<String>,
    /// Which records each person's collection holds, and the calendar's window.
    pub scope: ScopeSpec,
    /// Hash of the mapping (and, with `with_definition`, the connector's entity definition)
    /// the items are rendered with (`crm::rerender`).
    pub fingerprint: String,
}

impl Binding {
    /// Build from a mapping's text.
    pub fn new(
        crm: &str,
        entity: &str,
        text: &str,
        vars: &HashMap<String, String>,
    ) -> Result<Self, String> {
        let mapping =
            Mapping::from_toml_str(text, vars, Some(crm.to_string()), Some(entity.to_string()))?;
        Ok(Binding {
            entity: entity.to_string(),
            mapped: mapping.mapped_properties(),
            fingerprint: super::rerender::fingerprint(&(), &mapping),
            mapping,
            scope: ScopeSpec::default(),
        })
    }

    /// The binding with the connector's entity definition in its fingerprint.
    pub fn with_definition(mut self, entity_def: &dyn std::fmt::Debug) -> Self {
        self.fingerprint = super::rerender::fingerprint(entity_def, &self.mapping);
        self
    }

    /// The binding with a scope and window.
    pub fn with_scope(mut self, scope: ScopeSpec) -> Self {
        self.scope = scope;
        self
    }

    pub(super) fn extension(&self) -> &'static str {
        match self.mapping.component() {
            ComponentKind::Vcard => "vcf",
            _ => "ics",
        }
    }

    pub(super) fn content_type(&self) -> &'static str {
        match self.mapping.component() {
            ComponentKind::Vcard => "text/vcard; charset=utf-8",
            _ => "text/calendar; charset=utf-8",
        }
    }

    /// The record rendered plainly with `uid` (vCards in `version` when given).
    fn render_plain(&self, record: &Record, uid: &str, version: Option<VCardVersion>) -> String {
        match (self.mapping.component(), version) {
            (ComponentKind::Vcard, Some(v)) => {
                // to_vcard uses the mapping's UID; put the item's own back.
                let out = self.mapping.to_vcard(record, v);
                overlay::replace_uid(&out, uid)
            }
            _ => self.mapping.to_component_with_uid(record, uid),
        }
    }

    /// What an item serves for `record`: the client's copy with the CRM's changed values laid
    /// over it when the phone wrote the item, the plain rendering otherwise.
    pub fn render(&self, ident: &CrmIdentity, record: &Record) -> String {
        if let (Some(copy), Some(base)) = (&ident.client_copy, &ident.base_record) {
            if let (Ok(copy), Ok(base_data)) = (
                std::str::from_utf8(copy),
                serde_json::from_str::<serde_json::Value>(base),
            ) {
                let version = (self.mapping.component() == ComponentKind::Vcard).then(|| {
                    if overlay::vcard_version(copy).as_deref() == Some("4.0") {
                        VCardVersion::V4
                    } else {
                        VCardVersion::V3
                    }
                });
                let base_rec = Record {
                    data: base_data,
                    ..record.clone()
                };
                let base_r = self.render_plain(&base_rec, &ident.uid, version);
                let cur_r = self.render_plain(record, &ident.uid, version);
                if let Some(out) = overlay::overlay(
                    copy,
                    &base_r,
                    &cur_r,
                    self.mapping.component().as_str(),
                    &self.mapped,
                ) {
                    return out;
                }
            }
        }
        self.render_plain(record, &ident.uid, None)
    }
}

/// Hash of a CRM record's data (serde_json maps are ordered, so this is canonical): the
/// SHA-256 of its compact JSON, serialized straight into the hasher (no string per record).
pub fn record_hash(r: &Record) -> String {
    struct Hashing(Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut h = Hashing(Sha256::new());
    if serde_json::to_writer(&mut h, &r.data).is_err() {
        // As before: a value that cannot be serialized hashes as the empty string.
        h = Hashing(Sha256::new());
    }
    hex::encode(&h.0.finalize()[..16])
}

/// [`record_hash`] of a record whose compact JSON is `json` (`serde_json::to_string` of its
/// data): the same hash, for a caller that keeps the text anyway.
pub(super) fn json_hash(json: &str) -> String {
    hex::encode(&Sha256::digest(json.as_bytes())[..16])
}

/// A member name from a UID: safe characters kept, the rest replaced.
pub(super) fn member_name(uid: &str, ext: &str) -> String {
    let base: String = uid
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@') {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{base}.{ext}")
}
