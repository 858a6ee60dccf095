//! Operators of the admin UI, their sessions and one-time setup links.

use super::{from_ms, to_ms, Db, StoreError};
use crate::domain::OperatorRole;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

#[derive(Debug, Clone)]
pub struct OperatorRow {
    pub id: i64,
    pub username: String,
    /// argon2id PHC string; `None` until set through a setup link.
    pub password_hash: Option<String>,
    pub role: OperatorRole,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

/// A live session joined with its operator.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub operator: OperatorRow,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub revoked: bool,
}

#[derive(Debug, Clone)]
pub struct SetupTokenRow {
    /// `None`: the first operator, still to be named.
    pub operator_id: Option<i64>,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

const COLS: &str =
    "o.id, o.username, o.password_hash, o.role, o.account_id, o.disabled, o.created_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OperatorRow> {
    let role: String = r.get(3)?;
    let account: Option<String> = r.get(4)?;
    let role = match (role.as_str(), account) {
        ("account", Some(a)) => OperatorRole::Account(a),
        _ => OperatorRole::Appliance,
    };
    Ok(OperatorRow {
        id: r.get(0)?,
        username: r.get(1)?,
        password_hash: r.get(2)?,
        role,
        disabled: r.get(5)?,
        created_at: from_ms(r.get(6)?),
    })
}

impl Db<'_> {
    pub fn operator_count(&self) -> Result<i64, StoreError> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM operators")?
            .query_row([], |r| r.get(0))?)
    }

    /// Returns the new operator's id.
    pub fn insert_operator(
        &self,
        username: &str,
        password_hash: Option<&str>,
        role: &OperatorRole,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let account = match role {
            OperatorRole::Account(a) => Some(a.as_str()),
            OperatorRole::Appliance => None,
        };
        self.conn
            .prepare_cached(
                "INSERT INTO operators (username, password_hash, role, account_id, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )?
            .execute(params![username, password_hash, role.as_str(), account, to_ms(now)])?;
        Ok(self.conn.last_insert_rowid())
    }

    pub fn operator_by_name(&self, username: &str) -> Result<Option<OperatorRow>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM operators o WHERE o.username = ?1"
            ))?
            .query_row([username], row)
            .optional()?)
    }

    pub fn operator_by_id(&self, id: i64) -> Result<Option<OperatorRow>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {COLS} FROM operators o WHERE o.id = ?1"))?
            .query_row([id], row)
            .optional()?)
    }

    /// Every operator, or one account's.
    pub fn operators(&self, account_id: Option<&str>) -> Result<Vec<OperatorRow>, StoreError> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {COLS} FROM operators o
             WHERE ?1 IS NULL OR o.account_id = ?1 ORDER BY o.username"
        ))?;
        let rows = st.query_map([account_id], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn set_operator_password(
        &self,
        id: i64,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE operators SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
            )?
            .execute(params![id, hash, to_ms(now)])?;
        Ok(())
    }

    pub fn insert_session(
        &self,
        id_hash: &[u8; 32],
        operator_id: i64,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO operator_sessions (id_hash, operator_id, created_at, last_seen_at)
                 VALUES (?1, ?2, ?3, ?3)",
            )?
            .execute(params![&id_hash[..], operator_id, to_ms(now)])?;
        Ok(())
    }

    pub fn session(&self, id_hash: &[u8; 32]) -> Result<Option<SessionRow>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLS}, s.created_at, s.last_seen_at, s.revoked_at IS NOT NULL
                 FROM operator_sessions s JOIN operators o ON o.id = s.operator_id
                 WHERE s.id_hash = ?1"
            ))?
            .query_row([&id_hash[..]], |r| {
                Ok(SessionRow {
                    operator: row(r)?,
                    created_at: from_ms(r.get(7)?),
                    last_seen_at: from_ms(r.get(8)?),
                    revoked: r.get(9)?,
                })
            })
            .optional()?)
    }

    pub fn touch_session(&self, id_hash: &[u8; 32], now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE operator_sessions SET last_seen_at = ?2 WHERE id_hash = ?1")?
            .execute(params![&id_hash[..], to_ms(now)])?;
        Ok(())
    }

    pub fn revoke_session(&self, id_hash: &[u8; 32], now: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE operator_sessions SET revoked_at = ?2
                 WHERE id_hash = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![&id_hash[..], to_ms(now)])?;
        Ok(())
    }

    pub fn insert_setup_token(
        &self,
        token_hash: &[u8; 32],
        operator_id: Option<i64>,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO setup_tokens (token_hash, operator_id, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![
                &token_hash[..],
                operator_id,
                to_ms(now),
                to_ms(expires_at)
            ])?;
        Ok(())
    }

    pub fn setup_token(&self, token_hash: &[u8; 32]) -> Result<Option<SetupTokenRow>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT operator_id, expires_at, used_at IS NOT NULL FROM setup_tokens
                 WHERE token_hash = ?1",
            )?
            .query_row([&token_hash[..]], |r| {
                Ok(SetupTokenRow {
                    operator_id: r.get(0)?,
                    expires_at: from_ms(r.get(1)?),
                    used: r.get(2)?,
                })
            })
            .optional()?)
    }

    /// Marks the token used; false if it already was (a race lost).
    pub fn use_setup_token(
        &self,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE setup_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL",
            )?
            .execute(params![&token_hash[..], to_ms(now)])?;
        Ok(n == 1)
    }
}
