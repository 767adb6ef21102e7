//! Storage quotas (`[quota]` in the server file): how much one user, and one collection, may
//! hold. Every limit is off unless set, so a server file without the table behaves as before.

use serde::Deserialize;

/// The `[quota]` table.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Quota {
    /// Most bytes of item bodies one user may keep across all their collections (calendars,
    /// address books and plain collections, CRM-backed ones included).
    pub user_bytes: Option<u64>,
    /// Most items one user may keep across all their collections.
    pub user_items: Option<u64>,
    /// Most items directly in one collection.
    pub collection_items: Option<u64>,
}

impl Quota {
    /// True when any limit is set (the checks cost a query only then).
    pub fn any(&self) -> bool {
        self.user_bytes.is_some() || self.user_items.is_some() || self.collection_items.is_some()
    }
}
