//! Context rules of a policy and their evaluator (issue 5).
//!
//! A policy carries ordered `rules` and a `default`. The first rule whose
//! `when` holds decides; when none holds, the `default` decides. Everything
//! here is pure: the caller loads the context (last approved login, recent
//! failures, whether the device is known, the user's groups) and passes `now`.
//!
//! Stored and API form (the three keys sit beside the policy's `name`):
//!
//! ```json
//! {"rules": [
//!    {"when": {"sensitivity_at_least": 3}, "require": ["pin"]},
//!    {"when": {"ip_in": ["10.0.0.0/8"], "time": {"days": ["mon","fri"], "from": "07:00", "to": "19:00"}},
//!     "require": ["passwordless"]},
//!    {"when": {"not": {"user_in_group": ["staff"]}}, "deny": true}],
//!  "default": {"require": ["passwordless", "pin"]},
//!  "timezone": "Europe/Zurich"}
//! ```
//!
//! [`RulesInput`] is that JSON as sent (`deny_unknown_fields` everywhere);
//! [`Rules::parse`] turns it into [`Rules`], whose networks, times, days and
//! time zone are already parsed, so evaluation cannot fail.
//! [`Rules::from_deserializer`] does both and names the JSON path of a
//! rejected value (`rules[4].when.not: unknown field ...`). `Rules` also
//! (de)serializes through `RulesInput`, so it can be stored as JSON as is.
//!
//! # API
//!
//! [`Rules::evaluate`]`(&EvalInput, now) -> Decision { matched, outcome }`,
//! with [`Matched`] `Rule(index) | Default` (its `Display` gives `0`, `1`, ...
//! or `default`, the `matched_rule` of the start response) and [`Outcome`]
//! `Allow | Require(Steps) | Deny`; [`Steps`] is one of the three step sets,
//! so `Decision` is `Copy` and evaluation allocates nothing. Failures come
//! as a slice of times rather than a callback: the caller loads them once,
//! back to [`Rules::failure_lookback`] (`None`: no rule counts failures, load
//! nothing). [`Rules::fixed`] is a policy with only `steps`.
//!
//! Wiring: put `rules`, `default`, `timezone` as plain fields of the policy
//! body and build a `RulesInput` from them; `#[serde(flatten)]` would
//! silently disable `deny_unknown_fields`.
//!
//! # Decisions
//!
//! - **Conditions in one `when` are ANDed**; a list inside one condition
//!   (`ip_in`, `user_in_group`) matches when *any* entry matches. `not` takes
//!   a `when` object (itself ANDed) and may nest, at most
//!   [`MAX_NOT_DEPTH`] deep. An empty `when` (or `not`) is refused: a
//!   catch-all is what `default` is for.
//! - **Missing context never makes a rule match.** Conditions are evaluated
//!   in three-valued (Kleene) logic: a condition whose context is missing is
//!   *unknown*; `not unknown` is unknown; `false AND unknown` is false;
//!   a rule matches only when its `when` is *true*. So a rule matches only if
//!   it would match whatever the missing values were, and a caller cannot
//!   reach a relaxing rule such as `{"not": {"new_device": true}} -> allow`
//!   by leaving `device_id` out. What can be missing:
//!   - `ip_in`: no `context.ip`;
//!   - `new_device`: no `context.device_id` (`EvalInput::device_known` is `None`).
//!
//!   Never missing: `sensitivity_at_least` (falls back to the system's
//!   sensitivity), `time` (reads `now`), `user_in_group` (a user without
//!   groups is in none), `recent_auth` (no approved login yet is a known
//!   *false*, so `not recent_auth` matches a first login),
//!   `recent_failures_at_least` (no failures is zero).
//! - **Time** is the wall clock in the policy's IANA `timezone`, which is
//!   required as soon as any rule has a `time` condition (a silent UTC
//!   default would shift office hours by one or two hours).
//!   `from`/`to` are `"HH:MM"` and half-open: `from <= t < to`. `from` equal
//!   to `to` is refused (leave both out for the whole day).
//!   **A range that crosses midnight (`from` > `to`, e.g. 22:00–06:00)
//!   belongs to the day it starts on**: with `days: ["fri"]` it holds from
//!   Friday 22:00 to Saturday 06:00, and not from Friday 00:00 to 06:00
//!   (that part belongs to Thursday's night). This is how shift plans and
//!   cron-like schedules read. `days` alone means the whole day; `from`/`to`
//!   alone means every day. Across a DST change the wall clock is what
//!   counts: 07:00 is 07:00 local in winter and summer; a wall time skipped
//!   in spring never occurs, one repeated in autumn holds twice.
//! - **Sensitivity** is 0–3 ([`Sensitivity`]); `sensitivity_at_least` reads
//!   `context.sensitivity` when the caller sent one, else the system's own.
//! - **`recent_auth`** holds when the last approved login to this system is
//!   younger than `within_seconds` (`now - within < at <= now`) and used
//!   every listed factor (a superset is fine). `factors` must list at least
//!   one factor, so a login approved by an `allow` rule (no factors) never
//!   renews `recent_auth`: an `allow` cannot feed itself forever.
//! - **`recent_failures_at_least`** counts the failure times with
//!   `now - within < t <= now`. The caller passes every failure since
//!   `now - Rules::failure_lookback()`; more is harmless.
//! - Timestamps after `now` (a clock stepped back) are outside every window.
//! - **IP addresses** are canonicalized before matching (an IPv4-mapped IPv6
//!   address `::ffff:10.1.2.3` is the IPv4 address `10.1.2.3`), so write IPv4
//!   networks as IPv4. A network entry may be a bare address (a /32 or /128);
//!   one with host bits set (`10.0.0.1/8`) is refused as a likely typo.
//! - **Groups** compare case-insensitively (ASCII), after trimming.
//! - **Outcomes**: `{"allow": true}`, `{"deny": true}` or
//!   `{"require": [...]}` with one of today's step sets (see [`Steps`]);
//!   exactly one per rule and for `default`.
//! - **Bounds**: at most [`MAX_RULES`] rules and [`MAX_LIST_LEN`] entries per
//!   list; windows from 1 second to [`MAX_WINDOW_SECONDS`] (30 days).
//! - **Errors** are [`Invalid`] with a fixed dotted field without indices
//!   (`rules.when.ip_in`, also for one inside `not`; `default.require`,
//!   `timezone`) and a message that starts with the exact path
//!   (`rules[2].when.not.ip_in: "x" is not a network ...`).

