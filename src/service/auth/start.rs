//! `POST /v2/user/authenticate`: a new challenge, or a resend on the live one.

use super::*;

impl Services {
    pub async fn start(
        &self,
        account_id: &str,
        input: StartInput,
        now: DateTime<Utc>,
    ) -> Result<StartOutcome, Error> {
        let (email, system) = parse_names(&input.email, &input.system)?;
        let context = match input.context {
            None | Some(serde_json::Value::Null) => None,
            Some(v @ serde_json::Value::Object(_)) => {
                let s = v.to_string();
                if s.len() > MAX_CONTEXT_BYTES {
                    return Err(
                        Invalid::new("context", "must be at most 4096 bytes of JSON").into(),
                    );
                }
                Some(s)
            }
            Some(_) => return Err(Invalid::new("context", "must be a JSON object").into()),
        };
        let account_id = account_id.to_string();
        let svc = self.clone();
        let (outcome, queued) = self
            .store
            .write(move |db| svc.start_tx(db, &account_id, &email, &system, context, now))
            .await?;
        if queued {
            self.outbox_ready.notify_one();
        }
        outcome
    }

    fn start_tx(
        &self,
        db: &Db<'_>,
        account_id: &str,
        email: &Email,
        system_name: &Name,
        context: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(Result<StartOutcome, Error>, bool), Error> {
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

        // A live challenge is re-used: same request_id, a fresh secret, another SMS.
        if let Some(mut live) =
            db.latest_challenge(account_id, email.as_str(), system.name.as_str())?
        {
            // A look-alike challenge is not resent for a user who has since
            // become eligible (or the other way round): a fresh one is made.
            let same_standing = live.decoy.is_some() == decoy.is_some()
                && live.user_id == user.as_ref().map(|u| u.id);
            if live.status == ChallengeStatus::Pending {
                if same_standing && live.status_at(now) == ChallengeStatus::Pending {
                    live.may_send_sms(now)
                        .map_err(|RetryAfter(s)| Error::RateLimited { retry_after: s })?;
                    // A refused resend keeps the challenge as it is.
                    let phone = user.as_ref().map(|u| u.phone.as_str());
                    if let Some(refused) =
                        self.admit_sms(db, account_id, &live.email, phone, now)?
                    {
                        return Ok((Err(refused), false));
                    }
                    let sms = self.send_step(db, &mut live, &system, user.as_ref(), now)?;
                    db.update_challenge(&live, now)?;
                    return Ok((Ok(outcome(&live)), enqueue(db, &live, sms, now)?));
                }
                expire(db, &mut live, now)?;
            }
        }

        let mut c = Challenge {
            id: crypto::random_id("req", 16),
            account_id: account_id.to_string(),
            email: email.as_str().to_string(),
            system_id: Some(system.id),
            system_name: system.name.clone(),
            user_id: user.as_ref().map(|u| u.id),
            decoy,
            status: ChallengeStatus::Pending,
            policy: system.policy.clone(),
            step_index: 0,
            amr: Vec::new(),
            secret_hash: None,
            secret_expires_at: now,
            attempts: 0,
            sms_count: 0,
            last_sms_at: None,
            context,
            created_at: now,
            completed_at: None,
        };
        // A refused start creates no challenge; the refusal is recorded.
        let phone = user.as_ref().map(|u| u.phone.as_str());
        if let Some(refused) = self.admit_sms(db, account_id, email.as_str(), phone, now)? {
            return Ok((Err(refused), false));
        }
        let sms = self.send_step(db, &mut c, &system, user.as_ref(), now)?;
        db.insert_challenge(&c)?;
        let queued = enqueue(db, &c, sms, now)?;
        db.bump_usage(account_id, &month_of(now), UsageField::Starts)?;
        if let Some(reason) = decoy {
            tracing::info!(request_id = %c.id, reason = reason.as_str(), "start answered without SMS");
        }
        Ok((Ok(outcome(&c)), queued))
    }
}
