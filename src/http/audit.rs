//! `GET /v2/audit` (key scope `manage`): the account's audit log.

use super::error::{ApiError, ErrorBody};
use super::extract::ManageKey;
use super::AppState;
use crate::service::{AuditPage, AuditQuery, AuditScope, Error as ServiceError};
use actix_web::{get, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    /// Exact: `key:<key id>`, `operator:<username>`, `cli` or `system`.
    pub actor: Option<String>,
    /// Exact (`policy.create`), or a prefix ending with `.` (`login.`).
    pub action: Option<String>,
    /// RFC 3339; entries at or after.
    pub from: Option<String>,
    /// RFC 3339; entries before.
    pub to: Option<String>,
    /// 1 to 500, default 100.
    pub limit: Option<u32>,
    /// `next_before` of the previous page.
    pub before: Option<i64>,
}

/// RFC 3339. A `+` offset sent unencoded arrives as a space; it is taken back.
fn time(field: &str, raw: Option<String>) -> Result<Option<DateTime<Utc>>, ApiError> {
    let Some(raw) = raw else { return Ok(None) };
    let parse = |s: &str| DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc));
    let repaired = match raw.rfind(' ') {
        Some(i) if raw.len() - i == 6 => format!("{}+{}", &raw[..i], &raw[i + 1..]),
        _ => raw.clone(),
    };
    parse(&raw)
        .or_else(|_| parse(&repaired))
        .map(Some)
        .map_err(|_| {
            ApiError::InvalidQuery(format!(
                "{field}: must be an RFC 3339 time, e.g. 2026-01-31T08:00:00Z"
            ))
        })
}

/// The account's audit log, newest first: every change made through the
/// API, the admin UI or the CLI, and every login decision (`login.start`,
/// `login.complete`, `login.link_page`). Never holds a secret.
#[utoipa::path(
    tag = "audit",
    params(AuditParams),
    responses(
        (status = 200, body = AuditPage),
        (status = 422, description = "`invalid_query`", body = ErrorBody),
    ),
    security(("apikey" = []))
)]
#[get("/v2/audit")]
pub async fn list(
    state: web::Data<AppState>,
    key: ManageKey,
    q: web::Query<AuditParams>,
) -> Result<HttpResponse, ApiError> {
    let p = q.into_inner();
    let query = AuditQuery {
        actor: p.actor,
        action: p.action,
        from: time("from", p.from)?,
        to: time("to", p.to)?,
        limit: p.limit,
        before: p.before,
    };
    let page = state
        .services
        .audit_log(AuditScope::Account(key.account().to_string()), query)
        .await
        .map_err(|e| match e {
            ServiceError::Invalid(i) => {
                ApiError::InvalidQuery(format!("{}: {}", i.field, i.message))
            }
            e => ApiError::Service(e),
        })?;
    Ok(HttpResponse::Ok().json(page))
}
