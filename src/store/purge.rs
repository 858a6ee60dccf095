//! Retention: deleting old records in small batches, each its own short
//! write transaction, so that logins keep flowing while a large backlog goes.
//!
//! Old rows are the first in rowid order (rows are appended), so a batch
//! scan stops early even where no index serves the condition.

use super::{to_ms, Db, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::params;

impl Db<'_> {
    /// Challenges started before `before` (long finished: a challenge lives
    /// at most minutes). Their outbox rows keep a null `challenge_id`.
    pub fn purge_challenges(&self, before: DateTime<Utc>, batch: u32) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "DELETE FROM challenges WHERE rowid IN
                   (SELECT rowid FROM challenges WHERE created_at < ?1 LIMIT ?2)",
            )?
            .execute(params![to_ms(before), batch])?)
    }

    /// Outbox messages in a final state, queued before `before` (their
    /// attempts go with them). Waiting messages are never purged.
    pub fn purge_outbox(&self, before: DateTime<Utc>, batch: u32) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "DELETE FROM sms_outbox WHERE rowid IN
                   (SELECT rowid FROM sms_outbox
                    WHERE created_at < ?1 AND status IN ('sent', 'failed', 'expired') LIMIT ?2)",
            )?
            .execute(params![to_ms(before), batch])?)
    }

    pub fn purge_audit(&self, before: DateTime<Utc>, batch: u32) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "DELETE FROM audit_log WHERE id IN
                   (SELECT id FROM audit_log WHERE at < ?1 ORDER BY at LIMIT ?2)",
            )?
            .execute(params![to_ms(before), batch])?)
    }

    /// Failure times older than any `recent_failures_at_least` window.
    pub fn purge_auth_failures(
        &self,
        before: DateTime<Utc>,
        batch: u32,
    ) -> Result<usize, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "DELETE FROM auth_failures WHERE id IN
                   (SELECT id FROM auth_failures WHERE at < ?1 LIMIT ?2)",
            )?
            .execute(params![to_ms(before), batch])?)
    }

    /// Admin sessions and setup links that can no longer be used.
    pub fn purge_admin_leftovers(
        &self,
        before: DateTime<Utc>,
        batch: u32,
    ) -> Result<usize, StoreError> {
        let sessions = self
            .conn
            .prepare_cached(
                "DELETE FROM operator_sessions WHERE rowid IN
                   (SELECT rowid FROM operator_sessions WHERE created_at < ?1 LIMIT ?2)",
            )?
            .execute(params![to_ms(before), batch])?;
        let links = self
            .conn
            .prepare_cached(
                "DELETE FROM setup_tokens WHERE rowid IN
                   (SELECT rowid FROM setup_tokens WHERE expires_at < ?1 LIMIT ?2)",
            )?
            .execute(params![to_ms(before), batch])?;
        Ok(sessions + links)
    }
}
