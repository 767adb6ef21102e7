//! `crmdav app-password`: a person's app passwords (devices) from the command line; and the
//! person commands `crmdav link`, `unlink` (a person's CRM user, stored so that every instance
//! sees it), `devices` (app passwords and sign-in page sessions) and `revoke --all`. Every
//! command reads the server config, opens its state store (safe while the gateway runs) and
//! calls `auth::devices` or `crm::people`, as the sign-in page and the server do.
//!
//! Output is for scripts: `create` prints only the secret on stdout (what it did goes to
//! stderr), `list` prints a tab-separated table with a header. Exit status: 0 done, 1 refused
//! or failed (unknown tenant, user or id, a bad label, a config or store error; the reason on
//! stderr), 2 bad usage.

use crate::auth::devices::{self, Device, PageSession};
use crate::config::ServerConfig;
use crate::store::Store;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

/// The `app-password` subcommands.
#[derive(Debug, Subcommand)]
pub enum AppPasswordCmd {
    /// Create an app password for a person's device and print it (only it) once on stdout.
    Create {
        /// The server config file.
        #[arg(long)]
        config: PathBuf,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The person (a user of the tenant file).
        #[arg(long)]
        user: String,
        /// What the device is called (at most 64 characters, no control characters).
        #[arg(long)]
        label: String,
    },
    /// List app passwords: id, user, label, created, last used (never a secret or hash).
    List {
        /// The server config file.
        #[arg(long)]
        config: PathBuf,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// Only this person's.
        #[arg(long)]
        user: Option<String>,
    },
    /// Revoke one app password (`--id`), or every one of a person (`--user U --all`).
    Revoke {
        /// The server config file.
        #[arg(long)]
        config: PathBuf,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The app password's id (the part before `-`).
        #[arg(long, conflicts_with_all = ["user", "all"], required_unless_present = "all")]
        id: Option<String>,
        /// The person whose app passwords are all revoked (with `--all`).
        #[arg(long, requires = "all")]
        user: Option<String>,
        /// Revoke every app password of `--user`.
        #[arg(long, requires = "user")]
        all: bool,
    },
}

impl AppPasswordCmd {
    fn config(&self) -> &PathBuf {
        match self {
            AppPasswordCmd::Create { config, .. }
            | AppPasswordCmd::List { config, .. }
            | AppPasswordCmd::Revoke { config, .. } => config,
        }
    }
}

/// Run an `app-password` command.
pub fn run(cmd: AppPasswordCmd) -> ExitCode {
    let path = cmd.config().clone();
    run_with(&path, "app-password", |cfg| Box::pin(execute(cfg, cmd)))
}

/// A command's future over the loaded config.
type Job<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>> + 'a>>;

