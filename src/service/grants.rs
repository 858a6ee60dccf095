use super::{users::UserView, Error, Services};
use crate::domain::Email;
use chrono::{DateTime, Utc};

fn not_found(code: &'static str, what: &str) -> Error {
    Error::not_found(
        code,
        format!("no {} {what}", code.trim_end_matches("_not_found")),
    )
}

impl Services {
    /// Grants a user access to a system; returns false if it was already granted.
    pub async fn grant(
        &self,
        account_id: &str,
        system: &str,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, Error> {
        let (a, s) = (account_id.to_string(), system.to_string());
        let email = Email::parse(email).map_err(|_| not_found("user_not_found", email))?;
        self.store
            .write(move |db| {
                let sys = db
                    .system(&a, &s)?
                    .ok_or_else(|| not_found("system_not_found", &s))?;
                let user = db
                    .user(&a, email.as_str())?
                    .ok_or_else(|| not_found("user_not_found", email.as_str()))?;
                Ok(db.put_grant(sys.id, user.id, now)?)
            })
            .await
    }

    pub async fn revoke_grant(
        &self,
        account_id: &str,
        system: &str,
        email: &str,
    ) -> Result<(), Error> {
        let (a, s) = (account_id.to_string(), system.to_string());
        let email = Email::parse(email).map_err(|_| not_found("user_not_found", email))?;
        self.store
            .write(move |db| {
                let sys = db
                    .system(&a, &s)?
                    .ok_or_else(|| not_found("system_not_found", &s))?;
                let user = db
                    .user(&a, email.as_str())?
                    .ok_or_else(|| not_found("user_not_found", email.as_str()))?;
                if db.delete_grant(sys.id, user.id)? {
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
}
