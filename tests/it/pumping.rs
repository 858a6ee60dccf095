//! Anti-pumping limits: per number, per prefix, per account, the country
//! allowlist, what a refusal answers and that it is recorded.

use crate::harness::{captured_logs, json, pin_of, TestApp};
use flexsecure::config::Config;
use reqwest::{Method, Response};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The 100 numbers of the done-when: +41790000000 to +41790000099.
fn range_number(i: usize) -> String {
    format!("+417900000{i:02}")
}

/// `n` users `u00@example.com`... on `range_number`, imported in one CSV,
/// each granted the system `CRM` (PIN policy).
async fn hundred_users(t: &TestApp, n: usize) {
    t.setup(
        Method::POST,
        "/v2/systems",
        json!({"name": "CRM", "policy": "pin"}),
    )
    .await;
    let mut csv = String::from("email,phone,name\n");
    for i in 0..n {
        csv.push_str(&format!(
            "u{i:02}@example.com,{},User {i}\n",
            range_number(i)
        ));
    }
    let r = t
        .manage(Method::POST, "/v2/users/import")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    let (s, v) = json(r).await;
    assert_eq!((s, v["created"].as_u64()), (200, Some(n as u64)), "{v}");
    let grants = (0..n).map(|i| {
        t.manage(
            Method::PUT,
            &format!("/v2/systems/CRM/users/u{i:02}@example.com"),
        )
        .send()
    });
    for r in futures::future::join_all(grants).await {
        assert_eq!(r.unwrap().status(), 201);
    }
}

/// The Retry-After header, which must agree with the body's `retry_after`.
async fn refusal(r: Response) -> (u16, Option<u64>, Value) {
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().unwrap());
    let (s, v) = json(r).await;
    if let Some(h) = retry {
        assert_eq!(v["error"]["retry_after"].as_u64(), Some(h), "{v}");
    }
    (s, retry, v)
}

/// Lines of the console file, i.e. SMS really sent.
fn sms_count(t: &TestApp) -> usize {
    std::fs::read_to_string(t.sms_path())
        .unwrap_or_default()
        .lines()
        .count()
}

/// Waits (bounded) until `n` SMS were sent, then a little longer to see
/// that no more follow; returns the final count.
async fn settled_sms_count(t: &TestApp, n: usize) -> usize {
    for _ in 0..400 {
        if sms_count(t) >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    sms_count(t)
}

async fn refusals(t: &TestApp) -> Vec<Value> {
    let (s, v) = json(
        t.manage(Method::GET, "/v2/sms/refusals?limit=500")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    v["refusals"].as_array().unwrap().clone()
}

/// Refusals recorded per reason (sum of the hourly counts).
async fn refusal_counts(t: &TestApp) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in refusals(t).await {
        *m.entry(r["reason"].as_str().unwrap().to_string())
            .or_default() += r["count"].as_u64().unwrap();
    }
    m
}

/// 100 concurrent starts for the 100 numbers: `allowed` get 202, the rest
/// 429 `sms_limit` for `limit` with `Retry-After: retry`.
async fn hundred_starts(
    adjust: impl FnOnce(&mut Config),
    limit: &str,
    allowed: usize,
    retry: u64,
) -> TestApp {
    let t = TestApp::spawn_with(adjust).await;
    hundred_users(&t, 100).await;
    let emails: Vec<String> = (0..100).map(|i| format!("u{i:02}@example.com")).collect();
    let answers = futures::future::join_all(emails.iter().map(|e| t.start(e, "CRM"))).await;
    let (mut ok, mut limited) = (0, 0);
    for r in answers {
        match r.status().as_u16() {
            202 => ok += 1,
            429 => {
                let (_, refused_retry, v) = refusal(r).await;
                assert_eq!(v["error"]["code"], "sms_limit", "{v}");
                assert_eq!(v["error"]["limit"], limit, "{v}");
                // Every SMS was queued at the same (manual) instant: the
                // window frees up exactly one window length later.
                assert_eq!(refused_retry, Some(retry), "{v}");
                limited += 1;
            }
            other => panic!("unexpected {other}: {:?}", r.text().await),
        }
    }
    assert_eq!((ok, limited), (allowed, 100 - allowed));

    // No more SMS went out than the limit allows.
    assert_eq!(settled_sms_count(&t, allowed).await, allowed);
    let (_, usage) = json(t.manage(Method::GET, "/v2/usage").send().await.unwrap()).await;
    assert_eq!(usage["starts"], allowed, "{usage}");

    // Every refusal is recorded.
    let counts = refusal_counts(&t).await;
    assert_eq!(
        counts.get(limit).copied(),
        Some(100 - allowed as u64),
        "{counts:?}"
    );
    assert_eq!(counts.len(), 1, "{counts:?}");
    t
}

#[tokio::test]
async fn hundred_starts_in_one_prefix_send_no_more_than_the_prefix_limit() {
    let t = hundred_starts(
        |c| {
            c.sms.limits.per_prefix.max = 20;
            c.sms.limits.per_prefix.digits = 8;
            c.sms.limits.per_prefix.window_seconds = 3600;
        },
        "per_prefix",
        20,
        3600,
    )
    .await;

    // The warning names the limit and the number's prefix only.
    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).to_string();
    let mine: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains(&t.account.account_id) && l.contains("anti-pumping"))
        .collect();
    assert_eq!(mine.len(), 80, "one warning per refusal");
    for l in &mine {
        assert!(l.contains("per_prefix") && l.contains("+4179000"), "{l}");
        assert!(
            !(0..100).any(|i| l.contains(&range_number(i))),
            "a full number in the log: {l}"
        );
    }

    // After the window, the prefix admits SMS again.
    t.advance(3600);
    let (s, v) = json(t.start("u99@example.com", "CRM").await).await;
    assert_eq!(s, 202, "{v}");
}

