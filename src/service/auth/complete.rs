//! `POST /v2/system/authenticate/user`: check a PIN or link, advance the steps.

use super::record::step_entry;
use super::*;
use crate::domain::Caller;

impl Services {
    /// Every checked step (approved, pending, wrong secret, expired, locked,
    /// ...) is recorded in the audit log as `login.complete` by `caller`, in
    /// its transaction. A request that names no authentication (404) is not.
    pub async fn complete(
        &self,
        caller: &Caller,
        input: CompleteInput,
        now: DateTime<Utc>,
    ) -> Result<CompleteOutcome, Error> {
        let (email, system) = parse_names(&input.email, &input.system)?;
        let secret = match (&input.pin, &input.passwordless) {
            (Some(p), None) => (Factor::Pin, p.clone()),
            (None, Some(l)) => (Factor::Passwordless, l.clone()),
            (Some(_), Some(_)) => {
                return Err(Invalid::new("pin", "send either pin or passwordless, not both").into())
            }
            (None, None) => return Err(Invalid::new("pin", "send pin or passwordless").into()),
        };
        if secret.1.is_empty() || secret.1.len() > MAX_SECRET_INPUT {
            return Err(Invalid::new(secret.0.as_str(), "must be 1 to 2048 characters").into());
        }
        if let Some(r) = &input.request_id {
            if r.len() > 64 {
                return Err(Invalid::new("request_id", "is not a request id").into());
            }
        }
        let caller = caller.clone();
        let svc = self.clone();
        let request_id = input.request_id.clone();
        let (checked, queued) = self
            .store
            .write(move |db| {
                svc.complete_tx(
                    db,
                    &caller,
                    &email,
                    &system,
                    request_id.as_deref(),
                    secret,
                    now,
                )
            })
            .await?;
        self.metrics
            .login(super::record::step_outcome("login.complete", &checked));
        if queued {
            self.outbox_ready.notify_one();
        }
        self.finish(checked, now)
    }

    #[allow(clippy::too_many_arguments)]
    fn complete_tx(
        &self,
        db: &Db<'_>,
        caller: &Caller,
        email: &Email,
        system_name: &Name,
        request_id: Option<&str>,
        (factor, raw): (Factor, String),
        now: DateTime<Utc>,
    ) -> Result<(Checked, bool), Error> {
        let account_id = caller.account_id.as_str();
        let not_found = || {
            Error::not_found(
                "challenge_not_found",
                "no authentication in progress for this user and system",
            )
        };
        let system = db.system(account_id, system_name.as_str())?;
        let token = match factor {
            Factor::Passwordless => Some(extract_token(
                &raw,
                system.as_ref().and_then(|s| s.link_url.as_deref()),
                &self.public_url,
            )),
            Factor::Pin => None,
        };
        let found = match (request_id, &token) {
            (Some(id), _) => db.challenge(account_id, id)?,
            (None, Some(t)) => match db.challenge_by_secret(&link_hash(&self.key, t))? {
                Some(c) if c.account_id == account_id => Some(c),
                _ => db.latest_challenge(account_id, email.as_str(), system_name.as_str())?,
            },
            (None, None) => {
                db.latest_challenge(account_id, email.as_str(), system_name.as_str())?
            }
        };
        let mut c = match found {
            Some(c) if c.email == email.as_str() && c.system_name == system_name.as_str() => c,
            _ => return Err(not_found()),
        };
        let checked = self.check_secret(db, &mut c, system.as_ref(), factor, &raw, token, now)?;
        let entry = step_entry(&caller.actor, "login.complete", &c, factor, &checked.0, now);
        db.audit(&entry)?;
        Ok(checked)
    }

