//! Whose credential a person's CRM calls use. By default every call goes out with the tenant's
//! service credential; a person with their own (`crm_token` in the tenant file, or CRM OAuth
//! tokens stored for them) has their reads and writes made with it, so the CRM decides what
//! they see and their writes carry their name. Such a person's listings are their own (the
//! listing key names whose credential lists, `listing::ListingKey::lister`).
//!
//! A personal credential is watched: a refusal (401 after any token refresh) is a state of the
//! person ("refused at …, reason"), logged once with tenant, person and reason, counted, and
//! shown on the sign-in page; it clears on the next call the CRM accepts. Reads keep serving
//! the last state (a refused listing removes nothing) and writes get the CRM's refusal.
//!
//! The definition's `[me]` request, asked with the person's credential (cached for its
//! `ttl_secs`, counted), tells their role; a role in `read_only_roles` makes their CRM
//! collections read-only on the phone.

use super::tenant::CrmTenant;
use crate::connector::rest::def::{AuthDef, ConnectorDef, KeyLocation, MeDef};
use crate::connector::{Capabilities, Connector, ConnectorError, CrmUser, ListQuery, Page, Record};
use crate::record::jsonpath;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The definition with its authentication replaced by a person's own API token: a bearer
/// token, the API key's value, or (for OAuth2 definitions) an access token sent with the
/// definition's scheme. HTTP Basic has no single token to replace.
pub fn personal_token_def(def: &ConnectorDef, token: &str) -> Result<ConnectorDef, String> {
    let auth = match &def.auth {
        AuthDef::Bearer { .. } => AuthDef::Bearer {
            token: token.to_string(),
        },
        AuthDef::ApiKey {
            name,
            location,
            prefix,
            ..
        } => AuthDef::ApiKey {
            name: name.clone(),
            value: token.to_string(),
            location: *location,
            prefix: prefix.clone(),
        },
        AuthDef::Oauth2ClientCredentials {
            scheme,
            base_url_from,
            ..
        }
        | AuthDef::Oauth2RefreshToken {
            scheme,
            base_url_from,
            ..
        } => {
            if base_url_from.is_some() {
                return Err(format!(
                    "connector {}: its API origin comes from the OAuth token answer, so a personal token cannot be used; connect the person's CRM account on the sign-in page instead",
                    def.name
                ));
            }
            AuthDef::ApiKey {
                name: "Authorization".into(),
                value: token.to_string(),
                location: KeyLocation::Header,
                prefix: format!("{scheme} "),
            }
        }
        AuthDef::None | AuthDef::Basic { .. } | AuthDef::Login(_) => {
            return Err(format!(
                "connector {} authenticates with {}, which has no personal API token",
                def.name,
                match def.auth {
                    AuthDef::None => "nothing",
                    AuthDef::Basic { .. } => "HTTP Basic",
                    _ => "a login call",
                }
            ))
        }
    };
    Ok(ConnectorDef {
        auth,
        ..def.clone()
    })
}

/// Why a person's credential was last refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// When.
    pub at: DateTime<Utc>,
    /// The CRM's reason (never a secret: the engine's messages carry none).
    pub reason: String,
}

/// A person's role as the `[me]` request last told it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    ReadOnly,
    ReadWrite,
}

/// What the tenant keeps of one person's own credential.
struct Watch {
    tenant: String,
    person: String,
    refused: Mutex<Option<Refusal>>,
    refusals: Arc<AtomicU64>,
}

impl Watch {
    /// Record a call's outcome: a refusal sets the state (logged when it is new), an accepted
    /// call clears it.
    fn saw<T>(&self, r: &Result<T, ConnectorError>) {
        let mut g = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        match r {
            Err(ConnectorError::Auth { message }) => {
                if g.is_none() {
                    tracing::warn!(tenant = %self.tenant, user = %self.person, reason = %message, "the CRM refused this person's own credential; their collections keep their last state until it is connected again");
                }
                self.refusals.fetch_add(1, Ordering::Relaxed);
                *g = Some(Refusal {
                    at: Utc::now(),
                    reason: message.clone(),
                });
            }
            Ok(_) => {
                if g.take().is_some() {
                    tracing::info!(tenant = %self.tenant, user = %self.person, "the CRM accepts this person's own credential again");
                }
            }
            Err(_) => {}
        }
    }
}

