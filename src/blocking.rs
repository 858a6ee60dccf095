//! Guards the rule that SQLite, hashing and file I/O never run on an async
//! worker thread. Code that may block calls `check`; it passes on threads that
//! entered a blocking section (the SQLite writer thread, `spawn_blocking`
//! closures run through `run`) and on threads without a Tokio runtime (the CLI).

use std::cell::Cell;

thread_local! {
    static BLOCKING_OK: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current thread as one where blocking work is allowed.
pub fn mark_thread() {
    BLOCKING_OK.with(|b| b.set(true));
}

/// Whether blocking work is allowed on this thread.
pub fn allowed() -> bool {
    BLOCKING_OK.with(|b| b.get()) || tokio::runtime::Handle::try_current().is_err()
}

/// Debug builds (and so every test) panic on a violation; release builds log it.
pub fn check(what: &str) {
    if !allowed() {
        if cfg!(debug_assertions) {
            panic!("blocking work ({what}) on an async worker thread");
        }
        tracing::error!(what, "blocking work on an async worker thread");
    }
}

/// Runs `f` on Tokio's blocking pool with the thread marked.
pub async fn run<T, F>(f: F) -> Result<T, tokio::task::JoinError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        mark_thread();
        f()
    })
    .await
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn async_worker_is_refused_and_blocking_pool_is_allowed() {
        assert!(!super::allowed());
        assert!(super::run(super::allowed).await.unwrap());
    }
}
