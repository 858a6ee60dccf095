//! Builds the real application for a test and helps talk to it.

use chrono::Duration;
use flexsecure::app::Application;
use flexsecure::clock::ManualClock;
use flexsecure::config::{Config, Overrides};
use flexsecure::service::NewAccount;
use flexsecure::store::Store;
use reqwest::{Method, RequestBuilder, Response};
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use tempfile::TempDir;

/// Every log line of this test binary, to search for leaked secrets.
pub fn captured_logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = LogWriter(buf.clone());
        let _ = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buf
    })
}

#[derive(Clone)]
struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl Write for LogWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// reqwest is built with rustls (without a default crypto provider, so that
/// no second one is compiled in): the process uses ring, installed once.
fn tls_provider() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// An HTTP client for tests.
pub fn http_client() -> reqwest::Client {
    http_builder().build().unwrap()
}

/// A client builder for tests (see [`http_client`]).
pub fn http_builder() -> reqwest::ClientBuilder {
    tls_provider();
    reqwest::Client::builder()
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub data_dir: TempDir,
    /// Outside the data dir: it holds SMS in clear, as a phone would.
    pub sms_dir: TempDir,
    pub account: NewAccount,
    pub public_url: String,
    /// The first-run link `serve` printed (no operator existed).
    pub setup_link: Option<String>,
    /// The plain-HTTP redirect listener, when configured.
    pub redirect_addr: Option<std::net::SocketAddr>,
    /// The server's own address (the base URL says http even with TLS).
    pub addr: std::net::SocketAddr,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Like `spawn`, with a chance to change the configuration first.
    pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> Self {
        captured_logs();
        let data_dir = tempfile::tempdir().unwrap();
        let sms_dir = tempfile::tempdir().unwrap();
        let mut config = Config::load(
            None,
            Vec::new(),
            &Overrides {
                data_dir: Some(data_dir.path().into()),
                listen: Some("127.0.0.1:0".into()),
            },
        )
        .unwrap();
        config.sms.console.path = Some(sms_dir.path().join("sms.jsonl"));
        adjust(&mut config);
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let app = Application::build(config, clock.clone()).await.unwrap();
        let base = format!("http://{}", app.addr());
        let public_url = app.public_url().to_string();
        let setup_link = app.setup_link().map(str::to_string);
        let (redirect_addr, addr) = (app.redirect_addr(), app.addr());
        tokio::spawn(app.run_until_stopped());
        let mut t = Self {
            base,
            client: http_client(),
            clock,
            data_dir,
            sms_dir,
            account: placeholder_account(),
            public_url,
            setup_link,
            redirect_addr,
            addr,
        };
        t.account = t.new_account("Acme").await;
        t
    }

    /// Creates an account the way the CLI does: its own store handle on the
    /// same data dir while the server runs.
    pub async fn new_account(&self, name: &str) -> NewAccount {
        let dir = self.data_dir.path().to_path_buf();
        let name = name.to_string();
        flexsecure::blocking::run(move || {
            let store = Store::open(&dir).unwrap();
            flexsecure::service::create_account(
                &store,
                &name,
                &flexsecure::domain::Actor::Cli,
                chrono::Utc::now(),
            )
            .unwrap()
        })
        .await
        .unwrap()
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.advance(Duration::seconds(seconds));
    }

    pub fn req(&self, method: Method, path: &str, key: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .header("apikey", key)
    }

    pub fn manage(&self, method: Method, path: &str) -> RequestBuilder {
        self.req(method, path, &self.account.manage_key)
    }

    pub fn auth(&self, method: Method, path: &str) -> RequestBuilder {
        self.req(method, path, &self.account.auth_key)
    }

    /// POST a management call that must succeed; returns its JSON.
    pub async fn setup(&self, method: Method, path: &str, body: Value) -> Value {
        let r = self.manage(method, path).json(&body).send().await.unwrap();
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {v}");
        v
    }

    /// A system with the given policy and one granted user.
    pub async fn system_with_user(&self, system: &str, policy: &str, email: &str, phone: &str) {
        self.setup(
            Method::POST,
            "/v2/systems",
            json!({"name": system, "policy": policy}),
        )
        .await;
        self.setup(
            Method::POST,
            "/v2/users",
            json!({"email": email, "phone": phone}),
        )
        .await;
        self.setup(
            Method::PUT,
            &format!("/v2/systems/{system}/users/{email}"),
            Value::Null,
        )
        .await;
    }

    pub async fn start(&self, email: &str, system: &str) -> Response {
        self.auth(Method::POST, "/v2/user/authenticate")
            .json(&json!({"email": email, "system": system}))
            .send()
            .await
            .unwrap()
    }

    pub async fn complete(&self, body: Value) -> Response {
        self.auth(Method::POST, "/v2/system/authenticate/user")
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Approves a link on the appliance's page, picking `pick` (the start
    /// response's `match_code`) as the user would.
    pub async fn confirm_on_page(&self, link: &str, pick: &str) -> Response {
        self.client
            .post(link)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("pick={pick}"))
            .send()
            .await
            .unwrap()
    }

    /// Waits (bounded: 10 s) until no SMS is queued or being sent, so that
    /// counting the SMS a phone got is not racing an older one.
    pub async fn settle_outbox(&self) {
        let dir = self.data_dir.path().to_path_buf();
        let store = flexsecure::blocking::run(move || Store::open(&dir).unwrap())
            .await
            .unwrap();
        for _ in 0..400 {
            let s = store.clone();
            let busy = flexsecure::blocking::run(move || {
                s.read_blocking(|db| db.queue_summary()).unwrap()
            })
            .await
            .unwrap()
            .by_status_and_channel
            .iter()
            .any(|c| c.status == "queued" || c.status == "sending");
            if !busy {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the outbox did not settle");
    }

    /// `GET /v2/authentications/{rid}`'s JSON.
    pub async fn status(&self, rid: &str) -> Value {
        let r = self
            .auth(Method::GET, &format!("/v2/authentications/{rid}"))
            .send()
            .await
            .unwrap();
        json(r).await.1
    }

    /// The server's clock.
    pub fn clock_now(&self) -> chrono::DateTime<chrono::Utc> {
        use flexsecure::clock::Clock;
        self.clock.now()
    }

    /// Sets the server's clock.
    pub fn set_time(&self, to: chrono::DateTime<chrono::Utc>) {
        self.clock.set(to);
    }

    pub fn sms_path(&self) -> PathBuf {
        self.sms_dir.path().join("sms.jsonl")
    }

    /// All SMS the console channel wrote so far to `phone`.
    pub fn sms_sent_to(&self, phone: &str) -> Vec<String> {
        let text = std::fs::read_to_string(self.sms_path()).unwrap_or_default();
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["to"] == phone)
            .map(|v| v["text"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Waits (at most 10 s, bounded polls) until `phone` has received `n` SMS;
    /// returns the newest.
    pub async fn wait_sms(&self, phone: &str, n: usize) -> String {
        for _ in 0..400 {
            let all = self.sms_sent_to(phone);
            if all.len() >= n {
                return all[n - 1].clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("no SMS #{n} to {phone}; got {:?}", self.sms_sent_to(phone));
    }
}

fn placeholder_account() -> NewAccount {
    NewAccount {
        account_id: String::new(),
        name: String::new(),
        auth_key: String::new(),
        auth_key_id: String::new(),
        manage_key: String::new(),
        manage_key_id: String::new(),
    }
}

/// The PIN in an SMS text (the first run of digits).
pub fn pin_of(text: &str) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|s| s.len() >= 4)
        .unwrap()
        .to_string()
}

/// The link in an SMS text.
pub fn link_of(text: &str) -> String {
    text.split_whitespace()
        .find(|w| w.starts_with("http"))
        .unwrap()
        .to_string()
}

/// The token at the end of the appliance's own link.
pub fn token_of(link: &str) -> String {
    link.rsplit('/').next().unwrap().to_string()
}

pub async fn json(r: Response) -> (u16, Value) {
    let s = r.status().as_u16();
    (s, r.json().await.unwrap_or(Value::Null))
}
