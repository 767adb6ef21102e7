//! Login-call authentication (`[auth] type = "login"`): a request that logs in with the
//! tenant's credentials and answers a session id or token (at a JSON path, or in a
//! `Set-Cookie`), kept across requests and sent back in a header, a cookie or the body
//! (`{session}` in a body template).
//!
//! One session per credential (connectors on the same base URL with the same login request
//! share it), one login at a time (a tokio mutex is held across the login call, so concurrent
//! requests wait for it instead of logging in again). After a 401, or an error in the body
//! that `[body_errors]` maps to `auth`, the refused session is dropped: the request logs in
//! again and is retried once. Neither the credentials nor the session are ever logged.

use super::auth::Applied;
use super::transport::parse_method;
use crate::connector::ConnectorError;
use crate::record::jsonpath;
use reqwest::{Method, Url};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

/// `[auth] type = "login"`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginDef {
    /// Method of the login call (default `POST`).
    #[serde(default = "post")]
    pub method: String,
    /// Path of the login call, relative to `base_url`.
    pub path: String,
    /// JSON body of the login call, with the credentials as `${VAR}`s from the tenant's
    /// options (which may come from the environment or a `*_file`).
    #[serde(default)]
    pub body: Option<Value>,
    /// Headers of the login call.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// JSON path of the session id or token in the login answer (`result` for JSON-RPC
    /// `common.login`'s uid, `token`, `data.session_id`). A missing, `null`, `false` or empty
    /// value means the login was refused.
    #[serde(default)]
    pub session_path: Option<String>,
    /// Instead of `session_path`: the cookie of that name set by the login answer.
    #[serde(default)]
    pub session_cookie: Option<String>,
    /// Header that carries the session on every request (`Authorization`, `X-Session-Id`);
    /// with `session_cookie` the default is `Cookie`. None: the session travels only where
    /// body templates place `{session}`.
    #[serde(default)]
    pub header: Option<String>,
    /// The header's value, `{session}` standing for the session (`Bearer {session}`); default
    /// `{session}`, or `<cookie>={session}` with `session_cookie`.
    #[serde(default)]
    pub header_value: Option<String>,
    /// Paths of the CRM's message when it refuses the login (default `error.data.message`,
    /// `error.message`, `message`, `error`).
    #[serde(default)]
    pub message_paths: Vec<String>,
}

impl fmt::Debug for LoginDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The body holds the password.
        f.debug_struct("LoginDef")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("session_path", &self.session_path)
            .field("session_cookie", &self.session_cookie)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

fn post() -> String {
    "POST".into()
}

impl LoginDef {
    /// Check the definition before any request.
    pub(super) fn validate(&self) -> Result<(), String> {
        parse_method(&self.method).map_err(|e| format!("auth: {e}"))?;
        if self.path.contains("://") {
            return Err("auth.path is relative to base_url".into());
        }
        match (&self.session_path, &self.session_cookie) {
            (Some(p), None) => {
                jsonpath::parse(p).map_err(|m| format!("auth.session_path: {m}"))?;
            }
            (None, Some(c)) if !c.is_empty() => {}
            _ => return Err("auth: set exactly one of session_path and session_cookie".into()),
        }
        for p in &self.message_paths {
            jsonpath::parse(p).map_err(|m| format!("auth.message_paths: {m}"))?;
        }
        Ok(())
    }
}

/// A session the CRM handed out: its JSON value (a bare `{session}` in a body takes it with
/// its type) and its text (headers).
#[derive(Clone, PartialEq)]
pub(crate) struct Session {
    pub(crate) value: Value,
    text: String,
}

type Slot = tokio::sync::Mutex<Option<Session>>;

/// Sessions by credential, so connectors sharing a credential share one session.
fn registry() -> &'static Mutex<HashMap<String, Weak<Slot>>> {
    static R: OnceLock<Mutex<HashMap<String, Weak<Slot>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// The runtime side of a login auth.
pub(crate) struct LoginAuth {
    method: Method,
    url: Url,
    body: Option<Value>,
    headers: Vec<(String, String)>,
    session_path: Option<String>,
    session_cookie: Option<String>,
    header: Option<(String, String)>,
    message_paths: Vec<String>,
    slot: Arc<Slot>,
}

impl LoginAuth {
    /// The runtime for `def` on `base` (the connector's `base_url`).
    pub(crate) fn new(def: &LoginDef, base: &str) -> Result<Self, ConnectorError> {
        let bad = |m: String| ConnectorError::Protocol {
            message: format!("auth: {m}"),
        };
        def.validate().map_err(bad)?;
        let url = Url::parse(&format!(
            "{}/{}",
            base.trim_end_matches('/'),
            def.path.trim_start_matches('/')
        ))
        .map_err(|e| bad(format!("login URL: {e}")))?;
        let header = match (&def.header, &def.session_cookie) {
            (Some(h), _) => Some((
                h.clone(),
                def.header_value
                    .clone()
                    .unwrap_or_else(|| "{session}".into()),
            )),
            (None, Some(c)) => Some((
                "Cookie".to_string(),
                def.header_value
                    .clone()
                    .unwrap_or_else(|| format!("{c}={{session}}")),
            )),
            (None, None) => None,
        };
        let key = format!(
            "{} {url}\n{}\n{:?}",
            def.method.to_ascii_uppercase(),
            def.body.as_ref().map(Value::to_string).unwrap_or_default(),
            def.headers
        );
        let slot = {
            let mut reg = registry()
                .lock()
                .map_err(|_| bad("session registry".into()))?;
            reg.retain(|_, w| w.strong_count() > 0);
            match reg.get(&key).and_then(Weak::upgrade) {
                Some(s) => s,
                None => {
                    let s = Arc::new(Slot::default());
                    reg.insert(key, Arc::downgrade(&s));
                    s
                }
            }
        };
        Ok(Self {
            method: parse_method(&def.method)?,
            url,
            body: def.body.clone(),
            headers: def
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            session_path: def.session_path.clone(),
            session_cookie: def.session_cookie.clone(),
            header: header.filter(|(h, _)| !h.is_empty()),
            message_paths: def.message_paths.clone(),
            slot,
        })
    }

