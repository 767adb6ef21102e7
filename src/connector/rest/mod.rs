//! The declarative REST engine: one [`RestConnector`] per tenant, driven by a
//! `connectors/<crm>.toml` definition ([`def::ConnectorDef`]).
//!
//! What it does for every call: builds the URL from the configured base URL only (ids are
//! percent-encoded into path templates, next links must stay under the base URL), adds the
//! credentials, holds a per-tenant concurrency permit, counts the HTTP call, retries 429s
//! (honouring `Retry-After`, bounded) and, for reads only, 5xx/timeouts with backoff, and maps
//! the CRM's answer to a [`ConnectorError`] carrying the CRM's own message.

pub mod auth;
pub mod def;
pub use crate::record::{jsonpath, timefmt};

use self::auth::{Applied, AuthRuntime, Grant, OAuth, Secret, TokenStore};
use self::def::{
    AuthDef, ConnectorDef, DeleteDef, Endpoint, EntityDef, ModifiedSinceDef, PagingDef,
    RemainingFormat, ResetFormat,
};
use super::{Capabilities, Connector, ConnectorError, DeleteStyle, Page, Record};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Characters escaped when an id is put into a path: everything but RFC 3986 unreserved ones,
/// so an id can never add path segments or a query.
const ID_ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

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

/// A request about to be sent.
struct Req {
    method: Method,
    url: Url,
    body: Option<Value>,
    headers: Vec<(String, String)>,
    /// Safe to repeat after a 5xx or a timeout (reads only).
    idempotent: bool,
}

