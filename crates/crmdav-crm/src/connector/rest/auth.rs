//! Authentication for the REST engine: static credentials and OAuth2 with token refresh.
//!
//! OAuth2 tokens are fetched through the `oauth2` crate over the engine's own reqwest client
//! (a small adapter: oauth2 5 is built for reqwest 0.12). One refresh runs at a time (a tokio
//! mutex guards the token), tokens are refreshed a minute before they expire, and a rotated
//! refresh token is handed to the [`TokenStore`] before it is used.

use super::def::{AuthDef, ClientAuth, KeyLocation};
use crate::connector::ConnectorError;
use chrono::{DateTime, Utc};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, ExtraTokenFields, RefreshToken, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A string that never shows in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// OAuth2 token state as persisted by a [`TokenStore`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct StoredToken {
    /// The current access token.
    pub access_token: Option<String>,
    /// The current refresh token (rotated by some providers on every refresh).
    pub refresh_token: Option<String>,
    /// When the access token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// The API origin the token answer named (`base_url_from`, e.g. Salesforce's
    /// `instance_url`), kept so a restart can use a still-valid token without asking again.
    pub api_base: Option<String>,
}

impl fmt::Debug for StoredToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredToken")
            .field("access_token", &self.access_token.as_ref().map(|_| "***"))
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "***"))
            .field("expires_at", &self.expires_at)
            .field("api_base", &self.api_base)
            .finish()
    }
}

/// Where a tenant's OAuth2 tokens live between runs (the sync store implements this), so a
/// rotated refresh token is never lost.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    /// The last saved token state, if any.
    async fn load(&self) -> Result<Option<StoredToken>, String>;
    /// Persist new token state (called after every successful token request).
    async fn save(&self, token: &StoredToken) -> Result<(), String>;
    /// Before a token request: wait until no other process sharing this store is refreshing
    /// (so a rotated refresh token is never used twice), then hold that right until
    /// [`TokenStore::unlock_refresh`]. A store only this process uses has nothing to wait for.
    async fn lock_refresh(&self) -> Result<(), String> {
        Ok(())
    }
    /// Release what [`TokenStore::lock_refresh`] took.
    async fn unlock_refresh(&self) {}
}

/// A [`TokenStore`] in memory: the default, and handy in tests.
#[derive(Default)]
pub struct MemoryTokenStore {
    inner: std::sync::Mutex<Option<StoredToken>>,
    saves: AtomicU64,
}

impl MemoryTokenStore {
    /// A store that starts with `token`.
    pub fn with(token: StoredToken) -> Self {
        Self {
            inner: std::sync::Mutex::new(Some(token)),
            saves: AtomicU64::new(0),
        }
    }
    /// The current content.
    pub fn current(&self) -> Option<StoredToken> {
        self.inner.lock().map(|g| g.clone()).unwrap_or(None)
    }
    /// How many times `save` ran.
    pub fn saves(&self) -> u64 {
        self.saves.load(Ordering::Relaxed)
    }
}

#[async_trait::async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self) -> Result<Option<StoredToken>, String> {
        Ok(self.current())
    }
    async fn save(&self, token: &StoredToken) -> Result<(), String> {
        if let Ok(mut g) = self.inner.lock() {
            *g = Some(token.clone());
        }
        self.saves.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// Which OAuth2 grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grant {
    ClientCredentials,
    RefreshToken,
}

pub(crate) struct OAuth {
    pub grant: Grant,
    /// Authorization scheme (`Bearer`, `Zoho-oauthtoken`).
    pub scheme: String,
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub scopes: Vec<String>,
    pub initial_refresh: Option<Secret>,
    pub store: Arc<dyn TokenStore>,
    pub state: tokio::sync::Mutex<TokenState>,
    /// Client id/secret at the token endpoint: HTTP Basic (default) or form fields.
    pub client_auth: ClientAuth,
    /// Token-response field naming the API origin (Salesforce `instance_url`).
    pub base_url_from: Option<String>,
    /// Hosts that origin may have (`*.suffix` or exact).
    pub base_url_hosts: Vec<String>,
}

#[derive(Default)]
pub(crate) struct TokenState {
    loaded: bool,
    token: StoredToken,
    /// The API origin from the last token response (with `base_url_from`).
    base: Option<reqwest::Url>,
    /// The access token the API last refused: a stored token equal to it is not reused.
    refused: Option<String>,
}

