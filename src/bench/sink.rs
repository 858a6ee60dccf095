//! The load tool's SMS sink: a small actix-web server on 127.0.0.1:0, in
//! its own thread and runtime, that takes what the `generic-json` gateway
//! preset posts (`POST {url}` with `{"to", "text", "id"}`), answers `200
//! {"id": ...}`, and keeps the newest PIN (the first run of 4 or more digits
//! of the text) per phone number, waking the login that waits for it.

use actix_web::{web, App, HttpResponse, HttpServer};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// One phone number's newest PIN, and the login waiting for it.
#[derive(Default)]
struct Slot {
    pin: Mutex<Option<String>>,
    ready: Condvar,
}

/// What the sink has seen; shared with the load workers.
pub struct SinkState {
    slots: HashMap<String, Slot>,
    /// SMS accepted (for a known number, with a PIN in the text).
    pub delivered: AtomicU64,
    /// Requests the sink refused: not JSON, no `to`/`text`, an unknown
    /// number or no PIN in the text.
    pub refused: AtomicU64,
}

impl SinkState {
    /// Forgets the number's PIN; called before a login starts, so that only
    /// an SMS sent after the start can satisfy the wait.
    pub fn clear(&self, phone: &str) {
        if let Some(s) = self.slots.get(phone) {
            *s.pin.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }

    /// Waits at most `timeout` for a PIN to `phone` and takes it.
    pub fn wait(&self, phone: &str, timeout: Duration) -> Option<String> {
        let s = self.slots.get(phone)?;
        let until = Instant::now() + timeout;
        let mut pin = s.pin.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(p) = pin.take() {
                return Some(p);
            }
            let left = until.checked_duration_since(Instant::now())?;
            pin = s
                .ready
                .wait_timeout(pin, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Records one SMS; false if it is not one the sink can use.
    fn deliver(&self, to: &str, text: &str) -> bool {
        let (Some(s), Some(p)) = (self.slots.get(to), first_pin(text)) else {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return false;
        };
        *s.pin.lock().unwrap_or_else(|e| e.into_inner()) = Some(p.to_string());
        s.ready.notify_all();
        self.delivered.fetch_add(1, Ordering::Relaxed);
        true
    }
}

/// The first run of 4 or more ASCII digits in `text`.
pub fn first_pin(text: &str) -> Option<&str> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let j = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
            if j - i >= 4 {
                return Some(&text[i..j]);
            }
            i = j;
        } else {
            i += 1;
        }
    }
    None
}

/// The running sink; stopped when dropped.
pub struct Sink {
    /// `http://127.0.0.1:PORT/sms`, the gateway URL to configure.
    pub url: String,
    pub state: Arc<SinkState>,
    system: actix_web::rt::System,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn receive(state: web::Data<Arc<SinkState>>, body: web::Bytes) -> HttpResponse {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let (to, text) = (v["to"].as_str(), v["text"].as_str());
    match (to, text) {
        (Some(to), Some(text)) if state.deliver(to, text) => {
            HttpResponse::Ok().json(serde_json::json!({ "id": v["id"] }))
        }
        (Some(_), Some(_)) => HttpResponse::UnprocessableEntity().finish(),
        _ => {
            state.refused.fetch_add(1, Ordering::Relaxed);
            HttpResponse::BadRequest().finish()
        }
    }
}

impl Sink {
    /// Starts the sink for these phone numbers (E.164, as the gateway sends them).
    pub fn start(phones: &[String]) -> anyhow::Result<Self> {
        let state = Arc::new(SinkState {
            slots: phones
                .iter()
                .map(|p| (p.clone(), Slot::default()))
                .collect(),
            delivered: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        });
        let data = web::Data::new(state.clone());
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("bench-sink".into())
            .spawn(move || {
                let system = actix_web::rt::System::new();
                let started = system.block_on(async {
                    let srv = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .default_service(web::post().to(receive))
                    })
                    .workers(2)
                    .disable_signals()
                    .bind(("127.0.0.1", 0))?;
                    let addr = srv.addrs().first().copied();
                    let server = srv.run();
                    actix_web::rt::spawn(server);
                    Ok::<_, std::io::Error>(addr)
                });
                let _ = tx.send(started.map(|a| (a, actix_web::rt::System::current())));
                system.run().ok();
            })?;
        let (addr, system) = rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| anyhow::anyhow!("the SMS sink did not start"))??;
        let addr = addr.ok_or_else(|| anyhow::anyhow!("the SMS sink has no address"))?;
        Ok(Self {
            url: format!("http://{addr}/sms"),
            state,
            system,
            thread: Some(thread),
        })
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.system.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_pin_is_the_first_run_of_four_digits() {
        use super::first_pin;
        assert_eq!(
            first_pin("482913 is your PIN for Bench. It expires in 5 min."),
            Some("482913")
        );
        assert_eq!(first_pin("in 5 min: 12 then 0042x"), Some("0042"));
        assert_eq!(first_pin("no 123 pin"), None);
        assert_eq!(first_pin("ends 98765"), Some("98765"));
    }
}
