//! Evaluation tables: every condition, missing context, `not`, rule order.

use super::*;

fn minutes_ago(now: DateTime<Utc>, m: i64) -> DateTime<Utc> {
    now - Duration::minutes(m)
}

fn run(table: &[(&str, Value, Ctx, Option<bool>)], tz: &str, now: DateTime<Utc>) {
    for (name, when, c, want) in table {
        assert_eq!(truth(when, tz, c, now), *want, "{name}: {when}");
    }
}

#[test]
fn sensitivity_at_least() {
    let w = json!({"sensitivity_at_least": 2});
    run(
        &[
            ("context equal", w.clone(), ctx().sens(2), T),
            ("context higher", w.clone(), ctx().sens(3), T),
            ("context lower", w.clone(), ctx().sens(1), F),
            ("no context: system high", w.clone(), ctx().sys(2), T),
            ("no context: system low", w.clone(), ctx().sys(1), F),
            (
                "context wins over system",
                w.clone(),
                ctx().sens(0).sys(3),
                F,
            ),
            ("context wins over system (up)", w, ctx().sens(3).sys(0), T),
            (
                "at least 0 always holds",
                json!({"sensitivity_at_least": 0}),
                ctx(),
                T,
            ),
        ],
        "UTC",
        tuesday(),
    );
}

#[test]
fn ip_in_v4_and_v6() {
    let w = json!({"ip_in": ["10.0.0.0/8", "192.168.1.5", "2001:db8::/32", "fd00::/8"]});
    run(
        &[
            ("v4 inside", w.clone(), ctx().ip("10.1.2.3"), T),
            ("v4 first", w.clone(), ctx().ip("10.0.0.0"), T),
            ("v4 last", w.clone(), ctx().ip("10.255.255.255"), T),
            ("v4 outside", w.clone(), ctx().ip("11.0.0.0"), F),
            ("bare address is /32", w.clone(), ctx().ip("192.168.1.5"), T),
            (
                "next to bare address",
                w.clone(),
                ctx().ip("192.168.1.6"),
                F,
            ),
            ("v6 inside", w.clone(), ctx().ip("2001:db8:ffff::1"), T),
            ("v6 just outside", w.clone(), ctx().ip("2001:db9::"), F),
            ("v6 ULA", w.clone(), ctx().ip("fd12:3456::1"), T),
            ("v6 link-local", w.clone(), ctx().ip("fe80::1"), F),
            (
                "v4-mapped v6 is v4",
                w.clone(),
                ctx().ip("::ffff:10.1.2.3"),
                T,
            ),
            (
                "v4-mapped outside",
                w.clone(),
                ctx().ip("::ffff:11.1.2.3"),
                F,
            ),
            (
                "v6 against v4 net",
                json!({"ip_in": ["10.0.0.0/8"]}),
                ctx().ip("::a01:203"),
                F,
            ),
            ("no ip: unknown", w, ctx(), UNKNOWN),
            (
                "/0 holds for v4",
                json!({"ip_in": ["0.0.0.0/0"]}),
                ctx().ip("8.8.8.8"),
                T,
            ),
            (
                "/0 v4 not v6",
                json!({"ip_in": ["0.0.0.0/0"]}),
                ctx().ip("2001:db8::1"),
                F,
            ),
        ],
        "UTC",
        tuesday(),
    );
}

#[test]
fn recent_auth() {
    let now = tuesday();
    let w = json!({"recent_auth": {"within_seconds": 3600, "factors": ["passwordless"]}});
    let both = json!({"recent_auth": {"within_seconds": 3600, "factors": ["pin", "passwordless"]}});
    run(
        &[
            ("never logged in: false", w.clone(), ctx(), F),
            (
                "fresh with the factor",
                w.clone(),
                ctx().last(minutes_ago(now, 10), &[Passwordless]),
                T,
            ),
            (
                "fresh, superset",
                w.clone(),
                ctx().last(minutes_ago(now, 10), &[Passwordless, Pin]),
                T,
            ),
            (
                "fresh, other factor",
                w.clone(),
                ctx().last(minutes_ago(now, 10), &[Pin]),
                F,
            ),
            (
                "allow login has no factors",
                w.clone(),
                ctx().last(minutes_ago(now, 1), &[]),
                F,
            ),
            ("just now", w.clone(), ctx().last(now, &[Passwordless]), T),
            (
                "59:59 ago",
                w.clone(),
                ctx().last(now - Duration::seconds(3599), &[Passwordless]),
                T,
            ),
            (
                "exactly the window: too old",
                w.clone(),
                ctx().last(minutes_ago(now, 60), &[Passwordless]),
                F,
            ),
            (
                "in the future",
                w.clone(),
                ctx().last(now + Duration::seconds(1), &[Passwordless]),
                F,
            ),
            (
                "both needed, both used",
                both.clone(),
                ctx().last(minutes_ago(now, 5), &[Passwordless, Pin]),
                T,
            ),
            (
                "both needed, one used",
                both,
                ctx().last(minutes_ago(now, 5), &[Passwordless]),
                F,
            ),
        ],
        "UTC",
        now,
    );
}

