//! Drains the SMS outbox: claims due messages with a lease (a crash mid-send
//! means a retry, never a loss), sends them, records the outcome, and drops
//! any message whose secret expired before it could go out.

use super::Shutdown;
use crate::clock::Clock;
use crate::service::Services;
use crate::sms::router::{Dispatch, Router, Verdict};
use crate::sms::{OutgoingSms, SendOutcome};
use crate::store::{AttemptRecord, Db, OutboxRow, StoreError, UsageField};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use std::sync::Arc;

const BATCH: u32 = 32;
const LEASE_SECONDS: i64 = 30;
/// Without a secret expiry, a message is given up after this many attempts.
const MAX_ATTEMPTS: u32 = 10;
/// Idle re-check period, for retries that come due without a wake-up.
const IDLE: std::time::Duration = std::time::Duration::from_millis(500);

pub struct Dispatcher {
    pub services: Services,
    pub router: Arc<Router>,
    pub clock: Arc<dyn Clock>,
}

enum Done {
    Sent {
        channel: String,
        provider_id: Option<String>,
    },
    Unknown {
        channel: String,
        error: String,
    },
    Expired,
    Retry(String, DateTime<Utc>),
    Failed(String),
}

/// What happened to one claimed message.
struct Handled {
    done: Done,
    attempts: Vec<AttemptRecord>,
    possible_duplicate: bool,
}

impl Handled {
    fn last_channel(&self) -> &str {
        self.attempts
            .last()
            .map(|a| a.channel.as_str())
            .unwrap_or("none")
    }

    /// `flexsecure_sms_total`'s channel and result for this outcome.
    fn metric_labels(&self) -> (String, &'static str) {
        match &self.done {
            Done::Sent { channel, .. } => (channel.clone(), "sent"),
            Done::Unknown { channel, .. } => (channel.clone(), "unknown"),
            Done::Expired => (self.last_channel().to_string(), "expired"),
            Done::Retry(..) => (self.last_channel().to_string(), "retry"),
            Done::Failed(_) => (self.last_channel().to_string(), "failed"),
        }
    }
}

