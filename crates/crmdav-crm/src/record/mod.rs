//! A CRM record and the helpers that read one: JSON paths into it, its date/time values, and
//! the `${VAR}` placeholders of the definition files that describe it.
//!
//! Shared by the connectors and the mappings and importing neither, so the two never depend on
//! each other's internals.

pub mod jsonpath;
pub mod timefmt;
pub mod typed_values;
pub mod vars;

use chrono::{DateTime, Utc};
use serde_json::Value;

/// One CRM record as the CRM returned it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The CRM's id for the record, as a string whatever its JSON type.
    pub id: String,
    /// The record's JSON object.
    pub data: Value,
    /// The CRM's modified time, when it has one.
    pub modified: Option<DateTime<Utc>>,
    /// An opaque version the CRM can check on update (e.g. Dynamics `@odata.etag`).
    pub version: Option<String>,
}
