//! `POST /v2/user/authenticate`: the policy decides; then a new challenge,
//! a resend on the live one, an approval at once, or a refusal.

use super::record::{refusal_reason, StartRecord};
use super::*;
use crate::domain::{Caller, Outcome, Steps};
use serde_json::json;

impl Services {
    /// Every decision (pending, approved, denied, refused) is recorded in
    /// the audit log as `login.start` by `caller`, in its transaction.
    pub async fn start(
        &self,
        caller: &Caller,
        input: StartInput,
        now: DateTime<Utc>,
    ) -> Result<StartOutcome, Error> {
        let (email, system) = parse_names(&input.email, &input.system)?;
        let ctx = LoginContext::parse(input.context)?;
        let caller = caller.clone();
        let svc = self.clone();
        let (outcome, queued) = self
            .store
            .write(move |db| svc.start_tx(db, &caller, &email, &system, &ctx, now))
            .await?;
        self.metrics.login(super::record::start_outcome(&outcome));
        if queued {
            self.outbox_ready.notify_one();
        }
        let (mut outcome, claims) = outcome?;
        outcome.assertion = self.sign(claims, now);
        Ok(outcome)
    }

    #[allow(clippy::type_complexity)]
    fn start_tx(
        &self,
        db: &Db<'_>,
        caller: &Caller,
        email: &Email,
        system_name: &Name,
        ctx: &LoginContext,
        now: DateTime<Utc>,
    ) -> Result<(Result<(StartOutcome, Option<Assertion>), Error>, bool), Error> {
        let account_id = caller.account_id.as_str();
        let system = db
            .system(account_id, system_name.as_str())?
            .ok_or_else(|| {
                Error::not_found("system_not_found", format!("no system named {system_name}"))
            })?;
        let user = db.user(account_id, email.as_str())?;
        let decoy = match &user {
            None => Some(DecoyReason::UnknownUser),
            Some(u) if !u.enabled => Some(DecoyReason::UserDisabled),
            Some(u) if u.locked_at.is_some() => Some(DecoyReason::UserLocked),
            Some(u) if !db.has_grant(system.id, u.id)? => Some(DecoyReason::NoGrant),
            Some(_) => None,
        };
        let user = user.filter(|_| decoy.is_none());

        let decided = self.decide(
            db,
            account_id,
            &system.policy,
            &system,
            user.as_ref(),
            ctx,
            now,
        )?;
        let matched_rule = decided.matched_rule();
        let record = StartRecord {
            actor: &caller.actor,
            account_id,
            email: email.as_str(),
            system: &system.name,
            matched_rule: matched_rule.clone(),
            decoy,
        };
        if decided.decision.outcome == Outcome::Deny {
            tracing::info!(system = %system.name, matched_rule, "start denied by policy");
            record.write(db, None, "denied", json!({}), now)?;
            return Ok((Err(Error::DeniedByPolicy { matched_rule }), false));
        }
        let mut steps = decided.steps.clone();
        if decoy.is_some() && steps.is_empty() {
            // Never approve an unknown or ineligible user: answer like a
            // login that waits for an SMS that is never sent.
            steps = match system.policy.effective_rules().default_outcome() {
                Outcome::Require(s) => s.factors().to_vec(),
                _ => Steps::Pin.factors().to_vec(),
            };
        }

        // A live challenge is re-used: same request_id, a fresh secret, another SMS.
        if let Some(mut live) =
            db.latest_challenge(account_id, email.as_str(), system.name.as_str())?
        {
            // A look-alike challenge is not resent for a user who has since
            // become eligible (or the other way round), nor one the policy
            // would now decide differently: a fresh one is made.
            let same_standing = live.decoy.is_some() == decoy.is_some()
                && live.user_id == user.as_ref().map(|u| u.id);
            let same_decision = live.steps() == steps.as_slice()
                && live.session_id == decided.session
                && live.device_id == ctx.device_id
                && live.matched_rule.as_deref() == Some(matched_rule.as_str());
            if live.status == ChallengeStatus::Pending {
                if same_standing
                    && same_decision
                    && !steps.is_empty()
                    && live.status_at(now) == ChallengeStatus::Pending
                {
                    // A refused resend keeps the challenge as it is.
                    let refused = match live.may_send_sms(now) {
                        Err(RetryAfter(s)) => Some(Error::RateLimited { retry_after: s }),
                        Ok(()) => {
                            let phone = user.as_ref().map(|u| u.phone.as_str());
                            self.admit_sms(db, account_id, &live.email, phone, now)?
                        }
                    };
                    if let Some(refused) = refused {
                        let reason = json!({"reason": refusal_reason(&refused)});
                        record.write(db, Some(&live.id), "refused", reason, now)?;
                        return Ok((Err(refused), false));
                    }
                    let sms = self.send_step(db, &mut live, &system, user.as_ref(), now)?;
                    db.update_challenge(&live, now)?;
                    let queued = enqueue(db, &live, sms, now)?;
                    let detail = json!({"steps": live.steps(), "acr": live.acr, "resend": true});
                    record.write(db, Some(&live.id), "pending", detail, now)?;
                    return Ok((Ok((outcome(&live), None)), queued));
                }
                expire(db, &mut live, now)?;
            }
        }

        let inherited = if decided.session.is_some() {
            decided.inherited.clone()
        } else {
            Vec::new()
        };
        let mut c = Challenge {
            id: crypto::random_id("req", 16),
            account_id: account_id.to_string(),
            email: email.as_str().to_string(),
            system_id: Some(system.id),
            system_name: system.name.clone(),
            user_id: user.as_ref().map(|u| u.id),
            decoy,
            status: ChallengeStatus::Pending,
            policy: system.policy.for_steps(&steps),
            step_index: 0,
            amr: inherited,
            secret_hash: None,
            secret_expires_at: now,
            attempts: 0,
            sms_count: 0,
            last_sms_at: None,
            context: ctx.raw.clone(),
            created_at: now,
            completed_at: None,
            matched_rule: Some(matched_rule),
            acr: Some(
                if decoy.is_some() {
                    acr_for(&steps)
                } else {
                    decided.acr()
                }
                .to_string(),
            ),
            device_id: ctx.device_id.clone(),
            session_id: decided.session.clone(),
            match_code: None,
            page_approved: decided.session.is_some() && decided.inherited_page,
        };
        if steps.is_empty() {
            // Approved at once: an `allow` rule (no factors, empty amr), or
            // a step-up session that already proved every step.
            if decided.decision.outcome == Outcome::Allow {
                c.amr.clear();
                c.page_approved = false;
            }
            c.status = ChallengeStatus::Approved;
            c.completed_at = Some(now);
            db.insert_challenge(&c)?;
            db.bump_usage(account_id, &month_of(now), UsageField::Starts)?;
            db.bump_usage(account_id, &month_of(now), UsageField::Approvals)?;
            tracing::info!(request_id = %c.id, matched_rule = c.matched_rule.as_deref(), "start approved without SMS");
            let detail = json!({"steps": [], "acr": c.acr, "amr": c.amr, "session": c.session_id});
            record.write(db, Some(&c.id), "approved", detail, now)?;
            let claims = self.claims(&c);
            return Ok((Ok((outcome(&c), claims)), false));
        }
        // A refused start creates no challenge; the refusal is recorded.
        let phone = user.as_ref().map(|u| u.phone.as_str());
        if let Some(refused) = self.admit_sms(db, account_id, email.as_str(), phone, now)? {
            let reason = json!({"reason": refusal_reason(&refused)});
            record.write(db, None, "refused", reason, now)?;
            return Ok((Err(refused), false));
        }
        let sms = self.send_step(db, &mut c, &system, user.as_ref(), now)?;
        db.insert_challenge(&c)?;
        let queued = enqueue(db, &c, sms, now)?;
        db.bump_usage(account_id, &month_of(now), UsageField::Starts)?;
        let detail = json!({"steps": c.steps(), "acr": c.acr, "session": c.session_id});
        record.write(db, Some(&c.id), "pending", detail, now)?;
        if let Some(reason) = decoy {
            tracing::info!(request_id = %c.id, reason = reason.as_str(), "start answered without SMS");
        }
        Ok((Ok((outcome(&c), None)), queued))
    }
}
