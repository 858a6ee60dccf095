//! The two login calls, status polling and the link confirmation page.
//! Shared types and helpers here; `start`, `complete` and `link` hold the
//! use cases.

mod complete;
mod link;
mod start;

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
        if c.sms_count > 0 {
            db.expire_challenge_sms(&c.id, now)?;
        }
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
