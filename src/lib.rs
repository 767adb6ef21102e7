//! crmdav: a CalDAV/CardDAV gateway in front of CRM REST APIs.
//!
//! Layers, top to bottom (each only calls the one below): `http` (actix-web front end),
//! `dav` (the protocols), `tree` (the URL space), `sync` (the gateway's own state),
//! `connector` (CRMs), `mapping` (CRM JSON ⇄ iCalendar/vCard), plus `config`.

pub mod carddav;
pub mod connector;
pub mod xml;
