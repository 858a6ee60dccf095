//! Unknown things and paths, conflicts, query parameters and CSV import.

use super::{
    check_error, delete, fixture, get, ok, patch, post, put, run, send, start, Key, Req, ANN,
};
use serde_json::json;

// ---------------------------------------------------------------------------
// Not found, conflicts, query parameters
// ---------------------------------------------------------------------------

#[tokio::test]
async fn unknown_things_are_404_with_their_code() {
    let t = fixture().await;
    let cases = vec![
        start(json!({"email": "ann@example.com", "system": "Nope"}))
            .expect(404, "system_not_found"),
        // An unknown system is named even for an unknown user.
        start(json!({"email": "nobody@example.com", "system": "Nope"}))
            .expect(404, "system_not_found"),
        post("/v2/systems")
            .json(json!({"name": "S", "policy": "nope"}))
            .expect(404, "policy_not_found"),
        patch("/v2/systems/CRM")
            .json(json!({"policy": "nope"}))
            .expect(404, "policy_not_found"),
        patch("/v2/systems/Nope")
            .json(json!({"description": "d"}))
            .expect(404, "system_not_found"),
        get("/v2/systems/Nope").expect(404, "system_not_found"),
        delete("/v2/systems/Nope").expect(404, "system_not_found"),
        get("/v2/systems/Nope/users").expect(404, "system_not_found"),
        get("/v2/policies/nope").expect(404, "policy_not_found"),
        put("/v2/policies/nope")
            .json(json!({"steps": ["pin"]}))
            .expect(404, "policy_not_found"),
        delete("/v2/policies/nope").expect(404, "policy_not_found"),
        get("/v2/users/nobody@example.com").expect(404, "user_not_found"),
        get("/v2/users/not-an-email").expect(404, "user_not_found"),
        patch("/v2/users/nobody@example.com")
            .json(json!({"name": "N"}))
            .expect(404, "user_not_found"),
        delete("/v2/users/nobody@example.com").expect(404, "user_not_found"),
        post("/v2/users/nobody@example.com/unlock").expect(404, "user_not_found"),
        put("/v2/systems/Nope/users/ann@example.com").expect(404, "system_not_found"),
        put("/v2/systems/CRM/users/nobody@example.com").expect(404, "user_not_found"),
        delete("/v2/systems/Other/users/ann@example.com").expect(404, "grant_not_found"),
        get("/v2/authentications/req_nope")
            .key(Key::Auth)
            .expect(404, "challenge_not_found"),
    ];
    run(&t, cases).await;
    let a = send(&t, &get("/v2/systems/S")).await.unwrap();
    assert_eq!(
        a.status,
        404,
        "a system with an unknown policy was created: {}",
        a.text()
    );
}

#[tokio::test]
async fn unknown_paths_and_methods_are_404_not_found() {
    let t = fixture().await;
    let mut cases = Vec::new();
    let unknown = [
        get("/"),
        get("/v2"),
        get("/v2/"),
        get("/v1/user/authenticate"),
        post("/v2/user/authenticat").json(json!({})),
        get("/v2/nothing"),
        get("/v2/users/ann@example.com/extra"),
        get("/v2/systems/CRM/users/ann@example.com/more"),
        get("/l/"),
        get("/l/a/b"),
        post("/v2/policies/strict/x").json(json!({})),
        // Known paths, unknown methods.
        delete("/v2/usage"),
        patch("/v2/policies/strict").json(json!({"steps": ["pin"]})),
        put("/v2/users").json(json!({})),
        get("/v2/user/authenticate"),
    ];
    for r in unknown {
        // With a key, without one, and with a wrong one: the route is what is missing.
        cases.push(r.clone().expect(404, "not_found"));
        cases.push(r.clone().key(Key::None).expect(404, "not_found"));
        cases.push(r.key(Key::Raw("fs_wrong")).expect(404, "not_found"));
    }
    run(&t, cases).await;
}

