//! API keys (missing, wrong, wrong scope, judged before the body) and
//! request ids.

use super::{
    check_error, complete, delete, fixture, get, long, ok, patch, post, put, run, send, start, Key,
    Req, ANN,
};
use serde_json::json;

/// Every API endpoint that needs a key, with a body it would accept.
fn keyed_endpoints() -> Vec<(Req, Key)> {
    vec![
        (
            start(json!({"email": "ann@example.com", "system": "CRM"})),
            Key::Auth,
        ),
        (
            complete(json!({"email": "ann@example.com", "system": "CRM", "pin": "123456"})),
            Key::Auth,
        ),
        (get("/v2/authentications/req_x").key(Key::Auth), Key::Auth),
        (get("/v2/policies"), Key::Manage),
        (
            post("/v2/policies").json(json!({"name": "p2", "steps": ["pin"]})),
            Key::Manage,
        ),
        (get("/v2/policies/strict"), Key::Manage),
        (
            put("/v2/policies/strict").json(json!({"steps": ["pin"]})),
            Key::Manage,
        ),
        (delete("/v2/policies/spare"), Key::Manage),
        (get("/v2/systems"), Key::Manage),
        (post("/v2/systems").json(json!({"name": "S2"})), Key::Manage),
        (get("/v2/systems/CRM"), Key::Manage),
        (
            patch("/v2/systems/CRM").json(json!({"description": "d"})),
            Key::Manage,
        ),
        (delete("/v2/systems/Other"), Key::Manage),
        (put("/v2/systems/Other/users/ann@example.com"), Key::Manage),
        (delete("/v2/systems/CRM/users/ann@example.com"), Key::Manage),
        (get("/v2/systems/CRM/users"), Key::Manage),
        (get("/v2/users"), Key::Manage),
        (
            post("/v2/users").json(json!({"email": "u2@example.com", "phone": "+41790000002"})),
            Key::Manage,
        ),
        (get(ANN), Key::Manage),
        (patch(ANN).json(json!({"name": "Ann"})), Key::Manage),
        (delete(ANN), Key::Manage),
        (post("/v2/users/ann@example.com/unlock"), Key::Manage),
        (
            post("/v2/users/import").raw("u3@example.com,+41790000003\n"),
            Key::Manage,
        ),
        (get("/v2/usage"), Key::Manage),
    ]
}

#[tokio::test]
async fn keys_are_required_and_checked() {
    let t = fixture().await;
    let mut cases = Vec::new();
    for (r, scope) in keyed_endpoints() {
        cases.push(r.clone().key(Key::None).expect(401, "missing_api_key"));
        cases.push(r.clone().key(Key::Raw("")).expect(401, "missing_api_key"));
        cases.push(
            r.clone()
                .key(Key::Raw("   "))
                .expect(401, "missing_api_key"),
        );
        cases.push(
            r.clone()
                .key(Key::Raw("fs_not_a_real_key"))
                .expect(401, "invalid_api_key"),
        );
        cases.push(
            r.clone()
                .key(Key::Raw(Box::leak(long(5000).into_boxed_str())))
                .expect(401, "invalid_api_key"),
        );
        let other = match scope {
            Key::Auth => Key::Manage,
            _ => Key::Auth,
        };
        cases.push(r.key(other).expect(403, "wrong_scope"));
    }
    // Without a key, even a malformed body is refused for the key.
    cases.push(
        post("/v2/users")
            .key(Key::None)
            .raw("{")
            .expect(401, "missing_api_key"),
    );
    cases.push(
        post("/v2/user/authenticate")
            .key(Key::None)
            .raw("{")
            .expect(401, "missing_api_key"),
    );
    run(&t, cases).await;
    // None of those calls did anything.
    ok(&t, get("/v2/systems/Other")).await;
    ok(&t, get("/v2/policies/spare")).await;
    let ann = ok(&t, get(ANN)).await;
    assert_eq!(ann["name"], "", "{ann}");
    let a = send(&t, &get("/v2/users/u3@example.com")).await.unwrap();
    assert_eq!(a.status, 404, "{}", a.text());
    let granted = ok(&t, get("/v2/systems/CRM/users")).await;
    assert_eq!(granted.as_array().map(Vec::len), Some(1), "{granted}");
}

/// The key is judged before the body: a caller without a valid key learns
/// nothing about its body, and gets the same answer every time. (The key
/// lookup reads the database, so a body error that is ready sooner must not
/// win the race.)
#[tokio::test]
async fn a_bad_key_is_refused_before_the_body_is_judged() {
    let t = fixture().await;
    let mut cases = Vec::new();
    for _ in 0..20 {
        cases.push(
            post("/v2/users")
                .key(Key::Raw("fs_not_a_real_key"))
                .raw("{")
                .expect(401, "invalid_api_key"),
        );
        cases.push(
            post("/v2/user/authenticate")
                .key(Key::Raw("fs_not_a_real_key"))
                .json(json!({"email": 5}))
                .expect(401, "invalid_api_key"),
        );
        cases.push(
            post("/v2/users")
                .key(Key::Auth)
                .raw("{")
                .expect(403, "wrong_scope"),
        );
        cases.push(
            post("/v2/user/authenticate")
                .key(Key::Manage)
                .raw("not json")
                .expect(403, "wrong_scope"),
        );
    }
    run(&t, cases).await;
}

#[tokio::test]
async fn a_sane_request_id_is_echoed_on_errors() {
    let t = fixture().await;
    let a = send(
        &t,
        &get("/v2/users")
            .key(Key::None)
            .header("x-request-id", "test-req.42_a"),
    )
    .await
    .unwrap();
    check_error(&a, 401, "missing_api_key", None).unwrap();
    assert_eq!(a.headers["x-request-id"], "test-req.42_a");
    // An insane one is replaced, not echoed.
    let a = send(
        &t,
        &get("/v2/nothing").header("x-request-id", "bad id with spaces"),
    )
    .await
    .unwrap();
    check_error(&a, 404, "not_found", None).unwrap();
    assert_ne!(a.headers["x-request-id"], "bad id with spaces");
}
