//! Context-based policies against the real server: the README's three
//! examples as written there, step-up, deny, history conditions, the dry-run
//! and number matching on the link page.

use crate::harness::{json, link_of, pin_of, TestApp};
use chrono::{DateTime, TimeZone, Utc};
use reqwest::Method;
use serde_json::{json, Value};

const README: &str = include_str!("../../README.md");

/// The policy JSON the README shows under `<!-- policy-example: NAME -->`.
pub fn readme_example(name: &str) -> Value {
    let marker = format!("<!-- policy-example: {name} -->");
    let after = README
        .split_once(&marker)
        .unwrap_or_else(|| panic!("README has no {marker}"))
        .1;
    let block = after
        .split_once("```json")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a json block after the marker")
        .0;
    serde_json::from_str(block).unwrap_or_else(|e| panic!("README example {name}: {e}"))
}

/// A server without SMS-pumping limits (these tests send many SMS to one number).
pub async fn app() -> TestApp {
    TestApp::spawn_with(|c| c.sms.limits.per_number.max = 0).await
}

pub async fn start_with(t: &TestApp, email: &str, system: &str, context: Value) -> (u16, Value) {
    json(
        t.auth(Method::POST, "/v2/user/authenticate")
            .json(&json!({"email": email, "system": system, "context": context}))
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Like `start_with`, also counting the SMS `phone` had before, for `finish`.
pub async fn start_counting(
    t: &TestApp,
    email: &str,
    system: &str,
    phone: &str,
    context: Value,
) -> (u16, Value, usize) {
    t.settle_outbox().await;
    let before = t.sms_sent_to(phone).len();
    let (s, v) = start_with(t, email, system, context).await;
    (s, v, before)
}

/// Passes every step of a pending start (`before`: SMS to `phone` before
/// it): the link on the page with the match code, then the PIN through the
/// API. Returns the final answer (the completion, or the status call).
pub async fn finish(
    t: &TestApp,
    (start, before): (&Value, usize),
    email: &str,
    system: &str,
    phone: &str,
) -> Value {
    let steps: Vec<&str> = start["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    let rid = start["request_id"].as_str().unwrap();
    let mut n = before;
    let mut last = Value::Null;
    for step in steps {
        n += 1;
        let sms = t.wait_sms(phone, n).await;
        if step == "passwordless" {
            let code = start["match_code"].as_str().unwrap();
            let r = t.confirm_on_page(&link_of(&sms), code).await;
            assert_eq!(r.status(), 200);
            let st = t.status(rid).await;
            last = st;
        } else {
            let body =
                json!({"email": email, "system": system, "pin": pin_of(&sms), "request_id": rid});
            let (s, done) = json(t.complete(body).await).await;
            assert_eq!(s, 200, "{done}");
            last = done;
        }
    }
    assert_eq!(last["status"], "approved", "{last}");
    last
}

/// A Tuesday, 10:00 in Zurich (09:00 UTC in winter).
fn tuesday_10_zurich() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap()
}

async fn setup(t: &TestApp, policy: Value, system: &str, email: &str, phone: &str) {
    t.setup(Method::POST, "/v2/policies", policy.clone()).await;
    let name = policy["name"].as_str().unwrap();
    t.system_with_user(system, name, email, phone).await;
}

#[tokio::test]
async fn readme_office_lan_relaxes_to_a_link() {
    let t = app().await;
    let policy = readme_example("office-lan");
    t.setup(Method::POST, "/v2/policies", policy.clone()).await;
    // The policy reads back as sent.
    let back = t
        .setup(Method::GET, "/v2/policies/office-lan", Value::Null)
        .await;
    assert_eq!(back["rules"], policy["rules"]);
    assert_eq!(back["default"], policy["default"]);
    t.system_with_user("CRM", "office-lan", "ann@example.com", "+41790000101")
        .await;

    let (s, r) = start_with(&t, "ann@example.com", "CRM", json!({"ip": "10.20.3.4"})).await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["steps"], json!(["passwordless"]));
    assert_eq!(r["matched_rule"], 0);
    assert_eq!(r["acr"], "1");

    for ctx in [json!({"ip": "203.0.113.9"}), json!({})] {
        // The second is a resend of the first (same decision): 30 s apart.
        t.advance(31);
        let (s, r) = start_with(&t, "ann@example.com", "CRM", ctx.clone()).await;
        assert_eq!(s, 202, "{r}");
        assert_eq!(r["steps"], json!(["passwordless", "pin"]), "{ctx}");
        assert_eq!(r["matched_rule"], "default");
        assert_eq!(r["acr"], "2");
    }
    let (_, r) = start_with(&t, "ann@example.com", "CRM", json!({"ip": "fd00:20::7"})).await;
    assert_eq!(r["steps"], json!(["passwordless"]));
    // An IPv4-mapped IPv6 address is the IPv4 address.
    t.advance(31);
    let (_, r, before) = start_counting(
        &t,
        "ann@example.com",
        "CRM",
        "+41790000101",
        json!({"ip": "::ffff:10.20.9.9"}),
    )
    .await;
    assert_eq!(r["matched_rule"], 0);
    // The link approves the login and it carries an assertion.
    let done = finish(&t, (&r, before), "ann@example.com", "CRM", "+41790000101").await;
    assert!(done["assertion"].as_str().unwrap().split('.').count() == 3);
}

#[tokio::test]
async fn readme_hours_and_new_devices_need_link_and_pin() {
    let t = app().await;
    t.set_time(tuesday_10_zurich());
    setup(
        &t,
        readme_example("hours-and-devices"),
        "Wiki",
        "bob@example.com",
        "+41790000102",
    )
    .await;
    let laptop = json!({"device_id": "laptop-1"});
    // A device never seen: link and PIN; once approved it is known.
    let (_, r, before) = start_counting(
        &t,
        "bob@example.com",
        "Wiki",
        "+41790000102",
        laptop.clone(),
    )
    .await;
    assert_eq!(r["steps"], json!(["passwordless", "pin"]));
    assert_eq!(r["matched_rule"], "default");
    finish(&t, (&r, before), "bob@example.com", "Wiki", "+41790000102").await;

    let (_, r) = start_with(&t, "bob@example.com", "Wiki", laptop.clone()).await;
    assert_eq!(r["steps"], json!(["passwordless"]), "{r}");
    assert_eq!(r["matched_rule"], 0);

    let cases = [
        // 19:30 in Zurich, the same Tuesday.
        (
            Utc.with_ymd_and_hms(2026, 12, 1, 18, 30, 0).unwrap(),
            laptop.clone(),
        ),
        // Saturday 10:00.
        (
            Utc.with_ymd_and_hms(2026, 12, 5, 9, 0, 0).unwrap(),
            laptop.clone(),
        ),
        // Tuesday 10:00, a new device, then no device at all.
        (
            Utc.with_ymd_and_hms(2026, 12, 8, 9, 0, 0).unwrap(),
            json!({"device_id": "phone-2"}),
        ),
        (
            Utc.with_ymd_and_hms(2026, 12, 8, 9, 5, 0).unwrap(),
            json!({}),
        ),
    ];
    for (at, ctx) in cases {
        t.set_time(at);
        let (s, r) = start_with(&t, "bob@example.com", "Wiki", ctx.clone()).await;
        assert_eq!(s, 202, "{r}");
        assert_eq!(r["steps"], json!(["passwordless", "pin"]), "{at} {ctx}");
        assert_eq!(r["matched_rule"], "default", "{at} {ctx}");
    }
    // The known laptop on the next Tuesday morning: the link again.
    t.set_time(Utc.with_ymd_and_hms(2026, 12, 8, 6, 0, 0).unwrap());
    let (_, r) = start_with(&t, "bob@example.com", "Wiki", laptop).await;
    assert_eq!(r["steps"], json!(["passwordless"]), "07:00 local is inside");
}

#[tokio::test]
async fn readme_sensitivity_3_always_needs_a_pin_and_step_up_asks_only_for_it() {
    let t = app().await;
    setup(
        &t,
        readme_example("sensitive"),
        "HR",
        "eve@example.com",
        "+41790000103",
    )
    .await;
    let office = json!({"ip": "10.20.0.8"});
    let outside = json!({"ip": "198.51.100.4"});

    // Routine, from the office: approved at once, no SMS.
    let (s, r) = start_with(&t, "eve@example.com", "HR", office.clone()).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["status"], "approved");
    assert_eq!(r["authenticated"], true);
    assert_eq!(r["steps"], json!([]));
    assert_eq!(r["amr"], json!([]));
    assert_eq!(r["acr"], "0");
    assert_eq!(r["matched_rule"], 1);
    assert!(r["assertion"].is_string());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(t.sms_sent_to("+41790000103").is_empty());

    // Sensitivity 3 from the office: link and PIN (rule 0 comes first).
    let mut with3 = office.clone();
    with3["sensitivity"] = json!(3);
    let (s, r) = start_with(&t, "eve@example.com", "HR", with3).await;
    assert_eq!(s, 202);
    assert_eq!(r["steps"], json!(["passwordless", "pin"]));
    assert_eq!(r["matched_rule"], 0);

    // Elsewhere: the link; it becomes the session to step up from.
    let (_, r, before) =
        start_counting(&t, "eve@example.com", "HR", "+41790000103", outside.clone()).await;
    assert_eq!(r["steps"], json!(["passwordless"]));
    assert_eq!(r["matched_rule"], "default");
    let session = r["request_id"].as_str().unwrap().to_string();
    finish(&t, (&r, before), "eve@example.com", "HR", "+41790000103").await;

    let mut up = outside.clone();
    up["sensitivity"] = json!(3);
    up["session"] = json!(session);
    let (s, r, before) =
        start_counting(&t, "eve@example.com", "HR", "+41790000103", up.clone()).await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["steps"], json!(["pin"]), "only the missing factor");
    assert_eq!(r["amr"], json!(["passwordless"]));
    assert_eq!(r["acr"], "2");
    assert_eq!(r["matched_rule"], 0);
    let done = finish(&t, (&r, before), "eve@example.com", "HR", "+41790000103").await;
    assert_eq!(done["amr"], json!(["passwordless", "pin"]));
    assert_eq!(done["acr"], "2");

    // A session older than 8 hours no longer counts.
    t.advance(8 * 3600 + 1);
    let (_, r) = start_with(&t, "eve@example.com", "HR", up).await;
    assert_eq!(r["steps"], json!(["passwordless", "pin"]));

    // A system that is itself sensitivity 3 needs both without any context.
    t.setup(
        Method::POST,
        "/v2/systems",
        json!({"name": "Payroll", "policy": "sensitive", "sensitivity": 3}),
    )
    .await;
    t.setup(
        Method::PUT,
        "/v2/systems/Payroll/users/eve@example.com",
        Value::Null,
    )
    .await;
    let (_, r) = start_with(&t, "eve@example.com", "Payroll", office).await;
    assert_eq!(r["steps"], json!(["passwordless", "pin"]));
    assert_eq!(r["matched_rule"], 0);
}

