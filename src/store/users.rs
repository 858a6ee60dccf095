use super::{from_ms, to_ms, Db, StoreError};
use crate::domain::LOCKOUT_THRESHOLD;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub phone: String,
    pub name: String,
    pub enabled: bool,
    pub failed_count: u32,
    pub locked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Group names, already checked (`domain::Groups`), in the order given.
    pub groups: Vec<String>,
}

/// The fields a client may change; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub phone: Option<String>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// Replaces the whole list.
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct UserPage {
    pub users: Vec<UserRow>,
    /// The last email of this page when more may follow.
    pub next_after: Option<String>,
}

const COLS: &str =
    "id, email, phone, name, enabled, failed_count, locked_at, created_at, updated_at, groups";
/// The same columns through the alias `u`, for joins.
pub(super) const U_COLS: &str =
    "u.id, u.email, u.phone, u.name, u.enabled, u.failed_count, u.locked_at, u.created_at, u.updated_at, u.groups";

pub(super) fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    let groups: String = r.get(9)?;
    let groups = serde_json::from_str::<Vec<String>>(&groups).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(9, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(UserRow {
        id: r.get(0)?,
        email: r.get(1)?,
        phone: r.get(2)?,
        name: r.get(3)?,
        enabled: r.get(4)?,
        failed_count: r.get(5)?,
        locked_at: r.get::<_, Option<i64>>(6)?.map(from_ms),
        created_at: from_ms(r.get(7)?),
        updated_at: from_ms(r.get(8)?),
        groups,
    })
}

/// The stored form of a group list: a JSON array of names.
fn groups_json(groups: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(groups).map_err(|e| StoreError::Task(format!("groups: {e}")))
}

