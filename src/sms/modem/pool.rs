//! Several modems as one channel: each message goes to a healthy modem,
//! highest priority first and round-robin among equals; a modem that fails
//! with a retryable error hands the message to the next healthy one.

use super::driver::ModemHandle;
use crate::sms::{Attempt, Channel, OutgoingSms, SendOutcome};
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct ModemPool {
    modems: Vec<ModemHandle>,
    next: AtomicUsize,
}

impl ModemPool {
    pub fn new(mut modems: Vec<ModemHandle>) -> Self {
        modems.sort_by_key(|m| std::cmp::Reverse(m.priority()));
        Self {
            modems,
            next: AtomicUsize::new(0),
        }
    }

    pub fn modems(&self) -> &[ModemHandle] {
        &self.modems
    }

    /// Healthy modems in the order to try them.
    fn candidates(&self) -> Vec<&ModemHandle> {
        let healthy: Vec<&ModemHandle> = self.modems.iter().filter(|m| m.healthy()).collect();
        let Some(top) = healthy.first().map(|m| m.priority()) else {
            return healthy;
        };
        let n_top = healthy.iter().take_while(|m| m.priority() == top).count();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n_top;
        let mut order: Vec<&ModemHandle> = Vec::with_capacity(healthy.len());
        order.extend(healthy[..n_top].iter().cycle().skip(start).take(n_top));
        order.extend(&healthy[n_top..]);
        order
    }
}

impl Channel for ModemPool {
    fn name(&self) -> &str {
        "modem"
    }

    fn available(&self) -> bool {
        self.modems.iter().any(ModemHandle::healthy)
    }

    fn uses_breaker(&self) -> bool {
        false
    }

    fn send(&self, sms: &OutgoingSms) -> Attempt {
        let mut last = Attempt {
            channel: "modem".into(),
            outcome: SendOutcome::Retryable("no healthy modem".into()),
        };
        for m in self.candidates() {
            if !sms.still_valid() {
                break;
            }
            let outcome = m.send(&sms.to, &sms.text, sms.deadline);
            let retry_elsewhere = matches!(outcome, SendOutcome::Retryable(_));
            last = Attempt {
                channel: format!("modem:{}", m.name()),
                outcome,
            };
            if !retry_elsewhere {
                break;
            }
        }
        last
    }
}