#[tokio::test]
async fn a_session_of_another_user_or_not_approved_does_not_step_up() {
    let t = app().await;
    setup(
        &t,
        json!({"name": "p", "steps": ["passwordless", "pin"], "rules": []}),
        "S",
        "a@example.com",
        "+41790000104",
    )
    .await;
    t.setup(
        Method::POST,
        "/v2/users",
        json!({"email": "b@example.com", "phone": "+41790000105"}),
    )
    .await;
    t.setup(
        Method::PUT,
        "/v2/systems/S/users/b@example.com",
        Value::Null,
    )
    .await;
    let (_, ra, before) = start_counting(&t, "a@example.com", "S", "+41790000104", json!({})).await;
    let a_session = ra["request_id"].as_str().unwrap().to_string();
    // Not approved yet: no step-up.
    let (_, r) = start_with(&t, "b@example.com", "S", json!({"session": a_session})).await;
    assert_eq!(r["steps"], json!(["passwordless", "pin"]));
    finish(&t, (&ra, before), "a@example.com", "S", "+41790000104").await;
    // Approved, but another user's.
    t.advance(60);
    let (_, r) = start_with(&t, "b@example.com", "S", json!({"session": a_session})).await;
    assert_eq!(r["steps"], json!(["passwordless", "pin"]));
    // Its own user's, fresh: nothing left to ask, approved at once.
    let (s, r) = start_with(&t, "a@example.com", "S", json!({"session": a_session})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["status"], "approved");
    assert_eq!(r["amr"], json!(["passwordless", "pin"]));
    assert!(r["assertion"].is_string());
}

