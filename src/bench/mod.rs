//! `flexsecure bench`: a load tool for the login path. It starts an HTTP
//! SMS sink, runs this same binary as `serve` on a temporary data
//! directory with one `generic-json` gateway pointing at the sink (no
//! modems, SMS limits off), provisions an account, a `pin` system and N
//! users through the CLI and the management API, then runs closed-loop PIN
//! logins and `GET /healthz` at concurrency C and reports throughput,
//! latency percentiles, errors and the server's memory. See
//! docs/performance.md.

pub mod load;
pub mod report;
pub mod sink;

use anyhow::{bail, Context};
use load::{User, Window};
use report::{Latency, Report};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// What `flexsecure bench` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub users: usize,
    pub concurrency: usize,
    pub duration_secs: u64,
    pub warmup_secs: u64,
    pub json: bool,
}

const SYSTEM: &str = "Bench";
/// How long a login waits for its SMS at the sink.
const PIN_WAIT: Duration = Duration::from_secs(10);
/// `FLEXSECURE_*` variables that would change the child's configuration.
const CHILD_ENV_REMOVED: &[&str] = &[
    "FLEXSECURE_CONFIG",
    "FLEXSECURE_SERVER_LISTEN",
    "FLEXSECURE_SERVER_PUBLIC_URL",
    "FLEXSECURE_STORAGE_DATA_DIR",
    "FLEXSECURE_SMS_CONSOLE_PATH",
];

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The server child, killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn child(config: &Path) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap_or_else(|_| "flexsecure".into()));
    c.arg("--config").arg(config);
    for v in CHILD_ENV_REMOVED {
        c.env_remove(v);
    }
    c
}

fn config_text(data_dir: &Path, sink_url: &str) -> String {
    let s = |v: &str| toml::Value::String(v.to_string()).to_string();
    format!(
        "version = 1\n[server]\nlisten = \"127.0.0.1:0\"\n[storage]\ndata_dir = {}\n\
         [sms.limits]\nper_number = {{ max = 0 }}\nper_prefix = {{ max = 0 }}\n\
         per_account_hour = 0\nper_account_day = 0\n\
         [[sms.http]]\nname = \"sink\"\npreset = \"generic-json\"\nurl = {}\n",
        s(&data_dir.to_string_lossy()),
        s(sink_url)
    )
}

/// Starts `serve`; returns it with its base URL, read from its `listen=`
/// log line (stderr is drained to the end so the server never blocks).
fn serve(config: &Path) -> anyhow::Result<(Server, String)> {
    let level = std::env::var("FLEXSECURE_LOG").unwrap_or_else(|_| "info".into());
    let mut c = child(config);
    c.arg("serve")
        .env("FLEXSECURE_LOG", level)
        .env_remove("FLEXSECURE_LOG_FORMAT")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut proc = c.spawn().context("starting the server")?;
    let stderr = proc.stderr.take();
    let server = Server(proc);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Some(stderr) = stderr else { return };
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listen=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(addr.to_string());
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(30))
        .context("the server did not log its address (listen=) within 30 s")?;
    Ok((server, format!("http://{addr}")))
}

fn check(
    r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    what: &str,
) -> anyhow::Result<String> {
    let mut r = r.with_context(|| what.to_string())?;
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    if !(200..300).contains(&status) {
        bail!("{what}: {status} {body}");
    }
    Ok(body)
}

/// Creates the system and users and grants them; returns the timings.
fn provision(
    base: &str,
    manage: &str,
    users: &[User],
    workers: usize,
) -> anyhow::Result<(f64, f64)> {
    let agent = load::agent();
    let t0 = Instant::now();
    let system = serde_json::json!({"name": SYSTEM, "policy": "pin"}).to_string();
    check(
        agent
            .post(format!("{base}/v2/systems"))
            .header("apikey", manage)
            .header("Content-Type", "application/json")
            .send(&system),
        "creating the system",
    )?;
    let mut csv = String::from("email,phone\n");
    for u in users {
        csv.push_str(&format!("{},{}\n", u.email, u.phone));
    }
    check(
        agent
            .post(format!("{base}/v2/users/import"))
            .header("apikey", manage)
            .header("Content-Type", "text/csv")
            .send(&csv),
        "importing the users",
    )?;
    let t1 = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers.clamp(1, 16))
            .map(|_| {
                s.spawn(|| {
                    let agent = load::agent();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(u) = users.get(i) else {
                            return anyhow::Ok(());
                        };
                        let url = format!("{base}/v2/systems/{SYSTEM}/users/{}", u.email);
                        check(
                            agent.put(&url).header("apikey", manage).send_empty(),
                            "granting",
                        )?;
                    }
                })
            })
            .collect();
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("a grant thread panicked"))??;
        }
        Ok::<_, anyhow::Error>(())
    })?;
    Ok((
        t1.duration_since(t0).as_secs_f64(),
        t1.elapsed().as_secs_f64(),
    ))
}

