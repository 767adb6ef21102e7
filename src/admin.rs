//! `crmdav app-password`: a person's app passwords (devices) from the command line. Every
//! command reads the server config, opens its state store (safe while the gateway runs) and
//! calls `auth::devices`, as the sign-in page will.
//!
//! Output is for scripts: `create` prints only the secret on stdout (what it did goes to
//! stderr), `list` prints a tab-separated table with a header. Exit status: 0 done, 1 refused
//! or failed (unknown tenant, user or id, a bad label, a config or store error; the reason on
//! stderr), 2 bad usage.

use crate::auth::devices::{self, Device};
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
    let cfg = match crate::crm::definitions::load_config(cmd.config()) {
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
    match rt.block_on(execute(&cfg, cmd)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("crmdav app-password: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cfg: &ServerConfig, cmd: AppPasswordCmd) -> anyhow::Result<()> {
    // The gateway may be serving this state: no one-process lock (app-password writes are
    // single statements), and the URL without its password.
    let store = Store::open_beside_server(&cfg.state).await.map_err(|e| {
        let url = crate::store::redact_url(&cfg.state);
        anyhow::anyhow!("cannot open state store {url}: {e}")
    })?;
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