#[test]
fn recent_failures_at_least() {
    let now = tuesday();
    let w = json!({"recent_failures_at_least": {"count": 3, "within_seconds": 600}});
    let ago = |m: &[i64]| m.iter().map(|m| minutes_ago(now, *m)).collect::<Vec<_>>();
    run(
        &[
            ("none: false", w.clone(), ctx(), F),
            (
                "three recent",
                w.clone(),
                ctx().failures(ago(&[1, 2, 9])),
                T,
            ),
            (
                "four recent",
                w.clone(),
                ctx().failures(ago(&[0, 1, 2, 3])),
                T,
            ),
            (
                "two recent, five old",
                w.clone(),
                ctx().failures(ago(&[1, 2, 11, 20, 30, 40, 50])),
                F,
            ),
            (
                "one exactly at the window edge",
                w.clone(),
                ctx().failures(ago(&[1, 2, 10])),
                F,
            ),
            (
                "future ones do not count",
                w,
                ctx().failures(vec![
                    now + Duration::seconds(5),
                    minutes_ago(now, 1),
                    minutes_ago(now, 2),
                ]),
                F,
            ),
        ],
        "UTC",
        now,
    );
}

#[test]
fn new_device() {
    let new = json!({"new_device": true});
    let known = json!({"new_device": false});
    run(
        &[
            ("new: unseen device", new.clone(), ctx().device(false), T),
            ("new: seen device", new.clone(), ctx().device(true), F),
            ("new: no device_id", new, ctx(), UNKNOWN),
            ("known: seen device", known.clone(), ctx().device(true), T),
            (
                "known: unseen device",
                known.clone(),
                ctx().device(false),
                F,
            ),
            ("known: no device_id", known, ctx(), UNKNOWN),
        ],
        "UTC",
        tuesday(),
    );
}

#[test]
fn user_in_group() {
    let w = json!({"user_in_group": ["staff", " Ops "]});
    run(
        &[
            ("member", w.clone(), ctx().groups(&["guests", "staff"]), T),
            ("other listed group", w.clone(), ctx().groups(&["ops"]), T),
            ("case-insensitive", w.clone(), ctx().groups(&["STAFF"]), T),
            ("not a member", w.clone(), ctx().groups(&["guests"]), F),
            ("no groups: false", w, ctx(), F),
        ],
        "UTC",
        tuesday(),
    );
}

#[test]
fn missing_context_for_each_condition() {
    // An empty context: no ip, no sensitivity (system 0), no device, no
    // groups, no login, no failures. Only ip_in and new_device are unknown.
    let rows = [
        ("ip_in", json!({"ip_in": ["0.0.0.0/0", "::/0"]}), UNKNOWN),
        ("new_device", json!({"new_device": true}), UNKNOWN),
        ("new_device false", json!({"new_device": false}), UNKNOWN),
        (
            "sensitivity falls back to the system",
            json!({"sensitivity_at_least": 1}),
            F,
        ),
        ("time reads now", json!({"time": {"days": ["tue"]}}), T),
        (
            "user_in_group: in none",
            json!({"user_in_group": ["staff"]}),
            F,
        ),
        (
            "recent_auth: no login",
            json!({"recent_auth": {"within_seconds": 60, "factors": ["pin"]}}),
            F,
        ),
        (
            "recent_failures: none",
            json!({"recent_failures_at_least": {"count": 1, "within_seconds": 60}}),
            F,
        ),
    ];
    for (name, when, want) in rows {
        assert_eq!(truth(&when, "UTC", &ctx(), tuesday()), want, "{name}");
    }
}

#[test]
fn not_and_kleene_logic() {
    let office = json!({"ip_in": ["10.0.0.0/8"]});
    let staff_in_office = json!({"ip_in": ["10.0.0.0/8"], "user_in_group": ["staff"]});
    run(
        &[
            (
                "not: inside",
                json!({"not": office}),
                ctx().ip("10.0.0.1"),
                F,
            ),
            (
                "not: outside",
                json!({"not": office}),
                ctx().ip("8.8.8.8"),
                T,
            ),
            (
                "not: missing stays unknown",
                json!({"not": office}),
                ctx(),
                UNKNOWN,
            ),
            (
                "not not: inside",
                json!({"not": {"not": office}}),
                ctx().ip("10.0.0.1"),
                T,
            ),
            (
                "not not: outside",
                json!({"not": {"not": office}}),
                ctx().ip("8.8.8.8"),
                F,
            ),
            (
                "not not: missing",
                json!({"not": {"not": office}}),
                ctx(),
                UNKNOWN,
            ),
            (
                "not not not: inside",
                json!({"not": {"not": {"not": office}}}),
                ctx().ip("10.0.0.1"),
                F,
            ),
            (
                "and: both",
                staff_in_office.clone(),
                ctx().ip("10.0.0.1").groups(&["staff"]),
                T,
            ),
            (
                "and: one false",
                staff_in_office.clone(),
                ctx().ip("10.0.0.1"),
                F,
            ),
            (
                "and: unknown and true",
                staff_in_office.clone(),
                ctx().groups(&["staff"]),
                UNKNOWN,
            ),
            ("and: unknown and false", staff_in_office.clone(), ctx(), F),
            // not(false AND unknown) = not false = true: holds whatever the ip.
            (
                "not(false and unknown)",
                json!({"not": staff_in_office}),
                ctx(),
                T,
            ),
            (
                "not(true and unknown)",
                json!({"not": staff_in_office}),
                ctx().groups(&["staff"]),
                UNKNOWN,
            ),
            (
                "and with a not",
                json!({"user_in_group": ["staff"], "not": {"new_device": true}}),
                ctx().groups(&["staff"]).device(true),
                T,
            ),
            (
                "relaxing not cannot be reached by leaving device_id out",
                json!({"user_in_group": ["staff"], "not": {"new_device": true}}),
                ctx().groups(&["staff"]),
                UNKNOWN,
            ),
        ],
        "UTC",
        tuesday(),
    );
}

