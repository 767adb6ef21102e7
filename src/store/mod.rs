//! The gateway's own state: collections, items with their rendered bytes and ETags, the
//! per-collection change log that makes sync tokens and CTags, dead properties, the CRM
//! identity map and a small key-value table.
//!
//! Every item's bytes and ETag live here, so PROPFIND and multiget never parse anything; UID,
//! component type and the first/last instance times are indexed so that a time-range query
//! evaluates only candidates.

mod index;
mod sqlite;

pub use index::{calendar_index, card_fields, card_index};
pub use sqlite::*;
