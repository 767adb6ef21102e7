//! One process per SQLite file: an exclusive advisory lock (`flock`) on `<file>.lock` beside
//! the database, held as long as the store is open. SQLite itself would let a second gateway
//! open the file and both would serve it, each sure that its write mutex makes If-Match and UID
//! checks atomic; the lock turns that into a clear refusal at start.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

/// Why the state file cannot be locked.
#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    /// Another process holds the lock.
    #[error(
        "the state file {db} is in use by another crmdav process (it holds {lock}); \
         one SQLite state serves one process: stop the other one, or share a PostgreSQL \
         state between instances"
    )]
    InUse {
        /// The database file.
        db: String,
        /// The lock file.
        lock: String,
    },
    /// The lock file cannot be created or locked.
    #[error("cannot lock {lock} (beside the state file): {source}")]
    Io {
        /// The lock file.
        lock: String,
        /// The error.
        source: std::io::Error,
    },
}

/// The held lock: released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub(super) struct FileGuard {
    _file: File,
}

/// The lock file of database `db`.
fn lock_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

/// Take the exclusive lock of database `db`, without waiting.
pub(super) fn lock(db: &Path) -> Result<FileGuard, GuardError> {
    let path = lock_path(db);
    let io = |source| GuardError::Io {
        lock: path.display().to_string(),
        source,
    };
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => Ok(FileGuard { _file: file }),
        Err(TryLockError::WouldBlock) => Err(GuardError::InUse {
            db: db.display().to_string(),
            lock: path.display().to_string(),
        }),
        Err(TryLockError::Error(e)) => Err(io(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("state.db");
        let first = lock(&db).unwrap();
        let err = lock(&db).unwrap_err().to_string();
        assert!(err.contains(&db.display().to_string()), "{err}");
        assert!(err.contains("in use by another crmdav process"), "{err}");
        drop(first);
        lock(&db).unwrap();
    }
}
