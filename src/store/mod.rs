//! The gateway's own state: collections, items with their rendered bytes and ETags, the
//! per-collection change log that makes sync tokens and CTags, dead properties, the CRM
//! identity map, a small key-value table, app passwords and the sign-in page's sessions.
//!
//! Every item's bytes and ETag live here, so PROPFIND and multiget never parse anything; UID,
//! component type and the first/last instance times are indexed so that a time-range query
//! evaluates only candidates.
//!
//! - `model`: the data (no storage code); `error`: why a write is refused.
//! - `backend`: the traits a database implements, one per concern, and [`Store`], the handle
//!   callers hold.
//! - `sqlite`: the SQLite implementation, split by concern; its schema is `migrations/*.sql`.
//! - `postgres`: the PostgreSQL implementation (several instances on one database), split the
//!   same way; its schema is `migrations/postgres/*.sql`.
//! - `index`: what is indexed of an item's text.

mod backend;
#[cfg(test)]
mod contract_test;
mod error;
mod index;
mod like;
mod model;
mod postgres;
mod sqlite;
#[cfg(test)]
mod token_props;
#[cfg(test)]
mod upgrade_test;

pub use backend::{is_postgres, redact_url};
pub use backend::{
    AppPasswordStore, CardFieldIndex, ChangeLog, CollectionStore, CrmIdentityStore, DbError,
    DeadPropertyStore, ItemStore, KvStore, Lease, LeaseStore, SetupStateStore, StateStore, Store,
};
pub use error::StoreError;
pub use index::{calendar_index, card_fields, card_index};
pub use model::*;
pub use postgres::PgStore;
pub use sqlite::backup as sqlite_backup;
pub use sqlite::SqliteStore;
