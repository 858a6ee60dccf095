//! The console channel, for demos and development: each SMS becomes one JSON
//! line `{"to", "text", "ts"}` appended to a file, or printed on standard
//! output (not the log: the log never carries secrets, this output is the
//! "phone" itself).

use super::{Attempt, Channel, OutgoingSms, SendOutcome};
use crate::clock::Clock;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub struct Console {
    path: Option<PathBuf>,
    clock: Arc<dyn Clock>,
    /// One writer at a time, so lines never interleave.
    lock: Mutex<()>,
}

impl Console {
    pub fn new(path: Option<PathBuf>, clock: Arc<dyn Clock>) -> Self {
        Self {
            path,
            clock,
            lock: Mutex::new(()),
        }
    }
}

impl Channel for Console {
    fn name(&self) -> &str {
        "console"
    }

    fn send(&self, sms: &OutgoingSms) -> Attempt {
        let (to, text) = (sms.to.as_str(), sms.text.as_str());
        crate::blocking::check("console write");
        let line =
            serde_json::json!({ "to": to, "text": text, "ts": self.clock.now().to_rfc3339() })
                .to_string();
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        let result = match &self.path {
            Some(p) => OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes())),
            None => {
                let mut out = std::io::stdout().lock();
                writeln!(out, "{line}").and_then(|_| out.flush())
            }
        };
        let outcome = match result {
            Ok(()) => SendOutcome::Sent { provider_id: None },
            Err(e) => SendOutcome::Retryable(format!("console write failed: {e}")),
        };
        Attempt {
            channel: "console".into(),
            outcome,
        }
    }
}
