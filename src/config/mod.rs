//! Server and tenant configuration: one server file plus one file per tenant in a folder.
//!
//! Values may contain `${ENV}` (substituted from the environment; an unset variable is an
//! error; `${ENV:-default}` takes the default when it is unset, as in connector files), and
//! any key ending in `_file` is replaced by the trimmed contents of that file
//! (`password_hash_file = "/run/secrets/x"` gives `password_hash`). Every error names the file,
//! the key and what is wrong.

mod catalog;
mod definitions;
mod edge;
mod load;
mod oidc;
mod quota;
mod scope;
mod secrets;
mod tls;

pub use catalog::{Catalog, Source};
pub use definitions::DefinitionCheck;
pub use edge::{AuthOptions, HttpOptions};
pub use load::{load_tenants_with, load_with, ConfigError, TenantFiles};
pub use oidc::OidcConfig;
pub use quota::Quota;
pub use scope::{ScopeConfig, WindowConfig};
pub use secrets::SecretsKey;
pub use tls::TlsOptions;

use serde::Deserialize;
use std::path::PathBuf;

/// How the tenant of a request is found.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TenantFrom {
    /// `user@tenant` in the login name; a bare name logs in to the default tenant.
    #[default]
    User,
    /// The Host header, matched against each tenant's `hosts`; falls back to `user@tenant`.
    Host,
}

/// Request and evaluation limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted, bytes (413 beyond).
    pub max_body_bytes: usize,
    /// Largest calendar or address object, bytes (`max-resource-size`).
    pub max_resource_bytes: usize,
    /// Deepest XML nesting accepted in a request body.
    pub xml_max_depth: usize,
    /// Most XML elements accepted in a request body.
    pub xml_max_elements: usize,
    /// Most recurrence instances expanded for one item when evaluating a query.
    pub max_instances: usize,
    /// Most responses in one REPORT before it is cut with a 507.
    pub max_report_results: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 16 * 1024 * 1024,
            max_resource_bytes: 4 * 1024 * 1024,
            xml_max_depth: 32,
            xml_max_elements: 50_000,
            max_instances: 5_000,
            max_report_results: 100_000,
        }
    }
}

/// The server file.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where the file was read from.
    pub path: PathBuf,
    /// Listen address, `host:port`.
    pub listen: String,
    /// State store URL: `sqlite://data/crmdav.db` (made absolute against the config file's
    /// folder), `sqlite://:memory:`, or `postgres://…`/`postgresql://…` (may hold a password:
    /// print it only through `store::redact_url`).
    pub state: String,
    /// Tenant used for a bare user name (and for a Host that matches no tenant).
    pub default_tenant: Option<String>,
    /// How tenants are resolved.
    pub tenant_from: TenantFrom,
    /// Authentication realm.
    pub realm: String,
    /// Limits.
    pub limits: Limits,
    /// The tenants, by name.
    pub tenants: Vec<TenantConfig>,
    /// Where connector definitions and mappings are found (embedded, plus optional folders).
    pub catalog: Catalog,
    /// The HTTP edge: timeouts, proxies, the operations address, metrics.
    pub http: HttpOptions,
    /// Password verification and login throttling.
    pub auth: AuthOptions,
    /// Encrypts CRM tokens in the state store (`secrets_key`); without it they are stored
    /// in the clear.
    pub secrets_key: Option<SecretsKey>,
    /// Storage quotas (`[quota]`; off by default).
    pub quota: Quota,
    /// Native TLS (`tls_cert_file` and `tls_key_file`); plain HTTP when `None`.
    pub tls: Option<TlsOptions>,
    /// The folder of tenant files (read again on a reload).
    pub tenants_dir: PathBuf,
}

/// Which engine serves a tenant's collections.
#[derive(Debug, Clone, PartialEq)]
pub enum ConnectorKind {
    /// The gateway's own store is the system of record.
    Local,
    /// A declarative REST connector, by definition name (`connectors/<name>.toml`).
    Rest {
        /// Definition name.
        definition: String,
        /// Options handed to the definition (`${option}` in its templates).
        options: toml::Table,
    },
}

/// Connector options as the `${VAR}` table definitions and mappings are filled from
/// (non-string values are written as TOML: numbers, booleans).
pub fn option_vars(options: &toml::Table) -> std::collections::HashMap<String, String> {
    options
        .iter()
        .map(|(k, v)| {
            let s = match v {
                toml::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), s)
        })
        .collect()
}

