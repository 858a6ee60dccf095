use super::rules::{Outcome, OutcomeInput, RuleInput, Rules, RulesInput, Steps};
use super::Invalid;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// One authentication factor delivered by SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Factor {
    /// A link sent by SMS; the user confirms it.
    Passwordless,
    /// A numeric code sent by SMS; the user types it into the application.
    Pin,
}

impl Factor {
    pub fn as_str(self) -> &'static str {
        match self {
            Factor::Passwordless => "passwordless",
            Factor::Pin => "pin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "passwordless" => Some(Factor::Passwordless),
            "pin" => Some(Factor::Pin),
            _ => None,
        }
    }
}

pub const DEFAULT_PIN_LENGTH: u8 = 6;
pub const DEFAULT_PIN_TTL: u32 = 300;
pub const DEFAULT_LINK_TTL: u32 = 600;
pub const MAX_TTL: u32 = 600;
pub const MIN_TTL: u32 = 30;
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
pub const MAX_MAX_ATTEMPTS: u32 = 20;

pub const DEFAULT_SESSION_MAX_AGE: u32 = 8 * 3600;
pub const MIN_SESSION_MAX_AGE: u32 = 60;
pub const MAX_SESSION_MAX_AGE: u32 = 30 * 24 * 3600;

fn default_session_max_age() -> u32 {
    DEFAULT_SESSION_MAX_AGE
}

/// A policy as stored (JSON in the `policies.spec` column).
///
/// Stored as a document so that later fields are additions: unknown fields
/// are refused on input but every field added later has a default, so older
/// rows still read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySpec {
    /// Without `rules`: the steps of every login. With `rules`: the steps of
    /// the `default` when it requires steps, else empty (shown to clients).
    #[serde(default)]
    pub steps: Vec<Factor>,
    pub pin_length: u8,
    pub pin_ttl_seconds: u32,
    pub link_ttl_seconds: u32,
    pub max_attempts: u32,
    /// How long an approved login may serve as `context.session` for step-up.
    #[serde(default = "default_session_max_age")]
    pub session_max_age_seconds: u32,
    /// Context rules; `None` for a policy with only `steps`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Rules>,
}

/// A policy as a client sends it; `PolicySpec::parse` checks it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicySpecInput {
    /// One of `["passwordless"]`, `["pin"]`, `["passwordless","pin"]`.
    /// Required without `rules`; with `rules` it may stand for
    /// `"default": {"require": steps}`.
    pub steps: Option<Vec<Factor>>,
    /// 4 to 10 digits, default 6.
    pub pin_length: Option<u8>,
    /// 30 to 600 seconds, default 300.
    pub pin_ttl_seconds: Option<u32>,
    /// 30 to 600 seconds, default 600.
    pub link_ttl_seconds: Option<u32>,
    /// Wrong PINs or links before the challenge dies: 1 to 20, default 5.
    pub max_attempts: Option<u32>,
    /// 60 to 2592000 seconds, default 28800 (8 h).
    pub session_max_age_seconds: Option<u32>,
    /// Context rules, checked in order (see the README's Policies section).
    pub rules: Option<Vec<RuleInput>>,
    /// What applies when no rule holds.
    pub default: Option<OutcomeInput>,
    /// IANA time zone for `time` conditions, e.g. `Europe/Zurich`.
    pub timezone: Option<String>,
}

const STEPS_MESSAGE: &str =
    "must be one of [\"passwordless\"], [\"pin\"], [\"passwordless\",\"pin\"]";

impl PolicySpec {
    pub fn builtin(factor: Factor) -> Self {
        Self {
            steps: vec![factor],
            pin_length: DEFAULT_PIN_LENGTH,
            pin_ttl_seconds: DEFAULT_PIN_TTL,
            link_ttl_seconds: DEFAULT_LINK_TTL,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            session_max_age_seconds: DEFAULT_SESSION_MAX_AGE,
            rules: None,
        }
    }

