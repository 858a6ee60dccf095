//! The challenge state machine: one authentication in progress.

use super::{Factor, MatchCode, PolicySpec};
use chrono::{DateTime, Duration, Utc};

pub const MAX_SMS_PER_CHALLENGE: u32 = 5;
pub const RESEND_INTERVAL_SECONDS: i64 = 30;
/// Consecutive failed secrets after which a user is locked.
pub const LOCKOUT_THRESHOLD: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeStatus {
    Pending,
    Approved,
    /// Too many wrong secrets.
    Failed,
    Expired,
}

impl ChallengeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Failed => "failed",
            Self::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            _ => return None,
        })
    }
}

/// Why a start sent no SMS although it answered like a normal start: the
/// caller must not learn which emails exist, the operator must.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecoyReason {
    UnknownUser,
    UserDisabled,
    NoGrant,
    UserLocked,
}

impl DecoyReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownUser => "unknown_user",
            Self::UserDisabled => "user_disabled",
            Self::NoGrant => "no_grant",
            Self::UserLocked => "user_locked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unknown_user" => Self::UnknownUser,
            "user_disabled" => Self::UserDisabled,
            "no_grant" => Self::NoGrant,
            "user_locked" => Self::UserLocked,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Challenge {
    pub id: String,
    pub account_id: String,
    pub email: String,
    pub system_id: Option<i64>,
    pub system_name: String,
    pub user_id: Option<i64>,
    pub decoy: Option<DecoyReason>,
    pub status: ChallengeStatus,
    pub policy: PolicySpec,
    pub step_index: usize,
    pub amr: Vec<Factor>,
    pub secret_hash: Option<[u8; 32]>,
    pub secret_expires_at: DateTime<Utc>,
    pub attempts: u32,
    pub sms_count: u32,
    pub last_sms_at: Option<DateTime<Utc>>,
    pub context: Option<String>,
    pub created_at: DateTime<Utc>,
    pub completed_at: Option<DateTime<Utc>>,
    /// Which part of the policy decided: a rule index or `default`.
    pub matched_rule: Option<String>,
    /// The `acr` the login reaches once its steps are done.
    pub acr: Option<String>,
    /// `context.device_id`, for `new_device`.
    pub device_id: Option<String>,
    /// The approved login this one steps up from (`context.session`).
    pub session_id: Option<String>,
    /// Number matching for the current link, when it opens the appliance's page.
    pub match_code: Option<MatchCode>,
    /// The link step was approved on the appliance's page.
    pub page_approved: bool,
}

/// Why a resend is refused now, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub u64);

impl Challenge {
    pub fn steps(&self) -> &[Factor] {
        &self.policy.steps
    }

    /// The step waiting for the user, if any.
    pub fn current_step(&self) -> Option<Factor> {
        match self.status {
            ChallengeStatus::Pending => self.policy.steps.get(self.step_index).copied(),
            _ => None,
        }
    }

    /// Status as seen at `now`: a pending challenge whose secret ran out is expired.
    pub fn status_at(&self, now: DateTime<Utc>) -> ChallengeStatus {
        if self.status == ChallengeStatus::Pending && now >= self.secret_expires_at {
            ChallengeStatus::Expired
        } else {
            self.status
        }
    }

    pub fn attempts_left(&self) -> u32 {
        self.policy.max_attempts.saturating_sub(self.attempts)
    }

    /// Whether another SMS may go out for this challenge at `now`.
    pub fn may_send_sms(&self, now: DateTime<Utc>) -> Result<(), RetryAfter> {
        if self.sms_count >= MAX_SMS_PER_CHALLENGE {
            // No more SMS for this challenge; it can be retried once it expires.
            let wait = (self.secret_expires_at - now).num_seconds().max(1);
            return Err(RetryAfter(wait as u64));
        }
        if let Some(last) = self.last_sms_at {
            let next = last + Duration::seconds(RESEND_INTERVAL_SECONDS);
            if now < next {
                let wait = (next - now).num_milliseconds().max(1);
                return Err(RetryAfter(((wait + 999) / 1000) as u64));
            }
        }
        Ok(())
    }