/// `flexsecure bench`.
pub fn run(o: &Options) -> anyhow::Result<()> {
    if o.users < o.concurrency || o.concurrency == 0 || o.duration_secs == 0 {
        bail!("need --concurrency >= 1, --users >= --concurrency and --duration >= 1");
    }
    let users: Vec<User> = (0..o.users)
        .map(|i| User {
            email: format!("u{i}@bench.example"),
            phone: format!("+4179{i:07}"),
        })
        .collect();
    let phones: Vec<String> = users.iter().map(|u| u.phone.clone()).collect();
    let sink = sink::Sink::start(&phones)?;

    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = TempDir(
        std::env::temp_dir().join(format!("flexsecure-bench-{}-{nanos}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0)?;
    let config = dir.0.join("flexsecure.toml");
    std::fs::write(&config, config_text(&dir.0.join("data"), &sink.url))?;

    let progress = |m: &str| eprintln!("bench: {m}");
    let t0 = Instant::now();
    let out = child(&config)
        .args(["account", "create", "--name", "Bench", "--json"])
        .output()
        .context("running account create")?;
    if !out.status.success() {
        bail!(
            "account create failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let account: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let key = |k: &str| {
        account[k]
            .as_str()
            .map(str::to_string)
            .context("account create: no key")
    };
    let (manage, auth) = (key("manage_key")?, key("auth_key")?);
    let account_secs = t0.elapsed().as_secs_f64();

    let (server, base) = serve(&config)?;
    progress(&format!(
        "server pid {} at {base}; provisioning {} users",
        server.0.id(),
        o.users
    ));
    let (import_secs, grants_secs) = provision(&base, &manage, &users, o.concurrency)?;

    let mut r = Report {
        users: o.users,
        concurrency: o.concurrency,
        duration_seconds: o.duration_secs,
        warmup_seconds: o.warmup_secs,
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        ..Report::default()
    };
    r.provisioning = report::Provisioning {
        users: o.users,
        seconds: account_secs + import_secs + grants_secs,
        account_seconds: account_secs,
        system_and_import_seconds: import_secs,
        grants_seconds: grants_secs,
        grant_calls: o.users,
    };

    progress("logins");
    let (warm, dur) = (
        Duration::from_secs(o.warmup_secs),
        Duration::from_secs(o.duration_secs),
    );
    let target = load::Target {
        base: &base,
        auth_key: &auth,
        system: SYSTEM,
        users: &users,
        sink: &sink.state,
        server_pid: server.0.id(),
        pin_wait: PIN_WAIT,
    };
    let s = load::logins(&target, o.concurrency, Window::after(warm, dur));
    r.logins = s.login.len();
    r.logins_per_second = Report::rate(s.login.len(), o.duration_secs);
    r.starts_per_second = Report::rate(s.start.len(), o.duration_secs);
    r.completes_per_second = Report::rate(s.complete.len(), o.duration_secs);
    r.errors = s.errors.values().sum();
    r.warmup_errors = s.warmup_errors.values().sum();
    r.sms_delivered = s.sms_in_window;
    r.server_cpu_ms = s.server_cpu_ms;
    r.bench_cpu_ms = s.bench_cpu_ms;
    r.latency_ms.insert("start", Latency::of(s.start));
    r.latency_ms.insert("complete", Latency::of(s.complete));
    r.latency_ms.insert("login", Latency::of(s.login));
    r.latency_ms.insert("sms_wait", Latency::of(s.sms_wait));
    r.errors_by_kind = s.errors;
    r.warmup_errors_by_kind = s.warmup_errors;

    progress("GET /healthz");
    let h = load::healthz(
        &base,
        server.0.id(),
        o.concurrency,
        Window::after(warm.min(Duration::from_secs(1)), dur),
    );
    r.healthz = report::Healthz {
        requests: h.start.len(),
        requests_per_second: Report::rate(h.start.len(), o.duration_secs),
        errors: h.errors.values().sum(),
        latency_ms: Latency::of(h.start),
        server_cpu_ms: h.server_cpu_ms,
        bench_cpu_ms: h.bench_cpu_ms,
    };
    (r.server_peak_rss_kb, r.server_rss_kb) = report::rss_kb(server.0.id());
    drop(server);
    r.sms_delivered_total = sink.state.delivered.load(Ordering::Relaxed);
    r.sms_refused_by_sink = sink.state.refused.load(Ordering::Relaxed);
    r.finish();
    if o.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!("{}", r.text());
    }
    Ok(())
}
