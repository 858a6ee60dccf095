//! The JSON form of context rules, as sent and as stored; `Rules::parse`
//! checks it, `to_input` writes a parsed `Rules` back.

use super::{Condition, Minute, Outcome, Rule, Rules, Steps, TimeWindow, When};
use crate::domain::Factor;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A policy's `rules`, `default` and `timezone`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RulesInput {
    /// Checked in order; the first whose `when` holds decides. At most 100.
    #[serde(default)]
    pub rules: Vec<RuleInput>,
    /// What applies when no rule holds. Required (an `Option` only so that
    /// its absence is reported as the field `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<OutcomeInput>,
    /// IANA name such as `Europe/Zurich`; required when a rule has a `time`
    /// condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// A `when` and exactly one of `require`, `allow`, `deny`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleInput {
    pub when: WhenInput,
    /// `["passwordless"]`, `["pin"]` or `["passwordless","pin"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require: Option<Vec<Factor>>,
    /// `true`: approved at once, no SMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<bool>,
    /// `true`: refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<bool>,
}

/// Exactly one of `require`, `allow`, `deny`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OutcomeInput {
    /// `["passwordless"]`, `["pin"]` or `["passwordless","pin"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require: Option<Vec<Factor>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deny: Option<bool>,
}

/// Conditions, all of which must hold. A condition whose context is missing
/// does not match, and neither does its `not`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhenInput {
    /// CIDR networks (IPv4 or IPv6); holds when `context.ip` is in any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_in: Option<Vec<String>>,
    /// Weekdays and/or an hour range in the policy's `timezone`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeInput>,
    /// 0 to 3; compared with `context.sensitivity`, else the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sensitivity_at_least: Option<u8>,
    /// The last approved login to this system is this recent and used these factors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_auth: Option<RecentAuthInput>,
    /// At least `count` failed logins of the user within the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recent_failures_at_least: Option<RecentFailuresInput>,
    /// `true`: `context.device_id` was never seen in an approved login of the
    /// user; `false`: it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_device: Option<bool>,
    /// The user is in any of these groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_in_group: Option<Vec<String>>,
    /// Holds when the inner conditions (ANDed) do not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(no_recursion)]
    pub not: Option<Box<WhenInput>>,
}

/// `days` (`mon` ... `sun`) and/or `from`/`to` (`"HH:MM"`, `to` exclusive).
/// A range with `from` after `to` crosses midnight and belongs to the day it
/// starts on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TimeInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecentAuthInput {
    /// 1 to 2592000 (30 days).
    pub within_seconds: u64,
    /// At least one; the login must have used all of them.
    pub factors: Vec<Factor>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecentFailuresInput {
    /// 1 to 1000.
    pub count: u32,
    /// 1 to 2592000 (30 days).
    pub within_seconds: u64,
}

pub(super) const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

pub(super) fn to_input(rules: &Rules) -> RulesInput {
    RulesInput {
        rules: rules.rules.iter().map(rule_input).collect(),
        default: Some(outcome_input(rules.default)),
        timezone: rules.timezone.map(|tz| tz.name().to_string()),
    }
}

fn rule_input(rule: &Rule) -> RuleInput {
    let o = outcome_input(rule.outcome);
    RuleInput {
        when: when_input(&rule.when),
        require: o.require,
        allow: o.allow,
        deny: o.deny,
    }
}

fn outcome_input(outcome: Outcome) -> OutcomeInput {
    match outcome {
        Outcome::Allow => OutcomeInput {
            allow: Some(true),
            ..Default::default()
        },
        Outcome::Deny => OutcomeInput {
            deny: Some(true),
            ..Default::default()
        },
        Outcome::Require(steps) => OutcomeInput {
            require: Some(Steps::factors(steps).to_vec()),
            ..Default::default()
        },
    }
}

fn when_input(when: &When) -> WhenInput {
    let mut w = WhenInput::default();
    for c in &when.0 {
        match c {
            Condition::SensitivityAtLeast(s) => w.sensitivity_at_least = Some(s.get()),
            Condition::NewDevice(b) => w.new_device = Some(*b),
            Condition::UserInGroup(groups) => w.user_in_group = Some(groups.clone()),
            Condition::RecentAuth { within, factors } => {
                w.recent_auth = Some(RecentAuthInput {
                    within_seconds: within.num_seconds().unsigned_abs(),
                    factors: factors.clone(),
                })
            }
            Condition::IpIn(nets) => {
                w.ip_in = Some(nets.iter().map(|n| n.to_string()).collect());
            }
            Condition::Time(t) => w.time = Some(time_input(t)),
            Condition::RecentFailuresAtLeast { count, within } => {
                w.recent_failures_at_least = Some(RecentFailuresInput {
                    count: *count,
                    within_seconds: within.num_seconds().unsigned_abs(),
                })
            }
            Condition::Not(inner) => w.not = Some(Box::new(when_input(inner))),
        }
    }
    w
}

fn time_input(t: &TimeWindow) -> TimeInput {
    let days = t.days.map(|mask| {
        DAY_NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| mask & (1 << i) != 0)
            .map(|(_, d)| d.to_string())
            .collect()
    });
    let hhmm = |m: Minute| format!("{:02}:{:02}", m / 60, m % 60);
    TimeInput {
        days,
        from: t.hours.map(|(f, _)| hhmm(f)),
        to: t.hours.map(|(_, to)| hhmm(to)),
    }
}
