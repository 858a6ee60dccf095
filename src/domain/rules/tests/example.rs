//! The issue's example policy, parsed from its exact JSON and evaluated.

use super::*;

#[test]
fn issue_example_decides() {
    let (name, doc) = issue_example();
    assert_eq!(name, "office");
    let r = rules(doc);
    assert_eq!(r.len(), 5);
    // 2024-03-26 is a Tuesday, 2024-03-30 a Saturday; Zurich is UTC+1.
    let tue_10 = at("2024-03-26T09:00:00Z");
    let tue_0630 = at("2024-03-26T05:30:00Z");
    let sat_10 = at("2024-03-30T09:00:00Z");
    let staff = ctx().groups(&["staff"]).device(true);
    let both = Outcome::Require(Steps::PasswordlessThenPin);
    let rows: Vec<(&str, Ctx, DateTime<Utc>, Matched, Outcome)> = vec![
        (
            "sensitivity 3 from context",
            ctx().sens(3).ip("10.1.2.3"),
            tue_10,
            Matched::Rule(0),
            Outcome::Require(Steps::Pin),
        ),
        (
            "sensitivity 3 from the system",
            staff.clone().sys(3),
            sat_10,
            Matched::Rule(0),
            Outcome::Require(Steps::Pin),
        ),
        (
            "office LAN in office hours",
            staff.clone().ip("10.1.2.3"),
            tue_10,
            Matched::Rule(1),
            Outcome::Require(Steps::Passwordless),
        ),
        (
            "office IPv6 in office hours",
            staff.clone().ip("fd00::5"),
            tue_10,
            Matched::Rule(1),
            Outcome::Require(Steps::Passwordless),
        ),
        (
            "office LAN before 07:00",
            staff.clone().ip("10.1.2.3"),
            tue_0630,
            Matched::Default,
            both,
        ),
        (
            "trusted LAN, link 2h ago, Saturday",
            staff
                .clone()
                .ip("10.20.1.1")
                .last(sat_10 - Duration::hours(2), &[Passwordless]),
            sat_10,
            Matched::Rule(2),
            Outcome::Allow,
        ),
        (
            "trusted LAN, PIN only 2h ago",
            staff
                .clone()
                .ip("10.20.1.1")
                .last(sat_10 - Duration::hours(2), &[Pin]),
            sat_10,
            Matched::Default,
            both,
        ),
        (
            "trusted LAN, link 9h ago, new device",
            ctx()
                .groups(&["staff"])
                .device(false)
                .ip("10.20.1.1")
                .last(sat_10 - Duration::hours(9), &[Passwordless]),
            sat_10,
            Matched::Rule(3),
            both,
        ),
        (
            "outside, not staff",
            ctx().device(true).ip("203.0.113.5"),
            tue_10,
            Matched::Rule(4),
            Outcome::Deny,
        ),
        (
            "outside, staff",
            staff.clone().ip("203.0.113.5"),
            tue_10,
            Matched::Default,
            both,
        ),
        (
            "no context, staff",
            ctx().groups(&["staff"]),
            tue_10,
            Matched::Default,
            both,
        ),
        (
            "no context, not staff",
            ctx(),
            tue_10,
            Matched::Rule(4),
            Outcome::Deny,
        ),
    ];
    for (name, c, now, matched, outcome) in rows {
        assert_eq!(
            r.evaluate(&c.input(), now),
            Decision { matched, outcome },
            "{name}"
        );
    }
}
