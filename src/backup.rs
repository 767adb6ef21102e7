//! `crmdav backup`, `crmdav restore` and `crmdav new-epoch`: a consistent copy of the state and
//! its safe return. A SQLite state is copied online (`VACUUM INTO`) and restored with the
//! gateway stopped; a PostgreSQL state is copied with `pg_dump` and restored with `pg_restore`
//! (docs/deployment.md), followed by `new-epoch`. Every restore starts a new epoch, so sync
//! tokens handed out after the backup are refused and their clients resync (RFC 6578 §3.2).

use crate::config::ServerConfig;
use crate::store::{sqlite_backup, Store};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

/// The backup and restore commands.
#[derive(Debug, Subcommand)]
pub enum BackupCmd {
    /// Copy a SQLite state to a new file while the gateway may serve it.
    Backup {
        /// The server config file.
        #[arg(long)]
        config: PathBuf,
        /// The backup file to create (never overwritten).
        #[arg(long)]
        to: PathBuf,
    },
    /// Replace a SQLite state by a backup (stop the gateway first) and start a new epoch.
    Restore {
        /// The server config file.
        #[arg(long)]
        config: PathBuf,
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
    },
    /// Start a new epoch: run after restoring a PostgreSQL state with `pg_restore`, with every
    /// instance stopped.
    NewEpoch {
        /// The server config file.
        #[arg(long)]
        config: PathBuf,
    },
}

/// Run a backup command; what it did on stderr, errors too.
pub fn run(cmd: BackupCmd) -> ExitCode {
    let config = match &cmd {
        BackupCmd::Backup { config, .. }
        | BackupCmd::Restore { config, .. }
        | BackupCmd::NewEpoch { config } => config,
    };
    let cfg = match crate::crm::definitions::load_config(config) {
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
        Ok(msg) => {
            eprintln!("{msg}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("crmdav: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn execute(cfg: &ServerConfig, cmd: BackupCmd) -> anyhow::Result<String> {
    let url = crate::store::redact_url(&cfg.state);
    Ok(match cmd {
        BackupCmd::Backup { to, .. } => {
            sqlite_backup::backup(&cfg.state, &to).await?;
            format!("backed up {url} to {}", to.display())
        }
        BackupCmd::Restore { from, .. } => {
            let epoch = sqlite_backup::restore(&cfg.state, &from).await?;
            format!(
                "restored {url} from {}; new epoch {epoch}: sync tokens handed out after the backup are refused",
                from.display()
            )
        }
        BackupCmd::NewEpoch { .. } => {
            // Takes the SQLite lock: no gateway may serve the state meanwhile.
            let store = Store::open(&cfg.state)
                .await
                .map_err(|e| anyhow::anyhow!("cannot open state store {url}: {e}"))?;
            let epoch = store.new_epoch().await?;
            format!("{url}: new epoch {epoch}: sync tokens handed out before it and after the backup are refused")
        }
    })
}
