//! The gateway's own state: collections, items with their rendered bytes and ETags, the
//! per-collection change log that makes sync tokens and CTags, and dead properties.
//!
//! Every item's bytes and ETag live here, so PROPFIND and multiget never parse anything; UID,
//! component type and the first/last instance times are indexed so that a time-range query
//! evaluates only candidates (design.md §9).

pub mod crm;
mod index;
pub mod overlay;
mod store;

pub use index::{calendar_index, card_fields, card_index};
pub use store::*;