/// Every field of a token response beyond the standard ones (e.g. Salesforce `instance_url`).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct ExtraFields {
    #[serde(flatten)]
    fields: std::collections::HashMap<String, serde_json::Value>,
}
impl ExtraTokenFields for ExtraFields {}

type TokenResp = StandardTokenResponse<ExtraFields, BasicTokenType>;

/// Whether `url` may serve as the API origin: https (or http on a loopback host, for tests)
/// and a host matching one of `patterns` (`*.my.salesforce.com` or an exact host).
pub(crate) fn origin_allowed(url: &reqwest::Url, patterns: &[String]) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.to_ascii_lowercase();
    let loopback = matches!(host.as_str(), "127.0.0.1" | "localhost" | "[::1]");
    let scheme_ok = url.scheme() == "https" || (url.scheme() == "http" && loopback);
    scheme_ok
        && url.username().is_empty()
        && url.password().is_none()
        && patterns.iter().any(|p| {
            let p = p.trim().to_ascii_lowercase();
            match p.strip_prefix("*.") {
                Some(suffix) => {
                    host.len() > suffix.len() + 1 && host.ends_with(&format!(".{suffix}"))
                }
                None => host == p,
            }
        })
}

/// Refresh this long before the token's stated expiry.
const EXPIRY_MARGIN_SECS: i64 = 60;

/// What an authenticated request needs added.
pub(crate) enum Applied {
    None,
    Header(String, String),
    Query(String, String),
    Basic(String, String),
    /// A login session: an optional header, and the value `{session}` takes in bodies.
    Login {
        header: Option<(String, String)>,
        session: serde_json::Value,
    },
}

pub(crate) enum AuthRuntime {
    None,
    Bearer(Secret),
    ApiKey {
        name: String,
        value: Secret,
        location: KeyLocation,
        prefix: String,
    },
    Basic {
        username: String,
        password: Secret,
    },
    OAuth(Box<OAuth>),
    Login(Box<super::auth_login::LoginAuth>),
}

impl AuthRuntime {
    /// The runtime credentials for a definition's `[auth]`; OAuth2 tokens are kept in `store`,
    /// login calls go to `base` (the connector's `base_url`).
    pub(crate) fn from_def(
        def: &AuthDef,
        store: Arc<dyn TokenStore>,
        base: &str,
    ) -> Result<Self, ConnectorError> {
        Ok(match def {
            AuthDef::Login(l) => {
                AuthRuntime::Login(Box::new(super::auth_login::LoginAuth::new(l, base)?))
            }
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
        })
    }
}

impl AuthRuntime {
    /// The credentials for the next request, refreshing an OAuth2 token when due.
    pub async fn apply(
        &self,
        http: &reqwest::Client,
        calls: &AtomicU64,
    ) -> Result<Applied, ConnectorError> {
        Ok(match self {
            AuthRuntime::None => Applied::None,
            AuthRuntime::Bearer(t) => {
                Applied::Header("Authorization".into(), format!("Bearer {}", t.0))
            }
            AuthRuntime::ApiKey {
                name,
                value,
                location,
                prefix,
            } => match location {
                KeyLocation::Header => {
                    Applied::Header(name.clone(), format!("{prefix}{}", value.0))
                }
                KeyLocation::Query => Applied::Query(name.clone(), value.0.clone()),
            },
            AuthRuntime::Basic { username, password } => {
                Applied::Basic(username.clone(), password.0.clone())
            }
            AuthRuntime::OAuth(o) => {
                let token = o.access_token(http, calls).await?;
                Applied::Header("Authorization".into(), format!("{} {token}", o.scheme))
            }
            AuthRuntime::Login(l) => l.apply(http, calls).await?,
        })
    }

    /// The API origin the token endpoint named (`base_url_from`), if any.
    pub async fn base_override(&self) -> Option<reqwest::Url> {
        match self {
            AuthRuntime::OAuth(o) if o.base_url_from.is_some() => o.state.lock().await.base.clone(),
            _ => None,
        }
    }

    /// After a 401: forget the access token (or login session) that was refused, so the next
    /// `apply` refreshes (or logs in again). Returns whether a retry can help (OAuth2, login).
    pub async fn invalidate(&self, refused: &Applied) -> bool {
        if let AuthRuntime::Login(l) = self {
            l.invalidate(refused).await;
            return true;
        }
        let AuthRuntime::OAuth(o) = self else {
            return false;
        };
        let mut st = o.state.lock().await;
        if let Applied::Header(_, v) = refused {
            let refused_token = v
                .strip_prefix(o.scheme.as_str())
                .map(str::trim_start)
                .unwrap_or(v);
            if st.token.access_token.as_deref() == Some(refused_token) {
                st.refused = st.token.access_token.take();
                st.token.expires_at = None;
            }
        }
        true
    }
}

