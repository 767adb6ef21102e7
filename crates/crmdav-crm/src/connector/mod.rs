//! The trait every CRM speaks through, and the engines behind it.
//!
//! A connector deals in CRM records (JSON) and knows nothing of DAV; the `mapping` layer turns
//! records into iCalendar/vCard and back, and the `crm` and `store` layers keep the identity
//! map, ETags and change log. The `local` engine has no upstream at all: the gateway's own store is the
//! system of record (the embedded default and the demo).

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::Duration;

pub use crate::record::Record;

/// One page of a listing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// Records on this page.
    pub records: Vec<Record>,
    /// Token for the next page; `None` when this was the last.
    pub next: Option<String>,
}

/// What a connector can do for one entity; the CRM layer plans refreshes from this.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// The list endpoint can filter by modified time.
    pub modified_since: bool,
    /// The CRM has a feed of deleted records.
    pub deletion_feed: bool,
    /// Single-record GET exists.
    pub get: bool,
    /// How deletion is expressed.
    pub delete: DeleteStyle,
}

/// How a CRM deletes a record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeleteStyle {
    /// HTTP DELETE.
    #[default]
    Delete,
    /// A status change (e.g. "cancelled"); the record stays in the CRM.
    StatusChange,
    /// Deletion is not allowed.
    Forbidden,
}

/// Extra list parameters a per-person scope or a time window sends (already resolved: no
/// templates left). Empty for an unscoped listing.
pub type ListQuery = std::collections::BTreeMap<String, String>;

/// A user of the CRM (from the definition's `[users]` listing).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmUser {
    /// The CRM's id of the user.
    pub id: String,
    /// E-mail address, when the CRM has one.
    pub email: Option<String>,
    /// Display name.
    pub name: Option<String>,
    /// Whether the user is active (inactive users are never linked).
    pub active: bool,
    /// The user's team, when the CRM has one.
    pub team_id: Option<String>,
}

/// Why a CRM call failed; the gateway maps each to a DAV status in one place.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum ConnectorError {
    /// The CRM refused the data (400/422): validation error.
    #[error("the CRM refused the record: {message}")]
    Invalid { message: String },
    /// The CRM reported a conflict (409), e.g. an overlapping booking or a duplicate.
    #[error("the CRM reported a conflict: {message}")]
    Conflict { message: String },
    /// The CRM's credentials lack the right (403).
    #[error("the CRM forbids this: {message}")]
    Forbidden { message: String },
    /// The record does not exist upstream (404).
    #[error("not found in the CRM: {message}")]
    NotFound { message: String },
    /// The CRM's version check failed (412).
    #[error("the record changed in the CRM: {message}")]
    VersionMismatch { message: String },
    /// 429 from the CRM, after retries.
    #[error("the CRM's rate limit was hit")]
    RateLimited { retry_after: Option<Duration> },
    /// Timeouts, 5xx, connection errors, after retries.
    #[error("the CRM is unavailable: {message}")]
    Unavailable {
        message: String,
        retry_after: Option<Duration>,
    },
    /// Credentials were refused even after a token refresh.
    #[error("authentication with the CRM failed: {message}")]
    Auth { message: String },
    /// The CRM answered something we cannot understand (malformed JSON, missing id field).
    #[error("unexpected answer from the CRM: {message}")]
    Protocol { message: String },
    /// The operation is not available for this entity (e.g. delete on a CRM that forbids it).
    #[error("not supported by this CRM: {message}")]
    NotSupported { message: String },
}

/// How the message of an [`ConnectorError::Unavailable`] begins when the request never left
/// the gateway (no connection could be made), so the CRM cannot have acted on it.
const NOT_SENT: &str = "nothing was sent: ";

impl ConnectorError {
    /// `Unavailable` for a request that never reached the CRM (connection refused, no route).
    pub fn not_sent(message: impl std::fmt::Display) -> Self {
        ConnectorError::Unavailable {
            message: format!("{NOT_SENT}{message}"),
            retry_after: None,
        }
    }

    /// Whether the request certainly never reached the CRM: a write that failed so changed
    /// nothing there.
    pub fn was_not_sent(&self) -> bool {
        matches!(self, ConnectorError::Unavailable { message, .. } if message.starts_with(NOT_SENT))
    }
}