/// Escapes `%`, `_` and `\` for a LIKE pattern with `ESCAPE '\'`.
fn like_pattern(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    p.push('%');
    for c in q.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

impl Db<'_> {
    #[allow(clippy::too_many_arguments)]
    pub fn insert_user(
        &self,
        account_id: &str,
        email: &str,
        phone: &str,
        name: &str,
        enabled: bool,
        groups: &[String],
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO users (account_id, email, phone, name, enabled, created_at, updated_at, groups)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
            )?
            .execute(params![
                account_id,
                email,
                phone,
                name,
                enabled,
                to_ms(now),
                groups_json(groups)?
            ])?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn user(&self, account_id: &str, email: &str) -> Result<Option<UserRow>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM users WHERE account_id = ?1 AND email = ?2"
            ))?
            .query_row(params![account_id, email], row)
            .optional()?)
    }

    pub fn user_by_id(&self, account_id: &str, id: i64) -> Result<Option<UserRow>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM users WHERE account_id = ?1 AND id = ?2"
            ))?
            .query_row(params![account_id, id], row)
            .optional()?)
    }

    /// One page of users ordered by email, after `after`, optionally
    /// filtered by a substring of email or name.
    pub fn users_page(
        &self,
        account_id: &str,
        q: Option<&str>,
        after: Option<&str>,
        limit: u32,
    ) -> Result<UserPage, StoreError> {
        let pattern = q.map(like_pattern);
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {COLS} FROM users
             WHERE account_id = ?1
               AND email > coalesce(?2, '')
               AND (?3 IS NULL OR email LIKE ?3 ESCAPE '\\' OR name LIKE ?3 ESCAPE '\\')
             ORDER BY email LIMIT ?4"
        ))?;
        let mut users: Vec<UserRow> = st
            .query_map(params![account_id, after, pattern, limit as i64 + 1], row)?
            .collect::<Result<_, _>>()?;
        let more = users.len() > limit as usize;
        users.truncate(limit as usize);
        let next_after = if more {
            users.last().map(|u| u.email.clone())
        } else {
            None
        };
        Ok(UserPage { users, next_after })
    }

    pub fn update_user(
        &self,
        account_id: &str,
        email: &str,
        upd: &UserUpdate,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let groups = upd.groups.as_deref().map(groups_json).transpose()?;
        let n = self
            .conn
            .prepare_cached(
                "UPDATE users SET phone = coalesce(?3, phone), name = coalesce(?4, name),
                        enabled = coalesce(?5, enabled), updated_at = ?6,
                        groups = coalesce(?7, groups)
                 WHERE account_id = ?1 AND email = ?2",
            )?
            .execute(params![
                account_id,
                email,
                upd.phone,
                upd.name,
                upd.enabled,
                to_ms(now),
                groups
            ])?;
        Ok(n > 0)
    }

    pub fn delete_user(&self, account_id: &str, email: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM users WHERE account_id = ?1 AND email = ?2")?
            .execute(params![account_id, email])?;
        Ok(n > 0)
    }

    /// Counts one more consecutive failure; locks the user at the threshold.
    /// Returns true when this failure locked the user.
    pub fn record_user_failure(
        &self,
        account_id: &str,
        user_id: i64,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let locked: bool = self
            .conn
            .prepare_cached(
                "UPDATE users SET failed_count = failed_count + 1,
                        locked_at = CASE WHEN locked_at IS NULL AND failed_count + 1 >= ?3 THEN ?4 ELSE locked_at END
                 WHERE account_id = ?1 AND id = ?2
                 RETURNING locked_at = ?4",
            )?
            .query_row(params![account_id, user_id, LOCKOUT_THRESHOLD, to_ms(now)], |r| {
                Ok(r.get::<_, Option<bool>>(0)?.unwrap_or(false))
            })
            .optional()?
            .unwrap_or(false);
        Ok(locked)
    }

    /// A success ends the run of consecutive failures.
    pub fn reset_user_failures(&self, account_id: &str, user_id: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE users SET failed_count = 0 WHERE account_id = ?1 AND id = ?2 AND failed_count <> 0")?
            .execute(params![account_id, user_id])?;
        Ok(())
    }

    pub fn unlock_user(
        &self,
        account_id: &str,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE users SET failed_count = 0, locked_at = NULL, updated_at = ?3
                 WHERE account_id = ?1 AND email = ?2",
            )?
            .execute(params![account_id, email, to_ms(now)])?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;

    #[test]
    fn paging_filter_and_lockout() {
        let (_d, store) = test_store();
        let now = Utc::now();
        store
            .write_blocking(move |db| {
                db.insert_account("acc_a", "A", now)?;
                db.insert_account("acc_b", "B", now)?;
                for i in 0..25 {
                    db.insert_user(
                        "acc_a",
                        &format!("u{i:02}@x.ch"),
                        "+41790000000",
                        "",
                        true,
                        &[],
                        now,
                    )?;
                }
                db.insert_user(
                    "acc_a",
                    "under_score@x.ch",
                    "+41790000000",
                    "Zoë",
                    true,
                    &["staff".to_string()],
                    now,
                )?;
                db.insert_user("acc_b", "u00@x.ch", "+41790000000", "", true, &[], now)?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        store
            .read_blocking(|db| {
                let p1 = db.users_page("acc_a", None, None, 10)?;
                assert_eq!(p1.users.len(), 10);
                let p3 = db.users_page("acc_a", None, Some("u19@x.ch"), 10)?;
                assert_eq!(p3.users.len(), 6);
                assert!(p3.next_after.is_none());
                assert_eq!(db.users_page("acc_a", Some("_"), None, 50)?.users.len(), 1);
                assert_eq!(
                    db.users_page("acc_a", Some("zoë"), None, 50)?.users.len(),
                    1
                );
                assert_eq!(db.users_page("acc_b", None, None, 50)?.users.len(), 1);
                Ok::<_, StoreError>(())
            })
            .unwrap();
        let locked = store
            .write_blocking(move |db| {
                let id = db.user("acc_a", "u00@x.ch")?.unwrap().id;
                let mut locked_at = None;
                for i in 0..LOCKOUT_THRESHOLD {
                    if db.record_user_failure("acc_a", id, now)? {
                        locked_at = Some(i + 1);
                    }
                }
                Ok::<_, StoreError>(locked_at)
            })
            .unwrap();
        assert_eq!(locked, Some(LOCKOUT_THRESHOLD));
    }

    #[test]
    fn groups_are_written_kept_replaced_and_checked_on_read() {
        let (_d, store) = test_store();
        let now = Utc::now();
        let groups = vec!["Staff".to_string(), "ops".to_string()];
        let read = store
            .write_blocking(move |db| {
                db.insert_account("acc_a", "A", now)?;
                db.insert_user("acc_a", "a@x.ch", "+41790000000", "", true, &groups, now)?;
                let created = db.user("acc_a", "a@x.ch")?.unwrap().groups;
                let kept = UserUpdate {
                    name: Some("Ann".into()),
                    ..UserUpdate::default()
                };
                db.update_user("acc_a", "a@x.ch", &kept, now)?;
                let after_keep = db.user("acc_a", "a@x.ch")?.unwrap().groups;
                let cleared = UserUpdate {
                    groups: Some(Vec::new()),
                    ..UserUpdate::default()
                };
                db.update_user("acc_a", "a@x.ch", &cleared, now)?;
                let after_clear = db.user("acc_a", "a@x.ch")?.unwrap().groups;
                db.conn.execute(
                    "UPDATE users SET groups = '{not json' WHERE email = 'a@x.ch'",
                    [],
                )?;
                let corrupt = db.user("acc_a", "a@x.ch").map(|_| ());
                Ok::<_, StoreError>((created, after_keep, after_clear, corrupt))
            })
            .unwrap();
        assert_eq!(read.0, vec!["Staff", "ops"]);
        assert_eq!(read.1, vec!["Staff", "ops"], "None keeps the groups");
        assert!(read.2.is_empty());
        assert!(
            matches!(
                read.3,
                Err(StoreError::Sqlite(
                    rusqlite::Error::FromSqlConversionFailure(9, ..)
                ))
            ),
            "{:?}",
            read.3
        );
    }
}
