//! `crmdav check --tenant T --as U`: what person U would see. For each collection U is granted:
//! its scope and window, the CRM query the scope resolves to for U, and a live listing of that
//! query (every page, up to a bound) with the local filters applied, giving how many records U
//! would be served and a few of their summaries. U's link to a CRM user is resolved as the
//! server does (tenant file `crm_id`, then `crmdav link`, then e-mail against the CRM's user
//! list). Listings are shared like the server's (one per entity and query), and every CRM call
//! is counted and printed.

use crate::config::{CollectionKindConfig, ConnectorKind, ServerConfig};
use crate::connector::{Connector, ListQuery, RestConnector};
use crate::crm::people::{link_people, stored_links, StoredLinks};
use crate::crm::{Binding, Person, ScopeSpec};
use crate::record::Record;
use std::collections::HashMap;
use std::fmt::Write;

/// Most pages read for one listing: a bound on the calls one check makes.
const MAX_PAGES: usize = 50;
/// Summaries printed per collection.
const SHOWN: usize = 3;

/// One listing: every record of (entity, query), or why it stopped.
struct Listed {
    records: Vec<Record>,
    complete: bool,
    failed: Option<String>,
}

async fn list_all(c: &RestConnector, entity: &str, query: &ListQuery) -> Listed {
    let mut records = Vec::new();
    let mut page = None;
    for _ in 0..MAX_PAGES {
        match c.list_query(entity, None, page.take(), query).await {
            Ok(p) => {
                records.extend(p.records);
                match p.next {
                    Some(n) => page = Some(n),
                    None => {
                        return Listed {
                            records,
                            complete: true,
                            failed: None,
                        }
                    }
                }
            }
            Err(e) => {
                return Listed {
                    records,
                    complete: false,
                    failed: Some(e.to_string()),
                }
            }
        }
    }
    Listed {
        records,
        complete: false,
        failed: None,
    }
}

