//! `crmdav check`: what a config would serve, and a probe of a tenant's CRM.

use crate::config::{CollectionKindConfig, ConnectorKind, ServerConfig};
use std::fmt::Write;

/// A readable summary of a loaded configuration.
pub fn describe(cfg: &ServerConfig) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "config {}: OK", cfg.path.display());
    let _ = writeln!(s, "listen    {}", cfg.listen);
    let _ = writeln!(s, "state     {}", crate::store::redact_url(&cfg.state));
    if let Some(t) = &cfg.tls {
        let _ = writeln!(
            s,
            "tls       {} + {} (checked every {} s){}",
            t.cert_file.display(),
            t.key_file.display(),
            t.reload_secs,
            t.redirect_http_listen
                .as_ref()
                .map(|r| format!("; http on {r} redirects"))
                .unwrap_or_default()
        );
    }
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
        if matches!(t.connector, ConnectorKind::Rest { .. }) {
            let _ = writeln!(
                s,
                "  sync: refresh_ttl_secs {}, full_scan_secs {}",
                t.sync.refresh_ttl_secs, t.sync.full_scan_secs
            );
        }
        for u in &t.users {
            let how = if u.password_hash.is_some() {
                ""
            } else {
                " (app passwords only)"
            };
            let _ = writeln!(s, "  user {}{how}", u.name);
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
                    "    /dav/{home}/{}/{}/  {what} \"{}\"{}{}",
                    u.name,
                    c.id,
                    c.display_name,
                    c.seed_demo
                        .map(|d| format!(" (demo data: {d:?})"))
                        .unwrap_or_default(),
                    c.entity
                        .as_ref()
                        .map(|e| format!(
                            " ← CRM entity {e} (mapping {}){}{}",
                            c.mapping_name().unwrap_or(e),
                            match c.scope {
                                crate::config::ScopeConfig::All => String::new(),
                                s => format!(", scope {}", s.as_str()),
                            },
                            c.window
                                .map(|w| format!(", window -{}d/+{}d", w.past_days, w.future_days))
                                .unwrap_or_default()
                        ))
                        .unwrap_or_default()
                );
            }
        }
    }
    for w in warnings(cfg) {
        let _ = writeln!(s, "WARNING: {w}");
    }
    s
}

/// What a config allows but is probably a mistake: a collection of a CRM tenant that binds no
/// entity is a plain local collection, so its users would see an empty calendar or address
/// book instead of the CRM's records.
pub fn warnings(cfg: &ServerConfig) -> Vec<String> {
    let mut out = Vec::new();
    for t in &cfg.tenants {
        let ConnectorKind::Rest { definition, .. } = &t.connector else {
            continue;
        };
        for c in t.collections.iter().filter(|c| c.entity.is_none()) {
            out.push(format!(
                "{}: tenant {} has the CRM connector '{definition}' but collection '{}' binds no entity, so it serves local data only (add entity = \"<entity>\" from connectors/{definition}.toml)",
                t.path.display(),
                t.name,
                c.id
            ));
        }
    }
    out
}

/// A CRM error in plain words.
fn plain(e: &crate::connector::ConnectorError, base_url: &str) -> String {
    use crate::connector::ConnectorError as E;
    match e {
        E::Auth { message } => format!("the CRM refused the credentials ({message}); check the token or client secret in the tenant's connector options"),
        E::Forbidden { message } => format!("the CRM accepted the credentials but forbids reading this ({message}); the user behind them needs more rights"),
        E::Unavailable { message, .. } => format!("cannot reach the CRM at {base_url}: {message}"),
        E::RateLimited { .. } => "the CRM's rate limit was hit; try again later".to_string(),
        E::NotFound { message } => format!("the CRM has no such endpoint ({message}); check base_url ({base_url}) and the connector definition"),
        E::NotSupported { message } => format!("the CRM does not support this ({message})"),
        E::Protocol { message } => format!("the CRM answered something unexpected ({message}); check base_url ({base_url}) and the definition's records_path/id_field"),
        other => other.to_string(),
    }
}

