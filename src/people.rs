//! `crmdav users`: who of a tenant's people is linked to a CRM user, by which source (the
//! tenant file's `crm_id`, `crmdav link`, or e-mail), and why the others are not (the same
//! linking the server does, with one read of the CRM's user list and of the stored links).

use crate::config::{ConnectorKind, ServerConfig};
use crate::connector::Connector;
use crate::crm::people::{link_people, stored_links, LinkReport, StoredLinks};
use crate::crm::Person;
use std::fmt::Write;

/// The tenant's people and their links, as text.
pub async fn users_report(cfg: &ServerConfig, tenant: &str) -> anyhow::Result<String> {
    let t = cfg
        .tenant(tenant)
        .ok_or_else(|| anyhow::anyhow!("no tenant named '{tenant}'"))?;
    let people: Vec<Person> = t
        .users
        .iter()
        .map(|u| Person {
            name: u.name.clone(),
            crm_id: u.crm_id.clone(),
            email: u.email.clone(),
            team_id: u.team_id.clone(),
        })
        .collect();
    let mut s = String::new();
    let listed = match &t.connector {
        ConnectorKind::Local => {
            let _ = writeln!(
                s,
                "tenant {tenant}: local connector; there are no CRM users to link"
            );
            None
        }
        ConnectorKind::Rest {
            definition,
            options,
        } => {
            let vars = crate::config::option_vars(options);
            let src = cfg
                .catalog
                .connector(definition)
                .map_err(|e| anyhow::anyhow!(e))?;
            let def = crate::connector::rest::def::ConnectorDef::from_toml_str(&src.text, &vars)
                .map_err(|e| anyhow::anyhow!("{}: {e}", src.origin))?;
            let c = crate::connector::RestConnector::new(def, None)?;
            if c.has_users_listing() {
                let r = c.list_users().await.map_err(|e| e.to_string());
                let _ = match &r {
                    Ok(u) => writeln!(
                        s,
                        "tenant {tenant}: {definition}, {} CRM user(s) listed ({} call(s))",
                        u.len(),
                        c.calls()
                    ),
                    Err(e) => writeln!(
                        s,
                        "tenant {tenant}: {definition}, the user list failed: {e}"
                    ),
                };
                Some(r)
            } else {
                let _ = writeln!(
                    s,
                    "tenant {tenant}: {definition} has no users listing; only crm_id in the tenant file links people"
                );
                None
            }
        }
    };
    let stored = match crate::store::Store::open_beside_server(&cfg.state).await {
        Ok(store) => stored_links(&store, tenant)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(format!(
            "cannot open state store {}: {e}",
            crate::store::redact_url(&cfg.state)
        )),
    };
    let stored = stored.unwrap_or_else(|e| {
        let _ = writeln!(
            s,
            "  the links stored with `crmdav link` were not read: {e}"
        );
        StoredLinks::new()
    });
    for (name, id) in &stored {
        if !people.iter().any(|p| &p.name == name) {
            let _ = writeln!(
                s,
                "  stored link of {name} to CRM user {id} names nobody in the tenant file (remove it with `crmdav unlink`)"
            );
        }
    }
    let reports = link_people(&people, listed.as_ref(), &stored);
    let width = reports
        .iter()
        .map(|r| r.person.name.len())
        .max()
        .unwrap_or(0);
    let linked = reports.iter().filter(|r| r.link.is_ok()).count();
    for LinkReport { person, link } in &reports {
        let _ = match link {
            Ok(l) => writeln!(s, "  {:width$}  linked      {l}", person.name),
            Err(why) => writeln!(s, "  {:width$}  NOT LINKED  {why}", person.name),
        };
    }
    let _ = writeln!(
        s,
        "{linked} of {} linked; an unlinked person's `mine` collections are served empty",
        reports.len()
    );
    Ok(s)
}