    /// Checks the presented secret against the challenge's current step.
    #[allow(clippy::too_many_arguments)]
    fn check_secret(
        &self,
        db: &Db<'_>,
        c: &mut Challenge,
        system: Option<&SystemRow>,
        factor: Factor,
        raw: &str,
        token: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(Checked, bool), Error> {
        if let Some(refusal) = self.refuse_if_closed(db, c, now)? {
            return Ok((Checked::Refused(refusal), false));
        }
        let expected = match c.current_step() {
            Some(s) => s,
            None => {
                return Err(Error::not_found(
                    "challenge_not_found",
                    "no authentication in progress for this user and system",
                ))
            }
        };
        if expected != factor {
            return Ok((
                Checked::Refused(Error::conflict(
                    "wrong_step",
                    format!(
                        "this authentication is waiting for the {} step",
                        expected.as_str()
                    ),
                )),
                false,
            ));
        }
        let presented = match factor {
            Factor::Pin => pin_hash(&self.key, &c.id, raw.trim()),
            Factor::Passwordless => link_hash(&self.key, token.as_deref().unwrap_or_default()),
        };
        let matches = c.secret_hash.is_some_and(|h| crypto::ct_eq(&h, &presented));
        if !matches {
            return Ok((
                Checked::Refused(self.wrong_secret(db, c, factor, now)?),
                false,
            ));
        }
        self.satisfy(db, c, system, now)
    }

    /// Refusals that do not depend on the secret: locked user, dead or
    /// expired challenge. A user who was disabled or deleted, lost the grant,
    /// or whose system was deleted since the start cannot finish it: the
    /// challenge expires. Persists an expiry it discovers.
    pub(super) fn refuse_if_closed(
        &self,
        db: &Db<'_>,
        c: &mut Challenge,
        now: DateTime<Utc>,
    ) -> Result<Option<Error>, Error> {
        if c.decoy.is_none() && c.status == ChallengeStatus::Pending {
            let user = match c.user_id {
                Some(uid) => db.user_by_id(&c.account_id, uid)?,
                None => None,
            };
            if user.as_ref().is_some_and(|u| u.locked_at.is_some()) {
                return Ok(Some(Error::UserLocked));
            }
            let still_allowed = match (&user, c.system_id) {
                (Some(u), Some(sid)) => u.enabled && db.has_grant(sid, u.id)?,
                _ => false,
            };
            if !still_allowed {
                expire(db, c, now)?;
                return Ok(Some(Error::Expired));
            }
        }
        Ok(match c.status_at(now) {
            ChallengeStatus::Pending => None,
            ChallengeStatus::Approved => Some(Error::conflict(
                "already_completed",
                "this authentication is already approved",
            )),
            ChallengeStatus::Failed => Some(Error::AttemptsExhausted),
            ChallengeStatus::Expired => {
                if c.status == ChallengeStatus::Pending {
                    expire(db, c, now)?;
                }
                Some(Error::Expired)
            }
        })
    }

    pub(super) fn wrong_secret(
        &self,
        db: &Db<'_>,
        c: &mut Challenge,
        factor: Factor,
        now: DateTime<Utc>,
    ) -> Result<Error, Error> {
        let dead = c.record_wrong_secret(now);
        if let Some(uid) = c.user_id {
            db.record_auth_failure(uid, now)?;
            if db.record_user_failure(&c.account_id, uid, now)? {
                tracing::warn!(request_id = %c.id, "user locked after too many consecutive failures");
            }
        }
        db.bump_usage(&c.account_id, &month_of(now), UsageField::Failures)?;
        if dead {
            db.expire_challenge_sms(&c.id, now)?;
        }
        db.update_challenge(c, now)?;
        Ok(Error::WrongSecret {
            factor,
            attempts_left: c.attempts_left(),
        })
    }

    /// The current step is done: approve, or send the next step's SMS.
    pub(super) fn satisfy(
        &self,
        db: &Db<'_>,
        c: &mut Challenge,
        system: Option<&SystemRow>,
        now: DateTime<Utc>,
    ) -> Result<(Checked, bool), Error> {
        if let Some(uid) = c.user_id {
            db.reset_user_failures(&c.account_id, uid)?;
        }
        let outcome = match c.satisfy_step(now) {
            None => {
                db.expire_challenge_sms(&c.id, now)?;
                db.bump_usage(&c.account_id, &month_of(now), UsageField::Approvals)?;
                CompleteOutcome::Approved {
                    request_id: c.id.clone(),
                    amr: c.amr.clone(),
                    acr: acr_for(&c.amr).to_string(),
                    assertion: None,
                }
            }
            Some(next) => {
                let user = match c.user_id {
                    Some(uid) => db.user_by_id(&c.account_id, uid)?,
                    None => None,
                };
                let system = match system {
                    Some(s) => s.clone(),
                    None => {
                        return Err(Error::not_found(
                            "system_not_found",
                            "the system was deleted",
                        ))
                    }
                };
                let sms = self.send_step(db, c, &system, user.as_ref(), now)?;
                db.update_challenge(c, now)?;
                let queued = enqueue(db, c, sms, now)?;
                let outcome = CompleteOutcome::Pending {
                    request_id: c.id.clone(),
                    next_step: next,
                    expires_at: c.secret_expires_at,
                };
                return Ok((Checked::Done(outcome, None), queued));
            }
        };
        db.update_challenge(c, now)?;
        Ok((Checked::Done(outcome, self.claims(c)), false))
    }

    /// After the transaction: sign an approval, or hand out the refusal.
    pub(super) fn finish(
        &self,
        checked: Checked,
        now: DateTime<Utc>,
    ) -> Result<CompleteOutcome, Error> {
        match checked {
            Checked::Done(
                CompleteOutcome::Approved {
                    request_id,
                    amr,
                    acr,
                    ..
                },
                claims,
            ) => Ok(CompleteOutcome::Approved {
                request_id,
                amr,
                acr,
                assertion: self.sign(claims, now),
            }),
            Checked::Done(o, _) => Ok(o),
            Checked::Refused(e) => Err(e),
        }
    }
}
