use super::policies::policy_not_found;
use super::{audit, unique_conflict, Error, Services};
use crate::domain::{Caller, Invalid, Name, NameKind, Sensitivity};
use crate::store::{SystemFields, SystemRow};
use chrono::{DateTime, Utc};
use serde::Serialize;

const MAX_DESCRIPTION: usize = 1000;
const MAX_LINK_URL: usize = 1000;
pub const DEFAULT_POLICY: &str = "passwordless";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SystemView {
    pub name: String,
    pub description: String,
    pub policy: String,
    pub link_url: Option<String>,
    /// 0 (routine) to 3 (most sensitive); policy rules with
    /// `sensitivity_at_least` read it when the login sends no
    /// `context.sensitivity`.
    pub sensitivity: u8,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<SystemRow> for SystemView {
    fn from(r: SystemRow) -> Self {
        Self {
            name: r.name,
            description: r.description,
            policy: r.policy_name,
            link_url: r.link_url,
            sensitivity: r.sensitivity,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SystemInput {
    pub name: String,
    pub description: Option<String>,
    pub policy: Option<String>,
    pub link_url: Option<String>,
    /// 0 to 3; default 0.
    pub sensitivity: Option<u8>,
}

/// `link_url: Some(None)` clears the template.
#[derive(Debug, Clone, Default)]
pub struct SystemPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub policy: Option<String>,
    pub link_url: Option<Option<String>>,
    pub sensitivity: Option<u8>,
}

fn check_description(d: &str) -> Result<(), Invalid> {
    if d.chars().count() > MAX_DESCRIPTION {
        return Err(Invalid::new(
            "description",
            "must be at most 1000 characters",
        ));
    }
    Ok(())
}

/// A link template must be an http(s) URL holding `{token}` exactly once.
fn check_link_url(u: &str) -> Result<(), Invalid> {
    let err = |m: &str| Invalid::new("link_url", m.to_string());
    if u.len() > MAX_LINK_URL {
        return Err(err("must be at most 1000 characters"));
    }
    if u.matches("{token}").count() != 1 {
        return Err(err("must contain {token} exactly once"));
    }
    let probe = u.replace("{token}", "t");
    match url::Url::parse(&probe) {
        Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => Ok(()),
        _ => Err(err("must be an http or https URL")),
    }
}

fn system_not_found(name: &str) -> Error {
    Error::not_found("system_not_found", format!("no system named {name}"))
}

impl Services {
    pub async fn list_systems(&self, account_id: &str) -> Result<Vec<SystemView>, Error> {
        let a = account_id.to_string();
        self.store
            .read(move |db| Ok(db.systems(&a)?.into_iter().map(SystemView::from).collect()))
            .await
    }

    pub async fn get_system(&self, account_id: &str, name: &str) -> Result<SystemView, Error> {
        let (a, n) = (account_id.to_string(), name.to_string());
        self.store
            .read(move |db| {
                db.system(&a, &n)?
                    .map(SystemView::from)
                    .ok_or_else(|| system_not_found(&n))
            })
            .await
    }

    pub async fn create_system(
        &self,
        caller: &Caller,
        input: SystemInput,
        now: DateTime<Utc>,
    ) -> Result<SystemView, Error> {
        let name = Name::parse(NameKind::System, &input.name)?;
        let description = input.description.unwrap_or_default();
        check_description(&description)?;
        if let Some(u) = &input.link_url {
            check_link_url(u)?;
        }
        let sensitivity = Sensitivity::parse(input.sensitivity.unwrap_or(0), "sensitivity")?;
        let policy = input.policy.unwrap_or_else(|| DEFAULT_POLICY.to_string());
        let caller = caller.clone();
        self.store
            .write(move |db| {
                let a = &caller.account_id;
                let p = db
                    .policy(a, &policy)?
                    .ok_or_else(|| policy_not_found(&policy))?;
                let fields = SystemFields {
                    name: name.as_str(),
                    description: &description,
                    policy_id: p.id,
                    link_url: input.link_url.as_deref(),
                    sensitivity: sensitivity.get(),
                };
                db.insert_system(a, &fields, now).map_err(|e| {
                    unique_conflict(e, "system_exists", format!("a system named {name} exists"))
                })?;
                let view = db
                    .system(a, name.as_str())?
                    .map(SystemView::from)
                    .ok_or_else(|| system_not_found(name.as_str()))?;
                db.audit(
                    &audit::change(&caller, "system.create", format!("system:{name}"), now)
                        .with_detail(serde_json::json!({
                            "policy": view.policy,
                            "sensitivity": view.sensitivity,
                        })),
                )?;
                Ok(view)
            })
            .await
    }

    pub async fn update_system(
        &self,
        caller: &Caller,
        name: &str,
        patch: SystemPatch,
        now: DateTime<Utc>,
    ) -> Result<SystemView, Error> {
        let new_name = patch
            .name
            .as_deref()
            .map(|n| Name::parse(NameKind::System, n))
            .transpose()?;
        if let Some(d) = &patch.description {
            check_description(d)?;
        }
        if let Some(Some(u)) = &patch.link_url {
            check_link_url(u)?;
        }
        let sensitivity = patch
            .sensitivity
            .map(|v| Sensitivity::parse(v, "sensitivity"))
            .transpose()?;
        let (caller, n) = (caller.clone(), name.to_string());
        self.store
            .write(move |db| {
                let a = &caller.account_id;
                let cur = db.system(a, &n)?.ok_or_else(|| system_not_found(&n))?;
                let before = SystemView::from(cur.clone());
                let policy_name = patch.policy.unwrap_or(cur.policy_name);
                let policy = db
                    .policy(a, &policy_name)?
                    .ok_or_else(|| policy_not_found(&policy_name))?;
                let name = new_name.map(|n| n.as_str().to_string()).unwrap_or(cur.name);
                let description = patch.description.unwrap_or(cur.description);
                let link_url = patch.link_url.unwrap_or(cur.link_url);
                let fields = SystemFields {
                    name: &name,
                    description: &description,
                    policy_id: policy.id,
                    link_url: link_url.as_deref(),
                    sensitivity: sensitivity.map_or(cur.sensitivity, Sensitivity::get),
                };
                db.update_system(a, cur.id, &fields, now).map_err(|e| {
                    unique_conflict(e, "system_exists", format!("a system named {name} exists"))
                })?;
                let view = db
                    .system(a, &name)?
                    .map(SystemView::from)
                    .ok_or_else(|| system_not_found(&name))?;
                let mut detail = serde_json::json!({
                    "fields": audit::changed_fields(&before, &view),
                });
                if before.name != view.name {
                    detail["renamed_from"] = before.name.into();
                }
                db.audit(
                    &audit::change(&caller, "system.update", format!("system:{name}"), now)
                        .with_detail(detail),
                )?;
                Ok(view)
            })
            .await
    }

    pub async fn delete_system(
        &self,
        caller: &Caller,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let (caller, n) = (caller.clone(), name.to_string());
        self.store
            .write(move |db| {
                if db.delete_system(&caller.account_id, &n)? {
                    db.audit(&audit::change(
                        &caller,
                        "system.delete",
                        format!("system:{n}"),
                        now,
                    ))?;
                    Ok(())
                } else {
                    Err(system_not_found(&n))
                }
            })
            .await
    }
}
