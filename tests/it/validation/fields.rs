//! Field rules: lengths, emails, phones, names, links, policies, the
//! second login call and the context.

use super::{
    complete, fixture, get, long, long_email, ok, patch, post, put, run, send, start, Req, ANN,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Field rules
// ---------------------------------------------------------------------------

#[tokio::test]
async fn over_long_strings_are_422_with_the_field() {
    let t = fixture().await;
    let inv = |r: Req, f: &'static str| r.expect(422, "invalid_field").field(f);
    let phone = "+41790000009";
    let big_context = json!({"pad": long(4100)});
    let cases = vec![
        inv(post("/v2/users").json(json!({"email": long_email(), "phone": phone})), "email"),
        inv(post("/v2/users").json(json!({"email": "new@example.com", "phone": phone, "name": long(201)})), "name"),
        inv(post("/v2/users").json(json!({"email": "new@example.com", "phone": phone, "name": "é".repeat(201)})), "name"),
        inv(post("/v2/users").json(json!({"email": "new@example.com", "phone": format!("+41{}", "1".repeat(40))})), "phone"),
        inv(patch(ANN).json(json!({"name": long(201)})), "name"),
        inv(post("/v2/systems").json(json!({"name": long(101)})), "system"),
        inv(post("/v2/systems").json(json!({"name": "ü".repeat(101)})), "system"),
        inv(post("/v2/systems").json(json!({"name": "S", "description": long(1001)})), "description"),
        inv(post("/v2/systems").json(json!({"name": "S", "link_url": format!("https://app.example/{}?t={{token}}", long(1000))})), "link_url"),
        inv(patch("/v2/systems/CRM").json(json!({"name": long(101)})), "system"),
        inv(patch("/v2/systems/CRM").json(json!({"description": long(1001)})), "description"),
        inv(post("/v2/policies").json(json!({"name": long(101), "steps": ["pin"]})), "policy"),
        inv(start(json!({"email": long_email(), "system": "CRM"})), "email"),
        inv(start(json!({"email": "ann@example.com", "system": long(101)})), "system"),
        inv(start(json!({"email": "ann@example.com", "system": "CRM", "context": big_context})), "context"),
        inv(complete(json!({"email": long_email(), "system": "CRM", "pin": "123456"})), "email"),
        inv(complete(json!({"email": "ann@example.com", "system": long(101), "pin": "123456"})), "system"),
        inv(complete(json!({"email": "ann@example.com", "system": "CRM", "pin": "1".repeat(2049)})), "pin"),
        inv(complete(json!({"email": "ann@example.com", "system": "CRM", "passwordless": long(2049)})), "passwordless"),
        inv(complete(json!({"email": "ann@example.com", "system": "CRM", "pin": "123456", "request_id": long(65)})), "request_id"),
        inv(get(format!("/v2/users?q={}", long(255))), "q"),
    ];
    run(&t, cases).await;
    // The limits themselves are accepted.
    ok(
        &t,
        post("/v2/systems").json(json!({"name": "ü".repeat(100), "description": long(1000)})),
    )
    .await;
    ok(&t, patch(ANN).json(json!({"name": "é".repeat(200)}))).await;
    ok(
        &t,
        post("/v2/policies").json(json!({"name": long(100), "steps": ["pin"]})),
    )
    .await;
}

#[tokio::test]
async fn bad_emails_and_phones_are_422_with_the_field() {
    let t = fixture().await;
    let bad_emails = [
        "",
        "   ",
        "no-at",
        "@example.com",
        "a@",
        "a@localhost",
        "a b@example.com",
        "a@-x.ch",
        "a@x-.ch",
        "a@x..ch",
        "a@@example.com",
        "a\u{0}@example.com",
        "a\n@example.com",
    ];
    let bad_phones = [
        "",
        "0791234567",
        "41791234567",
        "+0791234567",
        "0041",
        "+41abc",
        "+123",
        "+1234567890123456",
        "+41 79 123 45 67 x",
        "+41\u{0}791234567",
        "+٤١٧٩١٢٣٤٥٦٧",
    ];
    let mut cases = Vec::new();
    for e in bad_emails {
        cases.push(
            post("/v2/users")
                .json(json!({"email": e, "phone": "+41790000009"}))
                .expect(422, "invalid_field")
                .field("email"),
        );
        cases.push(
            start(json!({"email": e, "system": "CRM"}))
                .expect(422, "invalid_field")
                .field("email"),
        );
        cases.push(
            complete(json!({"email": e, "system": "CRM", "pin": "123456"}))
                .expect(422, "invalid_field")
                .field("email"),
        );
    }
    for p in bad_phones {
        cases.push(
            post("/v2/users")
                .json(json!({"email": "new@example.com", "phone": p}))
                .expect(422, "invalid_field")
                .field("phone"),
        );
        cases.push(
            patch(ANN)
                .json(json!({"phone": p}))
                .expect(422, "invalid_field")
                .field("phone"),
        );
    }
    // Control characters in names are refused too.
    cases.push(
        patch(ANN)
            .json(json!({"name": "Ann\u{7}"}))
            .expect(422, "invalid_field")
            .field("name"),
    );
    cases.push(
        post("/v2/systems")
            .json(json!({"name": "a/b"}))
            .expect(422, "invalid_field")
            .field("system"),
    );
    cases.push(
        post("/v2/systems")
            .json(json!({"name": "  "}))
            .expect(422, "invalid_field")
            .field("system"),
    );
    cases.push(
        post("/v2/systems")
            .json(json!({"name": "S", "link_url": "https://app.example/login"}))
            .expect(422, "invalid_field")
            .field("link_url"),
    );
    cases.push(
        post("/v2/systems")
            .json(json!({"name": "S", "link_url": "javascript:alert({token})"}))
            .expect(422, "invalid_field")
            .field("link_url"),
    );
    cases.push(
        patch("/v2/systems/CRM")
            .json(json!({"link_url": "https://x.example/{token}/{token}"}))
            .expect(422, "invalid_field")
            .field("link_url"),
    );
    run(&t, cases).await;
    // Nothing was created, and ann's number is what it was.
    let a = send(&t, &get("/v2/users/new@example.com")).await.unwrap();
    assert_eq!(a.status, 404, "{}", a.text());
    let ann = ok(&t, get(ANN)).await;
    assert_eq!(ann["phone"], "+41790000001");
}

#[tokio::test]
async fn invalid_policies_are_422_with_the_field() {
    let t = fixture().await;
    let mut cases = Vec::new();
    let bad: Vec<(Value, &'static str)> = vec![
        (json!({"steps": []}), "steps"),
        (json!({"steps": ["pin", "passwordless"]}), "steps"),
        (json!({"steps": ["pin", "pin"]}), "steps"),
        (json!({"steps": ["passwordless", "passwordless"]}), "steps"),
        (json!({"steps": ["passwordless", "pin", "pin"]}), "steps"),
        (json!({"steps": ["pin"], "pin_length": 3}), "pin_length"),
        (json!({"steps": ["pin"], "pin_length": 11}), "pin_length"),
        (json!({"steps": ["pin"], "pin_length": 0}), "pin_length"),
        (
            json!({"steps": ["pin"], "pin_ttl_seconds": 29}),
            "pin_ttl_seconds",
        ),
        (
            json!({"steps": ["pin"], "pin_ttl_seconds": 601}),
            "pin_ttl_seconds",
        ),
        (
            json!({"steps": ["passwordless"], "link_ttl_seconds": 0}),
            "link_ttl_seconds",
        ),
        (
            json!({"steps": ["passwordless"], "link_ttl_seconds": 4294967295u64}),
            "link_ttl_seconds",
        ),
        (json!({"steps": ["pin"], "max_attempts": 0}), "max_attempts"),
        (
            json!({"steps": ["pin"], "max_attempts": 21}),
            "max_attempts",
        ),
    ];
    for (spec, field) in bad {
        let mut with_name = spec.clone();
        with_name["name"] = json!("fresh");
        cases.push(
            post("/v2/policies")
                .json(with_name)
                .expect(422, "invalid_field")
                .field(field),
        );
        cases.push(
            put("/v2/policies/strict")
                .json(spec)
                .expect(422, "invalid_field")
                .field(field),
        );
    }
    // POST needs a name; PUT cannot rename.
    cases.push(
        post("/v2/policies")
            .json(json!({"steps": ["pin"]}))
            .expect(422, "invalid_field")
            .field("policy"),
    );
    cases.push(
        post("/v2/policies")
            .json(json!({"name": "a/b", "steps": ["pin"]}))
            .expect(422, "invalid_field")
            .field("policy"),
    );
    cases.push(
        put("/v2/policies/strict")
            .json(json!({"name": "renamed", "steps": ["pin"]}))
            .expect(422, "invalid_field")
            .field("name"),
    );
    run(&t, cases).await;
    let a = send(&t, &get("/v2/policies/fresh")).await.unwrap();
    assert_eq!(a.status, 404, "{}", a.text());
    let strict = ok(&t, get("/v2/policies/strict")).await;
    assert_eq!(strict["steps"], json!(["passwordless", "pin"]));
    assert_eq!(strict["pin_length"], 6);
}

#[tokio::test]
async fn complete_needs_exactly_one_secret() {
    let t = fixture().await;
    let base = |extra: Value| {
        let mut b = json!({"email": "ann@example.com", "system": "CRM"});
        for (k, v) in extra.as_object().into_iter().flatten() {
            b[k] = v.clone();
        }
        complete(b)
    };
    let cases = vec![
        base(json!({"pin": "123456", "passwordless": "abc"}))
            .expect(422, "invalid_field")
            .field("pin"),
        base(json!({})).expect(422, "invalid_field").field("pin"),
        base(json!({"pin": null, "passwordless": null}))
            .expect(422, "invalid_field")
            .field("pin"),
        base(json!({"pin": ""}))
            .expect(422, "invalid_field")
            .field("pin"),
        base(json!({"passwordless": ""}))
            .expect(422, "invalid_field")
            .field("passwordless"),
        // Well formed, but nothing is in progress.
        base(json!({"pin": "123456"})).expect(404, "challenge_not_found"),
        base(json!({"pin": "123456", "request_id": "req_nope"})).expect(404, "challenge_not_found"),
        complete(json!({"email": "ann@example.com", "system": "Nope", "pin": "123456"}))
            .expect(404, "challenge_not_found"),
    ];
    run(&t, cases).await;
}

#[tokio::test]
async fn context_must_be_a_json_object_of_at_most_4_kib() {
    let t = fixture().await;
    let with = |c: Value| start(json!({"email": "ann@example.com", "system": "CRM", "context": c}));
    let mut cases = Vec::new();
    for c in [
        json!([]),
        json!(["ip", "10.0.0.1"]),
        json!("10.0.0.1"),
        json!(42),
        json!(true),
        json!({"pad": long(4096)}),
    ] {
        cases.push(with(c).expect(422, "invalid_field").field("context"));
    }
    run(&t, cases).await;
    // A plain object is fine (and only now does an SMS go out).
    let v = ok(
        &t,
        with(json!({"ip": "10.0.0.1", "device": {"os": "linux"}})),
    )
    .await;
    assert_eq!(v["status"], "pending", "{v}");
}
