//! Every CRM tenant of the server, built from the configuration: connectors, token stores and
//! the bindings of declared collections.

use super::binding::Binding;
use super::credentials::personal_token_def;
use super::metrics::RefreshMetrics;
use super::scope::{Person, ScopeSpec};
use super::sealed::Sealer;
use super::tenant::CrmTenant;
use super::tokens::KvTokenStore;
use crate::config::{option_vars, CollectionKindConfig, ConnectorKind, ServerConfig, TenantConfig};
use crate::connector::rest::def::{AuthDef, ConnectorDef};
use crate::connector::{RestConnector, TokenStore};
use crate::store::{CollectionKind, Store};
use crate::tree::CollectionPath;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Whether a connector's authentication keeps tokens in the state store (OAuth2).
fn keeps_tokens(auth: &AuthDef) -> bool {
    matches!(
        auth,
        AuthDef::Oauth2ClientCredentials { .. } | AuthDef::Oauth2RefreshToken { .. }
    )
}

/// Every CRM tenant of the server, and refresh metrics.
#[derive(Default)]
pub struct CrmRegistry {
    pub(super) tenants: HashMap<String, Arc<CrmTenant>>,
    pub(super) metrics: Arc<RefreshMetrics>,
}

impl CrmRegistry {
    /// Build connectors and bindings for every CRM tenant of `cfg`.
    pub fn build(cfg: &ServerConfig, store: &Arc<Store>) -> anyhow::Result<Self> {
        let mut reg = CrmRegistry::default();
        let sealer = Self::sealer(cfg);
        for t in &cfg.tenants {
            if let Some(tenant) = Self::build_tenant(cfg, t, store, &sealer)? {
                reg.tenants.insert(t.name.clone(), Arc::new(tenant));
            }
        }
        Ok(reg)
    }

    /// What seals the CRM tokens in the state store, when `secrets_key` is set.
    pub fn sealer(cfg: &ServerConfig) -> Option<Arc<Sealer>> {
        cfg.secrets_key.as_ref().map(|k| Arc::new(Sealer::new(k)))
    }

    /// The connector and bindings of one tenant; `None` for a local tenant. Errors name the
    /// tenant's file and key.
    pub fn build_tenant(
        cfg: &ServerConfig,
        t: &TenantConfig,
        store: &Arc<Store>,
        sealer: &Option<Arc<Sealer>>,
    ) -> anyhow::Result<Option<CrmTenant>> {
        let ConnectorKind::Rest {
            definition,
            options,
        } = &t.connector
        else {
            return Ok(None);
        };
        let file = t.path.display();
        let vars = option_vars(options);
        let src = cfg
            .catalog
            .connector(definition)
            .map_err(|e| anyhow::anyhow!("{file}: connector.kind: {e}"))?;
        let def = ConnectorDef::from_toml_str(&src.text, &vars)
            .map_err(|e| anyhow::anyhow!("{file}: connector: {}: {e}", src.origin))?;
        if sealer.is_none() && keeps_tokens(&def.auth) {
            tracing::warn!(
                tenant = %t.name,
                "no secrets_key configured: this tenant's CRM OAuth tokens are stored unencrypted in the state store"
            );
        }
        let ts: Arc<dyn TokenStore> =
            Arc::new(KvTokenStore::new(store.clone(), &t.name, sealer.clone()));
        let me = def.me.clone();
        let person_def = def.clone();
        let personal = Self::personal_connectors(t, &def)?;
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
        tenant.set_me(me);
        tenant
            .set_person_oauth(&person_def, store.clone(), sealer.clone())
            .map_err(|e| anyhow::anyhow!("{file}: connector: person_oauth: {e}"))?;
        for (person, c) in personal {
            let counter = c.clone();
            tenant.add_personal(&person, c, Box::new(move || counter.calls()));
        }
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
            let b = match edef {
                Some(e) => b.with_definition(e),
                None => b,
            };
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
        tenant.set_link_store(store.clone());
        tenant.set_people(t.users.iter().map(|u| Person {
            name: u.name.clone(),
            crm_id: u.crm_id.clone(),
            email: u.email.clone(),
            team_id: u.team_id.clone(),
        }));
        Ok(Some(tenant))
    }

    /// A connector per person with their own API token (`crm_token` in the tenant file):
    /// the tenant's definition with its credential replaced (`credentials::personal_token_def`).
    fn personal_connectors(
        t: &TenantConfig,
        def: &ConnectorDef,
    ) -> anyhow::Result<Vec<(String, Arc<RestConnector>)>> {
        let file = t.path.display();
        let mut out = Vec::new();
        for (i, u) in t.users.iter().enumerate() {
            let Some(token) = &u.crm_token else { continue };
            let d = personal_token_def(def, &token.0)
                .map_err(|e| anyhow::anyhow!("{file}: users[{i}].crm_token: {e}"))?;
            // The person's token never leaves this process: memory is its token store.
            let c = RestConnector::new(d, None)
                .map_err(|e| anyhow::anyhow!("{file}: users[{i}].crm_token: {e}"))?;
            out.push((u.name.clone(), Arc::new(c)));
        }
        Ok(out)
    }

    /// A registry of `tenants` that continues this one's refresh counters (a reload).
    pub fn succeeded_by(&self, tenants: HashMap<String, Arc<CrmTenant>>) -> CrmRegistry {
        CrmRegistry {
            tenants,
            metrics: self.metrics.clone(),
        }
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

    /// Before a read of the CRM collection at `path` (if it is one): when it is stale, serve
    /// the stored state and refresh it in the background; only a collection never imported
    /// makes the read wait (for the one import every concurrent read shares).
    pub async fn ensure_fresh(&self, store: &Arc<Store>, tenant: &str, path: &CollectionPath) {
        let Some((t, b)) = self.binding(tenant, path) else {
            return;
        };
        let coll = match store.collection(tenant, path.as_str()).await {
            Ok(Some(c)) => c,
            _ => return,
        };
        let started = Instant::now();
        t.read_fresh(store, &b, &coll, &self.metrics).await;
        self.metrics.waited(started.elapsed());
    }
}
