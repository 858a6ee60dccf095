//! The appliance with HTTP gateways: the real route table, store and
//! dispatcher, wired the way app.rs is asked to wire them; the delivery-report
//! endpoint; a real Kannel.

use super::fake::{get, text, FakeGateway, Recorded};
use super::{gateway, gateway_config, json_gateway, kannel_gateway, sms};
use crate::harness::{json, pin_of, TestApp};
use flexsecure::clock::{Clock, ManualClock};
use flexsecure::config::HttpGatewayConfig;
use flexsecure::http::dlr::DlrGateways;
use flexsecure::http::AppState;
use flexsecure::jobs::dispatcher::Dispatcher;
use flexsecure::service::Services;
use flexsecure::sms::http_gateway::HttpGateway;
use flexsecure::sms::router::{BreakerConfig, Router};
use flexsecure::sms::{Channel, SendOutcome};
use flexsecure::store::{OutboxEntry, Store, StoreError};
use reqwest::Method;
use serde_json::{json, Value};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

struct GatewayApp {
    base: String,
    client: reqwest::Client,
    store: Store,
    manage_key: String,
    auth_key: String,
    _dir: tempfile::TempDir,
}

impl GatewayApp {
    async fn spawn(gateways: Vec<HttpGatewayConfig>) -> Self {
        crate::harness::captured_logs();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let (key, store) =
            flexsecure::blocking::run(move || flexsecure::app::open_data_dir(&path).unwrap())
                .await
                .unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(chrono::Utc::now()));
        let services = Services::new(
            store.clone(),
            key,
            &base,
            Arc::new(tokio::sync::Notify::new()),
        );
        let channels: Vec<Arc<dyn Channel>> = gateways
            .iter()
            .map(|g| Arc::new(HttpGateway::new(g, &base).unwrap()) as Arc<dyn Channel>)
            .collect();
        let router = Arc::new(Router::new(channels, BreakerConfig::default()));
        let state = actix_web::web::Data::new(AppState {
            services: services.clone(),
            clock: clock.clone(),
            router: router.clone(),
            modems: Vec::new(),
        });
        // The wiring asked of app.rs: the gateways' secrets as app data.
        let dlr = actix_web::web::Data::new(DlrGateways::from_config(&gateways));
        let server = actix_web::HttpServer::new(move || {
            flexsecure::http::app(state.clone()).app_data(dlr.clone())
        })
        .workers(2)
        .listen(listener)
        .unwrap()
        .run();
        tokio::spawn(server);
        let (stop, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(
            Dispatcher {
                services,
                router,
                clock,
            }
            .run(rx),
        );
        // Kept alive for the test's lifetime (dropping it would stop the dispatcher).
        std::mem::forget(stop);
        let st = store.clone();
        let account = flexsecure::blocking::run(move || {
            flexsecure::service::create_account(
                &st,
                "Acme",
                &flexsecure::domain::Actor::Cli,
                chrono::Utc::now(),
            )
            .unwrap()
        })
        .await
        .unwrap();
        Self {
            base,
            client: crate::harness::http_client(),
            store,
            manage_key: account.manage_key,
            auth_key: account.auth_key,
            _dir: dir,
        }
    }