mod eval;
mod input;
mod parse;
#[cfg(test)]
mod tests;

use super::{Factor, Invalid};
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use ipnet::IpNet;
use std::fmt;
use std::net::IpAddr;

pub use input::{
    OutcomeInput, RecentAuthInput, RecentFailuresInput, RuleInput, RulesInput, TimeInput, WhenInput,
};

/// At most this many rules in one policy.
pub const MAX_RULES: usize = 100;
/// At most this many entries in `ip_in`, `user_in_group` or `time.days`.
pub const MAX_LIST_LEN: usize = 256;
/// `not` inside `not` at most this deep.
pub const MAX_NOT_DEPTH: usize = 8;
/// The longest `within_seconds`: 30 days.
pub const MAX_WINDOW_SECONDS: u64 = 30 * 24 * 3600;
/// The largest `recent_failures_at_least.count`.
pub const MAX_FAILURE_COUNT: u32 = 1000;
/// The longest group name.
pub const MAX_GROUP_LEN: usize = 100;

/// How sensitive a login is: 0 (routine) to 3 (most sensitive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sensitivity(u8);

impl Sensitivity {
    pub const MAX: u8 = 3;

    /// `field` names the value in the error (`sensitivity`, `context.sensitivity`).
    pub fn parse(value: u8, field: &'static str) -> Result<Self, Invalid> {
        Self::new(value).ok_or_else(|| Invalid::new(field, "must be between 0 and 3"))
    }

    pub fn new(value: u8) -> Option<Self> {
        (value <= Self::MAX).then_some(Self(value))
    }

    pub fn get(self) -> u8 {
        self.0
    }
}

/// The steps a login must pass, in order: the same sets as a policy's `steps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Steps {
    Passwordless,
    Pin,
    PasswordlessThenPin,
}

impl Steps {
    pub fn parse(factors: &[Factor]) -> Option<Self> {
        match factors {
            [Factor::Passwordless] => Some(Self::Passwordless),
            [Factor::Pin] => Some(Self::Pin),
            [Factor::Passwordless, Factor::Pin] => Some(Self::PasswordlessThenPin),
            _ => None,
        }
    }

    pub fn factors(self) -> &'static [Factor] {
        match self {
            Self::Passwordless => &[Factor::Passwordless],
            Self::Pin => &[Factor::Pin],
            Self::PasswordlessThenPin => &[Factor::Passwordless, Factor::Pin],
        }
    }
}

/// What a rule (or the default) decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Approved at once, no SMS.
    Allow,
    /// These steps, in order.
    Require(Steps),
    /// Refused.
    Deny,
}

/// Which part of the policy decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Matched {
    /// The rule at this index (0-based, as in the `rules` array).
    Rule(usize),
    Default,
}

impl fmt::Display for Matched {
    /// `0`, `1`, ... or `default`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Matched::Rule(i) => write!(f, "{i}"),
            Matched::Default => f.write_str("default"),
        }
    }
}

/// The result of [`Rules::evaluate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Decision {
    pub matched: Matched,
    pub outcome: Outcome,
}

/// An approved login: when, and with which factors (empty for `allow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApprovedLogin<'a> {
    pub at: DateTime<Utc>,
    pub factors: &'a [Factor],
}

/// Everything the rules may look at, loaded by the caller.
#[derive(Debug, Clone, Copy)]
pub struct EvalInput<'a> {
    /// `context.ip`: the end user's address as the calling app passes it.
    pub ip: Option<IpAddr>,
    /// `context.sensitivity`, when sent.
    pub sensitivity: Option<Sensitivity>,
    /// The system's own sensitivity, used when the context has none.
    pub system_sensitivity: Sensitivity,
    /// `None` without `context.device_id`; else whether that device appears
    /// in an approved login of this user.
    pub device_known: Option<bool>,
    /// The user's groups.
    pub groups: &'a [String],
    /// The user's last approved login to this system, if any.
    pub last_approved: Option<ApprovedLogin<'a>>,
    /// Times of this user's failed logins since at least
    /// `now - Rules::failure_lookback()`, in any order.
    pub recent_failures: &'a [DateTime<Utc>],
}

