//! The two login calls, status polling and the link confirmation page.

use super::{month_of, Error, Services};
use crate::crypto::{self, ServerKey};
use crate::domain::{
    Challenge, ChallengeStatus, DecoyReason, Email, Factor, Invalid, Name, NameKind, RetryAfter,
};
use crate::store::{Db, SystemRow, UsageField, UserRow};
use chrono::{DateTime, Utc};

/// Bytes of entropy in a link token (192 bits).
const TOKEN_BYTES: usize = 24;
const MAX_SECRET_INPUT: usize = 2048;
const MAX_CONTEXT_BYTES: usize = 4096;

#[derive(Debug, Clone)]
pub struct StartInput {
    pub email: String,
    pub system: String,
    pub context: Option<serde_json::Value>,
}

#[derive(Debug, Clone)]
pub struct StartOutcome {
    pub request_id: String,
    pub steps: Vec<Factor>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct CompleteInput {
    pub email: String,
    pub system: String,
    pub pin: Option<String>,
    pub passwordless: Option<String>,
    pub request_id: Option<String>,
}

#[derive(Debug, Clone)]
pub enum CompleteOutcome {
    Approved {
        request_id: String,
        amr: Vec<Factor>,
    },
    Pending {
        request_id: String,
        next_step: Factor,
        expires_at: DateTime<Utc>,
    },
}

#[derive(Debug, Clone)]
pub struct StatusView {
    pub request_id: String,
    pub status: ChallengeStatus,
    pub steps: Vec<Factor>,
    pub next_step: Option<Factor>,
    pub amr: Vec<Factor>,
    pub attempts_left: u32,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// What the link confirmation page shows.
#[derive(Debug, Clone)]
pub struct LinkView {
    pub system_name: String,
    /// False when the link is unknown, used, expired or not the current step.
    pub usable: bool,
}

/// The outcome of a check inside the write transaction: wrong secrets must
/// commit (attempt counters) and only then become errors.
enum Checked {
    Done(CompleteOutcome),
    Refused(Error),
}

fn pin_hash(key: &ServerKey, challenge_id: &str, pin: &str) -> [u8; 32] {
    key.mac(&[b"pin", challenge_id.as_bytes(), pin.as_bytes()])
}

fn link_hash(key: &ServerKey, token: &str) -> [u8; 32] {
    key.mac(&[b"link", token.as_bytes()])
}

fn parse_names(email: &str, system: &str) -> Result<(Email, Name), Error> {
    Ok((Email::parse(email)?, Name::parse(NameKind::System, system)?))
}

/// Takes the token out of whatever the caller passed: the bare token, the
/// appliance's own link, or the system's `link_url` with the token filled in.
fn extract_token(raw: &str, link_url: Option<&str>, public_url: &str) -> String {
    let raw = raw.trim();
    if let Some(template) = link_url {
        if let Some((pre, post)) = template.split_once("{token}") {
            if let Some(t) = raw.strip_prefix(pre).and_then(|r| r.strip_suffix(post)) {
                return t.to_string();
            }
        }
    }
    let own = format!("{public_url}/l/");
    if let Some(t) = raw.strip_prefix(&own) {
        return t.to_string();
    }
    // Any other URL: its last path segment, or a `token` query parameter.
    if let Ok(u) = url::Url::parse(raw) {
        if let Some((_, v)) = u.query_pairs().find(|(k, _)| k == "token") {
            return v.into_owned();
        }
        if let Some(seg) = u.path_segments().and_then(|mut s| s.next_back()) {
            return seg.to_string();
        }
    }
    raw.to_string()
}

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
        Ok(outcome)
    }