/// JSON paths a mapping file reads (`path`, `parts`, `{field}` in templates), by property.
fn mapping_paths(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let Ok(v) = text.parse::<toml::Table>() else {
        return out;
    };
    let Some(toml::Value::Array(fields)) = v.get("field") else {
        return out;
    };
    for f in fields {
        let prop = f
            .get("property")
            .and_then(|p| p.as_str())
            .unwrap_or("?")
            .to_string();
        if f.get("access").and_then(|a| a.as_str()) == Some("write_only") {
            continue;
        }
        if let Some(p) = f.get("path").and_then(|p| p.as_str()) {
            out.push((prop.clone(), p.to_string()));
        }
        if let Some(parts) = f.get("parts").and_then(|p| p.as_array()) {
            for p in parts
                .iter()
                .filter_map(|p| p.as_str())
                .filter(|p| !p.is_empty())
            {
                out.push((prop.clone(), p.to_string()));
            }
        }
    }
    out
}

/// Connect to a tenant's CRM, list one page of each declared entity, render a few records
/// through their mappings and say plainly what is wrong.
pub async fn probe_tenant(cfg: &ServerConfig, tenant: &str) -> anyhow::Result<String> {
    use crate::connector::Connector;
    let t = cfg
        .tenant(tenant)
        .ok_or_else(|| anyhow::anyhow!("no tenant named '{tenant}'"))?;
    let (definition, options) = match &t.connector {
        ConnectorKind::Local => {
            return Ok(format!(
                "tenant {tenant}: local connector, records live in {}; nothing upstream to check\n",
                crate::store::redact_url(&cfg.state)
            ))
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
    let base_url = def.base_url.clone();
    let c = crate::connector::RestConnector::new(def, None)?;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "tenant {tenant}: {definition} at {base_url} ({})",
        src.origin
    );
    let mut problems = Vec::new();
    let mut done = std::collections::HashSet::new();
    for coll in &t.collections {
        let Some(entity) = &coll.entity else { continue };
        let mname = coll.mapping_name().unwrap_or(entity).to_string();
        if !done.insert((entity.clone(), mname.clone())) {
            continue;
        }
        let caps = c.capabilities(entity);
        let page = match c.list(entity, None, None).await {
            Ok(p) => p,
            Err(e) => {
                let m = plain(&e, &base_url);
                let _ = writeln!(s, "  {entity}: FAILED: {m}");
                problems.push(format!("{entity}: {m}"));
                continue;
            }
        };
        let _ = writeln!(
            s,
            "  {entity}: {} record(s) on the first page{}; modified-since filter: {}, single GET: {}, delete: {:?}",
            page.records.len(),
            if page.next.is_some() { " (more pages)" } else { "" },
            if caps.modified_since { "yes" } else { "no (full scans, own hashing)" },
            if caps.get { "yes" } else { "no" },
            caps.delete
        );
        let msrc = cfg
            .catalog
            .mapping(definition, &mname)
            .map_err(|e| anyhow::anyhow!(e))?;
        let b = crate::crm::Binding::new(definition, entity, &msrc.text, &vars)
            .map_err(|e| anyhow::anyhow!("{}: {e}", msrc.origin))?;
        for r in page.records.iter().take(3) {
            let body = b.mapping.to_component(r);
            let first = body
                .lines()
                .find(|l| l.starts_with("SUMMARY:") || l.starts_with("FN:"))
                .unwrap_or("")
                .to_string();
            let _ = writeln!(
                s,
                "    id {} → {} ({} bytes) {first}",
                r.id,
                b.mapping.uid_for(r),
                body.len()
            );
        }
        if !page.records.is_empty() {
            let rendered: Vec<String> = page
                .records
                .iter()
                .map(|r| b.mapping.to_component(r))
                .collect();
            for (prop, path) in mapping_paths(&msrc.text) {
                let empty = |v: &serde_json::Value| b.mapping.is_empty_value(v);
                let m = match field_state(&page.records, &rendered, &prop, &path, &empty) {
                    FieldState::Absent => format!(
                        "mapping {definition}/{mname}: field '{path}' ({prop}) is absent from every listed {entity} record"
                    ),
                    FieldState::Unreadable(example) => format!(
                        "mapping {definition}/{mname}: field '{path}' ({prop}) is present but no listed {entity} record renders {prop} (e.g. {example}); check the field's type and format"
                    ),
                    FieldState::Fine => continue,
                };
                let _ = writeln!(s, "    WARNING: {m}");
            }
        }
    }
    if done.is_empty() {
        let _ = writeln!(s, "  no collection of this tenant declares an entity");
    }
    if problems.is_empty() {
        let _ = writeln!(s, "tenant {tenant}: OK");
        Ok(s)
    } else {
        print!("{s}");
        Err(anyhow::anyhow!("{}", problems.join("; ")))
    }
}

/// What the listed records say about one mapped field.
enum FieldState {
    /// No record has the field (for `a[].b` paths: no record has the array `a`).
    Absent,
    /// Records carry a value but none renders the property: the value is unreadable (a date
    /// in an unknown format, say); holds an example value.
    Unreadable(String),
    Fine,
}

fn field_state(
    records: &[crate::record::Record],
    rendered: &[String],
    prop: &str,
    path: &str,
    is_empty: &dyn Fn(&serde_json::Value) -> bool,
) -> FieldState {
    use crate::connector::rest::jsonpath;
    let Ok(segs) = jsonpath::parse(path) else {
        return FieldState::Fine;
    };
    // Where the path walks an array (`tags[].name`), the array itself is what must be there.
    let head = segs
        .iter()
        .position(|s| *s == jsonpath::Seg::Each)
        .map_or(&segs[..], |i| &segs[..i]);
    if !records
        .iter()
        .any(|r| jsonpath::get_segs(&r.data, head).is_some())
    {
        return FieldState::Absent;
    }
    let mut example = None;
    for (r, body) in records.iter().zip(rendered) {
        let values = jsonpath::get_all(&r.data, &segs);
        let Some(v) = values.iter().find(|v| match v {
            // The mapping's `[values] empty` (Odoo's `false`) is no value.
            v if is_empty(v) => false,
            serde_json::Value::String(s) => !s.trim().is_empty(),
            serde_json::Value::Array(a) => !a.is_empty(),
            serde_json::Value::Object(o) => !o.is_empty(),
            _ => true,
        }) else {
            continue;
        };
        let renders = body.lines().any(|l| {
            l.get(..prop.len())
                .is_some_and(|n| n.eq_ignore_ascii_case(prop))
                && matches!(l.as_bytes().get(prop.len()), Some(b':' | b';'))
        });
        if renders {
            return FieldState::Fine;
        }
        example.get_or_insert_with(|| v.to_string());
    }
    match example {
        Some(e) => FieldState::Unreadable(e),
        None => FieldState::Fine,
    }
}

#[cfg(test)]
mod field_state_tests {
    use super::*;
    use serde_json::json;

    fn rec(data: serde_json::Value) -> crate::record::Record {
        crate::record::Record {
            id: "1".into(),
            data,
            modified: None,
            version: None,
        }
    }

    #[test]
    fn array_paths_and_unreadable_values() {
        let recs = [rec(
            json!({"tags": [{"name": "vip"}], "start": "02/03/2026 9:00"}),
        )];
        let body = ["BEGIN:VEVENT\r\nCATEGORIES:vip\r\nEND:VEVENT\r\n".to_string()];
        // `tags[].name` is understood (no false "absent").
        assert!(matches!(
            field_state(&recs, &body, "CATEGORIES", "tags[].name", &|_| false),
            FieldState::Fine
        ));
        assert!(matches!(
            field_state(&recs, &body, "CATEGORIES", "labels[].name", &|_| false),
            FieldState::Absent
        ));
        // Present, but no record renders DTSTART: the format is unreadable.
        match field_state(&recs, &body, "DTSTART", "start", &|_| false) {
            FieldState::Unreadable(e) => assert!(e.contains("02/03/2026"), "{e}"),
            _ => panic!("expected unreadable"),
        }
        // Empty values are not evidence.
        let empty = [rec(json!({"tags": [], "start": ""}))];
        assert!(matches!(
            field_state(&empty, &body, "DTSTART", "start", &|_| false),
            FieldState::Fine
        ));
    }
}