/// A person's connector: the engine with their credential, every outcome watched. Every
/// method of [`Connector`] is passed through (a default left in place would bypass the
/// engine's own implementation).
struct Watched {
    inner: Arc<dyn Connector>,
    watch: Arc<Watch>,
}

#[async_trait::async_trait]
impl Connector for Watched {
    fn capabilities(&self, entity: &str) -> Capabilities {
        self.inner.capabilities(entity)
    }
    async fn list(
        &self,
        entity: &str,
        since: Option<DateTime<Utc>>,
        page: Option<String>,
    ) -> Result<Page, ConnectorError> {
        let r = self.inner.list(entity, since, page).await;
        self.watch.saw(&r);
        r
    }
    async fn list_deleted(
        &self,
        entity: &str,
        since: Option<DateTime<Utc>>,
        page: Option<String>,
    ) -> Result<Page, ConnectorError> {
        let r = self.inner.list_deleted(entity, since, page).await;
        self.watch.saw(&r);
        r
    }
    async fn list_query(
        &self,
        entity: &str,
        since: Option<DateTime<Utc>>,
        page: Option<String>,
        query: &ListQuery,
    ) -> Result<Page, ConnectorError> {
        let r = self.inner.list_query(entity, since, page, query).await;
        self.watch.saw(&r);
        r
    }
    fn has_users_listing(&self) -> bool {
        self.inner.has_users_listing()
    }
    async fn list_users(&self) -> Result<Vec<CrmUser>, ConnectorError> {
        let r = self.inner.list_users().await;
        self.watch.saw(&r);
        r
    }
    async fn me(&self) -> Result<Value, ConnectorError> {
        let r = self.inner.me().await;
        self.watch.saw(&r);
        r
    }
    async fn complete(
        &self,
        entity: &str,
        rows: Vec<Record>,
    ) -> Result<Vec<Record>, ConnectorError> {
        let r = self.inner.complete(entity, rows).await;
        self.watch.saw(&r);
        r
    }
    async fn get(&self, entity: &str, id: &str) -> Result<Option<Record>, ConnectorError> {
        let r = self.inner.get(entity, id).await;
        self.watch.saw(&r);
        r
    }
    async fn create(&self, entity: &str, data: &Value) -> Result<Record, ConnectorError> {
        let r = self.inner.create(entity, data).await;
        self.watch.saw(&r);
        r
    }
    async fn create_keyed(
        &self,
        entity: &str,
        data: &Value,
        key: &str,
    ) -> Result<Record, ConnectorError> {
        let r = self.inner.create_keyed(entity, data, key).await;
        self.watch.saw(&r);
        r
    }
    async fn find_created(
        &self,
        entity: &str,
        data: &Value,
        sent_at: DateTime<Utc>,
    ) -> Result<Vec<Record>, ConnectorError> {
        let r = self.inner.find_created(entity, data, sent_at).await;
        self.watch.saw(&r);
        r
    }
    async fn update(
        &self,
        entity: &str,
        id: &str,
        data: &Value,
        version: Option<&str>,
    ) -> Result<Record, ConnectorError> {
        let r = self.inner.update(entity, id, data, version).await;
        self.watch.saw(&r);
        r
    }
    async fn delete(&self, entity: &str, id: &str) -> Result<(), ConnectorError> {
        let r = self.inner.delete(entity, id).await;
        self.watch.saw(&r);
        r
    }
    async fn delete_versioned(
        &self,
        entity: &str,
        id: &str,
        version: Option<&str>,
    ) -> Result<(), ConnectorError> {
        let r = self.inner.delete_versioned(entity, id, version).await;
        self.watch.saw(&r);
        r
    }
}

/// One person's own credential: their connector, its call counter, their role and state.
pub struct Personal {
    connector: Arc<dyn Connector>,
    calls: Box<dyn Fn() -> u64 + Send + Sync>,
    watch: Arc<Watch>,
    role: Mutex<Option<(Instant, Option<Role>)>>,
    role_lock: tokio::sync::Mutex<()>,
}