#[test]
fn rule_order_first_match_wins() {
    let r = rules(json!({
        "rules": [
            {"when": {"sensitivity_at_least": 3}, "require": ["pin"]},
            {"when": {"ip_in": ["10.0.0.0/8"]}, "require": ["passwordless"]},
            {"when": {"user_in_group": ["staff"]}, "allow": true},
            {"when": {"user_in_group": ["staff", "guests"]}, "deny": true},
        ],
        "default": {"require": ["passwordless", "pin"]},
    }));
    let rows = [
        (
            "all hold: the first",
            ctx().sens(3).ip("10.0.0.1").groups(&["staff"]),
            0,
            Outcome::Require(Steps::Pin),
        ),
        (
            "system sensitivity",
            ctx().sys(3).ip("10.0.0.1"),
            0,
            Outcome::Require(Steps::Pin),
        ),
        (
            "second and third hold",
            ctx().sens(2).ip("10.0.0.1").groups(&["staff"]),
            1,
            Outcome::Require(Steps::Passwordless),
        ),
        (
            "third and fourth hold",
            ctx().ip("8.8.8.8").groups(&["staff"]),
            2,
            Outcome::Allow,
        ),
        ("fourth only", ctx().groups(&["guests"]), 3, Outcome::Deny),
    ];
    for (name, c, i, outcome) in rows {
        assert_eq!(
            r.evaluate(&c.input(), tuesday()),
            Decision {
                matched: Matched::Rule(i),
                outcome
            },
            "{name}"
        );
    }
    let none = r.evaluate(&ctx().ip("8.8.8.8").input(), tuesday());
    assert_eq!(
        none,
        Decision {
            matched: Matched::Default,
            outcome: Outcome::Require(Steps::PasswordlessThenPin)
        }
    );
    assert_eq!(Matched::Default.to_string(), "default");
    assert_eq!(Matched::Rule(3).to_string(), "3");
}

#[test]
fn fixed_rules_and_failure_lookback() {
    let r = Rules::fixed(Outcome::Require(Steps::Pin));
    assert!(r.is_empty());
    assert_eq!(r.failure_lookback(), None);
    let d = r.evaluate(&EvalInput::new(Sensitivity::default()), tuesday());
    assert_eq!(d.matched, Matched::Default);
    assert_eq!(d.outcome, Outcome::Require(Steps::Pin));

    let r = rules(json!({
        "rules": [
            {"when": {"recent_failures_at_least": {"count": 3, "within_seconds": 600}}, "deny": true},
            {"when": {"not": {"not": {"recent_failures_at_least": {"count": 1, "within_seconds": 7200}}}}, "require": ["pin"]},
        ],
        "default": {"allow": true},
    }));
    assert_eq!(r.failure_lookback(), Some(Duration::seconds(7200)));
    assert_eq!(r.default_outcome(), Outcome::Allow);
    assert_eq!(r.timezone(), None);
}

#[test]
fn needs_names_the_history_the_rules_read() {
    assert_eq!(
        Rules::fixed(Outcome::Allow).needs(),
        crate::domain::Needs::default()
    );
    let r = rules(json!({
        "rules": [
            {"when": {"ip_in": ["10.0.0.0/8"], "time": {"days": ["mon"]}}, "allow": true},
        ],
        "default": {"deny": true},
        "timezone": "UTC",
    }));
    assert_eq!(r.needs(), crate::domain::Needs::default());
    let r = rules(json!({
        "rules": [
            {"when": {"not": {"new_device": true}}, "allow": true},
            {"when": {"recent_auth": {"within_seconds": 60, "factors": ["pin"]}}, "allow": true},
            {"when": {"recent_failures_at_least": {"count": 1, "within_seconds": 90}}, "deny": true},
        ],
        "default": {"deny": true},
    }));
    let n = r.needs();
    assert!(n.device && n.last_login);
    assert_eq!(n.failures, Some(Duration::seconds(90)));
}
