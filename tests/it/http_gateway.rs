//! HTTP SMS gateways against a small real HTTP server on 127.0.0.1 (it
//! records each request and answers per scenario), the delivery-report
//! endpoint on the real route table with a real store, and a real Kannel.

mod appliance;
mod fake;

use fake::{get, json_reply, text, FakeGateway, Reply};
use flexsecure::config::{Config, HttpGatewayConfig};
use flexsecure::sms::http_gateway::HttpGateway;
use flexsecure::sms::{Channel, OutgoingSms, SendOutcome};
use serde_json::{json, Value};
use std::net::TcpListener;
use std::time::{Duration, Instant};

fn gateway_config(toml_text: &str) -> HttpGatewayConfig {
    let mut c = Config::parse(toml_text).unwrap();
    c.sms.http.remove(0)
}

fn gateway(toml_text: &str) -> HttpGateway {
    HttpGateway::new(&gateway_config(toml_text), "http://127.0.0.1:9").unwrap()
}

fn sms(id: i64, text: &str) -> OutgoingSms {
    OutgoingSms {
        id,
        to: "+41791234567".into(),
        text: text.into(),
        deadline: None,
    }
}

fn json_gateway(base: &str, extra: &str) -> String {
    format!(
        "[[sms.http]]\nname = \"api\"\npreset = \"generic-json\"\nurl = \"{base}/v1/sms\"\n{extra}\n"
    )
}

fn kannel_gateway(base: &str) -> String {
    format!(
        r#"[[sms.http]]
name = "kannel"
preset = "kannel"
url = "{base}/cgi-bin/sendsms"
dlr_secret = "kannel-dlr-secret-0123"
auth = {{ type = "query", params = {{ username = "fs", password = "kannel-pass" }} }}
params = {{ from = "FlexSecure" }}
"#
    )
}

#[test]
fn json_gateway_success_with_the_id_from_the_answer() {
    let gw = FakeGateway::start(|_| json_reply(200, json!({"id": "m-77", "status": "queued"})));
    let g = gateway(&json_gateway(
        &gw.base,
        "auth = { type = \"bearer\", token = \"tok-abc\" }",
    ));
    assert_eq!(g.name(), "http:api");
    let a = g.send(&sms(5, "Your PIN is 123456 – ünïcode 😀"));
    assert_eq!(a.channel, "http:api");
    assert_eq!(
        a.outcome,
        SendOutcome::Sent {
            provider_id: Some("m-77".into())
        }
    );
    let r = &gw.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path(), "/v1/sms");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("authorization"), Some("Bearer tok-abc"));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        body,
        json!({"to": "+41791234567", "text": "Your PIN is 123456 – ünïcode 😀", "id": "5"})
    );
}

#[test]
fn server_errors_are_retryable_and_client_errors_permanent() {
    let gw = FakeGateway::start(|r| match r.path() {
        "/500/v1/sms" => text(500, "internal error"),
        "/429/v1/sms" => text(429, "slow down"),
        "/400/v1/sms" => json_reply(400, json!({"error": "invalid number"})),
        _ => text(404, "no"),
    });
    let send = |p: &str| {
        gateway(&json_gateway(&format!("{}/{p}", gw.base), ""))
            .send(&sms(1, "x"))
            .outcome
    };
    assert!(
        matches!(send("500"), SendOutcome::Retryable(ref e) if e == "HTTP 500: internal error"),
        "{:?}",
        send("500")
    );
    assert!(matches!(send("429"), SendOutcome::Retryable(_)));
    assert!(
        matches!(send("400"), SendOutcome::Permanent(ref e) if e.starts_with("HTTP 400") && e.contains("invalid number")),
        "{:?}",
        send("400")
    );
}

#[test]
fn a_hang_longer_than_the_timeout_is_retryable() {
    let gw = FakeGateway::start(|_| Reply::Hang(Duration::from_secs(3)));
    let g = gateway(&json_gateway(&gw.base, "timeout_ms = 300"));
    let started = Instant::now();
    let outcome = g.send(&sms(1, "x")).outcome;
    assert!(
        matches!(outcome, SendOutcome::Retryable(ref e) if e.contains("timed out")),
        "{outcome:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(gw.requests().len(), 1, "the request did arrive");
}

#[test]
fn a_closed_port_is_retryable() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let g = gateway(&json_gateway(&format!("http://127.0.0.1:{port}"), ""));
    let outcome = g.send(&sms(1, "x")).outcome;
    assert!(
        matches!(outcome, SendOutcome::Retryable(ref e) if e.contains("connection")),
        "{outcome:?}"
    );
}