/// Every personal credential of a tenant, with the tenant-wide counters.
#[derive(Default)]
pub(super) struct Credentials {
    people: std::sync::RwLock<std::collections::HashMap<String, Arc<Personal>>>,
    /// The definition's `[me]` request, if any.
    me: Option<MeDef>,
    /// Where people's CRM OAuth tokens come from, when the definition offers it.
    pub(super) oauth: Option<super::person_oauth::PersonOAuth>,
    /// When the state store was last asked for a person's OAuth tokens and had none.
    pub(super) no_tokens: Mutex<std::collections::HashMap<String, Instant>>,
    /// `[me]` requests made (role lookups).
    pub(super) role_lookups: AtomicU64,
    /// Calls the CRM refused with a person's own credential.
    pub(super) refusals: Arc<AtomicU64>,
    /// When each person's own credential was last installed (epoch ms): their collections
    /// refreshed before then are listed again, with it.
    changed: Mutex<std::collections::HashMap<String, i64>>,
}

impl Credentials {
    /// Calls made with personal credentials (tokens obtained on the sign-in page included).
    pub(super) fn calls(&self) -> u64 {
        let people = self.people.read().unwrap_or_else(|p| p.into_inner());
        people.values().map(|p| (p.calls)()).sum::<u64>()
            + self.oauth.as_ref().map_or(0, |o| o.calls())
    }

    fn get(&self, person: &str) -> Option<Arc<Personal>> {
        let people = self.people.read().unwrap_or_else(|p| p.into_inner());
        people.get(person).cloned()
    }
}

impl CrmTenant {
    /// Give `person` their own credential: `connector` is the engine built with it, `calls`
    /// its call counter.
    pub fn add_personal(
        &self,
        person: &str,
        connector: Arc<dyn Connector>,
        calls: Box<dyn Fn() -> u64 + Send + Sync>,
    ) {
        let watch = Arc::new(Watch {
            tenant: self.name.clone(),
            person: person.to_string(),
            refused: Mutex::new(None),
            refusals: self.credentials.refusals.clone(),
        });
        self.credentials
            .changed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(person.to_string(), super::lease::now());
        let mut people = self
            .credentials
            .people
            .write()
            .unwrap_or_else(|p| p.into_inner());
        people.insert(
            person.to_string(),
            Arc::new(Personal {
                connector: Arc::new(Watched {
                    inner: connector,
                    watch: watch.clone(),
                }),
                calls,
                watch,
                role: Mutex::new(None),
                role_lock: Default::default(),
            }),
        );
    }

    /// Before a refresh of `coll`: if its person's own credential was installed after the
    /// collection was last refreshed (connected on the sign-in page), it is stale, and another
    /// instance's refresh from before then is not reused.
    pub(super) fn credential_catch_up(
        &self,
        f: &super::tenant::Flight,
        coll: &crate::store::Collection,
    ) {
        let owner = super::refresh::owner_of(coll);
        let Some(at) = self
            .credentials
            .changed
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&owner)
            .copied()
        else {
            return;
        };
        f.credential_at.fetch_max(at, Ordering::AcqRel);
        if f.forced_at.load(Ordering::Acquire) < at {
            f.forced_at.store(at, Ordering::Release);
            *f.checked.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
    }

    /// Learn people's roles with the definition's `[me]` request.
    pub fn set_me(&mut self, me: Option<MeDef>) {
        self.credentials.me = me;
    }

    /// Whether `person` has their own CRM credential.
    pub fn has_personal(&self, person: &str) -> bool {
        self.credentials.get(person).is_some()
    }

    /// Whose credential lists for `person`: `Some(person)` for their own, `None` for the
    /// tenant's service credential.
    pub(super) fn lister(&self, person: &str) -> Option<String> {
        self.has_personal(person).then(|| person.to_string())
    }

    /// The connector that lists for `lister` (see [`CrmTenant::lister`]).
    pub(super) fn connector_of(&self, lister: Option<&str>) -> Arc<dyn Connector> {
        lister
            .and_then(|p| self.credentials.get(p))
            .map(|p| p.connector.clone())
            .unwrap_or_else(|| self.connector.clone())
    }

    /// The connector `person`'s reads and writes go through.
    pub(super) fn connector_for(&self, person: &str) -> Arc<dyn Connector> {
        self.connector_of(Some(person))
    }