#[tokio::test]
async fn hundred_starts_send_no_more_than_the_hourly_account_limit() {
    hundred_starts(
        |c| {
            c.sms.limits.per_prefix.max = 0;
            c.sms.limits.per_account_hour = 30;
        },
        "account_hour",
        30,
        3600,
    )
    .await;
}

#[tokio::test]
async fn hundred_starts_send_no_more_than_the_daily_account_limit() {
    hundred_starts(
        |c| {
            c.sms.limits.per_prefix.max = 0;
            c.sms.limits.per_account_day = 10;
        },
        "account_day",
        10,
        86_400,
    )
    .await;
}

#[tokio::test]
async fn the_daily_limit_reports_the_longest_wait() {
    let t = TestApp::spawn_with(|c| {
        c.sms.limits.per_account_hour = 2;
        c.sms.limits.per_account_day = 3;
    })
    .await;
    hundred_users(&t, 4).await;
    for i in 0..2 {
        assert_eq!(
            t.start(&format!("u{i:02}@example.com"), "CRM")
                .await
                .status(),
            202
        );
    }
    let (s, retry, v) = refusal(t.start("u02@example.com", "CRM").await).await;
    assert_eq!((s, retry), (429, Some(3600)), "{v}");
    assert_eq!(v["error"]["limit"], "account_hour");
    // Sent before the clock moves past the PINs' expiry.
    assert_eq!(settled_sms_count(&t, 2).await, 2);
    t.advance(3600);
    assert_eq!(t.start("u02@example.com", "CRM").await.status(), 202);
    // Now both windows are full: the day's is the longer wait.
    t.advance(60);
    let (s, retry, v) = refusal(t.start("u03@example.com", "CRM").await).await;
    assert_eq!((s, retry), (429, Some(86_400 - 3660)), "{v}");
    assert_eq!(v["error"]["limit"], "account_day");
    assert_eq!(settled_sms_count(&t, 3).await, 3);
}

/// The PIN of the `n`-th SMS to `phone`, once it is sent.
async fn pin_n(t: &TestApp, phone: &str, n: usize) -> String {
    pin_of(&t.wait_sms(phone, n).await)
}