#[tokio::test]
async fn duplicates_builtins_and_policies_in_use_are_409() {
    let t = fixture().await;
    let cases = vec![
        post("/v2/systems")
            .json(json!({"name": "CRM"}))
            .expect(409, "system_exists"),
        post("/v2/systems")
            .json(json!({"name": "  CRM  ", "policy": "pin"}))
            .expect(409, "system_exists"),
        patch("/v2/systems/Other")
            .json(json!({"name": "CRM"}))
            .expect(409, "system_exists"),
        post("/v2/policies")
            .json(json!({"name": "strict", "steps": ["pin"]}))
            .expect(409, "policy_exists"),
        post("/v2/policies")
            .json(json!({"name": "pin", "steps": ["pin"]}))
            .expect(409, "policy_exists"),
        post("/v2/policies")
            .json(json!({"name": "passwordless", "steps": ["pin"]}))
            .expect(409, "policy_exists"),
        post("/v2/users")
            .json(json!({"email": "ann@example.com", "phone": "+41790000009"}))
            .expect(409, "user_exists"),
        post("/v2/users")
            .json(json!({"email": " ANN@Example.COM ", "phone": "+41790000009"}))
            .expect(409, "user_exists"),
        put("/v2/policies/pin")
            .json(json!({"steps": ["pin"], "pin_length": 8}))
            .expect(409, "builtin_policy"),
        put("/v2/policies/passwordless")
            .json(json!({"steps": ["passwordless"]}))
            .expect(409, "builtin_policy"),
        delete("/v2/policies/pin").expect(409, "builtin_policy"),
        delete("/v2/policies/passwordless").expect(409, "builtin_policy"),
        delete("/v2/policies/strict").expect(409, "policy_in_use"),
    ];
    run(&t, cases).await;
    // Nothing changed on the way.
    let pin = ok(&t, get("/v2/policies/pin")).await;
    assert_eq!(
        (pin["pin_length"].clone(), pin["builtin"].clone()),
        (json!(6), json!(true))
    );
    ok(&t, get("/v2/policies/strict")).await;
    let other = ok(&t, get("/v2/systems/Other")).await;
    assert_eq!(other["name"], "Other");
    let ann = ok(&t, get(ANN)).await;
    assert_eq!(ann["phone"], "+41790000001");
    // Once no system uses it, the policy can go.
    ok(
        &t,
        patch("/v2/systems/Vault").json(json!({"policy": "pin"})),
    )
    .await;
    let a = send(&t, &delete("/v2/policies/strict")).await.unwrap();
    assert_eq!(a.status, 204, "{}", a.text());
    // A policy nobody uses can go at once.
    let a = send(&t, &delete("/v2/policies/spare")).await.unwrap();
    assert_eq!(a.status, 204, "{}", a.text());
}

#[tokio::test]
async fn bad_query_parameters_are_422() {
    let t = fixture().await;
    let field = |path: &str, f: &'static str| get(path).expect(422, "invalid_field").field(f);
    let query = |path: &str| get(path).expect(422, "invalid_query");
    let cases = vec![
        field("/v2/users?limit=0", "limit"),
        field("/v2/users?limit=501", "limit"),
        query("/v2/users?limit=abc"),
        query("/v2/users?limit=-1"),
        query("/v2/users?limit=1.5"),
        query("/v2/users?limit=99999999999"),
        query("/v2/users?limit="),
        field("/v2/users?cursor=!!!", "cursor"),
        field("/v2/users?cursor=_w", "cursor"),
        field("/v2/users?cursor=a", "cursor"),
        query("/v2/users?sort=email"),
        query("/v2/users?limit=10&limit=20"),
        field("/v2/usage?month=2024-13", "month"),
        field("/v2/usage?month=2024-1", "month"),
        field("/v2/usage?month=2024-01-01", "month"),
        field("/v2/usage?month=abcd-ef", "month"),
        field("/v2/usage?month=", "month"),
        field("/v2/usage?month=2024%2F01", "month"),
        query("/v2/usage?months=2024-01"),
    ];
    run(&t, cases).await;
    // The good forms work.
    let page = ok(&t, get("/v2/users?limit=1")).await;
    assert_eq!(page["users"].as_array().map(Vec::len), Some(1), "{page}");
    let usage = ok(&t, get("/v2/usage?month=2024-02")).await;
    assert_eq!(usage["month"], "2024-02");
}

// ---------------------------------------------------------------------------
// CSV import
// ---------------------------------------------------------------------------

fn csv(body: &str) -> Req {
    post("/v2/users/import")
        .header("content-type", "text/csv")
        .raw(body.as_bytes().to_vec())
}

