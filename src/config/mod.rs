//! Server and tenant configuration: one server file plus one file per tenant in a folder.
//!
//! Values may contain `${ENV}` (substituted from the environment; an unset variable is an
//! error), and any key ending in `_file` is replaced by the trimmed contents of that file
//! (`password_hash_file = "/run/secrets/x"` gives `password_hash`). Every error names the file,
//! the key and what is wrong.

mod load;

pub use load::{load, ConfigError};

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
    /// State store URL, e.g. `sqlite://data/crmdav.db` (relative to the config file's folder).
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

/// One user of a tenant.
#[derive(Debug, Clone)]
pub struct UserConfig {
    /// Login name (without `@tenant`).
    pub name: String,
    /// PHC-format argon2 hash of the password.
    pub password_hash: String,
    /// Display name of the principal.
    pub display_name: Option<String>,
    /// Email used as `calendar-user-address-set` (mailto:).
    pub email: Option<String>,
}

/// A collection the tenant file declares (created at start if missing).
#[derive(Debug, Clone)]
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
#[derive(Debug, Clone)]
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
}
