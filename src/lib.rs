//! crmdav: a CalDAV/CardDAV gateway in front of CRM REST APIs.
//!
//! Layers, top to bottom (each only calls the one below): `http` (actix-web front end),
//! `dav` (the protocols), `tree` (the URL space), `crm` (CRM-backed collections), `store` (the gateway's own state),
//! `connector` (CRMs), `mapping` (CRM JSON ⇄ iCalendar/vCard), plus `config`.

pub mod app;
pub mod auth;
pub mod caldav;
pub mod carddav;
pub mod check;
pub mod collections;
pub mod config;
pub mod connector;
pub mod crm;
pub mod dav;
pub mod demo;
pub mod error;
pub mod http;
pub mod mapping;
pub mod store;
pub mod tree;
pub mod vocab;
pub mod xml;
