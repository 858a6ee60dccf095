//! `GET /v2/sms/outbox` and `GET /v2/users/export` (key scope `manage`):
//! what the admin UI's outbox page and CSV export show, for scripts.

use super::error::{ApiError, ErrorBody};
use super::extract::ManageKey;
use super::AppState;
use crate::service::OutboxPage;
use actix_web::http::header;
use actix_web::{get, web, HttpResponse};
use serde::Deserialize;
use utoipa::IntoParams;

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// queued, sending, sent, failed or expired
    pub status: Option<String>,
    /// `next_before` of the previous page.
    pub before: Option<i64>,
    /// 1 to 500, default 100.
    pub limit: Option<u32>,
}

/// The account's SMS, newest first, without their text (it holds secrets).
#[utoipa::path(tag = "sms", params(OutboxQuery),
    responses((status = 200, body = OutboxPage), (status = 422, body = ErrorBody)),
    security(("apikey" = [])))]
#[get("/v2/sms/outbox")]
pub async fn list(
    state: web::Data<AppState>,
    key: ManageKey,
    q: web::Query<OutboxQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let page = state
        .services
        .outbox(key.account(), q.status, q.before, q.limit)
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

/// Every user as CSV (`email,phone,name,groups`), the format the import takes.
#[utoipa::path(tag = "users",
    responses((status = 200, description = "CSV", content_type = "text/csv", body = String)),
    security(("apikey" = [])))]
#[get("/v2/users/export")]
pub async fn export(state: web::Data<AppState>, key: ManageKey) -> Result<HttpResponse, ApiError> {
    let csv = state.services.export_users_csv(key.account()).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"users.csv\"",
        ))
        .body(csv))
}
