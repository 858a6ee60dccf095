//! Time conditions: time zones across DST, day boundaries, ranges that
//! cross midnight.

use super::*;

/// Office hours Monday to Friday, 07:00 to 19:00.
fn office_hours() -> Value {
    json!({"time": {"days": ["mon", "tue", "wed", "thu", "fri"], "from": "07:00", "to": "19:00"}})
}

#[test]
fn time_zones_across_dst() {
    // Europe/Zurich: CET (UTC+1) until 2024-03-31 01:00Z, then CEST (UTC+2);
    // back to CET at 2024-10-27 01:00Z.
    let w = office_hours();
    let rows: &[(&str, &str, &str, Option<bool>)] = &[
        (
            "winter Mon 07:00 CET",
            "Europe/Zurich",
            "2024-03-25T06:00:00Z",
            T,
        ),
        (
            "winter Mon 06:59 CET",
            "Europe/Zurich",
            "2024-03-25T05:59:00Z",
            F,
        ),
        (
            "same instant in UTC is 06:00",
            "UTC",
            "2024-03-25T06:00:00Z",
            F,
        ),
        (
            "winter Mon 18:59 CET",
            "Europe/Zurich",
            "2024-03-25T17:59:00Z",
            T,
        ),
        (
            "winter Mon 19:00 CET: to is exclusive",
            "Europe/Zurich",
            "2024-03-25T18:00:00Z",
            F,
        ),
        ("UTC 18:00 still inside", "UTC", "2024-03-25T18:00:00Z", T),
        // The same UTC time of day, one week apart, on both sides of the change.
        (
            "05:00Z before DST is 06:00 CET",
            "Europe/Zurich",
            "2024-03-25T05:00:00Z",
            F,
        ),
        (
            "05:00Z after DST is 07:00 CEST",
            "Europe/Zurich",
            "2024-04-01T05:00:00Z",
            T,
        ),
        (
            "summer Mon 18:59 CEST",
            "Europe/Zurich",
            "2024-04-01T16:59:00Z",
            T,
        ),
        (
            "summer Mon 19:00 CEST",
            "Europe/Zurich",
            "2024-04-01T17:00:00Z",
            F,
        ),
        (
            "autumn: CEST again",
            "Europe/Zurich",
            "2024-10-25T05:00:00Z",
            T,
        ),
        (
            "autumn: after fall-back",
            "Europe/Zurich",
            "2024-10-28T05:00:00Z",
            F,
        ),
        (
            "autumn: after fall-back 07:00 CET",
            "Europe/Zurich",
            "2024-10-28T06:00:00Z",
            T,
        ),
        (
            "other zone: New York Mon 07:00 EDT",
            "America/New_York",
            "2024-04-01T11:00:00Z",
            T,
        ),
        (
            "other zone: New York Mon 06:59 EDT",
            "America/New_York",
            "2024-04-01T10:59:00Z",
            F,
        ),
    ];
    for (name, tz, now, want) in rows {
        assert_eq!(truth(&w, tz, &ctx(), at(now)), *want, "{name}");
    }
}

#[test]
fn time_repeated_and_skipped_wall_clock() {
    let two_to_three = json!({"time": {"from": "02:00", "to": "03:00"}});
    let rows: &[(&str, &str, Option<bool>)] = &[
        // 2024-10-27 02:30 local happens twice: in CEST and in CET.
        ("first 02:30 (CEST)", "2024-10-27T00:30:00Z", T),
        ("second 02:30 (CET)", "2024-10-27T01:30:00Z", T),
        ("03:00 CET", "2024-10-27T02:00:00Z", F),
        // 2024-03-31 02:00-03:00 does not exist; 01:59 CET is followed by 03:00 CEST.
        ("01:59 CET", "2024-03-31T00:59:00Z", F),
        ("03:00 CEST", "2024-03-31T01:00:00Z", F),
    ];
    for (name, now, want) in rows {
        assert_eq!(
            truth(&two_to_three, "Europe/Zurich", &ctx(), at(now)),
            *want,
            "{name}"
        );
    }
}