#[tokio::test]
async fn deny_by_group_history_conditions_and_bad_context() {
    let t = app().await;
    let policy = json!({"name": "staff-only",
        "rules": [
            {"when": {"not": {"user_in_group": ["staff"]}}, "deny": true},
            {"when": {"recent_failures_at_least": {"count": 2, "within_seconds": 600}}, "deny": true},
            {"when": {"ip_in": ["10.0.0.0/8"], "recent_auth": {"within_seconds": 3600, "factors": ["pin"]}}, "allow": true}
        ],
        "default": {"require": ["pin"]}});
    setup(&t, policy, "Ops", "dan@example.com", "+41790000106").await;

    let (s, r) = start_with(&t, "dan@example.com", "Ops", json!({"ip": "10.1.1.1"})).await;
    assert_eq!(s, 403, "{r}");
    assert_eq!(r["error"]["code"], "denied_by_policy");
    assert_eq!(r["error"]["matched_rule"], 0);
    assert!(t.sms_sent_to("+41790000106").is_empty());

    t.setup(
        Method::PATCH,
        "/v2/users/dan@example.com",
        json!({"groups": ["Staff"]}),
    )
    .await;
    let (s, r, before) = start_counting(
        &t,
        "dan@example.com",
        "Ops",
        "+41790000106",
        json!({"ip": "10.1.1.1"}),
    )
    .await;
    assert_eq!(s, 202, "{r}");
    assert_eq!(r["matched_rule"], "default");
    let done = finish(&t, (&r, before), "dan@example.com", "Ops", "+41790000106").await;
    assert_eq!(done["amr"], json!(["pin"]));

    // A recent PIN login from the LAN: approved at once.
    t.advance(60);
    let (s, r) = start_with(&t, "dan@example.com", "Ops", json!({"ip": "10.1.1.1"})).await;
    assert_eq!(s, 200, "{r}");
    assert_eq!(r["matched_rule"], 2);
    // An approval by `allow` has no factors: it does not renew recent_auth.
    t.advance(3600);
    let (s, r) = start_with(&t, "dan@example.com", "Ops", json!({"ip": "10.1.1.1"})).await;
    assert_eq!(s, 202, "{r}");

    // Two wrong PINs within 10 minutes: refused.
    for _ in 0..2 {
        let (s, _) = json(
            t.complete(json!({"email": "dan@example.com", "system": "Ops", "pin": "000000"}))
                .await,
        )
        .await;
        assert_eq!(s, 401);
    }
    t.advance(1);
    let (s, r) = start_with(&t, "dan@example.com", "Ops", json!({})).await;
    assert_eq!(s, 403, "{r}");
    assert_eq!(r["error"]["matched_rule"], 1);
    t.advance(601);
    let (s, _) = start_with(&t, "dan@example.com", "Ops", json!({})).await;
    assert_eq!(s, 202);

    // Context values in the wrong form are 422 with the field named.
    for (ctx, field) in [
        (json!({"ip": "10.1.1.1:443"}), "context.ip"),
        (json!({"sensitivity": 7}), "context.sensitivity"),
        (json!({"device_id": 5}), "context.device_id"),
        (json!({"session": ""}), "context.session"),
    ] {
        let (s, r) = start_with(&t, "dan@example.com", "Ops", ctx).await;
        assert_eq!(s, 422, "{r}");
        assert_eq!(r["error"]["field"], field);
    }
}

