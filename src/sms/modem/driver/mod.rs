//! One modem, one thread: opens the serial port, initialises the modem,
//! sends SMS in PDU mode, polls its health, reads delivery reports, and
//! recovers on its own when the device vanishes or falls silent.
//!
//! Async code talks to it through a channel (`ModemHandle::send`) and reads
//! its state from a shared snapshot; the thread owns the port alone.

mod init;
mod io;
mod reports;
mod send;

use super::at::{self, ErrorClass, Final, Item, Parser, SimState, Urc};
use super::pdu::{self, SubmitOptions};
use crate::sms::SendOutcome;
use serde::Serialize;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long to wait for what.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// An ordinary AT command.
    pub command: Duration,
    /// The `> ` prompt after `AT+CMGS`.
    pub prompt: Duration,
    /// The network's answer after the PDU is handed over.
    pub submit: Duration,
    pub health_interval: Duration,
    /// Longest pause between attempts to reopen a lost device.
    pub reopen_max: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            command: Duration::from_secs(5),
            prompt: Duration::from_secs(5),
            submit: Duration::from_secs(60),
            health_interval: Duration::from_secs(60),
            reopen_max: Duration::from_secs(30),
        }
    }
}

#[derive(Clone)]
pub struct ModemSettings {
    pub name: String,
    pub port: PathBuf,
    pub baud: u32,
    pub sim_pin: Option<String>,
    pub smsc: Option<String>,
    pub priority: i32,
    pub timeouts: Timeouts,
}

/// A delivery report from the network, for the outbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    /// `modem:<name>`, the channel the message went out on.
    pub channel: String,
    /// The message's TP-MR, as recorded when it was sent.
    pub provider_id: String,
    pub delivered: bool,
}

pub type ReportSink = Arc<dyn Fn(DeliveryReport) + Send + Sync>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModemState {
    /// Not open; the driver retries with a growing pause.
    Closed,
    Initialising,
    Ready,
    /// The SIM refused its PIN or wants its PUK: a person must act; the
    /// driver does not retry, so the SIM is never blocked by the appliance.
    SimBlocked,
}

/// What the appliance knows of a modem right now.
#[derive(Debug, Clone, Serialize)]
pub struct ModemStatus {
    pub name: String,
    pub port: String,
    pub state: ModemState,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub imei: Option<String>,
    pub sim: Option<String>,
    /// 3GPP registration status (1 home, 5 roaming).
    pub registration: Option<u8>,
    /// RSSI 0–31 (99 unknown).
    pub signal: Option<u8>,
    pub operator: Option<String>,
    pub last_error: Option<String>,
    pub sent: u64,
    pub failed: u64,
}

impl ModemStatus {
    fn new(s: &ModemSettings) -> Self {
        Self {
            name: s.name.clone(),
            port: s.port.display().to_string(),
            state: ModemState::Closed,
            manufacturer: None,
            model: None,
            imei: None,
            sim: None,
            registration: None,
            signal: None,
            operator: None,
            last_error: None,
            sent: 0,
            failed: 0,
        }
    }

    /// Ready and registered on a network.
    pub fn healthy(&self) -> bool {
        self.state == ModemState::Ready && self.registration.is_some_and(at::is_registered)
    }
}

enum Request {
    Send {
        to: String,
        text: String,
        /// Not to be sent after this: the secret expires or the caller
        /// stops waiting, whichever comes first.
        deadline: Instant,
        reply: mpsc::Sender<SendOutcome>,
    },
    Stop,
}

/// The async side's handle on a modem thread.
#[derive(Clone)]
pub struct ModemHandle {
    name: String,
    priority: i32,
    tx: mpsc::Sender<Request>,
    status: Arc<Mutex<ModemStatus>>,
    /// Longest a send may take before the caller stops waiting.
    send_budget: Duration,
}

impl ModemHandle {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn priority(&self) -> i32 {
        self.priority
    }

