//! Picks up signing keys written by `flexsecure keys rotate` (or removed from
//! the key directory) while the server runs: every 2 s the signer re-reads the
//! key directory if it changed.

use super::Shutdown;
use crate::signing::Signer;
use std::sync::Arc;
use std::time::Duration;

const PERIOD: Duration = Duration::from_secs(2);

pub async fn run(signer: Arc<Signer>, mut shutdown: Shutdown) {
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The last error reported, so a lasting problem is logged once, not every 2 s.
    let mut last_error: Option<String> = None;
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
        let s = signer.clone();
        let result = match crate::blocking::run(move || s.refresh()).await {
            Ok(r) => r,
            Err(e) => Err(anyhow::anyhow!("signing key refresh task failed: {e}")),
        };
        match result {
            Ok(changed) => {
                if last_error.take().is_some() {
                    tracing::info!("signing key directory readable again");
                }
                if changed {
                    tracing::info!(kid = %signer.signing_kid(), "signing keys changed");
                }
            }
            Err(e) => {
                let msg = format!("{e:#}");
                if last_error.as_deref() != Some(msg.as_str()) {
                    tracing::warn!(error = %msg, "cannot refresh the signing keys");
                    last_error = Some(msg);
                }
            }
        }
    }
}
