//! Operations endpoints, for monitoring rather than for applications:
//! `GET /healthz` (the process serves), `GET /readyz` (the database takes
//! writes and an SMS channel is available) and `GET /metrics` (Prometheus
//! text format; a bearer token when `[server.metrics] token` is set). None
//! takes an API key.

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::metrics::Exposition;
use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{get, web, FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;
use std::future::{ready, Ready};
use std::time::{Duration, Instant};
use utoipa::ToSchema;

/// A probe slower than this counts as a failure: monitoring must get an
/// answer even when the writer is stuck behind a lock.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The exposition format's media type.
pub const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// Always `ok`.
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not_ready`.
    pub status: &'static str,
    /// The database took a write transaction.
    pub database: bool,
    /// At least one SMS channel is available.
    pub sms: bool,
}

/// The process serves HTTP. Touches nothing else (no database), so it
/// answers even when the appliance cannot work.
#[utoipa::path(tag = "ops", responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(Health { status: "ok" })
}

/// Ready to authenticate: the database takes a write (through the writer
/// thread, in a transaction that changes nothing) and at least one SMS
/// channel is available. Otherwise 503 saying which part is missing.
#[utoipa::path(tag = "ops", responses(
    (status = 200, body = Readiness),
    (status = 503, description = "`{\"status\": \"not_ready\", \"database\": bool, \"sms\": bool, \"error\": {\"code\": \"not_ready\", ...}}`", body = Readiness)
))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = probe_database(&state).await.is_some();
    let sms = sms_available(&state);
    if database && sms {
        return HttpResponse::Ok().json(Readiness {
            status: "ready",
            database,
            sms,
        });
    }
    let missing = match (database, sms) {
        (false, false) => "the database takes no writes and no SMS channel is available",
        (false, true) => "the database takes no writes",
        _ => "no SMS channel is available",
    };
    // The readiness fields, and the error object every error response has.
    HttpResponse::ServiceUnavailable().json(serde_json::json!({
        "status": "not_ready",
        "database": database,
        "sms": sms,
        "error": {"code": "not_ready", "message": missing},
    }))
}

fn sms_available(state: &AppState) -> bool {
    state.router.status().iter().any(|r| r.available)
}

/// How long a write through the writer took; `None` when it failed or
/// took longer than `PROBE_TIMEOUT`.
async fn probe_database(state: &AppState) -> Option<Duration> {
    let started = Instant::now();
    match tokio::time::timeout(PROBE_TIMEOUT, state.services.store.probe_write()).await {
        Ok(Ok(())) => Some(started.elapsed()),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "probe: the database takes no writes");
            None
        }
        Err(_) => {
            tracing::warn!(
                timeout_ms = PROBE_TIMEOUT.as_millis() as u64,
                "probe: a database write timed out"
            );
            None
        }
    }
}

/// A caller allowed to read the metrics: anyone when no token is
/// configured, else one presenting `Authorization: Bearer <token>`.
pub struct MetricsReader;

impl FromRequest for MetricsReader {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let allowed = req.app_data::<web::Data<AppState>>().is_some_and(|s| {
            s.services.metrics().may_scrape(
                req.headers()
                    .get(header::AUTHORIZATION)
                    .map(|v| v.as_bytes()),
            )
        });
        ready(if allowed {
            Ok(MetricsReader)
        } else {
            Err(ApiError::InvalidToken)
        })
    }
}

/// Counters, histograms and gauges in the Prometheus text format 0.0.4
/// (see docs/operations.md for every series).
#[utoipa::path(tag = "ops", responses(
    (status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain; version=0.0.4", body = String),
    (status = 401, description = "`[server.metrics] token` is set and the request lacks `Authorization: Bearer <token>`", body = ErrorBody)
))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, _reader: MetricsReader) -> HttpResponse {
    let mut out = Exposition::default();
    state.services.metrics().render(&mut out);

    out.family(
        "flexsecure_outbox_depth",
        "gauge",
        "SMS waiting in the outbox, by status (queued, sending).",
    );
    match state.services.store.read(|db| db.outbox_depth()).await {
        Ok(depth) => {
            for (status, n) in depth {
                out.sample("flexsecure_outbox_depth", &[("status", status)], n as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the outbox depth"),
    }

    out.family(
        "flexsecure_modem_signal",
        "gauge",
        "Signal strength (RSSI 0-31) of each modem; absent while unknown.",
    );
    for m in &state.modems {
        let st = m.status();
        if let Some(signal) = st.signal.filter(|s| *s <= 31) {
            out.sample(
                "flexsecure_modem_signal",
                &[("modem", &st.name)],
                f64::from(signal),
            );
        }
    }

    out.family(
        "flexsecure_db_write_seconds",
        "gauge",
        "Time of a probe write through the database writer, measured at this scrape; absent when it failed.",
    );
    if let Some(d) = probe_database(&state).await {
        out.sample("flexsecure_db_write_seconds", &[], d.as_secs_f64());
    }

    HttpResponse::Ok()
        .content_type(METRICS_CONTENT_TYPE)
        .body(out.finish())
}
