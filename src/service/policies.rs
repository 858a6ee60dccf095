use super::{audit, unique_conflict, Error, Services};
use crate::domain::{
    Caller, Factor, Name, NameKind, OutcomeInput, PolicySpec, PolicySpecInput, RuleInput,
};
use crate::store::PolicyRow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicyView {
    pub name: String,
    pub steps: Vec<Factor>,
    pub pin_length: u8,
    pub pin_ttl_seconds: u32,
    pub link_ttl_seconds: u32,
    pub max_attempts: u32,
    pub session_max_age_seconds: u32,
    /// Context rules in order (empty: `default` always decides).
    pub rules: Vec<RuleInput>,
    pub default: OutcomeInput,
    pub timezone: Option<String>,
    /// Built-in policies (`passwordless`, `pin`) cannot be changed or deleted.
    pub builtin: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<PolicyRow> for PolicyView {
    fn from(r: PolicyRow) -> Self {
        let rules = r.spec.effective_rules().to_input();
        Self {
            name: r.name,
            rules: rules.rules,
            default: rules.default.unwrap_or_default(),
            timezone: rules.timezone,
            session_max_age_seconds: r.spec.session_max_age_seconds,
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
        caller: &Caller,
        name: &str,
        input: PolicySpecInput,
        now: DateTime<Utc>,
    ) -> Result<PolicyView, Error> {
        let name = Name::parse(NameKind::Policy, name)?;
        let spec = PolicySpec::parse(input)?;
        let caller = caller.clone();
        self.store
            .write(move |db| {
                let a = &caller.account_id;
                db.insert_policy(a, name.as_str(), &spec, false, now)
                    .map_err(|e| {
                        unique_conflict(e, "policy_exists", format!("a policy named {name} exists"))
                    })?;
                let view = db
                    .policy(a, name.as_str())?
                    .map(PolicyView::from)
                    .ok_or_else(|| policy_not_found(name.as_str()))?;
                db.audit(
                    &audit::change(&caller, "policy.create", format!("policy:{name}"), now)
                        .with_detail(json!({"steps": view.steps, "rules": view.rules.len()})),
                )?;
                Ok(view)
            })
            .await
    }

    pub async fn replace_policy(
        &self,
        caller: &Caller,
        name: &str,
        input: PolicySpecInput,
        now: DateTime<Utc>,
    ) -> Result<PolicyView, Error> {
        let spec = PolicySpec::parse(input)?;
        let (caller, n) = (caller.clone(), name.to_string());
        self.store
            .write(move |db| {
                let a = &caller.account_id;
                let current = db.policy(a, &n)?.ok_or_else(|| policy_not_found(&n))?;
                if current.builtin {
                    return Err(builtin_refused(&n));
                }
                db.update_policy(a, &n, &spec, now)?;
                let view = db
                    .policy(a, &n)?
                    .map(PolicyView::from)
                    .ok_or_else(|| policy_not_found(&n))?;
                let fields = audit::changed_fields(&PolicyView::from(current), &view);
                db.audit(
                    &audit::change(&caller, "policy.replace", format!("policy:{n}"), now)
                        .with_detail(json!({"fields": fields})),
                )?;
                Ok(view)
            })
            .await
    }

    pub async fn delete_policy(
        &self,
        caller: &Caller,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let (caller, n) = (caller.clone(), name.to_string());
        self.store
            .write(move |db| {
                let a = &caller.account_id;
                let current = db.policy(a, &n)?.ok_or_else(|| policy_not_found(&n))?;
                if current.builtin {
                    return Err(builtin_refused(&n));
                }
                let users = db.policy_users(a, current.id)?;
                if !users.is_empty() {
                    return Err(Error::conflict(
                        "policy_in_use",
                        format!("policy {n} is used by: {}", users.join(", ")),
                    ));
                }
                db.delete_policy(a, &n)?;
                db.audit(&audit::change(
                    &caller,
                    "policy.delete",
                    format!("policy:{n}"),
                    now,
                ))?;
                Ok(())
            })
            .await
    }
}

/// What `POST /v2/policies/{name}/evaluate` answers: what a start would
/// decide under this policy, without creating or sending anything.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EvaluationView {
    /// `require`, `allow` or `deny`.
    pub decision: String,
    /// The steps a start would ask for (after a step-up session, if any).
    pub steps: Vec<Factor>,
    /// The deciding rule's index (a number) or `default`.
    #[schema(value_type = Object)]
    pub matched_rule: serde_json::Value,
    pub acr: String,
    /// Whether `context.session` applied (an approved, fresh login of this user).
    pub session_applied: bool,
    /// False when the user is unknown, disabled, locked or has no grant to
    /// the system: a real start then sends nothing (`reason` says why).
    pub eligible: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

impl Services {
    /// Evaluates policy `name` for a login of `email` to `system` (the
    /// system's own policy is not used: this tries a policy before
    /// assigning it). Reads only.
    pub async fn evaluate_policy(
        &self,
        account_id: &str,
        name: &str,
        input: crate::service::StartInput,
        now: DateTime<Utc>,
    ) -> Result<EvaluationView, Error> {
        use crate::domain::{DecoyReason, Email, Outcome};
        let email = Email::parse(&input.email)?;
        let system_name = Name::parse(NameKind::System, &input.system)?;
        let ctx = crate::service::LoginContext::parse(input.context)?;
        let (a, n) = (account_id.to_string(), name.to_string());
        let svc = self.clone();
        self.store
            .read(move |db| {
                let policy = db.policy(&a, &n)?.ok_or_else(|| policy_not_found(&n))?;
                let system = db.system(&a, system_name.as_str())?.ok_or_else(|| {
                    Error::not_found("system_not_found", format!("no system named {system_name}"))
                })?;
                let user = db.user(&a, email.as_str())?;
                let reason = match &user {
                    None => Some(DecoyReason::UnknownUser),
                    Some(u) if !u.enabled => Some(DecoyReason::UserDisabled),
                    Some(u) if u.locked_at.is_some() => Some(DecoyReason::UserLocked),
                    Some(u) if !db.has_grant(system.id, u.id)? => Some(DecoyReason::NoGrant),
                    Some(_) => None,
                };
                let user = user.filter(|_| reason.is_none());
                let d = svc.decide(db, &a, &policy.spec, &system, user.as_ref(), &ctx, now)?;
                Ok(EvaluationView {
                    decision: match d.decision.outcome {
                        Outcome::Require(_) => "require",
                        Outcome::Allow => "allow",
                        Outcome::Deny => "deny",
                    }
                    .into(),
                    steps: d.steps.clone(),
                    matched_rule: crate::service::matched_rule_json(&d.matched_rule()),
                    acr: d.acr().into(),
                    session_applied: d.session.is_some(),
                    eligible: reason.is_none(),
                    reason: reason.map(DecoyReason::as_str),
                })
            })
            .await
    }
}
