//! Shared by the SaaS contract tests: the shipped tenant example of a CRM loads and builds.

use super::gateway::bin;
use crmdav::connector::RestConnector;
use crmdav::mapping::Mapping;
use std::collections::HashMap;

fn root(p: &str) -> String {
    format!("{}/{p}", env!("CARGO_MANIFEST_DIR"))
}

/// `crmdav check --config deploy/examples/saas/crmdav.toml` (the shared SaaS layout, all five
/// tenants) lists this CRM's tenant (check validates the config; it does not load the connector
/// definition), then the tenant's options, as the config loader resolves them (`*_file`
/// secrets), build the definition and every entity's mapping.
pub fn check_tenant_example(crm: &str) {
    let cfg_path = root("deploy/examples/saas/crmdav.toml");
    let out = std::process::Command::new(bin())
        .args(["check", "--config", &cfg_path])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("(rest: {crm})")), "{stdout}");

    let cfg = crmdav::crm::definitions::load_config(std::path::Path::new(&cfg_path)).unwrap();
    let (name, options) = cfg
        .tenants
        .iter()
        .find_map(|t| match &t.connector {
            crmdav::config::ConnectorKind::Rest {
                definition,
                options,
            } if definition == crm => Some((t.name.clone(), options.clone())),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no {crm} tenant in {cfg_path}"));
    let options: HashMap<String, String> = options
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
        .collect();
    let c = RestConnector::from_file(root(&format!("connectors/{crm}.toml")), &options, None)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    for entity in c.definition().entities.keys() {
        Mapping::load_with(root(&format!("mappings/{crm}/{entity}.toml")), &options)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}
