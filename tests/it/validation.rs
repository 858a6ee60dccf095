//! Bad input, against the real server: every refusal is the documented 4xx
//! JSON error `{"error": {"code", "message", ...}}` with an `X-Request-Id`,
//! never a 500 and never a dropped connection.
//!
//! The tests are tables of cases; a table runs every case and then reports
//! all the cases that failed at once.

use crate::harness::TestApp;
use reqwest::header::{HeaderMap, CONTENT_TYPE};
use reqwest::Method;
use serde_json::{json, Value};

// ---------------------------------------------------------------------------
// The table machinery
// ---------------------------------------------------------------------------

/// Which `apikey` header a request carries.
#[derive(Clone, Copy, Debug)]
enum Key {
    Manage,
    Auth,
    None,
    Raw(&'static str),
}

#[derive(Clone, Debug)]
enum Body {
    None,
    Json(Value),
    Raw(Vec<u8>),
}

#[derive(Clone, Debug)]
struct Req {
    method: Method,
    path: String,
    key: Key,
    body: Body,
    headers: Vec<(&'static str, String)>,
}

/// A request with the manage key and no body; change it with the builders.
fn req(method: Method, path: impl Into<String>) -> Req {
    Req {
        method,
        path: path.into(),
        key: Key::Manage,
        body: Body::None,
        headers: Vec::new(),
    }
}

fn get(path: impl Into<String>) -> Req {
    req(Method::GET, path)
}
fn post(path: impl Into<String>) -> Req {
    req(Method::POST, path)
}
fn put(path: impl Into<String>) -> Req {
    req(Method::PUT, path)
}
fn patch(path: impl Into<String>) -> Req {
    req(Method::PATCH, path)
}
fn delete(path: impl Into<String>) -> Req {
    req(Method::DELETE, path)
}

/// The first login call, with the auth key.
fn start(body: Value) -> Req {
    post("/v2/user/authenticate").key(Key::Auth).json(body)
}

/// The second login call, with the auth key.
fn complete(body: Value) -> Req {
    post("/v2/system/authenticate/user")
        .key(Key::Auth)
        .json(body)
}

impl Req {
    fn key(mut self, k: Key) -> Self {
        self.key = k;
        self
    }
    fn json(mut self, v: Value) -> Self {
        self.body = Body::Json(v);
        self
    }
    fn raw(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.body = Body::Raw(b.into());
        self
    }
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }
    fn expect(self, status: u16, code: &'static str) -> Case {
        Case {
            req: self,
            status,
            code,
            field: None,
        }
    }
    fn describe(&self) -> String {
        let body = match &self.body {
            Body::None => String::new(),
            Body::Json(v) => v.to_string(),
            Body::Raw(b) => format!("{:?}", String::from_utf8_lossy(b)),
        };
        let body: String = if body.chars().count() > 100 {
            format!(
                "{}… ({} bytes)",
                body.chars().take(100).collect::<String>(),
                body.len()
            )
        } else {
            body
        };
        format!("{} {} [{:?}] {}", self.method, self.path, self.key, body)
    }
}

/// A request and the error it must get.
#[derive(Debug)]
struct Case {
    req: Req,
    status: u16,
    code: &'static str,
    /// For `invalid_field` from the service layer: the field at fault.
    field: Option<&'static str>,
}

impl Case {
    fn field(mut self, f: &'static str) -> Self {
        self.field = Some(f);
        self
    }
}

struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        let s = String::from_utf8_lossy(&self.body);
        s.chars().take(300).collect()
    }
}