    /// The session for the next request: the kept one, or a new login (one at a time).
    pub(crate) async fn apply(
        &self,
        http: &reqwest::Client,
        calls: &AtomicU64,
    ) -> Result<Applied, ConnectorError> {
        let mut slot = self.slot.lock().await;
        let session = match &*slot {
            Some(s) => s.clone(),
            None => {
                let s = self.login(http, calls).await?;
                *slot = Some(s.clone());
                s
            }
        };
        Ok(Applied::Login {
            header: self
                .header
                .as_ref()
                .map(|(h, v)| (h.clone(), v.replace("{session}", &session.text))),
            session: session.value,
        })
    }

    /// After the CRM refused `applied`'s session: drop it (unless another request already
    /// logged in again), so the retry logs in.
    pub(crate) async fn invalidate(&self, applied: &Applied) {
        let Applied::Login { session, .. } = applied else {
            return;
        };
        let mut slot = self.slot.lock().await;
        if slot.as_ref().is_some_and(|s| &s.value == session) {
            *slot = None;
        }
    }

    async fn login(
        &self,
        http: &reqwest::Client,
        calls: &AtomicU64,
    ) -> Result<Session, ConnectorError> {
        let mut rb = http
            .request(self.method.clone(), self.url.clone())
            .header("Accept", "application/json");
        for (k, v) in &self.headers {
            rb = rb.header(k, v);
        }
        if let Some(b) = &self.body {
            rb = rb.json(b);
        }
        calls.fetch_add(1, Ordering::Relaxed);
        let resp = rb.send().await.map_err(|e| {
            let connect = e.is_connect();
            let m = format!("login call failed: {}", e.without_url());
            if connect {
                ConnectorError::not_sent(m)
            } else {
                ConnectorError::Unavailable {
                    message: m,
                    retry_after: None,
                }
            }
        })?;
        let status = resp.status();
        let cookie = self.session_cookie.as_deref().and_then(|name| {
            resp.headers()
                .get_all(reqwest::header::SET_COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| cookie_value(v, name))
        });
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ConnectorError::Unavailable {
                message: format!("login answer unreadable: {}", e.without_url()),
                retry_after: None,
            })?;
        let json = serde_json::from_slice::<Value>(&bytes).unwrap_or(Value::Null);
        let refused = |detail: String| ConnectorError::Auth {
            message: format!("the CRM refused the login: {detail}"),
        };
        if status.is_server_error() {
            return Err(ConnectorError::Unavailable {
                message: format!("login call: HTTP {}", status.as_u16()),
                retry_after: None,
            });
        }
        if !status.is_success() {
            return Err(refused(
                self.message(&json)
                    .unwrap_or_else(|| format!("HTTP {}", status.as_u16())),
            ));
        }
        let value = match (&self.session_path, cookie) {
            (_, Some(c)) => Some(Value::String(c)),
            (Some(p), None) => jsonpath::get(&json, p).cloned(),
            (None, None) => None,
        };
        let text = value.as_ref().and_then(jsonpath::scalar_string);
        match (value, text) {
            (Some(value), Some(text)) if !text.is_empty() && value != Value::Bool(false) => {
                tracing::info!(url = %self.url.path(), "logged in to the CRM");
                Ok(Session { value, text })
            }
            _ => Err(refused(self.message(&json).unwrap_or_else(|| {
                "no session in its answer (wrong credentials?)".into()
            }))),
        }
    }

    /// The CRM's message in a refused login's answer.
    fn message(&self, json: &Value) -> Option<String> {
        const DEFAULTS: [&str; 4] = ["error.data.message", "error.message", "message", "error"];
        let defaults: Vec<String> = DEFAULTS.iter().map(|s| s.to_string()).collect();
        let paths = if self.message_paths.is_empty() {
            &defaults
        } else {
            &self.message_paths
        };
        paths.iter().find_map(|p| {
            jsonpath::get(json, p)
                .filter(|v| v.is_string() || v.is_number())
                .and_then(jsonpath::scalar_string)
                .filter(|s| !s.is_empty())
        })
    }
}

/// The value of cookie `name` in one `Set-Cookie` header value.
fn cookie_value(set_cookie: &str, name: &str) -> Option<String> {
    let first = set_cookie.split(';').next()?;
    let (n, v) = first.split_once('=')?;
    (n.trim() == name && !v.trim().is_empty()).then(|| v.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies() {
        assert_eq!(
            cookie_value(
                "session_id=abc123; Expires=Sat; HttpOnly; Path=/",
                "session_id"
            ),
            Some("abc123".into())
        );
        assert_eq!(cookie_value("other=1; Path=/", "session_id"), None);
        assert_eq!(cookie_value("session_id=; Path=/", "session_id"), None);
    }

    #[test]
    fn needs_exactly_one_session_source() {
        let d: LoginDef = toml::from_str("path = \"/login\"").unwrap();
        assert!(d.validate().is_err());
        let d: LoginDef = toml::from_str(
            "path = \"/login\"\nsession_path = \"token\"\nbody = { pw = \"s3cret\" }",
        )
        .unwrap();
        assert!(d.validate().is_ok());
        assert!(!format!("{d:?}").contains("s3cret"));
    }
}
