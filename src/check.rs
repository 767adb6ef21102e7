//! `crmdav check`: what a config would serve, and a probe of a tenant's CRM.

use crate::config::{CollectionKindConfig, ConnectorKind, ServerConfig};
use std::fmt::Write;

/// A readable summary of a loaded configuration.
pub fn describe(cfg: &ServerConfig) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "config {}: OK", cfg.path.display());
    let _ = writeln!(s, "listen    {}", cfg.listen);
    let _ = writeln!(s, "state     {}", cfg.state);
    let _ = writeln!(
        s,
        "tenants   {} (default: {})",
        cfg.tenants.len(),
        cfg.default_tenant.as_deref().unwrap_or("-")
    );
    for t in &cfg.tenants {
        let connector = match &t.connector {
            ConnectorKind::Local => "local".to_string(),
            ConnectorKind::Rest { definition, .. } => format!("rest: {definition}"),
        };
        let _ = writeln!(
            s,
            "tenant {} ({}) from {}",
            t.name,
            connector,
            t.path.display()
        );
        for u in &t.users {
            let _ = writeln!(s, "  user {}", u.name);
            for c in t.collections.iter().filter(|c| c.users.contains(&u.name)) {
                let (home, what) = match c.kind {
                    CollectionKindConfig::Calendar => (
                        "calendars",
                        format!("calendar [{}]", c.components.join(",")),
                    ),
                    CollectionKindConfig::Addressbook => {
                        ("addressbooks", "address book".to_string())
                    }
                };
                let _ = writeln!(
                    s,
                    "    /dav/{home}/{}/{}/  {what} \"{}\"{}",
                    u.name,
                    c.id,
                    c.display_name,
                    c.seed_demo
                        .map(|d| format!(" (demo data: {d:?})"))
                        .unwrap_or_default()
                );
            }
        }
    }
    s
}

/// Connect to a tenant's CRM and read a page of each entity.
pub async fn probe_tenant(cfg: &ServerConfig, tenant: &str) -> anyhow::Result<String> {
    let t = cfg
        .tenant(tenant)
        .ok_or_else(|| anyhow::anyhow!("no tenant named '{tenant}'"))?;
    match &t.connector {
        ConnectorKind::Local => Ok(format!(
            "tenant {tenant}: local connector, records live in {}; nothing upstream to check\n",
            cfg.state
        )),
        ConnectorKind::Rest { definition, .. } => Err(anyhow::anyhow!(
            "the REST connector '{definition}' cannot be probed yet"
        )),
    }
}
