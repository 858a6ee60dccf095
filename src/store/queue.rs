//! The outbox seen as a queue, for operators.

use super::{from_ms, Db, StoreError};
use chrono::{DateTime, Utc};

/// Messages per status and channel, and the oldest waiting one.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct QueueSummary {
    pub by_status_and_channel: Vec<QueueCount>,
    /// When the oldest message still queued or being sent was created.
    pub oldest_waiting: Option<DateTime<Utc>>,
    pub possible_duplicates: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct QueueCount {
    pub status: String,
    /// The channel of the last attempt; none before the first.
    pub channel: Option<String>,
    pub count: u64,
}

impl Db<'_> {
    pub fn queue_summary(&self) -> Result<QueueSummary, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT status, channel, count(*) FROM sms_outbox GROUP BY status, channel ORDER BY status, channel",
        )?;
        let by_status_and_channel = st
            .query_map([], |r| {
                Ok(QueueCount {
                    status: r.get(0)?,
                    channel: r.get(1)?,
                    count: r.get::<_, i64>(2)? as u64,
                })
            })?
            .collect::<Result<_, _>>()?;
        let oldest: Option<i64> = self
            .conn
            .prepare_cached(
                "SELECT min(created_at) FROM sms_outbox WHERE status IN ('queued', 'sending')",
            )?
            .query_row([], |r| r.get(0))?;
        let dups: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM sms_outbox WHERE possible_duplicate = 1")?
            .query_row([], |r| r.get(0))?;
        Ok(QueueSummary {
            by_status_and_channel,
            oldest_waiting: oldest.map(from_ms),
            possible_duplicates: dups as u64,
        })
    }
}

impl Db<'_> {
    /// At startup, messages a previous process was sending when it died go
    /// back to the queue at once instead of waiting for their lease (this
    /// process is the only sender of its database). Returns how many.
    pub fn requeue_interrupted(&self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "UPDATE sms_outbox SET status = 'queued', lease_until = NULL, next_attempt_at = ?1,
                        last_error = 'interrupted by a restart', possible_duplicate = 1, updated_at = ?1
                 WHERE status = 'sending'",
            )?
            .execute([super::to_ms(now)])?)
    }
}
