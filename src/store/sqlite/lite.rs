//! The hot path's connections: SQLite called on the calling thread through `rusqlite`.
//!
//! sqlx runs each SQLite connection on a worker thread of its own, and every statement is a
//! message to that thread and back (a flume send and receive, a futex wake, two context
//! switches). Profiled at 10,000 members (docs/benchmarks.md § Round two, "SQLite on the
//! calling thread"), that handoff was about a quarter of a PROPFIND Depth 1's CPU and most of a
//! GET's, and ~7 statements per record one at a time made a first import of 10,000 records
//! cost seconds. A statement here takes microseconds, so it runs inline: the items, the change
//! log, the field index's writes, collections and the CRM identity map (the hot tables) go
//! through this module, with each statement prepared once per connection (`prepare_cached`).
//! The cold tables (app passwords, kv, leases, sign-in state, properties outside a COPY/MOVE,
//! backup) and the migrations stay on sqlx: both libraries link the one `libsqlite3-sys`, so
//! the binary holds one SQLite.
//!
//! Reads take a connection from a small idle list (opened on demand, at most
//! [`IDLE_READERS`] kept); writes run on the one write connection in a `BEGIN IMMEDIATE`
//! transaction, always under the store's async `write` mutex (which every writer, sqlx's
//! included, takes: no two write transactions race, so none fails with SQLITE_BUSY_SNAPSHOT).
//! The std mutexes here are held only inside one synchronous call, never across an `.await`.

use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::store::backend::DbError;
use crate::store::StoreError;

/// Read connections kept open between reads (more are opened while more reads run at once).
const IDLE_READERS: usize = 4;
/// Prepared statements kept per connection (the hot path has about thirty).
const STATEMENT_CACHE: usize = 64;
/// How long a statement waits for another connection's lock (as sqlx's `busy_timeout`).
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The hot path's SQLite connections to one database file.
pub(super) struct Lite {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl Lite {
    /// Open the write connection to `path` (the schema exists: sqlx migrated it).
    pub(super) fn open(path: &Path) -> Result<Lite, DbError> {
        let writer = connect(path).map_err(lite)?;
        Ok(Lite {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Run `f` on a read connection (each statement sees the last committed state).
    pub(super) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, DbError> {
        let idle = relock(&self.readers).pop();
        let conn = match idle {
            Some(c) => c,
            None => connect(&self.path).map_err(lite)?,
        };
        let out = f(&conn).map_err(lite);
        let mut idle = relock(&self.readers);
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        out
    }

    /// Run `f` in one write transaction (`BEGIN IMMEDIATE`), committed when it returns `Ok`
    /// and rolled back otherwise. The caller holds the store's `write` mutex.
    pub(super) fn write<T, E>(&self, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<rusqlite::Error>,
    {
        let mut conn = relock(&self.writer);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx)?;
        tx.commit()?;
        Ok(out)
    }
}

/// A poisoned lock only means another call panicked; the connection itself is still sound
/// (an open transaction rolls back when its guard drops).
fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One connection with the pragmas of `SqliteStore::open_with` (WAL is the file's mode,
/// set when sqlx opened it; the others are per connection).
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch(
        // cache_size: 2 MiB (SQLite's default) on these few connections, which carry the hot
        // reads: at 512 KiB a 10,000-member listing read its pages from the kernel again on
        // every request (`filemap_get_read_batch`, copies: ~8 % of a PROPFIND). The sqlx pool
        // keeps 512 KiB (`open_with`).
        "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = fast; \
         PRAGMA cache_size = -2048;",
    )?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    // Plans that do not depend on bound values (the query planner stability guarantee):
    // otherwise SQLite plans with the value of a bound LIMIT or LIKE pattern and re-prepares
    // the statement each time it is bound again, i.e. on every use of a cached statement
    // (a listing's page query was parsed again per page, ~10 % of a discovery request).
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(conn)
}

/// A `rusqlite` error as the store's `DbError`, its SQLite code and constraint kind kept.
pub(super) fn lite(e: rusqlite::Error) -> DbError {
    DbError::Database(Box::new(LiteError(e)))
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> StoreError {
        StoreError::Db(lite(e))
    }
}

/// A failure of a statement run through `rusqlite`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(super) struct LiteError(rusqlite::Error);

impl LiteError {
    fn extended_code(&self) -> Option<i32> {
        match &self.0 {
            rusqlite::Error::SqliteFailure(e, _) => Some(e.extended_code),
            _ => None,
        }
    }
}

impl sqlx::error::DatabaseError for LiteError {
    fn message(&self) -> &str {
        match &self.0 {
            rusqlite::Error::SqliteFailure(_, Some(m)) => m,
            _ => "SQLite statement failed",
        }
    }

    fn code(&self) -> Option<Cow<'_, str>> {
        self.extended_code().map(|c| Cow::Owned(c.to_string()))
    }

    fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
        self
    }

    fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
        self
    }

    fn kind(&self) -> sqlx::error::ErrorKind {
        use rusqlite::ffi;
        use sqlx::error::ErrorKind;
        match self.extended_code() {
            Some(ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
                ErrorKind::UniqueViolation
            }
            Some(ffi::SQLITE_CONSTRAINT_FOREIGNKEY) => ErrorKind::ForeignKeyViolation,
            Some(ffi::SQLITE_CONSTRAINT_NOTNULL) => ErrorKind::NotNullViolation,
            Some(ffi::SQLITE_CONSTRAINT_CHECK) => ErrorKind::CheckViolation,
            _ => ErrorKind::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::StatementStatus;

    /// A cached statement with a bound LIMIT and a bound LIKE pattern runs again without
    /// being prepared again (SQLite re-prepared both on every binding before QPSG).
    #[test]
    fn bound_values_do_not_re_prepare_cached_statements() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("q.db");
        Connection::open(&path)
            .expect("creates")
            .execute_batch(
                "CREATE TABLE t (path TEXT PRIMARY KEY); \
                 INSERT INTO t VALUES ('a/1'), ('a/2'), ('b/1');",
            )
            .expect("schema");
        let conn = connect(&path).expect("opens");
        let sql = "SELECT path FROM t WHERE path LIKE ?1 ORDER BY path LIMIT ?2";
        for (pattern, limit) in [("a/%", 1), ("a/%", 5), ("b/%", 2), ("a/%", 1)] {
            let mut st = conn.prepare_cached(sql).expect("prepares");
            let rows: Vec<String> = st
                .query_map((pattern, limit), |r| r.get(0))
                .expect("runs")
                .collect::<Result<_, _>>()
                .expect("rows");
            assert!(!rows.is_empty() && rows.len() <= limit as usize, "{rows:?}");
            assert_eq!(
                st.get_status(StatementStatus::RePrepare),
                0,
                "{pattern} {limit}"
            );
        }
    }
}
