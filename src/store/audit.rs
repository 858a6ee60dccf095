//! The audit log: one row per admin change and per login decision, written
//! in the same transaction as what it records. Never holds a secret.

use super::{from_ms, to_ms, Db, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};

/// One record to write.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    /// `key:<id>`, `operator:<name>`, `cli`, `system` (`Actor`'s Display).
    pub actor: String,
    /// e.g. `policy.create`, `login.start`.
    pub action: String,
    /// `None` for appliance-wide actions.
    pub account_id: Option<String>,
    /// e.g. `policy:office`, `request:req_...`.
    pub target: Option<String>,
    /// `ok`, `approved`, `pending`, `denied`, `wrong_pin`, ...
    pub outcome: String,
    /// A JSON object: field names, counts, names. Never a secret.
    pub detail: Option<serde_json::Value>,
}

impl AuditEntry {
    pub fn with_detail(mut self, detail: serde_json::Value) -> Self {
        self.detail = Some(detail);
        self
    }
}

/// A stored record.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRow {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub account_id: Option<String>,
    pub target: Option<String>,
    pub outcome: String,
    pub detail: Option<serde_json::Value>,
}

/// Which records to read. `account_id: None` reads every account's and the
/// appliance's records: only for appliance operators and the CLI.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub account_id: Option<String>,
    /// Exact.
    pub actor: Option<String>,
    /// Exact, or a prefix when it ends with `.` (`login.`).
    pub action: Option<String>,
    /// `from <= at < to`.
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

const COLS: &str = "id, at, actor, action, account_id, target, outcome, detail";

/// Shared by both queries; `{scope}` is empty or the account condition.
/// Newest first is `at DESC, id DESC`: the order of the `(account_id, at)`
/// and `(at)` indexes (the rowid is their last column), so a page is read
/// from the index without sorting the account's whole history.
const PAGE_SQL: &str = "SELECT {COLS} FROM audit_log
     WHERE {scope} at >= ?2 AND at <= ?3 AND (at < ?4 OR id < ?5)
       AND (?6 IS NULL OR actor = ?6)
       AND (?7 IS NULL OR action = ?7)
       AND (?8 IS NULL OR substr(action, 1, length(?8)) = ?8)
     ORDER BY at DESC, id DESC LIMIT ?9";

fn page_sql(scoped: bool) -> String {
    PAGE_SQL.replace("{COLS}", COLS).replace(
        "{scope}",
        if scoped {
            "account_id = ?1 AND"
        } else {
            "?1 IS NULL AND"
        },
    )
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRow> {
    let detail: Option<String> = r.get(7)?;
    let detail = detail
        .map(|d| serde_json::from_str(&d))
        .transpose()
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, Box::new(e))
        })?;
    Ok(AuditRow {
        id: r.get(0)?,
        at: from_ms(r.get(1)?),
        actor: r.get(2)?,
        action: r.get(3)?,
        account_id: r.get(4)?,
        target: r.get(5)?,
        outcome: r.get(6)?,
        detail,
    })
}

