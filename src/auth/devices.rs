//! A person's devices: their app passwords, created (the secret shown once), listed and
//! revoked. The command line calls these, and the sign-in page will: every function takes
//! (tenant, user) and checks them against the configuration first.

use super::app_password::{self, AppSecret, LabelError};
use crate::config::{ServerConfig, TenantConfig};
use crate::store::{AppPassword, SetupKind, Store, StoreError};

/// Why a device operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// No tenant of that name.
    #[error("no tenant named '{0}'")]
    UnknownTenant(String),
    /// The tenant knows no such person.
    #[error("tenant {tenant}: no user named '{user}'")]
    UnknownUser {
        /// The tenant.
        tenant: String,
        /// The user asked for.
        user: String,
    },
    /// No app password with that id (in that tenant, or of that person).
    #[error("tenant {tenant}: no app password with id '{id}'")]
    UnknownId {
        /// The tenant.
        tenant: String,
        /// The id asked for.
        id: String,
    },
    /// The label was refused.
    #[error("label: {0}")]
    Label(#[from] LabelError),
    /// Hashing failed.
    #[error("hashing failed: {0}")]
    Hash(String),
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for DeviceError {
    fn from(e: sqlx::Error) -> Self {
        DeviceError::Store(StoreError::Db(e))
    }
}

/// A device as listed: everything but the hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// Public id.
    pub id: String,
    /// The person.
    pub user: String,
    /// The label.
    pub label: String,
    /// Creation, epoch seconds.
    pub created: i64,
    /// Last login with it, epoch seconds (to the minute).
    pub last_used: Option<i64>,
}

impl From<AppPassword> for Device {
    fn from(p: AppPassword) -> Self {
        Device {
            id: p.id,
            user: p.user,
            label: p.label,
            created: p.created,
            last_used: p.last_used,
        }
    }
}

/// A new app password: the whole secret, to be shown once and never again.
#[derive(Debug)]
pub struct Created {
    /// `<id>-<secret>` (its `Debug` hides the secret).
    pub secret: AppSecret,
    /// The stored device.
    pub device: Device,
}

fn tenant<'a>(cfg: &'a ServerConfig, name: &str) -> Result<&'a TenantConfig, DeviceError> {
    cfg.tenant(name)
        .ok_or_else(|| DeviceError::UnknownTenant(name.to_string()))
}

/// Whether `user` is a person of `tenant`. For now the tenant file declares every person;
/// people linked from the CRM's user list (issue 10 item 1) will be recognised here too.
pub fn is_person(tenant: &TenantConfig, user: &str) -> bool {
    tenant.user(user).is_some()
}

fn person(cfg: &ServerConfig, tenant_name: &str, user: &str) -> Result<(), DeviceError> {
    let t = tenant(cfg, tenant_name)?;
    if !is_person(t, user) {
        return Err(DeviceError::UnknownUser {
            tenant: t.name.clone(),
            user: user.to_string(),
        });
    }
    Ok(())
}

/// Create an app password for (tenant, user) labelled `label`. The secret is hashed with the
/// parameters of `crmdav hash-password`, on the blocking pool.
pub async fn create(
    store: &Store,
    cfg: &ServerConfig,
    tenant_name: &str,
    user: &str,
    label: &str,
) -> Result<Created, DeviceError> {
    person(cfg, tenant_name, user)?;
    let label = app_password::label(label)?.to_string();
    // A 50-bit id repeats only by a miracle; a few retries cover it.
    for _ in 0..4 {
        let secret = AppSecret::generate();
        let plain = secret.secret().to_string();
        let hash = tokio::task::spawn_blocking(move || super::hash_password(&plain))
            .await
            .map_err(|e| DeviceError::Hash(e.to_string()))?
            .map_err(|e| DeviceError::Hash(e.to_string()))?;
        let row = AppPassword {
            tenant: tenant_name.to_string(),
            id: secret.id().to_string(),
            user: user.to_string(),
            label: label.clone(),
            hash,
            created: chrono::Utc::now().timestamp(),
            last_used: None,
        };
        match store.create_app_password(&row).await {
            Ok(()) => {
                return Ok(Created {
                    secret,
                    device: row.into(),
                })
            }
            Err(StoreError::Exists) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Exists.into())
}

/// The devices of a tenant, or of one of its people.
pub async fn list(
    store: &Store,
    cfg: &ServerConfig,
    tenant_name: &str,
    user: Option<&str>,
) -> Result<Vec<Device>, DeviceError> {
    tenant(cfg, tenant_name)?;
    let rows = store.app_passwords(tenant_name, user).await?;
    // Someone removed from the tenant file still has their rows listed (to revoke them).
    if let (Some(u), true) = (user, rows.is_empty()) {
        person(cfg, tenant_name, u)?;
    }
    Ok(rows.into_iter().map(Device::from).collect())
}

/// Revoke one app password of the tenant (the administrator's revoke).
pub async fn revoke(
    store: &Store,
    cfg: &ServerConfig,
    tenant_name: &str,
    id: &str,
) -> Result<(), DeviceError> {
    tenant(cfg, tenant_name)?;
    let id = id.to_ascii_lowercase();
    if !store.revoke_app_password(tenant_name, &id).await? {
        return Err(DeviceError::UnknownId {
            tenant: tenant_name.to_string(),
            id,
        });
    }
    Ok(())
}

/// Revoke one app password of `user` (a person revoking their own device): another
/// person's id is `UnknownId`, like an id that does not exist.
pub async fn revoke_own(
    store: &Store,
    cfg: &ServerConfig,
    tenant_name: &str,
    user: &str,
    id: &str,
) -> Result<(), DeviceError> {
    person(cfg, tenant_name, user)?;
    let id = id.to_ascii_lowercase();
    let unknown = || DeviceError::UnknownId {
        tenant: tenant_name.to_string(),
        id: id.clone(),
    };
    match store.app_password(tenant_name, &id).await? {
        Some(p) if p.user == user => {}
        _ => return Err(unknown()),
    }
    if !store.revoke_app_password(tenant_name, &id).await? {
        return Err(unknown());
    }
    Ok(())
}

/// Revoke every app password of a person; returns how many there were (0 is fine for a
/// person without any; an unknown name is `UnknownUser`).
pub async fn revoke_all(
    store: &Store,
    cfg: &ServerConfig,
    tenant_name: &str,
    user: &str,
) -> Result<u64, DeviceError> {
    tenant(cfg, tenant_name)?;
    let n = store.revoke_app_passwords(tenant_name, user).await?;
    // Someone removed from the tenant file can still be cleaned up; a typo is an error.
    if n == 0 {
        person(cfg, tenant_name, user)?;
    }
    Ok(n)
}

/// A signed-in session of the sign-in page, as listed (its id and data stay sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageSession {
    /// When it ends, epoch seconds.
    pub expires: i64,
    /// When the person last used it, epoch seconds.
    pub last_used: Option<i64>,
}

