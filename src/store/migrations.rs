//! Embedded, numbered SQL migrations tracked by `PRAGMA user_version`.
//! A database newer than this binary is refused rather than guessed at.

use super::StoreError;
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_core.sql"),
    include_str!("migrations/0002_delivery.sql"),
    include_str!("migrations/0003_limits.sql"),
    include_str!("migrations/0004_attempts.sql"),
    include_str!("migrations/0005_context.sql"),
    include_str!("migrations/0006_admin.sql"),
];

pub fn run(conn: &mut Connection) -> Result<(), StoreError> {
    let current: usize =
        conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0))? as usize;
    if current > MIGRATIONS.len() {
        return Err(StoreError::TooNew {
            found: current,
            supported: MIGRATIONS.len(),
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "database migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrates_once_and_refuses_downgrade() {
        let mut c = Connection::open_in_memory().unwrap();
        run(&mut c).unwrap();
        run(&mut c).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        assert!(matches!(run(&mut c), Err(StoreError::TooNew { .. })));
    }
}
