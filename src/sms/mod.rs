//! Ways to send an SMS. In this version the only channel is the console.

pub mod console;
pub mod modem;

/// The outcome of one send attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    Sent,
    /// Worth another try later.
    Retryable(String),
    /// Will never work for this message.
    Permanent(String),
}

/// A way to send SMS. Implementations block (serial or file I/O), so the
/// dispatcher calls them on a blocking thread.
pub trait Channel: Send + Sync + 'static {
    fn name(&self) -> &str;
    fn send(&self, to: &str, text: &str) -> SendOutcome;
}