    async fn call(&self, m: Method, path: &str, key: &str, body: Value) -> (u16, Value) {
        json(
            self.client
                .request(m, format!("{}{path}", self.base))
                .header("apikey", key)
                .json(&body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A PIN login for a new user; returns once the login started.
    async fn start_login(&self, phone: &str) {
        let k = self.manage_key.clone();
        let (s, v) = self
            .call(
                Method::POST,
                "/v2/systems",
                &k,
                json!({"name": "CRM", "policy": "pin"}),
            )
            .await;
        assert!(s == 201 || s == 409, "{s} {v}");
        let (s, v) = self
            .call(
                Method::POST,
                "/v2/users",
                &k,
                json!({"email": "ann@example.com", "phone": phone}),
            )
            .await;
        assert!(s == 201 || s == 409, "{s} {v}");
        let (s, v) = self
            .call(
                Method::PUT,
                "/v2/systems/CRM/users/ann@example.com",
                &k,
                Value::Null,
            )
            .await;
        assert!((200..300).contains(&s), "{s} {v}");
        let (s, v) = self
            .call(
                Method::POST,
                "/v2/user/authenticate",
                &self.auth_key.clone(),
                json!({"email": "ann@example.com", "system": "CRM"}),
            )
            .await;
        assert_eq!(s, 202, "{v}");
    }

    async fn entry(&self, id: i64) -> OutboxEntry {
        self.store
            .read(move |db| db.outbox_entry(id))
            .await
            .map_err(|e: StoreError| e)
            .unwrap()
            .expect("the message is in the outbox")
    }

    /// Waits (bounded, 10 s) until the message's delivery is recorded.
    async fn wait_delivery(&self, id: i64) -> OutboxEntry {
        for _ in 0..400 {
            let e = self.entry(id).await;
            if e.delivery.is_some() {
                return e;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.entry(id).await
    }

    async fn get(&self, url: &str) -> (u16, Value) {
        json(self.client.get(url).send().await.unwrap()).await
    }
}

/// The id in a Kannel `dlr-url`, and the URL with `%d` replaced by `status`.
fn dlr_url(kannel_request: &Recorded, status: u32) -> (i64, String) {
    let url = get(&kannel_request.query(), "dlr-url").unwrap().to_string();
    let id = url
        .split("/dlr/kannel/")
        .nth(1)
        .and_then(|rest| rest.split('?').next())
        .and_then(|id| id.parse().ok())
        .unwrap();
    (id, url.replace("%d", &status.to_string()))
}

#[tokio::test]
async fn a_kannel_login_sms_and_its_delivery_report() {
    let kannel = FakeGateway::start(|_| text(202, "0: Accepted for delivery"));
    let app = GatewayApp::spawn(vec![gateway_config(&kannel_gateway(&kannel.base))]).await;
    app.start_login("+41790000081").await;

    let req = kannel.wait_request(1).await;
    let q = req.query();
    assert_eq!(get(&q, "to"), Some("+41790000081"));
    assert_eq!(pin_of(get(&q, "text").unwrap()).len(), 6);
    let (id, delivered_url) = dlr_url(&req, 1);
    assert!(delivered_url.starts_with(&format!("{}/v2/sms/dlr/kannel/", app.base)));
    for _ in 0..400 {
        if app.entry(id).await.status == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let e = app.entry(id).await;
    assert_eq!(
        (e.status.as_str(), e.channel.as_deref()),
        ("sent", Some("http:kannel"))
    );
    assert_eq!(e.provider_id, Some(id.to_string()));

    // An intermediate report (8: SMSC submit) is acknowledged only.
    let (s, v) = app.get(&dlr_url(&req, 8).1).await;
    assert_eq!((s, &v["recorded"]), (200, &json!(false)), "{v}");
    assert_eq!(app.entry(id).await.delivery, None);
    // The final one is recorded, by GET as Kannel calls it.
    let (s, v) = app.get(&delivered_url).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v, json!({"recorded": true, "delivery": "delivered"}));
    assert_eq!(app.entry(id).await.delivery.as_deref(), Some("delivered"));
}

#[tokio::test]
async fn the_report_endpoint_checks_gateway_secret_status_and_message() {
    let kannel = FakeGateway::start(|_| text(202, "3: Queued for later delivery"));
    let app = GatewayApp::spawn(vec![
        gateway_config(&kannel_gateway(&kannel.base)),
        // A gateway without reports.
        gateway_config(&json_gateway(&kannel.base, "")),
    ])
    .await;
    app.start_login("+41790000082").await;
    let req = kannel.wait_request(1).await;
    let (id, url) = dlr_url(&req, 2);
    let base = format!("{}/v2/sms/dlr", app.base);
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or_default().to_string();

    let (s, v) = app
        .get(&format!(
            "{base}/kannel/{id}?secret=wrong-secret-0123456&status=1"
        ))
        .await;
    assert_eq!((s, code(&v)), (401, "invalid_secret".into()), "{v}");
    let (s, v) = app.get(&format!("{base}/kannel/{id}?status=1")).await;
    assert_eq!((s, code(&v)), (401, "invalid_secret".into()), "{v}");
    let (s, v) = app
        .get(&format!(
            "{base}/nope/{id}?secret=kannel-dlr-secret-0123&status=1"
        ))
        .await;
    assert_eq!((s, code(&v)), (404, "unknown_gateway".into()), "{v}");
    let (s, v) = app
        .get(&format!(
            "{base}/api/{id}?secret=kannel-dlr-secret-0123&status=1"
        ))
        .await;
    assert_eq!((s, code(&v)), (404, "unknown_gateway".into()), "{v}");
    let (s, v) = app
        .get(&format!(
            "{base}/kannel/{}?secret=kannel-dlr-secret-0123&status=1",
            id + 1000
        ))
        .await;
    assert_eq!((s, code(&v)), (404, "unknown_message".into()), "{v}");
    let (s, v) = app
        .get(&format!(
            "{base}/kannel/{id}?secret=kannel-dlr-secret-0123&status=%25d"
        ))
        .await;
    assert_eq!((s, code(&v)), (422, "invalid_query".into()), "{v}");
    assert!(v["error"]["message"].as_str().is_some());

    // Failed, by POST with a Twilio-style form body; the secret in the query.
    for _ in 0..400 {
        if app.entry(id).await.status == "sent" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let r = app
        .client
        .post(url.split("&status=").next().unwrap())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("MessageSid=SM1&MessageStatus=undelivered")
        .send()
        .await
        .unwrap();
    let (s, v) = json(r).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        app.wait_delivery(id).await.delivery.as_deref(),
        Some("failed")
    );
    // No secret reached the log.
    let logs =
        String::from_utf8_lossy(&crate::harness::captured_logs().lock().unwrap()).to_string();
    assert!(!logs.contains("kannel-dlr-secret-0123"));
    assert!(!logs.contains("kannel-pass"));
}

/// Against a real Kannel (tests/it/kannel.rs: bearerbox, smsbox and the
/// fake SMS centre): a login's PIN goes out through the `kannel` preset, a
/// Unicode text arrives as UCS-2, and Kannel's delivery report comes back to
/// the report endpoint and is recorded.
#[tokio::test]
async fn a_real_kannel_sends_and_reports_delivery() {
    let k = tokio::task::spawn_blocking(crate::kannel::Kannel::start)
        .await
        .unwrap();
    let cfg = format!(
        r#"[[sms.http]]
name = "kannel"
preset = "kannel"
url = "{}"
dlr_secret = "real-kannel-secret-0123"
auth = {{ type = "query", params = {{ username = "{}", password = "{}" }} }}
params = {{ from = "FlexSecure" }}
timeout_ms = 5000
"#,
        k.sendsms_url(),
        k.username(),
        k.password()
    );
    let app = GatewayApp::spawn(vec![gateway_config(&cfg)]).await;
    app.start_login("+41790000085").await;
    let got = k.wait_received_async(1).await;
    assert_eq!(got[0].to, "+41790000085");
    assert_eq!(got[0].coding, crate::kannel::Coding::Gsm);
    assert_eq!(pin_of(&got[0].text).len(), 6, "{:?}", got[0]);

    // The outbox row of that SMS, then Kannel's report on it.
    let mut id = 0;
    for candidate in 1..=5 {
        let e = app.store.read(move |db| db.outbox_entry(candidate)).await;
        let e: Option<OutboxEntry> = e.map_err(|e: StoreError| e).unwrap();
        if e.is_some_and(|e| e.to_phone == "+41790000085") {
            id = candidate;
        }
    }
    assert!(id > 0, "no outbox row for the login SMS");
    let e = app.wait_delivery(id).await;
    assert_eq!(e.status, "sent");
    assert_eq!(e.channel.as_deref(), Some("http:kannel"));
    assert_eq!(e.delivery.as_deref(), Some("delivered"), "{e:?}");

    // Unicode straight through the channel: coding=2, UTF-8 in, UCS-2 out.
    let g = gateway(&cfg);
    let outcome =
        flexsecure::blocking::run(move || g.send(&sms(900, "Grüezi 👋 登录 123456")).outcome)
            .await
            .unwrap();
    assert_eq!(
        outcome,
        SendOutcome::Sent {
            provider_id: Some("900".into())
        }
    );
    let got = k.wait_received_async(2).await;
    assert_eq!(got[1].text, "Grüezi 👋 登录 123456");
    assert_eq!(got[1].coding, crate::kannel::Coding::Ucs2);
    // A 300-character text through the preset arrives whole (Kannel splits it).
    let long: String =
        "Sign in to the payroll system with this one-time code. ".repeat(6)[..300].to_string();
    let (g, l) = (gateway(&cfg), long.clone());
    let outcome = flexsecure::blocking::run(move || g.send(&sms(902, &l)).outcome)
        .await
        .unwrap();
    assert!(matches!(outcome, SendOutcome::Sent { .. }), "{outcome:?}");
    let got = k.wait_received_async(3).await;
    assert_eq!(got[2].text, long);
    // A sender Kannel refuses (no `from`, no default): 4xx, permanent.
    let no_from = gateway(&cfg.replace("params = { from = \"FlexSecure\" }", ""));
    let outcome = flexsecure::blocking::run(move || no_from.send(&sms(901, "x")).outcome)
        .await
        .unwrap();
    assert!(
        matches!(outcome, SendOutcome::Permanent(ref e) if e.starts_with("HTTP 4")),
        "{outcome:?}"
    );
}

/// The same login through the appliance as `serve` builds it: the gateway is
/// a channel and its delivery-report endpoint is live.
#[tokio::test]
async fn a_login_through_a_kannel_gateway_in_the_full_app() {
    let kannel = FakeGateway::start(|_| text(202, "0: Accepted for delivery"));
    let cfg = gateway_config(&kannel_gateway(&kannel.base));
    let t = TestApp::spawn_with(move |c| c.sms.http.push(cfg)).await;
    t.system_with_user("CRM", "pin", "ann@example.com", "+41790000083")
        .await;
    let (s, v) = json(t.start("ann@example.com", "CRM").await).await;
    assert_eq!(s, 202, "{v}");
    let req = kannel.wait_request(1).await;
    let pin = pin_of(get(&req.query(), "text").unwrap());
    let (s, v) = json(
        t.complete(json!({"email": "ann@example.com", "system": "CRM", "pin": pin}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let (_, url) = dlr_url(&req, 1);
    let r = t.client.get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
