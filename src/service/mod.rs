//! Use cases. Each takes `now` as a parameter and runs its reads and writes
//! through the store's blocking threads; nothing here touches HTTP or SQL.

mod accounts;
mod admin;
mod audit;
mod auth;
mod grants;
mod limits;
mod operators;
mod policies;
mod retention;
mod systems;
mod users;

pub use accounts::{
    create_account, create_api_key, list_api_keys, revoke_api_key, ApiKeyInfo, KeyIdentity,
    NewAccount, NewApiKey, KEY_CACHE_SECONDS,
};
pub use admin::{AccountView, ChannelCount, DashboardView, HourBar, OutboxPage, OUTBOX_STATUSES};
pub use audit::{
    read_audit_log, AuditPage, AuditQuery, AuditScope, AuditView, DEFAULT_AUDIT_PAGE,
    MAX_AUDIT_PAGE,
};
pub use auth::{
    matched_rule_json, CompleteInput, CompleteOutcome, LinkView, LoginContext, StartInput,
    StartOutcome, StatusView,
};
pub use limits::{SmsCountriesView, SmsLimitKind, SmsRefusalView, COUNTRY_DENIED};
pub use operators::{
    create_operator, NewSession, OperatorSession, SetupView, SESSION_ABSOLUTE_SECONDS,
    SESSION_IDLE_SECONDS,
};
pub use policies::{EvaluationView, PolicyView};
pub use retention::{Purged, PURGE_BATCH, PURGE_BATCHES_PER_ROUND};
pub use systems::{SystemInput, SystemPatch, SystemView};
pub use users::{
    ImportRowError, ImportSummary, UsageView, UserInput, UserPage, UserPatch, UserView,
};

use crate::crypto::ServerKey;
use crate::domain::{Factor, Invalid};
use crate::store::{Store, StoreError};
use std::sync::Arc;
use tokio::sync::Notify;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Invalid(#[from] Invalid),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("wrong {}", factor.as_str())]
    WrongSecret { factor: Factor, attempts_left: u32 },
    #[error("the authentication request has expired")]
    Expired,
    #[error("too many wrong attempts; start a new authentication")]
    AttemptsExhausted,
    #[error("too many SMS for this authentication; retry in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("the user is locked after too many failed attempts")]
    UserLocked,
    /// An anti-pumping limit refused the SMS (429 `sms_limit`).
    #[error("{}; retry in {retry_after} s", limits::describe(limit))]
    SmsLimit {
        limit: &'static str,
        retry_after: u64,
    },
    /// The system's policy refuses this login (403 `denied_by_policy`).
    #[error("the policy refuses this login (rule {matched_rule})")]
    DeniedByPolicy { matched_rule: String },
    /// Refused by a rule of the account (403 with the code).
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("CSV import refused: {} bad rows", .0.len())]
    Import(Vec<ImportRowError>),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Error::NotFound {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Error::Conflict {
            code,
            message: message.into(),
        }
    }
}

/// Maps a UNIQUE violation to a 409 with the given code.
pub(crate) fn unique_conflict(e: StoreError, code: &'static str, message: String) -> Error {
    if e.is_unique_violation() {
        Error::conflict(code, message)
    } else {
        Error::Store(e)
    }
}

/// Everything a use case needs; cheap to clone.
#[derive(Clone)]
pub struct Services {
    pub store: Store,
    key: Arc<ServerKey>,
    public_url: Arc<str>,
    /// Woken when an SMS is queued, so the dispatcher need not poll fast.
    outbox_ready: Arc<Notify>,
    /// Anti-pumping limits; the defaults until `with_limits`.
    limits: Arc<crate::config::SmsLimitsConfig>,
    /// Signs the assertions of approved logins; none until `with_signer`
    /// (the CLI needs none).
    signer: Option<Arc<crate::signing::Signer>>,
    /// The HTTPS certificate, when serving HTTPS (its fingerprint is shown
    /// in the admin UI).
    certs: Option<Arc<crate::tls::CertStore>>,
    /// API keys looked up recently (see `accounts::KeyCache`).
    keys: Arc<accounts::KeyCache>,
    /// Failed operator logins per name and address (admin UI).
    throttle: Arc<std::sync::Mutex<operators::LoginThrottle>>,
    /// Counters of login decisions and SMS; a private one until `with_metrics`.
    metrics: Arc<crate::metrics::Metrics>,
}

impl Services {
    pub fn new(store: Store, key: ServerKey, public_url: &str, outbox_ready: Arc<Notify>) -> Self {
        Self {
            store,
            key: Arc::new(key),
            public_url: public_url.trim_end_matches('/').into(),
            outbox_ready,
            limits: Default::default(),
            signer: None,
            throttle: Default::default(),
            keys: Default::default(),
            certs: None,
            metrics: Default::default(),
        }
    }

    /// The certificate the server presents (HTTPS).
    pub fn with_certs(mut self, certs: Option<Arc<crate::tls::CertStore>>) -> Self {
        self.certs = certs;
        self
    }

    /// SHA-256 of the HTTPS certificate presented now, when serving HTTPS.
    pub fn tls_fingerprint(&self) -> Option<String> {
        self.certs.as_ref().map(|c| c.fingerprint())
    }

    /// Approved logins carry an `assertion` signed by this signer.
    pub fn with_signer(mut self, signer: Arc<crate::signing::Signer>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// Login decisions and SMS outcomes are counted in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<crate::metrics::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// The metrics registry (shared with the HTTP layer and the dispatcher).
    pub fn metrics(&self) -> &Arc<crate::metrics::Metrics> {
        &self.metrics
    }

    /// The anti-pumping limits of `[sms.limits]`.
    pub fn with_limits(mut self, limits: crate::config::SmsLimitsConfig) -> Self {
        self.limits = Arc::new(limits);
        self
    }

    pub fn server_key(&self) -> &Arc<ServerKey> {
        &self.key
    }

    pub fn outbox_ready(&self) -> &Arc<Notify> {
        &self.outbox_ready
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The public keys that verify assertions (`/v2/jwks.json`). No I/O.
    pub fn jwks(&self, now: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
        match &self.signer {
            Some(s) => s.jwks(now),
            None => serde_json::json!({ "keys": [] }),
        }
    }
}

/// `YYYY-MM` of a moment, the key of the usage counters.
pub fn month_of(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m").to_string()
}
