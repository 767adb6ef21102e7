//! Creating a user's homes and the collections their tenant file declares, and seeding the
//! built-in demo data on first start.

use crate::config::{CollectionKindConfig, DemoSeed, Limits, TenantConfig, UserConfig};
use crate::store::{Collection, CollectionKind, Store, StoreError, WriteCondition};
use crate::tree::{CollectionPath, HomeKind};
use crate::xml::{escape_text, NS_CALDAV, NS_CARDDAV, NS_DAV, NS_ICAL};

fn prop_xml(ns: &str, name: &str, value: &str) -> String {
    format!(
        "<x1:{name} xmlns:x1=\"{ns}\">{}</x1:{name}>",
        escape_text(value)
    )
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
