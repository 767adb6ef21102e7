//! CRM-backed collections: the read path (refresh: CRM records → rendered items with stable
//! ETags and a moving change log) and the write path (a phone's PUT/DELETE → the CRM, then the
//! identity map and the client's copy). The DAV layer reaches them only through the
//! collections seam, one layer up. See `docs/crm-sync.md`.
//!
//! Invariants:
//! * the identity map (`crm_items`) is written once per item and never re-derived: CRM-created
//!   items are named after the mapping's deterministic UID, phone-created ones keep the
//!   client's href and UID; restarts create no duplicates;
//! * a collection's refresh and its writes run one at a time (a per-collection async mutex), so
//!   a record the phone just created can never be imported a second time by a refresh;
//! * instances sharing one state refresh a collection once per TTL between them (a lease in
//!   the store, `lease`), and the store keeps one identity (and one item) per CRM record even
//!   when two instances save it at once;
//! * an item is written (and the sequence moves) only when its rendered bytes change;
//! * a refresh within the tenant's TTL (counted from when the last one finished) costs nothing,
//!   an idle one costs one listing per page; a stale read is served from the stored state
//!   while one background refresh runs, and only a first import makes reads wait.

mod binding;
pub mod credentials;
pub mod definitions;
mod deletions;
mod known;
mod lease;
mod listing;
mod metrics;
pub mod overlay;
mod pending;
pub mod people;
pub mod person_oauth;
mod refresh;
mod registry;
mod rerender;
mod revalidate;
mod rows;
pub mod scope;
pub mod sealed;
mod tenant;
mod tokens;
mod write;

pub use binding::{record_hash, Binding};
pub use metrics::RefreshMetrics;
pub use refresh::{RefreshError, RefreshStats};
pub use registry::CrmRegistry;
pub use scope::{Person, ScopeSpec};
pub use tenant::{BindingKey, CrmTenant};
pub use tokens::{check_stored_tokens, forget_personal_tokens, KvTokenStore};
pub use write::CrmWriteError;

#[cfg(test)]
mod tests;
