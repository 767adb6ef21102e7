//! The shipped tenant examples (`deploy/examples/saas/`) pass `crmdav check` and build each
//! CRM's connector and mappings. They run the `crmdav` binary and the config loader, so they
//! live here rather than beside the contract tests in `crates/crmdav-crm/tests/contracts/`.

use crmdav::connector::RestConnector;
use crmdav::mapping::Mapping;
use std::collections::HashMap;

mod dynamics365 {
    #[test]
    fn tenant_example_loads_with_crmdav_check() {
        crate::support::examples::check_tenant_example("dynamics365");
    }
}

mod hubspot {
    #[test]
    fn tenant_example_loads_with_crmdav_check() {
        crate::support::examples::check_tenant_example("hubspot");
    }
}

mod salesforce {
    #[test]
    fn tenant_example_loads_with_crmdav_check() {
        crate::support::examples::check_tenant_example("salesforce");
    }
}

mod zoho {
    use super::*;

    /// `deploy/examples/saas/` (server file + tenants/ with all five SaaS tenants) passes
    /// `crmdav check`, and each tenant's options build its connector and mappings.
    #[test]
    fn saas_examples_pass_crmdav_check_and_build_connectors() {
        let root = env!("CARGO_MANIFEST_DIR");
        let cfg_path = format!("{root}/deploy/examples/saas/crmdav.toml");
        let out = std::process::Command::new(crate::support::gateway::bin())
            .args(["check", "--config", &cfg_path])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains("tenant pipedrive-acme (rest: pipedrive)"),
            "{stdout}"
        );
        for t in [
            "hubspot-example (rest: hubspot)",
            "salesforce-example (rest: salesforce)",
            "dynamics365-example (rest: dynamics365)",
            "pipedrive-acme (rest: pipedrive)",
            "zoho-globex (rest: zoho)",
        ] {
            assert!(stdout.contains(&format!("tenant {t}")), "{stdout}");
        }

        let cfg = crmdav::crm::definitions::load_config(std::path::Path::new(&cfg_path)).unwrap();
        for t in &cfg.tenants {
            let crmdav::config::ConnectorKind::Rest {
                definition,
                options,
            } = &t.connector
            else {
                panic!("{} is not a REST tenant", t.name);
            };
            let opts: HashMap<String, String> = options
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            let c = RestConnector::from_file(
                format!("{root}/connectors/{definition}.toml"),
                &opts,
                None,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", t.name));
            assert_eq!(c.definition().name, *definition);
            for entity in c.definition().entities.keys() {
                Mapping::load_with(format!("{root}/mappings/{definition}/{entity}.toml"), &opts)
                    .unwrap_or_else(|e| panic!("{}: {e}", t.name));
            }
        }
    }
}

/// `deploy/examples/amagi/` (the per-person example) passes `crmdav check` with its
/// environment set, and loads with each person's own CRM token and the shared sealing key.
/// (tests/e2e/people_amagi.rs runs it against a real amagi.)
#[test]
fn amagi_example_passes_crmdav_check_with_a_token_per_person() {
    let root = env!("CARGO_MANIFEST_DIR");
    let cfg_path = format!("{root}/deploy/examples/amagi/crmdav.toml");
    let key = "ab".repeat(32);
    let env = [
        ("CRM_URL", "http://127.0.0.1:9/api"),
        ("CRM_TOKEN", "acrm_member-token-for-the-check"),
        ("CRM_READONLY_TOKEN", "acrm_readonly-token-for-the-check"),
        ("CRMDAV_SECRETS_KEY", key.as_str()),
    ];
    let out = std::process::Command::new(crate::support::gateway::bin())
        .args(["check", "--config", &cfg_path])
        .envs(env)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && !stdout.contains("WARNING"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("tenant firm (rest: amagi-crm)"), "{stdout}");
    for token in [env[1].1, env[2].1] {
        assert!(!stdout.contains(token), "check printed a token: {stdout}");
    }
    for coll in [
        "/dav/calendars/viewer/tasks/",
        "/dav/calendars/alice/meetings/",
        "/dav/addressbooks/viewer/contacts/",
    ] {
        assert!(stdout.contains(coll), "{coll}: {stdout}");
    }
    // Without the environment it names what is missing.
    let out = std::process::Command::new(crate::support::gateway::bin())
        .args(["check", "--config", &cfg_path])
        .envs(env[..3].iter().copied())
        .env_remove("CRMDAV_SECRETS_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr) + String::from_utf8_lossy(&out.stdout);
    assert!(err.contains("CRMDAV_SECRETS_KEY"), "{err}");
}

/// Every collection of every shipped CRM example tenant binds a CRM entity (otherwise it
/// would serve an empty local collection), and `crmdav check` prints no warning for them.
#[test]
fn every_example_crm_collection_binds_an_entity() {
    let root = env!("CARGO_MANIFEST_DIR");
    // (deploy/examples/amagi needs its environment: amagi_example_passes_crmdav_check_… above.)
    for cfg_path in [format!("{root}/deploy/examples/saas/crmdav.toml")] {
        let cfg = crmdav::crm::definitions::load_config(std::path::Path::new(&cfg_path)).unwrap();
        for t in &cfg.tenants {
            if matches!(t.connector, crmdav::config::ConnectorKind::Local) {
                continue;
            }
            assert!(!t.collections.is_empty(), "{}: no collections", t.name);
            for c in &t.collections {
                assert!(
                    c.entity.is_some(),
                    "{}: collection '{}' binds no entity",
                    t.path.display(),
                    c.id
                );
            }
        }
        assert!(crmdav::check::warnings(&cfg).is_empty());
        let out = std::process::Command::new(crate::support::gateway::bin())
            .args(["check", "--config", &cfg_path])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && !stdout.contains("WARNING"),
            "{stdout}"
        );
    }
}

/// `check` warns, naming the file, tenant and collection, when a CRM tenant serves a
/// collection with no entity.
#[test]
fn check_warns_about_a_crm_collection_without_entity() {
    let root = env!("CARGO_MANIFEST_DIR");
    let cfg_path = format!("{root}/deploy/examples/saas/crmdav.toml");
    let mut cfg = crmdav::crm::definitions::load_config(std::path::Path::new(&cfg_path)).unwrap();
    let t = cfg
        .tenants
        .iter_mut()
        .find(|t| t.name == "hubspot-example")
        .unwrap();
    t.collections[0].entity = None;
    let text = crmdav::check::describe(&cfg);
    let warning = text
        .lines()
        .find(|l| l.starts_with("WARNING:"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        warning.contains("hubspot.toml")
            && warning.contains("hubspot-example")
            && warning.contains("'meetings' binds no entity"),
        "{warning}"
    );
}
