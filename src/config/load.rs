use super::*;
use std::path::Path;

/// A configuration error, naming the file and key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {key}: {message}")]
pub struct ConfigError {
    /// File the error is in.
    pub file: String,
    /// Key path (dotted), or `-` for the whole file.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

pub(super) fn err(file: &Path, key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        file: file.display().to_string(),
        key: key.to_string(),
        message: message.into(),
    }
}

/// Replace `${VAR}` with the environment's value (`${VAR:-default}`: the default when it is
/// unset); an unset variable without a default is an error.
fn substitute_env(s: &str, file: &Path, key: &str) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| err(file, key, "unterminated ${...}"))?;
        // `${VAR:-default}`, as in connector and mapping files: the default when unset.
        let (var, default) = match after[..end].split_once(":-") {
            Some((v, d)) => (v, Some(d)),
            None => (&after[..end], None),
        };
        let val = match (std::env::var(var), default) {
            (Ok(v), _) => v,
            (Err(_), Some(d)) => d.to_string(),
            (Err(_), None) => {
                return Err(err(
                    file,
                    key,
                    format!("environment variable {var} is not set"),
                ))
            }
        };
        out.push_str(&val);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Walk a TOML value: substitute `${ENV}` in strings and resolve `*_file` keys.
fn resolve(value: &mut toml::Value, file: &Path, key: &str) -> Result<(), ConfigError> {
    match value {
        toml::Value::String(s) => *s = substitute_env(s, file, key)?,
        toml::Value::Array(a) => {
            for (i, v) in a.iter_mut().enumerate() {
                resolve(v, file, &format!("{key}[{i}]"))?;
            }
        }
        toml::Value::Table(t) => {
            let keys: Vec<String> = t.keys().cloned().collect();
            for k in keys {
                let sub = if key.is_empty() {
                    k.clone()
                } else {
                    format!("{key}.{k}")
                };
                if let Some(v) = t.get_mut(&k) {
                    resolve(v, file, &sub)?;
                }
                // A path the server reads itself (TLS files, read again on renewal).
                if key.is_empty() && tls::PATH_KEYS.contains(&k.as_str()) {
                    continue;
                }
                if let Some(base) = k.strip_suffix("_file") {
                    let Some(toml::Value::String(p)) = t.get(&k) else {
                        return Err(err(file, &sub, "must be a file path"));
                    };
                    let p = relative_to(file, p);
                    let content = std::fs::read_to_string(&p).map_err(|e| {
                        err(file, &sub, format!("cannot read {}: {e}", p.display()))
                    })?;
                    if t.contains_key(base) {
                        return Err(err(file, &sub, format!("both {base} and {k} are set")));
                    }
                    t.remove(&k);
                    t.insert(
                        base.to_string(),
                        toml::Value::String(content.trim().to_string()),
                    );
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn relative_to(file: &Path, p: &str) -> std::path::PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        file.parent().unwrap_or(Path::new(".")).join(p)
    }
}

fn read_table(file: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| err(file, "-", e.to_string()))?;
    let mut value: toml::Value = toml::from_str(&text)
        .map_err(|e| err(file, "-", format!("not valid TOML: {}", e.message())))?;
    resolve(&mut value, file, "")?;
    match value {
        toml::Value::Table(t) => Ok(t),
        _ => Err(err(file, "-", "expected a table")),
    }
}

fn take_str(t: &mut toml::Table, file: &Path, key: &str) -> Result<Option<String>, ConfigError> {
    match t.remove(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(err(file, key, "must be a string")),
    }
}

fn take_str_at(
    t: &mut toml::Table,
    file: &Path,
    prefix: &str,
    key: &str,
) -> Result<Option<String>, ConfigError> {
    match t.remove(key) {
        None => Ok(None),
        Some(toml::Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(err(file, &format!("{prefix}.{key}"), "must be a string")),
    }
}

fn take_str_list_at(
    t: &mut toml::Table,
    file: &Path,
    prefix: &str,
    key: &str,
) -> Result<Vec<String>, ConfigError> {
    let mut one = toml::Table::new();
    if let Some(v) = t.remove(key) {
        one.insert(key.to_string(), v);
    }
    take_str_list(&mut one, file, key).map_err(|mut e| {
        e.key = format!("{prefix}.{}", e.key);
        e
    })
}

fn take_str_list(t: &mut toml::Table, file: &Path, key: &str) -> Result<Vec<String>, ConfigError> {
    match t.remove(key) {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(a)) => a
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                toml::Value::String(s) => Ok(s),
                _ => Err(err(file, &format!("{key}[{i}]"), "must be a string")),
            })
            .collect(),
        Some(_) => Err(err(file, key, "must be a list of strings")),
    }
}

