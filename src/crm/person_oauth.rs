//! A person's CRM account connected on the sign-in page: OAuth2 authorization code with PKCE
//! (RFC 6749 §4.1, RFC 7636) on their behalf, where the definition has `[person_oauth]` and
//! the tenant's options give it a client. The code is exchanged here; the tokens are kept in
//! the state store per tenant and person, sealed with `secrets_key` (never without one:
//! `KvTokenStore::personal`), and from then on the person's reads and writes go through a
//! connector of their own whose OAuth runtime refreshes them (one refresh at a time per person,
//! across instances through the lease `oauth:<tenant>:person:<name>`; a rotated refresh token
//! is stored before it is used).

use super::sealed::Sealer;
use super::tenant::CrmTenant;
use super::tokens::KvTokenStore;
use crate::connector::rest::def::{AuthDef, ClientAuth, ConnectorDef, PersonOAuthDef};
use crate::connector::{RestConnector, StoredToken, TokenStore};
use crate::store::Store;
use chrono::Utc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a person without stored tokens is not asked for them again (another instance
/// may have connected them meanwhile).
const RECHECK: Duration = Duration::from_secs(60);

/// Why connecting a person's CRM account failed (nothing was stored).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The tenant does not offer it (no `[person_oauth]`, or no client in its options).
    #[error("this CRM does not offer connecting a person's account")]
    NotOffered,
    /// No `secrets_key`: a person's CRM tokens are never stored unencrypted.
    #[error(
        "no secrets_key is configured, and a person's CRM tokens are never stored unencrypted"
    )]
    NoSecretsKey,
    /// The CRM's token endpoint refused the code.
    #[error("the CRM refused the sign-in: {0}")]
    Refused(String),
    /// The CRM's token endpoint could not be reached or answered nonsense.
    #[error("the CRM's token endpoint failed: {0}")]
    Unavailable(String),
    /// The tokens could not be stored.
    #[error("the CRM tokens could not be stored: {0}")]
    Store(String),
}

/// What a tenant needs to connect people's CRM accounts and to use their tokens.
pub(super) struct PersonOAuth {
    def: ConnectorDef,
    oauth: PersonOAuthDef,
    store: Arc<Store>,
    sealer: Option<Arc<Sealer>>,
    http: reqwest::Client,
    /// Token requests made to exchange codes.
    calls: AtomicU64,
    /// One load-and-install at a time.
    install: tokio::sync::Mutex<()>,
}

impl PersonOAuth {
    pub(super) fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// The person's connector: the tenant's definition authenticated with their tokens.
    fn connector(&self, tenant: &str, person: &str) -> Result<Arc<RestConnector>, String> {
        let o = &self.oauth;
        let def = ConnectorDef {
            auth: AuthDef::Oauth2RefreshToken {
                token_url: o.token_url.clone(),
                client_id: o.client_id.clone(),
                client_secret: o.client_secret.clone(),
                // Never used: the stored refresh token is (the store always holds one).
                refresh_token: String::new(),
                scopes: o.scopes.clone(),
                scheme: o.scheme.clone(),
                client_auth: o.client_auth,
                base_url_from: None,
                base_url_hosts: Vec::new(),
            },
            ..self.def.clone()
        };
        let ts: Arc<dyn TokenStore> = Arc::new(KvTokenStore::personal(
            self.store.clone(),
            tenant,
            person,
            self.sealer.clone(),
        ));
        RestConnector::new(def, Some(ts))
            .map(Arc::new)
            .map_err(|e| e.to_string())
    }
}

