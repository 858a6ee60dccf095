//! Resends, expiry, wrong PINs, the lockout and concurrent completes.

use crate::harness::{json, pin_of, TestApp};
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn resend_reuses_the_challenge_with_limits() {
    let t = TestApp::spawn().await;
    t.system_with_user("CRM", "pin", "a@example.com", "+41790000010")
        .await;
    let (_, first) = json(t.start("a@example.com", "CRM").await).await;
    let pin1 = pin_of(&t.wait_sms("+41790000010", 1).await);

    // Within 30 s: refused with Retry-After.
    let r = t.start("a@example.com", "CRM").await;
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    assert_eq!(json(r).await.1["error"]["code"], "rate_limited");

    // After 30 s: same request_id, a new SMS with a new PIN; the old one is void.
    t.advance(30);
    let (s, second) = json(t.start("a@example.com", "CRM").await).await;
    assert_eq!(s, 202);
    assert_eq!(second["request_id"], first["request_id"]);
    let pin2 = pin_of(&t.wait_sms("+41790000010", 2).await);
    if pin1 != pin2 {
        let (s, e) = json(
            t.complete(json!({"email": "a@example.com", "system": "CRM", "pin": pin1}))
                .await,
        )
        .await;
        assert_eq!((s, e["error"]["code"].as_str()), (401, Some("invalid_pin")));
    }

    // At most 5 SMS per challenge.
    for n in 3..=5 {
        t.advance(30);
        assert_eq!(t.start("a@example.com", "CRM").await.status(), 202);
        t.wait_sms("+41790000010", n).await;
    }
    t.advance(30);
    let r = t.start("a@example.com", "CRM").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));

    let pin5 = pin_of(&t.wait_sms("+41790000010", 5).await);
    let (s, done) = json(
        t.complete(json!({"email": "a@example.com", "system": "CRM", "pin": pin5}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["request_id"], first["request_id"]);
}

#[tokio::test]
async fn expiry_with_a_moved_clock() {
    let t = TestApp::spawn().await;
    t.system_with_user("CRM", "pin", "a@example.com", "+41790000011")
        .await;
    let (_, start) = json(t.start("a@example.com", "CRM").await).await;
    let pin = pin_of(&t.wait_sms("+41790000011", 1).await);
    t.advance(301);
    let (s, e) = json(
        t.complete(json!({"email": "a@example.com", "system": "CRM", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (410, Some("expired")),
        "{e}"
    );
    let rid = start["request_id"].as_str().unwrap();
    let (_, st) = json(
        t.auth(Method::GET, &format!("/v2/authentications/{rid}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st["status"], "expired");

    // A new start makes a new challenge at once.
    let (s, again) = json(t.start("a@example.com", "CRM").await).await;
    assert_eq!(s, 202);
    assert_ne!(again["request_id"], start["request_id"]);
}

#[tokio::test]
async fn wrong_pins_use_up_the_attempts() {
    let t = TestApp::spawn().await;
    t.system_with_user("CRM", "pin", "a@example.com", "+41790000014")
        .await;
    t.start("a@example.com", "CRM").await;
    let pin = pin_of(&t.wait_sms("+41790000014", 1).await);
    let wrong = if pin == "000000" { "111111" } else { "000000" };
    for left in (0..5).rev() {
        let (s, e) = json(
            t.complete(json!({"email": "a@example.com", "system": "CRM", "pin": wrong}))
                .await,
        )
        .await;
        assert_eq!(s, 401, "{e}");
        assert_eq!(e["error"]["code"], "invalid_pin");
        assert_eq!(e["error"]["attempts_left"], left);
    }
    // The challenge is dead: even the right PIN no longer works.
    let r = t
        .complete(json!({"email": "a@example.com", "system": "CRM", "pin": pin}))
        .await;
    assert_eq!(r.status(), 429);
    assert_eq!(json(r).await.1["error"]["code"], "too_many_attempts");
}

#[tokio::test]
async fn hundred_consecutive_failures_lock_until_unlocked() {
    // Nine SMS to one number without moving the clock: above the per-number limit.
    let t = TestApp::spawn_with(|c| c.sms.limits.per_number.max = 0).await;
    t.setup(
        Method::POST,
        "/v2/policies",
        json!({"name": "lenient", "steps": ["pin"], "max_attempts": 20}),
    )
    .await;
    t.system_with_user("CRM", "lenient", "a@example.com", "+41790000015")
        .await;
    // 50 failures over three challenges, then a success resets the count.
    let mut sent = 0;
    for round in 0..3 {
        t.start("a@example.com", "CRM").await;
        sent += 1;
        let pin = pin_of(&t.wait_sms("+41790000015", sent).await);
        let wrong = if pin == "000000" { "111111" } else { "000000" };
        for _ in 0..(if round < 2 { 20 } else { 10 }) {
            let (s, _) = json(
                t.complete(json!({"email": "a@example.com", "system": "CRM", "pin": wrong}))
                    .await,
            )
            .await;
            assert_eq!(s, 401);
        }
        if round == 2 {
            let (_, u) = json(
                t.manage(Method::GET, "/v2/users/a@example.com")
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(
                u["failed_logins"], 50,
                "a new challenge does not reset the count"
            );
            let (s, _) = json(
                t.complete(json!({"email": "a@example.com", "system": "CRM", "pin": pin}))
                    .await,
            )
            .await;
            assert_eq!(s, 200);
        }
    }
    let (_, u) = json(
        t.manage(Method::GET, "/v2/users/a@example.com")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(u["failed_logins"], 0);
    assert_eq!(u["locked"], false);

    // 100 consecutive failures across new challenges lock the user.
    let mut failures = 0;
    while failures < 100 {
        t.start("a@example.com", "CRM").await;
        sent += 1;
        let pin = pin_of(&t.wait_sms("+41790000015", sent).await);
        let wrong = if pin == "000000" { "111111" } else { "000000" };
        for _ in 0..20 {
            let (s, _) = json(
                t.complete(json!({"email": "a@example.com", "system": "CRM", "pin": wrong}))
                    .await,
            )
            .await;
            assert_eq!(s, 401);
            failures += 1;
        }
    }
    let (_, u) = json(
        t.manage(Method::GET, "/v2/users/a@example.com")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(u["locked"], true, "{u}");

    // Locked: a start looks like success but sends nothing.
    let (s, start) = json(t.start("a@example.com", "CRM").await).await;
    assert_eq!(s, 202, "{start}");
    t.system_with_user("Probe", "pin", "probe@example.com", "+41790000016")
        .await;
    t.start("probe@example.com", "Probe").await;
    t.wait_sms("+41790000016", 1).await;
    assert_eq!(t.sms_sent_to("+41790000015").len(), sent);

    let (s, u) = json(
        t.manage(Method::POST, "/v2/users/a@example.com/unlock")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(u["locked"], false);
    assert_eq!(u["failed_logins"], 0);
    t.advance(600);
    t.start("a@example.com", "CRM").await;
    sent += 1;
    let pin = pin_of(&t.wait_sms("+41790000015", sent).await);
    let (s, done) = json(
        t.complete(json!({"email": "a@example.com", "system": "CRM", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{done}");
}

#[tokio::test]
async fn twenty_concurrent_completes_give_one_success() {
    let t = TestApp::spawn().await;
    t.system_with_user("CRM", "pin", "a@example.com", "+41790000017")
        .await;
    t.start("a@example.com", "CRM").await;
    let pin = pin_of(&t.wait_sms("+41790000017", 1).await);
    let body = json!({"email": "a@example.com", "system": "CRM", "pin": pin});
    let calls = (0..20).map(|_| t.complete(body.clone()));
    let statuses: Vec<u16> = futures::future::join_all(calls)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 409),
        "{statuses:?}"
    );
}
