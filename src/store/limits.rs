//! Anti-pumping limits: the sliding-window counts over the outbox, the
//! per-account country allowlist, the look-alike ledger and the record of
//! refused sends. Every query is scoped to one account.

use super::{from_ms, to_ms, Db, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

/// One hour of refusals of one kind for one email.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsRefusalRow {
    pub email: String,
    /// `None` for a look-alike start, which has no number.
    pub to_phone: Option<String>,
    pub reason: String,
    pub count: u64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

/// `OFFSET` for the `n`-th newest row (1-based).
fn offset(n: u32) -> i64 {
    i64::from(n.max(1)) - 1
}

impl Db<'_> {
    /// The time of the account's `n`-th newest SMS to `to_phone` queued
    /// after `since`, or `None` when the window holds fewer than `n`.
    pub fn nth_newest_sms_to_number(
        &self,
        account_id: &str,
        to_phone: &str,
        since: DateTime<Utc>,
        n: u32,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT created_at FROM sms_outbox
                 WHERE account_id = ?1 AND to_phone = ?2 AND created_at > ?3
                 ORDER BY created_at DESC LIMIT 1 OFFSET ?4",
            )?
            .query_row(
                params![account_id, to_phone, to_ms(since), offset(n)],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(from_ms))
    }

    /// Like `nth_newest_sms_to_number`, for every number starting with
    /// `prefix` (`+` and digits). Walks the account's window by time, so the
    /// cost follows the traffic of the window, not the prefix's history.
    pub fn nth_newest_sms_to_prefix(
        &self,
        account_id: &str,
        prefix: &str,
        since: DateTime<Utc>,
        n: u32,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT created_at FROM sms_outbox INDEXED BY outbox_account_time
                 WHERE account_id = ?1 AND created_at > ?3 AND substr(to_phone, 1, length(?2)) = ?2
                 ORDER BY created_at DESC LIMIT 1 OFFSET ?4",
            )?
            .query_row(params![account_id, prefix, to_ms(since), offset(n)], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .map(from_ms))
    }

    /// The time of the account's `n`-th newest SMS queued after `since`.
    pub fn nth_newest_sms_of_account(
        &self,
        account_id: &str,
        since: DateTime<Utc>,
        n: u32,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT created_at FROM sms_outbox INDEXED BY outbox_account_time
                 WHERE account_id = ?1 AND created_at > ?2
                 ORDER BY created_at DESC LIMIT 1 OFFSET ?3",
            )?
            .query_row(params![account_id, to_ms(since), offset(n)], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .map(from_ms))
    }

    /// The `n`-th newest SMS a look-alike start for `email` would have sent
    /// after `since`.
    pub fn nth_newest_lookalike_send(
        &self,
        account_id: &str,
        email: &str,
        since: DateTime<Utc>,
        n: u32,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT at FROM sms_lookalike_sends
                 WHERE account_id = ?1 AND email = ?2 AND at > ?3
                 ORDER BY at DESC LIMIT 1 OFFSET ?4",
            )?
            .query_row(params![account_id, email, to_ms(since), offset(n)], |r| {
                r.get::<_, i64>(0)
            })
            .optional()?
            .map(from_ms))
    }

    /// Books the SMS a look-alike start would have sent, and forgets this
    /// email's bookings from before `forget_before` (out of every window).
    pub fn record_lookalike_send(
        &self,
        account_id: &str,
        email: &str,
        forget_before: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "DELETE FROM sms_lookalike_sends WHERE account_id = ?1 AND email = ?2 AND at <= ?3",
            )?
            .execute(params![account_id, email, to_ms(forget_before)])?;
        self.conn
            .prepare_cached(
                "INSERT INTO sms_lookalike_sends (account_id, email, at) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![account_id, email, to_ms(now)])?;
        Ok(())
    }

    /// The account's own list of country codes (empty = all), or `None`
    /// when it has none and the configured default applies.
    pub fn sms_countries(&self, account_id: &str) -> Result<Option<Vec<String>>, StoreError> {
        let raw: Option<String> = self
            .conn
            .prepare_cached("SELECT allowed FROM sms_countries WHERE account_id = ?1")?
            .query_row([account_id], |r| r.get(0))
            .optional()?;
        Ok(raw.map(|s| {
            s.split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect()
        }))
    }

    /// Sets the account's list (`Some`, empty = all) or removes it (`None`).
    pub fn set_sms_countries(
        &self,
        account_id: &str,
        allowed: Option<&[String]>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match allowed {
            Some(codes) => {
                self.conn
                    .prepare_cached(
                        "INSERT INTO sms_countries (account_id, allowed, updated_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT (account_id) DO UPDATE SET allowed = ?2, updated_at = ?3",
                    )?
                    .execute(params![account_id, codes.join(","), to_ms(now)])?;
            }
            None => {
                self.conn
                    .prepare_cached("DELETE FROM sms_countries WHERE account_id = ?1")?
                    .execute([account_id])?;
            }
        }
        Ok(())
    }

    /// Counts a refused send in its hour.
    pub fn record_sms_refusal(
        &self,
        account_id: &str,
        email: &str,
        to_phone: Option<&str>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let at = to_ms(now);
        let hour = at - at.rem_euclid(3_600_000);
        self.conn
            .prepare_cached(
                "INSERT INTO sms_refusals (account_id, email, reason, hour, to_phone, count, first_at, last_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?6)
                 ON CONFLICT (account_id, email, reason, hour)
                 DO UPDATE SET count = count + 1, last_at = ?6, to_phone = coalesce(?5, to_phone)",
            )?
            .execute(params![account_id, email, reason, hour, to_phone, at])?;
        Ok(())
    }

    /// The account's refusal records, most recently refused first.
    pub fn sms_refusals(
        &self,
        account_id: &str,
        limit: u32,
    ) -> Result<Vec<SmsRefusalRow>, StoreError> {
        let mut st = self.conn.prepare_cached(
            "SELECT email, to_phone, reason, count, first_at, last_at FROM sms_refusals
             WHERE account_id = ?1 ORDER BY last_at DESC, email, reason LIMIT ?2",
        )?;
        let rows = st
            .query_map(params![account_id, limit], |r| {
                Ok(SmsRefusalRow {
                    email: r.get(0)?,
                    to_phone: r.get(1)?,
                    reason: r.get(2)?,
                    count: r.get::<_, i64>(3)?.max(0) as u64,
                    first_at: from_ms(r.get(4)?),
                    last_at: from_ms(r.get(5)?),
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
    use chrono::Duration;

    fn at(base: DateTime<Utc>, secs: i64) -> DateTime<Utc> {
        base + Duration::seconds(secs)
    }

    #[test]
    fn windows_find_the_nth_newest() {
        let (_d, store) = test_store();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        store
            .write_blocking(move |db| {
                db.insert_account("acc_1", "A", t0)?;
                db.insert_account("acc_2", "B", t0)?;
                // acc_1: +41790000001 at 0, 10, 20; +41790000002 at 30; +41780000003 at 40.
                for (phone, s) in [
                    ("+41790000001", 0),
                    ("+41790000001", 10),
                    ("+41790000001", 20),
                    ("+41790000002", 30),
                    ("+41780000003", 40),
                ] {
                    db.enqueue_sms("acc_1", None, phone, b"x", None, at(t0, s))?;
                }
                // Another account's SMS never count.
                db.enqueue_sms("acc_2", None, "+41790000001", b"x", None, at(t0, 25))?;

                let since = at(t0, -1);
                let num = |n| db.nth_newest_sms_to_number("acc_1", "+41790000001", since, n);
                assert_eq!(num(1)?, Some(at(t0, 20)));
                assert_eq!(num(3)?, Some(at(t0, 0)));
                assert_eq!(num(4)?, None);
                // The window is open at its start: an SMS exactly `window` old is out.
                assert_eq!(
                    db.nth_newest_sms_to_number("acc_1", "+41790000001", at(t0, 0), 3)?,
                    None
                );
                assert_eq!(
                    db.nth_newest_sms_to_number("acc_1", "+41790000001", at(t0, 0), 2)?,
                    Some(at(t0, 10))
                );

                let pre = |p, n| db.nth_newest_sms_to_prefix("acc_1", p, since, n);
                assert_eq!(pre("+4179", 4)?, Some(at(t0, 0)));
                assert_eq!(pre("+4179", 1)?, Some(at(t0, 30)));
                assert_eq!(pre("+4179", 5)?, None);
                assert_eq!(pre("+4178", 1)?, Some(at(t0, 40)));
                assert_eq!(pre("+4178", 2)?, None);

                let acc = |n| db.nth_newest_sms_of_account("acc_1", since, n);
                assert_eq!(acc(5)?, Some(at(t0, 0)));
                assert_eq!(acc(6)?, None);
                assert_eq!(
                    db.nth_newest_sms_of_account("acc_2", since, 1)?,
                    Some(at(t0, 25))
                );
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }

    #[test]
    fn the_window_queries_use_the_time_indexes() {
        let (_d, store) = test_store();
        store
            .write_blocking(|db| {
                let plan = |sql: &str| -> Result<String, StoreError> {
                    let mut st = db.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                    let rows: Vec<String> = st
                        .query_map([], |r| r.get::<_, String>(3))?
                        .collect::<Result<_, _>>()?;
                    Ok(rows.join("; "))
                };
                let p = plan(
                    "SELECT created_at FROM sms_outbox WHERE account_id = 'a' AND to_phone = '+1'
                     AND created_at > 0 ORDER BY created_at DESC LIMIT 1 OFFSET 4",
                )?;
                assert!(p.contains("outbox_account_phone_time"), "{p}");
                assert!(!p.contains("TEMP B-TREE"), "{p}");
                let p = plan(
                    "SELECT at FROM sms_lookalike_sends WHERE account_id = 'a' AND email = 'e'
                     AND at > 0 ORDER BY at DESC LIMIT 1 OFFSET 4",
                )?;
                assert!(p.contains("sms_lookalike_sends_key"), "{p}");
                let p = plan(
                    "SELECT created_at FROM sms_outbox INDEXED BY outbox_account_time
                     WHERE account_id = 'a' AND created_at > 0 AND substr(to_phone, 1, 3) = '+41'
                     ORDER BY created_at DESC LIMIT 1 OFFSET 4",
                )?;
                assert!(p.contains("COVERING INDEX outbox_account_time"), "{p}");
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }

    #[test]
    fn countries_lookalikes_and_refusals() {
        let (_d, store) = test_store();
        let t0 = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        store
            .write_blocking(move |db| {
                db.insert_account("acc_1", "A", t0)?;
                db.insert_account("acc_2", "B", t0)?;

                assert_eq!(db.sms_countries("acc_1")?, None);
                db.set_sms_countries("acc_1", Some(&["41".into(), "49".into()]), t0)?;
                assert_eq!(
                    db.sms_countries("acc_1")?,
                    Some(vec!["41".to_string(), "49".to_string()])
                );
                assert_eq!(db.sms_countries("acc_2")?, None);
                db.set_sms_countries("acc_1", Some(&[]), t0)?;
                assert_eq!(db.sms_countries("acc_1")?, Some(vec![]));
                db.set_sms_countries("acc_1", None, t0)?;
                assert_eq!(db.sms_countries("acc_1")?, None);

                for s in [0, 100, 200] {
                    db.record_lookalike_send("acc_1", "x@y.ch", at(t0, s - 900), at(t0, s))?;
                }
                let since = at(t0, -1);
                assert_eq!(
                    db.nth_newest_lookalike_send("acc_1", "x@y.ch", since, 3)?,
                    Some(t0)
                );
                assert_eq!(
                    db.nth_newest_lookalike_send("acc_2", "x@y.ch", since, 1)?,
                    None
                );
                // A booking forgets what left the window.
                db.record_lookalike_send("acc_1", "x@y.ch", at(t0, 50), at(t0, 950))?;
                let n: i64 = db.conn.query_row(
                    "SELECT count(*) FROM sms_lookalike_sends WHERE email = 'x@y.ch'",
                    [],
                    |r| r.get(0),
                )?;
                assert_eq!(n, 3);

                // Refusals: one row per email, reason and hour, with a count.
                db.record_sms_refusal("acc_1", "a@b.ch", Some("+41790000001"), "per_number", t0)?;
                db.record_sms_refusal(
                    "acc_1",
                    "a@b.ch",
                    Some("+41790000001"),
                    "per_number",
                    at(t0, 60),
                )?;
                db.record_sms_refusal("acc_1", "u@b.ch", None, "per_number", at(t0, 61))?;
                db.record_sms_refusal(
                    "acc_1",
                    "a@b.ch",
                    Some("+41790000001"),
                    "per_number",
                    at(t0, 3600),
                )?;
                let rows = db.sms_refusals("acc_1", 10)?;
                assert_eq!(rows.len(), 3, "{rows:?}");
                assert_eq!(rows[0].last_at, at(t0, 3600));
                assert_eq!(rows[0].count, 1);
                assert_eq!(rows[1].email, "u@b.ch");
                assert_eq!(rows[1].to_phone, None);
                assert_eq!(rows[2].count, 2);
                assert_eq!(rows[2].first_at, t0);
                assert_eq!(rows[2].last_at, at(t0, 60));
                assert!(db.sms_refusals("acc_2", 10)?.is_empty());
                assert_eq!(db.sms_refusals("acc_1", 1)?.len(), 1);
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }
}
