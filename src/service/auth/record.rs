//! The audit records of login decisions (`login.start`, `login.complete`,
//! `login.link_page`), written in the decision's own transaction. They are
//! for operators: a look-alike start says why (`decoy: unknown_user`), which
//! the API caller is never told. No secret, phone number or context.

use super::*;
use crate::domain::Actor;
use crate::service::audit;
use crate::store::AuditEntry;
use serde_json::{json, Map, Value};

/// The outcome recorded for a refusal.
fn refusal_outcome(e: &Error) -> &'static str {
    match e {
        Error::WrongSecret {
            factor: Factor::Pin,
            ..
        } => "wrong_pin",
        Error::WrongSecret {
            factor: Factor::Passwordless,
            ..
        } => "wrong_link",
        Error::Expired => "expired",
        Error::UserLocked => "locked",
        Error::AttemptsExhausted => "failed",
        Error::DeniedByPolicy { .. } => "denied",
        // already_completed, wrong_step
        Error::Conflict { code, .. } => code,
        _ => "refused",
    }
}

/// Which limit refused a start's SMS.
pub(super) fn refusal_reason(e: &Error) -> &'static str {
    match e {
        Error::SmsLimit { limit, .. } => limit,
        Error::RateLimited { .. } => "per_challenge",
        Error::Forbidden { code, .. } => code,
        _ => "other",
    }
}

fn object(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// What every `login.start` record of one start says.
pub(super) struct StartRecord<'a> {
    pub actor: &'a Actor,
    pub account_id: &'a str,
    pub email: &'a str,
    pub system: &'a str,
    pub matched_rule: String,
    pub decoy: Option<DecoyReason>,
}

impl StartRecord<'_> {
    /// Writes the record; `request` is the challenge's id when there is one
    /// (otherwise the target is the system), `extra` more detail fields.
    pub fn write(
        &self,
        db: &Db<'_>,
        request: Option<&str>,
        outcome: &str,
        extra: Value,
        now: DateTime<Utc>,
    ) -> Result<(), Error> {
        let mut d = object(json!({
            "email": self.email,
            "system": self.system,
            "matched_rule": matched_rule_json(&self.matched_rule),
        }));
        if let Some(r) = self.decoy {
            d.insert("decoy".into(), r.as_str().into());
        }
        d.extend(object(extra));
        d.retain(|_, v| !v.is_null());
        let target = match request {
            Some(id) => format!("request:{id}"),
            None => format!("system:{}", self.system),
        };
        let e = audit::entry(
            self.actor,
            Some(self.account_id),
            "login.start",
            target,
            outcome,
            now,
        )
        .with_detail(Value::Object(d));
        db.audit(&e)?;
        Ok(())
    }
}

/// The outcome recorded for a start's decision (also its metrics label).
pub(super) fn start_outcome<T>(decided: &Result<(StartOutcome, T), Error>) -> &'static str {
    match decided {
        Ok((o, _)) if o.approved => "approved",
        Ok(_) => "pending",
        Err(Error::DeniedByPolicy { .. }) => "denied",
        Err(_) => "refused",
    }
}

/// The outcome recorded for a checked step (also its metrics label).
pub(super) fn step_outcome(action: &str, checked: &Checked) -> &'static str {
    let outcome = match checked {
        Checked::Done(CompleteOutcome::Approved { .. }, _) => "approved",
        Checked::Done(CompleteOutcome::Pending { .. }, _) => "pending",
        Checked::Refused(e) => refusal_outcome(e),
    };
    match (action, outcome) {
        ("login.link_page", "wrong_link") => "wrong_pick",
        (_, o) => o,
    }
}

/// The record of a checked step of challenge `c` (`login.complete` or
/// `login.link_page`), its outcome from `checked`.
pub(super) fn step_entry(
    actor: &Actor,
    action: &str,
    c: &Challenge,
    factor: Factor,
    checked: &Checked,
    now: DateTime<Utc>,
) -> AuditEntry {
    let outcome = step_outcome(action, checked);
    let mut d = object(json!({
        "email": c.email,
        "system": c.system_name,
        "step": factor,
    }));
    if let Some(r) = c.decoy {
        d.insert("decoy".into(), r.as_str().into());
    }
    match checked {
        Checked::Done(CompleteOutcome::Approved { amr, acr, .. }, _) => {
            d.insert("amr".into(), json!(amr));
            d.insert("acr".into(), json!(acr));
        }
        Checked::Done(CompleteOutcome::Pending { next_step, .. }, _) => {
            d.insert("next_step".into(), json!(next_step));
        }
        Checked::Refused(Error::WrongSecret { attempts_left, .. }) => {
            d.insert("attempts_left".into(), json!(attempts_left));
        }
        Checked::Refused(_) => {}
    }
    audit::entry(
        actor,
        Some(&c.account_id),
        action,
        format!("request:{}", c.id),
        outcome,
        now,
    )
    .with_detail(Value::Object(d))
}