    fn start_tx(
        &self,
        db: &Db<'_>,
        account_id: &str,
        email: &Email,
        system_name: &Name,
        context: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(StartOutcome, bool), Error> {
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
            if live.status == ChallengeStatus::Pending {
                if live.status_at(now) == ChallengeStatus::Pending {
                    live.may_send_sms(now)
                        .map_err(|RetryAfter(s)| Error::RateLimited { retry_after: s })?;
                    let sms = self.send_step(db, &mut live, &system, user.as_ref(), now)?;
                    db.update_challenge(&live, now)?;
                    return Ok((outcome(&live), enqueue(db, &live, sms, now)?));
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
        let sms = self.send_step(db, &mut c, &system, user.as_ref(), now)?;
        db.insert_challenge(&c)?;
        let queued = enqueue(db, &c, sms, now)?;
        db.bump_usage(account_id, &month_of(now), UsageField::Starts)?;
        if let Some(reason) = decoy {
            tracing::info!(request_id = %c.id, reason = reason.as_str(), "start answered without SMS");
        }
        Ok((outcome(&c), queued))
    }

    /// Arms a fresh secret for the current step and returns its SMS (none
    /// for a decoy), to be queued once the challenge row is written.
    fn send_step(
        &self,
        db: &Db<'_>,
        c: &mut Challenge,
        system: &SystemRow,
        user: Option<&UserRow>,
        now: DateTime<Utc>,
    ) -> Result<Option<QueuedSms>, Error> {
        let Some(step) = c.current_step() else {
            return Ok(None);
        };
        // An older SMS of this challenge still in the queue carries a secret
        // that is about to be replaced: it must never go out.
        db.expire_challenge_sms(&c.id, now)?;
        let (hash, text) = match step {
            Factor::Pin => {
                let pin = crypto::random_pin(c.policy.pin_length);
                let mins = c.policy.pin_ttl_seconds.div_ceil(60);
                let text = format!(
                    "{pin} is your PIN for {}. It expires in {mins} min. Never share it.",
                    system.name
                );
                (pin_hash(&self.key, &c.id, &pin), text)
            }
            Factor::Passwordless => {
                let token = crypto::random_token::<TOKEN_BYTES>();
                let link = match &system.link_url {
                    Some(t) => t.replace("{token}", &token),
                    None => format!("{}/l/{token}", self.public_url),
                };
                let mins = c.policy.link_ttl_seconds.div_ceil(60);
                let text = format!("Sign in to {}: {link} (valid {mins} min)", system.name);
                (link_hash(&self.key, &token), text)
            }
        };
        match (c.decoy, user) {
            (None, Some(user)) => {
                c.arm_secret(hash, step, now);
                Ok(Some(QueuedSms {
                    to: user.phone.clone(),
                    sealed: self.key.seal(&text),
                }))
            }
            _ => {
                // A decoy keeps the same timing and counters but a secret nobody knows.
                c.arm_secret(crypto::random_bytes::<32>(), step, now);
                Ok(None)
            }
        }
    }

    pub async fn complete(
        &self,
        account_id: &str,
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
        let account_id = account_id.to_string();
        let svc = self.clone();
        let request_id = input.request_id.clone();
        let (checked, queued) = self
            .store
            .write(move |db| {
                svc.complete_tx(
                    db,
                    &account_id,
                    &email,
                    &system,
                    request_id.as_deref(),
                    secret,
                    now,
                )
            })
            .await?;
        if queued {
            self.outbox_ready.notify_one();
        }
        match checked {
            Checked::Done(o) => Ok(o),
            Checked::Refused(e) => Err(e),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn complete_tx(
        &self,
        db: &Db<'_>,
        account_id: &str,
        email: &Email,
        system_name: &Name,
        request_id: Option<&str>,
        (factor, raw): (Factor, String),
        now: DateTime<Utc>,
    ) -> Result<(Checked, bool), Error> {
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
        if let Some(refusal) = self.refuse_if_closed(db, &mut c, now)? {
            return Ok((Checked::Refused(refusal), false));
        }
        let expected = match c.current_step() {
            Some(s) => s,
            None => return Err(not_found()),
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
                Checked::Refused(self.wrong_secret(db, &mut c, factor, now)?),
                false,
            ));
        }
        self.satisfy(db, &mut c, system.as_ref(), now)
    }

    /// Refusals that do not depend on the secret: locked user, dead or
    /// expired challenge. Persists an expiry it discovers.
    fn refuse_if_closed(
        &self,
        db: &Db<'_>,
        c: &mut Challenge,
        now: DateTime<Utc>,
    ) -> Result<Option<Error>, Error> {
        if let Some(uid) = c.user_id {
            if db
                .user_by_id(&c.account_id, uid)?
                .is_some_and(|u| u.locked_at.is_some())
            {
                return Ok(Some(Error::UserLocked));
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

    fn wrong_secret(
        &self,
        db: &Db<'_>,
        c: &mut Challenge,
        factor: Factor,
        now: DateTime<Utc>,
    ) -> Result<Error, Error> {
        let dead = c.record_wrong_secret(now);
        if let Some(uid) = c.user_id {
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
    fn satisfy(
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
                return Ok((Checked::Done(outcome), queued));
            }
        };
        db.update_challenge(c, now)?;
        Ok((Checked::Done(outcome), false))
    }

    pub async fn status(
        &self,
        account_id: &str,
        request_id: &str,
        now: DateTime<Utc>,
    ) -> Result<StatusView, Error> {
        let account_id = account_id.to_string();
        let id = request_id.to_string();
        let c = self
            .store
            .read(move |db| db.challenge(&account_id, &id).map_err(Error::from))
            .await?
            .ok_or_else(|| {
                Error::not_found(
                    "challenge_not_found",
                    "no authentication with this request_id",
                )
            })?;
        let status = c.status_at(now);
        Ok(StatusView {
            next_step: if status == ChallengeStatus::Pending {
                c.current_step()
            } else {
                None
            },
            attempts_left: c.attempts_left(),
            steps: c.steps().to_vec(),
            amr: c.amr.clone(),
            expires_at: c.secret_expires_at,
            created_at: c.created_at,
            request_id: c.id,
            status,
        })
    }

    /// For the confirmation page's GET: looks, never changes anything.
    pub async fn link_view(&self, token: &str, now: DateTime<Utc>) -> Result<LinkView, Error> {
        let svc = self.clone();
        let token = token.to_string();
        self.store
            .read(move |db| {
                let c = db.challenge_by_secret(&link_hash(&svc.key, &token))?;
                Ok(match c {
                    Some(c) => LinkView {
                        usable: c.status_at(now) == ChallengeStatus::Pending
                            && c.current_step() == Some(Factor::Passwordless),
                        system_name: c.system_name,
                    },
                    None => LinkView {
                        system_name: String::new(),
                        usable: false,
                    },
                })
            })
            .await
    }

    /// The confirmation page's POST: approves the link step.
    pub async fn confirm_link(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<CompleteOutcome, Error> {
        let svc = self.clone();
        let token = token.to_string();
        let (checked, queued) = self
            .store
            .write(move |db| {
                let not_found = || Error::not_found("link_not_found", "this link is not valid");
                let mut c = db
                    .challenge_by_secret(&link_hash(&svc.key, &token))?
                    .ok_or_else(not_found)?;
                if let Some(refusal) = svc.refuse_if_closed(db, &mut c, now)? {
                    return Ok((Checked::Refused(refusal), false));
                }
                if c.current_step() != Some(Factor::Passwordless) {
                    return Err(not_found());
                }
                let system = db.system(&c.account_id, &c.system_name)?;
                svc.satisfy(db, &mut c, system.as_ref(), now)
            })
            .await?;
        if queued {
            self.outbox_ready.notify_one();
        }
        match checked {
            Checked::Done(o) => Ok(o),
            Checked::Refused(e) => Err(e),
        }
    }
}

/// An SMS ready to queue: the number and the sealed text.
struct QueuedSms {
    to: String,
    sealed: Vec<u8>,
}

/// Queues the SMS (after the challenge row exists); returns whether it did.
fn enqueue(
    db: &Db<'_>,
    c: &Challenge,
    sms: Option<QueuedSms>,
    now: DateTime<Utc>,
) -> Result<bool, Error> {
    let Some(sms) = sms else { return Ok(false) };
    db.enqueue_sms(
        &c.account_id,
        Some(&c.id),
        &sms.to,
        &sms.sealed,
        Some(c.secret_expires_at),
        now,
    )?;
    Ok(true)
}

fn outcome(c: &Challenge) -> StartOutcome {
    StartOutcome {
        request_id: c.id.clone(),
        steps: c.steps().to_vec(),
        expires_at: c.secret_expires_at,
    }
}

fn expire(db: &Db<'_>, c: &mut Challenge, now: DateTime<Utc>) -> Result<(), Error> {
    c.status = ChallengeStatus::Expired;
    c.secret_hash = None;
    c.completed_at = Some(now);
    db.expire_challenge_sms(&c.id, now)?;
    db.update_challenge(c, now)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::extract_token;

    #[test]
    fn token_from_any_form() {
        let pu = "https://fs.example";
        assert_eq!(extract_token("abc", None, pu), "abc");
        assert_eq!(extract_token("https://fs.example/l/abc", None, pu), "abc");
        let t = Some("https://app.example/login?token={token}&x=1");
        assert_eq!(
            extract_token("https://app.example/login?token=abc&x=1", t, pu),
            "abc"
        );
        assert_eq!(
            extract_token("https://other.example/p?token=abc", None, pu),
            "abc"
        );
    }
}
