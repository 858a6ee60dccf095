//! The OpenAPI document at `/v2/openapi.json` is generated from the handlers:
//! it must list every endpoint of the product, and everything it lists must
//! really be routed.

use crate::harness::TestApp;
use reqwest::Method;
use serde_json::Value;

/// Every endpoint of the product spec: (method, path template).
const PRODUCT_ENDPOINTS: &[(&str, &str)] = &[
    ("post", "/v2/user/authenticate"),
    ("post", "/v2/system/authenticate/user"),
    ("get", "/v2/authentications/{request_id}"),
    ("get", "/l/{token}"),
    ("post", "/l/{token}"),
    ("get", "/v2/policies"),
    ("post", "/v2/policies"),
    ("get", "/v2/policies/{name}"),
    ("put", "/v2/policies/{name}"),
    ("delete", "/v2/policies/{name}"),
    ("post", "/v2/policies/{name}/evaluate"),
    ("get", "/v2/jwks.json"),
    ("get", "/v2/systems"),
    ("post", "/v2/systems"),
    ("get", "/v2/systems/{name}"),
    ("patch", "/v2/systems/{name}"),
    ("delete", "/v2/systems/{name}"),
    ("put", "/v2/systems/{name}/users/{email}"),
    ("delete", "/v2/systems/{name}/users/{email}"),
    ("get", "/v2/systems/{name}/users"),
    ("get", "/v2/users"),
    ("post", "/v2/users"),
    ("get", "/v2/users/{email}"),
    ("patch", "/v2/users/{email}"),
    ("delete", "/v2/users/{email}"),
    ("post", "/v2/users/{email}/unlock"),
    ("get", "/v2/users/{email}/systems"),
    ("post", "/v2/users/import"),
    ("get", "/v2/users/export"),
    ("get", "/v2/sms/outbox"),
    ("get", "/v2/usage"),
    ("get", "/v2/audit"),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
];

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

async fn document(t: &TestApp) -> Value {
    // No key: the document is public.
    let r = t
        .client
        .get(format!("{}/v2/openapi.json", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ctype = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Every (method, path) the document lists, and its operation object.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    let mut ops = Vec::new();
    for (path, item) in paths {
        let item = item
            .as_object()
            .unwrap_or_else(|| panic!("{path}: not an object"));
        for (key, op) in item {
            if METHODS.contains(&key.as_str()) {
                ops.push((key.clone(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

/// The path with every `{param}` replaced by a dummy value.
fn fill(template: &str) -> String {
    template
        .split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                "dummy-value"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn the_document_is_openapi_3() {
    let t = TestApp::spawn().await;
    let doc = document(&t).await;
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3."), "openapi = {:?}", doc["openapi"]);
    assert!(
        doc["info"]["title"].as_str().is_some_and(|s| !s.is_empty()),
        "{}",
        doc["info"]
    );
    assert!(
        doc["info"]["version"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{}",
        doc["info"]
    );
    assert!(doc["paths"].as_object().is_some_and(|p| !p.is_empty()));
    // The key scheme the operations refer to is declared.
    assert_eq!(
        doc["components"]["securitySchemes"]["apikey"]["type"],
        "apiKey"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["apikey"]["in"],
        "header"
    );
    assert_eq!(
        doc["components"]["securitySchemes"]["apikey"]["name"],
        "apikey"
    );
    // Every operation states its responses.
    for (method, path, op) in operations(&doc) {
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} has no responses"
        );
    }
}

#[tokio::test]
async fn every_product_endpoint_is_documented() {
    let t = TestApp::spawn().await;
    let doc = document(&t).await;
    let missing: Vec<String> = PRODUCT_ENDPOINTS
        .iter()
        .filter(|(m, p)| !doc["paths"][*p][*m].is_object())
        .map(|(m, p)| format!("{} {p}", m.to_uppercase()))
        .collect();
    let documented: Vec<String> = operations(&doc)
        .into_iter()
        .map(|(m, p, _)| format!("{} {p}", m.to_uppercase()))
        .collect();
    assert!(
        missing.is_empty(),
        "not in the document: {missing:?}\ndocumented: {documented:?}"
    );
    // The path parameters of each documented template are declared.
    for (method, path) in PRODUCT_ENDPOINTS {
        let op = &doc["paths"][*path][*method];
        let declared: Vec<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        for seg in path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(
                    declared.contains(&name),
                    "{method} {path}: path parameter {name} not declared ({declared:?})"
                );
            }
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let t = TestApp::spawn().await;
    let doc = document(&t).await;
    let ops = operations(&doc);
    assert!(
        ops.len() >= PRODUCT_ENDPOINTS.len(),
        "only {} operations",
        ops.len()
    );
    let mut failures = Vec::new();
    for (method, template, op) in &ops {
        let path = fill(template);
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut req = t.client.request(m.clone(), format!("{}{path}", t.base));
        if matches!(m, Method::POST | Method::PUT | Method::PATCH) {
            req = req.header("content-type", "application/json").body("{}");
        }
        let r = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{method} {path}: no answer: {e}"));
                continue;
            }
        };
        let status = r.status().as_u16();
        let has_id = r.headers().contains_key("x-request-id");
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if status == 404 && code == "not_found" {
            failures.push(format!(
                "{method} {template} ({path}): the router's fallback answered"
            ));
            continue;
        }
        if status >= 500 || !has_id {
            failures.push(format!(
                "{method} {path}: {status} (request id: {has_id}) {body}"
            ));
            continue;
        }
        // What the document says about the key is what the server does.
        let needs_key = op["security"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s.get("apikey").is_some());
        if needs_key && (status, code.as_str()) != (401, "missing_api_key") {
            failures.push(format!(
                "{method} {path}: documented as needing a key, but without one: {status} {body}"
            ));
        }
        if !needs_key && status == 401 {
            failures.push(format!(
                "{method} {path}: documented without a key, but asks for one: {body}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} operations:\n{}",
        failures.len(),
        ops.len(),
        failures.join("\n")
    );
    // The check can tell: an undocumented path does get the fallback.
    let r = t
        .client
        .get(format!("{}/v2/not-documented", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "not_found");
}