/// The interface to one tenant's CRM.
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    /// What this connector can do for `entity`.
    fn capabilities(&self, entity: &str) -> Capabilities;

    /// One page of `entity`, optionally only records modified after `since`.
    async fn list(
        &self,
        entity: &str,
        since: Option<DateTime<Utc>>,
        page: Option<String>,
    ) -> Result<Page, ConnectorError>;

    /// One page of the CRM's deleted-records feed for `entity` (when
    /// `capabilities().deletion_feed`): each record's `id` is a deleted record's id, `modified`
    /// its deletion time when known; only deletions after `since` when given. Without a feed:
    /// `NotSupported`, and deletions show up on full scans.
    async fn list_deleted(
        &self,
        entity: &str,
        since: Option<DateTime<Utc>>,
        page: Option<String>,
    ) -> Result<Page, ConnectorError> {
        let _ = (since, page);
        Err(ConnectorError::NotSupported {
            message: format!("{entity} has no deleted-records feed"),
        })
    }

    /// One page of `entity` filtered by `query` (scope and window parameters added to the list
    /// request). Connectors that cannot filter refuse a non-empty query rather than ignore it.
    async fn list_query(
        &self,
        entity: &str,
        since: Option<DateTime<Utc>>,
        page: Option<String>,
        query: &ListQuery,
    ) -> Result<Page, ConnectorError> {
        if query.is_empty() {
            return self.list(entity, since, page).await;
        }
        Err(ConnectorError::NotSupported {
            message: format!("{entity} cannot be listed with filter parameters"),
        })
    }

    /// Whether the definition has a users listing (`list_users`).
    fn has_users_listing(&self) -> bool {
        false
    }

    /// Every user of the CRM (the definition's `[users]`); `NotSupported` without one.
    async fn list_users(&self) -> Result<Vec<CrmUser>, ConnectorError> {
        Err(ConnectorError::NotSupported {
            message: "this CRM's definition has no users listing".into(),
        })
    }

    /// The answer of the definition's `[me]` request (who the credential belongs to, and
    /// their role); `NotSupported` without one.
    async fn me(&self) -> Result<Value, ConnectorError> {
        Err(ConnectorError::NotSupported {
            message: "this CRM's definition has no [me] request".into(),
        })
    }

    /// One record by id; `Ok(None)` when it does not exist.
    async fn get(&self, entity: &str, id: &str) -> Result<Option<Record>, ConnectorError>;

    /// Create a record from `data`; returns the record as stored by the CRM.
    async fn create(&self, entity: &str, data: &Value) -> Result<Record, ConnectorError>;

    /// Create like [`Connector::create`], with `key` as the CRM's idempotency key where the
    /// CRM honours one (a repeat with the same key is the same create); other connectors
    /// ignore it.
    async fn create_keyed(
        &self,
        entity: &str,
        data: &Value,
        key: &str,
    ) -> Result<Record, ConnectorError> {
        let _ = key;
        self.create(entity, data).await
    }

    /// The records that may be the one created from `data` at `sent_at` when that create's
    /// answer was lost: records carrying the values sent, created around `sent_at`.
    /// `NotSupported` when the CRM cannot be searched for them.
    async fn find_created(
        &self,
        entity: &str,
        data: &Value,
        sent_at: DateTime<Utc>,
    ) -> Result<Vec<Record>, ConnectorError> {
        let _ = (data, sent_at);
        Err(ConnectorError::NotSupported {
            message: format!("{entity} has no lookup for a record whose create went unanswered"),
        })
    }

    /// Update record `id` with `data` (a patch of mapped fields).
    async fn update(
        &self,
        entity: &str,
        id: &str,
        data: &Value,
        version: Option<&str>,
    ) -> Result<Record, ConnectorError>;

    /// Delete (or cancel, per the definition) record `id`.
    async fn delete(&self, entity: &str, id: &str) -> Result<(), ConnectorError>;

    /// Delete like [`Connector::delete`], with the record's `version` as last read, for CRMs
    /// that check a concurrency token in the delete request (`{version}` in a body template);
    /// other connectors ignore it.
    async fn delete_versioned(
        &self,
        entity: &str,
        id: &str,
        version: Option<&str>,
    ) -> Result<(), ConnectorError> {
        let _ = version;
        self.delete(entity, id).await
    }
}

pub mod rest;
pub use rest::auth::{MemoryTokenStore, StoredToken, TokenStore};
pub use rest::RestConnector;
