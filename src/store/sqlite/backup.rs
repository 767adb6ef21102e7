//! Online backup (`VACUUM INTO`) and offline restore of a SQLite state file. A backup is one
//! consistent SQLite file with every table: items, the change log, the CRM identity map, the
//! sealed CRM tokens and app passwords.

use std::path::{Path, PathBuf};

use super::{guard, SqliteStore};
use crate::store::backend::{DbError, StateStore};

/// Why a backup or restore failed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// Not a `sqlite://` file URL.
    #[error("backup and restore work on a SQLite state file; for PostgreSQL use pg_dump and pg_restore, then `crmdav new-epoch` (docs/deployment.md)")]
    NotAFile,
    /// The target exists (a backup never overwrites).
    #[error("{0} exists: a backup never overwrites a file")]
    Exists(PathBuf),
    /// The state is in use by a gateway.
    #[error(transparent)]
    InUse(#[from] guard::GuardError),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The database refused.
    #[error(transparent)]
    Db(#[from] DbError),
}

fn file_of(url: &str) -> Result<PathBuf, BackupError> {
    let rest = url.strip_prefix("sqlite://").ok_or(BackupError::NotAFile)?;
    let file = rest.split('?').next().unwrap_or(rest);
    if file.is_empty() || file == ":memory:" {
        return Err(BackupError::NotAFile);
    }
    Ok(PathBuf::from(file))
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Write a consistent copy of the state at `url` to the new file `to`, while a gateway may be
/// serving it (`VACUUM INTO` reads one snapshot).
pub async fn backup(url: &str, to: &Path) -> Result<(), BackupError> {
    file_of(url)?;
    if to.exists() {
        return Err(BackupError::Exists(to.to_path_buf()));
    }
    let store = SqliteStore::open_beside_server(url).await?;
    sqlx::query("VACUUM INTO ?")
        .bind(to.to_string_lossy().as_ref())
        .execute(&store.pool)
        .await?;
    store.pool.close().await;
    Ok(())
}

/// Replace the state at `url` by the backup `from`, with no gateway serving it (its lock is
/// held throughout), and start a new epoch. The backup is migrated first if an older release
/// wrote it. Returns the new epoch.
pub async fn restore(url: &str, from: &Path) -> Result<String, BackupError> {
    let file = file_of(url)?;
    let _held = guard::lock(&file)?;
    let mut staged = file.clone().into_os_string();
    staged.push(".restoring");
    let staged = PathBuf::from(staged);
    let _ = std::fs::remove_file(&staged);
    std::fs::copy(from, &staged).map_err(io(from))?;
    let staged_url = format!("sqlite://{}", staged.display());
    let store = SqliteStore::open_beside_server(&staged_url).await?;
    let epoch = store.new_epoch().await?;
    store.flush().await?;
    store.pool.close().await;
    // The old file's write-ahead log must not be replayed onto the restored file.
    for ext in ["-wal", "-shm"] {
        let mut side = file.clone().into_os_string();
        side.push(ext);
        match std::fs::remove_file(&side) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(io(Path::new(&side))(e))
            }
            _ => {}
        }
    }
    std::fs::rename(&staged, &file).map_err(io(&file))?;
    Ok(epoch)
}
