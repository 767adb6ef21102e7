//! Creating a user's homes and the collections their tenant file declares, and seeding the
//! built-in demo data on first start.

use crate::config::{CollectionKindConfig, DemoSeed, Limits, TenantConfig, UserConfig};
use crate::store::{Collection, CollectionKind, Store, StoreError, WriteCondition};
use crate::tree::{CollectionPath, HomeKind};
use crate::xml::{escape_text, NS_CALDAV, NS_CARDDAV, NS_DAV, NS_ICAL};
use std::collections::{HashMap, HashSet};

fn prop_xml(ns: &str, name: &str, value: &str) -> String {
    format!(
        "<x1:{name} xmlns:x1=\"{ns}\">{}</x1:{name}>",
        escape_text(value)
    )
}

/// The people whose homes and declared collections exist, by tenant: asked on every request
/// without allocating and without an async lock; provisioning and forgetting are serialised
/// by one async mutex, so a tenant reloaded during a provisioning is forgotten after it.
#[derive(Default)]
pub struct Ensured {
    done: std::sync::RwLock<HashMap<String, HashSet<String>>>,
    provisioning: tokio::sync::Mutex<()>,
}

impl Ensured {
    /// Whether `user` of `tenant` was provisioned (and not forgotten since).
    pub fn contains(&self, tenant: &str, user: &str) -> bool {
        self.done
            .read()
            .is_ok_and(|d| d.get(tenant).is_some_and(|users| users.contains(user)))
    }

    /// Run `provision` for `user` of `tenant` unless it has been done, one at a time; it is
    /// recorded only when it succeeds.
    pub async fn ensure<F>(&self, tenant: &str, user: &str, provision: F) -> anyhow::Result<()>
    where
        F: std::future::Future<Output = anyhow::Result<()>>,
    {
        if self.contains(tenant, user) {
            return Ok(());
        }
        let _one = self.provisioning.lock().await;
        if self.contains(tenant, user) {
            return Ok(());
        }
        provision.await?;
        self.record(tenant, user);
        Ok(())
    }

    /// Record `user` of `tenant` as provisioned.
    pub fn record(&self, tenant: &str, user: &str) {
        if let Ok(mut d) = self.done.write() {
            d.entry(tenant.to_owned())
                .or_default()
                .insert(user.to_owned());
        }
    }

    /// Forget every user of `tenants` (their tenant file changed): each is provisioned again
    /// on their next request. Waits for a provisioning in progress.
    pub async fn forget_tenants(&self, tenants: &[String]) {
        let _one = self.provisioning.lock().await;
        if let Ok(mut d) = self.done.write() {
            d.retain(|t, _| !tenants.contains(t));
        }
    }
}

