//! Operations settings: TLS, the plain-HTTP redirect, metrics, retention.

use serde::Deserialize;
use std::path::PathBuf;

/// `[server.tls]`: PEM certificate chain and private key. Without them, and
/// when `listen` is not a loopback address, the appliance makes a
/// self-signed certificate in the data directory on its first start.
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// `false` serves plain HTTP even on a non-loopback address (behind a
    /// TLS-terminating proxy). Default `true`.
    pub enabled: Option<bool>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("cert", &self.cert)
            .field("key", &self.key.as_ref().map(|_| "<path>"))
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// `[server.metrics]`: `/metrics` in Prometheus text format.
#[derive(Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// When set, `/metrics` needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
}

impl std::fmt::Debug for MetricsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsConfig")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// `[retention]`: how long finished records are kept before the purge job
/// deletes them in small batches.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Challenges that ended (approved, failed, expired): default 90 days.
    pub challenges_days: Option<u32>,
    /// Outbox messages in a final state: default 30 days.
    pub outbox_days: Option<u32>,
    /// The audit log: default 365 days.
    pub audit_days: Option<u32>,
}

impl RetentionConfig {
    pub fn challenges(&self) -> u32 {
        self.challenges_days.unwrap_or(90)
    }
    pub fn outbox(&self) -> u32 {
        self.outbox_days.unwrap_or(30)
    }
    pub fn audit(&self) -> u32 {
        self.audit_days.unwrap_or(365)
    }
}
