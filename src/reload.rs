//! Reloading tenant files while serving: on SIGHUP the tenants folder is read again and
//! tenants are added, changed or removed without a restart and without failing a request.
//!
//! Each file stands on its own: a file that no longer loads (or whose CRM bindings no longer
//! build) keeps its tenant's previous configuration, and the log names the file, the key and
//! what is wrong. The new tenant set is swapped in whole (`AppState::live`, the collections'
//! CRM registry), so a request sees either the old set or the new one. The state store is not
//! touched: a removed tenant's data stays, unreachable, and comes back with its file. The
//! server file itself (listen address, state, limits) is read only at start.

use crate::app::AppState;
use crate::config::{ServerConfig, TenantConfig};
use crate::crm::{CrmRegistry, CrmTenant};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What a reload changed, and what it refused.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Tenants that are new.
    pub added: Vec<String>,
    /// Tenants whose file changed.
    pub changed: Vec<String>,
    /// Tenants whose file is gone.
    pub removed: Vec<String>,
    /// Files not taken, each with the reason (`file: key: message`).
    pub refused: Vec<String>,
}

/// Reload tenant files on every SIGHUP, for as long as the process runs.
pub fn on_hangup(state: Arc<AppState>) {
    tokio::spawn(async move {
        let mut hup = crate::signals::Hangups::new();
        loop {
            hup.recv().await;
            tracing::info!("SIGHUP: reloading tenant files");
            reload(&state).await;
        }
    });
}

/// Read the tenant files again and put what loads into force; log the outcome.
pub async fn reload(state: &Arc<AppState>) -> Outcome {
    let current = state.config();
    let cfg = current.clone();
    let files = tokio::task::spawn_blocking(move || {
        crate::config::load_tenants_with(&cfg, &crate::crm::definitions::CrmDefinitions)
    })
    .await;
    let files = match files {
        Ok(Ok(f)) => f,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "tenant files not reloaded; the previous tenants stay");
            return Outcome {
                refused: vec![e.to_string()],
                ..Outcome::default()
            };
        }
        Err(e) => {
            tracing::error!(error = %e, "tenant reload failed; the previous tenants stay");
            return Outcome::default();
        }
    };
    let (mut next, mut outcome) = merge(&current, files);
    let crm = rebuild_crm(state, &current, &mut next, &mut outcome);
    // The registry first: a request that already sees a new tenant finds its bindings.
    state.collections.replace_crm(crm);
    let touched: Vec<String> = outcome
        .changed
        .iter()
        .chain(&outcome.removed)
        .cloned()
        .collect();
    state.live.store(Arc::new(next));
    // Users of a changed tenant get its (new) declared collections on their next request.
    state.ensured.forget_tenants(&touched).await;
    for r in &outcome.refused {
        tracing::warn!(error = %r, "tenant file not reloaded; that tenant keeps its previous configuration");
    }
    tracing::info!(
        added = ?outcome.added,
        changed = ?outcome.changed,
        removed = ?outcome.removed,
        refused = outcome.refused.len(),
        "tenant files reloaded"
    );
    outcome
}

/// The next configuration from the files as read: valid files replace their tenant, an
/// invalid file keeps the tenant it held before (found by path), a missing file removes its
/// tenant, except the default tenant, which stays while `default_tenant` names it.
pub fn merge(current: &ServerConfig, files: crate::config::TenantFiles) -> (ServerConfig, Outcome) {
    let mut outcome = Outcome::default();
    let mut tenants: Vec<TenantConfig> = Vec::new();
    let by_path = |p: &PathBuf| current.tenants.iter().find(|t| &t.path == p);
    for (path, loaded) in files {
        let candidate = match loaded {
            Ok(t) => t,
            Err(e) => {
                outcome.refused.push(e.to_string());
                if let Some(old) = by_path(&path) {
                    tenants.push(old.clone());
                }
                continue;
            }
        };
        if tenants.iter().any(|t| t.name == candidate.name) {
            outcome.refused.push(format!(
                "{}: name: tenant '{}' is defined twice",
                path.display(),
                candidate.name
            ));
            if let Some(old) = by_path(&path).filter(|o| o.name != candidate.name) {
                tenants.push(old.clone());
            }
            continue;
        }
        tenants.push(candidate);
    }
    if let Some(d) = &current.default_tenant {
        if !tenants.iter().any(|t| &t.name == d) {
            if let Some(old) = current.tenant(d) {
                outcome.refused.push(format!(
                    "{}: -: tenant '{d}' is the server file's default_tenant and stays until the server file changes",
                    old.path.display()
                ));
                tenants.push(old.clone());
            }
        }
    }
    tenants.sort_by(|a, b| a.path.cmp(&b.path));
    for t in &tenants {
        match current.tenant(&t.name) {
            None => outcome.added.push(t.name.clone()),
            Some(old) if old != t => outcome.changed.push(t.name.clone()),
            Some(_) => {}
        }
    }
    for t in &current.tenants {
        if !tenants.iter().any(|n| n.name == t.name) {
            outcome.removed.push(t.name.clone());
        }
    }
    let mut next = current.clone();
    next.tenants = tenants;
    (next, outcome)
}

