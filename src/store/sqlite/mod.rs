//! The state store in SQLite: one file (or memory), WAL, one writer, one process (`guard`).
//! The schema is `migrations/*.sql`, applied by `sqlx::migrate!` when the store opens; each
//! concern's queries live in their own file. The hot tables are read and written on the
//! calling thread through `rusqlite` (`lite`, which says why), the cold ones through sqlx.

mod app_passwords;
pub mod backup;
mod changes;
mod collections;
mod fields;
mod guard;
mod identity;
mod items;
mod kv;
mod leases;
mod lite;
mod props;
mod setup_state;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::Mutex;

use super::backend::{DbError, StateStore};
use super::like::{like_prefix, prefix_end};

/// The schema, embedded at build time (`build.rs` reruns when `migrations/` changes).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// The SQLite state store. Writes go through one async mutex: SQLite has one writer anyway,
/// and the mutex makes every check-then-write (If-Match, UID uniqueness) atomic.
pub struct SqliteStore {
    pool: SqlitePool,
    /// The hot path's connections (`lite`), to the same file; shared with the blocking pool,
    /// where a CRM refresh's batches run (`identity.rs`).
    lite: std::sync::Arc<lite::Lite>,
    write: Mutex<()>,
    /// The directory of a `:memory:` store's file, removed with the store.
    _memory: Option<MemoryDir>,
    /// The file's process lock (none in memory); dropped after the pool, with the store.
    _guard: Option<guard::FileGuard>,
}

impl SqliteStore {
    /// Open (creating if needed) the store at `url` (`sqlite://path` or `sqlite://:memory:`)
    /// and apply the migrations it lacks, holding the file's one-process lock (`guard`) while
    /// open. A file written before migrations existed (the tables, no `_sqlx_migrations`) is
    /// adopted in place: the first migration only creates what is missing.
    pub async fn open(url: &str) -> Result<SqliteStore, DbError> {
        SqliteStore::open_with(url, true).await
    }

    /// Open the store at `url` without the one-process lock, beside a gateway that holds it:
    /// for a short command whose writes are each one self-contained statement (SQLite's own
    /// locking keeps the file consistent). Never for item writes, whose preconditions rely on
    /// the serving process's write mutex.
    pub async fn open_beside_server(url: &str) -> Result<SqliteStore, DbError> {
        SqliteStore::open_with(url, false).await
    }

    async fn open_with(url: &str, exclusive: bool) -> Result<SqliteStore, DbError> {
        let (url, memory_dir) = memory_as_file(url)?;
        let url = url.as_str();
        let memory = url.ends_with(":memory:");
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Overwritten values are zeroed in their page, so an old plaintext secret (a CRM
            // token sealed since) does not linger in the file; `fast` costs no extra I/O.
            .pragma("secure_delete", "fast")
            // 512 KiB of page cache per connection instead of SQLite's 2 MiB: eight
            // connections otherwise keep 16 MiB of the file resident in the process; a miss
            // is a read served by the kernel's page cache. No mmap (its pages count as ours).
            .pragma("cache_size", "-512")
            .busy_timeout(Duration::from_secs(10));
        let mut file_guard = None;
        if let Some(rest) = url.strip_prefix("sqlite://") {
            if !memory {
                let file = std::path::Path::new(rest.split('?').next().unwrap_or(rest));
                if let Some(parent) = file.parent() {
                    if !parent.as_os_str().is_empty() {
                        let _ = std::fs::create_dir_all(parent);
                    }
                }
                // Before the pool opens the file: a second process must not even migrate it.
                if exclusive {
                    let g =
                        guard::lock(file).map_err(|e| sqlx::Error::Configuration(Box::new(e)))?;
                    file_guard = Some(g);
                }
            }
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 8 })
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        let lite = std::sync::Arc::new(lite::Lite::open(&opts_file(url)?)?);
        Ok(SqliteStore {
            pool,
            lite,
            write: Mutex::new(()),
            _memory: memory_dir,
            _guard: file_guard,
        })
    }
}

/// The database file that `url` names.
fn opts_file(url: &str) -> Result<std::path::PathBuf, DbError> {
    Ok(SqliteConnectOptions::from_str(url)?
        .get_filename()
        .to_path_buf())
}

/// A `:memory:` store lives in a file of its own in a fresh temporary directory instead: the
/// hot path's connections (`lite`) and sqlx's must see one database, and separate in-memory
/// connections each have their own (a shared-cache one locks by table, outside the busy
/// timeout). The directory goes with the store; its state is as short-lived as memory's.
fn memory_as_file(url: &str) -> Result<(String, Option<MemoryDir>), DbError> {
    if !url.ends_with(":memory:") {
        return Ok((url.to_string(), None));
    }
    let dir = std::env::temp_dir().join(format!("crmdav-memory-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    let file = format!("sqlite://{}", dir.join("state.db").display());
    Ok((file, Some(MemoryDir(dir))))
}

/// The temporary directory of a `:memory:` store, removed when dropped.
struct MemoryDir(std::path::PathBuf);

impl Drop for MemoryDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn new_epoch(&self) -> Result<String, DbError> {
        let _w = self.write.lock().await;
        let epoch = uuid::Uuid::new_v4().simple().to_string();
        sqlx::query("UPDATE collections SET prev_epoch = epoch, prev_seq = seq, epoch = ?")
            .bind(&epoch)
            .execute(&self.pool)
            .await?;
        Ok(epoch)
    }

    async fn schema_version(&self) -> Result<i64, DbError> {
        sqlx::query_scalar("SELECT COALESCE(MAX(version), 0) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
    }

    fn latest_schema_version(&self) -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    async fn flush(&self) -> Result<(), DbError> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file from before the CRM tables and the field index existed gains them and keeps its rows.
    #[tokio::test]
    async fn an_older_file_gains_the_missing_tables() {
        use crate::store::{CollectionStore, CrmIdentityStore};
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        let opts = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let pool = SqlitePoolOptions::new().connect_with(opts).await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE collections (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, \
             path TEXT NOT NULL, kind TEXT NOT NULL, components TEXT NOT NULL DEFAULT '', \
             seq INTEGER NOT NULL DEFAULT 0, min_seq INTEGER NOT NULL DEFAULT 0, \
             instance TEXT NOT NULL, created INTEGER NOT NULL, modified INTEGER NOT NULL, \
             UNIQUE (tenant, path));
             INSERT INTO collections (tenant, path, kind, seq, instance, created, modified) \
             VALUES ('t', 'cal/', 'calendar', 7, 'abc', 1, 1);",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        let s = SqliteStore::open(&url).await.unwrap();
        assert_eq!(s.schema_version().await.unwrap(), s.latest_schema_version());
        let c = s.collection("t", "cal/").await.unwrap().unwrap();
        assert_eq!(c.sync_token(), "urn:crmdav:sync:abc:7");
        assert_eq!(s.crm_state(&c).await.unwrap(), Default::default());
    }

    #[tokio::test]
    async fn fresh_store_is_at_the_latest_schema() {
        let s = SqliteStore::open("sqlite://:memory:").await.unwrap();
        assert_eq!(s.schema_version().await.unwrap(), 12);
        assert_eq!(s.latest_schema_version(), 12);
    }
}
