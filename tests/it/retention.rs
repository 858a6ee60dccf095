//! Retention: old challenges, finished SMS, old audit records and failure
//! times are purged in batches; recent ones and waiting SMS stay.

use crate::harness::{json, pin_of, TestApp};
use chrono::Duration;
use flexsecure::config::RetentionConfig;
use flexsecure::service::{Services, PURGE_BATCH};
use reqwest::Method;
use serde_json::json;
use std::sync::Arc;

async fn services(t: &TestApp) -> Services {
    let dir = t.data_dir.path().to_path_buf();
    let (key, store) =
        flexsecure::blocking::run(move || flexsecure::app::open_data_dir(&dir).unwrap())
            .await
            .unwrap();
    Services::new(
        store,
        key,
        &t.public_url,
        Arc::new(tokio::sync::Notify::new()),
    )
}

#[tokio::test]
async fn old_records_go_in_batches_and_recent_ones_stay() {
    let t = TestApp::spawn_with(|c| c.sms.limits.per_number.max = 0).await;
    t.system_with_user("CRM", "pin", "ann@example.com", "+41790000501")
        .await;
    let (_, old) = json(t.start("ann@example.com", "CRM").await).await;
    let pin = pin_of(&t.wait_sms("+41790000501", 1).await);
    let (s, _) = json(
        t.complete(json!({"email": "ann@example.com", "system": "CRM", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(s, 200);
    // More than one batch of look-alike starts (unknown users: no SMS).
    let n = PURGE_BATCH as usize + 100;
    for i in 0..n {
        let r = t.start(&format!("nobody{i}@example.com"), "CRM").await;
        assert_eq!(r.status(), 202);
    }
    let svc = services(&t).await;
    let now = t.clock_now();

    // Nothing is old yet.
    let p = svc
        .purge_round(&RetentionConfig::default(), now)
        .await
        .unwrap();
    assert_eq!(p.total(), 0, "{p:?}");

    // 91 days on: challenges (90 d) and SMS (30 d) go, the audit (365 d) stays.
    t.advance(91 * 24 * 3600);
    let later = now + Duration::days(91);
    let (s, recent) = json(t.start("ann@example.com", "CRM").await).await;
    assert_eq!(s, 202);
    t.wait_sms("+41790000501", 2).await;
    let p = svc
        .purge_round(&RetentionConfig::default(), later)
        .await
        .unwrap();
    assert_eq!(p.challenges, n + 1, "{p:?}");
    assert_eq!(p.outbox, 1);
    assert_eq!(p.audit, 0);
    let rid = old["request_id"].as_str().unwrap();
    let (s, _) = json(
        t.auth(Method::GET, &format!("/v2/authentications/{rid}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404, "the old login is gone");
    let (s, _) = json(
        t.auth(
            Method::GET,
            &format!(
                "/v2/authentications/{}",
                recent["request_id"].as_str().unwrap()
            ),
        )
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "the recent one stays");
    let (_, outbox) = json(
        t.manage(Method::GET, "/v2/sms/outbox")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(outbox["messages"].as_array().unwrap().len(), 1, "{outbox}");

    // Shorter settings apply: two days on, with one-day periods, the recent
    // login and its SMS go too.
    let short = RetentionConfig {
        challenges_days: Some(1),
        outbox_days: Some(1),
        audit_days: Some(400),
    };
    let p = svc
        .purge_round(&short, later + Duration::days(2))
        .await
        .unwrap();
    assert_eq!((p.challenges, p.outbox, p.audit), (1, 1, 0), "{p:?}");
    // A year on, the audit records of then go too.
    let p = svc
        .purge_round(&RetentionConfig::default(), now + Duration::days(366))
        .await
        .unwrap();
    assert!(p.audit > n, "{p:?}");
}