    pub fn status(&self) -> ModemStatus {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn healthy(&self) -> bool {
        self.status
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .healthy()
    }

    /// Sends one SMS through this modem; blocks until the modem answers.
    /// A message still waiting for the modem at `deadline` is not sent.
    pub fn send(&self, to: &str, text: &str, deadline: Option<Instant>) -> SendOutcome {
        crate::blocking::check("modem send");
        let (reply, rx) = mpsc::channel();
        let give_up = Instant::now() + self.send_budget;
        let req = Request::Send {
            to: to.into(),
            text: text.into(),
            deadline: deadline.map_or(give_up, |d| d.min(give_up)),
            reply,
        };
        if self.tx.send(req).is_err() {
            return SendOutcome::Retryable("modem driver stopped".into());
        }
        match rx.recv_timeout(self.send_budget) {
            Ok(o) => o,
            // The driver took it and has not answered: it may be mid-send.
            Err(RecvTimeoutError::Timeout) => {
                SendOutcome::Unknown("no answer from the modem driver".into())
            }
            Err(RecvTimeoutError::Disconnected) => {
                SendOutcome::Retryable("modem driver stopped".into())
            }
        }
    }

    pub fn stop(&self) {
        let _ = self.tx.send(Request::Stop);
    }
}

/// Starts the driver thread for one modem.
pub fn spawn(settings: ModemSettings, reports: ReportSink) -> std::io::Result<ModemHandle> {
    let (tx, rx) = mpsc::channel();
    let status = Arc::new(Mutex::new(ModemStatus::new(&settings)));
    let t = &settings.timeouts;
    // Enough for a long message of several parts, each with prompt and submit.
    let send_budget = (t.prompt + t.submit) * 4 + t.command;
    let handle = ModemHandle {
        name: settings.name.clone(),
        priority: settings.priority,
        tx,
        status: status.clone(),
        send_budget,
    };
    std::thread::Builder::new()
        .name(format!("modem-{}", settings.name))
        .spawn(move || {
            crate::blocking::mark_thread();
            Driver::new(settings, status, reports).run(rx)
        })?;
    Ok(handle)
}

/// Why a command did not complete.
#[derive(Debug)]
enum ExecError {
    /// No final reply before the deadline.
    Timeout,
    /// The device is gone or broken.
    Io(std::io::Error),
}

struct Reply {
    lines: Vec<String>,
    fin: Final,
}

impl Reply {
    fn ok(&self) -> bool {
        matches!(self.fin, Final::Ok)
    }

    fn first(&self, prefix: &str) -> Option<&str> {
        self.lines
            .iter()
            .map(String::as_str)
            .find(|l| l.starts_with(prefix))
    }
}

/// Why initialisation stopped.
enum InitError {
    /// Try again after a pause (device not answering, I/O error).
    Transient(String),
    /// A person must act (SIM PIN refused or missing, PUK).
    Blocked(String),
}

struct Driver {
    s: ModemSettings,
    status: Arc<Mutex<ModemStatus>>,
    reports: ReportSink,
    port: Option<Box<dyn serialport::SerialPort>>,
    parser: Parser,
    /// The configured PIN was tried once; whatever happened, never again.
    pin_tried: bool,
    /// Consecutive commands without an answer; two mean a hung modem.
    silent: u32,
    next_health: Instant,
    /// Stored status reports announced by `+CDSI`, read when idle.
    pending_reports: Vec<(String, u32)>,
    /// Items read but not yet handled.
    backlog: std::collections::VecDeque<Item>,
    /// Reference of the last long message's parts. Counted up, not drawn at
    /// random, so two long messages in a row to one phone never share one
    /// (the phone joins parts by sender and reference).
    concat_ref: u8,
}

const READ_TICK: Duration = Duration::from_millis(20);
const CTRL_Z: u8 = 0x1A;
const ESC: u8 = 0x1B;

impl Driver {
    fn next_concat_ref(&mut self) -> u8 {
        self.concat_ref = self.concat_ref.wrapping_add(1);
        self.concat_ref
    }