/// An answer, body read in full.
struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
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
        let auth = match &def.auth {
            AuthDef::None => AuthRuntime::None,
            AuthDef::Bearer { token } => AuthRuntime::Bearer(Secret(token.clone())),
            AuthDef::ApiKey {
                name,
                value,
                location,
                prefix,
            } => AuthRuntime::ApiKey {
                name: name.clone(),
                value: Secret(value.clone()),
                location: *location,
                prefix: prefix.clone(),
            },
            AuthDef::Basic { username, password } => AuthRuntime::Basic {
                username: username.clone(),
                password: Secret(password.clone()),
            },
            AuthDef::Oauth2ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scopes,
                scheme,
                client_auth,
                base_url_from,
                base_url_hosts,
            } => AuthRuntime::OAuth(Box::new(OAuth {
                grant: Grant::ClientCredentials,
                scheme: scheme.clone(),
                client_auth: *client_auth,
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                client_secret: Some(Secret(client_secret.clone())),
                scopes: scopes.clone(),
                initial_refresh: None,
                store,
                state: Default::default(),
                base_url_from: base_url_from.clone(),
                base_url_hosts: base_url_hosts.clone(),
            })),
            AuthDef::Oauth2RefreshToken {
                token_url,
                client_id,
                client_secret,
                refresh_token,
                scopes,
                scheme,
                client_auth,
                base_url_from,
                base_url_hosts,
            } => AuthRuntime::OAuth(Box::new(OAuth {
                grant: Grant::RefreshToken,
                scheme: scheme.clone(),
                client_auth: *client_auth,
                token_url: token_url.clone(),
                client_id: client_id.clone(),
                client_secret: client_secret.clone().map(Secret),
                scopes: scopes.clone(),
                initial_refresh: Some(Secret(refresh_token.clone())),
                store,
                state: Default::default(),
                base_url_from: base_url_from.clone(),
                base_url_hosts: base_url_hosts.clone(),
            })),
        };
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

    /// Base URL + path template, with `{id}` percent-encoded.
    fn url_for(&self, template: &str, id: Option<&str>) -> Result<Url, ConnectorError> {
        let mut path = template.to_string();
        if let Some(id) = id {
            let enc = percent_encoding::utf8_percent_encode(id, ID_ESCAPE).to_string();
            path = path.replace("{id}", &enc);
        }
        let joined = format!(
            "{}/{}",
            self.base.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        let url = Url::parse(&joined).map_err(|e| ConnectorError::Protocol {
            message: format!("bad endpoint URL: {e}"),
        })?;
        self.check_origin(&url)?;
        Ok(url)
    }

    /// Refuse any URL that is not under the configured base URL (no SSRF through next links),
    /// or under the origin the token endpoint named (`auth.base_url_from`) with the base path.
    fn check_origin(&self, url: &Url) -> Result<(), ConnectorError> {
        let under = |origin: &Url| {
            url.scheme() == origin.scheme()
                && url.host_str() == origin.host_str()
                && url.port_or_known_default() == origin.port_or_known_default()
        };
        let path_ok = url
            .path()
            .starts_with(self.base.path().trim_end_matches('/'));
        let override_ok = self
            .origin_override
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .is_some_and(|o| under(&o));
        if path_ok && (under(&self.base) || override_ok) {
            Ok(())
        } else {
            Err(ConnectorError::Protocol {
                message: "the CRM pointed outside its configured base URL".into(),
            })
        }
    }

    async fn wait_for_rate_limit(&self) {
        let until = self.blocked_until.lock().ok().and_then(|g| *g);
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                tokio::time::sleep(until - now).await;
            }
        }
    }

    fn note_rate_limit(&self, headers: &HeaderMap) {
        let Some(rl) = &self.def.rate_limit else {
            return;
        };
        let remaining =
            header_str(headers, &rl.remaining_header).and_then(|v| match rl.remaining_format {
                RemainingFormat::Number => v.trim().parse::<i64>().ok(),
                RemainingFormat::UsedOfLimit => remaining_from_used_of_limit(v),
            });
        let mut guard = match self.blocked_until.lock() {
            Ok(g) => g,
            Err(_) => return,
        };
        if remaining.is_some_and(|r| r <= 0) {
            let max_ms = (self.def.max_retry_after_secs as i64).saturating_mul(1000);
            let wait_ms = rl
                .reset_header
                .as_deref()
                .and_then(|h| header_str(headers, h))
                .and_then(|v| v.trim().parse::<i64>().ok())
                .map(|v| match rl.reset_format {
                    ResetFormat::Seconds => v.saturating_mul(1000),
                    ResetFormat::Millis => v,
                    ResetFormat::Unix => (v - Utc::now().timestamp()).saturating_mul(1000),
                })
                .unwrap_or(1000)
                .clamp(0, max_ms);
            *guard = Some(Instant::now() + Duration::from_millis(wait_ms as u64));
        } else {
            *guard = None;
        }
    }

    /// Send with auth, permits, counting and retries; returns the final answer (any status
    /// except the ones retried away) or a transport/limit error.
    async fn execute(&self, req: &Req) -> Result<Resp, ConnectorError> {
        let mut attempt: u32 = 0;
        let mut auth_retried = false;
        loop {
            self.wait_for_rate_limit().await;
            let applied = self.auth.apply(&self.http, &self.calls).await?;
            let mut url = req.url.clone();
            if let Some(origin) = self.auth.base_override().await {
                rebase(&mut url, &origin)?;
                if let Ok(mut g) = self.origin_override.lock() {
                    *g = Some(origin);
                }
            }
            let mut rb;
            match &applied {
                Applied::Query(k, v) => {
                    url.query_pairs_mut().append_pair(k, v);
                    rb = self.http.request(req.method.clone(), url);
                }
                Applied::Header(k, v) => {
                    rb = self.http.request(req.method.clone(), url).header(k, v);
                }
                Applied::Basic(u, p) => {
                    rb = self
                        .http
                        .request(req.method.clone(), url)
                        .basic_auth(u, Some(p));
                }
                Applied::None => rb = self.http.request(req.method.clone(), url),
            }
            rb = rb.header("Accept", "application/json");
            for (k, v) in self.def.headers.iter() {
                rb = rb.header(k, v);
            }
            for (k, v) in &req.headers {
                // A later header of the same name wins (a record version over `If-Match: *`).
                let overridden = req
                    .headers
                    .iter()
                    .rev()
                    .find(|(k2, _)| k2.eq_ignore_ascii_case(k));
                if overridden.is_some_and(|(_, v2)| !std::ptr::eq(v2, v)) {
                    continue;
                }
                rb = rb.header(k, v);
            }
            if let Some(b) = &req.body {
                rb = rb.json(b);
            }
            let result = {
                let _permit =
                    self.permits
                        .acquire()
                        .await
                        .map_err(|_| ConnectorError::Unavailable {
                            message: "connector shut down".into(),
                            retry_after: None,
                        })?;
                self.calls.fetch_add(1, Ordering::Relaxed);
                match rb.send().await {
                    Ok(resp) => {
                        let status = resp.status();
                        let headers = resp.headers().clone();
                        match resp.bytes().await {
                            Ok(b) => Ok(Resp {
                                status,
                                headers,
                                body: b.to_vec(),
                            }),
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                }
            };
            let resp = match result {
                Ok(r) => r,
                Err(e) => {
                    // without_url: an API key may sit in the query string.
                    let message = e.without_url().to_string();
                    tracing::debug!(method = %req.method, path = req.url.path(), error = %message, "crm call failed");
                    if req.idempotent && attempt < self.def.max_retries {
                        self.backoff(attempt, None).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(ConnectorError::Unavailable {
                        message,
                        retry_after: None,
                    });
                }
            };
            tracing::debug!(method = %req.method, path = req.url.path(), status = resp.status.as_u16(), "crm call");
            self.note_rate_limit(&resp.headers);
            let retry_after = header_str(&resp.headers, "retry-after")
                .and_then(|v| timefmt::parse_retry_after(v, Utc::now()));
            match resp.status.as_u16() {
                401 if !auth_retried && self.auth.invalidate(&applied).await => {
                    auth_retried = true;
                    continue;
                }
                s if self.limit_exceeded(s, &resp.body) => {
                    return Err(ConnectorError::RateLimited { retry_after });
                }
                429 => {
                    let max = Duration::from_secs(self.def.max_retry_after_secs);
                    let within = retry_after.is_none_or(|d| d <= max);
                    if attempt < self.def.max_retries && within {
                        self.backoff(attempt, retry_after).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(ConnectorError::RateLimited { retry_after });
                }
                500..=599 => {
                    if req.idempotent && attempt < self.def.max_retries {
                        self.backoff(attempt, retry_after).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(ConnectorError::Unavailable {
                        message: format!(
                            "HTTP {}: {}",
                            resp.status.as_u16(),
                            self.error_message(&resp.body).unwrap_or_default()
                        ),
                        retry_after,
                    });
                }
                _ => return Ok(resp),
            }
        }
    }

    /// A non-429 answer the definition declares as "rate limit exhausted".
    fn limit_exceeded(&self, status: u16, body: &[u8]) -> bool {
        let Some(rl) = &self.def.rate_limit else {
            return false;
        };
        rl.exceeded.iter().any(|x| {
            x.status == status
                && (x.body_contains.is_empty()
                    || String::from_utf8_lossy(body).contains(&x.body_contains))
        })
    }

    async fn backoff(&self, attempt: u32, retry_after: Option<Duration>) {
        let wait = match retry_after {
            Some(d) => d.min(Duration::from_secs(self.def.max_retry_after_secs)),
            None => Duration::from_millis(
                self.def
                    .retry_backoff_ms
                    .saturating_mul(1u64 << attempt.min(10)),
            ),
        };
        tokio::time::sleep(wait).await;
    }

    /// The CRM's message from an error body, per `error_message_paths`.
    fn error_message(&self, body: &[u8]) -> Option<String> {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            let text = String::from_utf8_lossy(body);
            let text = text.trim();
            return (!text.is_empty()).then(|| text.chars().take(300).collect());
        };
        for p in &self.def.error_message_paths {
            match jsonpath::get(&v, p) {
                Some(Value::String(s)) if !s.is_empty() => return Some(s.clone()),
                Some(Value::Array(items)) if !items.is_empty() => {
                    let parts: Vec<String> = items
                        .iter()
                        .map(|i| match i {
                            Value::String(s) => s.clone(),
                            other => ["msg", "message", "detail"]
                                .iter()
                                .find_map(|k| other.get(k).and_then(Value::as_str))
                                .map(str::to_string)
                                .unwrap_or_else(|| other.to_string()),
                        })
                        .collect();
                    return Some(parts.join("; "));
                }
                Some(Value::Null) | None => {}
                Some(Value::Object(_)) => {}
                Some(other) => return Some(other.to_string()),
            }
        }
        None
    }

    /// Turn a non-retried answer into JSON or the matching error.
    fn check(&self, resp: &Resp) -> Result<Value, ConnectorError> {
        let status = resp.status.as_u16();
        if resp.status.is_success() {
            if resp.body.iter().all(u8::is_ascii_whitespace) {
                return Ok(Value::Null);
            }
            return serde_json::from_slice(&resp.body).map_err(|e| ConnectorError::Protocol {
                message: format!("malformed JSON from the CRM (HTTP {status}): {e}"),
            });
        }
        let message = self
            .error_message(&resp.body)
            .unwrap_or_else(|| format!("HTTP {status}"));
        Err(match status {
            400 | 422 => ConnectorError::Invalid { message },
            401 => ConnectorError::Auth { message },
            403 => ConnectorError::Forbidden { message },
            404 | 410 => ConnectorError::NotFound { message },
            405 | 501 => ConnectorError::NotSupported { message },
            409 => ConnectorError::Conflict { message },
            412 => ConnectorError::VersionMismatch { message },
            _ => ConnectorError::Protocol {
                message: format!("HTTP {status}: {message}"),
            },
        })
    }

    fn record_from(&self, e: &EntityDef, v: Value) -> Result<Record, ConnectorError> {
        let id = jsonpath::get(&v, &e.id_field)
            .and_then(jsonpath::scalar_string)
            .ok_or_else(|| ConnectorError::Protocol {
                message: format!("record without id field {:?}", e.id_field),
            })?;
        Ok(self.record_with_id(e, v, id))
    }

    fn record_with_id(&self, e: &EntityDef, v: Value, id: String) -> Record {
        let modified = e
            .modified_field
            .as_deref()
            .and_then(|p| jsonpath::get(&v, p))
            .and_then(|m| timefmt::value_to_utc(m, self.tz));
        let version = e
            .version_field
            .as_deref()
            .and_then(|p| jsonpath::get(&v, p))
            .and_then(jsonpath::scalar_string);
        Record {
            id,
            data: v,
            modified,
            version,
        }
    }

    fn single_record(&self, e: &EntityDef, body: Value) -> Result<Record, ConnectorError> {
        let inner = jsonpath::get(&body, &e.record_path)
            .cloned()
            .ok_or_else(|| ConnectorError::Protocol {
                message: format!("no record at {:?} in the CRM's answer", e.record_path),
            })?;
        self.record_from(e, inner)
    }

    /// The record in a create/update answer: at `write_record_path` (default `record_path`),
    /// its id `known_id` (an update) or at `created_id_path` (default `id_field`).
    fn written_record(
        &self,
        e: &EntityDef,
        body: Value,
        known_id: Option<&str>,
    ) -> Result<Record, ConnectorError> {
        let path = e.write_record_path.as_deref().unwrap_or(&e.record_path);
        let inner =
            jsonpath::get(&body, path)
                .cloned()
                .ok_or_else(|| ConnectorError::Protocol {
                    message: format!("no record at {path:?} in the CRM's write answer"),
                })?;
        let id = match known_id {
            Some(id) => id.to_string(),
            None => {
                let id_path = e.created_id_path.as_deref().unwrap_or(&e.id_field);
                jsonpath::get(&inner, id_path)
                    .and_then(jsonpath::scalar_string)
                    .ok_or_else(|| ConnectorError::Protocol {
                        message: format!("create answer without id at {id_path:?}"),
                    })?
            }
        };
        Ok(self.record_with_id(e, inner, id))
    }

    fn endpoint_req(
        &self,
        ep: &Endpoint,
        id: Option<&str>,
        body: Option<Value>,
        idempotent: bool,
    ) -> Result<Req, ConnectorError> {
        let mut url = self.url_for(&ep.path, id)?;
        if !ep.query.is_empty() {
            let mut pairs = Vec::with_capacity(ep.query.len());
            for (k, v) in &ep.query {
                match id {
                    // `{id}` inside a query value (a SOQL/OData filter): only ids made of
                    // letters, digits, `-`, `_`, `.` may go there, so none can change the query.
                    Some(id) if v.contains("{id}") => {
                        let safe = !id.is_empty()
                            && id
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
                        if !safe {
                            return Err(ConnectorError::NotFound {
                                message: "an id of that form cannot exist in this CRM".into(),
                            });
                        }
                        pairs.push((k, v.replace("{id}", id)));
                    }
                    _ => pairs.push((k, v.clone())),
                }
            }
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, &v);
            }
        }
        Ok(Req {
            method: parse_method(&ep.method)?,
            url,
            body: body.or_else(|| ep.body.clone()),
            headers: ep
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            idempotent,
        })
    }

    fn wrap(&self, e: &EntityDef, data: &Value) -> Value {
        match &e.body_wrap {
            // A JSON path: `properties` → {"properties": {…}}, `data[0]` → {"data": [{…}]}.
            Some(k) => {
                let mut out = Value::Null;
                match jsonpath::parse(k) {
                    Ok(segs) if jsonpath::set(&mut out, &segs, data.clone()).is_ok() => out,
                    _ => {
                        let mut m = serde_json::Map::new();
                        m.insert(k.clone(), data.clone());
                        Value::Object(m)
                    }
                }
            }
            None => data.clone(),
        }
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

    /// One page of `entity`'s deleted-records feed (`[entities.x.deleted]`,
    /// `Connector::list_deleted`): records carry the deleted id, the feed's entry as `data` and
    /// the deletion time (`deleted_field`) as `modified`. The window start is `since`, else
    /// `lookback_days` back; with `since`, entries deleted at or before it are left out (also
    /// when the CRM cannot filter).
    async fn deleted_page(
        &self,
        entity: &str,
        since: Option<DateTime<Utc>>,
        page: Option<String>,
    ) -> Result<Page, ConnectorError> {
        let e = self.entity(entity)?;
        let d = e
            .deleted
            .as_ref()
            .ok_or_else(|| ConnectorError::NotSupported {
                message: format!("{entity} has no deleted-records feed in this CRM"),
            })?;
        let window = since.or_else(|| {
            d.lookback_days
                .map(|days| Utc::now() - chrono::Duration::days(i64::from(days)))
        });
        let feed = EntityDef {
            id_field: d.id_field.clone().unwrap_or_else(|| e.id_field.clone()),
            modified_field: d.deleted_field.clone(),
            version_field: None,
            version_header: None,
            records_path: d
                .records_path
                .clone()
                .unwrap_or_else(|| e.records_path.clone()),
            list: d.list.clone(),
            paging: d.paging.clone().unwrap_or_else(|| e.paging.clone()),
            modified_since: d.since.clone(),
            deleted: None,
            ..e.clone()
        };
        let mut p = self.list_page(&feed, window, page).await?;
        if let Some(t) = since {
            p.records.retain(|r| r.modified.is_none_or(|m| m > t));
        }
        Ok(p)
    }

    async fn list_page(
        &self,
        e: &EntityDef,
        since: Option<DateTime<Utc>>,
        page: Option<String>,
    ) -> Result<Page, ConnectorError> {
        let since_def = since.and(e.modified_since.as_ref());
        let mut ep = e.list.clone();
        let mut body_template: Option<(Value, String)> = None;
        let mut extra_headers = Vec::new();
        match (since_def, since) {
            (
                Some(ModifiedSinceDef::Query {
                    param,
                    format,
                    template,
                    until_param,
                }),
                Some(t),
            ) => {
                let since_s = timefmt::format_instant(t, format, self.tz);
                let value = match template {
                    Some(tpl) => tpl.replace("{since}", &since_s),
                    None => since_s,
                };
                ep.query.insert(param.clone(), value);
                if let Some(up) = until_param {
                    ep.query.insert(
                        up.clone(),
                        timefmt::format_instant(Utc::now(), format, self.tz),
                    );
                }
            }
            (Some(ModifiedSinceDef::Header { header, format }), Some(t)) => {
                extra_headers.push((header.clone(), timefmt::format_instant(t, format, self.tz)));
            }
            (
                Some(ModifiedSinceDef::Body {
                    method,
                    path,
                    query,
                    body,
                    format,
                }),
                Some(t),
            ) => {
                if let Some(m) = method {
                    ep.method = m.clone();
                }
                if let Some(q) = query {
                    ep.query = q.clone();
                }
                if let Some(p) = path {
                    ep.path = p.clone();
                }
                body_template = Some((body.clone(), timefmt::format_instant(t, format, self.tz)));
            }
            _ => {}
        }

        // Paging values: (name, value) to put in the query, unless the body template takes them.
        let mut paging: Vec<(String, String, &'static str)> = Vec::new();
        let mut next_url: Option<Url> = None;
        match &e.paging {
            PagingDef::None => {}
            PagingDef::Offset {
                offset_param,
                limit_param,
                limit,
                ..
            } => {
                let offset = parse_token(page.as_deref(), 0)?;
                paging.push((offset_param.clone(), offset.to_string(), "{offset}"));
                paging.push((limit_param.clone(), limit.to_string(), "{limit}"));
            }
            PagingDef::Page {
                page_param,
                size_param,
                size,
                first_page,
                ..
            } => {
                let n = parse_token(page.as_deref(), u64::from(*first_page))?;
                paging.push((page_param.clone(), n.to_string(), "{page}"));
                if let Some(sp) = size_param {
                    paging.push((sp.clone(), size.to_string(), "{limit}"));
                }
            }
            PagingDef::Cursor {
                cursor_param,
                limit_param,
                limit,
                ..
            } => {
                if let Some(c) = &page {
                    paging.push((cursor_param.clone(), c.clone(), "{cursor}"));
                }
                if let Some(lp) = limit_param {
                    paging.push((lp.clone(), limit.to_string(), "{limit}"));
                }
            }
            PagingDef::NextLink {
                limit_param, limit, ..
            } => match &page {
                Some(link) => {
                    let u = Url::parse(link).map_err(|_| ConnectorError::Protocol {
                        message: "bad next-page link".into(),
                    })?;
                    self.check_origin(&u)?;
                    next_url = Some(u);
                }
                None => {
                    if let Some(lp) = limit_param {
                        paging.push((lp.clone(), limit.to_string(), "{limit}"));
                    }
                }
            },
        }

        let mut req = self.endpoint_req(&ep, None, None, true)?;
        req.headers.extend(extra_headers);
        if let Some((template, since_s)) = body_template {
            let mut used = Vec::new();
            let body =
                drop_unset_placeholders(fill_template(template, &since_s, &paging, &mut used));
            paging.retain(|(_, _, ph)| !used.contains(ph));
            req.body = Some(body);
        }
        if let Some(u) = next_url {
            req.url = u;
        } else if !paging.is_empty() {
            let mut q = req.url.query_pairs_mut();
            for (k, v, _) in &paging {
                q.append_pair(k, v);
            }
        }
        let resp = self.execute(&req).await?;
        if resp.status == StatusCode::NOT_MODIFIED {
            return Ok(Page::default());
        }
        let body = self.check(&resp)?;
        if body.is_null() {
            // 204 No Content (Zoho's answer to a list with nothing in it): an empty last page.
            return Ok(Page::default());
        }
        let items = jsonpath::get(&body, &e.records_path)
            .and_then(Value::as_array)
            .ok_or_else(|| ConnectorError::Protocol {
                message: format!("no record array at {:?} in the list answer", e.records_path),
            })?;
        let count = items.len() as u64;
        let records = items
            .iter()
            .cloned()
            .map(|v| self.record_from(e, v))
            .collect::<Result<Vec<_>, _>>()?;

        let next = match &e.paging {
            PagingDef::None => None,
            PagingDef::Offset {
                limit, total_path, ..
            } => {
                let offset = parse_token(page.as_deref(), 0)?;
                let more = match total_path.as_deref().and_then(|p| jsonpath::get(&body, p)) {
                    Some(t) => t.as_u64().is_some_and(|t| offset + count < t),
                    None => count >= u64::from(*limit) && count > 0,
                };
                more.then(|| (offset + count).to_string())
            }
            PagingDef::Page {
                size,
                first_page,
                has_more_path,
                ..
            } => {
                let n = parse_token(page.as_deref(), u64::from(*first_page))?;
                let more = match has_more_path.as_deref() {
                    Some(p) => jsonpath::get(&body, p)
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    None => count >= u64::from(*size) && count > 0,
                };
                more.then(|| (n + 1).to_string())
            }
            PagingDef::Cursor {
                cursor_path,
                has_more_path,
                ..
            } => {
                let more = has_more_path.as_deref().is_none_or(|p| {
                    jsonpath::get(&body, p)
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                });
                jsonpath::get(&body, cursor_path)
                    .and_then(jsonpath::scalar_string)
                    .filter(|c| more && !c.is_empty())
            }
            PagingDef::NextLink { next_path, .. } => {
                let link = match next_path {
                    Some(p) => jsonpath::get(&body, p).and_then(jsonpath::scalar_string),
                    None => header_str(&resp.headers, "link").and_then(next_from_link_header),
                };
                match link.filter(|l| !l.is_empty()) {
                    Some(l) => {
                        let abs = req.url.join(&l).map_err(|_| ConnectorError::Protocol {
                            message: "bad next-page link".into(),
                        })?;
                        self.check_origin(&abs)?;
                        Some(abs.to_string())
                    }
                    None => None,
                }
            }
        };
        Ok(Page { records, next })
    }
}

fn parse_method(m: &str) -> Result<Method, ConnectorError> {
    Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(|_| ConnectorError::Protocol {
        message: format!("bad HTTP method {m:?}"),
    })
}

fn parse_token(page: Option<&str>, default: u64) -> Result<u64, ConnectorError> {
    match page {
        None => Ok(default),
        Some(p) => p.parse().map_err(|_| ConnectorError::Protocol {
            message: format!("bad page token {p:?}"),
        }),
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `<https://x/y?page=2>; rel="next", <…>; rel="last"` → the next URL.
fn next_from_link_header(value: &str) -> Option<String> {
    value.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().to_ascii_lowercase();
            p == "rel=\"next\"" || p == "rel=next"
        });
        let url = url.trim().strip_prefix('<')?.strip_suffix('>')?;
        is_next.then(|| url.to_string())
    })
}

/// Object members still holding a bare paging placeholder (`"after": "{cursor}"` on the first
/// page) had no value to take: leave them out instead of sending the placeholder.
fn drop_unset_placeholders(v: Value) -> Value {
    const PH: [&str; 4] = ["{limit}", "{offset}", "{page}", "{cursor}"];
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(_, x)| !x.as_str().is_some_and(|s| PH.contains(&s)))
                .map(|(k, x)| (k, drop_unset_placeholders(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(drop_unset_placeholders).collect()),
        other => other,
    }
}

/// `api-usage=25/15000` (Salesforce `Sforce-Limit-Info`) → 14975: the first `used/limit` pair
/// (the org-wide one; per-app pairs follow it).
fn remaining_from_used_of_limit(v: &str) -> Option<i64> {
    v.split([',', ';', ' '])
        .filter_map(|part| {
            let pair = part.rsplit('=').next()?.trim();
            let (used, limit) = pair.split_once('/')?;
            Some(limit.trim().parse::<i64>().ok()? - used.trim().parse::<i64>().ok()?)
        })
        .next()
}

/// Whether `path` ends in an index into an array that exists and is empty (`records[0]` of
/// `{"records": []}`): a query-style get that found nothing.
fn record_slot_empty(body: &Value, path: &str) -> bool {
    let Ok(segs) = jsonpath::parse(path) else {
        return false;
    };
    match segs.split_last() {
        Some((jsonpath::Seg::Index(_), parent)) => jsonpath::get_segs(body, parent)
            .and_then(Value::as_array)
            .is_some_and(|a| a.is_empty()),
        _ => false,
    }
}

/// Put `url` on `origin`'s scheme, host and port (the path and query stay).
fn rebase(url: &mut Url, origin: &Url) -> Result<(), ConnectorError> {
    let bad = |_| ConnectorError::Protocol {
        message: "cannot move the request onto the API origin".into(),
    };
    url.set_scheme(origin.scheme()).map_err(bad)?;
    url.set_host(origin.host_str()).map_err(|_| bad(()))?;
    url.set_port(origin.port()).map_err(bad)?;
    Ok(())
}

/// Fill a JSON body template: `{since}` and paging placeholders (whole-string matches become
/// typed values; numbers stay numbers).
fn fill_template(
    v: Value,
    since: &str,
    paging: &[(String, String, &'static str)],
    used: &mut Vec<&'static str>,
) -> Value {
    match v {
        Value::String(s) => {
            if s == "{since}" {
                return Value::String(since.to_string());
            }
            if let Some((_, val, ph)) = paging.iter().find(|(_, _, ph)| *ph == s) {
                used.push(ph);
                return val
                    .parse::<u64>()
                    .map(Value::from)
                    .unwrap_or_else(|_| Value::String(val.clone()));
            }
            Value::String(s.replace("{since}", since))
        }
        Value::Array(a) => Value::Array(
            a.into_iter()
                .map(|x| fill_template(x, since, paging, used))
                .collect(),
        ),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| (k, fill_template(x, since, paging, used)))
                .collect(),
        ),
        other => other,
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
            let req = match self.endpoint_req(ep, Some(id), None, true) {
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
        let e = self.entity(entity)?;
        let ep = e
            .create
            .as_ref()
            .ok_or_else(|| ConnectorError::NotSupported {
                message: format!("{entity} cannot be created in this CRM"),
            })?;
        let req = self.endpoint_req(ep, None, Some(self.wrap(e, data)), false)?;
        let resp = self.execute(&req).await?;
        let body = self.check(&resp)?;
        let rec = self.written_record(e, body, None)?;
        if e.refetch_after_write {
            return self.refetch(entity, &rec.id).await;
        }
        Ok(rec)
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
        let mut req = self.endpoint_req(ep, Some(id), Some(self.wrap(e, data)), false)?;
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
            } => Req {
                method: parse_method(method)?,
                url: self.url_for(path, Some(id))?,
                body: None,
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
                body: body.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_header() {
        assert_eq!(
            next_from_link_header(
                r#"<https://a/x?page=2>; rel="next", <https://a/x?page=9>; rel="last""#
            ),
            Some("https://a/x?page=2".to_string())
        );
        assert_eq!(
            next_from_link_header(r#"<https://a/x?page=9>; rel="last""#),
            None
        );
    }

    #[test]
    fn unset_paging_placeholders_are_left_out() {
        let t = serde_json::json!({"filters": [{"value": "{since}"}], "limit": "{limit}", "after": "{cursor}"});
        let mut used = Vec::new();
        let out = drop_unset_placeholders(fill_template(
            t,
            "1",
            &[("limit".into(), "100".into(), "{limit}")],
            &mut used,
        ));
        assert_eq!(
            out,
            serde_json::json!({"filters": [{"value": "1"}], "limit": 100})
        );
    }

    #[test]
    fn used_of_limit_header() {
        assert_eq!(
            remaining_from_used_of_limit("api-usage=25/15000"),
            Some(14975)
        );
        assert_eq!(
            remaining_from_used_of_limit("api-usage=15000/15000"),
            Some(0)
        );
        assert_eq!(
            remaining_from_used_of_limit("api-usage=3/100, per-app-api-usage=2/50(appName=x)"),
            Some(97)
        );
        assert_eq!(remaining_from_used_of_limit("nonsense"), None);
    }

    #[test]
    fn rebase_and_allowed_origins() {
        let mut u =
            Url::parse("https://login.salesforce.com/services/data/v62.0/query?q=x").unwrap();
        rebase(
            &mut u,
            &Url::parse("https://acme.my.salesforce.com").unwrap(),
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "https://acme.my.salesforce.com/services/data/v62.0/query?q=x"
        );
        let pats = vec!["*.my.salesforce.com".to_string()];
        let ok = |s: &str| auth::origin_allowed(&Url::parse(s).unwrap(), &pats);
        assert!(ok("https://acme.my.salesforce.com"));
        assert!(!ok("https://my.salesforce.com"));
        assert!(!ok("http://acme.my.salesforce.com"));
        assert!(!ok("https://acme.my.salesforce.com.evil.example"));
        assert!(!ok("https://user:pw@acme.my.salesforce.com"));
    }

    #[test]
    fn empty_query_answer_is_no_record() {
        let empty = serde_json::json!({"totalSize": 0, "records": []});
        let one = serde_json::json!({"records": [{"Id": "1"}]});
        assert!(record_slot_empty(&empty, "records[0]"));
        assert!(!record_slot_empty(&one, "records[0]"));
        assert!(!record_slot_empty(&empty, ""));
    }

    #[test]
    fn auth_variants_are_picked_before_substitution() {
        let t = r#"
name = "x"
base_url = "https://crm.example"
auth_variant = "${auth:-token}"
[auth_variants.token]
type = "bearer"
token = "${token}"
[auth_variants.oauth]
type = "oauth2_refresh_token"
token_url = "https://crm.example/token"
client_id = "${client_id}"
refresh_token = "${refresh}"
[entities.a]
list = { path = "/a" }
"#;
        let vars: HashMap<String, String> = [("token".to_string(), "t".to_string())].into();
        let d = ConnectorDef::from_toml_str(t, &vars).unwrap();
        assert!(matches!(d.auth, AuthDef::Bearer { ref token } if token == "t"));
        let vars: HashMap<String, String> = [
            ("auth".to_string(), "oauth".to_string()),
            ("client_id".to_string(), "c".to_string()),
            ("refresh".to_string(), "r".to_string()),
        ]
        .into();
        let d = ConnectorDef::from_toml_str(t, &vars).unwrap();
        assert!(matches!(d.auth, AuthDef::Oauth2RefreshToken { .. }));
        let vars: HashMap<String, String> = [("auth".to_string(), "nope".to_string())].into();
        let e = ConnectorDef::from_toml_str(t, &vars).unwrap_err();
        assert!(e.contains("not one of"), "{e}");
    }

    #[test]
    fn template_fill() {
        let t = serde_json::json!({"filter": {"after": "{since}"}, "limit": "{limit}", "note": "x {since}"});
        let mut used = Vec::new();
        let out = fill_template(
            t,
            "2026-01-01T00:00:00Z",
            &[("limit".into(), "50".into(), "{limit}")],
            &mut used,
        );
        assert_eq!(
            out,
            serde_json::json!({"filter": {"after": "2026-01-01T00:00:00Z"}, "limit": 50, "note": "x 2026-01-01T00:00:00Z"})
        );
        assert_eq!(used, vec!["{limit}"]);
    }

    fn connector(base: &str) -> RestConnector {
        let t = format!(
            "name = \"t\"\nbase_url = \"{base}\"\n[entities.a]\nlist = {{ path = \"/a\" }}\n"
        );
        RestConnector::new(
            ConnectorDef::from_toml_str(&t, &HashMap::new()).unwrap(),
            None,
        )
        .unwrap()
    }

    #[test]
    fn ids_cannot_escape_the_path() {
        let c = connector("https://crm.example/api/v1");
        let u = c
            .url_for("/things/{id}", Some("../../admin?x=1#y"))
            .unwrap();
        assert_eq!(
            u.as_str(),
            "https://crm.example/api/v1/things/..%2F..%2Fadmin%3Fx%3D1%23y"
        );
        assert!(c
            .check_origin(&Url::parse("https://evil.example/api/v1/x").unwrap())
            .is_err());
        assert!(c
            .check_origin(&Url::parse("https://crm.example/other").unwrap())
            .is_err());
        assert!(c
            .check_origin(&Url::parse("https://crm.example/api/v1/x?page=2").unwrap())
            .is_ok());
    }

    #[test]
    fn error_messages() {
        let c = connector("https://crm.example");
        assert_eq!(
            c.error_message(br#"{"detail":"end must be after start"}"#),
            Some("end must be after start".into())
        );
        assert_eq!(
            c.error_message(br#"{"detail":[{"msg":"too big","loc":["query"]}]}"#),
            Some("too big".into())
        );
        assert_eq!(
            c.error_message(br#"{"error":{"message":"nope"}}"#),
            Some("nope".into())
        );
        assert_eq!(c.error_message(b"plain text"), Some("plain text".into()));
        assert_eq!(c.error_message(b""), None);
    }
}
