//! crmdav's CRM side, with no DAV, HTTP server or database in it: `connector` (the trait every
//! CRM speaks through and the REST engine behind it), `mapping` (CRM JSON ⇄ iCalendar/vCard)
//! and `record` (a CRM record and the helpers that read one, shared by both).

pub mod connector;
pub mod mapping;
pub mod record;

// The shared text crate, under the paths the modules above use.
use crmdav_text::{contentline, vocab};