fn no_unknown(t: &toml::Table, file: &Path, prefix: &str) -> Result<(), ConfigError> {
    if let Some(k) = t.keys().next() {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        return Err(err(file, &key, "unknown key"));
    }
    Ok(())
}

fn valid_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        && !s.starts_with('.')
}

/// Load the server file at `path` and every tenant file in its tenants folder.
pub fn load_with<D: DefinitionCheck>(path: &Path, defs: &D) -> Result<ServerConfig, ConfigError> {
    let mut t = read_table(path)?;
    let listen = take_str(&mut t, path, "listen")?.unwrap_or_else(|| "127.0.0.1:8080".into());
    if listen.parse::<std::net::SocketAddr>().is_err() && !listen.contains(':') {
        return Err(err(path, "listen", "expected host:port"));
    }
    let state = take_str(&mut t, path, "state")?
        .ok_or_else(|| err(path, "state", "missing (e.g. \"sqlite://data/crmdav.db\")"))?;
    let state = if let Some(rest) = state.strip_prefix("sqlite://") {
        if rest == ":memory:" || rest.starts_with('/') {
            state
        } else {
            format!("sqlite://{}", relative_to(path, rest).display())
        }
    } else if state.starts_with("postgres://") || state.starts_with("postgresql://") {
        state
    } else {
        return Err(err(
            path,
            "state",
            "expected sqlite://<file>, sqlite://:memory: or postgres://<user>@<host>/<database>",
        ));
    };
    let tenants_dir = take_str(&mut t, path, "tenants_dir")?.unwrap_or_else(|| "tenants".into());
    let catalog = Catalog {
        connectors_dir: take_str(&mut t, path, "connectors_dir")?.map(|d| relative_to(path, &d)),
        mappings_dir: take_str(&mut t, path, "mappings_dir")?.map(|d| relative_to(path, &d)),
    };
    for (key, d) in [
        ("connectors_dir", &catalog.connectors_dir),
        ("mappings_dir", &catalog.mappings_dir),
    ] {
        if let Some(d) = d {
            if !d.is_dir() {
                return Err(err(path, key, format!("{} is not a folder", d.display())));
            }
        }
    }
    let default_tenant = take_str(&mut t, path, "default_tenant")?;
    let realm = take_str(&mut t, path, "realm")?.unwrap_or_else(|| "crmdav".into());
    let tenant_from = match take_str(&mut t, path, "tenant_from")?.as_deref() {
        None | Some("user") => TenantFrom::User,
        Some("host") => TenantFrom::Host,
        Some(other) => {
            return Err(err(
                path,
                "tenant_from",
                format!("'{other}' is not one of \"user\", \"host\""),
            ))
        }
    };
    let limits = match t.remove("limits") {
        None => Limits::default(),
        Some(v) => v
            .try_into::<Limits>()
            .map_err(|e| err(path, "limits", e.message().to_string()))?,
    };
    if limits.max_resource_bytes > limits.max_body_bytes {
        return Err(err(
            path,
            "limits.max_resource_bytes",
            "must not exceed limits.max_body_bytes",
        ));
    }
    let secrets_key = take_str(&mut t, path, "secrets_key")?
        .map(|k| SecretsKey::parse(&k).map_err(|m| err(path, "secrets_key", m)))
        .transpose()?;
    let http: HttpOptions = section(&mut t, path, "http")?;
    let auth: AuthOptions = section(&mut t, path, "auth")?;
    let quota: Quota = section(&mut t, path, "quota")?;
    let tls = tls_options(&mut t, path)?;
    no_unknown(&t, path, "")?;

    let dir = relative_to(path, &tenants_dir);
    let files = tenant_files(path, &dir)?;
    let mut tenants = Vec::new();
    for f in files {
        let tenant = load_tenant(&f, &catalog, defs)?;
        if tenants.iter().any(|x: &TenantConfig| x.name == tenant.name) {
            return Err(err(
                &f,
                "name",
                format!("tenant '{}' is defined twice", tenant.name),
            ));
        }
        tenants.push(tenant);
    }
    if tenants.is_empty() {
        return Err(err(
            path,
            "tenants_dir",
            format!("no tenant files in {}", dir.display()),
        ));
    }
    if let Some(d) = &default_tenant {
        if !tenants.iter().any(|x| &x.name == d) {
            return Err(err(
                path,
                "default_tenant",
                format!("no tenant named '{d}'"),
            ));
        }
    }
    Ok(ServerConfig {
        path: path.to_path_buf(),
        listen,
        state,
        default_tenant,
        tenant_from,
        realm,
        limits,
        tenants,
        catalog,
        http,
        auth,
        secrets_key,
        quota,
        tls,
        tenants_dir: dir,
    })
}

