//! Re-render on a definition or mapping change (issue 12 item 12).
//!
//! Each collection's state keeps a hash of what its items were rendered with: the connector's
//! entity definition and the mapping, both as loaded (`${VAR}`s filled in). When the hash the
//! binding carries now differs (a mapping edited and the gateway restarted, or reloaded), the
//! next refresh lists everything and renders every record again, once; the store writes an
//! item (and moves its ETag and the sync token) only where the rendered bytes change. No copy
//! of the CRM records is kept: the re-render costs what a full scan costs (and, with
//! `detail`, the detail reads of the rows not held in the connector's memory).

use super::binding::Binding;
use crate::store::CrmCollectionState;
use sha2::{Digest, Sha256};

/// The hash of an entity definition and a mapping, as loaded. Both are hashed through their
/// `Debug` form, which lists every field of the loaded value (so it also changes when a new
/// crmdav version reads the same file differently: a re-render then is the right thing).
pub fn fingerprint(entity_def: &dyn std::fmt::Debug, mapping: &dyn std::fmt::Debug) -> String {
    let mut h = Sha256::new();
    h.update(format!("{entity_def:?}").as_bytes());
    h.update([0]);
    h.update(format!("{mapping:?}").as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Whether `st` was rendered with another definition than `b`'s (or none recorded yet).
pub(super) fn needed(st: &CrmCollectionState, b: &Binding) -> bool {
    st.definition_hash.as_deref() != Some(b.fingerprint.as_str())
}

/// Record that the collection is rendered with `b`'s definition.
pub(super) fn done(st: &mut CrmCollectionState, b: &Binding) {
    st.definition_hash = Some(b.fingerprint.clone());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::rest::def::ConnectorDef;
    use std::collections::HashMap;

    /// The same files give the same fingerprint in every load: a `HashMap` (random iteration
    /// order) in the loaded definition or mapping would make every restart re-render.
    #[test]
    fn the_fingerprint_of_the_same_files_is_stable() {
        let root = env!("CARGO_MANIFEST_DIR");
        let vars: HashMap<String, String> = [
            ("access_token".to_string(), "t".to_string()),
            ("timezone".to_string(), "Europe/Berlin".to_string()),
        ]
        .into();
        let conn = std::fs::read_to_string(format!("{root}/connectors/hubspot.toml")).unwrap();
        let map =
            std::fs::read_to_string(format!("{root}/mappings/hubspot/meetings.toml")).unwrap();
        let prints: Vec<String> = (0..4)
            .map(|_| {
                let def = ConnectorDef::from_toml_str(&conn, &vars).unwrap();
                Binding::new("hubspot", "meetings", &map, &vars)
                    .unwrap()
                    .with_definition(&def.entities["meetings"])
                    .fingerprint
            })
            .collect();
        assert!(prints.windows(2).all(|w| w[0] == w[1]), "{prints:?}");
        let other = Binding::new(
            "hubspot",
            "meetings",
            &map.replace("LOCATION", "X-PLACE"),
            &vars,
        )
        .unwrap()
        .with_definition(&ConnectorDef::from_toml_str(&conn, &vars).unwrap().entities["meetings"])
        .fingerprint;
        assert_ne!(other, prints[0]);
    }

    #[test]
    fn a_changed_mapping_changes_the_fingerprint() {
        let a = fingerprint(&"entity", &"SUMMARY = title");
        assert_eq!(a, fingerprint(&"entity", &"SUMMARY = title"));
        assert_ne!(a, fingerprint(&"entity", &"SUMMARY = name"));
        assert_ne!(a, fingerprint(&"entity2", &"SUMMARY = title"));
    }
}
