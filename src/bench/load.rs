//! The closed loops: C worker threads, each with its own keep-alive HTTP
//! client, for a warm-up and then a measured window. Only calls that begin
//! and end inside the window count towards throughput and latency; errors
//! are counted by the phase in which their login began.

use super::sink::SinkState;
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// One user the tool logs in.
#[derive(Clone)]
pub struct User {
    pub email: String,
    pub phone: String,
}

/// Where and as whom the logins go.
pub struct Target<'a> {
    pub base: &'a str,
    pub auth_key: &'a str,
    pub system: &'a str,
    pub users: &'a [User],
    pub sink: &'a SinkState,
    /// The server process, for its CPU time.
    pub server_pid: u32,
    /// How long a login waits for its SMS before it counts as `sms_timeout`.
    pub pin_wait: Duration,
}

/// The warm-up ends at `start`, the measured window at `end`.
#[derive(Clone, Copy)]
pub struct Window {
    pub start: Instant,
    pub end: Instant,
}

impl Window {
    pub fn after(warmup: Duration, duration: Duration) -> Self {
        let start = Instant::now() + warmup;
        Self {
            start,
            end: start + duration,
        }
    }

    fn inside(&self, from: Instant, to: Instant) -> bool {
        from >= self.start && to <= self.end
    }
}

/// Latencies in microseconds and error counts of one phase.
#[derive(Default)]
pub struct Samples {
    pub start: Vec<u64>,
    pub sms_wait: Vec<u64>,
    pub complete: Vec<u64>,
    pub login: Vec<u64>,
    pub errors: BTreeMap<String, u64>,
    pub warmup_errors: BTreeMap<String, u64>,
    /// SMS the sink accepted during the measured window.
    pub sms_in_window: u64,
    /// CPU time (user + system) in the measured window of the server and
    /// of this process (load workers and sink), in milliseconds.
    pub server_cpu_ms: u64,
    pub bench_cpu_ms: u64,
}

impl Samples {
    fn merge(&mut self, o: Samples) {
        self.start.extend(o.start);
        self.sms_wait.extend(o.sms_wait);
        self.complete.extend(o.complete);
        self.login.extend(o.login);
        for (k, v) in o.errors {
            *self.errors.entry(k).or_default() += v;
        }
        for (k, v) in o.warmup_errors {
            *self.warmup_errors.entry(k).or_default() += v;
        }
    }

    fn error(&mut self, w: &Window, began: Instant, kind: String) {
        let map = if began >= w.start {
            &mut self.errors
        } else {
            &mut self.warmup_errors
        };
        *map.entry(kind).or_default() += 1;
        // No hot loop against a failing server.
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A client like an application's back end: keep-alive, no status errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build(),
    )
}

fn micros(from: Instant, to: Instant) -> u64 {
    to.duration_since(from).as_micros() as u64
}

/// POSTs JSON; the status and the parsed answer (or an error kind).
fn post(
    agent: &ureq::Agent,
    url: &str,
    key: &str,
    body: &str,
) -> Result<(u16, serde_json::Value), String> {
    let mut r = agent
        .post(url)
        .header("apikey", key)
        .header("Content-Type", "application/json")
        .send(body)
        .map_err(|e| format!("transport: {e}"))?;
    let status = r.status().as_u16();
    let text = r
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("transport: {e}"))?;
    Ok((status, serde_json::from_str(&text).unwrap_or_default()))
}

/// `start_429_rate_limited`, `complete_transport`...
fn kind(call: &str, r: &Result<(u16, serde_json::Value), String>) -> String {
    match r {
        Ok((s, v)) => match v["error"]["code"].as_str() {
            Some(code) => format!("{call}_{s}_{code}"),
            None => format!("{call}_{s}"),
        },
        Err(_) => format!("{call}_transport"),
    }
}