/// The `*.toml` files directly in the tenants folder, sorted by name.
fn tenant_files(server_file: &Path, dir: &Path) -> Result<Vec<std::path::PathBuf>, ConfigError> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| {
            err(
                server_file,
                "tenants_dir",
                format!("cannot read {}: {e}", dir.display()),
            )
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    Ok(files)
}

/// Each tenant file of a folder with what loading it gave.
pub type TenantFiles = Vec<(std::path::PathBuf, Result<TenantConfig, ConfigError>)>;

/// Read every tenant file of `cfg`'s tenants folder again, each on its own: one file's error
/// does not stop the others (a reload keeps the previous config of a tenant whose file is
/// now invalid). Only an unreadable folder is an error.
pub fn load_tenants_with<D: DefinitionCheck>(
    cfg: &ServerConfig,
    defs: &D,
) -> Result<TenantFiles, ConfigError> {
    let files = tenant_files(&cfg.path, &cfg.tenants_dir)?;
    Ok(files
        .into_iter()
        .map(|f| {
            let t = load_tenant(&f, &cfg.catalog, defs);
            (f, t)
        })
        .collect())
}

/// The TLS keys of the server file: both files or neither; the reload interval and the
/// redirect listener only with them.
fn tls_options(t: &mut toml::Table, path: &Path) -> Result<Option<TlsOptions>, ConfigError> {
    let cert = take_str(t, path, "tls_cert_file")?;
    let key = take_str(t, path, "tls_key_file")?;
    let redirect = take_str(t, path, "redirect_http_listen")?;
    let reload = match t.remove("tls_reload_secs") {
        None => None,
        Some(toml::Value::Integer(n)) if n > 0 => Some(n as u64),
        Some(_) => {
            return Err(err(
                path,
                "tls_reload_secs",
                "must be a positive number of seconds",
            ))
        }
    };
    let (cert, key) = match (cert, key) {
        (Some(c), Some(k)) => (c, k),
        (None, None) => {
            for (k, set) in [
                ("redirect_http_listen", redirect.is_some()),
                ("tls_reload_secs", reload.is_some()),
            ] {
                if set {
                    return Err(err(path, k, "needs tls_cert_file and tls_key_file"));
                }
            }
            return Ok(None);
        }
        (Some(_), None) => return Err(err(path, "tls_key_file", "missing (tls_cert_file is set)")),
        (None, Some(_)) => return Err(err(path, "tls_cert_file", "missing (tls_key_file is set)")),
    };
    if let Some(r) = &redirect {
        if !r.contains(':') {
            return Err(err(path, "redirect_http_listen", "expected host:port"));
        }
    }
    Ok(Some(TlsOptions {
        cert_file: relative_to(path, &cert),
        key_file: relative_to(path, &key),
        reload_secs: reload.unwrap_or(tls::DEFAULT_RELOAD_SECS),
        redirect_http_listen: redirect,
    }))
}

