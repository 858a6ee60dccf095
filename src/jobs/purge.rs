//! Deletes records past their retention period, a round a minute, in
//! small batches (see `service::retention`).

use super::Shutdown;
use crate::clock::Clock;
use crate::config::RetentionConfig;
use crate::service::Services;
use std::sync::Arc;
use std::time::Duration;

const PERIOD: Duration = Duration::from_secs(60);

pub async fn run(
    services: Services,
    clock: Arc<dyn Clock>,
    retention: RetentionConfig,
    mut shutdown: Shutdown,
) {
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        if *shutdown.borrow() {
            return;
        }
        match services.purge_round(&retention, clock.now()).await {
            Ok(p) if p.total() > 0 => tracing::info!(
                challenges = p.challenges,
                outbox = p.outbox,
                audit = p.audit,
                failures = p.failures,
                admin = p.admin,
                "purged records past their retention"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "purge round failed; retried in a minute"),
        }
    }
}
