use super::{from_ms, to_ms, Db, StoreError};
use crate::domain::PolicySpec;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

#[derive(Debug, Clone)]
pub struct PolicyRow {
    pub id: i64,
    pub name: String,
    pub spec: PolicySpec,
    pub builtin: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "id, name, spec, builtin, created_at, updated_at";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PolicyRow> {
    let spec: String = r.get(2)?;
    let spec = serde_json::from_str(&spec).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(2, rusqlite::types::Type::Text, Box::new(e))
    })?;
    Ok(PolicyRow {
        id: r.get(0)?,
        name: r.get(1)?,
        spec,
        builtin: r.get(3)?,
        created_at: from_ms(r.get(4)?),
        updated_at: from_ms(r.get(5)?),
    })
}

/// Parsed policies by their stored JSON. Parsing a policy with rules (CIDR
/// networks, time zones) takes tens of microseconds and every start reads
/// its system's policy; the JSON text is the key, so a changed policy is
/// simply another entry and nothing needs invalidating.
fn spec_cache() -> &'static Mutex<HashMap<String, Arc<PolicySpec>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<PolicySpec>>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

/// Entries kept before the cache starts over (policies are few and small).
const SPEC_CACHE_MAX: usize = 1024;

/// The policy stored as `json`, parsed once per distinct text.
pub(super) fn cached_spec(json: &str) -> Result<Arc<PolicySpec>, serde_json::Error> {
    let lock = || spec_cache().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(hit) = lock().get(json) {
        return Ok(hit.clone());
    }
    let spec: Arc<PolicySpec> = Arc::new(serde_json::from_str(json)?);
    let mut cache = lock();
    if cache.len() >= SPEC_CACHE_MAX {
        cache.clear();
    }
    cache.insert(json.to_string(), spec.clone());
    Ok(spec)
}

pub(super) fn spec_json(spec: &PolicySpec) -> String {
    serde_json::to_string(spec).unwrap_or_default()
}

impl Db<'_> {
    pub fn insert_policy(
        &self,
        account_id: &str,
        name: &str,
        spec: &PolicySpec,
        builtin: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO policies (account_id, name, spec, builtin, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            )?
            .execute(params![
                account_id,
                name,
                spec_json(spec),
                builtin,
                to_ms(now)
            ])?;
        Ok(())
    }

    pub fn policy(&self, account_id: &str, name: &str) -> Result<Option<PolicyRow>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM policies WHERE account_id = ?1 AND name = ?2"
            ))?
            .query_row(params![account_id, name], row)
            .optional()?)
    }

    pub fn policies(&self, account_id: &str) -> Result<Vec<PolicyRow>, StoreError> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT {COLS} FROM policies WHERE account_id = ?1 ORDER BY name"
        ))?;
        let rows = st.query_map([account_id], row)?.collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn update_policy(
        &self,
        account_id: &str,
        name: &str,
        spec: &PolicySpec,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE policies SET spec = ?3, updated_at = ?4 WHERE account_id = ?1 AND name = ?2",
            )?
            .execute(params![account_id, name, spec_json(spec), to_ms(now)])?;
        Ok(n > 0)
    }

    /// Names of the systems that use the policy.
    pub fn policy_users(
        &self,
        account_id: &str,
        policy_id: i64,
    ) -> Result<Vec<String>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT name FROM systems WHERE account_id = ?1 AND policy_id = ?2 ORDER BY name",
        )?;
        let rows = st
            .query_map(params![account_id, policy_id], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    pub fn delete_policy(&self, account_id: &str, name: &str) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached("DELETE FROM policies WHERE account_id = ?1 AND name = ?2")?
            .execute(params![account_id, name])?;
        Ok(n > 0)
    }
}
