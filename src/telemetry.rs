//! Logging on standard error, filtered by `FLEXSECURE_LOG` (a tracing filter
//! such as `info` or `flexsecure=debug`): human-readable lines by default,
//! or one JSON object per line (`--log-format json`, for journald or a log
//! shipper). Each request's line carries its `request_id` as a field.

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable text.
    #[default]
    Text,
    /// One JSON object per line; an event's fields are top-level keys
    /// beside `timestamp`, `level`, `target` and `message`, and the spans
    /// it happened in (with their fields, e.g. `request_id`) under `spans`.
    Json,
}

/// Human-readable logging.
pub fn init() {
    init_with(LogFormat::Text)
}

pub fn init_with(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLEXSECURE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => {
            use std::io::IsTerminal;
            builder
                // Colours only for a person at a terminal, never in journald or files.
                .with_ansi(std::io::stderr().is_terminal())
                .try_init()
        }
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(true)
            .try_init(),
    };
}