/// The CRM registry for `next`: unchanged tenants keep their connector (its tokens, counters
/// and refresh state); new and changed ones get theirs built. A tenant whose bindings do not
/// build keeps its previous configuration and connector (or, when new, is left out).
fn rebuild_crm(
    state: &AppState,
    current: &ServerConfig,
    next: &mut ServerConfig,
    outcome: &mut Outcome,
) -> CrmRegistry {
    let old = state.collections.crm();
    let mut tenants: HashMap<String, Arc<CrmTenant>> = HashMap::new();
    let mut keep_old = Vec::new();
    let sealer = CrmRegistry::sealer(next);
    for t in &next.tenants {
        let unchanged = current.tenant(&t.name) == Some(t);
        if unchanged {
            if let Some(c) = old.tenant(&t.name) {
                tenants.insert(t.name.clone(), c.clone());
            }
            continue;
        }
        match CrmRegistry::build_tenant(next, t, &state.store, &sealer) {
            Ok(Some(c)) => {
                tenants.insert(t.name.clone(), Arc::new(c));
            }
            Ok(None) => {}
            Err(e) => {
                outcome.refused.push(e.to_string());
                keep_old.push(t.name.clone());
            }
        }
    }
    for name in keep_old {
        outcome.added.retain(|n| n != &name);
        outcome.changed.retain(|n| n != &name);
        next.tenants.retain(|t| t.name != name);
        if let Some(previous) = current.tenant(&name) {
            next.tenants.push(previous.clone());
            if let Some(c) = old.tenant(&name) {
                tenants.insert(name, c.clone());
            }
        }
    }
    next.tenants.sort_by(|a, b| a.path.cmp(&b.path));
    old.succeeded_by(tenants)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ConfigError, ConnectorKind, SyncOptions};

    fn tenant(name: &str, file: &str) -> TenantConfig {
        TenantConfig {
            path: PathBuf::from(file),
            name: name.into(),
            hosts: vec![],
            connector: ConnectorKind::Local,
            users: vec![],
            collections: vec![],
            sync: SyncOptions::default(),
            oidc: None,
        }
    }

    fn config(tenants: Vec<TenantConfig>, default: Option<&str>) -> ServerConfig {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tenants")).unwrap();
        std::fs::write(dir.path().join("tenants/x.toml"), "name = \"x\"\n").unwrap();
        std::fs::write(dir.path().join("s.toml"), "state = \"sqlite://:memory:\"\n").unwrap();
        let mut c = crate::crm::definitions::load_config(&dir.path().join("s.toml")).unwrap();
        c.tenants = tenants;
        c.default_tenant = default.map(String::from);
        c
    }

    fn broken(file: &str) -> ConfigError {
        ConfigError {
            file: file.into(),
            key: "users[0].password_hash".into(),
            message: "not a PHC-format password hash".into(),
        }
    }

    #[test]
    fn an_invalid_file_keeps_its_tenant_and_names_file_and_key() {
        let cur = config(vec![tenant("a", "t/a.toml"), tenant("b", "t/b.toml")], None);
        let mut b2 = tenant("b", "t/b.toml");
        b2.hosts = vec!["b.example".into()];
        let (next, out) = merge(
            &cur,
            vec![
                (PathBuf::from("t/a.toml"), Err(broken("t/a.toml"))),
                (PathBuf::from("t/b.toml"), Ok(b2.clone())),
                (PathBuf::from("t/c.toml"), Ok(tenant("c", "t/c.toml"))),
                (PathBuf::from("t/d.toml"), Err(broken("t/d.toml"))),
            ],
        );
        let names: Vec<_> = next.tenants.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(next.tenant("b"), Some(&b2));
        assert_eq!(out.added, ["c"]);
        assert_eq!(out.changed, ["b"]);
        assert!(out.removed.is_empty());
        assert_eq!(
            out.refused,
            [
                "t/a.toml: users[0].password_hash: not a PHC-format password hash",
                "t/d.toml: users[0].password_hash: not a PHC-format password hash"
            ]
        );
    }

    #[test]
    fn a_removed_file_removes_its_tenant_but_not_the_default_one() {
        let cur = config(
            vec![tenant("a", "t/a.toml"), tenant("b", "t/b.toml")],
            Some("a"),
        );
        let (next, out) = merge(&cur, vec![]);
        assert_eq!(next.tenants.len(), 1);
        assert_eq!(next.tenants[0].name, "a");
        assert_eq!(out.removed, ["b"]);
        assert_eq!(out.refused.len(), 1);
        assert!(
            out.refused[0].contains("default_tenant"),
            "{:?}",
            out.refused
        );
    }

    #[test]
    fn a_second_file_with_a_taken_name_is_refused() {
        let cur = config(vec![tenant("a", "t/a.toml")], None);
        let (next, out) = merge(
            &cur,
            vec![
                (PathBuf::from("t/a.toml"), Ok(tenant("a", "t/a.toml"))),
                (PathBuf::from("t/z.toml"), Ok(tenant("a", "t/z.toml"))),
            ],
        );
        assert_eq!(next.tenants.len(), 1);
        assert_eq!(next.tenants[0].path, PathBuf::from("t/a.toml"));
        assert!(
            out.refused[0].starts_with("t/z.toml: name:"),
            "{:?}",
            out.refused
        );
    }

    const HASH: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A";

    fn crm_tenant(collections: &str) -> String {
        format!(
            "name = \"crm\"\n[connector]\nkind = \"amagi-crm\"\noptions = {{ base_url = \"http://127.0.0.1:9/api\", token = \"t\", timezone = \"UTC\" }}\n[[users]]\nname = \"sam\"\npassword_hash = \"{HASH}\"\n{collections}"
        )
    }

    const MEETINGS: &str = "[[collections]]\nid = \"meetings\"\nkind = \"calendar\"\nentity = \"appointments\"\nusers = [\"sam\"]\n";
    const CONTACTS: &str = "[[collections]]\nid = \"people\"\nkind = \"addressbook\"\nentity = \"contacts\"\nusers = [\"sam\"]\n";

    /// A changed CRM tenant gets its bindings rebuilt; an unchanged one keeps its connector
    /// (the same `CrmTenant`, with its tokens and counters).
    #[tokio::test]
    async fn a_changed_crm_tenant_is_rebound_and_an_unchanged_one_kept() {
        use crate::tree::{CollectionPath, HomeKind};
        let dir = tempfile::tempdir().unwrap();
        let tenants = dir.path().join("tenants");
        std::fs::create_dir(&tenants).unwrap();
        std::fs::write(tenants.join("crm.toml"), crm_tenant(MEETINGS)).unwrap();
        std::fs::write(
            tenants.join("local.toml"),
            format!("name = \"local\"\n[[users]]\nname = \"u\"\npassword_hash = \"{HASH}\"\n"),
        )
        .unwrap();
        std::fs::write(dir.path().join("s.toml"), "state = \"sqlite://:memory:\"\n").unwrap();
        let cfg = crate::crm::definitions::load_config(&dir.path().join("s.toml")).unwrap();
        let state = crate::app::build_state(cfg).await.unwrap();
        let people = CollectionPath::home(HomeKind::Addressbooks, "sam").child("people");
        let meetings = CollectionPath::home(HomeKind::Calendars, "sam").child("meetings");
        let before = state.collections.crm().tenant("crm").unwrap().clone();
        assert!(state.collections.crm().binding("crm", &people).is_none());

        // Unchanged files: nothing is rebuilt.
        let out = reload(&state).await;
        assert_eq!(out, Outcome::default());
        let same = state.collections.crm().tenant("crm").unwrap().clone();
        assert!(Arc::ptr_eq(&before, &same));

        // A new bound collection: the tenant is rebuilt with both bindings.
        std::fs::write(
            tenants.join("crm.toml"),
            crm_tenant(&format!("{MEETINGS}{CONTACTS}")),
        )
        .unwrap();
        let out = reload(&state).await;
        assert_eq!(out.changed, ["crm"]);
        let crm = state.collections.crm();
        assert!(crm.binding("crm", &people).is_some());
        assert!(crm.binding("crm", &meetings).is_some());
        assert!(!Arc::ptr_eq(&before, crm.tenant("crm").unwrap()));
        assert_eq!(state.config().tenant("crm").unwrap().collections.len(), 2);

        // An entity the connector lacks: refused, the tenant keeps both bindings.
        std::fs::write(
            tenants.join("crm.toml"),
            crm_tenant(&CONTACTS.replace("\"contacts\"", "\"nope\"")),
        )
        .unwrap();
        let out = reload(&state).await;
        assert!(out.changed.is_empty(), "{out:?}");
        assert!(out.refused[0].contains("collections[0].entity"), "{out:?}");
        assert!(state.collections.crm().binding("crm", &meetings).is_some());
    }
}
