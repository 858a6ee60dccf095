//! Shared helpers; the tables are in `tests/`.

mod eval;
mod example;
mod parse;
mod time;

use super::*;
use crate::domain::Factor::{Passwordless, Pin};
use serde_json::{json, Value};

/// The issue's example, byte for byte.
const ISSUE_EXAMPLE: &str = r#"{"name": "office",
 "rules": [
   {"when": {"sensitivity_at_least": 3}, "require": ["pin"]},
   {"when": {"ip_in": ["10.0.0.0/8", "fd00::/8"], "time": {"days": ["mon","tue","wed","thu","fri"], "from": "07:00", "to": "19:00"}}, "require": ["passwordless"]},
   {"when": {"ip_in": ["10.20.0.0/16"], "recent_auth": {"within_seconds": 28800, "factors": ["passwordless"]}}, "allow": true},
   {"when": {"new_device": true}, "require": ["passwordless", "pin"]},
   {"when": {"not": {"user_in_group": ["staff"]}}, "deny": true}
 ],
 "default": {"require": ["passwordless", "pin"]},
 "timezone": "Europe/Zurich"}"#;

/// The policy document minus its `name`, which belongs to the policy, not
/// to its rules.
fn issue_example() -> (String, Value) {
    let mut doc: Value = serde_json::from_str(ISSUE_EXAMPLE).unwrap();
    let name = doc.as_object_mut().unwrap().remove("name").unwrap();
    (name.as_str().unwrap().to_string(), doc)
}

fn parse(v: Value) -> Result<Rules, Invalid> {
    Rules::from_deserializer(v)
}

fn rules(v: Value) -> Rules {
    parse(v.clone()).unwrap_or_else(|e| panic!("{v}: {e}"))
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// An owned context that lends an `EvalInput`.
#[derive(Clone, Default)]
struct Ctx {
    ip: Option<&'static str>,
    sensitivity: Option<u8>,
    system_sensitivity: u8,
    device_known: Option<bool>,
    groups: Vec<String>,
    last_approved: Option<(DateTime<Utc>, Vec<Factor>)>,
    failures: Vec<DateTime<Utc>>,
}

impl Ctx {
    fn input(&self) -> EvalInput<'_> {
        EvalInput {
            ip: self.ip.map(|s| s.parse().unwrap()),
            sensitivity: self.sensitivity.map(|s| Sensitivity::new(s).unwrap()),
            system_sensitivity: Sensitivity::new(self.system_sensitivity).unwrap(),
            device_known: self.device_known,
            groups: &self.groups,
            last_approved: self.last_approved.as_ref().map(|(at, f)| ApprovedLogin {
                at: *at,
                factors: f,
            }),
            recent_failures: &self.failures,
        }
    }

    fn ip(mut self, ip: &'static str) -> Self {
        self.ip = Some(ip);
        self
    }
    fn sens(mut self, s: u8) -> Self {
        self.sensitivity = Some(s);
        self
    }
    fn sys(mut self, s: u8) -> Self {
        self.system_sensitivity = s;
        self
    }
    fn device(mut self, known: bool) -> Self {
        self.device_known = Some(known);
        self
    }
    fn groups(mut self, g: &[&str]) -> Self {
        self.groups = g.iter().map(|s| s.to_string()).collect();
        self
    }
    fn last(mut self, at: DateTime<Utc>, f: &[Factor]) -> Self {
        self.last_approved = Some((at, f.to_vec()));
        self
    }
    fn failures(mut self, f: Vec<DateTime<Utc>>) -> Self {
        self.failures = f;
        self
    }
}

fn ctx() -> Ctx {
    Ctx::default()
}

/// The three-valued truth of `when` for `ctx` at `now`, observed from outside:
/// rule 0 is `when`, rule 1 is `not when`, so `Rule(0)` is true, `Rule(1)`
/// false and the default unknown.
fn truth(when: &Value, tz: &str, c: &Ctx, now: DateTime<Utc>) -> Option<bool> {
    let r = rules(json!({
        "rules": [{"when": when, "allow": true}, {"when": {"not": when}, "deny": true}],
        "default": {"require": ["pin"]},
        "timezone": tz,
    }));
    match r.evaluate(&c.input(), now).matched {
        Matched::Rule(0) => Some(true),
        Matched::Rule(1) => Some(false),
        Matched::Default => None,
        Matched::Rule(i) => panic!("no rule {i}"),
    }
}

const T: Option<bool> = Some(true);
const F: Option<bool> = Some(false);
const UNKNOWN: Option<bool> = None;

/// A Tuesday, 10:00 in Zurich (CET, UTC+1).
fn tuesday() -> DateTime<Utc> {
    at("2024-03-26T09:00:00Z")
}
