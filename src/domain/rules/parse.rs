//! `RulesInput` -> `Rules`: every value checked, with the field named.
//!
//! `Invalid::field` is a fixed dotted name without indices (`rules.when.ip_in`,
//! also inside `not`); the message starts with the exact path
//! (`rules[2].when.not.ip_in`).

use super::input::{
    OutcomeInput, RecentAuthInput, RecentFailuresInput, RuleInput, RulesInput, TimeInput,
    WhenInput, DAY_NAMES,
};
use super::{
    Condition, Minute, Outcome, Rule, Rules, Sensitivity, Steps, TimeWindow, When,
    MAX_FAILURE_COUNT, MAX_GROUP_LEN, MAX_LIST_LEN, MAX_NOT_DEPTH, MAX_RULES, MAX_WINDOW_SECONDS,
};
use crate::domain::{Factor, Invalid};
use chrono::Duration;
use chrono_tz::Tz;
use ipnet::IpNet;
use std::net::IpAddr;

/// Every field name an error can carry.
const FIELDS: &[&str] = &[
    "rules",
    "default",
    "timezone",
    "rules.when",
    "rules.require",
    "rules.allow",
    "rules.deny",
    "default.require",
    "default.allow",
    "default.deny",
    "rules.when.ip_in",
    "rules.when.time",
    "rules.when.time.days",
    "rules.when.time.from",
    "rules.when.time.to",
    "rules.when.sensitivity_at_least",
    "rules.when.recent_auth",
    "rules.when.recent_auth.within_seconds",
    "rules.when.recent_auth.factors",
    "rules.when.recent_failures_at_least",
    "rules.when.recent_failures_at_least.count",
    "rules.when.recent_failures_at_least.within_seconds",
    "rules.when.new_device",
    "rules.when.user_in_group",
    "rules.when.not",
];

/// The field name for a serde path such as `rules[4].when.not.not.ip_in[2]`:
/// indices and the `not`s after `when` dropped, then the longest known prefix.
pub(super) fn field_for_path(path: &str) -> &'static str {
    let mut segments: Vec<&str> = Vec::new();
    for raw in path.split('.') {
        let seg = raw.split('[').next().unwrap_or_default();
        if seg.is_empty() {
            continue;
        }
        let nested_not = seg == "not" && segments.last() == Some(&"not");
        let not_then_more = segments.last() == Some(&"not") && seg != "not";
        if nested_not {
            continue;
        }
        if not_then_more {
            // `when.not.ip_in` is reported as `when.ip_in`.
            segments.pop();
        }
        segments.push(seg);
    }
    while !segments.is_empty() {
        let joined = segments.join(".");
        if let Some(f) = FIELDS.iter().find(|f| **f == joined) {
            return f;
        }
        segments.pop();
    }
    "rules"
}

pub(super) fn rules(input: RulesInput) -> Result<Rules, Invalid> {
    let timezone = input.timezone.as_deref().map(timezone).transpose()?;
    if input.rules.len() > MAX_RULES {
        return Err(Invalid::new(
            "rules",
            format!("at most {MAX_RULES} rules, got {}", input.rules.len()),
        ));
    }
    let rules = input
        .rules
        .into_iter()
        .enumerate()
        .map(|(i, r)| rule(i, r, timezone))
        .collect::<Result<Vec<_>, _>>()?;
    let OutcomeInput {
        require,
        allow,
        deny,
    } = input
        .default
        .ok_or_else(|| Invalid::new("default", "required: what applies when no rule holds"))?;
    let default = outcome(&DEFAULT_FIELDS, "default", require, allow, deny)?;
    Ok(Rules {
        rules,
        default,
        timezone,
    })
}

fn timezone(s: &str) -> Result<Tz, Invalid> {
    s.parse::<Tz>().map_err(|_| {
        Invalid::new(
            "timezone",
            format!(
                "unknown time zone {s:?}; use an IANA name such as \"Europe/Zurich\" or \"UTC\""
            ),
        )
    })
}

struct OutcomeFields {
    whole: &'static str,
    require: &'static str,
    allow: &'static str,
    deny: &'static str,
}

const RULE_FIELDS: OutcomeFields = OutcomeFields {
    whole: "rules",
    require: "rules.require",
    allow: "rules.allow",
    deny: "rules.deny",
};

const DEFAULT_FIELDS: OutcomeFields = OutcomeFields {
    whole: "default",
    require: "default.require",
    allow: "default.allow",
    deny: "default.deny",
};

fn rule(i: usize, input: RuleInput, tz: Option<Tz>) -> Result<Rule, Invalid> {
    let path = format!("rules[{i}]");
    let outcome = outcome(&RULE_FIELDS, &path, input.require, input.allow, input.deny)?;
    let when = when(input.when, &format!("{path}.when"), 0, tz)?;
    Ok(Rule { when, outcome })
}

