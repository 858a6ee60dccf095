use super::users::{self, UserRow, U_COLS};
use super::{to_ms, Db, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::params;

impl Db<'_> {
    /// Grants access; returns false if the grant already existed.
    pub fn put_grant(
        &self,
        system_id: i64,
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "INSERT OR IGNORE INTO grants (system_id, user_id, created_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![system_id, user_id, to_ms(now)])?;
        Ok(n > 0)
    }

    pub fn delete_grant(&self, system_id: i64, user_id: i64) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM grants WHERE system_id = ?1 AND user_id = ?2")?
            .execute(params![system_id, user_id])?;
        Ok(n > 0)
    }

    pub fn has_grant(&self, system_id: i64, user_id: i64) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM grants WHERE system_id = ?1 AND user_id = ?2)",
            )?
            .query_row(params![system_id, user_id], |r| r.get(0))?)
    }

    /// Users granted access to a system of the account, by email.
    pub fn granted_users(
        &self,
        account_id: &str,
        system_id: i64,
    ) -> Result<Vec<UserRow>, StoreError> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {U_COLS} FROM grants g JOIN users u ON u.id = g.user_id
             WHERE g.system_id = ?1 AND u.account_id = ?2 ORDER BY u.email"
        ))?;
        let users = st
            .query_map(params![system_id, account_id], users::row)?
            .collect::<Result<_, _>>()?;
        Ok(users)
    }

    /// The systems of the account a user may log in to, by name.
    pub fn user_systems(&self, account_id: &str, user_id: i64) -> Result<Vec<String>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT s.name FROM grants g JOIN systems s ON s.id = g.system_id
             WHERE g.user_id = ?1 AND s.account_id = ?2 ORDER BY s.name",
        )?;
        let names = st
            .query_map(params![user_id, account_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(names)
    }
}