    /// When and why the CRM last refused `person`'s own credential (cleared when it accepts
    /// it again); `None` for a working credential or a person without one.
    pub fn credential_refused(&self, person: &str) -> Option<Refusal> {
        let p = self.credentials.get(person)?;
        let g = p.watch.refused.lock().unwrap_or_else(|e| e.into_inner());
        g.clone()
    }

    /// Whether `person`'s CRM role may only read: their own credential's `[me]` answer names a
    /// role in `read_only_roles`. Asked at most once per `ttl_secs` (after a failure, once a
    /// minute at most); while unknown (never answered), writes are let through to the CRM,
    /// which refuses them itself.
    pub async fn read_only(&self, person: &str) -> bool {
        self.ensure_personal(person).await;
        let (Some(me), Some(p)) = (&self.credentials.me, self.credentials.get(person)) else {
            return false;
        };
        let ttl = Duration::from_secs(me.ttl_secs);
        let cached = |p: &Personal| {
            let g = p.role.lock().unwrap_or_else(|e| e.into_inner());
            g.filter(|(at, role)| {
                at.elapsed()
                    < if role.is_some() {
                        ttl
                    } else {
                        ttl.min(Duration::from_secs(60))
                    }
            })
        };
        if let Some((_, role)) = cached(&p) {
            return role == Some(Role::ReadOnly);
        }
        let _g = p.role_lock.lock().await;
        if let Some((_, role)) = cached(&p) {
            return role == Some(Role::ReadOnly);
        }
        self.credentials
            .role_lookups
            .fetch_add(1, Ordering::Relaxed);
        let learned = match p.connector.me().await {
            Ok(v) => role_in(me, &v),
            Err(e) => Err(e.to_string()),
        };
        let mut g = p.role.lock().unwrap_or_else(|e| e.into_inner());
        let last = g.and_then(|(_, r)| r);
        let role = match learned {
            Ok(r) => {
                tracing::debug!(tenant = %self.name, user = %person, read_only = (r == Role::ReadOnly), "CRM role learned");
                Some(r)
            }
            Err(e) => {
                tracing::warn!(tenant = %self.name, user = %person, reason = %e, "the CRM did not tell this person's role; the last known one stands");
                last
            }
        };
        *g = Some((Instant::now(), role));
        role == Some(Role::ReadOnly)
    }

    /// Role lookups (`[me]` requests) so far.
    pub fn role_lookups(&self) -> u64 {
        self.credentials.role_lookups.load(Ordering::Relaxed)
    }

    /// Calls the CRM refused with a person's own credential so far.
    pub fn credential_refusals(&self) -> u64 {
        self.credentials.refusals.load(Ordering::Relaxed)
    }
}

