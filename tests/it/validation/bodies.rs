//! Body syntax and shape, body size, and hostile bodies.

use super::{
    complete, fixture, get, has_request_id, long, ok, patch, post, put, run, send, start, Key, Req,
    ANN,
};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// Body syntax and shape
// ---------------------------------------------------------------------------

/// Every endpoint that reads a JSON body: a request, a body it would
/// accept, and a string field it knows (so that a syntax error placed there
/// is met before anything else can be judged).
fn json_endpoints() -> Vec<(Req, &'static str, &'static str)> {
    vec![
        (
            post("/v2/user/authenticate").key(Key::Auth),
            r#"{"email":"ann@example.com","system":"Nope"}"#,
            "email",
        ),
        (
            post("/v2/system/authenticate/user").key(Key::Auth),
            r#"{"email":"ann@example.com","system":"CRM","pin":"123456"}"#,
            "email",
        ),
        (
            post("/v2/policies"),
            r#"{"name":"p9","steps":["pin"]}"#,
            "name",
        ),
        (
            put("/v2/policies/strict"),
            r#"{"name":"strict","steps":["pin"]}"#,
            "name",
        ),
        (
            post("/v2/systems"),
            r#"{"name":"S9","description":"d"}"#,
            "name",
        ),
        (
            patch("/v2/systems/CRM"),
            r#"{"name":"CRM","description":"d"}"#,
            "name",
        ),
        (
            post("/v2/users"),
            r#"{"email":"n9@example.com","phone":"+41790000009"}"#,
            "email",
        ),
        (patch(ANN), r#"{"name":"Ann","enabled":true}"#, "name"),
    ]
}

/// Bodies that are not JSON, derived from a good body and its first field.
fn malformed_bodies(good: &str, field: &str) -> Vec<Vec<u8>> {
    let cut = &good[..good.len() - 1];
    let mut v: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"{".to_vec(),
        b"[".to_vec(),
        b"not json at all".to_vec(),
        b"\x00\x00\x00".to_vec(),
        b"{,}".to_vec(),
        b"{:}".to_vec(),
        b"{\"\xff\xfe\": 1}".to_vec(),
        format!("{good} trailing").into_bytes(),
        format!("{good}}}").into_bytes(),
        cut.as_bytes().to_vec(),
        format!("{cut},}}").into_bytes(),
        good.replacen(':', " ", 1).into_bytes(),
        good.replace('"', "'").into_bytes(),
        format!("\u{feff}{good}").into_bytes(),
        format!("{{\"{field}\": \"\\ud800\"}}").into_bytes(),
        format!("{{\"{field}\": \"a\u{1}b\"}}").into_bytes(),
    ];
    let mut bad_utf8 = format!("{{\"{field}\": \"").into_bytes();
    bad_utf8.extend_from_slice(b"\xff\xfe\"}");
    v.push(bad_utf8);
    v
}

#[tokio::test]
async fn malformed_json_is_400_malformed_json() {
    let t = fixture().await;
    let mut cases = Vec::new();
    for (ep, good, field) in json_endpoints() {
        for b in malformed_bodies(good, field) {
            cases.push(
                ep.clone()
                    .raw(b)
                    .header("content-type", "application/json")
                    .expect(400, "malformed_json"),
            );
        }
        // Clients that forget the Content-Type get the same answer.
        cases.push(ep.clone().raw(&b"{"[..]).expect(400, "malformed_json"));
    }
    run(&t, cases).await;
    // Nothing was created or changed.
    for path in [
        "/v2/policies/p9",
        "/v2/systems/S9",
        "/v2/users/n9@example.com",
    ] {
        let a = send(&t, &get(path)).await.unwrap();
        assert_eq!(a.status, 404, "{path}: {}", a.text());
    }
    let ann = ok(&t, get(ANN)).await;
    assert_eq!(ann["name"], "", "{ann}");
}

