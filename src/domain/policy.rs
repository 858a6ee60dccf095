use super::Invalid;
use serde::{Deserialize, Serialize};

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

/// A policy's rules as stored (JSON in the `policies.spec` column).
///
/// Stored as a document so that later fields (context rules) are additions:
/// unknown fields are refused on input but every field here has a default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicySpec {
    pub steps: Vec<Factor>,
    pub pin_length: u8,
    pub pin_ttl_seconds: u32,
    pub link_ttl_seconds: u32,
    pub max_attempts: u32,
}

/// A policy as a client sends it; `PolicySpec::parse` checks it.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicySpecInput {
    /// One of `["passwordless"]`, `["pin"]`, `["passwordless","pin"]`.
    pub steps: Vec<Factor>,
    /// 4 to 10 digits, default 6.
    pub pin_length: Option<u8>,
    /// 30 to 600 seconds, default 300.
    pub pin_ttl_seconds: Option<u32>,
    /// 30 to 600 seconds, default 600.
    pub link_ttl_seconds: Option<u32>,
    /// Wrong PINs or links before the challenge dies: 1 to 20, default 5.
    pub max_attempts: Option<u32>,
}

impl PolicySpec {
    pub fn builtin(factor: Factor) -> Self {
        Self {
            steps: vec![factor],
            pin_length: DEFAULT_PIN_LENGTH,
            pin_ttl_seconds: DEFAULT_PIN_TTL,
            link_ttl_seconds: DEFAULT_LINK_TTL,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    pub fn parse(input: PolicySpecInput) -> Result<Self, Invalid> {
        use Factor::*;
        let steps_ok = matches!(
            input.steps.as_slice(),
            [Passwordless] | [Pin] | [Passwordless, Pin]
        );
        if !steps_ok {
            return Err(Invalid::new(
                "steps",
                "must be one of [\"passwordless\"], [\"pin\"], [\"passwordless\",\"pin\"]",
            ));
        }
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
        Ok(Self {
            steps: input.steps,
            pin_length,
            pin_ttl_seconds: ttl(input.pin_ttl_seconds, DEFAULT_PIN_TTL, "pin_ttl_seconds")?,
            link_ttl_seconds: ttl(input.link_ttl_seconds, DEFAULT_LINK_TTL, "link_ttl_seconds")?,
            max_attempts,
        })
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
            steps,
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
}
