use super::{from_ms, to_ms, Db, StoreError};
use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, OptionalExtension};

/// How long a report that overtook its send is kept.
const UNMATCHED_KEPT: Duration = Duration::minutes(10);

/// A message claimed for sending (its body still sealed).
#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub account_id: String,
    pub to_phone: String,
    pub body: Option<Vec<u8>>,
    pub not_after: Option<DateTime<Utc>>,
    pub attempts: u32,
}

/// What a final state records besides the status.
struct Finish<'a> {
    channel: Option<&'a str>,
    error: Option<&'a str>,
    provider_id: Option<&'a str>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    pub queued: u64,
    pub sending: u64,
    pub sent: u64,
    pub failed: u64,
    pub expired: u64,
    pub unknown: u64,
}

impl Db<'_> {
    pub fn enqueue_sms(
        &self,
        account_id: &str,
        challenge_id: Option<&str>,
        to_phone: &str,
        sealed_body: &[u8],
        not_after: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO sms_outbox (account_id, challenge_id, to_phone, body, status, not_after,
                                         next_attempt_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?6, ?6)",
            )?
            .execute(params![account_id, challenge_id, to_phone, sealed_body, not_after.map(to_ms), to_ms(now)])?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Claims up to `limit` due messages for `lease`: queued ones whose time
    /// has come and sending ones whose lease ran out (a crash mid-send).
    pub fn claim_sms(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let now_ms = to_ms(now);
        let mut st = self.conn.prepare_cached(
            "UPDATE sms_outbox SET possible_duplicate = CASE WHEN status = 'sending' THEN 1 ELSE possible_duplicate END,
                    status = 'sending', lease_until = ?2, attempts = attempts + 1, updated_at = ?1
             WHERE id IN (SELECT id FROM sms_outbox
                          WHERE (status = 'queued' AND next_attempt_at <= ?1)
                             OR (status = 'sending' AND lease_until <= ?1)
                          ORDER BY next_attempt_at LIMIT ?3)
             RETURNING id, account_id, to_phone, body, not_after, attempts",
        )?;
        let rows = st
            .query_map(params![now_ms, to_ms(now + lease), limit], |r| {
                Ok(OutboxRow {
                    id: r.get(0)?,
                    account_id: r.get(1)?,
                    to_phone: r.get(2)?,
                    body: r.get(3)?,
                    not_after: r.get::<_, Option<i64>>(4)?.map(from_ms),
                    attempts: r.get(5)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// A final state: the body (which may hold a secret) is dropped.
    fn finish_sms(
        &self,
        id: i64,
        status: &str,
        f: Finish<'_>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE sms_outbox SET status = ?2, body = NULL, lease_until = NULL, channel = coalesce(?3, channel),
                        last_error = ?4, provider_id = coalesce(?5, provider_id), updated_at = ?6,
                        sent_at = CASE WHEN ?2 IN ('sent', 'unknown') THEN ?6 ELSE sent_at END
                 WHERE id = ?1",
            )?
            .execute(params![id, status, f.channel, f.error, f.provider_id, to_ms(now)])?;
        Ok(())
    }

    pub fn mark_sms_sent(
        &self,
        id: i64,
        channel: &str,
        provider_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let f = Finish {
            channel: Some(channel),
            error: None,
            provider_id,
        };
        self.finish_sms(id, "sent", f, now)?;
        if let Some(pid) = provider_id {
            // A report that came in before this record: apply it now.
            let early: Vec<bool> = self
                .conn
                .prepare_cached(
                    "DELETE FROM sms_reports_unmatched
                     WHERE channel = ?1 AND provider_id = ?2 AND received_at >= ?3
                     RETURNING delivered",
                )?
                .query_map(params![channel, pid, to_ms(now - UNMATCHED_KEPT)], |r| {
                    r.get(0)
                })?
                .collect::<Result<_, _>>()?;
            if let Some(delivered) = early.last() {
                self.record_delivery(channel, pid, *delivered, now)?;
            }
        }
        Ok(())
    }

    /// The channel took the message but could not say whether it went out
    /// (a modem that fell silent after the text was handed over).
    pub fn mark_sms_unknown(
        &self,
        id: i64,
        channel: &str,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let f = Finish {
            channel: Some(channel),
            error: Some(error),
            provider_id: None,
        };
        self.finish_sms(id, "unknown", f, now)
    }

    /// Records a delivery report for the newest message the channel sent
    /// under this id that has no report yet (a modem's TP-MR wraps at 256).
    /// A report that overtook the record of its send (a modem may answer
    /// `+CMGS` and `+CDS` in one breath) is kept for ten minutes and applied
    /// when the send is recorded. Returns whether it matched a message now.
    pub fn record_delivery_or_keep(
        &self,
        channel: &str,
        provider_id: &str,
        delivered: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        if self.record_delivery(channel, provider_id, delivered, now)? {
            return Ok(true);
        }
        self.keep_unmatched(channel, provider_id, delivered, now)?;
        Ok(false)
    }

    /// Keeps a report whose send is not recorded yet; forgets old ones.
    fn keep_unmatched(
        &self,
        channel: &str,
        provider_id: &str,
        delivered: bool,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("DELETE FROM sms_reports_unmatched WHERE received_at < ?1")?
            .execute([to_ms(now - UNMATCHED_KEPT)])?;
        self.conn
            .prepare_cached(
                "INSERT INTO sms_reports_unmatched (channel, provider_id, delivered, received_at)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![channel, provider_id, delivered, to_ms(now)])?;
        Ok(())
    }

    fn record_delivery(
        &self,
        channel: &str,
        provider_id: &str,
        delivered: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE sms_outbox SET delivery = ?3, delivery_at = ?4, updated_at = ?4
                 WHERE id = (SELECT id FROM sms_outbox
                             WHERE channel = ?1 AND provider_id = ?2 AND delivery IS NULL
                               AND status IN ('sent', 'unknown')
                             ORDER BY sent_at DESC, id DESC LIMIT 1)",
            )?
            .execute(params![
                channel,
                provider_id,
                if delivered { "delivered" } else { "failed" },
                to_ms(now)
            ])?;
        Ok(n > 0)
    }

    pub fn mark_sms_expired(&self, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
        let f = Finish {
            channel: None,
            error: Some("secret expired before sending"),
            provider_id: None,
        };
        self.finish_sms(id, "expired", f, now)
    }

    pub fn mark_sms_failed(
        &self,
        id: i64,
        channel: &str,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let f = Finish {
            channel: Some(channel),
            error: Some(error),
            provider_id: None,
        };
        self.finish_sms(id, "failed", f, now)
    }

    /// Back to the queue for another try at `next_at`.
    pub fn retry_sms(
        &self,
        id: i64,
        channel: &str,
        error: &str,
        next_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE sms_outbox SET status = 'queued', lease_until = NULL, channel = ?2, last_error = ?3,
                        next_attempt_at = ?4, updated_at = ?5
                 WHERE id = ?1",
            )?
            .execute(params![id, channel, error, to_ms(next_at), to_ms(now)])?;
        Ok(())
    }

    /// Drops the not yet sent SMS of a challenge whose secret was replaced or
    /// is no longer needed, so a stale PIN or link never goes out.
    pub fn expire_challenge_sms(
        &self,
        challenge_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "UPDATE sms_outbox SET status = 'expired', body = NULL, lease_until = NULL,
                        last_error = 'superseded', updated_at = ?2
                 WHERE challenge_id = ?1 AND status = 'queued'",
            )?
            .execute(params![challenge_id, to_ms(now)])?;
        Ok(())
    }

    pub fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        let mut c = OutboxCounts::default();
        let mut st = self
            .conn
            .prepare_cached("SELECT status, count(*) FROM sms_outbox GROUP BY status")?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
        })?;
        for r in rows {
            let (status, n) = r?;
            match status.as_str() {
                "queued" => c.queued = n,
                "sending" => c.sending = n,
                "sent" => c.sent = n,
                "failed" => c.failed = n,
                "expired" => c.expired = n,
                "unknown" => c.unknown = n,
                _ => {}
            }
        }
        Ok(c)
    }
}

