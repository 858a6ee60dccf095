//! Monitoring: `/healthz`, `/readyz`, `/metrics` (token, series, the text
//! format) and request lines in the log (text and JSON) with the request id.

use crate::harness::{captured_logs, json, pin_of, TestApp};
use crate::modem_sim::{SimModem, SimOptions};
use flexsecure::config::ModemConfig;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_flexsecure");

fn modem_config(name: &str, port: &Path) -> ModemConfig {
    ModemConfig {
        name: name.into(),
        port: port.into(),
        baud: 115_200,
        sim_pin: None,
        smsc: None,
        priority: 0,
        command_timeout_ms: Some(800),
        submit_timeout_ms: Some(800),
        health_interval_seconds: Some(1),
    }
}

/// One sample of the exposition format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `k="v",k2="v2"` with the format's escapes; panics on anything else.
fn parse_labels(mut s: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    while !s.is_empty() {
        let (name, rest) = s
            .split_once("=\"")
            .unwrap_or_else(|| panic!("label without =\": {line}"));
        assert!(is_metric_name(name), "label name {name:?}: {line}");
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c @ ('\\' | '"'))) => value.push(c),
                    other => panic!("bad escape {other:?}: {line}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value: {line}"),
            }
        };
        assert!(
            labels.insert(name.to_string(), value).is_none(),
            "label {name} twice: {line}"
        );
        s = &rest[end + 1..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
    labels
}

/// Parses the text format 0.0.4 line by line: `# HELP`, `# TYPE` and
/// samples, every sample of a family declared by a `# TYPE` before it.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(is_metric_name(name), "{line}");
            assert!(!help.trim().is_empty(), "help text missing: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(line);
            assert!(is_metric_name(name), "{line}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name.into(), kind.into()).is_none(),
                "TYPE twice: {line}"
            );
            continue;
        }
        assert!(!line.starts_with('#'), "unknown comment: {line}");
        let (series, value) = line.rsplit_once(' ').expect(line);
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|e| panic!("value {v:?} ({e}): {line}")),
        };
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (
                name,
                parse_labels(rest.strip_suffix('}').expect(line), line),
            ),
            None => (series, BTreeMap::new()),
        };
        assert!(is_metric_name(name), "{line}");
        let family = match types.get(name) {
            Some(_) => name,
            None => ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| {
                    name.strip_suffix(s)
                        .filter(|f| types.get(*f).is_some_and(|t| t == "histogram"))
                })
                .unwrap_or_else(|| panic!("sample before its # TYPE: {line}")),
        };
        assert!(!family.is_empty());
        samples.push(Sample {
            name: name.into(),
            labels,
            value,
        });
    }
    samples
}

/// The value of the sample `name` whose labels include `want`.
fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && want
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

async fn scrape(t: &TestApp, token: Option<&str>) -> (u16, String, String) {
    let mut req = t.client.get(format!("{}/metrics", t.base));
    if let Some(token) = token {
        req = req.header("authorization", format!("Bearer {token}"));
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let ctype = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, ctype, r.text().await.unwrap())
}

