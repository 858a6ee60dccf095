//! Failover between channels: the modems first (when any is healthy), then
//! the HTTP gateways in configured order. A circuit breaker per channel
//! skips a channel after consecutive failures for a while, then lets one
//! probe through. Every attempt is returned, for the outbox's records.

use super::{Attempt, Channel, OutgoingSms, SendOutcome};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Breaker settings.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub failures: u32,
    /// How long an open breaker skips its channel before one probe.
    pub open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 3,
            open_for: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    /// Open time is over: the next message probes the channel.
    HalfOpen,
}

#[derive(Debug)]
struct Breaker {
    cfg: BreakerConfig,
    consecutive: u32,
    open_until: Option<Instant>,
    /// A probe is in flight; others keep skipping the channel.
    probing: bool,
}

impl Breaker {
    fn new(cfg: BreakerConfig) -> Self {
        Self {
            cfg,
            consecutive: 0,
            open_until: None,
            probing: false,
        }
    }

    fn state(&self, now: Instant) -> BreakerState {
        match self.open_until {
            None => BreakerState::Closed,
            Some(t) if now < t => BreakerState::Open,
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// Whether a message may use the channel now (claims the probe).
    fn admit(&mut self, now: Instant) -> bool {
        match self.state(now) {
            BreakerState::Closed => true,
            BreakerState::Open => false,
            BreakerState::HalfOpen if self.probing => false,
            BreakerState::HalfOpen => {
                self.probing = true;
                true
            }
        }
    }

    fn success(&mut self) {
        self.consecutive = 0;
        self.open_until = None;
        self.probing = false;
    }

    fn failure(&mut self, now: Instant) {
        self.consecutive += 1;
        let was_probe = std::mem::take(&mut self.probing);
        if was_probe || self.consecutive >= self.cfg.failures {
            self.open_until = Some(now + self.cfg.open_for);
        }
    }
}

struct Route {
    channel: Arc<dyn Channel>,
    breaker: Mutex<Breaker>,
}

/// What one channel looks like from outside.
#[derive(Debug, Clone, Serialize)]
pub struct RouteStatus {
    pub channel: String,
    pub available: bool,
    pub breaker: BreakerState,
    pub consecutive_failures: u32,
}

/// The end of one dispatch of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Sent {
        channel: String,
        provider_id: Option<String>,
    },
    /// Handed to a channel that could not say whether it went out, and no
    /// other channel took it.
    Unknown { channel: String, error: String },
    /// Worth another round later.
    Retry(String),
    /// Its secret expired before a channel took it: it must not go out.
    Expired,
    /// No channel will ever take it.
    Failed(String),
}

pub struct Dispatch {
    pub attempts: Vec<Attempt>,
    pub verdict: Verdict,
    /// An earlier attempt's outcome was unknown: this message may arrive twice.
    pub possible_duplicate: bool,
}

pub struct Router {
    routes: Vec<Route>,
}

impl Router {
    pub fn new(channels: Vec<Arc<dyn Channel>>, breaker: BreakerConfig) -> Self {
        let routes = channels
            .into_iter()
            .map(|channel| Route {
                channel,
                breaker: Mutex::new(Breaker::new(breaker)),
            })
            .collect();
        Self { routes }
    }

    pub fn status(&self) -> Vec<RouteStatus> {
        let now = Instant::now();
        self.routes
            .iter()
            .map(|r| {
                let b = r.breaker.lock().unwrap_or_else(|e| e.into_inner());
                RouteStatus {
                    channel: r.channel.name().to_string(),
                    available: r.channel.available(),
                    breaker: b.state(now),
                    consecutive_failures: b.consecutive,
                }
            })
            .collect()
    }

