//! `/v2/users` and `/v2/usage` (key scope `manage`).

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, ManageKey};
use super::AppState;
use crate::domain::Invalid;
use crate::service::{
    Error as ServiceError, ImportSummary, UsageView, UserInput, UserPage, UserPatch, UserView,
};
use actix_web::{delete, get, patch, post, web, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

const MAX_IMPORT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserBody {
    pub email: String,
    /// International form, e.g. `+41791234567`; stored as E.164.
    pub phone: String,
    pub name: Option<String>,
    /// Default true.
    pub enabled: Option<bool>,
    /// Group names for `user_in_group` policy rules; default none. Each
    /// 1 to 100 characters without control characters, `,` or `;`,
    /// surrounding spaces trimmed; duplicates (ASCII case-insensitive)
    /// merged keeping the first spelling; at most 64.
    #[schema(value_type = Option<Vec<String>>)]
    pub groups: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchBody {
    pub phone: Option<String>,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    /// Replaces the user's whole list of groups (`[]` removes them all);
    /// the same rules as when creating.
    #[schema(value_type = Option<Vec<String>>)]
    pub groups: Option<Value>,
}

/// `groups` as sent: anything but a list of strings is a 422 naming the
/// field (taken as a JSON value so that a wrong type names it too).
fn groups_of(v: Option<Value>) -> Result<Option<Vec<String>>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    serde_json::from_value(v).map(Some).map_err(|_| {
        ApiError::from(ServiceError::from(Invalid::new(
            "groups",
            "must be a list of strings",
        )))
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Substring of the email or name.
    pub q: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// `YYYY-MM` (UTC); default the current month.
    pub month: Option<String>,
}

#[utoipa::path(tag = "users", params(ListQuery),
    responses((status = 200, body = UserPage), (status = 422, body = ErrorBody)), security(("apikey" = [])))]
#[get("/v2/users")]
pub async fn list(
    state: web::Data<AppState>,
    key: ManageKey,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    Ok(HttpResponse::Ok().json(
        state
            .services
            .list_users(key.account(), q.q, q.cursor, q.limit)
            .await?,
    ))
}

#[utoipa::path(tag = "users", request_body = UserBody,
    responses((status = 201, body = UserView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("apikey" = [])))]
#[post("/v2/users")]
pub async fn create(
    state: web::Data<AppState>,
    key: ManageKey,
    body: JsonBody<UserBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let input = UserInput {
        email: b.email,
        phone: b.phone,
        name: b.name,
        enabled: b.enabled,
        groups: groups_of(b.groups)?,
    };
    Ok(HttpResponse::Created().json(
        state
            .services
            .create_user(&key.caller(), input, state.clock.now())
            .await?,
    ))
}

#[utoipa::path(tag = "users", params(("email" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)), security(("apikey" = [])))]
#[get("/v2/users/{email}")]
pub async fn get(
    state: web::Data<AppState>,
    key: ManageKey,
    email: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.services.get_user(key.account(), &email).await?))
}

/// The systems the user may log in to (its grants, seen from the user).
#[utoipa::path(tag = "grants", params(("email" = String, Path)),
    responses((status = 200, body = Vec<String>), (status = 404, body = ErrorBody)), security(("apikey" = [])))]
#[get("/v2/users/{email}/systems")]
pub async fn systems(
    state: web::Data<AppState>,
    key: ManageKey,
    email: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.services.user_systems(key.account(), &email).await?))
}

#[utoipa::path(tag = "users", params(("email" = String, Path)), request_body = UserPatchBody,
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("apikey" = [])))]
#[patch("/v2/users/{email}")]
pub async fn update(
    state: web::Data<AppState>,
    key: ManageKey,
    email: web::Path<String>,
    body: JsonBody<UserPatchBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let p = UserPatch {
        phone: b.phone,
        name: b.name,
        enabled: b.enabled,
        groups: groups_of(b.groups)?,
    };
    Ok(HttpResponse::Ok().json(
        state
            .services
            .update_user(&key.caller(), &email, p, state.clock.now())
            .await?,
    ))
}

#[utoipa::path(tag = "users", params(("email" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("apikey" = [])))]
#[delete("/v2/users/{email}")]
pub async fn remove(
    state: web::Data<AppState>,
    key: ManageKey,
    email: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .delete_user(&key.caller(), &email, state.clock.now())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Ends a lockout after too many consecutive failures.
#[utoipa::path(tag = "users", params(("email" = String, Path)),
    responses((status = 200, body = UserView), (status = 404, body = ErrorBody)), security(("apikey" = [])))]
#[post("/v2/users/{email}/unlock")]
pub async fn unlock(
    state: web::Data<AppState>,
    key: ManageKey,
    email: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .services
            .unlock_user(&key.caller(), &email, state.clock.now())
            .await?,
    ))
}

/// Creates or updates users from CSV `email,phone,name,groups` (header
/// optional; a header `email,phone` followed by `name` and/or `groups`
/// names the columns; groups in one cell are separated by `;`): all rows or
/// none; a refusal lists every bad row. A column a file lacks keeps that
/// value of existing users.
#[utoipa::path(tag = "users", request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportSummary), (status = 413, body = ErrorBody),
              (status = 422, description = "`invalid_csv` with `rows`: [{row, field, message}]", body = ErrorBody)),
    security(("apikey" = [])))]
#[post("/v2/users/import")]
pub async fn import(
    state: web::Data<AppState>,
    key: ManageKey,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > MAX_IMPORT_BYTES {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpResponse::Ok().json(
        state
            .services
            .import_users(&key.caller(), body, state.clock.now())
            .await?,
    ))
}

/// The account's counts for a month, the basis of pay-as-you-go billing.
#[utoipa::path(tag = "usage", params(UsageQuery),
    responses((status = 200, body = UsageView), (status = 422, body = ErrorBody)), security(("apikey" = [])))]
#[get("/v2/usage")]
pub async fn usage(
    state: web::Data<AppState>,
    key: ManageKey,
    q: web::Query<UsageQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .services
            .usage(key.account(), q.into_inner().month, state.clock.now())
            .await?,
    ))
}