impl<'a> EvalInput<'a> {
    /// No context at all: no IP, no device, no groups, no logins, no failures.
    pub fn new(system_sensitivity: Sensitivity) -> Self {
        Self {
            ip: None,
            sensitivity: None,
            system_sensitivity,
            device_known: None,
            groups: &[],
            last_approved: None,
            recent_failures: &[],
        }
    }
}

/// What history [`Rules::evaluate`] reads; the rest may be left empty.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Needs {
    /// `EvalInput::last_approved` (`recent_auth`).
    pub last_login: bool,
    /// `EvalInput::device_known` (`new_device`).
    pub device: bool,
    /// `EvalInput::recent_failures`, this far back.
    pub failures: Option<Duration>,
}

/// A policy's context rules, parsed: evaluation cannot fail.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "RulesInput", into = "RulesInput")]
pub struct Rules {
    rules: Vec<Rule>,
    default: Outcome,
    timezone: Option<Tz>,
}

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    when: When,
    outcome: Outcome,
}

/// Conditions ANDed; never empty; cheapest first.
#[derive(Debug, Clone, PartialEq)]
struct When(Vec<Condition>);

#[derive(Debug, Clone, PartialEq)]
enum Condition {
    SensitivityAtLeast(Sensitivity),
    NewDevice(bool),
    /// Trimmed, compared ASCII case-insensitively.
    UserInGroup(Vec<String>),
    RecentAuth {
        within: Duration,
        /// Distinct, not empty.
        factors: Vec<Factor>,
    },
    IpIn(Vec<IpNet>),
    Time(TimeWindow),
    RecentFailuresAtLeast {
        count: u32,
        within: Duration,
    },
    Not(Box<When>),
}

/// Minutes since local midnight, 0..1440.
type Minute = u16;

#[derive(Debug, Clone, Copy, PartialEq)]
struct TimeWindow {
    tz: Tz,
    /// Bit `n` = `n` days from Monday; `None` = every day.
    days: Option<u8>,
    /// `from != to`; `from > to` crosses midnight.
    hours: Option<(Minute, Minute)>,
}

impl Rules {
    /// Check rules as sent.
    pub fn parse(input: RulesInput) -> Result<Self, Invalid> {
        parse::rules(input)
    }

    /// Deserialize and check in one go; a value serde refuses (an unknown
    /// condition, a string for a number) gets the same field names as
    /// [`Rules::parse`] and its JSON path in the message.
    pub fn from_deserializer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Self, Invalid> {
        let input: RulesInput = serde_path_to_error::deserialize(d).map_err(|e| {
            let path = e.path().to_string();
            Invalid::new(
                parse::field_for_path(&path),
                format!("{path}: {}", e.inner()),
            )
        })?;
        Self::parse(input)
    }

    /// No rules: `outcome` always decides (what a policy with only `steps` is).
    pub fn fixed(outcome: Outcome) -> Self {
        Self {
            rules: Vec::new(),
            default: outcome,
            timezone: None,
        }
    }

    /// The first rule whose `when` holds decides, else the default.
    pub fn evaluate(&self, input: &EvalInput<'_>, now: DateTime<Utc>) -> Decision {
        eval::evaluate(self, input, now)
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn default_outcome(&self) -> Outcome {
        self.default
    }

    pub fn timezone(&self) -> Option<Tz> {
        self.timezone
    }

    /// How far back `EvalInput::recent_failures` must reach: the longest
    /// `recent_failures_at_least` window, `None` when no rule counts failures
    /// (then the caller need not load them).
    pub fn failure_lookback(&self) -> Option<Duration> {
        self.needs().failures
    }

    /// Which history the rules read, so a caller loads only that.
    pub fn needs(&self) -> Needs {
        fn walk(w: &When, n: &mut Needs) {
            for c in &w.0 {
                match c {
                    Condition::RecentFailuresAtLeast { within, .. } => {
                        n.failures = Some(n.failures.map_or(*within, |m| m.max(*within)));
                    }
                    Condition::RecentAuth { .. } => n.last_login = true,
                    Condition::NewDevice(_) => n.device = true,
                    Condition::Not(inner) => walk(inner, n),
                    _ => {}
                }
            }
        }
        let mut n = Needs::default();
        for r in &self.rules {
            walk(&r.when, &mut n);
        }
        n
    }

    /// Back to the form sent and stored.
    pub fn to_input(&self) -> RulesInput {
        input::to_input(self)
    }
}

impl TryFrom<RulesInput> for Rules {
    type Error = Invalid;

    fn try_from(input: RulesInput) -> Result<Self, Invalid> {
        Self::parse(input)
    }
}

impl From<Rules> for RulesInput {
    fn from(rules: Rules) -> Self {
        rules.to_input()
    }
}