/// A message as operators see it: never its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEntry {
    pub id: i64,
    pub to_phone: String,
    pub status: String,
    pub attempts: u32,
    pub channel: Option<String>,
    pub provider_id: Option<String>,
    pub delivery: Option<String>,
    pub last_error: Option<String>,
}

impl Db<'_> {
    /// The messages of one challenge, oldest first.
    pub fn outbox_for_challenge(
        &self,
        account_id: &str,
        challenge_id: &str,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, to_phone, status, attempts, channel, provider_id, delivery, last_error
             FROM sms_outbox WHERE account_id = ?1 AND challenge_id = ?2 ORDER BY id",
        )?;
        let rows = st
            .query_map(params![account_id, challenge_id], |r| {
                Ok(OutboxEntry {
                    id: r.get(0)?,
                    to_phone: r.get(1)?,
                    status: r.get(2)?,
                    attempts: r.get(3)?,
                    channel: r.get(4)?,
                    provider_id: r.get(5)?,
                    delivery: r.get(6)?,
                    last_error: r.get(7)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;

    fn sent(db: &Db<'_>, now: DateTime<Utc>, mr: &str) -> Result<i64, StoreError> {
        let id = db.enqueue_sms("acc_1", None, "+41790000001", b"x", None, now)?;
        db.claim_sms(now, Duration::seconds(30), 10)?;
        db.mark_sms_sent(id, "modem:a", Some(mr), now)?;
        Ok(id)
    }

    fn delivery(db: &Db<'_>, id: i64) -> Option<String> {
        db.conn
            .query_row("SELECT delivery FROM sms_outbox WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap()
    }

    #[test]
    fn reports_match_late_early_and_after_wraparound() {
        let (_d, store) = test_store();
        let now = Utc::now();
        store
            .write_blocking(move |db| {
                db.insert_account("acc_1", "A", now)?;
                // A report after its send.
                let a = sent(db, now, "7")?;
                assert!(db.record_delivery_or_keep("modem:a", "7", true, now)?);
                assert_eq!(delivery(db, a).as_deref(), Some("delivered"));
                // The same reference again (TP-MR wrapped): the new message, not the old.
                let b = sent(db, now, "7")?;
                assert!(db.record_delivery_or_keep("modem:a", "7", false, now)?);
                assert_eq!(delivery(db, b).as_deref(), Some("failed"));
                assert_eq!(delivery(db, a).as_deref(), Some("delivered"));
                // A report before its send is recorded: kept, then applied.
                assert!(!db.record_delivery_or_keep("modem:a", "8", true, now)?);
                let c = sent(db, now, "8")?;
                assert_eq!(delivery(db, c).as_deref(), Some("delivered"));
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }
}

/// One send attempt as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRecord {
    pub channel: String,
    /// `sent`, `unknown`, `retryable` or `permanent`.
    pub outcome: &'static str,
    pub provider_id: Option<String>,
    pub error: Option<String>,
}

impl Db<'_> {
    pub fn record_attempts(
        &self,
        outbox_id: i64,
        attempts: &[AttemptRecord],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO sms_attempts (outbox_id, channel, at, outcome, provider_id, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for a in attempts {
            st.execute(params![
                outbox_id,
                a.channel,
                to_ms(now),
                a.outcome,
                a.provider_id,
                a.error
            ])?;
        }
        Ok(())
    }

    pub fn mark_possible_duplicate(&self, outbox_id: i64) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("UPDATE sms_outbox SET possible_duplicate = 1 WHERE id = ?1")?
            .execute([outbox_id])?;
        Ok(())
    }

    pub fn attempts_of(&self, outbox_id: i64) -> Result<Vec<AttemptRecord>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT channel, outcome, provider_id, error FROM sms_attempts WHERE outbox_id = ?1 ORDER BY id",
        )?;
        let rows = st
            .query_map([outbox_id], |r| {
                let outcome: String = r.get(1)?;
                Ok(AttemptRecord {
                    channel: r.get(0)?,
                    outcome: match outcome.as_str() {
                        "sent" => "sent",
                        "unknown" => "unknown",
                        "retryable" => "retryable",
                        _ => "permanent",
                    },
                    provider_id: r.get(2)?,
                    error: r.get(3)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

impl Db<'_> {
    /// A delivery report addressed by outbox id (HTTP gateways carry the id
    /// in their callback URL). `Some(true)`: recorded on the message that
    /// `channel` sent (a repeated report changes nothing). `Some(false)`: the
    /// message is still being sent, so the report is kept for ten minutes and
    /// applied when the send is recorded with the outbox id as provider id (as
    /// the Kannel preset records it). `None`: no such message went out through
    /// `channel`.
    pub fn record_delivery_by_id(
        &self,
        id: i64,
        channel: &str,
        delivered: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<bool>, StoreError> {
        let n = self
            .conn
            .prepare_cached(
                "UPDATE sms_outbox SET delivery = ?3, delivery_at = ?4, updated_at = ?4
                 WHERE id = ?1 AND channel = ?2 AND status IN ('sent', 'unknown') AND delivery IS NULL",
            )?
            .execute(params![
                id,
                channel,
                if delivered { "delivered" } else { "failed" },
                to_ms(now)
            ])?;
        if n > 0 {
            return Ok(Some(true));
        }
        let row: Option<(String, Option<String>)> = self
            .conn
            .prepare_cached("SELECT status, channel FROM sms_outbox WHERE id = ?1")?
            .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        match row {
            Some((status, Some(c)))
                if c == channel && matches!(status.as_str(), "sent" | "unknown") =>
            {
                Ok(Some(true))
            }
            Some((status, _)) if matches!(status.as_str(), "sending" | "queued") => {
                self.keep_unmatched(channel, &id.to_string(), delivered, now)?;
                Ok(Some(false))
            }
            _ => Ok(None),
        }
    }

    /// One message as operators see it.
    pub fn outbox_entry(&self, id: i64) -> Result<Option<OutboxEntry>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT id, to_phone, status, attempts, channel, provider_id, delivery, last_error
             FROM sms_outbox WHERE id = ?1",
        )?;
        let mut rows = st.query_map([id], |r| {
            Ok(OutboxEntry {
                id: r.get(0)?,
                to_phone: r.get(1)?,
                status: r.get(2)?,
                attempts: r.get(3)?,
                channel: r.get(4)?,
                provider_id: r.get(5)?,
                delivery: r.get(6)?,
                last_error: r.get(7)?,
            })
        })?;
        Ok(rows.next().transpose()?)
    }
}

#[cfg(test)]
mod delivery_by_id_tests {
    use super::super::test_store;
    use super::*;

    #[test]
    fn reports_by_id_record_keep_or_refuse() {
        let (_d, store) = test_store();
        let now = Utc::now();
        store
            .write_blocking(move |db| {
                db.insert_account("acc_1", "A", now)?;
                let id = db.enqueue_sms("acc_1", None, "+41790000001", b"x", None, now)?;
                // Before the send is recorded: kept, then applied by the send.
                db.claim_sms(now, Duration::seconds(30), 10)?;
                assert_eq!(
                    db.record_delivery_by_id(id, "http:k", true, now)?,
                    Some(false)
                );
                db.mark_sms_sent(id, "http:k", Some(&id.to_string()), now)?;
                let e = db.outbox_entry(id)?.unwrap();
                assert_eq!(e.delivery.as_deref(), Some("delivered"));
                // A repeat is acknowledged and changes nothing.
                assert_eq!(
                    db.record_delivery_by_id(id, "http:k", false, now)?,
                    Some(true)
                );
                assert_eq!(
                    db.outbox_entry(id)?.unwrap().delivery.as_deref(),
                    Some("delivered")
                );
                // Another gateway, or an unknown id: not found.
                assert_eq!(db.record_delivery_by_id(id, "http:other", true, now)?, None);
                assert_eq!(
                    db.record_delivery_by_id(id + 100, "http:k", true, now)?,
                    None
                );
                assert_eq!(db.outbox_entry(id + 100)?, None);
                // After the send is recorded: recorded at once.
                let b = db.enqueue_sms("acc_1", None, "+41790000002", b"x", None, now)?;
                db.claim_sms(now, Duration::seconds(30), 10)?;
                db.mark_sms_sent(b, "http:k", None, now)?;
                assert_eq!(
                    db.record_delivery_by_id(b, "http:k", false, now)?,
                    Some(true)
                );
                assert_eq!(
                    db.outbox_entry(b)?.unwrap().delivery.as_deref(),
                    Some("failed")
                );
                // A message that failed is not a delivery target.
                let c = db.enqueue_sms("acc_1", None, "+41790000003", b"x", None, now)?;
                db.claim_sms(now, Duration::seconds(30), 10)?;
                db.mark_sms_failed(c, "http:k", "HTTP 400", now)?;
                assert_eq!(db.record_delivery_by_id(c, "http:k", true, now)?, None);
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }
}
