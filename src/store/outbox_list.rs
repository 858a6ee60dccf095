//! The outbox as a list, newest first, for the admin UI and the API: no
//! body (it is sealed and holds secrets), only what happened to it.

use super::{from_ms, Db, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::params;

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct OutboxListRow {
    pub id: i64,
    /// The login it belongs to (none for other messages).
    pub request_id: Option<String>,
    pub to: String,
    /// queued, sending, sent, failed, expired
    pub status: String,
    pub attempts: u32,
    pub channel: Option<String>,
    /// The delivery report, when one came.
    pub delivery: Option<String>,
    pub last_error: Option<String>,
    /// Another channel may have sent it too (an earlier outcome was unknown).
    pub possible_duplicate: bool,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl Db<'_> {
    /// One account's messages, newest first, optionally of one status,
    /// older than `before` (an id) for the next page.
    pub fn outbox_page(
        &self,
        account_id: &str,
        status: Option<&str>,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<OutboxListRow>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, challenge_id, to_phone, status, attempts, channel, delivery, last_error,
                    possible_duplicate, created_at, sent_at
             FROM sms_outbox
             WHERE account_id = ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR id < ?3)
             ORDER BY id DESC LIMIT ?4",
        )?;
        let rows = st.query_map(params![account_id, status, before, limit], |r| {
            Ok(OutboxListRow {
                id: r.get(0)?,
                request_id: r.get(1)?,
                to: r.get(2)?,
                status: r.get(3)?,
                attempts: r.get(4)?,
                channel: r.get(5)?,
                delivery: r.get(6)?,
                last_error: r.get(7)?,
                possible_duplicate: r.get(8)?,
                created_at: from_ms(r.get(9)?),
                sent_at: r.get::<_, Option<i64>>(10)?.map(from_ms),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