#[tokio::test]
async fn a_good_csv_import_creates_and_updates_users() {
    let t = fixture().await;
    let v = ok(
        &t,
        csv("email,phone,name\nc1@example.com,+41 79 000 01 01,C One\nC2@Example.com,0041790000102,\nann@example.com,+41790000111,Ann A\n"),
    )
    .await;
    assert_eq!(
        (v["created"].clone(), v["updated"].clone()),
        (json!(2), json!(1)),
        "{v}"
    );
    let c1 = ok(&t, get("/v2/users/c1@example.com")).await;
    assert_eq!(
        (c1["phone"].clone(), c1["name"].clone()),
        (json!("+41790000101"), json!("C One"))
    );
    let c2 = ok(&t, get("/v2/users/c2@example.com")).await;
    assert_eq!(c2["phone"], "+41790000102");
    let ann = ok(&t, get(ANN)).await;
    assert_eq!(ann["phone"], "+41790000111");
    // Without a header row too.
    let v = ok(&t, csv("c3@example.com,+41790000103\n")).await;
    assert_eq!(v["created"], 1, "{v}");
    ok(&t, get("/v2/users/c3@example.com")).await;
}

#[tokio::test]
async fn a_csv_with_one_bad_row_imports_nothing() {
    let t = fixture().await;
    let cases: Vec<(&str, usize, &str)> = vec![
        // (csv, bad line, field)
        (
            "email,phone,name\nd1@example.com,+41790000201,D One\nnot-an-email,+41790000202,X\nd3@example.com,+41790000203,D Three\nann@example.com,+41790000299,Changed\n",
            3,
            "email",
        ),
        (
            "d1@example.com,+41790000201,D One\nd2@example.com,0791234567,D Two\nann@example.com,+41790000299,Changed\n",
            2,
            "phone",
        ),
        (
            "email,phone,name\nd1@example.com,+41790000201\nann@example.com,+41790000299,Changed\nd4@example.com,+41790000204,D,extra\n",
            4,
            "row",
        ),
        (
            "email,phone,name\nd1@example.com,+41790000201\nann@example.com,+41790000299,Changed\nD1@example.com,+41790000205\n",
            4,
            "email",
        ),
    ];
    for (body, line, field) in cases {
        let a = send(&t, &csv(body)).await.unwrap();
        let v =
            check_error(&a, 422, "invalid_csv", None).unwrap_or_else(|e| panic!("{body:?}: {e}"));
        let rows = v["error"]["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("no rows array: {v}"));
        assert_eq!(rows.len(), 1, "{v}");
        assert_eq!(rows[0]["row"], line, "{v}");
        assert_eq!(rows[0]["field"], field, "{v}");
        assert!(
            rows[0]["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{v}"
        );
        // All or none: the good rows did not happen.
        for good in ["d1@example.com", "d3@example.com", "d4@example.com"] {
            let a = send(&t, &get(format!("/v2/users/{good}"))).await.unwrap();
            check_error(&a, 404, "user_not_found", None)
                .unwrap_or_else(|e| panic!("{body:?}: {good}: {e}"));
        }
        let ann = ok(&t, get(ANN)).await;
        assert_eq!(
            (ann["phone"].clone(), ann["name"].clone()),
            (json!("+41790000001"), json!("")),
            "{body:?}"
        );
    }
    // Every bad row is listed, not just the first.
    let a = send(
        &t,
        &csv("x,+41790000301\ny@example.com,12\nz@example.com,+41790000303,\u{7}\n"),
    )
    .await
    .unwrap();
    let v = check_error(&a, 422, "invalid_csv", None).unwrap();
    let lines: Vec<i64> = v["error"]["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["row"].as_i64())
        .collect();
    assert_eq!(lines, vec![1, 2, 3], "{v}");
    // Bytes that are not UTF-8 are a bad row, not a crash.
    let a = send(
        &t,
        &csv("").raw(b"e1@example.com,+41790000401\n\xff\xfe,+41790000402\n".to_vec()),
    )
    .await
    .unwrap();
    let v = check_error(&a, 422, "invalid_csv", None).unwrap();
    assert_eq!(v["error"]["rows"][0]["row"], 2, "{v}");
    let a = send(&t, &get("/v2/users/e1@example.com")).await.unwrap();
    check_error(&a, 404, "user_not_found", None).unwrap();
}
