//! The gateway's own state: collections, items with their rendered bytes and ETags, the
//! per-collection change log that makes sync tokens and CTags, dead properties, the CRM
//! identity map and a small key-value table.
//!
//! Every item's bytes and ETag live here, so PROPFIND and multiget never parse anything; UID,
//! component type and the first/last instance times are indexed so that a time-range query
//! evaluates only candidates.
//!
//! - `model`: the data (no storage code); `error`: why a write is refused.
//! - `backend`: the traits a database implements, one per concern, and [`Store`], the handle
//!   callers hold.
//! - `sqlite`: the SQLite implementation, split by concern; its schema is `migrations/*.sql`.
//! - `index`: what is indexed of an item's text.

mod backend;
mod error;
mod index;
mod model;
mod sqlite;
#[cfg(test)]
mod token_props;
#[cfg(test)]
mod upgrade_test;

pub use backend::{
    CardFieldIndex, ChangeLog, CollectionStore, CrmIdentityStore, DbError, DeadPropertyStore,
    ItemStore, KvStore, StateStore, Store,
};
pub use error::StoreError;
pub use index::{calendar_index, card_fields, card_index};
pub use model::*;
pub use sqlite::SqliteStore;