/// One user of a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct UserConfig {
    /// Login name (without `@tenant`).
    pub name: String,
    /// PHC-format argon2 hash of the password; `None` when the person logs in only with app
    /// passwords.
    pub password_hash: Option<String>,
    /// Display name of the principal.
    pub display_name: Option<String>,
    /// Email used as `calendar-user-address-set` (mailto:), and to link the person to a CRM
    /// user of the same address (`crmdav users`).
    pub email: Option<String>,
    /// The person's CRM user id, when the tenant file links it explicitly (it wins over a
    /// match by e-mail).
    pub crm_id: Option<String>,
    /// The person's CRM team id, when the tenant file gives it (`{user.team_id}`).
    pub team_id: Option<String>,
    /// The person's own CRM credential (`crm_token`): their reads and writes use it instead of
    /// the tenant's, so the CRM decides what they see and writes carry their name.
    pub crm_token: Option<CrmToken>,
}

/// A person's own CRM API token; never shown in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct CrmToken(pub String);

impl std::fmt::Debug for CrmToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CrmToken(***)")
    }
}

/// A collection the tenant file declares (created at start if missing).
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionConfig {
    /// URL segment (stable id).
    pub id: String,
    /// `calendar` or `addressbook`.
    pub kind: CollectionKindConfig,
    /// Display name.
    pub display_name: String,
    /// Description.
    pub description: Option<String>,
    /// Colour (`#RRGGBB`).
    pub color: Option<String>,
    /// Components for calendars (VEVENT, VTODO).
    pub components: Vec<String>,
    /// Users who get this collection in their home.
    pub users: Vec<String>,
    /// Seed the built-in demo data into it on first start.
    pub seed_demo: Option<DemoSeed>,
    /// The connector entity behind it (CRM tenants), e.g. `appointments`.
    pub entity: Option<String>,
    /// The mapping name (`mappings/<crm>/<mapping>.toml`); defaults to the entity.
    pub mapping: Option<String>,
    /// Which of the entity's records each person's collection holds (`scope`, default `all`).
    pub scope: ScopeConfig,
    /// The calendar's time window (`window_past_days`, `window_future_days`), if any.
    pub window: Option<WindowConfig>,
}

impl CollectionConfig {
    /// The mapping name: `mapping`, else the entity.
    pub fn mapping_name(&self) -> Option<&str> {
        self.mapping.as_deref().or(self.entity.as_deref())
    }
}

/// How a CRM tenant's collections are kept fresh (`[sync]` in the tenant file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyncOptions {
    /// A collection refreshed within this many seconds is served without asking the CRM.
    pub refresh_ttl_secs: u64,
    /// Every this many seconds a refresh lists everything (to see deletions) even when the
    /// CRM can filter by modified time.
    pub full_scan_secs: u64,
    /// The CRM's user list (people linked by e-mail) is read again after this many seconds.
    pub users_ttl_secs: u64,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            refresh_ttl_secs: 30,
            full_scan_secs: 600,
            users_ttl_secs: 3600,
        }
    }
}

/// What demo data a collection is seeded with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DemoSeed {
    Events,
    Tasks,
    Contacts,
}

/// Calendar or address book.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CollectionKindConfig {
    Calendar,
    Addressbook,
}

/// One tenant file.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantConfig {
    /// Where the file was read from.
    pub path: PathBuf,
    /// Tenant name (URL-safe).
    pub name: String,
    /// Host names that select this tenant (`tenant_from = "host"`).
    pub hosts: Vec<String>,
    /// The engine behind the collections.
    pub connector: ConnectorKind,
    /// Users.
    pub users: Vec<UserConfig>,
    /// Declared collections.
    pub collections: Vec<CollectionConfig>,
    /// Refresh schedule for CRM-backed collections.
    pub sync: SyncOptions,
    /// The identity provider of the sign-in page (`[oidc]`); no page without it.
    pub oidc: Option<OidcConfig>,
}

impl ServerConfig {
    /// A tenant by name.
    pub fn tenant(&self, name: &str) -> Option<&TenantConfig> {
        self.tenants.iter().find(|t| t.name == name)
    }
}

impl TenantConfig {
    /// A user by login name.
    pub fn user(&self, name: &str) -> Option<&UserConfig> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The person whose email is `email` (case-insensitive).
    pub fn user_by_email(&self, email: &str) -> Option<&UserConfig> {
        self.users.iter().find(|u| {
            u.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(email))
        })
    }
}