fn query_text(q: &ListQuery) -> String {
    if q.is_empty() {
        return "(no filter: every record of the entity)".into();
    }
    q.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The report `crmdav check --config F --tenant T --as U` prints.
pub async fn probe_as(cfg: &ServerConfig, tenant: &str, user: &str) -> anyhow::Result<String> {
    let t = cfg
        .tenant(tenant)
        .ok_or_else(|| anyhow::anyhow!("no tenant named '{tenant}'"))?;
    let u = t
        .user(user)
        .ok_or_else(|| anyhow::anyhow!("tenant {tenant} has no user named '{user}'"))?;
    let granted: Vec<_> = t
        .collections
        .iter()
        .filter(|c| c.users.iter().any(|n| n == user))
        .collect();
    let mut s = String::new();
    let (definition, options) = match &t.connector {
        ConnectorKind::Local => {
            let _ = writeln!(
                s,
                "{user}@{tenant}: local connector; {} collection(s), records in the state store:",
                granted.len()
            );
            for c in &granted {
                let _ = writeln!(s, "  {} ({})", c.id, c.display_name);
            }
            return Ok(s);
        }
        ConnectorKind::Rest {
            definition,
            options,
        } => (definition, options),
    };
    let vars = crate::config::option_vars(options);
    let src = cfg
        .catalog
        .connector(definition)
        .map_err(|e| anyhow::anyhow!(e))?;
    let def = crate::connector::rest::def::ConnectorDef::from_toml_str(&src.text, &vars)
        .map_err(|e| anyhow::anyhow!("{}: {e}", src.origin))?;
    let entities = def.entities.clone();
    // Records are listed as the server lists them for this person: with their own CRM token
    // when the tenant file gives one (the CRM then decides what they see), else with the
    // tenant's credential. People are linked with the tenant's credential either way.
    let own = match &u.crm_token {
        Some(token) => {
            let d = crate::crm::credentials::personal_token_def(&def, &token.0)
                .map_err(|e| anyhow::anyhow!("{user}'s crm_token: {e}"))?;
            Some(RestConnector::new(d, None)?)
        }
        None => None,
    };
    let c = RestConnector::new(def, None)?;
    let lister = own.as_ref().unwrap_or(&c);

    // The link, as the server makes it.
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
    let configured = Person {
        name: u.name.clone(),
        crm_id: u.crm_id.clone(),
        email: u.email.clone(),
        team_id: u.team_id.clone(),
    };
    let users = if c.has_users_listing() {
        Some(c.list_users().await.map_err(|e| e.to_string()))
    } else {
        None
    };
    let report = link_people(std::slice::from_ref(&configured), users.as_ref(), &stored)
        .pop()
        .ok_or_else(|| anyhow::anyhow!("linking returned nobody"))?;
    let person = report.person;
    let _ = writeln!(
        s,
        "{user}@{tenant} on {definition}: {}",
        match &report.link {
            Ok(l) => format!("linked to {l}"),
            Err(why) => format!("NOT LINKED: {why}"),
        }
    );
    let _ = writeln!(
        s,
        "  records listed with {}",
        if own.is_some() {
            "their own CRM token (crm_token)"
        } else {
            "the tenant's CRM credential (a CRM account connected on the sign-in page is not used here)"
        }
    );
    if granted.is_empty() {
        let _ = writeln!(s, "  no collection is granted to {user}");
    }

    let mut listings: HashMap<(String, ListQuery), Listed> = HashMap::new();
    let now = chrono::Utc::now();
    for coll in granted {
        let kind = match coll.kind {
            CollectionKindConfig::Calendar => "calendar",
            CollectionKindConfig::Addressbook => "address book",
        };
        let Some(entity) = &coll.entity else {
            let _ = writeln!(s, "  {} ({kind}): local, no CRM entity", coll.id);
            continue;
        };
        let window = coll.window.map_or(String::new(), |w| {
            format!(
                ", window {} days back, {} ahead",
                w.past_days, w.future_days
            )
        });
        let _ = writeln!(
            s,
            "  {} ({kind}): entity {entity}, scope {}{window}",
            coll.id,
            coll.scope.as_str()
        );
        let mname = coll.mapping_name().unwrap_or(entity);
        let msrc = cfg
            .catalog
            .mapping(definition, mname)
            .map_err(|e| anyhow::anyhow!(e))?;
        let b = Binding::new(definition, entity, &msrc.text, &vars)
            .map_err(|e| anyhow::anyhow!("{}: {e}", msrc.origin))?;
        let edef = entities.get(entity);
        let spec = ScopeSpec {
            scope: coll.scope,
            def: edef.and_then(|e| e.scopes.get(coll.scope.as_str()).cloned()),
            window: coll.window,
            window_def: edef.and_then(|e| e.window.clone()),
        };
        let resolved = match spec.resolve(&person, now) {
            Ok(r) => r,
            Err(e) => {
                let _ = writeln!(s, "    not resolved: {e}; served empty, no CRM call");
                continue;
            }
        };
        let _ = writeln!(s, "    CRM query: {}", query_text(&resolved.query));
        if !resolved.predicates.is_empty() {
            let _ = writeln!(
                s,
                "    {} local filter(s) on each record (the CRM cannot filter this)",
                resolved.predicates.len()
            );
        }
        let key = (entity.clone(), resolved.query.clone());
        let shared = listings.contains_key(&key);
        if !shared {
            let l = list_all(lister, entity, &resolved.query).await;
            listings.insert(key.clone(), l);
        }
        let Some(l) = listings.get(&key) else {
            continue;
        };
        if let Some(e) = &l.failed {
            let _ = writeln!(s, "    listing FAILED: {e}");
            continue;
        }
        let allowed: Vec<crate::vocab::ComponentKind> = coll
            .components
            .iter()
            .filter_map(|c| crate::vocab::ComponentKind::parse_calendar(c))
            .collect();
        let mut shown = Vec::new();
        let mut count = 0usize;
        for r in l.records.iter().filter(|r| resolved.admits(&r.data)) {
            let body = b.mapping.to_component(r);
            if resolved.window.is_some() && coll.kind == CollectionKindConfig::Calendar {
                let inside = crate::caldav::inspect(&body, &allowed, cfg.limits.max_instances)
                    .is_ok_and(|i| resolved.in_window(i.first_start, i.last_end));
                if !inside {
                    continue;
                }
            }
            count += 1;
            if shown.len() < SHOWN {
                let line = body
                    .lines()
                    .find(|l| l.starts_with("SUMMARY:") || l.starts_with("FN:"))
                    .unwrap_or("")
                    .to_string();
                shown.push(format!("id {} {line}", r.id));
            }
        }
        let _ = writeln!(
            s,
            "    {count} record(s) for {user} of {} listed{}{}",
            l.records.len(),
            if l.complete {
                String::new()
            } else {
                format!(" (stopped after {MAX_PAGES} pages)")
            },
            if shared {
                " (listing shared with a collection above)"
            } else {
                ""
            }
        );
        for line in shown {
            let _ = writeln!(s, "      {line}");
        }
    }
    let _ = writeln!(
        s,
        "CRM calls: {}",
        c.calls() + own.as_ref().map_or(0, |o| o.calls())
    );
    Ok(s)
}