/// Load the config at `path`, run `job` on a small runtime, map the outcome to an exit code
/// (the reason on stderr, prefixed with `crmdav <name>`).
fn run_with(
    path: &std::path::Path,
    name: &str,
    job: impl for<'a> FnOnce(&'a ServerConfig) -> Job<'a>,
) -> ExitCode {
    let cfg = match crate::crm::definitions::load_config(path) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("config error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(job(&cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crmdav {name}: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The state store beside a running gateway: no one-process lock (these writes are single
/// statements), and errors name the URL without its password.
async fn open_store(cfg: &ServerConfig) -> anyhow::Result<Store> {
    Store::open_beside_server(&cfg.state).await.map_err(|e| {
        let url = crate::store::redact_url(&cfg.state);
        anyhow::anyhow!("cannot open state store {url}: {e}")
    })
}

async fn execute(cfg: &ServerConfig, cmd: AppPasswordCmd) -> anyhow::Result<()> {
    let store = open_store(cfg).await?;
    match cmd {
        AppPasswordCmd::Create {
            tenant,
            user,
            label,
            ..
        } => {
            let made = devices::create(&store, cfg, &tenant, &user, &label).await?;
            println!("{}", made.secret.reveal());
            eprintln!(
                "created app password {} for {user}@{tenant} ({}); it is shown only this once",
                made.device.id, made.device.label
            );
        }
        AppPasswordCmd::List { tenant, user, .. } => {
            let list = devices::list(&store, cfg, &tenant, user.as_deref()).await?;
            print!("{}", table(&list));
        }
        AppPasswordCmd::Revoke {
            tenant, id, user, ..
        } => match (id, user) {
            (Some(id), _) => {
                devices::revoke(&store, cfg, &tenant, &id).await?;
                eprintln!("revoked app password {id} of tenant {tenant}");
            }
            (None, Some(user)) => {
                let n = devices::revoke_all(&store, cfg, &tenant, &user).await?;
                eprintln!("revoked {n} app password(s) of {user}@{tenant}");
            }
            (None, None) => anyhow::bail!("give --id ID, or --user U --all"),
        },
    }
    Ok(())
}

fn time(t: Option<i64>) -> String {
    t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| "never".into())
}

/// The `list` table: a header and one tab-separated line per device.
fn table(list: &[Device]) -> String {
    let mut out = String::from("id\tuser\tlabel\tcreated\tlast_used\n");
    for d in list {
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\n",
            d.id,
            d.user,
            d.label,
            time(Some(d.created)),
            time(d.last_used)
        ));
    }
    out
}

/// The person commands (`crmdav link`, `unlink`, `devices`, `revoke`).
#[derive(Debug, Subcommand)]
pub enum PersonCmd {
    /// Link a person to a CRM user (overrides the e-mail match; a `crm_id` in the tenant file
    /// still wins). Stored in the state store: every instance uses it within `users_ttl_secs`.
    Link {
        /// The server config file.
        #[arg(long)]
        config: PathBuf,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The person (a user of the tenant file).
        #[arg(long)]
        user: String,
        /// The CRM user's id.
        #[arg(long)]
        crm_id: String,
    },
    /// Remove a link made with `crmdav link` (the person falls back to the e-mail match).
    Unlink {
        /// The server config file.
        #[arg(long)]
        config: PathBuf,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The person.
        #[arg(long)]
        user: String,
    },
    /// List a person's devices: app passwords and sign-in page sessions, with last use.
    Devices {
        /// The server config file.
        #[arg(long)]
        config: PathBuf,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The person.
        #[arg(long)]
        user: String,
    },
    /// Revoke everything of a person: app passwords, sign-in page sessions and their own CRM
    /// tokens.
    Revoke {
        /// The server config file.
        #[arg(long)]
        config: PathBuf,
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The person.
        #[arg(long)]
        user: String,
        /// Everything (required: there is no partial revoke here; `app-password revoke --id`
        /// revokes one device).
        #[arg(long, required = true)]
        all: bool,
    },
}

impl PersonCmd {
    fn config(&self) -> &PathBuf {
        match self {
            PersonCmd::Link { config, .. }
            | PersonCmd::Unlink { config, .. }
            | PersonCmd::Devices { config, .. }
            | PersonCmd::Revoke { config, .. } => config,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            PersonCmd::Link { .. } => "link",
            PersonCmd::Unlink { .. } => "unlink",
            PersonCmd::Devices { .. } => "devices",
            PersonCmd::Revoke { .. } => "revoke",
        }
    }
}

/// Run a person command.
pub fn run_person(cmd: PersonCmd) -> ExitCode {
    let path = cmd.config().clone();
    let name = cmd.name();
    run_with(&path, name, |cfg| Box::pin(execute_person(cfg, cmd)))
}

/// The tenant file's entry for `user` of `tenant`, or why not.
fn person<'a>(
    cfg: &'a ServerConfig,
    tenant: &str,
    user: &str,
) -> anyhow::Result<&'a crate::config::UserConfig> {
    let t = cfg
        .tenant(tenant)
        .ok_or_else(|| anyhow::anyhow!("no tenant named '{tenant}'"))?;
    t.user(user)
        .ok_or_else(|| anyhow::anyhow!("tenant {tenant}: no user named '{user}'"))
}