/// The live sign-in page sessions of a person (on every instance sharing the store).
pub async fn page_sessions(
    store: &Store,
    cfg: &ServerConfig,
    tenant_name: &str,
    user: &str,
) -> Result<Vec<PageSession>, DeviceError> {
    tenant(cfg, tenant_name)?;
    let now = chrono::Utc::now().timestamp_millis();
    let rows = store.setup_owned(tenant_name, user, now).await?;
    Ok(rows
        .into_iter()
        .filter(|e| e.kind == SetupKind::Session)
        .map(|e| PageSession {
            expires: e.expires_ms / 1000,
            last_used: e.used_ms.map(|u| u / 1000),
        })
        .collect())
}

/// End every sign-in page session of a person, on every instance: they must sign in again.
/// Returns how many were live.
pub async fn sign_out_everywhere(
    store: &Store,
    cfg: &ServerConfig,
    tenant_name: &str,
    user: &str,
) -> Result<u64, DeviceError> {
    tenant(cfg, tenant_name)?;
    let now = chrono::Utc::now().timestamp_millis();
    Ok(store.setup_remove_owned(tenant_name, user, now).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path) -> ServerConfig {
        std::fs::create_dir_all(dir.join("tenants")).unwrap();
        std::fs::write(dir.join("crmdav.toml"), "state = \"sqlite://:memory:\"\n").unwrap();
        std::fs::write(
            dir.join("tenants/t.toml"),
            "name = \"t\"\n[[users]]\nname = \"alice\"\n[[users]]\nname = \"bob\"\n",
        )
        .unwrap();
        crate::crm::definitions::load_config(&dir.join("crmdav.toml")).unwrap()
    }

    #[tokio::test]
    async fn create_list_and_revoke_own_devices() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let store = Store::open("sqlite://:memory:").await.unwrap();
        let made = create(&store, &cfg, "t", "alice", " Alice's phone ")
            .await
            .unwrap();
        assert_eq!(made.device.label, "Alice's phone");
        assert_eq!(made.device.id, made.secret.id());
        let row = store.app_password("t", made.secret.id()).await.unwrap();
        let row = row.unwrap();
        assert!(row.hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(!row.hash.contains(made.secret.secret()));

        assert!(matches!(
            create(&store, &cfg, "t", "carol", "x").await,
            Err(DeviceError::UnknownUser { .. })
        ));
        assert!(matches!(
            create(&store, &cfg, "nope", "alice", "x").await,
            Err(DeviceError::UnknownTenant(_))
        ));
        assert!(matches!(
            create(&store, &cfg, "t", "alice", "a\u{1b}[31m").await,
            Err(DeviceError::Label(LabelError::Control))
        ));
        assert_eq!(list(&store, &cfg, "t", None).await.unwrap().len(), 1);
        assert!(list(&store, &cfg, "t", Some("bob"))
            .await
            .unwrap()
            .is_empty());

        // Bob cannot revoke Alice's device; Alice can, once.
        let id = made.secret.id().to_uppercase();
        assert!(matches!(
            revoke_own(&store, &cfg, "t", "bob", &id).await,
            Err(DeviceError::UnknownId { .. })
        ));
        revoke_own(&store, &cfg, "t", "alice", &id).await.unwrap();
        assert!(matches!(
            revoke_own(&store, &cfg, "t", "alice", &id).await,
            Err(DeviceError::UnknownId { .. })
        ));
        assert_eq!(revoke_all(&store, &cfg, "t", "alice").await.unwrap(), 0);
    }

    /// Someone removed from the tenant file still has their devices listed and revocable.
    #[tokio::test]
    async fn a_removed_person_can_still_be_cleaned_up() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path());
        let store = Store::open("sqlite://:memory:").await.unwrap();
        let mut row = AppPassword {
            tenant: "t".into(),
            id: "0123456789".into(),
            user: "carol".into(),
            label: "old phone".into(),
            hash: "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA".into(),
            created: 1,
            last_used: None,
        };
        store.create_app_password(&row).await.unwrap();
        row.id = "0123456788".into();
        store.create_app_password(&row).await.unwrap();
        assert_eq!(
            list(&store, &cfg, "t", Some("carol")).await.unwrap().len(),
            2
        );
        assert_eq!(revoke_all(&store, &cfg, "t", "carol").await.unwrap(), 2);
        assert!(matches!(
            revoke_all(&store, &cfg, "t", "carol").await,
            Err(DeviceError::UnknownUser { .. })
        ));
    }
}