/// An optional table of settings with defaults (`[http]`, `[auth]`).
fn section<T: serde::de::DeserializeOwned + Default>(
    t: &mut toml::Table,
    path: &Path,
    key: &str,
) -> Result<T, ConfigError> {
    match t.remove(key) {
        None => Ok(T::default()),
        Some(v) => v
            .try_into::<T>()
            .map_err(|e| err(path, key, e.message().to_string())),
    }
}

fn load_tenant<D: DefinitionCheck>(
    file: &Path,
    catalog: &Catalog,
    defs: &D,
) -> Result<TenantConfig, ConfigError> {
    let mut t = read_table(file)?;
    let name = take_str(&mut t, file, "name")?.ok_or_else(|| err(file, "name", "missing"))?;
    if !valid_segment(&name) {
        return Err(err(file, "name", "use letters, digits, '-', '_' or '.'"));
    }
    let hosts = take_str_list(&mut t, file, "hosts")?;
    let connector = match t.remove("connector") {
        None => ConnectorKind::Local,
        Some(toml::Value::String(s)) if s == "local" => ConnectorKind::Local,
        Some(toml::Value::Table(mut c)) => {
            let kind = take_str_at(&mut c, file, "connector", "kind")?
                .ok_or_else(|| err(file, "connector.kind", "missing"))?;
            if kind == "local" {
                no_unknown(&c, file, "connector")?;
                ConnectorKind::Local
            } else {
                let options = match c.remove("options") {
                    None => toml::Table::new(),
                    Some(toml::Value::Table(o)) => o,
                    Some(_) => return Err(err(file, "connector.options", "must be a table")),
                };
                no_unknown(&c, file, "connector")?;
                ConnectorKind::Rest {
                    definition: kind,
                    options,
                }
            }
        }
        Some(_) => {
            return Err(err(
                file,
                "connector",
                "must be \"local\" or a table with kind = \"<crm>\"",
            ))
        }
    };
    let mut users = Vec::new();
    if let Some(v) = t.remove("users") {
        let toml::Value::Array(list) = v else {
            return Err(err(file, "users", "must be an array of tables ([[users]])"));
        };
        for (i, u) in list.into_iter().enumerate() {
            let key = format!("users[{i}]");
            let toml::Value::Table(mut u) = u else {
                return Err(err(file, &key, "must be a table"));
            };
            let uname = take_str_at(&mut u, file, &key, "name")?
                .ok_or_else(|| err(file, &format!("{key}.name"), "missing"))?;
            if !valid_segment(&uname) {
                return Err(err(
                    file,
                    &format!("{key}.name"),
                    "use letters, digits, '-', '_' or '.'",
                ));
            }
            // Without a hash the person logs in only with app passwords.
            let hash = take_str_at(&mut u, file, &key, "password_hash")?;
            if hash
                .as_deref()
                .is_some_and(|h| argon2::PasswordHash::new(h).is_err())
            {
                return Err(err(
                    file,
                    &format!("{key}.password_hash"),
                    "not a PHC-format password hash (`crmdav hash-password` makes one)",
                ));
            }
            let display_name = take_str_at(&mut u, file, &key, "display_name")?;
            let email = take_str_at(&mut u, file, &key, "email")?;
            let crm_id = take_str_at(&mut u, file, &key, "crm_id")?;
            let team_id = take_str_at(&mut u, file, &key, "team_id")?;
            // The person's own CRM credential (`crm_token`, `crm_token_file` or `${VAR}`).
            let crm_token = take_str_at(&mut u, file, &key, "crm_token")?;
            if crm_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
                return Err(err(
                    file,
                    &format!("{key}.crm_token"),
                    "is empty (leave it out to use the tenant's credential)",
                ));
            }
            no_unknown(&u, file, &key)?;
            if users.iter().any(|x: &UserConfig| x.name == uname) {
                return Err(err(
                    file,
                    &format!("{key}.name"),
                    format!("user '{uname}' is defined twice"),
                ));
            }
            users.push(UserConfig {
                name: uname,
                password_hash: hash,
                display_name,
                email,
                crm_id,
                team_id,
                crm_token: crm_token.map(|t| super::CrmToken(t.trim().to_string())),
            });
        }
    }
    let mut collections = Vec::new();
    if let Some(v) = t.remove("collections") {
        let toml::Value::Array(list) = v else {
            return Err(err(
                file,
                "collections",
                "must be an array of tables ([[collections]])",
            ));
        };
        for (i, c) in list.into_iter().enumerate() {
            let key = format!("collections[{i}]");
            let toml::Value::Table(mut c) = c else {
                return Err(err(file, &key, "must be a table"));
            };
            let id = take_str_at(&mut c, file, &key, "id")?
                .ok_or_else(|| err(file, &format!("{key}.id"), "missing"))?;
            if !valid_segment(&id) {
                return Err(err(
                    file,
                    &format!("{key}.id"),
                    "use letters, digits, '-', '_' or '.'",
                ));
            }
            let kind: CollectionKindConfig = c
                .remove("kind")
                .ok_or_else(|| err(file, &format!("{key}.kind"), "missing"))?
                .try_into()
                .map_err(|_| {
                    err(
                        file,
                        &format!("{key}.kind"),
                        "must be \"calendar\" or \"addressbook\"",
                    )
                })?;
            let display_name =
                take_str_at(&mut c, file, &key, "display_name")?.unwrap_or_else(|| id.clone());
            let description = take_str_at(&mut c, file, &key, "description")?;
            let color = take_str_at(&mut c, file, &key, "color")?;
            let mut components = take_str_list_at(&mut c, file, &key, "components")?;
            for comp in &components {
                if !matches!(comp.as_str(), "VEVENT" | "VTODO" | "VJOURNAL") {
                    return Err(err(
                        file,
                        &format!("{key}.components"),
                        format!("unknown component '{comp}'"),
                    ));
                }
            }
            let defaulted = components.is_empty();
            if components.is_empty() && kind == CollectionKindConfig::Calendar {
                components = vec!["VEVENT".into(), "VTODO".into()];
            }
            let cusers = take_str_list_at(&mut c, file, &key, "users")?;
            for u in &cusers {
                if !users.iter().any(|x| &x.name == u) {
                    return Err(err(
                        file,
                        &format!("{key}.users"),
                        format!("no user named '{u}'"),
                    ));
                }
            }
            let seed_demo = match c.remove("seed_demo") {
                None => None,
                Some(v) => Some(v.try_into::<DemoSeed>().map_err(|_| {
                    err(
                        file,
                        &format!("{key}.seed_demo"),
                        "must be \"events\", \"tasks\" or \"contacts\"",
                    )
                })?),
            };
            let entity = take_str_at(&mut c, file, &key, "entity")?;
            let mapping = take_str_at(&mut c, file, &key, "mapping")?;
            let (scope, window) = super::scope::take_scope(&mut c, file, &key)?;
            no_unknown(&c, file, &key)?;
            let mut cc = CollectionConfig {
                id,
                kind,
                display_name,
                description,
                color,
                components,
                users: cusers,
                seed_demo,
                entity,
                mapping,
                scope,
                window,
            };
            check_crm_collection(file, &key, &connector, catalog, defs, &mut cc, defaulted)?;
            collections.push(cc);
        }
    }
    let sync = match t.remove("sync") {
        None => SyncOptions::default(),
        Some(v) => v
            .try_into::<SyncOptions>()
            .map_err(|e| err(file, "sync", e.message().to_string()))?,
    };
    if sync.refresh_ttl_secs > sync.full_scan_secs {
        return Err(err(
            file,
            "sync.full_scan_secs",
            "must not be shorter than sync.refresh_ttl_secs",
        ));
    }
    if let ConnectorKind::Rest {
        definition,
        options,
    } = &connector
    {
        let src = catalog
            .connector(definition)
            .map_err(|m| err(file, "connector.kind", m))?;
        defs.connector_entities(&src.text, &option_vars(options))
            .map_err(|m| err(file, "connector", format!("{}: {m}", src.origin)))?;
        if let Some(i) = users.iter().position(|u| u.crm_token.is_some()) {
            defs.personal_token(&src.text, &option_vars(options))
                .map_err(|m| err(file, &format!("users[{i}].crm_token"), m))?;
        }
    } else if let Some(i) = users.iter().position(|u| u.crm_token.is_some()) {
        return Err(err(
            file,
            &format!("users[{i}].crm_token"),
            "only a tenant with a CRM connector has CRM credentials",
        ));
    }
    let oidc = match t.remove("oidc") {
        None => None,
        Some(v) => {
            let mut o: OidcConfig = v
                .try_into()
                .map_err(|e| err(file, "oidc", e.message().to_string()))?;
            o.validate().map_err(|m| err(file, "oidc", m))?;
            Some(o)
        }
    };
    no_unknown(&t, file, "")?;
    Ok(TenantConfig {
        path: file.to_path_buf(),
        name,
        hosts,
        connector,
        users,
        collections,
        sync,
        oidc,
    })
}

