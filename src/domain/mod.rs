//! Pure types and rules. No I/O, no framework types: everything here can be
//! unit-tested with plain values.

mod actor;
mod assurance;
mod challenge;
mod email;
mod groups;
mod names;
mod operator;
mod password;
mod phone;
mod policy;
mod rules;

pub use actor::{Actor, Caller};
pub use assurance::{acr_for, rfc8176_amr, MatchCode};
pub use challenge::{
    Challenge, ChallengeStatus, DecoyReason, RetryAfter, LOCKOUT_THRESHOLD, MAX_SMS_PER_CHALLENGE,
};
pub use email::Email;
pub use groups::{Groups, MAX_GROUPS};
pub use names::{Name, NameKind};
pub use operator::{parse_username, OperatorRole};
pub use password::{check_password, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};
pub use phone::PhoneNumber;
pub use policy::{Factor, PolicySpec, PolicySpecInput, DEFAULT_SESSION_MAX_AGE};
pub use rules::{
    ApprovedLogin, Decision, EvalInput, Matched, Needs, Outcome, OutcomeInput, RecentAuthInput,
    RecentFailuresInput, RuleInput, Rules, RulesInput, Sensitivity, Steps, TimeInput, WhenInput,
    MAX_FAILURE_COUNT,
};

/// A value that failed to parse: which field and why, for a 422 response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

impl Invalid {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}
