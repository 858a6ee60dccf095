//! Parsing tables: what is accepted, what is refused and with which field,
//! and the stored form round-trips.

use super::*;

/// One rule with `when`, default `pin`, time zone UTC.
fn with_when(when: Value) -> Value {
    json!({"rules": [{"when": when, "allow": true}], "default": {"require": ["pin"]}, "timezone": "UTC"})
}

#[test]
fn refused_with_field_names() {
    let nest = |depth: usize| {
        let mut w = json!({"new_device": true});
        for _ in 0..depth {
            w = json!({ "not": w });
        }
        w
    };
    let many_rules: Vec<Value> = (0..=MAX_RULES)
        .map(|_| json!({"when": {"new_device": true}, "deny": true}))
        .collect();
    let rows: Vec<(&str, Value, &str, &str)> = vec![
        // ip_in
        (
            "prefix too long",
            with_when(json!({"ip_in": ["10.0.0.0/33"]})),
            "rules.when.ip_in",
            "10.0.0.0/33",
        ),
        (
            "not a network",
            with_when(json!({"ip_in": ["10.0.0.0/8", "office"]})),
            "rules.when.ip_in",
            "\"office\"",
        ),
        (
            "bad v6",
            with_when(json!({"ip_in": ["fd00::/129"]})),
            "rules.when.ip_in",
            "fd00::/129",
        ),
        (
            "host bits set",
            with_when(json!({"ip_in": ["10.0.0.1/8"]})),
            "rules.when.ip_in",
            "the network is \"10.0.0.0/8\"",
        ),
        (
            "empty ip_in",
            with_when(json!({"ip_in": []})),
            "rules.when.ip_in",
            "at least one",
        ),
        (
            "not a list",
            with_when(json!({"ip_in": "10.0.0.0/8"})),
            "rules.when.ip_in",
            "rules[0].when.ip_in",
        ),
        (
            "bad CIDR inside not",
            with_when(json!({"not": {"not": {"ip_in": ["x"]}}})),
            "rules.when.ip_in",
            "rules[0].when.not.not.ip_in",
        ),
        // time
        (
            "one-digit hour",
            with_when(json!({"time": {"from": "7:00", "to": "19:00"}})),
            "rules.when.time.from",
            "\"7:00\"",
        ),
        (
            "24:00",
            with_when(json!({"time": {"from": "07:00", "to": "24:00"}})),
            "rules.when.time.to",
            "\"24:00\"",
        ),
        (
            "minute 60",
            with_when(json!({"time": {"from": "07:60", "to": "19:00"}})),
            "rules.when.time.from",
            "HH:MM",
        ),
        (
            "dash",
            with_when(json!({"time": {"from": "07-00", "to": "19:00"}})),
            "rules.when.time.from",
            "HH:MM",
        ),
        (
            "seconds",
            with_when(json!({"time": {"from": "07:00:00", "to": "19:00"}})),
            "rules.when.time.from",
            "HH:MM",
        ),
        (
            "from without to",
            with_when(json!({"time": {"from": "07:00"}})),
            "rules.when.time.to",
            "required",
        ),
        (
            "to without from",
            with_when(json!({"time": {"to": "07:00"}})),
            "rules.when.time.from",
            "required",
        ),
        (
            "from equals to",
            with_when(json!({"time": {"from": "07:00", "to": "07:00"}})),
            "rules.when.time.to",
            "must differ",
        ),
        (
            "empty time",
            with_when(json!({"time": {}})),
            "rules.when.time",
            "needs",
        ),
        (
            "bad day",
            with_when(json!({"time": {"days": ["monday"]}})),
            "rules.when.time.days",
            "\"monday\"",
        ),
        (
            "no days",
            with_when(json!({"time": {"days": []}})),
            "rules.when.time.days",
            "at least one",
        ),
        (
            "unknown time key",
            with_when(json!({"time": {"day": ["mon"]}})),
            "rules.when.time",
            "unknown field `day`",
        ),
        // timezone
        (
            "unknown zone",
            json!({"rules": [], "default": {"allow": true}, "timezone": "Mars/Olympus"}),
            "timezone",
            "Mars/Olympus",
        ),
        (
            "zone with umlaut",
            json!({"rules": [], "default": {"allow": true}, "timezone": "Europe/Zürich"}),
            "timezone",
            "IANA",
        ),
        (
            "time without a zone",
            json!({"rules": [{"when": {"time": {"days": ["mon"]}}, "deny": true}], "default": {"allow": true}}),
            "timezone",
            "rules[0].when.time",
        ),
        // conditions
        (
            "unknown condition",
            with_when(json!({"weekday": "mon"})),
            "rules.when",
            "unknown field `weekday`",
        ),
        (
            "unknown condition in not",
            with_when(json!({"not": {"ip": "10.0.0.1"}})),
            "rules.when",
            "unknown field `ip`",
        ),
        (
            "empty when",
            with_when(json!({})),
            "rules.when",
            "at least one condition",
        ),
        (
            "empty not",
            with_when(json!({"not": {}})),
            "rules.when.not",
            "at least one condition",
        ),
        (
            "not nested too deep",
            with_when(nest(MAX_NOT_DEPTH + 1)),
            "rules.when.not",
            "nested more than",
        ),
        (
            "sensitivity 4",
            with_when(json!({"sensitivity_at_least": 4})),
            "rules.when.sensitivity_at_least",
            "between 0 and 3",
        ),
        (
            "sensitivity 300",
            with_when(json!({"sensitivity_at_least": 300})),
            "rules.when.sensitivity_at_least",
            "300",
        ),
        (
            "sensitivity -1",
            with_when(json!({"sensitivity_at_least": -1})),
            "rules.when.sensitivity_at_least",
            "-1",
        ),
        (
            "new_device not a bool",
            with_when(json!({"new_device": "yes"})),
            "rules.when.new_device",
            "boolean",
        ),
        (
            "recent_auth window 0",
            with_when(json!({"recent_auth": {"within_seconds": 0, "factors": ["pin"]}})),
            "rules.when.recent_auth.within_seconds",
            "between 1",
        ),
        (
            "recent_auth window 31 days",
            with_when(json!({"recent_auth": {"within_seconds": 2_678_400, "factors": ["pin"]}})),
            "rules.when.recent_auth.within_seconds",
            "30 days",
        ),
        (
            "recent_auth no factors",
            with_when(json!({"recent_auth": {"within_seconds": 60, "factors": []}})),
            "rules.when.recent_auth.factors",
            "one or both",
        ),
        (
            "recent_auth factor twice",
            with_when(json!({"recent_auth": {"within_seconds": 60, "factors": ["pin", "pin"]}})),
            "rules.when.recent_auth.factors",
            "each once",
        ),
        (
            "recent_auth unknown factor",
            with_when(json!({"recent_auth": {"within_seconds": 60, "factors": ["sms"]}})),
            "rules.when.recent_auth.factors",
            "unknown variant `sms`",
        ),
        (
            "recent_auth missing factors",
            with_when(json!({"recent_auth": {"within_seconds": 60}})),
            "rules.when.recent_auth",
            "missing field `factors`",
        ),
        (
            "failures count 0",
            with_when(json!({"recent_failures_at_least": {"count": 0, "within_seconds": 60}})),
            "rules.when.recent_failures_at_least.count",
            "between 1",
        ),
        (
            "failures window 0",
            with_when(json!({"recent_failures_at_least": {"count": 1, "within_seconds": 0}})),
            "rules.when.recent_failures_at_least.within_seconds",
            "between 1",
        ),
        (
            "no groups",
            with_when(json!({"user_in_group": []})),
            "rules.when.user_in_group",
            "at least one",
        ),
        (
            "blank group",
            with_when(json!({"user_in_group": ["staff", "  "]})),
            "rules.when.user_in_group",
            "1 to 100",
        ),
        // outcomes
        (
            "empty require",
            json!({"rules": [{"when": {"new_device": true}, "require": []}], "default": {"allow": true}}),
            "rules.require",
            "rules[0].require",
        ),
        (
            "pin before link",
            json!({"rules": [{"when": {"new_device": true}, "require": ["pin", "passwordless"]}], "default": {"allow": true}}),
            "rules.require",
            "must be one of",
        ),
        (
            "unknown step",
            json!({"rules": [{"when": {"new_device": true}, "require": ["sms"]}], "default": {"allow": true}}),
            "rules.require",
            "unknown variant",
        ),
        (
            "default empty require",
            json!({"rules": [], "default": {"require": []}}),
            "default.require",
            "must be one of",
        ),
        (
            "two outcomes",
            json!({"rules": [{"when": {"new_device": true}, "allow": true, "deny": true}], "default": {"allow": true}}),
            "rules",
            "exactly one",
        ),
        (
            "no outcome",
            json!({"rules": [{"when": {"new_device": true}}], "default": {"allow": true}}),
            "rules",
            "exactly one",
        ),
        (
            "allow false",
            json!({"rules": [{"when": {"new_device": true}, "allow": false}], "default": {"deny": true}}),
            "rules.allow",
            "must be true",
        ),
        (
            "deny false",
            json!({"rules": [], "default": {"deny": false}}),
            "default.deny",
            "must be true",
        ),
        (
            "empty default",
            json!({"rules": [], "default": {}}),
            "default",
            "exactly one",
        ),
        ("no default", json!({"rules": []}), "default", "required"),
        (
            "rule without when",
            json!({"rules": [{"deny": true}], "default": {"allow": true}}),
            "rules",
            "missing field `when`",
        ),
        (
            "unknown rule key",
            json!({"rules": [{"when": {"new_device": true}, "then": "deny"}], "default": {"allow": true}}),
            "rules",
            "unknown field `then`",
        ),
        (
            "too many rules",
            json!({"rules": many_rules, "default": {"allow": true}}),
            "rules",
            "at most 100",
        ),
    ];
    for (name, input, field, message) in rows {
        let e = match parse(input.clone()) {
            Ok(r) => panic!("{name}: accepted {input} as {r:?}"),
            Err(e) => e,
        };
        assert_eq!(e.field, field, "{name}: {e}");
        assert!(
            e.message.contains(message),
            "{name}: {e:?} lacks {message:?}"
        );
    }
}

