//! Logging: human-readable lines on standard error, filtered by
//! `FLEXSECURE_LOG` (a tracing filter such as `info` or `flexsecure=debug`).

pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLEXSECURE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a person at a terminal, never in journald or files.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
