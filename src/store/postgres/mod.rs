//! The state store in PostgreSQL, shared by any number of gateway instances. The schema is
//! `migrations/postgres/*.sql` (the same tables as SQLite's), applied by `sqlx::migrate!` when
//! the store opens (sqlx holds an advisory lock while it migrates, so instances starting
//! together apply each migration once); each concern's queries live in their own file.
//!
//! Instances share nothing but the database, so no in-process lock guards anything here:
//! every check-then-write (`If-Match`, `If-None-Match`, UID uniqueness, MOVE/COPY) runs in one
//! transaction that first locks the collection's row (`SELECT … FOR UPDATE`), and the
//! collection's sequence moves in that transaction. Writers of one collection are therefore
//! serialized across instances and commit in sequence order, so a reader never sees sequence
//! `n + 1` before `n` and a sync token from one instance is complete on every other.
//!
//! Locks are always taken in one order (collection rows by id, dead properties by path,
//! namespace and name), so two transactions never wait on each other in a cycle.

mod app_passwords;
mod changes;
mod collections;
mod fields;
mod identity;
mod items;
mod kv;
mod leases;
mod props;
mod setup_state;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;
use std::str::FromStr;
use std::time::Duration;

use super::backend::{DbError, StateStore};
use super::like::like_prefix;
use super::StoreError;

/// The schema, embedded at build time (`build.rs` reruns when `migrations/` changes).
static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Connections per instance: the writes of one collection wait on its row lock anyway, so
/// more connections only help reads and writes to different collections.
const MAX_CONNECTIONS: u32 = 16;

/// The PostgreSQL state store.
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connect to `url` (`postgres://user:password@host:port/db?…` or `postgresql://…`) and
    /// apply the migrations the database lacks.
    pub async fn open(url: &str) -> Result<PgStore, DbError> {
        let opts = PgConnectOptions::from_str(url)?.application_name("crmdav");
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        fields::log_trigram_index(&pool).await?;
        Ok(PgStore { pool })
    }
}

#[async_trait]
impl StateStore for PgStore {
    async fn new_epoch(&self) -> Result<String, DbError> {
        let epoch = uuid::Uuid::new_v4().simple().to_string();
        sqlx::query("UPDATE collections SET prev_epoch = epoch, prev_seq = seq, epoch = $1")
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

    /// Nothing to do: a committed write is durable on commit and there is no database file a
    /// copy could be taken of. (PostgreSQL keeps a replaced row's old version until autovacuum
    /// reclaims it, and in its WAL: a superseded plaintext secret lives on in those, and in
    /// any backup, until then; keep the database's storage and backups as private as the
    /// secrets themselves.)
    async fn flush(&self) -> Result<(), DbError> {
        Ok(())
    }
}

/// A transaction on the store's pool.
type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Lock a collection's row for the rest of `tx`: every write to its members, its sequence and
/// its identity map takes this lock first, so check-then-write is atomic across instances.
/// `NotFound` when the collection is gone (deleted by a concurrent request).
async fn lock_collection(tx: &mut Tx<'_>, coll_id: i64) -> Result<(), StoreError> {
    let found: Option<i64> =
        sqlx::query_scalar("SELECT id FROM collections WHERE id = $1 FOR UPDATE")
            .bind(coll_id)
            .fetch_optional(&mut **tx)
            .await?;
    found.map(|_| ()).ok_or(StoreError::NotFound)
}

/// Lock the rows of collection `path` and every collection below it, in id order, for the rest
/// of `tx`. Returns how many there are (0: none, nothing locked).
async fn lock_tree(tx: &mut Tx<'_>, tenant: &str, path: &str) -> Result<usize, DbError> {
    let ids: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM collections WHERE tenant = $1 AND (path = $2 OR path LIKE $3 ESCAPE '\\') \
         ORDER BY id FOR UPDATE",
    )
    .bind(tenant)
    .bind(path)
    .bind(like_prefix(path))
    .fetch_all(&mut **tx)
    .await?;
    Ok(ids.len())
}

/// Lock two collections' rows in id order (so two transactions never wait on each other).
async fn lock_collections(tx: &mut Tx<'_>, a: i64, b: i64) -> Result<(), StoreError> {
    lock_collection(tx, a.min(b)).await?;
    if a != b {
        lock_collection(tx, a.max(b)).await?;
    }
    Ok(())
}