#[test]
fn unknown_top_level_key_is_refused() {
    let e = parse(json!({"rules": [], "default": {"allow": true}, "tz": "UTC"})).unwrap_err();
    assert!(e.message.contains("unknown field `tz`"), "{e}");
}

#[test]
fn accepted_forms() {
    let rows: Vec<(&str, Value)> = vec![
        ("only a default", json!({"default": {"deny": true}})),
        (
            "bare addresses",
            with_when(json!({"ip_in": ["10.1.2.3", "fd00::1"]})),
        ),
        (
            "spaces around a network",
            with_when(json!({"ip_in": [" 10.0.0.0/8 "]})),
        ),
        (
            "days in capitals",
            with_when(json!({"time": {"days": ["Mon", "SUN"]}})),
        ),
        (
            "hours only",
            with_when(json!({"time": {"from": "22:00", "to": "06:00"}})),
        ),
        (
            "to midnight",
            with_when(json!({"time": {"from": "18:00", "to": "00:00"}})),
        ),
        (
            "sensitivity 0",
            with_when(json!({"sensitivity_at_least": 0})),
        ),
        ("not nested at the limit", {
            let mut w = json!({"new_device": true});
            for _ in 0..MAX_NOT_DEPTH {
                w = json!({ "not": w });
            }
            with_when(w)
        }),
        (
            "a zone without time rules",
            json!({"rules": [], "default": {"allow": true}, "timezone": "Asia/Kolkata"}),
        ),
        (
            "30-day window",
            with_when(
                json!({"recent_auth": {"within_seconds": 2_592_000, "factors": ["pin", "passwordless"]}}),
            ),
        ),
    ];
    for (name, input) in rows {
        if let Err(e) = parse(input) {
            panic!("{name}: {e}");
        }
    }
}

