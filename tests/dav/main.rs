//! The DAV protocol over HTTP against the real `crmdav` binary: one demo server per process
//! (support/demo.rs), shared by every module here, which therefore only change what they
//! create (unique names) or restore what they touch; plus the upgrade of a state file written
//! by the previous release, on a gateway of its own; and several processes on one state
//! (`instances`: the SQLite guard, two gateways on one PostgreSQL database).

#[path = "../support/mod.rs"]
mod support;

mod app_passwords;
mod auth;
mod bad_input;
mod caldav;
mod carddav;
mod discovery;
mod edge;
mod etags;
mod front;
mod golden;
mod instances;
mod ops;
mod prefer;
mod quota;
mod reports;
mod restore;
mod sync;
mod upgrade;
mod webdav;