async fn execute_person(cfg: &ServerConfig, cmd: PersonCmd) -> anyhow::Result<()> {
    use crate::crm::people::store_link;
    let store = open_store(cfg).await?;
    match cmd {
        PersonCmd::Link {
            tenant,
            user,
            crm_id,
            ..
        } => {
            let u = person(cfg, &tenant, &user)?;
            let old = store_link(&store, &tenant, &user, Some(&crm_id)).await?;
            let was = old.map_or(String::new(), |o| format!(" (was {o})"));
            println!("linked {user}@{tenant} to CRM user {}{was}", crm_id.trim());
            if let Some(id) = u.crm_id.as_deref().filter(|i| !i.is_empty()) {
                eprintln!(
                    "note: the tenant file gives {user} crm_id = \"{id}\", which wins over this link"
                );
            }
        }
        PersonCmd::Unlink { tenant, user, .. } => {
            // A person removed from the tenant file may still have a stored link to remove.
            cfg.tenant(&tenant)
                .ok_or_else(|| anyhow::anyhow!("no tenant named '{tenant}'"))?;
            match store_link(&store, &tenant, &user, None).await? {
                Some(old) => println!("unlinked {user}@{tenant} from CRM user {old}"),
                None => anyhow::bail!("{user}@{tenant} has no link made with `crmdav link`"),
            }
        }
        PersonCmd::Devices { tenant, user, .. } => {
            let apps = devices::list(&store, cfg, &tenant, Some(&user)).await?;
            let pages = devices::page_sessions(&store, cfg, &tenant, &user).await?;
            print!("{}", device_table(&apps, &pages));
        }
        PersonCmd::Revoke { tenant, user, .. } => {
            let apps = devices::revoke_all(&store, cfg, &tenant, &user).await?;
            let pages = devices::sign_out_everywhere(&store, cfg, &tenant, &user).await?;
            let crm = revoke_personal_crm_tokens(&store, &tenant, &user).await?;
            println!(
                "revoked {apps} app password(s) and {pages} sign-in page session(s) of {user}@{tenant}; {crm}"
            );
        }
    }
    Ok(())
}

/// Remove the person's own CRM OAuth tokens (connected on the sign-in page), and say so.
async fn revoke_personal_crm_tokens(
    store: &Store,
    tenant: &str,
    user: &str,
) -> anyhow::Result<&'static str> {
    Ok(
        match crate::crm::forget_personal_tokens(store, tenant, user).await? {
            true => "their own CRM OAuth tokens were deleted",
            false => "they had no CRM OAuth tokens of their own",
        },
    )
}

/// The `devices` table: a header, then app passwords and page sessions, tab-separated.
fn device_table(apps: &[Device], pages: &[PageSession]) -> String {
    let mut out = String::from("kind\tid\tlabel\tcreated\tlast_used\texpires\n");
    for d in apps {
        out.push_str(&format!(
            "app-password\t{}\t{}\t{}\t{}\t-\n",
            d.id,
            d.label,
            time(Some(d.created)),
            time(d.last_used)
        ));
    }
    for p in pages {
        out.push_str(&format!(
            "page-session\t-\tsign-in page\t-\t{}\t{}\n",
            time(p.last_used),
            time(Some(p.expires))
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_a_header_and_never_a_secret() {
        let d = Device {
            id: "0123456789".into(),
            user: "alice".into(),
            label: "Alice's phone".into(),
            created: 0,
            last_used: None,
        };
        assert_eq!(
            table(&[d]),
            "id\tuser\tlabel\tcreated\tlast_used\n\
             0123456789\talice\tAlice's phone\t1970-01-01T00:00:00Z\tnever\n"
        );
    }
}