/// Whether a body is malformed must not depend on where serde_json happens
/// to stop: JSON that is not JSON is a 400 even when a field error comes
/// first, and JSON that is well formed is a 422 even when serde_json calls
/// its complaint a syntax error.
#[tokio::test]
async fn json_errors_are_classified_by_syntax_not_by_parse_order() {
    let t = fixture().await;
    let cases = vec![
        // Not JSON (trailing garbage, a cut-off body, invalid UTF-8 and a
        // lone surrogate in a field that is ignored), yet a field error or
        // nothing at all is reported first.
        post("/v2/user/authenticate")
            .key(Key::Auth)
            .raw(r#"{"email":"ann@example.com"} trailing"#)
            .expect(400, "malformed_json"),
        post("/v2/policies")
            .raw(r#"{"email": "a@example.com","#)
            .expect(400, "malformed_json"),
        post("/v2/user/authenticate")
            .key(Key::Auth)
            .raw(&b"{\"x\":\"\xff\xfe\",\"email\":\"ann@example.com\",\"system\":\"Nope\"}"[..])
            .expect(400, "malformed_json"),
        post("/v2/user/authenticate")
            .key(Key::Auth)
            .raw(r#"{"x":"\ud800","email":"ann@example.com","system":"Nope"}"#)
            .expect(400, "malformed_json"),
        // Well-formed JSON with a wrong type in an enum field.
        post("/v2/policies")
            .json(json!({"name": "p", "steps": [null]}))
            .expect(422, "invalid_field"),
        post("/v2/policies")
            .json(json!({"name": "p", "steps": [5]}))
            .expect(422, "invalid_field"),
        put("/v2/policies/strict")
            .json(json!({"steps": [["pin"]]}))
            .expect(422, "invalid_field"),
        put("/v2/policies/strict")
            .json(json!({"steps": ["pin", 1]}))
            .expect(422, "invalid_field"),
    ];
    run(&t, cases).await;
}

#[tokio::test]
async fn missing_fields_and_wrong_types_are_422_invalid_field() {
    let t = fixture().await;
    let inv = |r: Req| r.expect(422, "invalid_field");
    let cases = vec![
        inv(start(json!({}))),
        inv(start(json!({"email": "ann@example.com"}))),
        inv(start(json!({"system": "CRM"}))),
        inv(start(json!({"email": 5, "system": "CRM"}))),
        inv(start(
            json!({"email": "ann@example.com", "system": ["CRM"]}),
        )),
        inv(start(json!({"email": null, "system": "CRM"}))),
        inv(complete(json!({"system": "CRM", "pin": "123456"}))),
        inv(complete(
            json!({"email": "ann@example.com", "pin": "123456"}),
        )),
        inv(complete(
            json!({"email": "ann@example.com", "system": "CRM", "pin": 123456}),
        )),
        inv(complete(
            json!({"email": "ann@example.com", "system": "CRM", "passwordless": true}),
        )),
        inv(complete(
            json!({"email": "ann@example.com", "system": "CRM", "pin": "1", "request_id": 7}),
        )),
        inv(post("/v2/users").json(json!({"email": "new@example.com"}))),
        inv(post("/v2/users").json(json!({"phone": "+41790000009"}))),
        inv(post("/v2/users").json(json!({"email": "new@example.com", "phone": 41790000009u64}))),
        inv(post("/v2/users")
            .json(json!({"email": "new@example.com", "phone": "+41790000009", "enabled": "yes"}))),
        inv(post("/v2/users")
            .json(json!({"email": "new@example.com", "phone": "+41790000009", "name": ["N"]}))),
        inv(patch(ANN).json(json!({"enabled": 1}))),
        inv(patch(ANN).json(json!({"phone": 41790000009u64}))),
        inv(post("/v2/systems").json(json!({}))),
        inv(post("/v2/systems").json(json!({"name": 7}))),
        inv(post("/v2/systems").json(json!({"name": "S", "policy": {"steps": ["pin"]}}))),
        inv(patch("/v2/systems/CRM").json(json!({"description": 5}))),
        inv(patch("/v2/systems/CRM").json(json!({"link_url": 5}))),
        inv(post("/v2/policies").json(json!({"name": "p"}))),
        inv(post("/v2/policies").json(json!({"name": "p", "steps": "pin"}))),
        inv(post("/v2/policies").json(json!({"name": "p", "steps": ["sms"]}))),
        inv(post("/v2/policies").json(json!({"name": "p", "steps": ["pin"], "pin_length": "6"}))),
        inv(post("/v2/policies").json(json!({"name": "p", "steps": ["pin"], "pin_length": 300}))),
        inv(post("/v2/policies")
            .json(json!({"name": "p", "steps": ["pin"], "pin_ttl_seconds": -1}))),
        inv(post("/v2/policies").json(json!({"name": "p", "steps": ["pin"], "max_attempts": 1.5}))),
        inv(put("/v2/policies/strict").json(json!({}))),
        inv(put("/v2/policies/strict").json(json!({"steps": ["pin"], "pin_length": []}))),
    ];
    run(&t, cases).await;
}

#[tokio::test]
async fn unknown_fields_on_management_bodies_are_422() {
    let t = fixture().await;
    let inv = |r: Req| r.expect(422, "invalid_field");
    let cases = vec![
        inv(post("/v2/users")
            .json(json!({"email": "new@example.com", "phone": "+41790000009", "role": "admin"}))),
        inv(patch(ANN).json(json!({"email": "other@example.com"}))),
        inv(patch(ANN).json(json!({"locked": false}))),
        inv(post("/v2/systems").json(json!({"name": "S", "owner": "me"}))),
        inv(patch("/v2/systems/CRM").json(json!({"enabled": false}))),
        inv(post("/v2/policies").json(json!({"name": "p", "steps": ["pin"], "context_rules": []}))),
        inv(put("/v2/policies/strict").json(json!({"steps": ["pin"], "builtin": true}))),
    ];
    run(&t, cases).await;
    // Nothing was created or changed on the way.
    let a = send(&t, &get("/v2/systems/S")).await.unwrap();
    assert_eq!(a.status, 404, "{}", a.text());
    let a = send(&t, &get("/v2/users/new@example.com")).await.unwrap();
    assert_eq!(a.status, 404, "{}", a.text());
    let strict = ok(&t, get("/v2/policies/strict")).await;
    assert_eq!(strict["steps"], json!(["passwordless", "pin"]));
}

// ---------------------------------------------------------------------------
// Size
// ---------------------------------------------------------------------------

#[tokio::test]
async fn bodies_over_64_kib_are_413() {
    let t = fixture().await;
    let pad = long(70 * 1024);
    let mut cases = vec![
        post("/v2/users")
            .json(json!({"email": "big@example.com", "phone": "+41790000009", "name": pad}))
            .expect(413, "payload_too_large"),
        patch(ANN)
            .json(json!({"name": pad}))
            .expect(413, "payload_too_large"),
        post("/v2/systems")
            .json(json!({"name": "Big", "description": pad}))
            .expect(413, "payload_too_large"),
        post("/v2/policies")
            .json(json!({"name": "big", "steps": ["pin"], "x": pad}))
            .expect(413, "payload_too_large"),
        start(json!({"email": "ann@example.com", "system": "CRM", "context": {"pad": pad}}))
            .expect(413, "payload_too_large"),
        complete(json!({"email": "ann@example.com", "system": "CRM", "pin": pad}))
            .expect(413, "payload_too_large"),
        // Not even JSON: the size is refused first.
        post("/v2/users")
            .raw(vec![b'{'; 65 * 1024 + 1])
            .expect(413, "payload_too_large"),
    ];
    // Just under the limit the body is read and judged on its content.
    cases.push(
        post("/v2/users")
            .json(json!({"email": "big@example.com", "phone": "+41790000009", "name": long(60 * 1024)}))
            .expect(422, "invalid_field")
            .field("name"),
    );
    run(&t, cases).await;
    let a = send(&t, &get("/v2/users/big@example.com")).await.unwrap();
    assert_eq!(a.status, 404, "{}", a.text());
}

// ---------------------------------------------------------------------------
// Hostile bodies: never a 5xx, always an answer
// ---------------------------------------------------------------------------

fn nested(open: &str, inner: &str, close: &str, depth: usize) -> Vec<u8> {
    let mut s = String::with_capacity((open.len() + close.len()) * depth + inner.len());
    for _ in 0..depth {
        s.push_str(open);
    }
    s.push_str(inner);
    for _ in 0..depth {
        s.push_str(close);
    }
    s.into_bytes()
}

fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let mut many_keys = String::from("{");
    for i in 0..5000 {
        many_keys.push_str(&format!("\"k{i}\":0,"));
    }
    many_keys.push_str("\"end\":0}");
    let mut deep_context =
        b"{\"email\":\"ann@example.com\",\"system\":\"CRM\",\"context\":".to_vec();
    deep_context.extend(nested("{\"a\":", "1", "}", 5000));
    deep_context.push(b'}');
    vec![
        ("empty", Vec::new()),
        ("array", b"[]".to_vec()),
        ("array of numbers", b"[1,2,3]".to_vec()),
        (
            "array of strings",
            b"[\"ann@example.com\",\"CRM\",\"x\",\"y\",\"z\",\"w\",\"v\"]".to_vec(),
        ),
        ("null", b"null".to_vec()),
        ("number", b"42".to_vec()),
        ("huge number", b"1e999".to_vec()),
        ("negative", b"-0".to_vec()),
        ("string", b"\"just a string\"".to_vec()),
        ("bool", b"true".to_vec()),
        ("duplicate keys", b"{\"a\":1,\"a\":2}".to_vec()),
        ("nested arrays", nested("[", "", "]", 20_000)),
        ("nested objects", nested("{\"a\":", "1", "}", 8000)),
        ("deep context", deep_context),
        ("many keys", many_keys.into_bytes()),
        ("invalid utf-8", b"\xff\xfe\xfd\xfc".to_vec()),
        (
            "invalid utf-8 in a string",
            b"{\"email\":\"\xc3\x28@example.com\",\"system\":\"CRM\"}".to_vec(),
        ),
        ("nul bytes", b"\x00\x00\x00\x00".to_vec()),
        (
            "lone surrogate",
            b"{\"email\":\"\\udc00@example.com\",\"system\":\"CRM\"}".to_vec(),
        ),
        ("html", b"<html><body>hi</body></html>".to_vec()),
        ("form", b"email=ann%40example.com&system=CRM".to_vec()),
    ]
}

/// Every endpoint that takes POST, PUT or PATCH. The ones that read no body
/// (grant, unlock, the link page) point at things that do not exist, so their
/// answer is a 4xx whatever the body.
fn writing_endpoints() -> Vec<Req> {
    vec![
        post("/v2/user/authenticate").key(Key::Auth),
        post("/v2/system/authenticate/user").key(Key::Auth),
        post("/l/not-a-token").key(Key::None),
        post("/v2/policies"),
        put("/v2/policies/strict"),
        put("/v2/policies/pin"),
        post("/v2/systems"),
        patch("/v2/systems/CRM"),
        put("/v2/systems/CRM/users/nobody@example.com"),
        post("/v2/users"),
        patch(ANN),
        post("/v2/users/nobody@example.com/unlock"),
        post("/v2/users/import"),
    ]
}

#[tokio::test]
async fn hostile_bodies_get_a_4xx_never_a_5xx() {
    let t = fixture().await;
    let mut failures = Vec::new();
    let mut tried = 0;
    for ep in writing_endpoints() {
        let is_import = ep.path == "/v2/users/import";
        let is_page = ep.path.starts_with("/l/");
        for (what, body) in hostile_bodies() {
            for ctype in [Some("application/json"), Some("text/plain"), None] {
                let mut r = ep.clone().raw(body.clone());
                if let Some(c) = ctype {
                    r = r.header("content-type", c);
                }
                tried += 1;
                let label = format!("{} {} <- {what} ({ctype:?})", r.method, r.path);
                let a = match send(&t, &r).await {
                    Ok(a) => a,
                    Err(e) => {
                        failures.push(format!("{label}: {e}"));
                        continue;
                    }
                };
                if !has_request_id(&a) {
                    failures.push(format!("{label}: no x-request-id"));
                }
                if is_import && what == "empty" {
                    // An empty CSV is a valid import of nothing.
                    let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
                    if a.status != 200 || v["created"] != 0 || v["updated"] != 0 {
                        failures.push(format!("{label}: {} {}", a.status, a.text()));
                    }
                    continue;
                }
                if !(400..500).contains(&a.status) {
                    failures.push(format!("{label}: {} {}", a.status, a.text()));
                    continue;
                }
                if is_page {
                    continue; // the link page answers in HTML
                }
                let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
                let e = &v["error"];
                if e["code"].as_str().is_none_or(|c| c.is_empty())
                    || e["message"].as_str().is_none_or(|m| m.is_empty())
                {
                    failures.push(format!(
                        "{label}: not the error format: {} {}",
                        a.status,
                        a.text()
                    ));
                }
            }
        }
        // A gzip body that is not gzip.
        let r = ep
            .clone()
            .raw(b"\x1f\x8b\x08\x00garbage".to_vec())
            .header("content-type", "application/json")
            .header("content-encoding", "gzip");
        tried += 1;
        match send(&t, &r).await {
            Ok(a) if (400..500).contains(&a.status) && has_request_id(&a) => {}
            Ok(a) => failures.push(format!(
                "{} {} <- bad gzip: {} {}",
                r.method,
                r.path,
                a.status,
                a.text()
            )),
            Err(e) => failures.push(format!("{} {} <- bad gzip: {e}", r.method, r.path)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} hostile requests went wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // And the server is still well.
    let ann = ok(&t, get(ANN)).await;
    assert_eq!(ann["phone"], "+41790000001");
    ok(&t, get("/v2/policies/strict")).await;
}
