//! A logical dump of a database: the schema and every table's rows in a
//! fixed order, as text. Two databases with the same dump hold the same
//! data, whatever their pages look like: how backups are compared.

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Reads `db` inside one read transaction (consistent beside a live
/// writer), never writing. Blocking.
pub fn logical_dump(db: &Path) -> rusqlite::Result<String> {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    c.pragma_update(None, "query_only", "ON")?;
    c.execute_batch("BEGIN")?;
    let version: i64 = c.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let mut out = format!("user_version {version}\n");
    let objects: Vec<(String, String, Option<String>)> = c
        .prepare("SELECT type, name, sql FROM sqlite_schema ORDER BY type, name")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (kind, name, sql) in &objects {
        out.push_str(&format!("{kind} {name}: {sql:?}\n"));
        if kind != "table" || (name.starts_with("sqlite_") && name != "sqlite_sequence") {
            continue;
        }
        let n = c
            .prepare(&format!("SELECT * FROM \"{name}\""))?
            .column_count();
        let order: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
        let mut stmt = c.prepare(&format!(
            "SELECT * FROM \"{name}\" ORDER BY {}",
            order.join(",")
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let mut cells = Vec::with_capacity(n);
            for i in 0..n {
                cells.push(match r.get_ref(i)? {
                    ValueRef::Null => "NULL".into(),
                    ValueRef::Integer(v) => v.to_string(),
                    ValueRef::Real(v) => v.to_string(),
                    ValueRef::Text(t) => format!("{:?}", String::from_utf8_lossy(t)),
                    ValueRef::Blob(b) => format!("x'{}'", hex::encode(b)),
                });
            }
            out.push_str(&format!("  {name}: {}\n", cells.join("|")));
        }
    }
    c.execute_batch("COMMIT")?;
    Ok(out)
}