impl OAuth {
    async fn access_token(
        &self,
        http: &reqwest::Client,
        calls: &AtomicU64,
    ) -> Result<String, ConnectorError> {
        let mut st = self.state.lock().await;
        if !st.loaded {
            match self.store.load().await {
                Ok(Some(t)) => {
                    // A saved API origin is trusted only if it still passes the allow-list.
                    if self.base_url_from.is_some() {
                        st.base = t
                            .api_base
                            .as_deref()
                            .and_then(|b| reqwest::Url::parse(b).ok())
                            .filter(|u| origin_allowed(u, &self.base_url_hosts));
                    }
                    st.token = t;
                }
                Ok(None) => {}
                // Never fall back to the configured refresh token: the stored one may have
                // rotated past it. The tenant fails clearly until the store reads again.
                Err(e) => {
                    tracing::error!(error = %e, "token store load failed");
                    return Err(ConnectorError::Auth {
                        message: format!("token store: {e}"),
                    });
                }
            }
            if st.token.refresh_token.is_none() {
                st.token.refresh_token = self.initial_refresh.as_ref().map(|s| s.0.clone());
            }
            st.loaded = true;
        }
        // With base_url_from, a token is usable only together with the origin its answer named.
        let base_known = self.base_url_from.is_none() || st.base.is_some();
        if let (Some(at), true) = (&st.token.access_token, base_known) {
            let fresh = st
                .token
                .expires_at
                .is_none_or(|exp| exp - chrono::Duration::seconds(EXPIRY_MARGIN_SECS) > Utc::now());
            if fresh {
                return Ok(at.clone());
            }
        }
        // Still holding the lock: concurrent callers wait for this one refresh. Other
        // processes sharing the store wait on the store's lock.
        self.store
            .lock_refresh()
            .await
            .map_err(|e| ConnectorError::Auth {
                message: format!("token store: {e}"),
            })?;
        let res = self.refresh_locked(&mut st, http, calls).await;
        self.store.unlock_refresh().await;
        res
    }

    /// Under the store's refresh lock: another process may have refreshed meanwhile (its
    /// token is then used, and its rotated refresh token kept); otherwise request a token and
    /// store it before anyone uses it.
    async fn refresh_locked(
        &self,
        st: &mut TokenState,
        http: &reqwest::Client,
        calls: &AtomicU64,
    ) -> Result<String, ConnectorError> {
        match self.store.load().await {
            Ok(Some(t)) => {
                let usable = t.access_token.is_some()
                    && t.access_token != st.refused
                    && t.expires_at.is_none_or(|exp| {
                        exp - chrono::Duration::seconds(EXPIRY_MARGIN_SECS) > Utc::now()
                    });
                let base = match &self.base_url_from {
                    None => None,
                    Some(_) => t
                        .api_base
                        .as_deref()
                        .and_then(|b| reqwest::Url::parse(b).ok())
                        .filter(|u| origin_allowed(u, &self.base_url_hosts)),
                };
                let base_known = self.base_url_from.is_none() || base.is_some();
                if let (true, true, Some(at)) = (usable, base_known, t.access_token.clone()) {
                    st.token = t;
                    if base.is_some() {
                        st.base = base;
                    }
                    return Ok(at);
                }
                // A refresh token another process rotated is the one to use now.
                if t.refresh_token.is_some() {
                    st.token.refresh_token = t.refresh_token;
                }
            }
            Ok(None) => {}
            Err(e) => {
                return Err(ConnectorError::Auth {
                    message: format!("token store: {e}"),
                })
            }
        }
        let (new, base) = self.fetch(&st.token, http, calls).await?;
        if let Err(e) = self.store.save(&new).await {
            tracing::error!(error = %e, "token store save failed; a rotated refresh token may be lost");
        }
        let at = new.access_token.clone().unwrap_or_default();
        st.token = new;
        if base.is_some() {
            st.base = base;
        }
        Ok(at)
    }