#[test]
fn kannel_answers_follow_the_user_guide() {
    let gw = FakeGateway::start(|r| match get(&r.query(), "text").unwrap_or_default() {
        "k1" => text(202, "0: Accepted for delivery"),
        "k2" => text(202, "3: Queued for later delivery"),
        "k3" => text(403, "Not routable. Do not try again."),
        "k4" => text(403, "Authorization failed for sendsms"),
        "k5" => text(503, "Temporal failure, try again later."),
        "k6" => text(202, "Sent."),
        _ => text(202, "0: Accepted for delivery"),
    });
    let g = gateway(&kannel_gateway(&gw.base));
    let sent = |id: i64| SendOutcome::Sent {
        provider_id: Some(id.to_string()),
    };
    assert_eq!(g.send(&sms(11, "k1")).outcome, sent(11));
    assert_eq!(g.send(&sms(12, "k2")).outcome, sent(12));
    let o = g.send(&sms(13, "k3")).outcome;
    assert!(
        matches!(o, SendOutcome::Permanent(ref e) if e.contains("Not routable")),
        "{o:?}"
    );
    assert!(matches!(
        g.send(&sms(14, "k4")).outcome,
        SendOutcome::Permanent(_)
    ));
    let o = g.send(&sms(15, "k5")).outcome;
    assert!(
        matches!(o, SendOutcome::Retryable(ref e) if e.starts_with("HTTP 503")),
        "{o:?}"
    );
    let o = g.send(&sms(16, "k6")).outcome;
    assert!(
        matches!(o, SendOutcome::Permanent(ref e) if e.contains("success rule")),
        "{o:?}"
    );

    // What Kannel received: a GET with the number's '+' intact, UTF-8 text,
    // coding=2 only for text beyond GSM 7-bit, and the DLR callback.
    assert_eq!(g.send(&sms(17, "Привет 123456")).outcome, sent(17));
    let reqs = gw.requests();
    let first = &reqs[0];
    assert_eq!(first.method, "GET");
    assert_eq!(first.path(), "/cgi-bin/sendsms");
    assert!(
        first.target.contains("to=%2B41791234567"),
        "{}",
        first.target
    );
    let q = first.query();
    assert_eq!(get(&q, "to"), Some("+41791234567"));
    assert_eq!(get(&q, "username"), Some("fs"));
    assert_eq!(get(&q, "password"), Some("kannel-pass"));
    assert_eq!(get(&q, "from"), Some("FlexSecure"));
    assert_eq!(get(&q, "charset"), Some("UTF-8"));
    assert_eq!(get(&q, "coding"), None);
    assert_eq!(get(&q, "dlr-mask"), Some("3"));
    assert_eq!(
        get(&q, "dlr-url"),
        Some("http://127.0.0.1:9/v2/sms/dlr/kannel/11?secret=kannel-dlr-secret-0123&status=%d")
    );
    let q = reqs.last().unwrap().query();
    assert_eq!(get(&q, "text"), Some("Привет 123456"));
    assert_eq!(get(&q, "coding"), Some("2"));
}