#[tokio::test]
async fn five_sms_per_number_in_fifteen_minutes_across_challenges() {
    // Default limits: 5 SMS per number per 900 s.
    let t = TestApp::spawn().await;
    let phone = "+41790001000";
    t.system_with_user("CRM", "pin", "a@example.com", phone)
        .await;
    let (_, first) = json(t.start("a@example.com", "CRM").await).await;
    t.wait_sms(phone, 1).await;
    for n in 2..=5 {
        t.advance(30);
        let (s, v) = json(t.start("a@example.com", "CRM").await).await;
        assert_eq!((s, &v["request_id"]), (202, &first["request_id"]), "{v}");
        t.wait_sms(phone, n).await;
    }
    let pin = pin_n(&t, phone, 5).await;
    let (s, v) = json(
        t.complete(json!({"email": "a@example.com", "system": "CRM", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");

    // t = 150: a new challenge would be the 6th SMS in 900 s.
    t.advance(30);
    let (s, retry, v) = refusal(t.start("a@example.com", "CRM").await).await;
    assert_eq!((s, retry), (429, Some(750)), "{v}");
    assert_eq!(v["error"]["code"], "sms_limit");
    assert_eq!(v["error"]["limit"], "per_number");
    assert!(v.get("request_id").is_none());
    t.advance(749);
    let (s, retry, _) = refusal(t.start("a@example.com", "CRM").await).await;
    assert_eq!((s, retry), (429, Some(1)));
    assert_eq!(sms_count(&t), 5, "a refused start queues nothing");

    // t = 900: the first SMS left the window.
    t.advance(1);
    let (s, again) = json(t.start("a@example.com", "CRM").await).await;
    assert_eq!(s, 202, "{again}");
    assert_ne!(again["request_id"], first["request_id"]);
    t.wait_sms(phone, 6).await;
    assert_eq!(
        refusal_counts(&t).await,
        BTreeMap::from([("per_number".to_string(), 2)])
    );
}

#[tokio::test]
async fn a_refused_resend_keeps_the_challenge() {
    let t = TestApp::spawn_with(|c| c.sms.limits.per_number.max = 3).await;
    let phone = "+41790001001";
    t.system_with_user("CRM", "pin", "a@example.com", phone)
        .await;
    let (_, first) = json(t.start("a@example.com", "CRM").await).await;
    t.wait_sms(phone, 1).await;
    for n in 2..=3 {
        t.advance(30);
        assert_eq!(t.start("a@example.com", "CRM").await.status(), 202);
        t.wait_sms(phone, n).await;
    }
    let pin3 = pin_n(&t, phone, 3).await;

    // t = 90: the 4th SMS is refused though the challenge would allow 5.
    t.advance(30);
    let (s, retry, v) = refusal(t.start("a@example.com", "CRM").await).await;
    assert_eq!((s, retry), (429, Some(810)), "{v}");
    assert_eq!(v["error"]["limit"], "per_number");

    // The challenge is as it was: pending, and the last PIN still works.
    let rid = first["request_id"].as_str().unwrap();
    let (_, st) = json(
        t.auth(Method::GET, &format!("/v2/authentications/{rid}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(st["status"], "pending", "{st}");
    assert_eq!(settled_sms_count(&t, 3).await, 3);
    let (s, done) = json(
        t.complete(json!({"email": "a@example.com", "system": "CRM", "pin": pin3}))
            .await,
    )
    .await;
    assert_eq!(
        (s, &done["request_id"]),
        (200, &first["request_id"]),
        "{done}"
    );
}

#[tokio::test]
async fn look_alike_starts_answer_like_a_real_user() {
    let t = TestApp::spawn().await;
    let phone = "+41790001002";
    t.system_with_user("CRM", "pin", "real@example.com", phone)
        .await;
    let both = ["real@example.com", "nobody@example.com"];

    // Five SMS (one start, four resends) for each: all 202.
    for n in 1..=5 {
        if n > 1 {
            t.advance(30);
        }
        for e in both {
            let (s, v) = json(t.start(e, "CRM").await).await;
            assert_eq!(s, 202, "{e}: {v}");
        }
        t.wait_sms(phone, n).await;
    }
    // Both challenges die of wrong PINs, so a start makes a new one.
    let pin = pin_n(&t, phone, 5).await;
    let wrong = if pin == "000000" { "111111" } else { "000000" };
    for e in both {
        for _ in 0..5 {
            let (s, _) = json(
                t.complete(json!({"email": e, "system": "CRM", "pin": wrong}))
                    .await,
            )
            .await;
            assert_eq!(s, 401);
        }
    }
    // t = 120: the sixth SMS in 900 s is refused for both, alike.
    let mut answers = Vec::new();
    for e in both {
        let (s, retry, v) = refusal(t.start(e, "CRM").await).await;
        answers.push((
            s,
            retry,
            v["error"]["code"].clone(),
            v["error"]["limit"].clone(),
        ));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(
        answers[0],
        (429, Some(780), json!("sms_limit"), json!("per_number"))
    );

    // The operator sees both, the look-alike without a number.
    let rows = refusals(&t).await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    let by_email = |e: &str| rows.iter().find(|r| r["email"] == e).unwrap().clone();
    assert_eq!(by_email("real@example.com")["phone"], phone);
    assert_eq!(by_email("nobody@example.com")["phone"], Value::Null);
    assert_eq!(by_email("nobody@example.com")["reason"], "per_number");

    // After the window both start again.
    t.advance(900);
    for e in both {
        assert_eq!(t.start(e, "CRM").await.status(), 202, "{e}");
    }
}

async fn countries(t: &TestApp, method: Method, body: Option<Value>) -> (u16, Value) {
    let mut r = t.manage(method, "/v2/sms/countries");
    if let Some(b) = body {
        r = r.json(&b);
    }
    json(r.send().await.unwrap()).await
}

#[tokio::test]
async fn the_country_allowlist_through_the_api() {
    let t = TestApp::spawn().await;
    t.system_with_user("CRM", "pin", "ch@example.com", "+41790001003")
        .await;
    t.setup(
        Method::POST,
        "/v2/users",
        json!({"email": "de@example.com", "phone": "+4915112345678"}),
    )
    .await;
    t.setup(
        Method::PUT,
        "/v2/systems/CRM/users/de@example.com",
        Value::Null,
    )
    .await;

    // Default: every country.
    let (s, v) = countries(&t, Method::GET, None).await;
    assert_eq!((s, v), (200, json!({"allowed": [], "source": "config"})));

    let (s, v) = countries(&t, Method::PUT, Some(json!({"allowed": ["41"]}))).await;
    assert_eq!(
        (s, v),
        (200, json!({"allowed": ["41"], "source": "account"}))
    );
    let (_, v) = countries(&t, Method::GET, None).await;
    assert_eq!(v, json!({"allowed": ["41"], "source": "account"}));

    // A German number is refused with 403 and nothing is queued.
    let (s, retry, v) = refusal(t.start("de@example.com", "CRM").await).await;
    assert_eq!((s, retry), (403, None), "{v}");
    assert_eq!(v["error"]["code"], "sms_country_denied");
    assert!(!v["error"]["message"].as_str().unwrap().contains("+49"));
    assert_eq!(t.start("ch@example.com", "CRM").await.status(), 202);
    t.wait_sms("+41790001003", 1).await;
    assert!(t.sms_sent_to("+4915112345678").is_empty());
    assert_eq!(
        refusal_counts(&t).await,
        BTreeMap::from([("country".to_string(), 1)])
    );

    // Bad lists are refused whole.
    for bad in [
        json!({"allowed": ["0"]}),
        json!({"allowed": ["1234"]}),
        json!({"allowed": ["4"]}),
        json!({"allowed": ["41", "4x"]}),
        json!({"allowed": "41"}),
        json!({"allowed": [41]}),
        json!({"allowd": []}),
        json!({}),
    ] {
        let (s, v) = countries(&t, Method::PUT, Some(bad.clone())).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (422, Some("invalid_field")),
            "{bad}: {v}"
        );
    }
    let (_, v) = countries(&t, Method::GET, None).await;
    assert_eq!(v["allowed"], json!(["41"]));

    // Codes are normalised; +49 now passes.
    let (s, v) = countries(
        &t,
        Method::PUT,
        Some(json!({"allowed": ["+49", " 41", "49"]})),
    )
    .await;
    assert_eq!((s, &v["allowed"]), (200, &json!(["41", "49"])), "{v}");
    let (s, v) = json(t.start("de@example.com", "CRM").await).await;
    assert_eq!(s, 202, "{v}");
    t.wait_sms("+4915112345678", 1).await;

    // Another account keeps the default; an auth key may not read the list.
    let other = t.new_account("Other").await;
    let (s, v) = json(
        t.req(Method::GET, "/v2/sms/countries", &other.manage_key)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((s, v), (200, json!({"allowed": [], "source": "config"})));
    let r = t
        .auth(Method::GET, "/v2/sms/countries")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);

    // DELETE returns to the default; an empty list allows every country.
    let (s, v) = countries(&t, Method::DELETE, None).await;
    assert_eq!((s, v), (200, json!({"allowed": [], "source": "config"})));
    let (s, v) = countries(&t, Method::PUT, Some(json!({"allowed": []}))).await;
    assert_eq!((s, v), (200, json!({"allowed": [], "source": "account"})));

    let r = t
        .manage(Method::GET, "/v2/sms/refusals?limit=0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
}

#[tokio::test]
async fn the_configured_country_default_applies_until_an_account_sets_its_own() {
    let t = TestApp::spawn_with(|c| c.sms.limits.allowed_countries = vec!["41".into()]).await;
    t.system_with_user("CRM", "pin", "de@example.com", "+4915112345679")
        .await;
    let (_, v) = countries(&t, Method::GET, None).await;
    assert_eq!(v, json!({"allowed": ["41"], "source": "config"}));
    let (s, v) = json(t.start("de@example.com", "CRM").await).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (403, Some("sms_country_denied"))
    );
    let (s, _) = countries(&t, Method::PUT, Some(json!({"allowed": []}))).await;
    assert_eq!(s, 200);
    assert_eq!(t.start("de@example.com", "CRM").await.status(), 202);
    t.wait_sms("+4915112345679", 1).await;
}
