//! The declarative REST engine: one [`RestConnector`] per tenant, driven by a
//! `connectors/<crm>.toml` definition ([`def::ConnectorDef`]).
//!
//! What it does for every call: builds the URL from the configured base URL only (ids are
//! percent-encoded into path templates, next links must stay under the base URL), adds the
//! credentials, holds a per-tenant concurrency permit, counts the HTTP call, retries 429s
//! (honouring `Retry-After`, bounded) and, for reads only, 5xx/timeouts with backoff, and maps
//! the CRM's answer to a [`ConnectorError`] carrying the CRM's own message.
//!
//! The files, one concern each: `def` (the definition format), `auth` (credentials and
//! OAuth2), `url` (URLs from the base URL only), `transport` (one HTTP exchange), `retry`
//! (rate limits, retries and backoff), `decode` (answers → records or errors), `list` (one
//! page of a listing or of the deleted-records feed), `paging` (the paging styles), `created`
//! (finding a record whose create went unanswered), `body_template` (placeholders in
//! per-operation bodies, for RPC-style APIs), `auth_login` (login-call sessions),
//! `body_errors` (errors inside a 200 answer).

pub mod auth;
mod auth_login;
mod body_errors;
mod body_template;
mod created;
mod decode;
pub mod def;
mod list;
mod paging;
mod retry;
mod scope_def;
mod scoped;
mod status_map;
mod transport;
mod url;

pub use crate::record::{jsonpath, timefmt};

use self::auth::{AuthRuntime, TokenStore};
use self::decode::record_slot_empty;
use self::def::{ConnectorDef, DeleteDef, EntityDef};
use self::transport::{parse_method, Req};
use super::{
    Capabilities, Connector, ConnectorError, CrmUser, DeleteStyle, ListQuery, Page, Record,
};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use reqwest::Url;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connector for one tenant's REST CRM.
pub struct RestConnector {
    def: ConnectorDef,
    base: Url,
    tz: Tz,
    http: reqwest::Client,
    auth: AuthRuntime,
    permits: tokio::sync::Semaphore,
    calls: AtomicU64,
    blocked_until: std::sync::Mutex<Option<Instant>>,
    /// The API origin named by the token endpoint (`auth.base_url_from`), once known.
    origin_override: std::sync::Mutex<Option<Url>>,
}

impl std::fmt::Debug for RestConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestConnector")
            .field("crm", &self.def.name)
            .field("base", &self.base.as_str())
            .field("calls", &self.calls())
            .finish_non_exhaustive()
    }
}

impl RestConnector {
    /// Build a connector from a parsed definition. `token_store` keeps OAuth2 tokens (rotated
    /// refresh tokens in particular); without one they live in memory only.
    pub fn new(
        def: ConnectorDef,
        token_store: Option<Arc<dyn TokenStore>>,
    ) -> Result<Self, ConnectorError> {
        let config = |message: String| ConnectorError::Protocol {
            message: format!("connector {}: {message}", def.name),
        };
        // reqwest is built without a default crypto provider (no aws-lc); install ring once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let base = Url::parse(&def.base_url).map_err(|e| config(format!("base_url: {e}")))?;
        let tz = timefmt::resolve_tz(&def.timezone)
            .ok_or_else(|| config(format!("unknown time zone {:?}", def.timezone)))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(def.timeout_secs.max(1)))
            .connect_timeout(Duration::from_secs(def.timeout_secs.clamp(1, 10)))
            // Never follow redirects: upstream hosts come from configuration only.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("crmdav/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| config(format!("HTTP client: {e}")))?;
        let store: Arc<dyn TokenStore> =
            token_store.unwrap_or_else(|| Arc::new(auth::MemoryTokenStore::default()));
        let auth = AuthRuntime::from_def(&def.auth, store, &def.base_url)?;
        Ok(Self {
            permits: tokio::sync::Semaphore::new(def.max_concurrency.max(1)),
            def,
            base,
            tz,
            http,
            auth,
            calls: AtomicU64::new(0),
            blocked_until: std::sync::Mutex::new(None),
            origin_override: std::sync::Mutex::new(None),
        })
    }

    /// Load `connectors/<crm>.toml`, filling `${VAR}` from the tenant's `options`.
    pub fn from_file(
        path: impl AsRef<std::path::Path>,
        options: &HashMap<String, String>,
        token_store: Option<Arc<dyn TokenStore>>,
    ) -> Result<Self, ConnectorError> {
        let def = ConnectorDef::load(path, options)
            .map_err(|message| ConnectorError::Protocol { message })?;
        Self::new(def, token_store)
    }

    /// Every HTTP call made so far (API calls, retries and token requests).
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The definition this connector runs.
    pub fn definition(&self) -> &ConnectorDef {
        &self.def
    }

    fn entity(&self, name: &str) -> Result<&EntityDef, ConnectorError> {
        self.def
            .entities
            .get(name)
            .ok_or_else(|| ConnectorError::NotSupported {
                message: format!("no entity {name:?} in connector {}", self.def.name),
            })
    }

    /// `refetch_after_write`: read record `id` back after a write (with `get`, or a list scan
    /// when the entity has no single-record GET).
    async fn refetch(&self, entity: &str, id: &str) -> Result<Record, ConnectorError> {
        match Connector::get(self, entity, id).await? {
            Some(r) => Ok(r),
            None => Err(ConnectorError::Protocol {
                message: format!("record {id} vanished right after it was written"),
            }),
        }
    }
}

