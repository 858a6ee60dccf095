use super::{from_ms, to_ms, Db, StoreError};
use crate::domain::PolicySpec;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

#[derive(Debug, Clone)]
pub struct SystemRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub policy_name: String,
    /// Shared: parsed once per distinct stored text.
    pub policy: std::sync::Arc<PolicySpec>,
    pub link_url: Option<String>,
    /// 0 (routine) to 3 (most sensitive), checked by `domain::Sensitivity`.
    pub sensitivity: u8,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The writable fields of a system.
#[derive(Debug, Clone, Copy)]
pub struct SystemFields<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub policy_id: i64,
    pub link_url: Option<&'a str>,
    /// 0 to 3 (the column's CHECK refuses anything else).
    pub sensitivity: u8,
}

const SELECT: &str =
    "SELECT s.id, s.name, s.description, p.name, p.spec, s.link_url, s.created_at, s.updated_at,
            s.sensitivity
     FROM systems s JOIN policies p ON p.id = s.policy_id";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SystemRow> {
    let spec: String = r.get(4)?;
    let policy = super::policies::cached_spec(&spec).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(SystemRow {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        policy_name: r.get(3)?,
        policy,
        link_url: r.get(5)?,
        created_at: from_ms(r.get(6)?),
        updated_at: from_ms(r.get(7)?),
        sensitivity: r.get(8)?,
    })
}

impl Db<'_> {
    pub fn insert_system(
        &self,
        account_id: &str,
        s: &SystemFields<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO systems (account_id, name, description, policy_id, link_url, created_at, updated_at,
                                      sensitivity)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7)",
            )?
            .execute(params![
                account_id,
                s.name,
                s.description,
                s.policy_id,
                s.link_url,
                to_ms(now),
                s.sensitivity
            ])?;
        Ok(())
    }

    pub fn system(&self, account_id: &str, name: &str) -> Result<Option<SystemRow>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!("{SELECT} WHERE s.account_id = ?1 AND s.name = ?2"))?
            .query_row(params![account_id, name], row)
            .optional()?)
    }

    pub fn systems(&self, account_id: &str) -> Result<Vec<SystemRow>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached(&format!("{SELECT} WHERE s.account_id = ?1 ORDER BY s.name"))?;
        let rows = st.query_map([account_id], row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Writes every field of a system (read it, change it, write it back).
    pub fn update_system(
        &self,
        account_id: &str,
        id: i64,
        s: &SystemFields<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE systems SET name = ?3, description = ?4, policy_id = ?5, link_url = ?6, updated_at = ?7,
                        sensitivity = ?8
                 WHERE account_id = ?1 AND id = ?2",
            )?
            .execute(params![
                account_id,
                id,
                s.name,
                s.description,
                s.policy_id,
                s.link_url,
                to_ms(now),
                s.sensitivity
            ])?;
        Ok(())
    }

    pub fn delete_system(&self, account_id: &str, name: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM systems WHERE account_id = ?1 AND name = ?2")?
            .execute(params![account_id, name])?;
        Ok(n > 0)
    }
}
