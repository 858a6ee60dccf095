//! Users carry `groups`, systems carry `sensitivity` (the context that
//! policy rules read), through the management API and the CSV import.

use crate::harness::{json, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

const ANN: &str = "/v2/users/ann@example.com";

async fn send(t: &TestApp, method: Method, path: &str, body: Value) -> (u16, Value) {
    json(t.manage(method, path).json(&body).send().await.unwrap()).await
}

async fn get(t: &TestApp, path: &str) -> Value {
    let (s, v) = json(t.manage(Method::GET, path).send().await.unwrap()).await;
    assert_eq!(s, 200, "{path}: {v}");
    v
}

async fn import(t: &TestApp, csv: &str) -> (u16, Value) {
    json(
        t.manage(Method::POST, "/v2/users/import")
            .header("content-type", "text/csv")
            .body(csv.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A 422 `invalid_field` naming `field`.
fn assert_invalid(what: &str, (s, v): (u16, Value), field: &str) {
    assert_eq!(s, 422, "{what}: {v}");
    assert_eq!(v["error"]["code"], "invalid_field", "{what}: {v}");
    assert_eq!(v["error"]["field"], field, "{what}: {v}");
}

#[tokio::test]
async fn user_groups_are_created_read_back_and_replaced() {
    let t = TestApp::spawn().await;
    let (s, v) = send(
        &t,
        Method::POST,
        "/v2/users",
        json!({"email": "ann@example.com", "phone": "+41790000001",
               "groups": [" Staff ", "ops", "STAFF", "Finance"]}),
    )
    .await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["groups"], json!(["Staff", "ops", "Finance"]), "{v}");
    assert_eq!(
        get(&t, ANN).await["groups"],
        json!(["Staff", "ops", "Finance"])
    );

    // Without `groups` a user has none; the list pages show them too.
    t.setup(
        Method::POST,
        "/v2/users",
        json!({"email": "bob@example.com", "phone": "+41790000002"}),
    )
    .await;
    assert_eq!(
        get(&t, "/v2/users/bob@example.com").await["groups"],
        json!([])
    );
    let page = get(&t, "/v2/users").await;
    assert_eq!(
        page["users"][0]["groups"],
        json!(["Staff", "ops", "Finance"])
    );
    assert_eq!(page["users"][1]["groups"], json!([]));

    // PATCH replaces the whole list; a PATCH without it keeps it.
    let v = t
        .setup(Method::PATCH, ANN, json!({"groups": ["admins"]}))
        .await;
    assert_eq!(v["groups"], json!(["admins"]));
    let v = t.setup(Method::PATCH, ANN, json!({"name": "Ann"})).await;
    assert_eq!(v["groups"], json!(["admins"]));
    let v = t.setup(Method::PATCH, ANN, json!({"groups": []})).await;
    assert_eq!(v["groups"], json!([]));

    // Granted users carry their groups too.
    t.setup(Method::POST, "/v2/systems", json!({"name": "CRM"}))
        .await;
    t.setup(Method::PATCH, ANN, json!({"groups": ["staff"]}))
        .await;
    t.setup(
        Method::PUT,
        "/v2/systems/CRM/users/ann@example.com",
        Value::Null,
    )
    .await;
    let granted = get(&t, "/v2/systems/CRM/users").await;
    assert_eq!(granted[0]["groups"], json!(["staff"]), "{granted}");
}

#[tokio::test]
async fn invalid_groups_are_422_naming_the_field() {
    let t = TestApp::spawn().await;
    t.setup(
        Method::POST,
        "/v2/users",
        json!({"email": "ann@example.com", "phone": "+41790000001", "groups": ["keep"]}),
    )
    .await;
    let many: Vec<String> = (0..65).map(|i| format!("g{i}")).collect();
    let bad: Vec<(&str, Value)> = vec![
        ("control character", json!(["ok", "a\u{7}b"])),
        ("newline", json!(["a\nb"])),
        ("too long", json!(["x".repeat(101)])),
        ("semicolon", json!(["a;b"])),
        ("comma", json!(["a,b"])),
        ("empty", json!(["  "])),
        ("65 groups", json!(many)),
        ("a string", json!("staff")),
        ("numbers", json!([1, 2])),
        ("nested", json!([["staff"]])),
        ("null inside", json!(["staff", null])),
        ("an object", json!({"staff": true})),
    ];
    for (what, groups) in &bad {
        let create = send(
            &t,
            Method::POST,
            "/v2/users",
            json!({"email": "new@example.com", "phone": "+41790000002", "groups": groups}),
        )
        .await;
        assert_invalid(&format!("create, {what}"), create, "groups");
        let update = send(&t, Method::PATCH, ANN, json!({"groups": groups})).await;
        assert_invalid(&format!("patch, {what}"), update, "groups");
    }
    // Nothing was created or changed.
    let (s, _) = json(
        t.manage(Method::GET, "/v2/users/new@example.com")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(get(&t, ANN).await["groups"], json!(["keep"]));
    // The limits themselves are allowed.
    let at_limit: Vec<String> = (0..64).map(|i| format!("g{i}")).collect();
    let v = t
        .setup(Method::PATCH, ANN, json!({"groups": at_limit}))
        .await;
    assert_eq!(v["groups"].as_array().map(Vec::len), Some(64));
    let v = t
        .setup(Method::PATCH, ANN, json!({"groups": ["é".repeat(100)]}))
        .await;
    assert_eq!(v["groups"][0], "é".repeat(100));
}

#[tokio::test]
async fn csv_import_sets_keeps_and_clears_groups() {
    let t = TestApp::spawn().await;
    t.setup(
        Method::POST,
        "/v2/users",
        json!({"email": "ann@example.com", "phone": "+41790000001", "name": "Ann",
               "groups": ["old"]}),
    )
    .await;

    // Two groups in one cell, and an empty cell that clears them.
    let (s, v) = import(
        &t,
        "email,phone,name,groups\n\
         bob@example.com,+41790000002,Bob,staff; ops\n\
         ann@example.com,+41790000001,Ann,\n",
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["created"].clone(), v["updated"].clone()),
        (json!(1), json!(1))
    );
    let bob = get(&t, "/v2/users/bob@example.com").await;
    assert_eq!(bob["groups"], json!(["staff", "ops"]));
    assert_eq!(get(&t, ANN).await["groups"], json!([]));

    // A header may name groups without name: names are kept.
    let (s, v) = import(
        &t,
        "email,phone,groups\nann@example.com,+41790000001,admins;Staff;ADMINS\n",
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let ann = get(&t, ANN).await;
    assert_eq!(ann["groups"], json!(["admins", "Staff"]));
    assert_eq!(ann["name"], "Ann");

    // Without a groups column (with or without a header) groups are kept.
    for csv in [
        "email,phone,name\nann@example.com,+41790000011,Ann A\nbob@example.com,+41790000012,Bob B\n",
        "ann@example.com,+41790000021,Ann B\nbob@example.com,+41790000022\n",
    ] {
        let (s, v) = import(&t, csv).await;
        assert_eq!(s, 200, "{csv:?}: {v}");
        assert_eq!(get(&t, ANN).await["groups"], json!(["admins", "Staff"]));
        let bob = get(&t, "/v2/users/bob@example.com").await;
        assert_eq!(bob["groups"], json!(["staff", "ops"]), "{csv:?}");
    }
    // Without a header the fourth column is groups.
    let (s, v) = import(&t, "carl@example.com,+41790000003,Carl,field\n").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        get(&t, "/v2/users/carl@example.com").await["groups"],
        json!(["field"])
    );
}

#[tokio::test]
async fn a_bad_groups_cell_is_that_rows_error_and_imports_nothing() {
    let t = TestApp::spawn().await;
    t.setup(
        Method::POST,
        "/v2/users",
        json!({"email": "ann@example.com", "phone": "+41790000001", "groups": ["keep"]}),
    )
    .await;
    let long = "x".repeat(101);
    let cases = [
        (
            "email,phone,name,groups\nd1@example.com,+41790000201,D,staff\nann@example.com,+41790000001,Ann,a;;b\n"
                .to_string(),
            3,
            "groups",
        ),
        (
            format!("ann@example.com,+41790000001,Ann,new\nd1@example.com,+41790000201,D,{long}\n"),
            2,
            "groups",
        ),
        (
            "email,phone,groups\nd1@example.com,+41790000201,\"a,b\"\nann@example.com,+41790000001,new\n"
                .to_string(),
            2,
            "groups",
        ),
        (
            format!(
                "email,phone,groups\nann@example.com,+41790000001,new\nd1@example.com,+41790000201,{}\n",
                (0..65).map(|i| format!("g{i}")).collect::<Vec<_>>().join(";")
            ),
            3,
            "groups",
        ),
        // An unknown header column is refused rather than guessed.
        (
            "email,phone,group\nann@example.com,+41790000001,new\n".to_string(),
            1,
            "row",
        ),
    ];
    for (csv, line, field) in cases {
        let (s, v) = import(&t, &csv).await;
        assert_eq!(s, 422, "{csv:?}: {v}");
        assert_eq!(v["error"]["code"], "invalid_csv", "{v}");
        let rows = v["error"]["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 1, "{csv:?}: {v}");
        assert_eq!(rows[0]["row"], line, "{csv:?}: {v}");
        assert_eq!(rows[0]["field"], field, "{csv:?}: {v}");
        // All or none.
        let (s, _) = json(
            t.manage(Method::GET, "/v2/users/d1@example.com")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(s, 404, "{csv:?}");
        assert_eq!(get(&t, ANN).await["groups"], json!(["keep"]), "{csv:?}");
    }
}

#[tokio::test]
async fn system_sensitivity_defaults_to_0_and_is_0_to_3() {
    let t = TestApp::spawn().await;
    let v = t
        .setup(Method::POST, "/v2/systems", json!({"name": "Wiki"}))
        .await;
    assert_eq!(v["sensitivity"], 0, "{v}");
    let v = t
        .setup(
            Method::POST,
            "/v2/systems",
            json!({"name": "Payroll", "policy": "pin", "sensitivity": 3}),
        )
        .await;
    assert_eq!(v["sensitivity"], 3, "{v}");
    assert_eq!(get(&t, "/v2/systems/Payroll").await["sensitivity"], 3);
    let all = get(&t, "/v2/systems").await;
    let of = |name: &str| {
        all.as_array()
            .unwrap()
            .iter()
            .find(|s| s["name"] == name)
            .map(|s| s["sensitivity"].clone())
    };
    assert_eq!(
        (of("Payroll"), of("Wiki")),
        (Some(json!(3)), Some(json!(0)))
    );

    // PATCH changes it; a PATCH without it keeps it.
    let v = t
        .setup(Method::PATCH, "/v2/systems/Wiki", json!({"sensitivity": 2}))
        .await;
    assert_eq!(v["sensitivity"], 2);
    let v = t
        .setup(
            Method::PATCH,
            "/v2/systems/Wiki",
            json!({"description": "Team wiki"}),
        )
        .await;
    assert_eq!(v["sensitivity"], 2);
    let v = t
        .setup(Method::PATCH, "/v2/systems/Wiki", json!({"sensitivity": 0}))
        .await;
    assert_eq!(v["sensitivity"], 0);

    for bad in [
        json!(4),
        json!(-1),
        json!("x"),
        json!(256),
        json!(1.5),
        json!([1]),
        json!(true),
    ] {
        let create = send(
            &t,
            Method::POST,
            "/v2/systems",
            json!({"name": "New", "sensitivity": bad}),
        )
        .await;
        assert_invalid(&format!("create {bad}"), create, "sensitivity");
        let update = send(
            &t,
            Method::PATCH,
            "/v2/systems/Payroll",
            json!({"sensitivity": bad}),
        )
        .await;
        assert_invalid(&format!("patch {bad}"), update, "sensitivity");
    }
    let (s, _) = json(
        t.manage(Method::GET, "/v2/systems/New")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 404);
    assert_eq!(get(&t, "/v2/systems/Payroll").await["sensitivity"], 3);
}