/// Make sure the user's homes and declared collections exist, seeding demo data once.
pub async fn ensure_user(
    store: &Store,
    limits: &Limits,
    tenant: &TenantConfig,
    user: &UserConfig,
) -> anyhow::Result<()> {
    for kind in [HomeKind::Calendars, HomeKind::Addressbooks] {
        let path = CollectionPath::home(kind, &user.name);
        match store
            .create_collection(
                &tenant.name,
                path.as_str(),
                CollectionKind::Plain,
                &[],
                false,
            )
            .await
        {
            Ok(_) | Err(StoreError::Exists) => {}
            Err(e) => return Err(anyhow::anyhow!("creating {path}: {e}")),
        }
    }
    for c in tenant
        .collections
        .iter()
        .filter(|c| c.users.contains(&user.name))
    {
        let (home, kind) = match c.kind {
            CollectionKindConfig::Calendar => (HomeKind::Calendars, CollectionKind::Calendar),
            CollectionKindConfig::Addressbook => {
                (HomeKind::Addressbooks, CollectionKind::Addressbook)
            }
        };
        let path = CollectionPath::home(home, &user.name).child(&c.id);
        let coll = match store
            .create_collection(&tenant.name, path.as_str(), kind, &c.components, false)
            .await
        {
            Ok(coll) => {
                let mut props = vec![(
                    NS_DAV.to_string(),
                    "displayname".to_string(),
                    Some(prop_xml(NS_DAV, "displayname", &c.display_name)),
                )];
                if let Some(d) = &c.description {
                    let (ns, name) = if kind == CollectionKind::Calendar {
                        (NS_CALDAV, "calendar-description")
                    } else {
                        (NS_CARDDAV, "addressbook-description")
                    };
                    props.push((ns.into(), name.into(), Some(prop_xml(ns, name, d))));
                }
                if let Some(col) = &c.color {
                    props.push((
                        NS_ICAL.into(),
                        "calendar-color".into(),
                        Some(prop_xml(NS_ICAL, "calendar-color", col)),
                    ));
                }
                store
                    .patch_dead_props(&tenant.name, path.as_str(), &props)
                    .await?;
                coll
            }
            Err(StoreError::Exists) => match store.collection(&tenant.name, path.as_str()).await? {
                Some(coll) => coll,
                None => continue,
            },
            Err(e) => return Err(anyhow::anyhow!("creating {path}: {e}")),
        };
        if let Some(seed) = c.seed_demo {
            let key = format!("seeded:{path}");
            if store.kv_get(&tenant.name, &key).await?.is_none() {
                let n = seed_demo(store, limits, &coll, seed).await?;
                store.kv_set(&tenant.name, &key, &n.to_string()).await?;
                tracing::info!(tenant = %tenant.name, %path, items = n, "seeded demo data");
            }
        }
    }
    Ok(())
}

async fn seed_demo(
    store: &Store,
    limits: &Limits,
    coll: &Collection,
    seed: DemoSeed,
) -> anyhow::Result<usize> {
    let today = chrono::Utc::now().date_naive();
    let items = match seed {
        DemoSeed::Events => crate::demo::calendar_events(today),
        DemoSeed::Tasks => crate::demo::tasks(today),
        DemoSeed::Contacts => crate::demo::contacts(),
    };
    let max = limits.max_instances;
    let mut n = 0;
    for it in items {
        let (index, ct) = match seed {
            DemoSeed::Events | DemoSeed::Tasks => (
                crate::store::calendar_index(&it.body, coll, max)
                    .map_err(|e| anyhow::anyhow!("demo item {}: {e}", it.name))?,
                "text/calendar; charset=utf-8",
            ),
            DemoSeed::Contacts => (
                crate::store::card_index(&it.body)
                    .map_err(|e| anyhow::anyhow!("demo item {}: {e}", it.name))?,
                "text/vcard; charset=utf-8",
            ),
        };
        store
            .put_item(
                coll,
                &it.name,
                ct,
                it.body.as_bytes(),
                &index,
                &WriteCondition::default(),
            )
            .await
            .map_err(|e| anyhow::anyhow!("seeding {}: {e}", it.name))?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::Ensured;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn provisions_once_until_its_tenant_is_forgotten() {
        let ensured = Ensured::default();
        let runs = AtomicUsize::new(0);
        let provision = || async {
            runs.fetch_add(1, Ordering::SeqCst);
            anyhow::Ok(())
        };
        assert!(!ensured.contains("acme", "ann"));
        ensured.ensure("acme", "ann", provision()).await.unwrap();
        ensured.ensure("acme", "ann", provision()).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(ensured.contains("acme", "ann"));
        // Another tenant's user of the same name is someone else.
        assert!(!ensured.contains("other", "ann"));
        ensured.ensure("other", "ann", provision()).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 2);
        ensured.forget_tenants(&["acme".to_string()]).await;
        assert!(!ensured.contains("acme", "ann"));
        assert!(ensured.contains("other", "ann"));
        ensured.ensure("acme", "ann", provision()).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_failed_provisioning_is_tried_again() {
        let ensured = Ensured::default();
        let failed = ensured
            .ensure("acme", "ann", async { Err(anyhow::anyhow!("store down")) })
            .await;
        assert!(failed.is_err());
        assert!(!ensured.contains("acme", "ann"));
        ensured
            .ensure("acme", "ann", async { anyhow::Ok(()) })
            .await
            .unwrap();
        assert!(ensured.contains("acme", "ann"));
    }
}