#[tokio::test]
async fn the_dry_run_agrees_with_real_starts_and_sends_nothing() {
    let t = app().await;
    t.set_time(tuesday_10_zurich());
    let mut policy = readme_example("hours-and-devices");
    policy["rules"].as_array_mut().unwrap().extend([
        json!({"when": {"ip_in": ["192.0.2.0/24"]}, "deny": true}),
        json!({"when": {"ip_in": ["10.0.0.0/8"]}, "allow": true}),
    ]);
    setup(&t, policy, "Git", "fay@example.com", "+41790000107").await;
    let evaluate = |ctx: Value| {
        let t = &t;
        async move {
            json(
                t.manage(Method::POST, "/v2/policies/hours-and-devices/evaluate")
                    .json(&json!({"email": "fay@example.com", "system": "Git", "context": ctx}))
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let contexts = [
        json!({}),
        json!({"ip": "192.0.2.1"}),
        json!({"ip": "10.9.9.9"}),
        json!({"device_id": "d1"}),
        json!({"ip": "10.9.9.9", "sensitivity": 2}),
    ];
    let mut starts = 0;
    for ctx in contexts {
        let (s, dry) = evaluate(ctx.clone()).await;
        assert_eq!(s, 200, "{dry}");
        assert_eq!(dry["eligible"], true);
        // Nothing was started: the usage counters did not move.
        let (_, usage) = json(t.manage(Method::GET, "/v2/usage").send().await.unwrap()).await;
        assert_eq!(usage["starts"], starts, "{usage}");
        t.advance(31);
        let (s, real) = start_with(&t, "fay@example.com", "Git", ctx.clone()).await;
        if s != 403 {
            starts += 1;
        }
        assert_eq!(
            dry["matched_rule"],
            if s == 403 {
                real["error"]["matched_rule"].clone()
            } else {
                real["matched_rule"].clone()
            },
            "{ctx}"
        );
        match dry["decision"].as_str().unwrap() {
            "deny" => assert_eq!(s, 403),
            "allow" => assert_eq!((s, real["status"].as_str()), (200, Some("approved"))),
            "require" => {
                assert_eq!(s, 202, "{real}");
                assert_eq!(dry["steps"], real["steps"], "{ctx}");
                assert_eq!(dry["acr"], real["acr"]);
            }
            other => panic!("decision {other}"),
        }
    }
    // An unknown user or system, an unknown policy.
    let (s, dry) = json(
        t.manage(Method::POST, "/v2/policies/hours-and-devices/evaluate")
            .json(&json!({"email": "nobody@example.com", "system": "Git"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        (dry["eligible"].clone(), dry["reason"].clone()),
        (json!(false), json!("unknown_user"))
    );
    let (s, _) = json(
        t.manage(Method::POST, "/v2/policies/nope/evaluate")
            .json(&json!({"email": "fay@example.com", "system": "Git"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = json(
        t.manage(Method::POST, "/v2/policies/hours-and-devices/evaluate")
            .json(&json!({"email": "fay@example.com", "system": "Nope"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn the_link_page_refuses_a_wrong_pick() {
    let t = app().await;
    t.system_with_user("Wiki", "passwordless", "gus@example.com", "+41790000108")
        .await;
    let (_, r) = start_with(&t, "gus@example.com", "Wiki", json!({})).await;
    let rid = r["request_id"].as_str().unwrap().to_string();
    let code = r["match_code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 2);
    let link = link_of(&t.wait_sms("+41790000108", 1).await);

    // The page offers three numbers, the code among them.
    let html = t
        .client
        .get(&link)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let offered: Vec<String> = html
        .split("name=\"pick\" value=\"")
        .skip(1)
        .map(|s| s[..2].to_string())
        .collect();
    assert_eq!(offered.len(), 3, "{html}");
    assert!(offered.contains(&code));
    let wrong = offered.iter().find(|c| **c != code).unwrap();

    let r = t.confirm_on_page(&link, wrong).await;
    assert_eq!(r.status(), 403);
    let st = t.status(&rid).await;
    assert_eq!(st["status"], "pending");
    assert_eq!(st["attempts_left"], 4, "a wrong pick is a failed attempt");
    // The link is void, even with the right number now.
    assert_eq!(t.confirm_on_page(&link, &code).await.status(), 410);

    // A resend brings a new link and a new code; the right pick approves.
    t.advance(31);
    let (s, r2) = start_with(&t, "gus@example.com", "Wiki", json!({})).await;
    assert_eq!(s, 202);
    assert_eq!(r2["request_id"], rid);
    let link2 = link_of(&t.wait_sms("+41790000108", 2).await);
    let code2 = r2["match_code"].as_str().unwrap();
    assert_eq!(t.confirm_on_page(&link2, code2).await.status(), 200);
    let st = t.status(&rid).await;
    assert_eq!(st["status"], "approved");
    assert!(st["assertion"].is_string());
}