impl Dispatcher {
    pub async fn run(self, mut shutdown: Shutdown) {
        let ready = self.services.outbox_ready().clone();
        loop {
            if *shutdown.borrow() {
                return;
            }
            match self.drain_once().await {
                Ok(n) if n > 0 => continue,
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "outbox dispatch failed"),
            }
            tokio::select! {
                _ = ready.notified() => {}
                _ = tokio::time::sleep(IDLE) => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Claims and sends one batch; returns how many messages it handled.
    /// Messages of a batch are sent side by side, each on a blocking thread,
    /// so that several modems (or a slow one and a fast one) work at once.
    pub async fn drain_once(&self) -> Result<usize, StoreError> {
        let now = self.clock.now();
        let claimed = self
            .services
            .store
            .write(move |db| db.claim_sms(now, Duration::seconds(LEASE_SECONDS), BATCH))
            .await?;
        if claimed.is_empty() {
            return Ok(0);
        }
        let n = claimed.len();
        // Each message's outcome is written as soon as it is known (the
        // writer commits concurrent ones together), so a crash re-sends only
        // what was really in flight.
        let sends = claimed.into_iter().map(|m| {
            let key = self.services.server_key().clone();
            let router = self.router.clone();
            let clock = self.clock.clone();
            let store = self.services.store.clone();
            let metrics = self.services.metrics().clone();
            async move {
                let c = clock.clone();
                let (m, h) = crate::blocking::run(move || {
                    let handled = send_one(&key, &router, c.as_ref(), &m);
                    (m, handled)
                })
                .await
                .map_err(|e| StoreError::Task(e.to_string()))?;
                let now = clock.now();
                let (channel, result) = h.metric_labels();
                store
                    .write(move |db| record_outcome(db, &m, &h, now))
                    .await?;
                metrics.sms(&channel, result);
                Ok::<(), StoreError>(())
            }
        });
        for r in futures_util::future::join_all(sends).await {
            r?;
        }
        Ok(n)
    }
}

fn record_outcome(
    db: &Db<'_>,
    m: &OutboxRow,
    h: &Handled,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    db.record_attempts(m.id, &h.attempts, now)?;
    if h.possible_duplicate {
        db.mark_possible_duplicate(m.id)?;
    }
    match &h.done {
        Done::Sent {
            channel,
            provider_id,
        } => {
            db.mark_sms_sent(m.id, channel, provider_id.as_deref(), now)?;
            db.bump_usage(
                &m.account_id,
                &crate::service::month_of(now),
                UsageField::SmsSent,
            )?;
        }
        Done::Unknown { channel, error } => {
            tracing::warn!(outbox_id = m.id, channel, error = %error, "SMS outcome unknown");
            db.mark_sms_unknown(m.id, channel, error, now)?;
        }
        Done::Expired => db.mark_sms_expired(m.id, now)?,
        Done::Retry(err, at) => db.retry_sms(m.id, h.last_channel(), err, *at, now)?,
        Done::Failed(err) => db.mark_sms_failed(m.id, h.last_channel(), err, now)?,
    }
    Ok(())
}

fn record(a: &crate::sms::Attempt) -> AttemptRecord {
    let (outcome, provider_id, error) = match &a.outcome {
        SendOutcome::Sent { provider_id } => ("sent", provider_id.clone(), None),
        SendOutcome::Unknown(e) => ("unknown", None, Some(e.clone())),
        SendOutcome::Retryable(e) => ("retryable", None, Some(e.clone())),
        SendOutcome::Permanent(e) => ("permanent", None, Some(e.clone())),
    };
    AttemptRecord {
        channel: a.channel.clone(),
        outcome,
        provider_id,
        error,
    }
}

/// Sends one message through the router, unless its secret already expired.
fn send_one(
    key: &crate::crypto::ServerKey,
    router: &Router,
    clock: &dyn Clock,
    m: &OutboxRow,
) -> Handled {
    let plain = |done| Handled {
        done,
        attempts: Vec::new(),
        possible_duplicate: false,
    };
    let valid = |now: DateTime<Utc>| m.not_after.is_none_or(|t| now < t);
    if !valid(clock.now()) {
        return plain(Done::Expired);
    }
    let text = match m.body.as_deref().map(|b| key.open(b)) {
        Some(Ok(t)) => t,
        Some(Err(e)) => return plain(Done::Failed(e.to_string())),
        None => return plain(Done::Failed("message body missing".into())),
    };
    // The secret's expiry as a deadline on the monotonic clock, so channels
    // (a modem's queue, a failover chain) can honour it without a Clock.
    let deadline = m.not_after.map(|t| {
        let left = (t - clock.now()).to_std().unwrap_or_default();
        std::time::Instant::now() + left
    });
    let sms = OutgoingSms {
        id: m.id,
        to: m.to_phone.clone(),
        text,
        deadline,
    };
    let Dispatch {
        attempts,
        verdict,
        possible_duplicate,
    } = router.dispatch(&sms, || valid(clock.now()));
    let now = clock.now();
    let done = match verdict {
        Verdict::Expired => Done::Expired,
        Verdict::Sent {
            channel,
            provider_id,
        } => Done::Sent {
            channel,
            provider_id,
        },
        Verdict::Unknown { channel, error } => Done::Unknown { channel, error },
        Verdict::Failed(e) => Done::Failed(e),
        Verdict::Retry(e) => {
            let backoff = 2i64.saturating_pow(m.attempts.min(6)).min(60);
            let jitter = rand::thread_rng().gen_range(0..=500);
            let at = now + Duration::seconds(backoff) + Duration::milliseconds(jitter);
            let too_late = m.not_after.is_some_and(|t| at >= t);
            if too_late || (m.not_after.is_none() && m.attempts >= MAX_ATTEMPTS) {
                Done::Failed(e)
            } else {
                Done::Retry(e, at)
            }
        }
    };
    Handled {
        done,
        attempts: attempts.iter().map(record).collect(),
        possible_duplicate,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::crypto::ServerKey;
    use crate::sms::console::Console;
    use crate::store::{Store, StoreError};
    use tokio::sync::Notify;

    #[tokio::test]
    async fn sends_due_messages_and_never_an_expired_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = ServerKey::load_or_create(dir.path()).unwrap();
        let now = Utc::now();
        let clock = Arc::new(ManualClock::new(now));
        let sms_file = dir.path().join("sms.jsonl");
        let services = Services::new(
            store.clone(),
            key.clone(),
            "http://x",
            Arc::new(Notify::new()),
        );
        let k = key.clone();
        store
            .write(move |db| {
                db.insert_account("acc_1", "A", now)?;
                let live = k.seal("live 111111");
                let stale = k.seal("stale 222222");
                db.enqueue_sms(
                    "acc_1",
                    None,
                    "+41790000001",
                    &live,
                    Some(now + Duration::seconds(60)),
                    now,
                )?;
                db.enqueue_sms(
                    "acc_1",
                    None,
                    "+41790000002",
                    &stale,
                    Some(now + Duration::seconds(5)),
                    now,
                )?;
                Ok::<_, StoreError>(())
            })
            .await
            .unwrap();
        clock.advance(Duration::seconds(10));
        let console: Arc<dyn crate::sms::Channel> =
            Arc::new(Console::new(Some(sms_file.clone()), clock.clone()));
        let d = Dispatcher {
            services,
            router: Arc::new(Router::new(vec![console], Default::default())),
            clock: clock.clone(),
        };
        assert_eq!(d.drain_once().await.unwrap(), 2);
        assert_eq!(d.drain_once().await.unwrap(), 0);
        let sent = std::fs::read_to_string(&sms_file).unwrap();
        assert!(sent.contains("live 111111"));
        assert!(!sent.contains("222222"));
        let counts = store.read(|db| db.outbox_counts()).await.unwrap();
        assert_eq!((counts.sent, counts.expired, counts.queued), (1, 1, 0));
    }
}

#[cfg(test)]
mod attempt_tests {
    use super::*;
    use crate::clock::ManualClock;
    use crate::crypto::ServerKey;
    use crate::sms::console::Console;
    use crate::store::Store;
    use tokio::sync::Notify;

    /// A gateway nobody listens on (a refused connection, retryable), then
    /// the console: both attempts are recorded, the message is sent once.
    #[tokio::test]
    async fn every_attempt_is_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let key = ServerKey::load_or_create(dir.path()).unwrap();
        let now = Utc::now();
        let clock = Arc::new(ManualClock::new(now));
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = crate::config::Config::parse(&format!(
            "[[sms.http]]\nname = \"down\"\npreset = \"generic-json\"\nurl = \"http://127.0.0.1:{port}/sms\"\n"
        ))
        .unwrap();
        let gw = crate::sms::http_gateway::HttpGateway::new(&cfg.sms.http[0], "http://127.0.0.1:1")
            .unwrap();
        let console = Console::new(Some(dir.path().join("sms.jsonl")), clock.clone());
        let router = Router::new(vec![Arc::new(gw), Arc::new(console)], Default::default());
        let services = Services::new(
            store.clone(),
            key.clone(),
            "http://x",
            Arc::new(Notify::new()),
        );
        let k = key.clone();
        let id = store
            .write(move |db| {
                db.insert_account("acc_1", "A", now)?;
                db.enqueue_sms("acc_1", None, "+41790000001", &k.seal("hello"), None, now)
            })
            .await
            .unwrap();
        let d = Dispatcher {
            services,
            router: Arc::new(router),
            clock,
        };
        assert_eq!(d.drain_once().await.unwrap(), 1);
        let attempts = store.read(move |db| db.attempts_of(id)).await.unwrap();
        let seen: Vec<(&str, &str)> = attempts
            .iter()
            .map(|a| (a.channel.as_str(), a.outcome))
            .collect();
        assert_eq!(seen, vec![("http:down", "retryable"), ("console", "sent")]);
        assert!(attempts[0].error.is_some());
    }
}
