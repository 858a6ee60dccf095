use super::{Db, StoreError};
use rusqlite::{params, OptionalExtension};

#[derive(Debug, Clone, Copy)]
pub enum UsageField {
    Starts,
    Approvals,
    Failures,
    SmsSent,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRow {
    pub starts: u64,
    pub approvals: u64,
    pub failures: u64,
    pub sms_sent: u64,
}

impl Db<'_> {
    /// Adds one to a counter of the account's month (`YYYY-MM`).
    pub fn bump_usage(
        &self,
        account_id: &str,
        month: &str,
        field: UsageField,
    ) -> Result<(), StoreError> {
        // One statement per field so each stays a cached, fixed SQL text.
        let sql = match field {
            UsageField::Starts => {
                "INSERT INTO usage (account_id, month, starts) VALUES (?1, ?2, 1)
                ON CONFLICT (account_id, month) DO UPDATE SET starts = starts + 1"
            }
            UsageField::Approvals => {
                "INSERT INTO usage (account_id, month, approvals) VALUES (?1, ?2, 1)
                ON CONFLICT (account_id, month) DO UPDATE SET approvals = approvals + 1"
            }
            UsageField::Failures => {
                "INSERT INTO usage (account_id, month, failures) VALUES (?1, ?2, 1)
                ON CONFLICT (account_id, month) DO UPDATE SET failures = failures + 1"
            }
            UsageField::SmsSent => {
                "INSERT INTO usage (account_id, month, sms_sent) VALUES (?1, ?2, 1)
                ON CONFLICT (account_id, month) DO UPDATE SET sms_sent = sms_sent + 1"
            }
        };
        self.conn
            .prepare_cached(sql)?
            .execute(params![account_id, month])?;
        Ok(())
    }

    pub fn usage(&self, account_id: &str, month: &str) -> Result<UsageRow, StoreError> {
        Ok(self
            .conn
            .prepare_cached(
                "SELECT starts, approvals, failures, sms_sent FROM usage WHERE account_id = ?1 AND month = ?2",
            )?
            .query_row(params![account_id, month], |r| {
                Ok(UsageRow {
                    starts: r.get::<_, i64>(0)? as u64,
                    approvals: r.get::<_, i64>(1)? as u64,
                    failures: r.get::<_, i64>(2)? as u64,
                    sms_sent: r.get::<_, i64>(3)? as u64,
                })
            })
            .optional()?
            .unwrap_or_default())
    }
}