#[tokio::test]
async fn healthz_answers_without_a_key() {
    let t = TestApp::spawn().await;
    let r = t
        .client
        .get(format!("{}/healthz", t.base))
        .header("x-request-id", "ops-health-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "ops-health-1");
    let (s, body) = json(r).await;
    assert_eq!((s, body), (200, json!({"status": "ok"})));

    // The request's log line (text format here) carries the id as a field.
    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned();
    let line = logs
        .lines()
        .find(|l| l.contains("request_id=ops-health-1") && l.contains("route=\"/healthz\""))
        .unwrap_or_else(|| panic!("no request line for ops-health-1"));
    assert!(line.contains("status=200"), "{line}");
}

#[tokio::test]
async fn readyz_with_the_console_channel() {
    let t = TestApp::spawn().await;
    let (s, body) = json(
        t.client
            .get(format!("{}/readyz", t.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "ready", "database": true, "sms": true})
    );
}

/// The only channel is a modem that is not there: the database is fine,
/// SMS are not, and readiness says so.
#[tokio::test]
async fn readyz_without_an_available_channel() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-tty");
    let t = TestApp::spawn_with(|c| c.sms.modem.push(modem_config("gone", &missing))).await;
    let (s, body) = json(
        t.client
            .get(format!("{}/readyz", t.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(s, 503, "{body}");
    assert_eq!(body["status"], "not_ready");
    assert_eq!(body["database"], true);
    assert_eq!(body["sms"], false);
    assert_eq!(body["error"]["code"], "not_ready");
    // Healthy all the same: the process serves.
    let r = t
        .client
        .get(format!("{}/healthz", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn metrics_token_is_required_when_configured() {
    // No token configured: open.
    let open = TestApp::spawn().await;
    let (s, ctype, text) = scrape(&open, None).await;
    assert_eq!(s, 200, "{text}");
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");

    let t = TestApp::spawn_with(|c| c.server.metrics.token = Some("scrape-me-7".into())).await;
    for token in [None, Some("scrape-me-8"), Some("scrape-me-77"), Some("")] {
        let (s, _, body) = scrape(&t, token).await;
        assert_eq!(s, 401, "{token:?}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "invalid_token", "{body}");
    }
    // Another scheme with the right token is refused too.
    let r = t
        .client
        .get(format!("{}/metrics", t.base))
        .header("authorization", "Basic scrape-me-7")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let (s, ctype, text) = scrape(&t, Some("scrape-me-7")).await;
    assert_eq!(s, 200, "{text}");
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    parse_exposition(&text);
    // The token is never logged.
    let logs = String::from_utf8_lossy(&captured_logs().lock().unwrap()).into_owned();
    assert!(!logs.contains("scrape-me-7"));
}

#[tokio::test]
async fn metrics_count_logins_requests_and_sms() {
    let t = TestApp::spawn().await;
    t.system_with_user("CRM", "pin", "ann@example.com", "+41790000061")
        .await;
    let (s, start) = json(t.start("ann@example.com", "CRM").await).await;
    assert_eq!(s, 202, "{start}");
    let pin = pin_of(&t.wait_sms("+41790000061", 1).await);
    let (s, done) = json(
        t.complete(json!({"email": "ann@example.com", "system": "CRM", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{done}");
    // A raw path with a secret-looking part, and one that matches nothing.
    t.manage(reqwest::Method::GET, "/v2/users/zed-private@example.com")
        .send()
        .await
        .unwrap();
    t.client
        .get(format!("{}/nowhere/abc-raw-path", t.base))
        .send()
        .await
        .unwrap();

    // The SMS is counted once its outcome is committed, just after the
    // phone got it: poll (bounded).
    let mut samples = Vec::new();
    let mut text = String::new();
    for _ in 0..200 {
        let (s, _, body) = scrape(&t, None).await;
        assert_eq!(s, 200);
        text = body;
        samples = parse_exposition(&text);
        let sent = value(
            &samples,
            "flexsecure_sms_total",
            &[("channel", "console"), ("result", "sent")],
        );
        if sent.is_some_and(|v| v >= 1.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let get = |name: &str, want: &[(&str, &str)]| {
        value(&samples, name, want).unwrap_or_else(|| panic!("no {name} {want:?} in:\n{text}"))
    };
    assert!(
        get(
            "flexsecure_sms_total",
            &[("channel", "console"), ("result", "sent")]
        ) >= 1.0
    );
    assert!(get("flexsecure_logins_total", &[("outcome", "approved")]) >= 1.0);
    assert!(get("flexsecure_logins_total", &[("outcome", "pending")]) >= 1.0);
    assert!(
        get(
            "flexsecure_http_requests_total",
            &[
                ("route", "/v2/user/authenticate"),
                ("method", "POST"),
                ("status", "202")
            ]
        ) >= 1.0
    );
    assert!(
        get(
            "flexsecure_http_requests_total",
            &[("route", "/v2/users/{email}"), ("method", "GET")]
        ) >= 1.0
    );
    assert!(
        get(
            "flexsecure_http_requests_total",
            &[("route", "unmatched"), ("status", "404")]
        ) >= 1.0
    );
    // Route patterns only: no raw path reaches a label.
    assert!(!text.contains("zed-private"), "{text}");
    assert!(!text.contains("abc-raw-path"), "{text}");
    // The histogram of the start's route: cumulative buckets up to +Inf,
    // which equals the count.
    let route = [("route", "/v2/user/authenticate")];
    let inf = get(
        "flexsecure_http_request_duration_seconds_bucket",
        &[("route", "/v2/user/authenticate"), ("le", "+Inf")],
    );
    assert_eq!(
        inf,
        get("flexsecure_http_request_duration_seconds_count", &route)
    );
    assert!(inf >= 1.0);
    let buckets: Vec<f64> = samples
        .iter()
        .filter(|s| {
            s.name == "flexsecure_http_request_duration_seconds_bucket"
                && s.labels["route"] == "/v2/user/authenticate"
        })
        .map(|s| s.value)
        .collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
    assert!(get("flexsecure_http_request_duration_seconds_sum", &route) > 0.0);
    // Read at scrape time.
    assert_eq!(get("flexsecure_outbox_depth", &[("status", "queued")]), 0.0);
    assert!(value(
        &samples,
        "flexsecure_outbox_depth",
        &[("status", "sending")]
    )
    .is_some());
    let write = get("flexsecure_db_write_seconds", &[]);
    assert!(write > 0.0 && write < 2.0, "{write}");
    // No modem: no signal sample, but the family is declared.
    assert!(text.contains("# TYPE flexsecure_modem_signal gauge"));
    assert!(!samples.iter().any(|s| s.name == "flexsecure_modem_signal"));
}

#[tokio::test]
async fn metrics_show_a_modems_signal() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimModem::start(dir.path(), "ttyOps", SimOptions::default());
    let port = sim.path();
    let t = TestApp::spawn_with(|c| c.sms.modem.push(modem_config("gsm1", &port))).await;
    // The modem reports its signal once initialised (bounded wait).
    for _ in 0..400 {
        let (_, _, text) = scrape(&t, None).await;
        let samples = parse_exposition(&text);
        if let Some(v) = value(&samples, "flexsecure_modem_signal", &[("modem", "gsm1")]) {
            assert_eq!(v, 21.0);
            let (s, body) = json(
                t.client
                    .get(format!("{}/readyz", t.base))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            assert_eq!(s, 200, "{body}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no signal for gsm1");
}

/// Starts the binary with `args` before `serve`, and `env`; returns the
/// server and a receiver of its standard error lines.
fn serve_logging(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (crate::cli::Server, std::sync::mpsc::Receiver<String>) {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env("FLEXSECURE_LOG", "info")
        .env_remove("FLEXSECURE_CONFIG")
        .env_remove("FLEXSECURE_LOG_FORMAT")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (crate::cli::Server(child), rx)
}

/// The next line that is a JSON object satisfying `pick`; every line before
/// it must be JSON too (bounded wait).
fn next_json(rx: &std::sync::mpsc::Receiver<String>, pick: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let line = rx
            .recv_timeout(left)
            .unwrap_or_else(|e| panic!("no matching log line ({e})"));
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(v.is_object(), "{line}");
        if pick(&v) {
            return v;
        }
    }
}

#[tokio::test]
async fn the_binary_logs_json_lines_with_the_request_id() {
    let cwd = tempfile::tempdir().unwrap();
    let (_server, rx) = serve_logging(cwd.path(), &["--log-format", "json"], &[]);
    let serving = next_json(&rx, |v| v["message"] == "flexsecure serving");
    assert_eq!(serving["level"], "INFO");
    let addr = serving["listen"].as_str().unwrap().to_string();

    let client = crate::harness::http_client();
    let r = client
        .get(format!("http://{addr}/healthz"))
        .header("x-request-id", "json-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let line = next_json(&rx, |v| v["message"] == "request");
    assert_eq!(line["request_id"], "json-req-42", "{line}");
    assert_eq!(line["route"], "/healthz", "{line}");
    assert_eq!(line["method"], "GET", "{line}");
    assert_eq!(line["status"], 200, "{line}");
    assert!(line["timestamp"].is_string(), "{line}");

    // A refused request is logged the same way.
    let r = client
        .get(format!("http://{addr}/v2/policies"))
        .header("apikey", "fsk_not-a-key")
        .header("x-request-id", "json-req-43")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let line = next_json(&rx, |v| v["message"] == "request");
    assert_eq!(line["request_id"], "json-req-43", "{line}");
    assert_eq!(line["status"], 401, "{line}");
    assert_eq!(line["route"], "/v2/policies", "{line}");
}

#[tokio::test]
async fn the_log_format_comes_from_the_environment_too() {
    let cwd = tempfile::tempdir().unwrap();
    let (_server, rx) = serve_logging(cwd.path(), &[], &[("FLEXSECURE_LOG_FORMAT", "json")]);
    let serving = next_json(&rx, |v| v["message"] == "flexsecure serving");
    assert!(serving["listen"].is_string(), "{serving}");
}