#[async_trait::async_trait]
impl Connector for RestConnector {
    fn capabilities(&self, entity: &str) -> Capabilities {
        let Some(e) = self.def.entities.get(entity) else {
            return Capabilities {
                delete: DeleteStyle::Forbidden,
                ..Default::default()
            };
        };
        Capabilities {
            modified_since: e.modified_since.is_some(),
            deletion_feed: e.deletion_feed || e.deleted.is_some(),
            get: e.get.is_some(),
            delete: match e.delete {
                DeleteDef::Delete { .. } => DeleteStyle::Delete,
                DeleteDef::StatusChange { .. } => DeleteStyle::StatusChange,
                DeleteDef::Forbidden => DeleteStyle::Forbidden,
            },
        }
    }

    async fn list(
        &self,
        entity: &str,
        since: Option<DateTime<Utc>>,
        page: Option<String>,
    ) -> Result<Page, ConnectorError> {
        let e = self.entity(entity)?;
        self.list_page(e, since, page).await
    }

    async fn list_query(
        &self,
        entity: &str,
        since: Option<DateTime<Utc>>,
        page: Option<String>,
        query: &ListQuery,
    ) -> Result<Page, ConnectorError> {
        self.list_filtered(entity, since, page, query).await
    }

    fn has_users_listing(&self) -> bool {
        self.def.users.is_some()
    }

    async fn list_users(&self) -> Result<Vec<CrmUser>, ConnectorError> {
        self.users().await
    }

    async fn me(&self) -> Result<Value, ConnectorError> {
        self.who_am_i().await
    }

    async fn list_deleted(
        &self,
        entity: &str,
        since: Option<DateTime<Utc>>,
        page: Option<String>,
    ) -> Result<Page, ConnectorError> {
        self.deleted_page(entity, since, page).await
    }

