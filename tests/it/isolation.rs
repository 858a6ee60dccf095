//! Key scopes, account isolation, and starts that must look like success.

use crate::harness::{json, pin_of, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn an_auth_key_cannot_manage_and_a_manage_key_cannot_log_in() {
    let t = TestApp::spawn().await;
    for (method, path) in [
        (Method::GET, "/v2/users"),
        (Method::POST, "/v2/systems"),
        (Method::GET, "/v2/usage"),
    ] {
        let (s, e) = json(
            t.auth(method, path)
                .json(&json!({"name": "x"}))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (403, Some("wrong_scope")),
            "{path}"
        );
    }
    let r = t
        .manage(Method::POST, "/v2/user/authenticate")
        .json(&json!({"email": "a@example.com", "system": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn revoked_keys_stop_working() {
    let t = TestApp::spawn().await;
    assert_eq!(
        t.manage(Method::GET, "/v2/policies")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let dir = t.data_dir.path().to_path_buf();
    let id = t.account.manage_key_id.clone();
    flexsecure::blocking::run(move || {
        let store = flexsecure::store::Store::open(&dir).unwrap();
        flexsecure::service::revoke_api_key(
            &store,
            &id,
            &flexsecure::domain::Actor::Cli,
            chrono::Utc::now(),
        )
        .unwrap();
    })
    .await
    .unwrap();
    // Revoked by another process (as the CLI does): refused within the
    // key cache's lifetime (bounded wait).
    let mut answer = (0, None);
    for _ in 0..100 {
        let (s, e) = json(t.manage(Method::GET, "/v2/policies").send().await.unwrap()).await;
        answer = (s, e["error"]["code"].as_str().map(str::to_string));
        if s == 401 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(answer, (401, Some("invalid_api_key".to_string())));
}

#[tokio::test]
async fn account_b_sees_nothing_of_account_a() {
    let t = TestApp::spawn().await;
    t.setup(
        Method::POST,
        "/v2/policies",
        json!({"name": "secret-policy", "steps": ["pin"]}),
    )
    .await;
    t.system_with_user("A-CRM", "secret-policy", "a@example.com", "+41790000020")
        .await;
    let (_, start) = json(t.start("a@example.com", "A-CRM").await).await;
    let pin = pin_of(&t.wait_sms("+41790000020", 1).await);
    let rid = start["request_id"].as_str().unwrap().to_string();

    let b = t.new_account("Other").await;
    let m = |method: Method, path: &str| t.req(method, path, &b.manage_key);
    for path in [
        "/v2/systems/A-CRM",
        "/v2/users/a@example.com",
        "/v2/policies/secret-policy",
        "/v2/systems/A-CRM/users",
    ] {
        let (s, e) = json(m(Method::GET, path).send().await.unwrap()).await;
        assert_eq!(s, 404, "{path}: {e}");
    }
    for (method, path) in [
        (Method::PATCH, "/v2/systems/A-CRM"),
        (Method::DELETE, "/v2/systems/A-CRM"),
        (Method::PATCH, "/v2/users/a@example.com"),
        (Method::DELETE, "/v2/users/a@example.com"),
        (Method::POST, "/v2/users/a@example.com/unlock"),
        (Method::PUT, "/v2/systems/A-CRM/users/a@example.com"),
        (Method::DELETE, "/v2/systems/A-CRM/users/a@example.com"),
        (Method::PUT, "/v2/policies/secret-policy"),
        (Method::DELETE, "/v2/policies/secret-policy"),
    ] {
        let body = match method {
            Method::PUT if path.starts_with("/v2/policies") => json!({"steps": ["pin"]}),
            _ => json!({}),
        };
        let (s, e) = json(m(method.clone(), path).json(&body).send().await.unwrap()).await;
        assert_eq!(s, 404, "{method} {path}: {e}");
    }
    let (_, lists) = json(m(Method::GET, "/v2/users").send().await.unwrap()).await;
    assert_eq!(lists["users"], json!([]));
    let (_, systems) = json(m(Method::GET, "/v2/systems").send().await.unwrap()).await;
    assert_eq!(systems, json!([]));
    let (_, policies) = json(m(Method::GET, "/v2/policies").send().await.unwrap()).await;
    let names: Vec<&str> = policies
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["passwordless", "pin"]);

    // B's auth key can neither see nor complete A's authentication.
    let a = |method: Method, path: &str| t.req(method, path, &b.auth_key);
    assert_eq!(
        a(Method::GET, &format!("/v2/authentications/{rid}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = a(Method::POST, "/v2/system/authenticate/user")
        .json(&json!({"email": "a@example.com", "system": "A-CRM", "pin": pin, "request_id": rid}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = a(Method::POST, "/v2/user/authenticate")
        .json(&json!({"email": "a@example.com", "system": "A-CRM"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "A's system does not exist for B");
    // Nor for B's dry-run.
    let r = t
        .req(Method::POST, "/v2/policies/pin/evaluate", &b.manage_key)
        .json(&json!({"email": "a@example.com", "system": "A-CRM"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    // A is untouched.
    let (s, _) = json(
        t.complete(json!({"email": "a@example.com", "system": "A-CRM", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(s, 200);
}

fn shape(v: &Value) -> Vec<String> {
    let mut keys: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn unknown_disabled_and_ungranted_users_look_like_success() {
    let t = TestApp::spawn().await;
    t.system_with_user("CRM", "pin", "real@example.com", "+41790000030")
        .await;
    t.setup(
        Method::POST,
        "/v2/users",
        json!({"email": "nogrant@example.com", "phone": "+41790000031"}),
    )
    .await;
    t.setup(
        Method::POST,
        "/v2/users",
        json!({"email": "off@example.com", "phone": "+41790000032", "enabled": false}),
    )
    .await;
    t.setup(
        Method::PUT,
        "/v2/systems/CRM/users/off@example.com",
        json!(null),
    )
    .await;

    let real = t.start("real@example.com", "CRM").await;
    let real_status = real.status();
    let (_, real) = json(real).await;
    for email in [
        "nobody@example.com",
        "nogrant@example.com",
        "off@example.com",
    ] {
        let r = t.start(email, "CRM").await;
        assert_eq!(r.status(), real_status, "{email}");
        let (_, v) = json(r).await;
        assert_eq!(shape(&v), shape(&real), "{email}");
        assert_eq!(v["steps"], real["steps"]);
        assert_eq!(v["status"], "pending");
        assert_eq!(
            v["request_id"].as_str().unwrap().len(),
            real["request_id"].as_str().unwrap().len()
        );
        // Completing it behaves like a wrong PIN.
        let (s, e) = json(
            t.complete(json!({"email": email, "system": "CRM", "pin": "123456"}))
                .await,
        )
        .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (401, Some("invalid_pin")),
            "{email}"
        );
    }
    // The real user's SMS went out; wait for a later one to be sure the
    // dispatcher has passed the decoys, then check they sent nothing.
    t.wait_sms("+41790000030", 1).await;
    t.system_with_user("Probe", "pin", "probe@example.com", "+41790000033")
        .await;
    t.start("probe@example.com", "Probe").await;
    t.wait_sms("+41790000033", 1).await;
    assert!(t.sms_sent_to("+41790000031").is_empty());
    assert!(t.sms_sent_to("+41790000032").is_empty());
}

#[tokio::test]
async fn a_user_disabled_after_the_start_cannot_finish() {
    let t = TestApp::spawn().await;
    t.system_with_user("CRM", "pin", "a@example.com", "+41790000060")
        .await;
    t.start("a@example.com", "CRM").await;
    let pin = pin_of(&t.wait_sms("+41790000060", 1).await);
    t.setup(
        Method::PATCH,
        "/v2/users/a@example.com",
        json!({"enabled": false}),
    )
    .await;
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

    // Lost grant, same.
    t.system_with_user("ERP", "pin", "b@example.com", "+41790000061")
        .await;
    t.start("b@example.com", "ERP").await;
    let pin = pin_of(&t.wait_sms("+41790000061", 1).await);
    let r = t
        .manage(Method::DELETE, "/v2/systems/ERP/users/b@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (s, _) = json(
        t.complete(json!({"email": "b@example.com", "system": "ERP", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(s, 410);
}

#[tokio::test]
async fn a_look_alike_challenge_is_not_reused_once_the_user_is_eligible() {
    let t = TestApp::spawn().await;
    t.setup(
        Method::POST,
        "/v2/systems",
        json!({"name": "CRM", "policy": "pin"}),
    )
    .await;
    let (_, decoy) = json(t.start("late@example.com", "CRM").await).await;
    t.setup(
        Method::POST,
        "/v2/users",
        json!({"email": "late@example.com", "phone": "+41790000062"}),
    )
    .await;
    t.setup(
        Method::PUT,
        "/v2/systems/CRM/users/late@example.com",
        json!(null),
    )
    .await;
    let (s, real) = json(t.start("late@example.com", "CRM").await).await;
    assert_eq!(s, 202, "{real}");
    assert_ne!(real["request_id"], decoy["request_id"]);
    let pin = pin_of(&t.wait_sms("+41790000062", 1).await);
    let (s, _) = json(
        t.complete(json!({"email": "late@example.com", "system": "CRM", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(s, 200);
}
