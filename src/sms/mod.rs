//! Ways to send an SMS. In this version the only channel is the console.

pub mod console;
pub mod http_gateway;
pub mod modem;
pub mod router;

/// The outcome of one send attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted for delivery; the channel's own id for it, if it has one.
    Sent { provider_id: Option<String> },
    /// Handed over, but no answer came: it may or may not have gone out.
    Unknown(String),
    /// Worth another try later.
    Retryable(String),
    /// Will never work for this message.
    Permanent(String),
}

/// One send attempt: which channel took it (a pool names the modem it
/// used) and what came of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub channel: String,
    pub outcome: SendOutcome,
}

/// One SMS to send.
#[derive(Clone, PartialEq, Eq)]
pub struct OutgoingSms {
    /// The outbox id (0 for a message outside the outbox, e.g. `sms send`);
    /// gateways put it in delivery-report callbacks.
    pub id: i64,
    /// E.164.
    pub to: String,
    pub text: String,
    /// Never hand the message to a channel after this (its secret expires).
    pub deadline: Option<std::time::Instant>,
}

impl std::fmt::Debug for OutgoingSms {
    // The text holds a PIN or a link: never printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutgoingSms")
            .field("id", &self.id)
            .field("to", &self.to)
            .field("text", &"<redacted>")
            .field("deadline", &self.deadline)
            .finish()
    }
}

impl OutgoingSms {
    /// Whether it may still be handed to a channel.
    pub fn still_valid(&self) -> bool {
        self.deadline.is_none_or(|d| std::time::Instant::now() < d)
    }
}

/// A way to send SMS. Implementations block (serial, file or network I/O),
/// so the dispatcher calls them on a blocking thread.
pub trait Channel: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn send(&self, sms: &OutgoingSms) -> Attempt;
    /// Whether trying it now makes sense (a modem pool with no healthy
    /// modem does not); the router skips it otherwise.
    fn available(&self) -> bool {
        true
    }
    /// Whether the router's circuit breaker should guard it. A modem pool
    /// watches its modems' health itself and says no.
    fn uses_breaker(&self) -> bool {
        true
    }
}

/// The configured channels in router order, and the modem threads.
pub struct Channels {
    pub routes: Vec<std::sync::Arc<dyn Channel>>,
    pub modems: Vec<modem::driver::ModemHandle>,
}

/// The channels the configuration asks for, in the order the router tries
/// them: the modem pool (when modems are configured), then the HTTP gateways;
/// the console only when there is neither. Also returns the modem handles,
/// for status and shutdown.
pub fn from_config(
    config: &crate::config::SmsConfig,
    clock: std::sync::Arc<dyn crate::clock::Clock>,
    reports: modem::driver::ReportSink,
    public_url: &str,
) -> std::io::Result<Channels> {
    use std::time::Duration;
    let mut channels: Vec<std::sync::Arc<dyn Channel>> = Vec::new();
    let mut handles = Vec::new();
    for m in &config.modem {
        let d = modem::driver::Timeouts::default();
        let ms =
            |v: Option<u64>, default: Duration| v.map(Duration::from_millis).unwrap_or(default);
        let settings = modem::driver::ModemSettings {
            name: m.name.clone(),
            port: m.port.clone(),
            baud: m.baud,
            sim_pin: m.sim_pin.clone(),
            smsc: m.smsc.clone(),
            priority: m.priority,
            timeouts: modem::driver::Timeouts {
                command: ms(m.command_timeout_ms, d.command),
                prompt: ms(m.command_timeout_ms, d.prompt),
                submit: ms(m.submit_timeout_ms, d.submit),
                health_interval: m
                    .health_interval_seconds
                    .map(Duration::from_secs)
                    .unwrap_or(d.health_interval),
                reopen_max: d.reopen_max,
            },
        };
        handles.push(modem::driver::spawn(settings, reports.clone())?);
    }
    if !handles.is_empty() {
        channels.push(std::sync::Arc::new(modem::pool::ModemPool::new(
            handles.clone(),
        )));
    }
    for h in &config.http {
        channels.push(std::sync::Arc::new(http_gateway::HttpGateway::new(
            h, public_url,
        )?));
    }
    if channels.is_empty() {
        channels.push(std::sync::Arc::new(console::Console::new(
            config.console.path.clone(),
            clock,
        )));
    }
    Ok(Channels {
        routes: channels,
        modems: handles,
    })
}
