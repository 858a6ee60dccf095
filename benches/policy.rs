//! Policy evaluation of a 20-rule policy (issue 5).
//!
//! Every rule holds every condition but its failure count, so each rule is
//! evaluated down to its last condition (the worst case for a rule that does
//! not match): sensitivity, new device, groups, recent login, five networks,
//! office hours in Europe/Zurich, then 20 failure times to count.
//!
//! `cargo bench --bench policy` (add `-- --quick` for a short run).

// Setup code panics on purpose when the fixed policy does not parse.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use chrono::{DateTime, Duration, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use flexsecure::domain::{
    ApprovedLogin, Decision, EvalInput, Factor, Matched, Outcome, Rules, Sensitivity, Steps,
};
use std::hint::black_box;

const RULES: usize = 20;

/// Rule `i` needs `5 + i` recent failures; the last one needs `last_count`.
fn policy_json(last_count: usize) -> String {
    let rules: Vec<String> = (0..RULES)
        .map(|i| {
            let count = if i == RULES - 1 { last_count } else { 5 + i };
            format!(
                r#"{{"when": {{
                    "sensitivity_at_least": 1,
                    "not": {{"new_device": true}},
                    "user_in_group": ["ops", "admins", "group-{i}", "staff"],
                    "recent_auth": {{"within_seconds": 28800, "factors": ["passwordless"]}},
                    "ip_in": ["192.168.{i}.0/24", "172.16.0.0/12", "2001:db8:{i}::/48", "fd00::/8", "10.20.0.0/16"],
                    "time": {{"days": ["mon","tue","wed","thu","fri"], "from": "07:00", "to": "19:00"}},
                    "recent_failures_at_least": {{"count": {count}, "within_seconds": 900}}
                  }}, "require": ["pin"]}}"#
            )
        })
        .collect();
    format!(
        r#"{{"rules": [{}], "default": {{"require": ["passwordless", "pin"]}}, "timezone": "Europe/Zurich"}}"#,
        rules.join(",")
    )
}

fn parse(json: &str) -> Rules {
    Rules::from_deserializer(&mut serde_json::Deserializer::from_str(json)).unwrap()
}

fn bench(c: &mut Criterion) {
    // A Tuesday, 10:00 in Zurich.
    let now: DateTime<Utc> = "2024-03-26T09:00:00Z".parse().unwrap();
    let groups = vec!["guests".to_string(), "staff".to_string()];
    let factors = [Factor::Passwordless, Factor::Pin];
    // 4 failures inside the 15-minute window, 16 older ones.
    let failures: Vec<DateTime<Utc>> = (0..20)
        .map(|i| now - Duration::minutes(if i < 4 { i + 1 } else { 20 + i }))
        .collect();
    let input = EvalInput {
        ip: Some("10.20.3.4".parse().unwrap()),
        sensitivity: Sensitivity::new(2),
        system_sensitivity: Sensitivity::default(),
        device_known: Some(true),
        groups: &groups,
        last_approved: Some(ApprovedLogin {
            at: now - Duration::hours(1),
            factors: &factors,
        }),
        recent_failures: &failures,
    };

    let last_json = policy_json(4);
    let last = parse(&last_json);
    let none = parse(&policy_json(25));
    assert_eq!(
        last.evaluate(&input, now),
        Decision {
            matched: Matched::Rule(RULES - 1),
            outcome: Outcome::Require(Steps::Pin)
        }
    );
    assert_eq!(none.evaluate(&input, now).matched, Matched::Default);

    let mut g = c.benchmark_group("policy_20_rules");
    g.bench_function("evaluate_last_rule_matches", |b| {
        b.iter(|| black_box(&last).evaluate(black_box(&input), black_box(now)))
    });
    g.bench_function("evaluate_nothing_matches", |b| {
        b.iter(|| black_box(&none).evaluate(black_box(&input), black_box(now)))
    });
    g.bench_function("parse_from_json", |b| {
        b.iter(|| parse(black_box(&last_json)))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
