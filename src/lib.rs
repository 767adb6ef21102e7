//! crmdav: a CalDAV/CardDAV gateway in front of CRM REST APIs.
//!
//! Layers, top to bottom (each only calls the one below): `http` (actix-web front end),
//! `dav` (the protocols), `tree` (the URL space), `crm` (CRM-backed collections), `store` (the gateway's own state),
//! `connector` (CRMs), `mapping` (CRM JSON ⇄ iCalendar/vCard), plus `config`.

pub mod caldav;
pub mod carddav;
pub mod check;
pub mod config;
pub mod crm;
pub mod dav;
pub mod demo;
pub mod error;
pub mod http;
pub mod store;
pub mod tree;
pub mod xml;

// The CRM side and the shared text live in their own crates (`crates/`), so their tests build
// without actix-web, sqlx or argon2; re-exported here under their old paths.
pub use crmdav_crm::{connector, mapping, record};
pub use crmdav_text::{contentline, vocab};
