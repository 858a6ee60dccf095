use super::{audit, month_of, unique_conflict, Error, Services};
use crate::domain::{Caller, Email, Groups, Invalid, PhoneNumber};
use crate::store::{UserRow, UserUpdate};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;

mod import_csv;

use import_csv::parse_csv;

const MAX_USER_NAME: usize = 200;
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 500;
/// Rows of one CSV import (one transaction).
pub const MAX_IMPORT_ROWS: usize = 100_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub email: String,
    pub phone: String,
    pub name: String,
    pub enabled: bool,
    /// Locked after too many consecutive failures; unlock through the API.
    pub locked: bool,
    pub failed_logins: u32,
    /// For `user_in_group` policy rules, in the order given.
    pub groups: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<UserRow> for UserView {
    fn from(r: UserRow) -> Self {
        Self {
            email: r.email,
            phone: r.phone,
            name: r.name,
            enabled: r.enabled,
            locked: r.locked_at.is_some(),
            failed_logins: r.failed_count,
            groups: r.groups,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserPage {
    pub users: Vec<UserView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UserInput {
    pub email: String,
    pub phone: String,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// Default none.
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub phone: Option<String>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// Replaces the whole list.
    pub groups: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportRowError {
    /// 1-based line where the record starts, the header counted (0 for the
    /// summary line "N more errors not listed" after the first 100).
    pub row: usize,
    pub field: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UsageView {
    pub month: String,
    pub starts: u64,
    pub approvals: u64,
    pub failures: u64,
    pub sms_sent: u64,
}

fn check_name(n: &str) -> Result<String, Invalid> {
    let n = n.trim();
    if n.chars().count() > MAX_USER_NAME || n.chars().any(char::is_control) {
        return Err(Invalid::new(
            "name",
            "must be at most 200 characters without control characters",
        ));
    }
    Ok(n.to_string())
}

fn user_not_found(email: &str) -> Error {
    Error::not_found("user_not_found", format!("no user {email}"))
}

/// Emails in a URL path are matched case-insensitively; an unparseable one
/// cannot exist, so it is simply not found.
fn path_email(raw: &str) -> Result<Email, Error> {
    Email::parse(raw).map_err(|_| user_not_found(raw))
}

fn decode_cursor(c: &str) -> Result<String, Invalid> {
    URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| Invalid::new("cursor", "is not a cursor from a previous page"))
}

impl Services {
    pub async fn list_users(
        &self,
        account_id: &str,
        q: Option<String>,
        cursor: Option<String>,
        limit: Option<u32>,
    ) -> Result<UserPage, Error> {
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(Invalid::new("limit", "must be between 1 and 500").into());
        }
        if q.as_ref().is_some_and(|q| q.len() > 254) {
            return Err(Invalid::new("q", "must be at most 254 characters").into());
        }
        let after = cursor.as_deref().map(decode_cursor).transpose()?;
        let a = account_id.to_string();
        let q = q.filter(|q| !q.is_empty());
        let page = self
            .store
            .read(move |db| {
                db.users_page(&a, q.as_deref(), after.as_deref(), limit)
                    .map_err(Error::from)
            })
            .await?;
        Ok(UserPage {
            next_cursor: page.next_after.map(|e| URL_SAFE_NO_PAD.encode(e)),
            users: page.users.into_iter().map(UserView::from).collect(),
        })
    }

    pub async fn get_user(&self, account_id: &str, email: &str) -> Result<UserView, Error> {
        let email = path_email(email)?;
        let a = account_id.to_string();
        self.store
            .read(move |db| {
                db.user(&a, email.as_str())?
                    .map(UserView::from)
                    .ok_or_else(|| user_not_found(email.as_str()))
            })
            .await
    }

    pub async fn create_user(
        &self,
        caller: &Caller,
        input: UserInput,
        now: DateTime<Utc>,
    ) -> Result<UserView, Error> {
        let email = Email::parse(&input.email)?;
        let phone = PhoneNumber::parse(&input.phone)?;
        let name = check_name(input.name.as_deref().unwrap_or(""))?;
        let enabled = input.enabled.unwrap_or(true);
        let groups = Groups::parse(input.groups.unwrap_or_default(), "groups")?;
        let caller = caller.clone();
        self.store
            .write(move |db| {
                let a = &caller.account_id;
                let groups = groups.as_slice();
                db.insert_user(
                    a,
                    email.as_str(),
                    phone.as_str(),
                    &name,
                    enabled,
                    groups,
                    now,
                )
                .map_err(|e| unique_conflict(e, "user_exists", format!("user {email} exists")))?;
                let view = db
                    .user(a, email.as_str())?
                    .map(UserView::from)
                    .ok_or_else(|| user_not_found(email.as_str()))?;
                db.audit(
                    &audit::change(&caller, "user.create", format!("user:{email}"), now)
                        .with_detail(serde_json::json!({
                            "enabled": view.enabled,
                            "groups": view.groups,
                        })),
                )?;
                Ok(view)
            })
            .await
    }

    pub async fn update_user(
        &self,
        caller: &Caller,
        email: &str,
        patch: UserPatch,
        now: DateTime<Utc>,
    ) -> Result<UserView, Error> {
        let email = path_email(email)?;
        let upd = UserUpdate {
            phone: patch
                .phone
                .as_deref()
                .map(PhoneNumber::parse)
                .transpose()?
                .map(|p| p.as_str().to_string()),
            name: patch.name.as_deref().map(check_name).transpose()?,
            enabled: patch.enabled,
            groups: patch
                .groups
                .map(|g| Groups::parse(g, "groups"))
                .transpose()?
                .map(Groups::into_vec),
        };
        let caller = caller.clone();
        self.store
            .write(move |db| {
                let a = &caller.account_id;
                let before = db
                    .user(a, email.as_str())?
                    .map(UserView::from)
                    .ok_or_else(|| user_not_found(email.as_str()))?;
                if !db.update_user(a, email.as_str(), &upd, now)? {
                    return Err(user_not_found(email.as_str()));
                }
                let view = db
                    .user(a, email.as_str())?
                    .map(UserView::from)
                    .ok_or_else(|| user_not_found(email.as_str()))?;
                // Field names only: a new phone number is not repeated here.
                db.audit(
                    &audit::change(&caller, "user.update", format!("user:{email}"), now)
                        .with_detail(serde_json::json!({
                            "fields": audit::changed_fields(&before, &view),
                        })),
                )?;
                Ok(view)
            })
            .await
    }

    pub async fn delete_user(
        &self,
        caller: &Caller,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let email = path_email(email)?;
        let caller = caller.clone();
        self.store
            .write(move |db| {
                if db.delete_user(&caller.account_id, email.as_str())? {
                    db.audit(&audit::change(
                        &caller,
                        "user.delete",
                        format!("user:{email}"),
                        now,
                    ))?;
                    Ok(())
                } else {
                    Err(user_not_found(email.as_str()))
                }
            })
            .await
    }

    pub async fn unlock_user(
        &self,
        caller: &Caller,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<UserView, Error> {
        let email = path_email(email)?;
        let caller = caller.clone();
        self.store
            .write(move |db| {
                let a = &caller.account_id;
                let was_locked = db.user(a, email.as_str())?.map(|u| u.locked_at.is_some());
                if !db.unlock_user(a, email.as_str(), now)? {
                    return Err(user_not_found(email.as_str()));
                }
                db.audit(
                    &audit::change(&caller, "user.unlock", format!("user:{email}"), now)
                        .with_detail(serde_json::json!({"was_locked": was_locked})),
                )?;
                db.user(a, email.as_str())?
                    .map(UserView::from)
                    .ok_or_else(|| user_not_found(email.as_str()))
            })
            .await
    }

    /// Creates or updates every user of the CSV, or none if any row is bad.
    pub async fn import_users(
        &self,
        caller: &Caller,
        body: Vec<u8>,
        now: DateTime<Utc>,
    ) -> Result<ImportSummary, Error> {
        let rows = crate::blocking::run(move || parse_csv(&body))
            .await
            .map_err(|e| Error::Internal(e.to_string()))??;
        let caller = caller.clone();
        self.store
            .write(move |db| {
                let a = &caller.account_id;
                let mut s = ImportSummary {
                    created: 0,
                    updated: 0,
                };
                for r in &rows {
                    let upd = UserUpdate {
                        phone: Some(r.phone.as_str().into()),
                        name: r.name.clone(),
                        enabled: None,
                        groups: r.groups.clone().map(Groups::into_vec),
                    };
                    if db.update_user(a, r.email.as_str(), &upd, now)? {
                        s.updated += 1;
                    } else {
                        let name = r.name.as_deref().unwrap_or("");
                        let groups = r.groups.as_ref().map_or(&[][..], Groups::as_slice);
                        db.insert_user(
                            a,
                            r.email.as_str(),
                            r.phone.as_str(),
                            name,
                            true,
                            groups,
                            now,
                        )?;
                        s.created += 1;
                    }
                }
                db.audit(
                    &audit::change(&caller, "user.import", None, now).with_detail(
                        serde_json::json!({"created": s.created, "updated": s.updated}),
                    ),
                )?;
                Ok(s)
            })
            .await
    }

    pub async fn usage(
        &self,
        account_id: &str,
        month: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<UsageView, Error> {
        let month = match month {
            None => month_of(now),
            Some(m) => {
                let ok = m.len() == 7
                    && chrono::NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d").is_ok();
                if !ok {
                    return Err(Invalid::new("month", "must be YYYY-MM").into());
                }
                m
            }
        };
        let a = account_id.to_string();
        let m = month.clone();
        let u = self
            .store
            .read(move |db| db.usage(&a, &m).map_err(Error::from))
            .await?;
        Ok(UsageView {
            month,
            starts: u.starts,
            approvals: u.approvals,
            failures: u.failures,
            sms_sent: u.sms_sent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::import_csv::{ImportRow, MAX_REPORTED_ERRORS};
    use super::*;

    #[test]
    fn csv_reports_every_bad_row() {
        let csv = b"email,phone,name\na@x.ch,+41790000001,Ann\nbad,+41790000002,\nc@x.ch,079,\na@x.ch,+41790000003,\n";
        match parse_csv(csv) {
            Err(Error::Import(errs)) => {
                let rows: Vec<usize> = errs.iter().map(|e| e.row).collect();
                assert_eq!(rows, vec![3, 4, 5]);
            }
            other => panic!("{other:?}", other = other.map(|r| r.len())),
        }
        let rows = parse_csv(b"a@x.ch,+41790000001\n").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(
            rows[0].name, None,
            "no name column: an existing name is kept"
        );
    }

    #[test]
    fn csv_groups_column() {
        let groups = |r: &ImportRow| r.groups.clone().map(Groups::into_vec);
        // Without a header: email,phone,name,groups.
        let rows = parse_csv(b"a@x.ch,+41790000001,Ann,staff; ops\nb@x.ch,+41790000002,Bob,\nc@x.ch,+41790000003,Cy\n").unwrap();
        assert_eq!(groups(&rows[0]), Some(vec!["staff".into(), "ops".into()]));
        assert_eq!(groups(&rows[1]), Some(vec![]), "an empty cell clears");
        assert_eq!(groups(&rows[2]), None, "no cell keeps");
        // A header names the columns: groups without name keeps names.
        let rows = parse_csv(b"Email,Phone,Groups\na@x.ch,+41790000001,staff\n").unwrap();
        assert_eq!(rows[0].name, None);
        assert_eq!(groups(&rows[0]), Some(vec!["staff".into()]));
        let rows = parse_csv(b"email,phone,groups,name\na@x.ch,+41790000001,staff,Ann\n").unwrap();
        assert_eq!(rows[0].name.as_deref(), Some("Ann"));
        assert_eq!(groups(&rows[0]), Some(vec!["staff".into()]));
        let rows = parse_csv(b"email,phone,name\na@x.ch,+41790000001,Ann\n").unwrap();
        assert_eq!(groups(&rows[0]), None, "no groups column keeps groups");
        // Errors: a bad cell is that row's, a bad header is line 1's.
        for (csv, row, field) in [
            (
                &b"email,phone,groups\na@x.ch,+41790000001,ok\nb@x.ch,+41790000002,a;;b\n"[..],
                3,
                "groups",
            ),
            (
                b"email,phone,name\na@x.ch,+41790000001,Ann,staff\n",
                2,
                "row",
            ),
            (b"email,phone,group\na@x.ch,+41790000001,staff\n", 1, "row"),
            (b"email,phone,name,name\n", 1, "row"),
            (b"email,mobile\n", 1, "row"),
        ] {
            match parse_csv(csv) {
                Err(Error::Import(errs)) => {
                    assert_eq!(errs.len(), 1, "{errs:?}");
                    assert_eq!(
                        (errs[0].row, errs[0].field.as_str()),
                        (row, field),
                        "{errs:?}"
                    );
                }
                other => panic!("{:?}", other.map(|r| r.len())),
            }
        }
    }

    #[test]
    fn csv_errors_are_capped_and_numbered_by_line() {
        let bad: String = (0..300).map(|_| "x\n").collect();
        match parse_csv(bad.as_bytes()) {
            Err(Error::Import(errs)) => {
                assert_eq!(errs.len(), MAX_REPORTED_ERRORS + 1);
                assert_eq!(errs.last().map(|e| e.row), Some(0));
                assert!(errs
                    .last()
                    .is_some_and(|e| e.message.starts_with("200 more")));
            }
            other => panic!("{:?}", other.map(|r| r.len())),
        }
        match parse_csv(b"a@x.ch,+41790000001\n\n\"b@x.ch\",bad\n") {
            Err(Error::Import(errs)) => assert_eq!(errs[0].row, 3, "blank lines count"),
            other => panic!("{:?}", other.map(|r| r.len())),
        }
    }
}