#[test]
fn issue_example_round_trips() {
    let (_, doc) = issue_example();
    let r = rules(doc.clone());
    assert_eq!(r.timezone(), Some(chrono_tz::Europe::Zurich));
    assert_eq!(
        r.default_outcome(),
        Outcome::Require(Steps::PasswordlessThenPin)
    );
    assert_eq!(r.failure_lookback(), None);
    // Stored form: the same JSON (object keys compare unordered).
    assert_eq!(serde_json::to_value(&r).unwrap(), doc);
    // And back through serde's own path (`try_from`).
    let stored = serde_json::to_string(&r).unwrap();
    assert_eq!(serde_json::from_str::<Rules>(&stored).unwrap(), r);
}

#[test]
fn stored_form_is_canonical() {
    let r = rules(with_when(json!({
        "ip_in": ["10.1.2.3", " fd00::/8"],
        "time": {"days": ["sun", "Mon", "mon"], "from": "22:00", "to": "06:00"},
        "user_in_group": [" staff "],
    })));
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(
        v["rules"][0]["when"],
        json!({
            "ip_in": ["10.1.2.3/32", "fd00::/8"],
            "time": {"days": ["mon", "sun"], "from": "22:00", "to": "06:00"},
            "user_in_group": ["staff"],
        })
    );
    assert_eq!(rules(v), r);
}

