//! `flexsecure db check`: `PRAGMA integrity_check`, `PRAGMA
//! foreign_key_check` and the schema version of a data directory's database,
//! as a report. Read-only, and safe beside a running server (WAL readers
//! see one consistent snapshot and never block the writer).

use super::OpsError;
use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// At most this many problems of each kind are listed.
const MAX_LISTED: usize = 100;

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    pub database: PathBuf,
    /// No integrity problem, no foreign-key violation, a schema this binary
    /// can use.
    pub ok: bool,
    /// `PRAGMA user_version`: the number of migrations applied.
    pub schema_version: i64,
    /// The newest schema this binary knows; an older database is migrated
    /// when the server starts, a newer one is refused.
    pub supported_schema_version: i64,
    /// `["ok"]`, or the problems `PRAGMA integrity_check` found (or the
    /// error that stopped it), at most 100.
    pub integrity: Vec<String>,
    /// At most 100.
    pub foreign_key_violations: Vec<ForeignKeyViolation>,
    /// One line per kind of problem; empty when `ok`.
    pub problems: Vec<String>,
}

/// A row of `PRAGMA foreign_key_check`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ForeignKeyViolation {
    pub table: String,
    pub rowid: Option<i64>,
    pub parent: String,
}

/// Checks `data_dir/flexsecure.db` without changing it. Problems found are
/// in the report (`ok == false`); `Err` only when the check could not run
/// at all (no database, unreadable file).
pub fn check(data_dir: &Path) -> Result<CheckReport, OpsError> {
    crate::blocking::check("database check");
    let db = data_dir.join(crate::store::DB_FILE);
    if !db.is_file() {
        return Err(OpsError::NoData(
            data_dir.to_path_buf(),
            crate::store::DB_FILE,
        ));
    }
    let supported = supported_schema_version()?;
    let conn = open_existing(&db)?;
    let mut problems = Vec::new();
    let integrity = integrity_problems(&conn, "integrity_check");
    if !integrity.is_empty() {
        problems.push(format!(
            "integrity_check: {} problem(s), first: {}",
            integrity.len(),
            integrity[0]
        ));
    }
    let (foreign_key_violations, fk_error) = match foreign_keys(&conn) {
        Ok(v) => (v, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    if let Some(e) = fk_error {
        problems.push(format!("foreign_key_check could not run: {e}"));
    } else if !foreign_key_violations.is_empty() {
        problems.push(format!(
            "foreign_key_check: {} violation(s), first in {}",
            foreign_key_violations.len(),
            foreign_key_violations[0].table
        ));
    }
    let schema_version = match user_version(&conn) {
        Ok(v) => v,
        Err(e) => {
            problems.push(format!("schema version unreadable: {e}"));
            -1
        }
    };
    if schema_version > supported {
        problems.push(format!(
            "schema version {schema_version} is newer than this binary's ({supported}); the server refuses it"
        ));
    } else if schema_version == 0 {
        problems.push("schema version 0: not a flexsecure database (no migration applied)".into());
    }
    Ok(CheckReport {
        database: db,
        ok: problems.is_empty(),
        schema_version,
        supported_schema_version: supported,
        integrity: if integrity.is_empty() {
            vec!["ok".into()]
        } else {
            integrity
        },
        foreign_key_violations,
        problems,
    })
}

/// Opens an existing database read-write (a WAL reader needs the shared
/// memory file) but never creates one; `query_only` refuses every write.
pub(crate) fn open_existing(path: &Path) -> Result<Connection, OpsError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| OpsError::sqlite(path, e))?;
    conn.busy_timeout(Duration::from_secs(5))
        .and_then(|_| conn.pragma_update(None, "query_only", "ON"))
        .map_err(|e| OpsError::sqlite(path, e))?;
    Ok(conn)
}

/// The rows of `PRAGMA <pragma>(100)` other than a lone "ok"; an error
/// that stops the pragma (a page too damaged to read) is one problem.
pub(crate) fn integrity_problems(conn: &Connection, pragma: &str) -> Vec<String> {
    let rows = (|| {
        let mut stmt = conn.prepare(&format!("PRAGMA {pragma}({MAX_LISTED})"))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
    })();
    match rows {
        Ok(rows) if rows == ["ok"] => Vec::new(),
        Ok(rows) if rows.is_empty() => vec![format!("{pragma} returned nothing")],
        Ok(rows) => rows,
        Err(e) => vec![e.to_string()],
    }
}

fn foreign_keys(conn: &Connection) -> rusqlite::Result<Vec<ForeignKeyViolation>> {
    let mut stmt = conn.prepare("PRAGMA foreign_key_check")?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        if out.len() == MAX_LISTED {
            break;
        }
        out.push(ForeignKeyViolation {
            table: r.get(0)?,
            rowid: r.get(1)?,
            parent: r.get(2)?,
        });
    }
    Ok(out)
}

pub(crate) fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// The schema version this binary migrates to. The store keeps its list of
/// migrations private, so a scratch database claiming an absurdly new
/// schema is offered to `Store::open`, whose refusal names the version it
/// supports (nothing is migrated or logged). A public
/// `store::SCHEMA_VERSION` would replace this.
pub(crate) fn supported_schema_version() -> Result<i64, OpsError> {
    let dir = std::env::temp_dir().join(format!(
        "flexsecure-schema-{}",
        hex::encode(crate::crypto::random_bytes::<8>())
    ));
    let result = (|| {
        super::create_private_dir(&dir)?;
        let path = dir.join(crate::store::DB_FILE);
        Connection::open(&path)
            .and_then(|c| c.pragma_update(None, "user_version", i32::MAX))
            .map_err(|e| OpsError::sqlite(&path, e))?;
        match crate::store::Store::open(&dir) {
            Err(crate::store::StoreError::TooNew { supported, .. }) => Ok(supported as i64),
            Err(e) => Err(OpsError::Invalid(format!("scratch database: {e}"))),
            Ok(_) => Err(OpsError::Invalid(
                "scratch database: a schema this new was accepted".into(),
            )),
        }
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_database_is_ok_and_current() {
        let (dir, _store) = crate::store::test_store();
        let r = check(dir.path()).unwrap();
        assert!(r.ok, "{r:?}");
        assert_eq!(r.integrity, ["ok"]);
        assert!(r.schema_version >= 6);
        assert_eq!(r.schema_version, r.supported_schema_version);
    }

    #[test]
    fn violations_and_versions_are_reported() {
        let (dir, store) = crate::store::test_store();
        drop(store);
        let path = dir.path().join(crate::store::DB_FILE);
        let c = Connection::open(&path).unwrap();
        // Foreign keys off for this connection: a key of no account.
        c.execute_batch(
            "PRAGMA foreign_keys = OFF;
             INSERT INTO api_keys (id, account_id, scope, key_hash, prefix, created_at)
             VALUES ('key_x', 'acc_missing', 'auth', x'00', 'fsk_', 0);",
        )
        .unwrap();
        let r = check(dir.path()).unwrap();
        assert!(!r.ok);
        assert_eq!(r.foreign_key_violations[0].table, "api_keys");
        assert_eq!(r.foreign_key_violations[0].parent, "accounts");

        c.pragma_update(None, "user_version", 999).unwrap();
        let r = check(dir.path()).unwrap();
        assert!(r.problems.iter().any(|p| p.contains("newer")), "{r:?}");
        assert!(matches!(
            check(&dir.path().join("nowhere")),
            Err(OpsError::NoData(..))
        ));
    }
}
