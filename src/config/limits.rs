//! `[sms.limits]`: anti-pumping limits.

use serde::Deserialize;

use super::ConfigError;

/// `[sms.limits]`: how many SMS an account may queue. Every limit counts the
/// account's own SMS in a sliding window; a `max` of 0 turns a limit off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsLimitsConfig {
    /// SMS to one number (default 5 per 900 s).
    pub per_number: NumberLimit,
    /// SMS to numbers sharing their first `digits` digits (default 100 per 3600 s, 8 digits).
    pub per_prefix: PrefixLimit,
    /// SMS in any 3600 s (default 1000).
    pub per_account_hour: u32,
    /// SMS in any 86400 s (default 10000).
    pub per_account_day: u32,
    /// Country calling codes SMS may go to, e.g. `["41", "49"]`; empty = all.
    /// The default of accounts that did not set their own list.
    pub allowed_countries: Vec<String>,
}

impl Default for SmsLimitsConfig {
    fn default() -> Self {
        Self {
            per_number: NumberLimit::default(),
            per_prefix: PrefixLimit::default(),
            per_account_hour: 1_000,
            per_account_day: 10_000,
            allowed_countries: Vec::new(),
        }
    }
}

/// `per_number = { max = 5, window_seconds = 900 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NumberLimit {
    pub max: u32,
    pub window_seconds: u32,
}

impl Default for NumberLimit {
    fn default() -> Self {
        Self {
            max: 5,
            window_seconds: 900,
        }
    }
}

/// `per_prefix = { digits = 8, max = 100, window_seconds = 3600 }`: `digits`
/// counts the digits of the E.164 number after the `+`, country code included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrefixLimit {
    pub digits: u8,
    pub max: u32,
    pub window_seconds: u32,
}

impl Default for PrefixLimit {
    fn default() -> Self {
        Self {
            digits: 8,
            max: 100,
            window_seconds: 3600,
        }
    }
}

/// Largest `max` of any SMS limit.
pub const SMS_LIMIT_MAX: u32 = 10_000_000;
/// Longest window of an SMS limit: 7 days.
pub const SMS_WINDOW_MAX_SECONDS: u32 = 7 * 86_400;
/// Most country codes in an allowlist.
pub const MAX_ALLOWED_COUNTRIES: usize = 300;

/// Why `code` is not a country calling code: 1 to 3 digits, no leading 0,
/// and of one digit only 1 (North America) or 7 (Russia, Kazakhstan), since
/// a code matches every number that starts with it.
pub fn country_code_problem(code: &str) -> Option<&'static str> {
    if code.is_empty() || code.len() > 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Some("must be 1 to 3 digits, like \"41\"");
    }
    if code.starts_with('0') {
        return Some("cannot start with 0");
    }
    if code.len() == 1 && code != "1" && code != "7" {
        return Some("of one digit only 1 and 7 are country codes");
    }
    None
}

impl SmsLimitsConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(format!("[sms.limits] {m}")));
        let window = |name: &str, max: u32, secs: u32| {
            if max > SMS_LIMIT_MAX {
                return bad(format!(
                    "{name}.max must be at most {SMS_LIMIT_MAX} (0 = off)"
                ));
            }
            if max > 0 && !(1..=SMS_WINDOW_MAX_SECONDS).contains(&secs) {
                return bad(format!(
                    "{name}.window_seconds must be 1 to {SMS_WINDOW_MAX_SECONDS}"
                ));
            }
            Ok(())
        };
        window(
            "per_number",
            self.per_number.max,
            self.per_number.window_seconds,
        )?;
        window(
            "per_prefix",
            self.per_prefix.max,
            self.per_prefix.window_seconds,
        )?;
        if !(2..=14).contains(&self.per_prefix.digits) {
            return bad("per_prefix.digits must be 2 to 14".into());
        }
        window("per_account_hour", self.per_account_hour, 3600)?;
        window("per_account_day", self.per_account_day, 86_400)?;
        if self.allowed_countries.len() > MAX_ALLOWED_COUNTRIES {
            return bad(format!(
                "allowed_countries may hold at most {MAX_ALLOWED_COUNTRIES} codes"
            ));
        }
        for c in &self.allowed_countries {
            if let Some(p) = country_code_problem(c) {
                return bad(format!("allowed_countries: {c:?} {p}"));
            }
        }
        Ok(())
    }
}
