//! The two login calls, status polling and the link confirmation page.
//! Shared types and helpers here; `start`, `complete` and `link` hold the
//! use cases.

mod complete;
mod context;
mod decide;
mod link;
mod record;
mod start;

pub use context::LoginContext;

use super::{month_of, Error, Services};
use crate::crypto::{self, ServerKey};
use crate::domain::{
    acr_for, rfc8176_amr, Challenge, ChallengeStatus, DecoyReason, Email, Factor, Invalid,
    MatchCode, Name, NameKind, RetryAfter,
};
use crate::signing::{Assertion, ASSERTION_TTL_SECONDS};
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
    /// Approved at once (an `allow` rule, or a step-up session that already
    /// satisfied every step): no SMS, `steps` empty.
    pub approved: bool,
    /// What remains to pass, in order.
    pub steps: Vec<Factor>,
    pub expires_at: DateTime<Utc>,
    /// `0`, `1`, ... or `default`.
    pub matched_rule: String,
    pub acr: String,
    /// Factors already satisfied (a step-up session's, or all when approved).
    pub amr: Vec<Factor>,
    /// For the app to show beside its login form while the link is pending.
    pub match_code: Option<u8>,
    /// Signed result, when approved.
    pub assertion: Option<String>,
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
        acr: String,
        /// Signed result (none when the server has no signer, e.g. the CLI).
        assertion: Option<String>,
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
    pub matched_rule: Option<String>,
    pub acr: Option<String>,
    pub match_code: Option<u8>,
    /// While approved and younger than the assertion lifetime.
    pub assertion: Option<String>,
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
    /// The three numbers to pick from, when the login uses number matching.
    pub choices: Option<[u8; 3]>,
}

/// The outcome of a check inside the write transaction: wrong secrets must
/// commit (attempt counters) and only then become errors. An approval
/// carries its claims, signed once the transaction has committed.
enum Checked {
    Done(CompleteOutcome, Option<Assertion>),
    Refused(Error),
}

fn pin_hash(key: &ServerKey, challenge_id: &str, pin: &str) -> [u8; 32] {
    key.mac(&[b"pin", challenge_id.as_bytes(), pin.as_bytes()])
}

fn link_hash(key: &ServerKey, token: &str) -> [u8; 32] {
    key.mac(&[b"link", token.as_bytes()])
}

/// `matched_rule` as the API shows it: the rule's index as a number, or
/// the string `default`.
pub fn matched_rule_json(m: &str) -> serde_json::Value {
    m.parse::<u64>()
        .map_or_else(|_| serde_json::Value::from(m), serde_json::Value::from)
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
                // Number matching only where the appliance's own page
                // approves the link; a system's own `link_url` page is the app.
                c.match_code = system
                    .link_url
                    .is_none()
                    .then(|| MatchCode::from_random(crypto::random_bytes::<8>()));
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
        approved: c.status == ChallengeStatus::Approved,
        steps: c.steps().to_vec(),
        expires_at: c.secret_expires_at,
        matched_rule: c.matched_rule.clone().unwrap_or_else(|| "default".into()),
        acr: c.acr.clone().unwrap_or_else(|| acr_for(c.steps()).into()),
        amr: c.amr.clone(),
        match_code: shown_match_code(c),
        assertion: None,
    }
}

/// The match code while the link of a pending challenge waits on the page.
fn shown_match_code(c: &Challenge) -> Option<u8> {
    match c.current_step() {
        Some(Factor::Passwordless) => c.match_code.map(|m| m.code),
        _ => None,
    }
}

impl Services {
    /// The claims of an approved challenge (`None` otherwise).
    fn claims(&self, c: &Challenge) -> Option<Assertion> {
        if c.status != ChallengeStatus::Approved {
            return None;
        }
        let at = c.completed_at?.timestamp();
        Some(Assertion {
            iss: self.public_url.to_string(),
            sub: c.email.clone(),
            aud: c.system_name.clone(),
            amr: rfc8176_amr(&c.amr, c.page_approved)
                .into_iter()
                .map(String::from)
                .collect(),
            acr: acr_for(&c.amr).to_string(),
            auth_time: at,
            iat: at,
            exp: at + ASSERTION_TTL_SECONDS,
            jti: c.id.clone(),
        })
    }

    /// Signs claims that have not expired at `now`. No I/O: the key set is
    /// in memory. A signing failure is logged and leaves the login approved
    /// without an assertion rather than failing it.
    fn sign(&self, claims: Option<Assertion>, now: DateTime<Utc>) -> Option<String> {
        let claims = claims.filter(|c| now.timestamp() < c.exp)?;
        let signer = self.signer.as_ref()?;
        match signer.sign(&claims) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::error!(error = %e, request_id = %claims.jti, "cannot sign the assertion");
                None
            }
        }
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
