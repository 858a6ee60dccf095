use super::{from_ms, hash32, to_ms, Db, StoreError};
use crate::domain::{Challenge, ChallengeStatus, DecoyReason, Factor, MatchCode};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

const COLS: &str =
    "id, account_id, email, system_id, system_name, user_id, decoy_reason, status, policy,
    step_index, amr, secret_hash, secret_expires_at, attempts, sms_count, last_sms_at, context,
    created_at, completed_at, matched_rule, acr, device_id, session_id, match_code, page_approved";

/// When a login was approved and with which factors.
pub type LastLogin = (DateTime<Utc>, Vec<Factor>);

fn corrupt(col: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(e))
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Challenge> {
    let status: String = r.get(7)?;
    let policy: String = r.get(8)?;
    let amr: String = r.get(10)?;
    Ok(Challenge {
        id: r.get(0)?,
        account_id: r.get(1)?,
        email: r.get(2)?,
        system_id: r.get(3)?,
        system_name: r.get(4)?,
        user_id: r.get(5)?,
        decoy: r
            .get::<_, Option<String>>(6)?
            .as_deref()
            .and_then(DecoyReason::parse),
        status: ChallengeStatus::parse(&status)
            .ok_or_else(|| corrupt(7, StoreError::Corrupt(format!("challenge status {status}"))))?,
        policy: serde_json::from_str(&policy).map_err(|e| corrupt(8, e))?,
        step_index: r.get::<_, i64>(9)? as usize,
        amr: serde_json::from_str::<Vec<Factor>>(&amr).map_err(|e| corrupt(10, e))?,
        secret_hash: hash32(r.get(11)?),
        secret_expires_at: from_ms(r.get(12)?),
        attempts: r.get(13)?,
        sms_count: r.get(14)?,
        last_sms_at: r.get::<_, Option<i64>>(15)?.map(from_ms),
        context: r.get(16)?,
        created_at: from_ms(r.get(17)?),
        completed_at: r.get::<_, Option<i64>>(18)?.map(from_ms),
        matched_rule: r.get(19)?,
        acr: r.get(20)?,
        device_id: r.get(21)?,
        session_id: r.get(22)?,
        match_code: r
            .get::<_, Option<String>>(23)?
            .as_deref()
            .and_then(MatchCode::from_db),
        page_approved: r.get(24)?,
    })
}

impl Db<'_> {
    pub fn insert_challenge(&self, c: &Challenge) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(&format!(
                "INSERT INTO challenges ({COLS}, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
                         ?20, ?21, ?22, ?23, ?24, ?25, ?18)"
            ))?
            .execute(params![
                c.id,
                c.account_id,
                c.email,
                c.system_id,
                c.system_name,
                c.user_id,
                c.decoy.map(|d| d.as_str()),
                c.status.as_str(),
                serde_json::to_string(&c.policy).unwrap_or_default(),
                c.step_index as i64,
                serde_json::to_string(&c.amr).unwrap_or_default(),
                c.secret_hash.as_ref().map(|h| &h[..]),
                to_ms(c.secret_expires_at),
                c.attempts,
                c.sms_count,
                c.last_sms_at.map(to_ms),
                c.context,
                to_ms(c.created_at),
                c.completed_at.map(to_ms),
                c.matched_rule,
                c.acr,
                c.device_id,
                c.session_id,
                c.match_code.map(MatchCode::to_db),
                c.page_approved,
            ])?;
        Ok(())
    }

    /// Writes back the fields that change after a start.
    pub fn update_challenge(
        &self,
        c: &Challenge,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE challenges SET status = ?3, step_index = ?4, amr = ?5, secret_hash = ?6,
                        secret_expires_at = ?7, attempts = ?8, sms_count = ?9, last_sms_at = ?10,
                        completed_at = ?11, updated_at = ?12, match_code = ?13,
                        page_approved = ?14
                 WHERE account_id = ?1 AND id = ?2",
            )?
            .execute(params![
                c.account_id,
                c.id,
                c.status.as_str(),
                c.step_index as i64,
                serde_json::to_string(&c.amr).unwrap_or_default(),
                c.secret_hash.as_ref().map(|h| &h[..]),
                to_ms(c.secret_expires_at),
                c.attempts,
                c.sms_count,
                c.last_sms_at.map(to_ms),
                c.completed_at.map(to_ms),
                to_ms(now),
                c.match_code.map(MatchCode::to_db),
                c.page_approved,
            ])?;
        Ok(())
    }

    pub fn challenge(&self, account_id: &str, id: &str) -> Result<Option<Challenge>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM challenges WHERE account_id = ?1 AND id = ?2"
            ))?
            .query_row(params![account_id, id], row)
            .optional()?)
    }

    /// The newest challenge of this user for this system, whatever its status.
    pub fn latest_challenge(
        &self,
        account_id: &str,
        email: &str,
        system_name: &str,
    ) -> Result<Option<Challenge>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM challenges
                 WHERE account_id = ?1 AND email = ?2 AND system_name = ?3
                 ORDER BY created_at DESC LIMIT 1"
            ))?
            .query_row(params![account_id, email, system_name], row)
            .optional()?)
    }

    /// The challenge whose live secret has this keyed hash (link look-up).
    pub fn challenge_by_secret(
        &self,
        secret_hash: &[u8; 32],
    ) -> Result<Option<Challenge>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM challenges WHERE secret_hash = ?1"
            ))?
            .query_row([&secret_hash[..]], row)
            .optional()?)
    }

    /// When the user last logged in to this system, approved, and with
    /// which factors (`recent_auth`).
    pub fn last_approved_login(
        &self,
        user_id: i64,
        system_id: i64,
    ) -> Result<Option<LastLogin>, StoreError> {
        let found = self
            .conn
            .prepare_cached(
                "SELECT completed_at, amr FROM challenges
                 WHERE user_id = ?1 AND system_id = ?2 AND status = 'approved'
                 ORDER BY completed_at DESC LIMIT 1",
            )?
            .query_row(params![user_id, system_id], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
            })
            .optional()?;
        let Some((at, amr)) = found else {
            return Ok(None);
        };
        let amr = serde_json::from_str(&amr)
            .map_err(|e| StoreError::Corrupt(format!("challenge amr: {e}")))?;
        Ok(Some((from_ms(at), amr)))
    }

    /// Whether this device appears in an approved login of the user (`new_device`).
    pub fn device_seen(&self, user_id: i64, device_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT 1 FROM challenges
                 WHERE user_id = ?1 AND device_id = ?2 AND status = 'approved' LIMIT 1",
            )?
            .exists(params![user_id, device_id])?)
    }

    /// A wrong PIN, link or match pick (`recent_failures_at_least`).
    pub fn record_auth_failure(&self, user_id: i64, at: DateTime<Utc>) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT INTO auth_failures (user_id, at) VALUES (?1, ?2)")?
            .execute(params![user_id, to_ms(at)])?;
        Ok(())
    }

    /// The newest failures of the user since `since`, at most `limit`.
    pub fn failures_since(
        &self,
        user_id: i64,
        since: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at FROM auth_failures WHERE user_id = ?1 AND at > ?2
             ORDER BY at DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![user_id, to_ms(since), limit], |r| {
            r.get::<_, i64>(0)
        })?;
        let mut out = Vec::new();
        for at in rows {
            out.push(from_ms(at?));
        }
        Ok(out)
    }
}
