//! The SQLite store: pragmas, migrations, a pool of read connections, one
//! group-committing writer thread, and one repository module per aggregate.
//! All SQL of the appliance lives under this module.

mod accounts;
mod apikeys;
mod audit;
mod challenges;
mod grants;
mod health;
mod limits;
mod migrations;
mod operators;
mod outbox;
mod outbox_list;
mod policies;
mod purge;
mod queue;
mod stats;
mod systems;
mod usage;
mod users;
mod writer;

pub use accounts::AccountRow;
pub use apikeys::{ApiKeyRow, Scope};
pub use audit::{AuditEntry, AuditFilter, AuditRow};
pub use limits::SmsRefusalRow;
pub use operators::{OperatorRow, SessionRow, SetupTokenRow};
pub use outbox::{AttemptRecord, OutboxCounts, OutboxEntry, OutboxRow};
pub use outbox_list::OutboxListRow;
pub use policies::PolicyRow;
pub use queue::{QueueCount, QueueSummary};
pub use stats::{HourCount, RecentLogin, SmsCount};
pub use systems::{SystemFields, SystemRow};
pub use usage::{UsageField, UsageRow};
pub use users::{UserPage, UserRow, UserUpdate};

use chrono::{DateTime, Utc};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub const DB_FILE: &str = "flexsecure.db";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database schema version {found} is newer than this binary supports ({supported}); refusing to downgrade")]
    TooNew { found: usize, supported: usize },
    #[error("database writer has stopped")]
    WriterGone,
    #[error("database busy: {0}")]
    Busy(String),
    #[error("database task failed: {0}")]
    Task(String),
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// A UNIQUE constraint refused the write (a duplicate name or email).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
    }

    /// The database was busy or locked beyond the busy timeout.
    pub fn is_busy(&self) -> bool {
        matches!(self, StoreError::Busy(_))
            || matches!(self, StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _))
            if matches!(e.code, rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked))
    }

    /// The same failure for another caller of a shared transaction.
    pub(crate) fn shared(&self, what: &str) -> StoreError {
        if self.is_busy() {
            StoreError::Busy(format!("{what}: {self}"))
        } else {
            StoreError::Task(format!("{what}: {self}"))
        }
    }
}

/// A connection lent to a repository call: inside the writer's transaction
/// for writes, a pooled read connection for reads.
pub struct Db<'a> {
    conn: &'a Connection,
}

impl<'a> Db<'a> {
    fn new(conn: &'a Connection) -> Self {
        crate::blocking::check("sqlite");
        Self { conn }
    }
}

#[derive(Clone)]
pub struct Store {
    pool: r2d2::Pool<SqliteConnectionManager>,
    writer: writer::Writer,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    // WAL + synchronous=FULL: a commit returns only after the WAL is fsynced,
    // so an acknowledged write survives a process kill and a power loss.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

impl Store {
    /// Opens (creating if needed) `data_dir/flexsecure.db` and migrates it.
    /// Blocking: call at startup or from a blocking thread.
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(DB_FILE);
        let mut conn = Connection::open(&path)?;
        configure(&conn)?;
        migrations::run(&mut conn)?;
        let manager = SqliteConnectionManager::file(&path).with_init(|c| {
            configure(c)?;
            // Readers never write: a slip is an error, not a silent write.
            c.pragma_update(None, "query_only", "ON")
        });
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .connection_timeout(Duration::from_secs(10))
            .build(manager)?;
        let writer = writer::Writer::start(conn)?;
        Ok(Self { pool, writer, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on a read connection, on a blocking thread.
    pub async fn read<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Db<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let pool = self.pool.clone();
        crate::blocking::run(move || {
            let conn = pool.get().map_err(StoreError::from)?;
            f(&Db::new(&conn))
        })
        .await
        .map_err(|e| E::from(StoreError::Task(e.to_string())))?
    }

    /// Runs `f` on a read connection on this thread (CLI, startup).
    pub fn read_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Db<'_>) -> Result<T, E>,
        E: From<StoreError>,
    {
        let conn = self.pool.get().map_err(StoreError::from)?;
        f(&Db::new(&conn))
    }

    /// Runs `f` inside the writer's transaction. Concurrent calls are
    /// committed together (group commit); the result is returned only after
    /// the commit is on disk. An `Err` from `f` rolls back `f`'s writes only.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Db<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer
            .submit(f)?
            .await
            .map_err(|_| E::from(StoreError::WriterGone))?
    }

    /// `write` for callers without a runtime (CLI).
    pub fn write_blocking<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&Db<'_>) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.writer
            .submit(f)?
            .blocking_recv()
            .map_err(|_| E::from(StoreError::WriterGone))?
    }
}

pub(crate) fn to_ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn hash32(v: Option<Vec<u8>>) -> Option<[u8; 32]> {
    v.and_then(|b| b.try_into().ok())
}

#[cfg(test)]
pub(crate) fn test_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}
