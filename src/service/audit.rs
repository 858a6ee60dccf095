//! The audit log: every admin change and every login decision, written in
//! the same transaction as the change it records (so both commit or
//! neither), and read back newest first, scoped to an account.
//!
//! A record never holds a secret: no PIN, link, token, API key or phone
//! number; details are field names, counts, names and decisions.

use super::{Error, Services};
use crate::domain::{Actor, Caller, Invalid};
use crate::store::{AuditEntry, AuditFilter, AuditRow, Db, Store};
use chrono::{DateTime, Utc};
use serde::Serialize;

pub const DEFAULT_AUDIT_PAGE: u32 = 100;
pub const MAX_AUDIT_PAGE: u32 = 500;
const MAX_FILTER_LEN: usize = 200;

/// A change by `caller` to its own account, outcome `ok`.
pub(crate) fn change(
    caller: &Caller,
    action: &str,
    target: impl Into<Option<String>>,
    now: DateTime<Utc>,
) -> AuditEntry {
    entry(
        &caller.actor,
        Some(&caller.account_id),
        action,
        target,
        "ok",
        now,
    )
}

pub(crate) fn entry(
    actor: &Actor,
    account_id: Option<&str>,
    action: &str,
    target: impl Into<Option<String>>,
    outcome: &str,
    now: DateTime<Utc>,
) -> AuditEntry {
    AuditEntry {
        at: now,
        actor: actor.to_string(),
        action: action.to_string(),
        account_id: account_id.map(str::to_string),
        target: target.into(),
        outcome: outcome.to_string(),
        detail: None,
    }
}

/// The names of the fields that differ between two views of the same
/// thing (timestamps aside): what a change record says, never the values.
pub(crate) fn changed_fields<T: Serialize>(before: &T, after: &T) -> Vec<String> {
    let (Ok(serde_json::Value::Object(b)), Ok(serde_json::Value::Object(a))) =
        (serde_json::to_value(before), serde_json::to_value(after))
    else {
        return Vec::new();
    };
    a.iter()
        .filter(|(k, v)| !matches!(k.as_str(), "created_at" | "updated_at") && b.get(*k) != Some(v))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Whose records a read may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditScope {
    /// One account's (API keys, account operators).
    Account(String),
    /// Every account's and the appliance's own (appliance operators, CLI).
    All,
}

#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Exact, e.g. `key:key_...`, `operator:ann`, `cli`, `system`.
    pub actor: Option<String>,
    /// Exact, or a prefix when it ends with `.` (`login.`).
    pub action: Option<String>,
    /// `from <= at < to`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// 1 to 500, default 100.
    pub limit: Option<u32>,
    /// `next_before` of the previous page.
    pub before: Option<i64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditView {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// `key:<key id>`, `operator:<username>`, `cli` or `system`.
    pub actor: String,
    /// e.g. `policy.create`, `user.import`, `login.start`, `login.complete`.
    pub action: String,
    /// Absent for appliance-wide actions.
    pub account_id: Option<String>,
    /// e.g. `policy:office`, `user:ann@example.com`, `request:req_...`.
    pub target: Option<String>,
    /// `ok` for changes; `pending`, `approved`, `denied`, `refused`,
    /// `wrong_pin`, `wrong_link`, `wrong_pick`, `expired`, `locked`, ... for logins.
    pub outcome: String,
    /// What changed or why: field names, counts, names, the matched rule.
    #[schema(value_type = Option<Object>)]
    pub detail: Option<serde_json::Value>,
}

impl From<AuditRow> for AuditView {
    fn from(r: AuditRow) -> Self {
        Self {
            id: r.id,
            at: r.at,
            actor: r.actor,
            action: r.action,
            account_id: r.account_id,
            target: r.target,
            outcome: r.outcome,
            detail: r.detail,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditView>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next_before: Option<i64>,
}

impl AuditQuery {
    fn check(&self) -> Result<u32, Invalid> {
        let limit = self.limit.unwrap_or(DEFAULT_AUDIT_PAGE);
        if !(1..=MAX_AUDIT_PAGE).contains(&limit) {
            return Err(Invalid::new("limit", "must be between 1 and 500"));
        }
        for (field, v) in [("actor", &self.actor), ("action", &self.action)] {
            if v.as_ref().is_some_and(|v| v.len() > MAX_FILTER_LEN) {
                return Err(Invalid::new(field, "must be at most 200 characters"));
            }
        }
        if let (Some(f), Some(t)) = (self.from, self.to) {
            if t < f {
                return Err(Invalid::new("to", "must not be before from"));
            }
        }
        if self.before.is_some_and(|b| b < 1) {
            return Err(Invalid::new("before", "is not an entry id"));
        }
        Ok(limit)
    }
}

fn page(db: &Db<'_>, scope: AuditScope, q: AuditQuery, limit: u32) -> Result<AuditPage, Error> {
    let filter = AuditFilter {
        account_id: match scope {
            AuditScope::Account(a) => Some(a),
            AuditScope::All => None,
        },
        actor: q.actor.filter(|a| !a.is_empty()),
        action: q.action.filter(|a| !a.is_empty()),
        from: q.from,
        to: q.to,
    };
    // One more than asked tells whether another page follows.
    let mut rows = db.audit_page(&filter, limit + 1, q.before)?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    Ok(AuditPage {
        next_before: if more {
            rows.last().map(|r| r.id)
        } else {
            None
        },
        entries: rows.into_iter().map(AuditView::from).collect(),
    })
}

impl Services {
    /// The audit log, newest first. `AuditScope::Account` for anyone who
    /// belongs to an account; `All` only for appliance operators.
    pub async fn audit_log(&self, scope: AuditScope, q: AuditQuery) -> Result<AuditPage, Error> {
        let limit = q.check()?;
        self.store.read(move |db| page(db, scope, q, limit)).await
    }
}

/// `audit_log` for the CLI (its own store handle, no runtime).
pub fn read_audit_log(store: &Store, scope: AuditScope, q: AuditQuery) -> Result<AuditPage, Error> {
    let limit = q.check()?;
    store.read_blocking(|db| page(db, scope, q, limit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_fields_names_only_what_changed() {
        let before = serde_json::json!({"name": "a", "phone": "+41790000001", "updated_at": 1});
        let after = serde_json::json!({"name": "a", "phone": "+41790000002", "updated_at": 2});
        assert_eq!(changed_fields(&before, &after), ["phone"]);
        assert!(changed_fields(&before, &before).is_empty());
    }

    #[test]
    fn queries_are_checked() {
        let q = |f: fn(&mut AuditQuery)| {
            let mut q = AuditQuery::default();
            f(&mut q);
            q.check().map_err(|e| e.field)
        };
        assert_eq!(q(|_| {}), Ok(DEFAULT_AUDIT_PAGE));
        assert_eq!(q(|q| q.limit = Some(0)), Err("limit"));
        assert_eq!(q(|q| q.limit = Some(501)), Err("limit"));
        assert_eq!(q(|q| q.before = Some(0)), Err("before"));
        assert_eq!(q(|q| q.action = Some("x".repeat(201))), Err("action"));
        assert_eq!(
            q(|q| {
                q.from = Some(Utc::now());
                q.to = Some(Utc::now() - chrono::Duration::hours(1));
            }),
            Err("to")
        );
    }
}