/// One worker: logs in its own users (every C-th one) in turn.
fn login_worker(t: &Target, w: Window, me: usize, workers: usize) -> Samples {
    let agent = agent();
    let mine: Vec<&User> = t.users.iter().skip(me).step_by(workers).collect();
    let start_url = format!("{}/v2/user/authenticate", t.base);
    let complete_url = format!("{}/v2/system/authenticate/user", t.base);
    let mut out = Samples::default();
    let mut next = 0;
    while Instant::now() < w.end && !mine.is_empty() {
        let u = mine[next % mine.len()];
        next += 1;
        t.sink.clear(&u.phone);
        let body = serde_json::json!({"email": u.email, "system": t.system}).to_string();
        let t0 = Instant::now();
        let r = post(&agent, &start_url, t.auth_key, &body);
        let t1 = Instant::now();
        let request_id = match &r {
            Ok((202, v)) => v["request_id"].as_str().unwrap_or_default().to_string(),
            _ => {
                out.error(&w, t0, kind("start", &r));
                continue;
            }
        };
        let Some(pin) = t.sink.wait(&u.phone, t.pin_wait) else {
            out.error(&w, t0, "sms_timeout".into());
            continue;
        };
        let t2 = Instant::now();
        let body = serde_json::json!({"email": u.email, "system": t.system,
            "pin": pin, "request_id": request_id})
        .to_string();
        let r = post(&agent, &complete_url, t.auth_key, &body);
        let t3 = Instant::now();
        match &r {
            Ok((200, v)) if v["authenticated"] == true => {}
            Ok((200, _)) => {
                out.error(&w, t0, "complete_not_approved".into());
                continue;
            }
            _ => {
                out.error(&w, t0, kind("complete", &r));
                continue;
            }
        }
        if w.inside(t0, t1) {
            out.start.push(micros(t0, t1));
        }
        if w.inside(t1, t2) {
            out.sms_wait.push(micros(t1, t2));
        }
        if w.inside(t2, t3) {
            out.complete.push(micros(t2, t3));
        }
        if w.inside(t0, t3) {
            out.login.push(micros(t0, t3));
        }
    }
    out
}

/// Runs `worker(index)` on `workers` threads and meanwhile counts the
/// sink's SMS and the CPU time spent during the window.
fn phase<F>(workers: usize, w: Window, sink: Option<&SinkState>, pid: u32, worker: F) -> Samples
where
    F: Fn(usize) -> Samples + Sync,
{
    let worker = &worker;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers).map(|i| s.spawn(move || worker(i))).collect();
        let snap = || {
            let sms = sink.map_or(0, |k| k.delivered.load(Ordering::Relaxed));
            (sms, cpu_ms(&pid.to_string()), cpu_ms("self"))
        };
        std::thread::sleep(w.start.saturating_duration_since(Instant::now()));
        let before = snap();
        std::thread::sleep(w.end.saturating_duration_since(Instant::now()));
        let after = snap();
        let mut all = Samples::default();
        for h in handles {
            match h.join() {
                Ok(o) => all.merge(o),
                Err(_) => *all.errors.entry("worker_panicked".into()).or_default() += 1,
            }
        }
        all.sms_in_window = after.0 - before.0;
        all.server_cpu_ms = after.1.saturating_sub(before.1);
        all.bench_cpu_ms = after.2.saturating_sub(before.2);
        all
    })
}

/// Logins at concurrency `workers`: start, wait for the SMS, complete.
pub fn logins(t: &Target, workers: usize, w: Window) -> Samples {
    phase(workers, w, Some(t.sink), t.server_pid, |i| {
        login_worker(t, w, i, workers)
    })
}

/// `GET /healthz` at concurrency `workers`; latencies in `start`.
pub fn healthz(base: &str, server_pid: u32, workers: usize, w: Window) -> Samples {
    let url = format!("{base}/healthz");
    phase(workers, w, None, server_pid, |_| {
        let agent = agent();
        let mut out = Samples::default();
        while Instant::now() < w.end {
            let t0 = Instant::now();
            let r = agent
                .get(&url)
                .call()
                .map_err(|e| format!("transport: {e}"));
            let ok = match r {
                Ok(mut r) => r.status() == 200 && r.body_mut().read_to_string().is_ok(),
                Err(_) => false,
            };
            let t1 = Instant::now();
            if !ok {
                out.error(&w, t0, "healthz".into());
            } else if w.inside(t0, t1) {
                out.start.push(micros(t0, t1));
            }
        }
        out
    })
}

/// User + system CPU time of `/proc/{pid}` (a pid or `self`) in ms,
/// counting 100 clock ticks per second (Linux's USER_HZ); 0 if unreadable.
pub fn cpu_ms(pid: &str) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses: state is
    // the first, utime the 12th and stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|x| x.parse().ok())
        .collect();
    f.iter().sum::<u64>() * 10
}