impl CrmTenant {
    /// Offer connecting people's CRM accounts when `def` has `[person_oauth]` with a client;
    /// their tokens are kept in `store`, sealed by `sealer`.
    pub fn set_person_oauth(
        &mut self,
        def: &ConnectorDef,
        store: Arc<Store>,
        sealer: Option<Arc<Sealer>>,
    ) -> Result<(), String> {
        let Some(oauth) = def.person_oauth.clone().filter(|o| o.offered()) else {
            return Ok(());
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(def.timeout_secs.max(1)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("crmdav/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| e.to_string())?;
        self.credentials.oauth = Some(PersonOAuth {
            def: def.clone(),
            oauth,
            store,
            sealer,
            http,
            calls: AtomicU64::new(0),
            install: Default::default(),
        });
        Ok(())
    }

    /// Whether the sign-in page offers connecting a CRM account.
    pub fn offers_crm_signin(&self) -> bool {
        self.credentials.oauth.is_some()
    }

    /// The CRM's authorization URL for a person's sign-in: the code comes back to
    /// `redirect_uri` with `state`; `challenge` is the PKCE S256 challenge.
    pub fn crm_authorize_url(
        &self,
        redirect_uri: &str,
        state: &str,
        challenge: &str,
    ) -> Option<String> {
        let o = &self.credentials.oauth.as_ref()?.oauth;
        let mut url = reqwest::Url::parse(&o.authorize_url).ok()?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &o.client_id)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("state", state)
                .append_pair("code_challenge", challenge)
                .append_pair("code_challenge_method", "S256");
            if !o.scopes.is_empty() {
                q.append_pair("scope", &o.scopes.join(" "));
            }
            for (k, v) in &o.authorize_params {
                q.append_pair(k, v);
            }
        }
        Some(url.into())
    }

    /// Exchange the authorization `code` (with the PKCE `verifier`) for `person`'s tokens,
    /// store them sealed, and use them for the person's reads and writes from now on.
    pub async fn connect_crm_account(
        &self,
        person: &str,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<(), ConnectError> {
        let o = self
            .credentials
            .oauth
            .as_ref()
            .ok_or(ConnectError::NotOffered)?;
        if o.sealer.is_none() {
            return Err(ConnectError::NoSecretsKey);
        }
        let d = &o.oauth;
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", verifier),
            ("client_id", d.client_id.as_str()),
        ];
        let mut rb = o.http.post(&d.token_url);
        match (&d.client_secret, d.client_auth) {
            (Some(s), ClientAuth::RequestBody) => form.push(("client_secret", s.as_str())),
            (Some(s), ClientAuth::Basic) => rb = rb.basic_auth(&d.client_id, Some(s)),
            (None, _) => {}
        }
        o.calls.fetch_add(1, Ordering::Relaxed);
        let body = form
            .iter()
            .map(|(k, v)| {
                use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
                format!(
                    "{}={}",
                    utf8_percent_encode(k, NON_ALPHANUMERIC),
                    utf8_percent_encode(v, NON_ALPHANUMERIC)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        let resp = rb
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| ConnectError::Unavailable(e.without_url().to_string()))?;
        let status = resp.status();
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| ConnectError::Unavailable(format!("unreadable answer: {e}")))?;
        let s = |k: &str| body.get(k).and_then(|v| v.as_str()).map(String::from);
        if !status.is_success() {
            let why = [s("error"), s("error_description")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            return Err(if status.is_client_error() {
                ConnectError::Refused(if why.is_empty() {
                    status.to_string()
                } else {
                    why
                })
            } else {
                ConnectError::Unavailable(status.to_string())
            });
        }
        let access = s("access_token")
            .ok_or_else(|| ConnectError::Unavailable("the answer has no access_token".into()))?;
        let token = StoredToken {
            access_token: Some(access),
            refresh_token: s("refresh_token"),
            expires_at: body
                .get("expires_in")
                .and_then(|v| v.as_i64())
                .map(|secs| Utc::now() + chrono::Duration::seconds(secs)),
            api_base: None,
        };
        let _g = o.install.lock().await;
        KvTokenStore::personal(o.store.clone(), &self.name, person, o.sealer.clone())
            .save(&token)
            .await
            .map_err(ConnectError::Store)?;
        let c = o
            .connector(&self.name, person)
            .map_err(ConnectError::Store)?;
        let counter = c.clone();
        self.add_personal(person, c, Box::new(move || counter.calls()));
        o.no_tokens_forget(self, person);
        tracing::info!(tenant = %self.name, user = %person, "CRM account connected; the person's reads and writes use it");
        Ok(())
    }

    /// Before a person's CRM call: pick up CRM tokens stored for them (connected on the page,
    /// here or on another instance) when they have no credential of their own yet.
    pub(super) async fn ensure_personal(&self, person: &str) {
        let Some(o) = &self.credentials.oauth else {
            return;
        };
        if self.has_personal(person) || o.recently_without(self, person) {
            return;
        }
        let _g = o.install.lock().await;
        if self.has_personal(person) {
            return;
        }
        let ts = KvTokenStore::personal(o.store.clone(), &self.name, person, o.sealer.clone());
        match ts.load().await {
            Ok(Some(t)) if t.refresh_token.is_some() || t.access_token.is_some() => {
                match o.connector(&self.name, person) {
                    Ok(c) => {
                        let counter = c.clone();
                        self.add_personal(person, c, Box::new(move || counter.calls()));
                        return;
                    }
                    Err(e) => {
                        tracing::error!(tenant = %self.name, user = %person, error = %e, "the person's CRM connector cannot be built")
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(tenant = %self.name, user = %person, reason = %e, "the person's stored CRM tokens cannot be read; the tenant's credential is used")
            }
        }
        let mut g = self
            .credentials
            .no_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        g.insert(person.to_string(), Instant::now());
    }
}

impl PersonOAuth {
    fn recently_without(&self, t: &CrmTenant, person: &str) -> bool {
        let g = t
            .credentials
            .no_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        g.get(person).is_some_and(|at| at.elapsed() < RECHECK)
    }

    fn no_tokens_forget(&self, t: &CrmTenant, person: &str) {
        let mut g = t
            .credentials
            .no_tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        g.remove(person);
    }
}
