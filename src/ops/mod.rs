//! Operations on a data directory from the command line: the lock that keeps
//! two servers (or a server and a restore) off one directory, backups while
//! the server runs, restore, and the database check.
//!
//! Everything here is blocking (files, SQLite, argon2): the CLI, startup or a
//! blocking thread only, never an async worker. SQLite-specific by nature
//! (online backup API, `PRAGMA integrity_check`), so it talks to SQLite
//! directly rather than through the store's repositories.

mod archive;
mod backup;
mod check;
mod dump;
mod lock;

pub use backup::{backup, restore, ArchivedFile, BackupReport, RestoreReport};
pub use check::{check, CheckReport, ForeignKeyViolation};
pub use dump::logical_dump;
pub use lock::{DataDirLock, LOCK_FILE};

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    #[error("{0}: {1}")]
    Io(String, #[source] std::io::Error),
    #[error("database {0}: {1}")]
    Sqlite(String, #[source] rusqlite::Error),
    #[error("data directory {dir} is in use by a running flexsecure (pid {pid}); stop it first", dir = .0.display(), pid = .1)]
    Locked(PathBuf, String),
    #[error("data directory {} is not empty; restore replaces its database and keys only with --force", .0.display())]
    NotEmpty(PathBuf),
    #[error("no flexsecure data in {dir} ({file} is missing)", dir = .0.display(), file = .1)]
    NoData(PathBuf, &'static str),
    #[error("{} is not a flexsecure backup", .0.display())]
    NotAnArchive(PathBuf),
    #[error("the backup has format version {0}; this binary reads version 1 only")]
    UnsupportedVersion(u16),
    #[error("the backup is encrypted: give its passphrase (--passphrase-file)")]
    PassphraseNeeded,
    #[error("wrong passphrase (or a damaged backup header); nothing was restored")]
    WrongPassphrase,
    #[error("the backup is damaged ({0}); nothing was restored")]
    Damaged(String),
    #[error("the database in the backup fails its integrity check ({}); nothing was restored", .0.join("; "))]
    Integrity(Vec<String>),
    #[error("the database fails its integrity check ({}); no backup was written", .0.join("; "))]
    SourceDamaged(Vec<String>),
    #[error("{0}")]
    Invalid(String),
}

impl OpsError {
    pub(crate) fn io(path: &Path, e: std::io::Error) -> Self {
        OpsError::Io(path.display().to_string(), e)
    }

    pub(crate) fn sqlite(path: &Path, e: rusqlite::Error) -> Self {
        OpsError::Sqlite(path.display().to_string(), e)
    }
}

/// Creates `dir` (and its parents) if missing; the directory itself gets
/// mode 0700, as the server makes its data directory.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), OpsError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| OpsError::io(dir, e))?;
    restrict_dir(dir)
}

/// Sets mode 0700 on a directory (Unix).
pub(crate) fn restrict_dir(dir: &Path) -> Result<(), OpsError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| OpsError::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}
