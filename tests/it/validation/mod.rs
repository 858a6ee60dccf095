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

mod bodies;
mod fields;
mod keys;
mod resources;

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