#[test]
fn day_boundaries() {
    let fri = json!({"time": {"days": ["fri"]}});
    let sat = json!({"time": {"days": ["sat"]}});
    // Zurich in March 2024 is UTC+1: Friday 23:59 local is 22:59Z.
    let rows: &[(&str, &Value, &str, &str, Option<bool>)] = &[
        (
            "Fri 23:59 local is Friday",
            &fri,
            "Europe/Zurich",
            "2024-03-29T22:59:00Z",
            T,
        ),
        (
            "Sat 00:00 local is not Friday",
            &fri,
            "Europe/Zurich",
            "2024-03-29T23:00:00Z",
            F,
        ),
        (
            "Sat 00:00 local is Saturday",
            &sat,
            "Europe/Zurich",
            "2024-03-29T23:00:00Z",
            T,
        ),
        (
            "Fri 23:59 local is not Saturday",
            &sat,
            "Europe/Zurich",
            "2024-03-29T22:59:00Z",
            F,
        ),
        (
            "23:30Z: still Friday in UTC",
            &fri,
            "UTC",
            "2024-03-29T23:30:00Z",
            T,
        ),
        (
            "23:30Z: already Saturday in Zurich",
            &fri,
            "Europe/Zurich",
            "2024-03-29T23:30:00Z",
            F,
        ),
        (
            "Sun 23:59 local -> Mon",
            &json!({"time": {"days": ["mon"]}}),
            "Europe/Zurich",
            "2024-03-31T22:00:00Z",
            T,
        ),
    ];
    for (name, when, tz, now, want) in rows {
        assert_eq!(truth(when, tz, &ctx(), at(now)), *want, "{name}");
    }
}

#[test]
fn range_crossing_midnight_belongs_to_its_start_day() {
    // Friday night shift, 22:00 to 06:00, in Zurich (UTC+1 in March 2024;
    // 2024-03-29 is a Friday).
    let fri_night = json!({"time": {"days": ["fri"], "from": "22:00", "to": "06:00"}});
    let sun_night = json!({"time": {"days": ["sun"], "from": "22:00", "to": "06:00"}});
    let every_night = json!({"time": {"from": "22:00", "to": "06:00"}});
    let until_midnight = json!({"time": {"days": ["fri"], "from": "18:00", "to": "00:00"}});
    let rows: &[(&str, &Value, &str, Option<bool>)] = &[
        ("Fri 21:59", &fri_night, "2024-03-29T20:59:00Z", F),
        ("Fri 22:00", &fri_night, "2024-03-29T21:00:00Z", T),
        ("Fri 23:59", &fri_night, "2024-03-29T22:59:00Z", T),
        ("Sat 00:00", &fri_night, "2024-03-29T23:00:00Z", T),
        ("Sat 05:59", &fri_night, "2024-03-30T04:59:00Z", T),
        ("Sat 06:00", &fri_night, "2024-03-30T05:00:00Z", F),
        (
            "Fri 05:00 belongs to Thursday's night",
            &fri_night,
            "2024-03-29T04:00:00Z",
            F,
        ),
        (
            "Sat 22:00 is Saturday's night",
            &fri_night,
            "2024-03-30T21:00:00Z",
            F,
        ),
        // Sunday night runs into Monday, across the week's end; in CEST now.
        (
            "Mon 02:00 after Sunday night",
            &sun_night,
            "2024-04-01T00:00:00Z",
            T,
        ),
        (
            "Sun 02:00 belongs to Saturday",
            &sun_night,
            "2024-03-31T00:00:00Z",
            F,
        ),
        (
            "no days: every night, after midnight",
            &every_night,
            "2024-03-27T03:00:00Z",
            T,
        ),
        ("no days: midday", &every_night, "2024-03-27T11:00:00Z", F),
        (
            "to 00:00: Fri 23:59",
            &until_midnight,
            "2024-03-29T22:59:00Z",
            T,
        ),
        (
            "to 00:00: Sat 00:00",
            &until_midnight,
            "2024-03-29T23:00:00Z",
            F,
        ),
        (
            "to 00:00: Fri 17:59",
            &until_midnight,
            "2024-03-29T16:59:00Z",
            F,
        ),
    ];
    for (name, when, now, want) in rows {
        assert_eq!(
            truth(when, "Europe/Zurich", &ctx(), at(now)),
            *want,
            "{name}"
        );
    }
}
