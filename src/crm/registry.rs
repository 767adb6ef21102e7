//! Every CRM tenant of the server, built from the configuration: connectors, token stores and
//! the bindings of declared collections.

use super::binding::Binding;
use super::scope::{Person, ScopeSpec};
use super::tenant::CrmTenant;
use super::tokens::KvTokenStore;
use crate::config::{option_vars, CollectionKindConfig, ConnectorKind, ServerConfig};
use crate::connector::rest::def::ConnectorDef;
use crate::connector::{RestConnector, TokenStore};
use crate::store::{CollectionKind, Store};
use crate::tree::CollectionPath;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Every CRM tenant of the server, and refresh metrics.
#[derive(Default)]
pub struct CrmRegistry {
    pub(super) tenants: HashMap<String, Arc<CrmTenant>>,
    pub(super) refresh_count: AtomicU64,
    pub(super) refresh_micros: AtomicU64,
}

impl CrmRegistry {
    /// Build connectors and bindings for every CRM tenant of `cfg`.
    pub fn build(cfg: &ServerConfig, store: &Arc<Store>) -> anyhow::Result<Self> {
        let mut reg = CrmRegistry::default();
        for t in &cfg.tenants {
            let ConnectorKind::Rest {
                definition,
                options,
            } = &t.connector
            else {
                continue;
            };
            let file = t.path.display();
            let vars = option_vars(options);
            let src = cfg
                .catalog
                .connector(definition)
                .map_err(|e| anyhow::anyhow!("{file}: connector.kind: {e}"))?;
            let def = ConnectorDef::from_toml_str(&src.text, &vars)
                .map_err(|e| anyhow::anyhow!("{file}: connector: {}: {e}", src.origin))?;
            let ts: Arc<dyn TokenStore> = Arc::new(KvTokenStore::new(store.clone(), &t.name));
            let rest = Arc::new(
                RestConnector::new(def, Some(ts))
                    .map_err(|e| anyhow::anyhow!("{file}: connector: {e}"))?,
            );
            let counter = rest.clone();
            let def_rest = rest.clone();
            let mut tenant = CrmTenant::new(
                &t.name,
                rest,
                Box::new(move || counter.calls()),
                t.sync,
                cfg.limits.max_instances,
            );
            for (i, c) in t.collections.iter().enumerate() {
                let Some(entity) = &c.entity else { continue };
                let name = c.mapping_name().unwrap_or(entity);
                let msrc = cfg
                    .catalog
                    .mapping(definition, name)
                    .map_err(|e| anyhow::anyhow!("{file}: collections[{i}].mapping: {e}"))?;
                let b = Binding::new(definition, entity, &msrc.text, &vars).map_err(|e| {
                    anyhow::anyhow!("{file}: collections[{i}].mapping: {}: {e}", msrc.origin)
                })?;
                let edef = def_rest.definition().entities.get(entity);
                let b = b.with_scope(ScopeSpec {
                    scope: c.scope,
                    def: edef.and_then(|e| e.scopes.get(c.scope.as_str()).cloned()),
                    window: c.window,
                    window_def: edef.and_then(|e| e.window.clone()),
                });
                let kind = match c.kind {
                    CollectionKindConfig::Calendar => CollectionKind::Calendar,
                    CollectionKindConfig::Addressbook => CollectionKind::Addressbook,
                };
                tenant.bind(kind, &c.id, b);
            }
            tenant.set_people(t.users.iter().map(|u| Person {
                name: u.name.clone(),
                crm_id: u.crm_id.clone(),
                email: u.email.clone(),
                team_id: u.team_id.clone(),
            }));
            reg.tenants.insert(t.name.clone(), Arc::new(tenant));
        }
        Ok(reg)
    }

    /// Add a tenant (tests).
    pub fn insert(&mut self, t: CrmTenant) {
        self.tenants.insert(t.name.clone(), Arc::new(t));
    }

    /// The CRM tenant `name`, if it is one.
    pub fn tenant(&self, name: &str) -> Option<&Arc<CrmTenant>> {
        self.tenants.get(name)
    }

    /// The tenant and binding of a collection, when it is CRM-backed.
    pub fn binding(
        &self,
        tenant: &str,
        path: &CollectionPath,
    ) -> Option<(Arc<CrmTenant>, Arc<Binding>)> {
        let t = self.tenants.get(tenant)?;
        t.binding(path).map(|b| (t.clone(), b))
    }

    /// Refresh the CRM collection at `path` if it is one and is stale.
    pub async fn ensure_fresh(&self, store: &Store, tenant: &str, path: &CollectionPath) {
        let Some((t, b)) = self.binding(tenant, path) else {
            return;
        };
        let coll = match store.collection(tenant, path.as_str()).await {
            Ok(Some(c)) => c,
            _ => return,
        };
        if let Some((took, _)) = t.ensure_fresh(store, &b, &coll).await {
            self.refresh_count.fetch_add(1, Ordering::Relaxed);
            self.refresh_micros
                .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        }
    }
}
