//! Background loops. Each is `async fn run(deps, shutdown)` and returns when
//! `shutdown` turns true.

pub mod dispatcher;
pub mod keys;
pub mod purge;

/// Shutdown signal shared by the background loops.
pub type Shutdown = tokio::sync::watch::Receiver<bool>;
