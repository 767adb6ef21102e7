//! crmdav: a CalDAV/CardDAV gateway in front of CRM REST APIs.
//!
//! Layers, top to bottom; each uses only layers below it (checked with
//! `grep -rn "use crate::" src`):
//!
//! 1. `main.rs` (the binary), `check` (`crmdav check`; `check_as`: `check --as`), `admin`
//!    (`crmdav app-password`, `link`, `unlink`, `devices`, `revoke`),
//!    `backup` (`crmdav backup`, `restore`, `new-epoch`), `people` (`crmdav users`) and `reload`
//!    (tenant files re-read on SIGHUP, swapped into `app`'s state);
//! 2. `http`: the actix-web front end (routing, authentication, limits, logging, metrics,
//!    native TLS), and within it `http::setup`, the sign-in page that sets up a phone
//!    (OpenID Connect, a person's devices through `auth::devices`, Login Flow v2); it uses
//!    `app`, `auth`, `config`, `tree`, the store's reads and its own state (`setup_state`), a
//!    person's CRM credential state (`crm`, through `app`'s collections), never `dav`;
//! 3. `dav`: the protocols (WebDAV, CalDAV, CardDAV, sync-collection, extended MKCOL);
//! 4. `app`: the state every handler holds, and the composition root that builds it (it calls
//!    nothing above it, so the handlers can hold it);
//! 5. `collections`: the one seam the handlers call for every collection (read-before, put,
//!    delete, guard), routing to the state store or to the CRM;
//! 6. `crm`: CRM-backed collections (bindings, refresh, write-through, tokens);
//! 7. `store`: the gateway's own state (collections, items, change log, properties);
//! 8. `connector` (CRM transports) and `mapping` (CRM JSON ⇄ iCalendar/vCard), side by side:
//!    neither uses the other, both use the `record` leaf. These three live in the
//!    `crates/crmdav-crm` crate, which cannot reach the layers above it at all.
//!
//! Beside the layers, modules any layer may use: `tree` (the URL space and typed paths),
//! `config`, `record` (a CRM record), `xml`, `vocab`, `demo` (demo data) and `signals`
//! (SIGHUP as events) use nothing above them; `contentline` and `vocab` are the
//! `crates/crmdav-text` crate; `auth` (who is asking) uses `config` and the state store's app
//! passwords (`store`); `error` (DAV errors, their preconditions and their
//! HTTP form) uses `connector` for upstream failures, `vocab` and `xml`; `caldav` and `carddav`
//! (pure evaluation) use `xml` and name their preconditions from `error`.

pub mod admin;
pub mod app;
pub mod auth;
pub mod backup;
pub mod caldav;
pub mod carddav;
pub mod check;
pub mod check_as;
pub mod collections;
pub mod config;
pub mod crm;
pub mod dav;
pub mod demo;
pub mod error;
pub mod http;
pub mod people;
pub mod reload;
pub mod signals;
pub mod store;
pub mod tree;
pub mod xml;

// The CRM side and the shared text live in their own crates (`crates/`), so their tests build
// without actix-web, sqlx or argon2; re-exported here under their old paths.
pub use crmdav_crm::{connector, mapping, record};
pub use crmdav_text::{contentline, vocab};
