//! Ways to send an SMS. In this version the only channel is the console.

pub mod console;
pub mod modem;

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

/// A way to send SMS. Implementations block (serial or file I/O), so the
/// dispatcher calls them on a blocking thread.
pub trait Channel: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn send(&self, to: &str, text: &str) -> Attempt;
}