    pub fn parse(input: PolicySpecInput) -> Result<Self, Invalid> {
        let steps = match &input.steps {
            Some(s) => Some(Steps::parse(s).ok_or_else(|| Invalid::new("steps", STEPS_MESSAGE))?),
            None => None,
        };
        let has_rules =
            input.rules.is_some() || input.default.is_some() || input.timezone.is_some();
        let rules = if has_rules {
            let default = match (input.default, steps) {
                (Some(_), Some(_)) => {
                    return Err(Invalid::new(
                        "steps",
                        "send either steps or default, not both",
                    ))
                }
                (Some(d), None) => Some(d),
                (None, Some(s)) => Some(OutcomeInput {
                    require: Some(s.factors().to_vec()),
                    ..Default::default()
                }),
                (None, None) => None,
            };
            Some(Rules::parse(RulesInput {
                rules: input.rules.unwrap_or_default(),
                default,
                timezone: input.timezone,
            })?)
        } else {
            if steps.is_none() {
                return Err(Invalid::new(
                    "steps",
                    "is required (or send rules and a default)",
                ));
            }
            None
        };
        let steps = match (&rules, steps) {
            (Some(r), _) => match r.default_outcome() {
                Outcome::Require(s) => s.factors().to_vec(),
                Outcome::Allow | Outcome::Deny => Vec::new(),
            },
            (None, Some(s)) => s.factors().to_vec(),
            (None, None) => Vec::new(),
        };
        let pin_length = input.pin_length.unwrap_or(DEFAULT_PIN_LENGTH);
        if !(4..=10).contains(&pin_length) {
            return Err(Invalid::new("pin_length", "must be between 4 and 10"));
        }
        let ttl = |v: Option<u32>, d: u32, field: &'static str| {
            let v = v.unwrap_or(d);
            if (MIN_TTL..=MAX_TTL).contains(&v) {
                Ok(v)
            } else {
                Err(Invalid::new(field, "must be between 30 and 600 seconds"))
            }
        };
        let max_attempts = input.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS);
        if !(1..=MAX_MAX_ATTEMPTS).contains(&max_attempts) {
            return Err(Invalid::new("max_attempts", "must be between 1 and 20"));
        }
        let session_max_age_seconds = input
            .session_max_age_seconds
            .unwrap_or(DEFAULT_SESSION_MAX_AGE);
        if !(MIN_SESSION_MAX_AGE..=MAX_SESSION_MAX_AGE).contains(&session_max_age_seconds) {
            return Err(Invalid::new(
                "session_max_age_seconds",
                "must be between 60 and 2592000 seconds",
            ));
        }
        Ok(Self {
            steps,
            pin_length,
            pin_ttl_seconds: ttl(input.pin_ttl_seconds, DEFAULT_PIN_TTL, "pin_ttl_seconds")?,
            link_ttl_seconds: ttl(input.link_ttl_seconds, DEFAULT_LINK_TTL, "link_ttl_seconds")?,
            max_attempts,
            session_max_age_seconds,
            rules,
        })
    }

    /// The rules that decide a login: the context rules, or for a policy
    /// with only `steps` a default that requires them.
    pub fn effective_rules(&self) -> Cow<'_, Rules> {
        match (&self.rules, Steps::parse(&self.steps)) {
            (Some(r), _) => Cow::Borrowed(r),
            (None, Some(s)) => Cow::Owned(Rules::fixed(Outcome::Require(s))),
            // Not produced by `parse`; fail closed.
            (None, None) => Cow::Owned(Rules::fixed(Outcome::Deny)),
        }
    }

    /// This policy's settings for one login that must pass `steps`: what a
    /// challenge keeps (no rules: they were applied at the start).
    pub fn for_steps(&self, steps: &[Factor]) -> Self {
        Self {
            steps: steps.to_vec(),
            rules: None,
            ..self.clone()
        }
    }

    /// How long the secret of `factor` stays valid.
    pub fn ttl_seconds(&self, factor: Factor) -> u32 {
        match factor {
            Factor::Passwordless => self.link_ttl_seconds,
            Factor::Pin => self.pin_ttl_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(steps: Vec<Factor>) -> PolicySpecInput {
        PolicySpecInput {
            steps: Some(steps),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_apply() {
        let p = PolicySpec::parse(input(vec![Factor::Pin])).unwrap();
        assert_eq!(p, PolicySpec::builtin(Factor::Pin));
    }

    #[test]
    fn refuses_bad_steps_and_ranges() {
        assert!(PolicySpec::parse(input(vec![])).is_err());
        assert!(PolicySpec::parse(input(vec![Factor::Pin, Factor::Passwordless])).is_err());
        assert!(PolicySpec::parse(input(vec![Factor::Pin, Factor::Pin])).is_err());
        let mut i = input(vec![Factor::Pin]);
        i.pin_length = Some(3);
        assert_eq!(PolicySpec::parse(i).unwrap_err().field, "pin_length");
        let mut i = input(vec![Factor::Pin]);
        i.link_ttl_seconds = Some(601);
        assert_eq!(PolicySpec::parse(i).unwrap_err().field, "link_ttl_seconds");
        let mut i = input(vec![Factor::Pin]);
        i.max_attempts = Some(0);
        assert_eq!(PolicySpec::parse(i).unwrap_err().field, "max_attempts");
    }

    fn with_rules(v: serde_json::Value) -> Result<PolicySpec, Invalid> {
        PolicySpec::parse(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn rules_steps_and_default() {
        use serde_json::json;
        let rule = json!({"when": {"ip_in": ["10.0.0.0/8"]}, "allow": true});
        // `steps` stands for the default.
        let p = with_rules(json!({"steps": ["pin"], "rules": [rule]})).unwrap();
        assert_eq!(p.steps, vec![Factor::Pin]);
        let rules = p.rules.as_ref().unwrap();
        assert_eq!(rules.default_outcome(), Outcome::Require(Steps::Pin));
        assert_eq!(rules.len(), 1);
        // Both is refused, neither too.
        let e = with_rules(json!({"steps": ["pin"], "default": {"deny": true}})).unwrap_err();
        assert_eq!(e.field, "steps");
        assert_eq!(
            with_rules(json!({"rules": [rule]})).unwrap_err().field,
            "default"
        );
        assert_eq!(with_rules(json!({})).unwrap_err().field, "steps");
        // A default that is not `require` leaves `steps` empty.
        let p = with_rules(json!({"rules": [rule], "default": {"deny": true}})).unwrap();
        assert!(p.steps.is_empty());
        assert_eq!(p.effective_rules().default_outcome(), Outcome::Deny);
        // Rule errors keep their field names.
        let e = with_rules(
            json!({"steps": ["pin"], "rules": [{"when": {"ip_in": ["x"]}, "allow": true}]}),
        )
        .unwrap_err();
        assert_eq!(e.field, "rules.when.ip_in");
    }

    #[test]
    fn stored_form_round_trips_and_old_rows_read() {
        use serde_json::json;
        let p = with_rules(json!({
            "rules": [{"when": {"time": {"days": ["mon"]}}, "require": ["passwordless"]}],
            "default": {"require": ["passwordless", "pin"]},
            "timezone": "Europe/Zurich",
            "session_max_age_seconds": 600
        }))
        .unwrap();
        let stored = serde_json::to_string(&p).unwrap();
        let back: PolicySpec = serde_json::from_str(&stored).unwrap();
        assert_eq!(back, p);
        // A row written before rules existed.
        let old: PolicySpec = serde_json::from_str(
            r#"{"steps":["pin"],"pin_length":6,"pin_ttl_seconds":300,"link_ttl_seconds":600,"max_attempts":5}"#,
        )
        .unwrap();
        assert_eq!(old, PolicySpec::builtin(Factor::Pin));
        assert_eq!(
            old.effective_rules().default_outcome(),
            Outcome::Require(Steps::Pin)
        );
        // What a challenge keeps: the steps decided, no rules.
        let c = p.for_steps(&[Factor::Pin]);
        assert_eq!(c.steps, vec![Factor::Pin]);
        assert!(c.rules.is_none());
        assert_eq!(c.session_max_age_seconds, 600);
    }

    #[test]
    fn session_max_age_bounds() {
        let mut i = input(vec![Factor::Pin]);
        i.session_max_age_seconds = Some(59);
        assert_eq!(
            PolicySpec::parse(i).unwrap_err().field,
            "session_max_age_seconds"
        );
        let mut i = input(vec![Factor::Pin]);
        i.session_max_age_seconds = Some(MAX_SESSION_MAX_AGE + 1);
        assert!(PolicySpec::parse(i).is_err());
    }
}