    async fn fetch(
        &self,
        current: &StoredToken,
        http: &reqwest::Client,
        calls: &AtomicU64,
    ) -> Result<(StoredToken, Option<reqwest::Url>), ConnectorError> {
        let token_url =
            TokenUrl::new(self.token_url.clone()).map_err(|e| ConnectorError::Auth {
                message: format!("bad token_url: {e}"),
            })?;
        let mut client = oauth2::Client::<
            BasicErrorResponse,
            TokenResp,
            BasicTokenIntrospectionResponse,
            StandardRevocableToken,
            BasicRevocationErrorResponse,
            EndpointNotSet,
            EndpointNotSet,
            EndpointNotSet,
            EndpointNotSet,
            EndpointNotSet,
        >::new(ClientId::new(self.client_id.clone()))
        .set_token_uri(token_url);
        if let Some(s) = &self.client_secret {
            client = client.set_client_secret(ClientSecret::new(s.0.clone()));
        }
        if self.client_auth == ClientAuth::RequestBody {
            client = client.set_auth_type(AuthType::RequestBody);
        }
        let adapter = |req: oauth2::HttpRequest| {
            let http = http.clone();
            calls.fetch_add(1, Ordering::Relaxed);
            async move { send_oauth(&http, req).await }
        };
        let scopes = self.scopes.iter().map(|s| Scope::new(s.clone()));
        let result = match self.grant {
            Grant::ClientCredentials => {
                client
                    .exchange_client_credentials()
                    .add_scopes(scopes)
                    .request_async(&adapter)
                    .await
            }
            Grant::RefreshToken => {
                let rt = current
                    .refresh_token
                    .clone()
                    .ok_or_else(|| ConnectorError::Auth {
                        message: "no refresh token available".into(),
                    })?;
                client
                    .exchange_refresh_token(&RefreshToken::new(rt))
                    .add_scopes(scopes)
                    .request_async(&adapter)
                    .await
            }
        };
        let resp = result.map_err(map_token_error)?;
        let expires_at = resp
            .expires_in()
            .and_then(|d| chrono::Duration::from_std(d).ok())
            .map(|d| Utc::now() + d);
        let refresh_token = resp
            .refresh_token()
            .map(|r| r.secret().clone())
            .or_else(|| current.refresh_token.clone());
        let base = match &self.base_url_from {
            None => None,
            Some(field) => {
                let raw = resp
                    .extra_fields()
                    .fields
                    .get(field)
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| ConnectorError::Protocol {
                        message: format!("the token answer has no {field:?}"),
                    })?;
                let url = reqwest::Url::parse(raw).map_err(|_| ConnectorError::Protocol {
                    message: format!("the token answer's {field:?} is not a URL"),
                })?;
                if !origin_allowed(&url, &self.base_url_hosts) {
                    return Err(ConnectorError::Protocol {
                        message: format!(
                            "the token answer's {field:?} names a host outside auth.base_url_hosts"
                        ),
                    });
                }
                Some(url)
            }
        };
        tracing::debug!(grant = ?self.grant, "oauth2 token obtained");
        Ok((
            StoredToken {
                access_token: Some(resp.access_token().secret().clone()),
                refresh_token,
                expires_at,
                api_base: base.as_ref().map(|u| u.to_string()),
            },
            base,
        ))
    }
}

fn map_token_error<RE: std::error::Error + 'static>(
    e: oauth2::RequestTokenError<RE, oauth2::basic::BasicErrorResponse>,
) -> ConnectorError {
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => ConnectorError::Auth {
            message: format!(
                "token endpoint refused: {}{}",
                r.error(),
                r.error_description()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ),
        },
        oauth2::RequestTokenError::Request(e) => ConnectorError::Unavailable {
            message: format!("token endpoint unreachable: {e}"),
            retry_after: None,
        },
        oauth2::RequestTokenError::Parse(e, _) => ConnectorError::Protocol {
            message: format!("token endpoint answer unreadable: {e}"),
        },
        oauth2::RequestTokenError::Other(m) => ConnectorError::Auth { message: m },
    }
}

/// The adapter from oauth2's `http` requests onto reqwest 0.13.
async fn send_oauth(
    http: &reqwest::Client,
    req: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, OAuthHttpError> {
    let (parts, body) = req.into_parts();
    let mut rb = http
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body);
    rb = rb.timeout(std::time::Duration::from_secs(30));
    let resp = rb
        .send()
        .await
        .map_err(|e| OAuthHttpError(e.without_url().to_string()))?;
    let mut builder = oauth2::http::Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        builder = builder.header(k, v);
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| OAuthHttpError(e.without_url().to_string()))?;
    builder
        .body(bytes.to_vec())
        .map_err(|e| OAuthHttpError(e.to_string()))
}

/// An HTTP error while talking to a token endpoint.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct OAuthHttpError(String);
