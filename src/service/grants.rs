use super::{audit, users::UserView, Error, Services};
use crate::domain::{Caller, Email};
use chrono::{DateTime, Utc};

fn not_found(code: &'static str, what: &str) -> Error {
    Error::not_found(
        code,
        format!("no {} {what}", code.trim_end_matches("_not_found")),
    )
}

impl Services {
    /// Grants a user access to a system; returns false if it was already
    /// granted (recorded with outcome `unchanged`).
    pub async fn grant(
        &self,
        caller: &Caller,
        system: &str,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let (caller, s) = (caller.clone(), system.to_string());
        let email = Email::parse(email).map_err(|_| not_found("user_not_found", email))?;
        self.store
            .write(move |db| {
                let a = &caller.account_id;
                let sys = db
                    .system(a, &s)?
                    .ok_or_else(|| not_found("system_not_found", &s))?;
                let user = db
                    .user(a, email.as_str())?
                    .ok_or_else(|| not_found("user_not_found", email.as_str()))?;
                let added = db.put_grant(sys.id, user.id, now)?;
                let mut e =
                    audit::change(&caller, "grant.add", format!("system:{}", sys.name), now)
                        .with_detail(serde_json::json!({"user": user.email}));
                if !added {
                    e.outcome = "unchanged".into();
                }
                db.audit(&e)?;
                Ok(added)
            })
            .await
    }

    pub async fn revoke_grant(
        &self,
        caller: &Caller,
        system: &str,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let (caller, s) = (caller.clone(), system.to_string());
        let email = Email::parse(email).map_err(|_| not_found("user_not_found", email))?;
        self.store
            .write(move |db| {
                let a = &caller.account_id;
                let sys = db
                    .system(a, &s)?
                    .ok_or_else(|| not_found("system_not_found", &s))?;
                let user = db
                    .user(a, email.as_str())?
                    .ok_or_else(|| not_found("user_not_found", email.as_str()))?;
                if db.delete_grant(sys.id, user.id)? {
                    db.audit(
                        &audit::change(
                            &caller,
                            "grant.remove",
                            format!("system:{}", sys.name),
                            now,
                        )
                        .with_detail(serde_json::json!({"user": user.email})),
                    )?;
                    Ok(())
                } else {
                    Err(Error::not_found(
                        "grant_not_found",
                        format!("{email} has no access to {s}"),
                    ))
                }
            })
            .await
    }

    pub async fn granted_users(
        &self,
        account_id: &str,
        system: &str,
    ) -> Result<Vec<UserView>, Error> {
        let (a, s) = (account_id.to_string(), system.to_string());
        self.store
            .read(move |db| {
                let sys = db
                    .system(&a, &s)?
                    .ok_or_else(|| not_found("system_not_found", &s))?;
                Ok(db
                    .granted_users(&a, sys.id)?
                    .into_iter()
                    .map(UserView::from)
                    .collect())
            })
            .await
    }

    /// The systems a user may log in to (the grants seen from the user).
    pub async fn user_systems(&self, account_id: &str, email: &str) -> Result<Vec<String>, Error> {
        let a = account_id.to_string();
        let email =
            crate::domain::Email::parse(email).map_err(|_| not_found("user_not_found", email))?;
        self.store
            .read(move |db| {
                let u = db
                    .user(&a, email.as_str())?
                    .ok_or_else(|| not_found("user_not_found", email.as_str()))?;
                Ok(db.user_systems(&a, u.id)?)
            })
            .await
    }
}