fn outcome(
    fields: &OutcomeFields,
    path: &str,
    require: Option<Vec<Factor>>,
    allow: Option<bool>,
    deny: Option<bool>,
) -> Result<Outcome, Invalid> {
    if allow == Some(false) {
        return Err(Invalid::new(
            fields.allow,
            format!("{path}.allow: must be true when present"),
        ));
    }
    if deny == Some(false) {
        return Err(Invalid::new(
            fields.deny,
            format!("{path}.deny: must be true when present"),
        ));
    }
    let given =
        usize::from(require.is_some()) + usize::from(allow.is_some()) + usize::from(deny.is_some());
    if given != 1 {
        return Err(Invalid::new(
            fields.whole,
            format!("{path}: needs exactly one of \"require\", \"allow\": true, \"deny\": true"),
        ));
    }
    if let Some(factors) = require {
        return Steps::parse(&factors).map(Outcome::Require).ok_or_else(|| {
            Invalid::new(
                fields.require,
                format!(
                    "{path}.require: must be one of [\"passwordless\"], [\"pin\"], [\"passwordless\",\"pin\"]"
                ),
            )
        });
    }
    Ok(if allow.is_some() {
        Outcome::Allow
    } else {
        Outcome::Deny
    })
}

fn when(input: WhenInput, path: &str, depth: usize, tz: Option<Tz>) -> Result<When, Invalid> {
    let WhenInput {
        ip_in,
        time,
        sensitivity_at_least,
        recent_auth,
        recent_failures_at_least,
        new_device,
        user_in_group,
        not,
    } = input;
    // Pushed cheapest first: evaluation stops at the first false condition.
    let mut conds = Vec::new();
    if let Some(s) = sensitivity_at_least {
        let s = Sensitivity::new(s).ok_or_else(|| {
            Invalid::new(
                "rules.when.sensitivity_at_least",
                format!("{path}.sensitivity_at_least: must be between 0 and 3"),
            )
        })?;
        conds.push(Condition::SensitivityAtLeast(s));
    }
    if let Some(b) = new_device {
        conds.push(Condition::NewDevice(b));
    }
    if let Some(groups) = user_in_group {
        conds.push(Condition::UserInGroup(self::groups(groups, path)?));
    }
    if let Some(r) = recent_auth {
        conds.push(self::recent_auth(r, path)?);
    }
    if let Some(nets) = ip_in {
        conds.push(Condition::IpIn(networks(nets, path)?));
    }
    if let Some(t) = time {
        conds.push(Condition::Time(self::time(t, path, tz)?));
    }
    if let Some(f) = recent_failures_at_least {
        conds.push(recent_failures(f, path)?);
    }
    if let Some(inner) = not {
        if depth + 1 > MAX_NOT_DEPTH {
            return Err(Invalid::new(
                "rules.when.not",
                format!("{path}.not: nested more than {MAX_NOT_DEPTH} deep"),
            ));
        }
        let inner = when(*inner, &format!("{path}.not"), depth + 1, tz)?;
        conds.push(Condition::Not(Box::new(inner)));
    }
    if conds.is_empty() {
        let field = if depth == 0 {
            "rules.when"
        } else {
            "rules.when.not"
        };
        return Err(Invalid::new(
            field,
            format!("{path}: needs at least one condition (\"default\" is the catch-all)"),
        ));
    }
    Ok(When(conds))
}

fn list_len<T>(list: &[T], field: &'static str, path: &str, what: &str) -> Result<(), Invalid> {
    if list.is_empty() {
        return Err(Invalid::new(
            field,
            format!("{path}: must list at least one {what}"),
        ));
    }
    if list.len() > MAX_LIST_LEN {
        return Err(Invalid::new(
            field,
            format!("{path}: at most {MAX_LIST_LEN} entries"),
        ));
    }
    Ok(())
}

fn networks(raw: Vec<String>, path: &str) -> Result<Vec<IpNet>, Invalid> {
    const FIELD: &str = "rules.when.ip_in";
    let path = format!("{path}.ip_in");
    list_len(&raw, FIELD, &path, "network")?;
    raw.iter()
        .map(|s| {
            let s = s.trim();
            let net = match s.parse::<IpNet>() {
                Ok(net) => net,
                Err(_) => match s.parse::<IpAddr>() {
                    Ok(addr) => IpNet::from(addr),
                    Err(_) => {
                        return Err(Invalid::new(
                            FIELD,
                            format!(
                            "{path}: {s:?} is not a network such as \"10.0.0.0/8\" or \"fd00::/8\""
                        ),
                        ))
                    }
                },
            };
            if net.trunc() != net {
                return Err(Invalid::new(
                    FIELD,
                    format!(
                        "{path}: {s:?} has host bits set; the network is \"{}\"",
                        net.trunc()
                    ),
                ));
            }
            Ok(net)
        })
        .collect()
}

fn groups(raw: Vec<String>, path: &str) -> Result<Vec<String>, Invalid> {
    const FIELD: &str = "rules.when.user_in_group";
    let path = format!("{path}.user_in_group");
    list_len(&raw, FIELD, &path, "group")?;
    raw.into_iter()
        .map(|g| {
            let g = g.trim();
            if g.is_empty() || g.chars().count() > MAX_GROUP_LEN || g.chars().any(char::is_control) {
                return Err(Invalid::new(
                    FIELD,
                    format!("{path}: a group name is 1 to {MAX_GROUP_LEN} characters without control characters"),
                ));
            }
            Ok(g.to_string())
        })
        .collect()
}