    fn new(s: ModemSettings, status: Arc<Mutex<ModemStatus>>, reports: ReportSink) -> Self {
        Self {
            s,
            status,
            reports,
            port: None,
            parser: Parser::new(),
            pin_tried: false,
            silent: 0,
            next_health: Instant::now(),
            pending_reports: Vec::new(),
            backlog: std::collections::VecDeque::new(),
            concat_ref: rand::random(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut ModemStatus)) {
        f(&mut self.status.lock().unwrap_or_else(|e| e.into_inner()));
    }

    fn state(&self) -> ModemState {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).state
    }

    fn run(mut self, rx: mpsc::Receiver<Request>) {
        let mut backoff = Duration::from_millis(250);
        loop {
            match self.state() {
                ModemState::Closed | ModemState::Initialising => match self.open_and_init() {
                    Ok(()) => {
                        backoff = Duration::from_millis(250);
                        tracing::info!(modem = %self.s.name, "modem ready");
                    }
                    Err(InitError::Blocked(why)) => {
                        tracing::error!(modem = %self.s.name, reason = %why, "modem needs a person");
                        self.close(&why);
                        self.update(|st| st.state = ModemState::SimBlocked);
                    }
                    Err(InitError::Transient(why)) => {
                        tracing::warn!(modem = %self.s.name, reason = %why, retry_in_ms = backoff.as_millis() as u64, "modem not ready");
                        self.close(&why);
                        if self.wait_refusing(&rx, backoff) {
                            return;
                        }
                        backoff = (backoff * 2).min(self.s.timeouts.reopen_max);
                    }
                },
                ModemState::SimBlocked => {
                    if self.wait_refusing(&rx, Duration::from_secs(3600)) {
                        return;
                    }
                }
                ModemState::Ready => {
                    if self.serve_once(&rx) {
                        self.close("stopped");
                        return;
                    }
                }
            }
        }
    }

    /// Answers sends with "not ready" for `pause`; returns true on Stop.
    fn wait_refusing(&self, rx: &mpsc::Receiver<Request>, pause: Duration) -> bool {
        let until = Instant::now() + pause;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            match rx.recv_timeout(left) {
                Ok(Request::Send { reply, .. }) => {
                    let _ = reply.send(SendOutcome::Retryable(format!(
                        "modem {} is not ready",
                        self.s.name
                    )));
                }
                Ok(Request::Stop) | Err(RecvTimeoutError::Disconnected) => return true,
                Err(RecvTimeoutError::Timeout) => return false,
            }
        }
    }

    /// One turn of the ready loop: a request, or idle reading and health.
    /// Returns true when asked to stop.
    fn serve_once(&mut self, rx: &mpsc::Receiver<Request>) -> bool {
        match rx.try_recv() {
            Ok(Request::Send {
                to,
                text,
                deadline,
                reply,
            }) => {
                if Instant::now() >= deadline {
                    let _ = reply.send(SendOutcome::Retryable(
                        "expired while waiting for the modem".into(),
                    ));
                    return false;
                }
                let outcome = self.send_sms(&to, &text);
                self.update(|st| match &outcome {
                    SendOutcome::Sent { .. } => st.sent += 1,
                    _ => st.failed += 1,
                });
                let _ = reply.send(outcome);
                return false;
            }
            Ok(Request::Stop) | Err(mpsc::TryRecvError::Disconnected) => return true,
            Err(mpsc::TryRecvError::Empty) => {}
        }
        // Idle: take in unsolicited lines, read stored reports, poll health.
        if let Err(e) = self.drain(Duration::ZERO) {
            self.lost(&e);
            return false;
        }
        if let Some((mem, index)) = self.pending_reports.pop() {
            self.read_stored_report(&mem, index);
        } else if Instant::now() >= self.next_health {
            self.poll_health();
        }
        false
    }
}
