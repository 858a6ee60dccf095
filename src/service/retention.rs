//! The purge: records past their retention period go in small batches.

use super::{Error, Services};
use crate::config::RetentionConfig;
use chrono::{DateTime, Duration, Utc};

/// Rows per batch: one short write transaction each.
pub const PURGE_BATCH: u32 = 500;
/// Batches per table per round, so one round stays short.
pub const PURGE_BATCHES_PER_ROUND: u32 = 40;

/// How many rows one round deleted, per kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    pub challenges: usize,
    pub outbox: usize,
    pub audit: usize,
    pub failures: usize,
    pub admin: usize,
}

impl Purged {
    pub fn total(&self) -> usize {
        self.challenges + self.outbox + self.audit + self.failures + self.admin
    }
}

/// Failures count for windows of at most 30 days.
const FAILURE_DAYS: i64 = 31;
/// Sessions end after 12 hours at most.
const SESSION_HOURS: i64 = 13;

impl Services {
    /// One round: each kind up to `PURGE_BATCHES_PER_ROUND` batches, each
    /// batch its own transaction (requests interleave between them).
    pub async fn purge_round(
        &self,
        r: &RetentionConfig,
        now: DateTime<Utc>,
    ) -> Result<Purged, Error> {
        let days = |d: u32| now - Duration::days(i64::from(d));
        Ok(Purged {
            challenges: self
                .purge_kind(days(r.challenges()), |db, b, n| db.purge_challenges(b, n))
                .await?,
            outbox: self
                .purge_kind(days(r.outbox()), |db, b, n| db.purge_outbox(b, n))
                .await?,
            audit: self
                .purge_kind(days(r.audit()), |db, b, n| db.purge_audit(b, n))
                .await?,
            failures: self
                .purge_kind(now - Duration::days(FAILURE_DAYS), |db, b, n| {
                    db.purge_auth_failures(b, n)
                })
                .await?,
            admin: self
                .purge_kind(now - Duration::hours(SESSION_HOURS), |db, b, n| {
                    db.purge_admin_leftovers(b, n)
                })
                .await?,
        })
    }

    async fn purge_kind(
        &self,
        before: DateTime<Utc>,
        f: fn(&crate::store::Db<'_>, DateTime<Utc>, u32) -> Result<usize, crate::store::StoreError>,
    ) -> Result<usize, Error> {
        let mut total = 0;
        for _ in 0..PURGE_BATCHES_PER_ROUND {
            let n = self
                .store
                .write(move |db| f(db, before, PURGE_BATCH))
                .await?;
            total += n;
            if n < PURGE_BATCH as usize {
                break;
            }
        }
        Ok(total)
    }
}