    async fn get(&self, entity: &str, id: &str) -> Result<Option<Record>, ConnectorError> {
        let e = self.entity(entity)?;
        if let Some(ep) = &e.get {
            let body = match self.op_body(e, ep.body.as_ref(), Some(id), None, None) {
                Err(ConnectorError::NotFound { .. }) => return Ok(None),
                other => other?,
            };
            let req = match self.endpoint_req(ep, Some(id), body, true) {
                Err(ConnectorError::NotFound { .. }) => return Ok(None),
                other => other?,
            };
            let resp = self.execute(&req).await?;
            return match self.check(&resp) {
                // A query-style get (`record_path = "records[0]"`) answers an empty array.
                Ok(body) if record_slot_empty(&body, &e.record_path) => Ok(None),
                Ok(body) => self.single_record(e, body).map(Some),
                Err(ConnectorError::NotFound { .. }) => Ok(None),
                Err(err) => Err(err),
            };
        }
        // No single-record GET: scan the list (capabilities().get is false, so callers know).
        let mut page = None;
        for _ in 0..e.max_scan_pages {
            let p = self.list_page(e, None, page).await?;
            if let Some(r) = p.records.into_iter().find(|r| r.id == id) {
                return Ok(Some(r));
            }
            match p.next {
                Some(n) => page = Some(n),
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    async fn create(&self, entity: &str, data: &Value) -> Result<Record, ConnectorError> {
        self.create_with(entity, data, None).await
    }

    async fn create_keyed(
        &self,
        entity: &str,
        data: &Value,
        key: &str,
    ) -> Result<Record, ConnectorError> {
        self.create_with(entity, data, Some(key)).await
    }

    async fn find_created(
        &self,
        entity: &str,
        data: &Value,
        sent_at: DateTime<Utc>,
    ) -> Result<Vec<Record>, ConnectorError> {
        self.lookup_created(entity, data, sent_at).await
    }

    async fn update(
        &self,
        entity: &str,
        id: &str,
        data: &Value,
        version: Option<&str>,
    ) -> Result<Record, ConnectorError> {
        let e = self.entity(entity)?;
        let ep = e
            .update
            .as_ref()
            .ok_or_else(|| ConnectorError::NotSupported {
                message: format!("{entity} cannot be changed in this CRM"),
            })?;
        let body = self.write_request_body(e, ep, data, Some(id), version)?;
        let mut req = self.endpoint_req(ep, Some(id), Some(body), false)?;
        if let (Some(h), Some(v)) = (&e.version_header, version) {
            req.headers.push((h.clone(), v.to_string()));
        }
        let resp = self.execute(&req).await?;
        let body = self.check(&resp)?;
        if e.refetch_after_write {
            return self.refetch(entity, id).await;
        }
        if body.is_null() {
            // 204: the CRM did not echo the record; the patch is what we know.
            return Ok(Record {
                id: id.to_string(),
                data: data.clone(),
                modified: None,
                version: None,
            });
        }
        self.written_record(e, body, Some(id))
    }

    async fn delete(&self, entity: &str, id: &str) -> Result<(), ConnectorError> {
        self.delete_versioned(entity, id, None).await
    }

    async fn delete_versioned(
        &self,
        entity: &str,
        id: &str,
        version: Option<&str>,
    ) -> Result<(), ConnectorError> {
        let e = self.entity(entity)?;
        let req = match &e.delete {
            DeleteDef::Forbidden => {
                return Err(ConnectorError::NotSupported {
                    message: format!("{entity} cannot be deleted in this CRM"),
                })
            }
            DeleteDef::Delete {
                method,
                path,
                headers,
                body,
            } => Req {
                method: parse_method(method)?,
                url: self.url_for(path, Some(id))?,
                body: self.op_body(e, body.as_ref(), Some(id), version, None)?,
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                idempotent: false,
            },
            DeleteDef::StatusChange {
                method,
                path,
                body,
                headers,
            } => Req {
                method: parse_method(method)?,
                url: self.url_for(path, Some(id))?,
                body: self.op_body(e, body.as_ref(), Some(id), version, None)?,
                headers: headers
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                idempotent: false,
            },
        };
        let resp = self.execute(&req).await?;
        self.check(&resp).map(|_| ())
    }
}

impl RestConnector {
    /// A create, with an idempotency key when the definition names its header (the request
    /// may then be retried after a 5xx or a timeout, like a read).
    async fn create_with(
        &self,
        entity: &str,
        data: &Value,
        key: Option<&str>,
    ) -> Result<Record, ConnectorError> {
        let e = self.entity(entity)?;
        let ep = e
            .create
            .as_ref()
            .ok_or_else(|| ConnectorError::NotSupported {
                message: format!("{entity} cannot be created in this CRM"),
            })?;
        let body = self.write_request_body(e, ep, data, None, None)?;
        let mut req = self.endpoint_req(ep, None, Some(body), false)?;
        if let (Some(h), Some(k)) = (&self.def.idempotency_key_header, key) {
            req.headers.push((h.clone(), k.to_string()));
            req.idempotent = true;
        }
        let resp = self.execute(&req).await?;
        let body = self.check(&resp)?;
        let rec = self.written_record(e, body, None)?;
        if e.refetch_after_write {
            return self.refetch(entity, &rec.id).await;
        }
        Ok(rec)
    }
}

/// A connector on `base` with one entity, for the unit tests beside each concern.
#[cfg(test)]
fn test_connector(base: &str) -> RestConnector {
    let t =
        format!("name = \"t\"\nbase_url = \"{base}\"\n[entities.a]\nlist = {{ path = \"/a\" }}\n");
    RestConnector::new(
        ConnectorDef::from_toml_str(&t, &HashMap::new()).unwrap(),
        None,
    )
    .unwrap()
}