fn window(seconds: u64, field: &'static str, path: &str) -> Result<Duration, Invalid> {
    if !(1..=MAX_WINDOW_SECONDS).contains(&seconds) {
        return Err(Invalid::new(
            field,
            format!("{path}: must be between 1 and {MAX_WINDOW_SECONDS} seconds (30 days)"),
        ));
    }
    // At most 30 days: fits an i64 of seconds.
    Ok(Duration::seconds(seconds as i64))
}

fn recent_auth(input: RecentAuthInput, path: &str) -> Result<Condition, Invalid> {
    let path = format!("{path}.recent_auth");
    let within = window(
        input.within_seconds,
        "rules.when.recent_auth.within_seconds",
        &format!("{path}.within_seconds"),
    )?;
    let factors = input.factors;
    let distinct = !(factors.len() == 2 && factors[0] == factors[1]);
    if factors.is_empty() || !distinct {
        return Err(Invalid::new(
            "rules.when.recent_auth.factors",
            format!(
                "{path}.factors: must list one or both of \"passwordless\", \"pin\", each once"
            ),
        ));
    }
    Ok(Condition::RecentAuth { within, factors })
}

fn recent_failures(input: RecentFailuresInput, path: &str) -> Result<Condition, Invalid> {
    let path = format!("{path}.recent_failures_at_least");
    if !(1..=MAX_FAILURE_COUNT).contains(&input.count) {
        return Err(Invalid::new(
            "rules.when.recent_failures_at_least.count",
            format!("{path}.count: must be between 1 and {MAX_FAILURE_COUNT}"),
        ));
    }
    let within = window(
        input.within_seconds,
        "rules.when.recent_failures_at_least.within_seconds",
        &format!("{path}.within_seconds"),
    )?;
    Ok(Condition::RecentFailuresAtLeast {
        count: input.count,
        within,
    })
}

fn time(input: TimeInput, path: &str, tz: Option<Tz>) -> Result<TimeWindow, Invalid> {
    let path = format!("{path}.time");
    let tz = tz.ok_or_else(|| {
        Invalid::new(
            "timezone",
            format!("required because {path} is a time condition; an IANA name such as \"Europe/Zurich\""),
        )
    })?;
    let days = match input.days {
        None => None,
        Some(names) => {
            let dpath = format!("{path}.days");
            list_len(&names, "rules.when.time.days", &dpath, "day")?;
            let mut mask = 0u8;
            for name in &names {
                let i = DAY_NAMES
                    .iter()
                    .position(|d| d.eq_ignore_ascii_case(name.trim()))
                    .ok_or_else(|| {
                        Invalid::new(
                            "rules.when.time.days",
                            format!("{dpath}: {name:?} is not one of \"mon\", \"tue\", \"wed\", \"thu\", \"fri\", \"sat\", \"sun\""),
                        )
                    })?;
                mask |= 1 << i;
            }
            Some(mask)
        }
    };
    let hours = match (input.from, input.to) {
        (None, None) => None,
        (Some(_), None) => {
            return Err(Invalid::new(
                "rules.when.time.to",
                format!("{path}.to: required with \"from\""),
            ))
        }
        (None, Some(_)) => {
            return Err(Invalid::new(
                "rules.when.time.from",
                format!("{path}.from: required with \"to\""),
            ))
        }
        (Some(from), Some(to)) => {
            let f = hhmm(&from, "rules.when.time.from", &format!("{path}.from"))?;
            let t = hhmm(&to, "rules.when.time.to", &format!("{path}.to"))?;
            if f == t {
                return Err(Invalid::new(
                    "rules.when.time.to",
                    format!(
                        "{path}.to: must differ from \"from\"; leave both out for the whole day"
                    ),
                ));
            }
            Some((f, t))
        }
    };
    if days.is_none() && hours.is_none() {
        return Err(Invalid::new(
            "rules.when.time",
            format!("{path}: needs \"days\", or \"from\" and \"to\", or both"),
        ));
    }
    Ok(TimeWindow { tz, days, hours })
}

/// `"HH:MM"`, 00:00 to 23:59, exactly five characters.
fn hhmm(s: &str, field: &'static str, path: &str) -> Result<Minute, Invalid> {
    let err = || {
        Invalid::new(
            field,
            format!("{path}: {s:?} is not a time \"HH:MM\" between 00:00 and 23:59"),
        )
    };
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' {
        return Err(err());
    }
    let digit = |c: u8| c.is_ascii_digit().then(|| Minute::from(c - b'0'));
    let two = |i: usize| Some(digit(b[i])? * 10 + digit(b[i + 1])?);
    let (h, m) = (two(0).ok_or_else(err)?, two(3).ok_or_else(err)?);
    if h > 23 || m > 59 {
        return Err(err());
    }
    Ok(h * 60 + m)
}