async fn send(t: &TestApp, r: &Req) -> Result<Answer, String> {
    let mut b = t
        .client
        .request(r.method.clone(), format!("{}{}", t.base, r.path));
    b = match r.key {
        Key::Manage => b.header("apikey", &t.account.manage_key),
        Key::Auth => b.header("apikey", &t.account.auth_key),
        Key::None => b,
        Key::Raw(k) => b.header("apikey", k),
    };
    b = match &r.body {
        Body::None => b,
        Body::Json(v) => b
            .header(CONTENT_TYPE, "application/json")
            .body(serde_json::to_vec(v).map_err(|e| e.to_string())?),
        Body::Raw(bytes) => b.body(bytes.clone()),
    };
    for (name, value) in &r.headers {
        b = b.header(*name, value);
    }
    let resp = b
        .timeout(std::time::Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| format!("no answer: {e}"))?;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .bytes()
        .await
        .map_err(|e| format!("{status} but the body broke off: {e}"))?
        .to_vec();
    Ok(Answer {
        status,
        headers,
        body,
    })
}

fn has_request_id(a: &Answer) -> bool {
    a.headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.is_empty())
}

/// Checks an answer against the documented error format.
fn check_error(a: &Answer, status: u16, code: &str, field: Option<&str>) -> Result<Value, String> {
    let mut problems = Vec::new();
    if a.status != status {
        problems.push(format!("status {} (want {status})", a.status));
    }
    if !has_request_id(a) {
        problems.push("no x-request-id header".into());
    }
    let ctype = a
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ctype.starts_with("application/json") {
        problems.push(format!("content-type {ctype:?}"));
    }
    let v: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
    let e = &v["error"];
    if e["code"] != code {
        problems.push(format!("code {} (want {code})", e["code"]));
    }
    if e["message"].as_str().is_none_or(|m| m.trim().is_empty()) {
        problems.push(format!(
            "message {} is not a non-empty string",
            e["message"]
        ));
    }
    if let Some(f) = field {
        if e["field"] != f {
            problems.push(format!("field {} (want {f})", e["field"]));
        }
    }
    if problems.is_empty() {
        Ok(v)
    } else {
        Err(format!("{}; body: {}", problems.join(", "), a.text()))
    }
}

async fn run_case(t: &TestApp, c: &Case) -> Result<Value, String> {
    let a = send(t, &c.req).await?;
    check_error(&a, c.status, c.code, c.field)
}

/// Runs every case; fails once, listing every case that went wrong.
async fn run(t: &TestApp, cases: Vec<Case>) {
    assert!(!cases.is_empty());
    let mut failures = Vec::new();
    for c in &cases {
        if let Err(e) = run_case(t, c).await {
            failures.push(format!("  {}\n    -> {e}", c.req.describe()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// The status (and the body, for messages) of a request that must work.
async fn ok(t: &TestApp, r: Req) -> Value {
    let a = send(t, &r)
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", r.describe()));
    assert!(
        (200..300).contains(&a.status),
        "{}: {} {}",
        r.describe(),
        a.status,
        a.text()
    );
    serde_json::from_slice(&a.body).unwrap_or(Value::Null)
}

/// An app with: the system `CRM` (policy `pin`) granted to ann@example.com;
/// the custom policy `strict` used by the system `Vault`; the policy `spare`
/// used by nothing; the system `Other`.
async fn fixture() -> TestApp {
    let t = TestApp::spawn().await;
    t.system_with_user("CRM", "pin", "ann@example.com", "+41790000001")
        .await;
    t.setup(
        Method::POST,
        "/v2/policies",
        json!({"name": "strict", "steps": ["passwordless", "pin"]}),
    )
    .await;
    t.setup(
        Method::POST,
        "/v2/policies",
        json!({"name": "spare", "steps": ["pin"]}),
    )
    .await;
    t.setup(
        Method::POST,
        "/v2/systems",
        json!({"name": "Vault", "policy": "strict"}),
    )
    .await;
    t.setup(Method::POST, "/v2/systems", json!({"name": "Other"}))
        .await;
    t
}

fn long(n: usize) -> String {
    "x".repeat(n)
}

/// A syntactically fine address of 267 characters (the limit is 254).
fn long_email() -> String {
    let label = "b".repeat(63);
    format!("{}@{label}.{label}.{label}.example.ch", "a".repeat(64))
}

const ANN: &str = "/v2/users/ann@example.com";

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

// ---------------------------------------------------------------------------
// Not found, conflicts, query parameters, keys, size
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