#[test]
fn serde_refusal_through_try_from_names_the_field() {
    let e = serde_json::from_value::<Rules>(with_when(json!({"ip_in": ["nope"]}))).unwrap_err();
    assert!(e.to_string().starts_with("rules.when.ip_in: "), "{e}");
}

#[test]
fn sensitivity_and_steps() {
    assert_eq!(Sensitivity::parse(3, "sensitivity").unwrap().get(), 3);
    let e = Sensitivity::parse(4, "context.sensitivity").unwrap_err();
    assert_eq!(e.field, "context.sensitivity");
    assert_eq!(Sensitivity::new(4), None);
    for steps in [Steps::Passwordless, Steps::Pin, Steps::PasswordlessThenPin] {
        assert_eq!(Steps::parse(steps.factors()), Some(steps));
    }
    assert_eq!(Steps::parse(&[]), None);
    assert_eq!(Steps::parse(&[Pin, Passwordless]), None);
}

#[test]
fn field_for_serde_paths() {
    let rows = [
        (".", "rules"),
        ("rules", "rules"),
        ("rules[3]", "rules"),
        ("rules[3].when.weekday", "rules.when"),
        ("rules[3].when.not", "rules.when.not"),
        ("rules[3].when.not.not", "rules.when.not"),
        ("rules[3].when.not.not.ip_in[2]", "rules.when.ip_in"),
        ("rules[0].when.not.time.from", "rules.when.time.from"),
        ("rules[0].require[1]", "rules.require"),
        ("default.require[0]", "default.require"),
        ("default", "default"),
        ("timezone", "timezone"),
    ];
    for (path, field) in rows {
        assert_eq!(super::super::parse::field_for_path(path), field, "{path}");
    }
}

#[test]
fn openapi_schema_builds() {
    use utoipa::{PartialSchema, ToSchema};
    let schema = serde_json::to_value(RulesInput::schema()).unwrap();
    assert!(schema.to_string().contains("default"), "{schema}");
    let mut all = Vec::new();
    RulesInput::schemas(&mut all);
    let names: Vec<_> = all.iter().map(|(n, _)| n.as_str()).collect();
    assert!(names.contains(&"WhenInput"), "{names:?}");
}