    /// Records a wrong secret; returns true when it used up the attempts.
    pub fn record_wrong_secret(&mut self, now: DateTime<Utc>) -> bool {
        self.attempts += 1;
        if self.attempts >= self.policy.max_attempts {
            self.status = ChallengeStatus::Failed;
            self.secret_hash = None;
            self.completed_at = Some(now);
            true
        } else {
            false
        }
    }

    /// Marks the current step done; returns the next step, if one remains.
    pub fn satisfy_step(&mut self, now: DateTime<Utc>) -> Option<Factor> {
        if let Some(f) = self.current_step() {
            self.amr.push(f);
        }
        self.step_index += 1;
        self.secret_hash = None;
        match self.policy.steps.get(self.step_index).copied() {
            Some(next) => Some(next),
            None => {
                self.status = ChallengeStatus::Approved;
                self.completed_at = Some(now);
                None
            }
        }
    }

    /// Installs a fresh secret for the current step and counts the SMS.
    pub fn arm_secret(&mut self, hash: [u8; 32], factor: Factor, now: DateTime<Utc>) {
        self.secret_hash = Some(hash);
        self.secret_expires_at = now + Duration::seconds(self.policy.ttl_seconds(factor) as i64);
        self.sms_count += 1;
        self.last_sms_at = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(steps: Vec<Factor>) -> Challenge {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut policy = PolicySpec::builtin(Factor::Pin);
        policy.steps = steps;
        Challenge {
            id: "req_x".into(),
            account_id: "acc_x".into(),
            email: "a@b.ch".into(),
            system_id: Some(1),
            system_name: "s".into(),
            user_id: Some(1),
            decoy: None,
            status: ChallengeStatus::Pending,
            policy,
            step_index: 0,
            amr: vec![],
            secret_hash: None,
            secret_expires_at: now,
            attempts: 0,
            sms_count: 0,
            last_sms_at: None,
            context: None,
            created_at: now,
            completed_at: None,
            matched_rule: None,
            acr: None,
            device_id: None,
            session_id: None,
            match_code: None,
            page_approved: false,
        }
    }

    #[test]
    fn two_steps_then_approved() {
        let mut c = challenge(vec![Factor::Passwordless, Factor::Pin]);
        let now = c.created_at;
        c.arm_secret([1; 32], Factor::Passwordless, now);
        assert_eq!(c.current_step(), Some(Factor::Passwordless));
        assert_eq!(c.satisfy_step(now), Some(Factor::Pin));
        assert_eq!(c.status, ChallengeStatus::Pending);
        assert_eq!(c.satisfy_step(now), None);
        assert_eq!(c.status, ChallengeStatus::Approved);
        assert_eq!(c.amr, vec![Factor::Passwordless, Factor::Pin]);
    }

    #[test]
    fn attempts_run_out() {
        let mut c = challenge(vec![Factor::Pin]);
        let now = c.created_at;
        for i in 1..5 {
            assert!(!c.record_wrong_secret(now));
            assert_eq!(c.attempts_left(), 5 - i);
        }
        assert!(c.record_wrong_secret(now));
        assert_eq!(c.status, ChallengeStatus::Failed);
    }

    #[test]
    fn resend_limits() {
        let mut c = challenge(vec![Factor::Pin]);
        let t0 = c.created_at;
        assert!(c.may_send_sms(t0).is_ok());
        c.arm_secret([1; 32], Factor::Pin, t0);
        assert_eq!(
            c.may_send_sms(t0 + Duration::seconds(10)),
            Err(RetryAfter(20))
        );
        let mut t = t0;
        for _ in 1..MAX_SMS_PER_CHALLENGE {
            t += Duration::seconds(30);
            assert!(c.may_send_sms(t).is_ok());
            c.arm_secret([1; 32], Factor::Pin, t);
        }
        assert!(c.may_send_sms(t + Duration::seconds(60)).is_err());
    }

    #[test]
    fn expiry_is_seen_at_now() {
        let mut c = challenge(vec![Factor::Pin]);
        let t0 = c.created_at;
        c.arm_secret([1; 32], Factor::Pin, t0);
        assert_eq!(
            c.status_at(t0 + Duration::seconds(299)),
            ChallengeStatus::Pending
        );
        assert_eq!(
            c.status_at(t0 + Duration::seconds(300)),
            ChallengeStatus::Expired
        );
    }
}
