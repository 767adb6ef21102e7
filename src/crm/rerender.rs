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

    #[test]
    fn a_changed_mapping_changes_the_fingerprint() {
        let a = fingerprint(&"entity", &"SUMMARY = title");
        assert_eq!(a, fingerprint(&"entity", &"SUMMARY = title"));
        assert_ne!(a, fingerprint(&"entity", &"SUMMARY = name"));
        assert_ne!(a, fingerprint(&"entity2", &"SUMMARY = title"));
    }
}