    /// Tries the channels in order until one takes the message. A retryable
    /// or permanent failure moves on to the next channel; so does an unknown
    /// outcome, and the message is then marked as a possible duplicate.
    /// Nothing is handed over once `still_valid()` (or the message's own
    /// deadline) says the secret expired.
    pub fn dispatch(&self, sms: &OutgoingSms, still_valid: impl Fn() -> bool) -> Dispatch {
        let mut attempts = Vec::new();
        let mut unknown: Option<(String, String)> = None;
        let mut retryable = None;
        let mut permanent = None;
        let mut expired = false;
        for route in &self.routes {
            if !route.channel.available() {
                continue;
            }
            // Checked before every attempt (and before a breaker probe is
            // claimed): a failover chain never sends an expired secret.
            if !still_valid() || !sms.still_valid() {
                expired = true;
                break;
            }
            let guarded = route.channel.uses_breaker();
            if guarded
                && !route
                    .breaker
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .admit(Instant::now())
            {
                continue;
            }
            let attempt = route.channel.send(sms);
            if guarded {
                let mut b = route.breaker.lock().unwrap_or_else(|e| e.into_inner());
                match attempt.outcome {
                    SendOutcome::Sent { .. } => b.success(),
                    // The channel answered: it works, the message was refused.
                    SendOutcome::Permanent(_) => b.success(),
                    SendOutcome::Retryable(_) | SendOutcome::Unknown(_) => {
                        b.failure(Instant::now())
                    }
                }
            }
            attempts.push(attempt.clone());
            match attempt.outcome {
                SendOutcome::Sent { provider_id } => {
                    return Dispatch {
                        attempts,
                        verdict: Verdict::Sent {
                            channel: attempt.channel,
                            provider_id,
                        },
                        possible_duplicate: unknown.is_some(),
                    }
                }
                SendOutcome::Unknown(e) => {
                    unknown.get_or_insert((attempt.channel, e));
                }
                SendOutcome::Retryable(e) => retryable = Some(format!("{}: {e}", attempt.channel)),
                SendOutcome::Permanent(e) => permanent = Some(format!("{}: {e}", attempt.channel)),
            }
        }
        let verdict = match (unknown, retryable, permanent) {
            (Some((channel, error)), _, _) => Verdict::Unknown { channel, error },
            (None, _, _) if expired => Verdict::Expired,
            (None, Some(e), _) => Verdict::Retry(e),
            (None, None, Some(e)) => Verdict::Failed(e),
            (None, None, None) => Verdict::Retry("no channel available".into()),
        };
        Dispatch {
            attempts,
            verdict,
            possible_duplicate: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A channel that answers from a script, for the routing rules alone.
    struct Scripted {
        name: String,
        script: Mutex<Vec<SendOutcome>>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn new(name: &str, script: Vec<SendOutcome>) -> Arc<Self> {
            Arc::new(Self {
                name: name.into(),
                script: Mutex::new(script),
                calls: AtomicUsize::new(0),
            })
        }
    }

    impl Channel for Scripted {
        fn name(&self) -> &str {
            &self.name
        }
        fn send(&self, _: &OutgoingSms) -> Attempt {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut s = self.script.lock().unwrap();
            let outcome = if s.is_empty() {
                SendOutcome::Sent { provider_id: None }
            } else {
                s.remove(0)
            };
            Attempt {
                channel: self.name.clone(),
                outcome,
            }
        }
    }

    fn sms() -> OutgoingSms {
        OutgoingSms {
            id: 1,
            to: "+41790000001".into(),
            text: "x".into(),
            deadline: None,
        }
    }

    fn retry() -> SendOutcome {
        SendOutcome::Retryable("down".into())
    }

    #[test]
    fn fails_over_in_order_and_the_breaker_opens_and_probes() {
        let a = Scripted::new("a", vec![retry(), retry(), retry(), retry()]);
        let b = Scripted::new("b", vec![]);
        let cfg = BreakerConfig {
            failures: 3,
            open_for: Duration::from_millis(50),
        };
        let r = Router::new(vec![a.clone(), b.clone()], cfg);
        for _ in 0..3 {
            let d = r.dispatch(&sms(), || true);
            assert!(matches!(d.verdict, Verdict::Sent { ref channel, .. } if channel == "b"));
            assert_eq!(d.attempts.len(), 2);
        }
        assert_eq!(r.status()[0].breaker, BreakerState::Open);
        // Open: a is skipped.
        let d = r.dispatch(&sms(), || true);
        assert_eq!(d.attempts.len(), 1);
        assert_eq!(a.calls.load(Ordering::SeqCst), 3);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(r.status()[0].breaker, BreakerState::HalfOpen);
        // The probe fails: open again.
        r.dispatch(&sms(), || true);
        assert_eq!(a.calls.load(Ordering::SeqCst), 4);
        assert_eq!(r.status()[0].breaker, BreakerState::Open);
        std::thread::sleep(Duration::from_millis(60));
        // The probe succeeds: closed, and a carries traffic again.
        let d = r.dispatch(&sms(), || true);
        assert!(matches!(d.verdict, Verdict::Sent { ref channel, .. } if channel == "a"));
        assert_eq!(r.status()[0].breaker, BreakerState::Closed);
    }

    #[test]
    fn unknown_moves_on_only_while_valid_and_marks_a_duplicate() {
        let unknown = || SendOutcome::Unknown("silent".into());
        let a = Scripted::new("a", vec![unknown(), unknown()]);
        let b = Scripted::new("b", vec![]);
        let r = Router::new(vec![a.clone(), b.clone()], BreakerConfig::default());
        let d = r.dispatch(&sms(), || true);
        assert!(matches!(d.verdict, Verdict::Sent { ref channel, .. } if channel == "b"));
        assert!(d.possible_duplicate);
        // The secret expires right after the first attempt: b is not tried.
        let checks = std::cell::Cell::new(0);
        let d = r.dispatch(&sms(), || {
            checks.set(checks.get() + 1);
            checks.get() == 1
        });
        assert!(matches!(d.verdict, Verdict::Unknown { .. }));
        assert_eq!(b.calls.load(Ordering::SeqCst), 1);
        // Already expired: nothing is handed over at all.
        let d = r.dispatch(&sms(), || false);
        assert_eq!(d.verdict, Verdict::Expired);
        assert!(d.attempts.is_empty());
    }

    #[test]
    fn all_refusing_is_failed_and_nothing_available_is_retry() {
        let p = || SendOutcome::Permanent("bad number".into());
        let r = Router::new(
            vec![Scripted::new("a", vec![p()]), Scripted::new("b", vec![p()])],
            BreakerConfig::default(),
        );
        assert!(matches!(
            r.dispatch(&sms(), || true).verdict,
            Verdict::Failed(_)
        ));
        let r = Router::new(vec![], BreakerConfig::default());
        assert!(matches!(
            r.dispatch(&sms(), || true).verdict,
            Verdict::Retry(_)
        ));
    }
}