/// A collection's `entity`/`mapping` must name a connector entity and a mapping of the
/// tenant's CRM whose component fits the collection.
fn check_crm_collection<D: DefinitionCheck>(
    file: &Path,
    key: &str,
    connector: &ConnectorKind,
    catalog: &Catalog,
    defs: &D,
    c: &mut CollectionConfig,
    defaulted_components: bool,
) -> Result<(), ConfigError> {
    let ConnectorKind::Rest {
        definition,
        options,
    } = connector
    else {
        if c.entity.is_some() || c.mapping.is_some() {
            let k = if c.entity.is_some() {
                "entity"
            } else {
                "mapping"
            };
            return Err(err(
                file,
                &format!("{key}.{k}"),
                "only a tenant with a CRM connector has entities",
            ));
        }
        return Ok(());
    };
    let Some(entity) = c.entity.clone() else {
        if c.mapping.is_some() {
            return Err(err(
                file,
                &format!("{key}.entity"),
                "missing (a mapping needs an entity)",
            ));
        }
        if c.scope != ScopeConfig::All || c.window.is_some() {
            return Err(err(
                file,
                &format!("{key}.entity"),
                "missing (a scope or a window needs a CRM entity)",
            ));
        }
        return Ok(());
    };
    if c.seed_demo.is_some() {
        return Err(err(
            file,
            &format!("{key}.seed_demo"),
            "a CRM collection cannot be seeded with demo data",
        ));
    }
    let vars = option_vars(options);
    let src = catalog
        .connector(definition)
        .map_err(|m| err(file, "connector.kind", m))?;
    let entities = defs
        .connector_entities(&src.text, &vars)
        .map_err(|m| err(file, "connector", format!("{}: {m}", src.origin)))?;
    if !entities.contains(&entity) {
        return Err(err(
            file,
            &format!("{key}.entity"),
            format!(
                "connector '{definition}' has no entity '{entity}' (it has: {})",
                entities.join(", ")
            ),
        ));
    }
    if c.scope != ScopeConfig::All {
        let scopes = defs
            .entity_scopes(&src.text, &vars, &entity)
            .map_err(|m| err(file, "connector", format!("{}: {m}", src.origin)))?;
        if !scopes.iter().any(|s| s == c.scope.as_str()) {
            return Err(err(
                file,
                &format!("{key}.scope"),
                format!(
                    "connector '{definition}' declares no '{}' scope for entity '{entity}' (entities.{entity}.scopes.{})",
                    c.scope.as_str(),
                    c.scope.as_str()
                ),
            ));
        }
    }
    if c.window.is_some() && c.kind != CollectionKindConfig::Calendar {
        return Err(err(
            file,
            &format!("{key}.window_past_days"),
            "only a calendar has a time window",
        ));
    }
    let mkey = if c.mapping.is_some() {
        format!("{key}.mapping")
    } else {
        format!("{key}.entity")
    };
    let name = c.mapping_name().unwrap_or(&entity).to_string();
    let name = name.as_str();
    let msrc = catalog
        .mapping(definition, name)
        .map_err(|m| err(file, &mkey, m))?;
    let comp = defs
        .mapping_component(&msrc.text, &vars, definition, &entity)
        .map_err(|m| err(file, &mkey, format!("{}: {m}", msrc.origin)))?;
    let made = comp.as_str();
    // A CRM calendar holds what its mapping makes, so phones offer only that.
    if defaulted_components && c.kind == CollectionKindConfig::Calendar && comp.is_calendar() {
        c.components = vec![made.into()];
    }
    match (c.kind, made) {
        (CollectionKindConfig::Addressbook, "VCARD") => {}
        (CollectionKindConfig::Calendar, "VEVENT" | "VTODO")
            if c.components.iter().any(|x| x == made) => {}
        (kind, _) => {
            return Err(err(
                file,
                &mkey,
                format!("mapping '{definition}/{name}' makes {comp:?} items, which a {kind:?} collection with components [{}] cannot hold", c.components.join(",")),
            ))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loader for files without a CRM connector: nothing is asked of it.
    struct NoDefinitions;

    impl DefinitionCheck for NoDefinitions {
        fn connector_entities(
            &self,
            _: &str,
            _: &std::collections::HashMap<String, String>,
        ) -> Result<Vec<String>, String> {
            Err("no connector definitions here".into())
        }
        fn mapping_component(
            &self,
            _: &str,
            _: &std::collections::HashMap<String, String>,
            _: &str,
            _: &str,
        ) -> Result<crate::vocab::ComponentKind, String> {
            Err("no mappings here".into())
        }
    }

    fn load(path: &Path) -> Result<ServerConfig, ConfigError> {
        load_with(path, &NoDefinitions)
    }

    #[test]
    fn env_substitution_and_errors() {
        std::env::set_var("CRMDAV_TEST_X", "v1");
        let f = Path::new("f.toml");
        assert_eq!(
            substitute_env("a${CRMDAV_TEST_X}b", f, "k").unwrap(),
            "av1b"
        );
        assert_eq!(
            substitute_env(
                "${CRMDAV_TEST_UNSET_Y:-Europe/Berlin}|${CRMDAV_TEST_X:-d}",
                f,
                "k"
            )
            .unwrap(),
            "Europe/Berlin|v1"
        );
        let e = substitute_env("${CRMDAV_TEST_UNSET_Y}", f, "k").unwrap_err();
        assert_eq!(
            e.to_string(),
            "f.toml: k: environment variable CRMDAV_TEST_UNSET_Y is not set"
        );
    }

    #[test]
    fn file_secrets_and_unknown_keys() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tenants")).unwrap();
        std::fs::write(dir.path().join("secret"), "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A\n").unwrap();
        std::fs::write(
            dir.path().join("tenants/a.toml"),
            "name = \"a\"\n[[users]]\nname = \"u\"\npassword_hash_file = \"../secret\"\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("s.toml"), "state = \"sqlite://x.db\"\n").unwrap();
        let c = load(&dir.path().join("s.toml")).unwrap();
        assert!(c.tenants[0].users[0]
            .password_hash
            .as_deref()
            .is_some_and(|h| h.starts_with("$argon2id$")));
        std::fs::write(
            dir.path().join("s.toml"),
            "state = \"sqlite://x.db\"\nlisten_typo = 1\n",
        )
        .unwrap();
        let e = load(&dir.path().join("s.toml")).unwrap_err();
        assert_eq!(e.key, "listen_typo");
        assert_eq!(e.message, "unknown key");
        // The secrets key, from a file.
        std::fs::write(dir.path().join("key"), format!("{}\n", "ab".repeat(32))).unwrap();
        std::fs::write(
            dir.path().join("s.toml"),
            "state = \"sqlite://x.db\"\nsecrets_key_file = \"key\"\n",
        )
        .unwrap();
        let c = load(&dir.path().join("s.toml")).unwrap();
        assert_eq!(c.secrets_key.map(|k| k.bytes()[0]), Some(0xab));
        std::fs::write(
            dir.path().join("s.toml"),
            "state = \"sqlite://x.db\"\nsecrets_key = \"short\"\n",
        )
        .unwrap();
        let e = load(&dir.path().join("s.toml")).unwrap_err();
        assert_eq!(e.key, "secrets_key");
        assert!(
            !e.to_string().contains("short"),
            "the key is not echoed: {e}"
        );
    }

    /// A PostgreSQL state takes its password from the environment or the whole URL from a
    /// file; anything but sqlite:// and postgres(ql):// is refused.
    #[test]
    fn postgres_state_urls() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tenants")).unwrap();
        std::fs::write(dir.path().join("tenants/a.toml"), "name = \"a\"\n").unwrap();
        let s = dir.path().join("s.toml");
        std::env::set_var("CRMDAV_TEST_PG_PW", "pw");
        std::fs::write(
            &s,
            "state = \"postgres://u:${CRMDAV_TEST_PG_PW}@db/crmdav\"\n",
        )
        .unwrap();
        assert_eq!(load(&s).unwrap().state, "postgres://u:pw@db/crmdav");
        std::fs::write(dir.path().join("url"), "postgresql://u:f@db/crmdav\n").unwrap();
        std::fs::write(&s, "state_file = \"url\"\n").unwrap();
        assert_eq!(load(&s).unwrap().state, "postgresql://u:f@db/crmdav");
        std::fs::write(&s, "state = \"mysql://db/crmdav\"\n").unwrap();
        assert_eq!(load(&s).unwrap_err().key, "state");
    }

    #[test]
    fn tls_files_stay_paths_and_come_in_pairs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("tenants")).unwrap();
        std::fs::write(dir.path().join("tenants/a.toml"), "name = \"a\"\n").unwrap();
        let server = dir.path().join("s.toml");
        let write = |extra: &str| {
            std::fs::write(&server, format!("state = \"sqlite://x.db\"\n{extra}")).unwrap()
        };
        // Not read at load (the files need not exist yet) and relative to the server file.
        write("tls_cert_file = \"tls/cert.pem\"\ntls_key_file = \"/k.pem\"\nredirect_http_listen = \"0.0.0.0:80\"\n");
        let tls = load(&server).unwrap().tls.unwrap();
        assert_eq!(tls.cert_file, dir.path().join("tls/cert.pem"));
        assert_eq!(tls.key_file, Path::new("/k.pem"));
        assert_eq!(tls.reload_secs, super::tls::DEFAULT_RELOAD_SECS);
        assert_eq!(tls.redirect_http_listen.as_deref(), Some("0.0.0.0:80"));

        write("tls_cert_file = \"c.pem\"\n");
        assert_eq!(load(&server).unwrap_err().key, "tls_key_file");
        write("redirect_http_listen = \"0.0.0.0:80\"\n");
        assert_eq!(load(&server).unwrap_err().key, "redirect_http_listen");
        write("tls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"\ntls_reload_secs = 0\n");
        assert_eq!(load(&server).unwrap_err().key, "tls_reload_secs");
        write("");
        assert!(load(&server).unwrap().tls.is_none());
    }
}
