use super::{unique_conflict, Error, Services};
use crate::domain::{Factor, Name, NameKind, PolicySpec, PolicySpecInput};
use crate::store::PolicyRow;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    pub name: String,
    pub steps: Vec<Factor>,
    pub pin_length: u8,
    pub pin_ttl_seconds: u32,
    pub link_ttl_seconds: u32,
    pub max_attempts: u32,
    /// Built-in policies (`passwordless`, `pin`) cannot be changed or deleted.
    pub builtin: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<PolicyRow> for PolicyView {
    fn from(r: PolicyRow) -> Self {
        Self {
            name: r.name,
            steps: r.spec.steps,
            pin_length: r.spec.pin_length,
            pin_ttl_seconds: r.spec.pin_ttl_seconds,
            link_ttl_seconds: r.spec.link_ttl_seconds,
            max_attempts: r.spec.max_attempts,
            builtin: r.builtin,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

pub(super) fn policy_not_found(name: &str) -> Error {
    Error::not_found("policy_not_found", format!("no policy named {name}"))
}

fn builtin_refused(name: &str) -> Error {
    Error::conflict(
        "builtin_policy",
        format!("the built-in policy {name} cannot be changed or deleted"),
    )
}

impl Services {
    pub async fn list_policies(&self, account_id: &str) -> Result<Vec<PolicyView>, Error> {
        let a = account_id.to_string();
        self.store
            .read(move |db| Ok(db.policies(&a)?.into_iter().map(PolicyView::from).collect()))
            .await
    }

    pub async fn get_policy(&self, account_id: &str, name: &str) -> Result<PolicyView, Error> {
        let (a, n) = (account_id.to_string(), name.to_string());
        self.store
            .read(move |db| {
                db.policy(&a, &n)?
                    .map(PolicyView::from)
                    .ok_or_else(|| policy_not_found(&n))
            })
            .await
    }

    pub async fn create_policy(
        &self,
        account_id: &str,
        name: &str,
        input: PolicySpecInput,
        now: DateTime<Utc>,
    ) -> Result<PolicyView, Error> {
        let name = Name::parse(NameKind::Policy, name)?;
        let spec = PolicySpec::parse(input)?;
        let a = account_id.to_string();
        self.store
            .write(move |db| {
                db.insert_policy(&a, name.as_str(), &spec, false, now)
                    .map_err(|e| {
                        unique_conflict(e, "policy_exists", format!("a policy named {name} exists"))
                    })?;
                db.policy(&a, name.as_str())?
                    .map(PolicyView::from)
                    .ok_or_else(|| policy_not_found(name.as_str()))
            })
            .await
    }

    pub async fn replace_policy(
        &self,
        account_id: &str,
        name: &str,
        input: PolicySpecInput,
        now: DateTime<Utc>,
    ) -> Result<PolicyView, Error> {
        let spec = PolicySpec::parse(input)?;
        let (a, n) = (account_id.to_string(), name.to_string());
        self.store
            .write(move |db| {
                let current = db.policy(&a, &n)?.ok_or_else(|| policy_not_found(&n))?;
                if current.builtin {
                    return Err(builtin_refused(&n));
                }
                db.update_policy(&a, &n, &spec, now)?;
                db.policy(&a, &n)?
                    .map(PolicyView::from)
                    .ok_or_else(|| policy_not_found(&n))
            })
            .await
    }

    pub async fn delete_policy(&self, account_id: &str, name: &str) -> Result<(), Error> {
        let (a, n) = (account_id.to_string(), name.to_string());
        self.store
            .write(move |db| {
                let current = db.policy(&a, &n)?.ok_or_else(|| policy_not_found(&n))?;
                if current.builtin {
                    return Err(builtin_refused(&n));
                }
                let users = db.policy_users(&a, current.id)?;
                if !users.is_empty() {
                    return Err(Error::conflict(
                        "policy_in_use",
                        format!("policy {n} is used by: {}", users.join(", ")),
                    ));
                }
                db.delete_policy(&a, &n)?;
                Ok(())
            })
            .await
    }
}