#[test]
fn every_auth_kind_arrives_as_configured() {
    let gw = FakeGateway::start(|_| json_reply(200, json!({"id": 1})));
    let with = |auth: &str| {
        let g = gateway(&json_gateway(&gw.base, &format!("auth = {auth}")));
        assert!(matches!(
            g.send(&sms(1, "x")).outcome,
            SendOutcome::Sent { .. }
        ));
        gw.requests().pop().unwrap()
    };
    let r = with(r#"{ type = "basic", username = "ann", password = "p:w" }"#);
    assert_eq!(r.header("authorization"), Some("Basic YW5uOnA6dw=="));
    let r = with(r#"{ type = "bearer", token = "t0k" }"#);
    assert_eq!(r.header("authorization"), Some("Bearer t0k"));
    let r = with(r#"{ type = "header", name = "X-Api-Key", value = "k3y" }"#);
    assert_eq!(r.header("x-api-key"), Some("k3y"));
    assert_eq!(r.header("authorization"), None);
    let r = with(r#"{ type = "query", params = { api_key = "q k&y" } }"#);
    assert_eq!(get(&r.query(), "api_key"), Some("q k&y"));
    assert_eq!(r.header("authorization"), None);
}

#[test]
fn twilio_sends_a_form_post_with_basic_auth() {
    let gw = FakeGateway::start(|_| {
        json_reply(
            201,
            json!({"sid": "SM0123", "status": "queued", "body": "…"}),
        )
    });
    let g = gateway(&format!(
        r#"[[sms.http]]
name = "twilio"
preset = "twilio"
url = "{}/2010-04-01/Accounts/AC42/Messages.json"
auth = {{ type = "basic", username = "AC42", password = "twilio-token" }}
params = {{ From = "+15005550006" }}
"#,
        gw.base
    ));
    let a = g.send(&sms(3, "Code 123456 & more+"));
    assert_eq!(
        a.outcome,
        SendOutcome::Sent {
            provider_id: Some("SM0123".into())
        }
    );
    let r = &gw.requests()[0];
    assert_eq!(r.method, "POST");
    assert_eq!(r.path(), "/2010-04-01/Accounts/AC42/Messages.json");
    assert_eq!(
        r.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        r.header("authorization"),
        Some("Basic QUM0Mjp0d2lsaW8tdG9rZW4=")
    );
    let f = r.form();
    assert_eq!(get(&f, "To"), Some("+41791234567"));
    assert_eq!(get(&f, "From"), Some("+15005550006"));
    assert_eq!(get(&f, "Body"), Some("Code 123456 & more+"));
}

#[test]
fn redirects_are_not_followed() {
    let other = FakeGateway::start(|_| json_reply(200, json!({"id": "x"})));
    let target = format!("{}/elsewhere", other.base);
    let gw = FakeGateway::start(move |_| Reply::Redirect(302, target.clone()));
    let o = gateway(&json_gateway(&gw.base, ""))
        .send(&sms(1, "x"))
        .outcome;
    assert!(
        matches!(o, SendOutcome::Permanent(ref e) if e.contains("redirect")),
        "{o:?}"
    );
    assert!(other.requests().is_empty(), "the redirect was followed");
}

#[test]
fn outcomes_never_quote_the_text_or_a_secret() {
    // A gateway that echoes everything it got.
    let gw = FakeGateway::start(|r| {
        text(
            400,
            &format!(
                "bad request: {} {}",
                r.target,
                String::from_utf8_lossy(&r.body)
            ),
        )
    });
    let g = gateway(&format!(
        "{}auth = {{ type = \"query\", params = {{ key = \"very-secret-key\" }} }}\ndlr_secret = \"dlr-secret-abcdefgh\"\n",
        json_gateway(&gw.base, "")
    ));
    let o = g
        .send(&sms(
            1,
            "Your PIN is 654321 or open https://fs/l/TokEn_abc-123",
        ))
        .outcome;
    let SendOutcome::Permanent(e) = o else {
        panic!("{o:?}")
    };
    for leak in [
        "very-secret-key",
        "dlr-secret-abcdefgh",
        "654321",
        "TokEn_abc-123",
    ] {
        assert!(!e.contains(leak), "{leak} in {e}");
    }
    assert!(e.starts_with("HTTP 400: bad request"), "{e}");
}

/// The router's breaker over a real gateway channel and a real HTTP server:
/// three 500s open it (the gateway is skipped, the console takes the
/// messages), after the open time one probe goes through, and once the
/// gateway answers again the breaker closes. Every attempt is reported.
#[tokio::test]
async fn the_breaker_opens_on_a_failing_gateway_and_closes_when_it_recovers() {
    use flexsecure::sms::router::{BreakerConfig, BreakerState, Router, Verdict};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let healthy = Arc::new(AtomicBool::new(false));
    let h = healthy.clone();
    let fake = FakeGateway::start(move |_| {
        if h.load(Ordering::SeqCst) {
            json_reply(200, json!({"id": "m1"}))
        } else {
            text(500, "down")
        }
    });
    let gw = gateway(&json_gateway(&fake.base, ""));
    let sms_dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn flexsecure::clock::Clock> = Arc::new(flexsecure::clock::SystemClock);
    let console =
        flexsecure::sms::console::Console::new(Some(sms_dir.path().join("sms.jsonl")), clock);
    let cfg = BreakerConfig {
        failures: 3,
        open_for: Duration::from_millis(300),
    };
    let router = Arc::new(Router::new(vec![Arc::new(gw), Arc::new(console)], cfg));
    let send = |r: Arc<Router>| async move {
        flexsecure::blocking::run(move || r.dispatch(&sms(1, "hello"), || true))
            .await
            .unwrap()
    };

    for _ in 0..3 {
        let d = send(router.clone()).await;
        assert_eq!(
            d.attempts.len(),
            2,
            "the gateway failed, the console took it"
        );
        assert!(matches!(d.attempts[0].outcome, SendOutcome::Retryable(_)));
        assert!(matches!(d.verdict, Verdict::Sent { ref channel, .. } if channel == "console"));
    }
    assert_eq!(router.status()[0].breaker, BreakerState::Open);
    let before = fake.requests().len();
    let d = send(router.clone()).await;
    assert_eq!(d.attempts.len(), 1, "an open breaker skips the gateway");
    assert_eq!(fake.requests().len(), before);

    healthy.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(router.status()[0].breaker, BreakerState::HalfOpen);
    let d = send(router.clone()).await;
    assert!(
        matches!(d.verdict, Verdict::Sent { ref channel, .. } if channel.starts_with("http:")),
        "{:?}",
        d.verdict
    );
    assert_eq!(router.status()[0].breaker, BreakerState::Closed);
}
