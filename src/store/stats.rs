//! Counts for the admin dashboard, per account, over a recent window.

use super::{from_ms, to_ms, Db, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::params;

/// Logins started in one hour with one final or current status.
#[derive(Debug, Clone)]
pub struct HourCount {
    pub hour: DateTime<Utc>,
    pub status: String,
    pub count: u64,
}

/// SMS of the account by channel (none before the first attempt) and status.
#[derive(Debug, Clone)]
pub struct SmsCount {
    pub channel: Option<String>,
    pub status: String,
    pub count: u64,
}

/// One login for the dashboard's list.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecentLogin {
    pub request_id: String,
    pub email: String,
    pub system: String,
    pub status: String,
    pub matched_rule: Option<String>,
    pub created_at: DateTime<Utc>,
}

const HOUR_MS: i64 = 3_600_000;

impl Db<'_> {
    pub fn logins_per_hour(
        &self,
        account_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<HourCount>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT (created_at / ?3) * ?3 AS h, status, count(*) FROM challenges
             WHERE account_id = ?1 AND created_at >= ?2
             GROUP BY h, status ORDER BY h",
        )?;
        let rows = st.query_map(params![account_id, to_ms(since), HOUR_MS], |r| {
            Ok(HourCount {
                hour: from_ms(r.get(0)?),
                status: r.get(1)?,
                count: r.get::<_, i64>(2)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn sms_counts(
        &self,
        account_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<SmsCount>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT channel, status, count(*) FROM sms_outbox
             WHERE account_id = ?1 AND created_at >= ?2
             GROUP BY channel, status ORDER BY channel, status",
        )?;
        let rows = st.query_map(params![account_id, to_ms(since)], |r| {
            Ok(SmsCount {
                channel: r.get(0)?,
                status: r.get(1)?,
                count: r.get::<_, i64>(2)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// SMS of the account still waiting to go out.
    pub fn queue_depth(&self, account_id: &str) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM sms_outbox
                 WHERE account_id = ?1 AND status IN ('queued', 'sending')",
            )?
            .query_row([account_id], |r| r.get(0))?;
        Ok(n as u64)
    }

    pub fn recent_logins(
        &self,
        account_id: &str,
        limit: u32,
    ) -> Result<Vec<RecentLogin>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, email, system_name, status, matched_rule, created_at FROM challenges
             WHERE account_id = ?1 ORDER BY created_at DESC LIMIT ?2",
        )?;
        let rows = st.query_map(params![account_id, limit], |r| {
            Ok(RecentLogin {
                request_id: r.get(0)?,
                email: r.get(1)?,
                system: r.get(2)?,
                status: r.get(3)?,
                matched_rule: r.get(4)?,
                created_at: from_ms(r.get(5)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