/// The role a `[me]` answer names.
fn role_in(me: &MeDef, answer: &Value) -> Result<Role, String> {
    let segs = jsonpath::parse(&me.role_path)?;
    let role = jsonpath::get_all(answer, &segs)
        .into_iter()
        .find_map(jsonpath::scalar_string)
        .ok_or_else(|| format!("the [me] answer has no {:?}", me.role_path))?;
    Ok(if me.read_only_roles.contains(&role) {
        Role::ReadOnly
    } else {
        Role::ReadWrite
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashMap;

    fn def(auth: &str) -> ConnectorDef {
        ConnectorDef::from_toml_str(
            &format!(
                "name = \"x\"\nbase_url = \"http://127.0.0.1:9\"\n[auth]\n{auth}\n[entities.t]\nlist = {{ path = \"/t\" }}\n"
            ),
            &HashMap::new(),
        )
        .unwrap()
    }

    #[test]
    fn a_personal_token_replaces_the_service_credential() {
        let d = personal_token_def(&def("type = \"bearer\"\ntoken = \"svc\""), "mine").unwrap();
        assert!(matches!(d.auth, AuthDef::Bearer { ref token } if token == "mine"));
        let d = personal_token_def(
            &def(
                "type = \"api_key\"\nname = \"x-api-token\"\nvalue = \"svc\"\nlocation = \"query\"",
            ),
            "mine",
        )
        .unwrap();
        assert!(
            matches!(d.auth, AuthDef::ApiKey { ref name, ref value, location: KeyLocation::Query, .. } if name == "x-api-token" && value == "mine")
        );
        let d = personal_token_def(
            &def("type = \"oauth2_refresh_token\"\ntoken_url = \"http://127.0.0.1:9/t\"\nclient_id = \"c\"\nrefresh_token = \"r\"\nscheme = \"Zoho-oauthtoken\""),
            "mine",
        )
        .unwrap();
        assert!(
            matches!(d.auth, AuthDef::ApiKey { ref name, ref value, ref prefix, .. } if name == "Authorization" && value == "mine" && prefix == "Zoho-oauthtoken ")
        );
        let e = personal_token_def(
            &def("type = \"basic\"\nusername = \"u\"\npassword = \"p\""),
            "mine",
        )
        .unwrap_err();
        assert!(e.contains("HTTP Basic"), "{e}");
    }

    #[test]
    fn the_role_comes_from_the_me_answer() {
        let me = MeDef {
            path: "/me".into(),
            query: Default::default(),
            role_path: "role".into(),
            read_only_roles: vec!["readonly".into()],
            ttl_secs: 300,
        };
        assert_eq!(
            role_in(&me, &json!({"role": "readonly"})),
            Ok(Role::ReadOnly)
        );
        assert_eq!(
            role_in(&me, &json!({"role": "member"})),
            Ok(Role::ReadWrite)
        );
        assert!(role_in(&me, &json!({"name": "x"})).is_err());
    }

    /// A person's own CRM token comes inline, from `crm_token_file` or the environment; it is
    /// trimmed, never empty, never shown by `Debug`, and refused (naming file and key) where
    /// it cannot stand in for the definition's credential.
    #[test]
    fn a_personal_crm_token_loads_and_is_checked() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("tenants")).unwrap();
        std::fs::create_dir_all(p.join("connectors")).unwrap();
        std::fs::write(
            p.join("connectors/basic-crm.toml"),
            "name = \"basic-crm\"\nbase_url = \"http://127.0.0.1:9\"\n[auth]\ntype = \"basic\"\nusername = \"u\"\npassword = \"p\"\n[entities.t]\nlist = { path = \"/t\" }\n",
        )
        .unwrap();
        std::fs::write(p.join("tok"), "acrm_personal-XYZ\n").unwrap();
        std::fs::write(
            p.join("s.toml"),
            "state = \"sqlite://x.db\"\nconnectors_dir = \"connectors\"\n",
        )
        .unwrap();
        let tenant = |connector: &str, users: &str| {
            std::fs::write(
                p.join("tenants/a.toml"),
                format!("name = \"a\"\n{connector}\n{users}"),
            )
            .unwrap();
            crate::crm::definitions::load_config(&p.join("s.toml"))
        };
        let amagi = "[connector]\nkind = \"amagi-crm\"\noptions = { base_url = \"http://127.0.0.1:9/api\", token = \"svc\" }";
        let c = tenant(
            amagi,
            "[[users]]\nname = \"u\"\ncrm_token_file = \"../tok\"\n[[users]]\nname = \"v\"\n",
        )
        .unwrap();
        let u = &c.tenants[0].users;
        assert_eq!(
            u[0].crm_token.as_ref().map(|t| t.0.as_str()),
            Some("acrm_personal-XYZ")
        );
        assert_eq!(u[1].crm_token, None);
        assert!(!format!("{u:?}").contains("XYZ"));
        let e = tenant(amagi, "[[users]]\nname = \"u\"\ncrm_token = \" \"\n").unwrap_err();
        assert_eq!(e.key, "users[0].crm_token");
        let e = tenant(
            "[connector]\nkind = \"basic-crm\"",
            "[[users]]\nname = \"u\"\n[[users]]\nname = \"v\"\ncrm_token = \"t\"\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "users[1].crm_token");
        assert!(e.message.contains("HTTP Basic"), "{}", e.message);
        let e = tenant("", "[[users]]\nname = \"u\"\ncrm_token = \"t\"\n").unwrap_err();
        assert_eq!(e.key, "users[0].crm_token");
        assert!(
            e.message.contains("only a tenant with a CRM connector"),
            "{}",
            e.message
        );
    }
}