impl Db<'_> {
    /// Writes one record (inside the caller's transaction).
    pub fn audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        let detail = e.detail.as_ref().map(|d| d.to_string());
        self.conn
            .prepare_cached(
                "INSERT INTO audit_log (at, actor, action, account_id, target, outcome, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                to_ms(e.at),
                e.actor,
                e.action,
                e.account_id,
                e.target,
                e.outcome,
                detail
            ])?;
        Ok(())
    }

    /// Up to `limit` records matching `f`, newest first, older than the
    /// record `before` (the last id of the previous page).
    pub fn audit_page(
        &self,
        f: &AuditFilter,
        limit: u32,
        before: Option<i64>,
    ) -> Result<Vec<AuditRow>, StoreError> {
        // The cursor as (at, id): the page continues strictly after it.
        // An unknown id still pages by id alone.
        let (cursor_at, cursor_id) = match before {
            None => (i64::MAX, i64::MAX),
            Some(id) => {
                let at: Option<i64> = self
                    .conn
                    .prepare_cached("SELECT at FROM audit_log WHERE id = ?1")?
                    .query_row([id], |r| r.get(0))
                    .optional()?;
                (at.unwrap_or(i64::MIN), id)
            }
        };
        let lo = f.from.map_or(i64::MIN, to_ms);
        let mut hi = f.to.map_or(i64::MAX, |t| to_ms(t).saturating_sub(1));
        if before.is_some() && cursor_at != i64::MIN {
            hi = hi.min(cursor_at);
        }
        let (exact, prefix) = match f.action.as_deref() {
            Some(a) if a.ends_with('.') => (None, Some(a)),
            other => (other, None),
        };
        let mut st = self
            .conn
            .prepare_cached(&page_sql(f.account_id.is_some()))?;
        let rows = st
            .query_map(
                params![
                    f.account_id,
                    lo,
                    hi,
                    cursor_at,
                    cursor_id,
                    f.actor,
                    exact,
                    prefix,
                    limit
                ],
                row,
            )?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_store;
    use super::*;
    use serde_json::json;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn entry(at: i64, account: Option<&str>, actor: &str, action: &str) -> AuditEntry {
        AuditEntry {
            at: t(at),
            actor: actor.into(),
            action: action.into(),
            account_id: account.map(Into::into),
            target: Some(format!("x:{at}")),
            outcome: "ok".into(),
            detail: None,
        }
    }

    #[test]
    fn pages_filters_and_scopes() {
        let (_d, store) = test_store();
        store
            .write_blocking(|db| {
                db.audit(&entry(0, Some("acc_a"), "cli", "account.create"))?;
                db.audit(
                    &entry(1, Some("acc_a"), "key:k1", "policy.create")
                        .with_detail(json!({"steps": ["pin"]})),
                )?;
                db.audit(&entry(2, Some("acc_a"), "key:k2", "login.start"))?;
                db.audit(&entry(2, Some("acc_a"), "key:k2", "login.complete"))?;
                db.audit(&entry(3, Some("acc_b"), "key:k3", "login.start"))?;
                db.audit(&entry(4, None, "cli", "apikey.revoke"))?;
                // Written late with an earlier time: ordered by its time.
                db.audit(&entry(1, Some("acc_a"), "system", "login.link_page"))?;
                Ok::<_, StoreError>(())
            })
            .unwrap();
        store
            .read_blocking(|db| {
                let scoped = |a: &str| AuditFilter {
                    account_id: Some(a.into()),
                    ..Default::default()
                };
                let actions = |rows: &[AuditRow]| -> Vec<String> {
                    rows.iter().map(|r| r.action.clone()).collect()
                };
                let all_a = db.audit_page(&scoped("acc_a"), 100, None)?;
                assert_eq!(
                    actions(&all_a),
                    [
                        "login.complete",
                        "login.start",
                        "login.link_page",
                        "policy.create",
                        "account.create"
                    ]
                );
                assert_eq!(all_a[3].detail, Some(json!({"steps": ["pin"]})));
                assert!(all_a
                    .iter()
                    .all(|r| r.account_id.as_deref() == Some("acc_a")));

                // Keyset paging: two at a time gives the same rows.
                let mut paged = Vec::new();
                let mut before = None;
                loop {
                    let page = db.audit_page(&scoped("acc_a"), 2, before)?;
                    if page.is_empty() {
                        break;
                    }
                    before = page.last().map(|r| r.id);
                    paged.extend(page);
                }
                assert_eq!(paged, all_a);

                // Appliance-wide: everything, the account-less row too.
                assert_eq!(db.audit_page(&AuditFilter::default(), 100, None)?.len(), 7);
                // Filters.
                let f = AuditFilter {
                    action: Some("login.".into()),
                    ..scoped("acc_a")
                };
                assert_eq!(
                    actions(&db.audit_page(&f, 100, None)?),
                    ["login.complete", "login.start", "login.link_page"]
                );
                let f = AuditFilter {
                    action: Some("login.start".into()),
                    ..Default::default()
                };
                assert_eq!(db.audit_page(&f, 100, None)?.len(), 2);
                let f = AuditFilter {
                    action: Some("login".into()),
                    ..Default::default()
                };
                assert!(
                    db.audit_page(&f, 100, None)?.is_empty(),
                    "exact unless it ends with ."
                );
                let f = AuditFilter {
                    actor: Some("key:k2".into()),
                    ..scoped("acc_a")
                };
                assert_eq!(db.audit_page(&f, 100, None)?.len(), 2);
                let f = AuditFilter {
                    actor: Some("key:k3".into()),
                    ..scoped("acc_a")
                };
                assert!(db.audit_page(&f, 100, None)?.is_empty(), "other account's");
                let f = AuditFilter {
                    from: Some(t(1)),
                    to: Some(t(2)),
                    ..scoped("acc_a")
                };
                assert_eq!(
                    actions(&db.audit_page(&f, 100, None)?),
                    ["login.link_page", "policy.create"],
                    "from <= at < to"
                );
                // The cursor is a position in the order, not an id range.
                let rows = db.audit_page(&scoped("acc_a"), 100, Some(all_a[1].id))?;
                assert_eq!(actions(&rows), actions(&all_a[2..]));
                // An unknown cursor pages by id alone.
                assert_eq!(db.audit_page(&scoped("acc_a"), 100, Some(1000))?.len(), 5);
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }

    #[test]
    fn pages_are_read_from_the_indexes() {
        let (_d, store) = test_store();
        store
            .read_blocking(|db| {
                for scoped in [true, false] {
                    let sql = format!("EXPLAIN QUERY PLAN {}", page_sql(scoped));
                    let mut st = db.conn.prepare(&sql)?;
                    let plan: Vec<String> = st
                        .query_map(
                            params![
                                "acc",
                                0,
                                1,
                                1,
                                1,
                                None::<String>,
                                None::<String>,
                                None::<String>,
                                10
                            ],
                            |r| r.get::<_, String>(3),
                        )?
                        .collect::<Result<_, _>>()?;
                    let plan = plan.join("; ");
                    let index = if scoped {
                        "audit_log_account_at"
                    } else {
                        "audit_log_at"
                    };
                    assert!(plan.contains(index), "{plan}");
                    assert!(!plan.contains("TEMP B-TREE"), "{plan}");
                }
                Ok::<_, StoreError>(())
            })
            .unwrap();
    }
}
