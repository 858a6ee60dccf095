use super::{from_ms, to_ms, Db, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The two login calls and status polling.
    Auth,
    /// Configuration: policies, systems, users, grants, usage.
    Manage,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Auth => "auth",
            Scope::Manage => "manage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "auth" => Some(Scope::Auth),
            "manage" => Some(Scope::Manage),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    pub id: String,
    pub account_id: String,
    pub scope: Scope,
    pub prefix: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const COLS: &str = "id, account_id, scope, prefix, created_at, revoked_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiKeyRow> {
    let scope: String = r.get(2)?;
    Ok(ApiKeyRow {
        id: r.get(0)?,
        account_id: r.get(1)?,
        scope: Scope::parse(&scope).unwrap_or(Scope::Auth),
        prefix: r.get(3)?,
        created_at: from_ms(r.get(4)?),
        revoked_at: r.get::<_, Option<i64>>(5)?.map(from_ms),
    })
}

impl Db<'_> {
    pub fn insert_api_key(
        &self,
        id: &str,
        account_id: &str,
        scope: Scope,
        key_hash: &[u8; 32],
        prefix: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO api_keys (id, account_id, scope, key_hash, prefix, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                id,
                account_id,
                scope.as_str(),
                &key_hash[..],
                prefix,
                to_ms(now)
            ])?;
        Ok(())
    }

    /// The live (not revoked) key with this SHA-256.
    pub fn api_key_by_hash(&self, key_hash: &[u8; 32]) -> Result<Option<ApiKeyRow>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL"
            ))?
            .query_row([&key_hash[..]], row)
            .optional()?)
    }

    pub fn api_keys(&self, account_id: &str) -> Result<Vec<ApiKeyRow>, StoreError> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {COLS} FROM api_keys WHERE account_id = ?1 ORDER BY created_at, id"
        ))?;
        let rows = st.query_map([account_id], row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Revokes a key; returns the key as it now is, or None if unknown.
    pub fn revoke_api_key(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<ApiKeyRow>, StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE api_keys SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![id, to_ms(now)])?;
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {COLS} FROM api_keys WHERE id = ?1"))?
            .query_row([id], row)
            .optional()?)
    }
}
