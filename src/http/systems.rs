//! `/v2/systems` and their grants (key scope `manage`).

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, ManageKey};
use super::AppState;
use crate::domain::Invalid;
use crate::service::{Error as ServiceError, SystemInput, SystemPatch, SystemView, UserView};
use actix_web::{delete, get, patch, post, put, web, HttpResponse};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemBody {
    pub name: String,
    pub description: Option<String>,
    /// A policy name; default `passwordless`.
    pub policy: Option<String>,
    /// Template of the passwordless link, holding `{token}` once, e.g.
    /// `https://app.example/login?token={token}`. Without it the link is the
    /// appliance's own page `{public_url}/l/{token}`.
    pub link_url: Option<String>,
    /// 0 (routine, the default) to 3 (most sensitive); policy rules with
    /// `sensitivity_at_least` read it when a login sends no
    /// `context.sensitivity`.
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 3)]
    pub sensitivity: Option<Value>,
}

/// Present-and-null and absent differ: null clears, absent keeps.
fn double_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemPatchBody {
    pub name: Option<String>,
    pub description: Option<String>,
    pub policy: Option<String>,
    /// A new template, or null to return to the appliance's own page.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub link_url: Option<Option<String>>,
    /// 0 to 3.
    #[schema(value_type = Option<u8>, minimum = 0, maximum = 3)]
    pub sensitivity: Option<Value>,
}

/// `sensitivity` as sent: anything but an integer 0 to 3 is a 422 naming
/// the field (taken as a JSON value so that a wrong type names it too; the
/// range itself is checked by the service).
fn sensitivity_of(v: Option<Value>) -> Result<Option<u8>, ApiError> {
    let Some(v) = v else { return Ok(None) };
    match v.as_u64() {
        Some(n) => Ok(Some(u8::try_from(n).unwrap_or(u8::MAX))),
        None => Err(ApiError::from(ServiceError::from(Invalid::new(
            "sensitivity",
            "must be between 0 and 3",
        )))),
    }
}

#[utoipa::path(tag = "systems", responses((status = 200, body = Vec<SystemView>)), security(("apikey" = [])))]
#[get("/v2/systems")]
pub async fn list(state: web::Data<AppState>, key: ManageKey) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.services.list_systems(key.account()).await?))
}

#[utoipa::path(tag = "systems", request_body = SystemBody,
    responses((status = 201, body = SystemView), (status = 404, description = "unknown policy", body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("apikey" = [])))]
#[post("/v2/systems")]
pub async fn create(
    state: web::Data<AppState>,
    key: ManageKey,
    body: JsonBody<SystemBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let input = SystemInput {
        name: b.name,
        description: b.description,
        policy: b.policy,
        link_url: b.link_url,
        sensitivity: sensitivity_of(b.sensitivity)?,
    };
    let v = state
        .services
        .create_system(&key.caller(), input, state.clock.now())
        .await?;
    Ok(HttpResponse::Created().json(v))
}

#[utoipa::path(tag = "systems", params(("name" = String, Path)),
    responses((status = 200, body = SystemView), (status = 404, body = ErrorBody)), security(("apikey" = [])))]
#[get("/v2/systems/{name}")]
pub async fn get(
    state: web::Data<AppState>,
    key: ManageKey,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.services.get_system(key.account(), &name).await?))
}

#[utoipa::path(tag = "systems", params(("name" = String, Path)), request_body = SystemPatchBody,
    responses((status = 200, body = SystemView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("apikey" = [])))]
#[patch("/v2/systems/{name}")]
pub async fn update(
    state: web::Data<AppState>,
    key: ManageKey,
    name: web::Path<String>,
    body: JsonBody<SystemPatchBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let p = SystemPatch {
        name: b.name,
        description: b.description,
        policy: b.policy,
        link_url: b.link_url,
        sensitivity: sensitivity_of(b.sensitivity)?,
    };
    Ok(HttpResponse::Ok().json(
        state
            .services
            .update_system(&key.caller(), &name, p, state.clock.now())
            .await?,
    ))
}

#[utoipa::path(tag = "systems", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("apikey" = [])))]
#[delete("/v2/systems/{name}")]
pub async fn remove(
    state: web::Data<AppState>,
    key: ManageKey,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .delete_system(&key.caller(), &name, state.clock.now())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(serde::Serialize, ToSchema)]
pub struct GrantView {
    pub system: String,
    pub email: String,
    /// False when the grant already existed.
    pub created: bool,
}

/// Grants the user access to the system (idempotent).
#[utoipa::path(tag = "grants", params(("name" = String, Path), ("email" = String, Path)),
    responses((status = 201, body = GrantView), (status = 200, description = "already granted", body = GrantView), (status = 404, body = ErrorBody)),
    security(("apikey" = [])))]
#[put("/v2/systems/{name}/users/{email}")]
pub async fn grant(
    state: web::Data<AppState>,
    key: ManageKey,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (system, email) = path.into_inner();
    let created = state
        .services
        .grant(&key.caller(), &system, &email, state.clock.now())
        .await?;
    let body = GrantView {
        system,
        email: email.to_lowercase(),
        created,
    };
    Ok(if created {
        HttpResponse::Created().json(body)
    } else {
        HttpResponse::Ok().json(body)
    })
}

#[utoipa::path(tag = "grants", params(("name" = String, Path), ("email" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody)), security(("apikey" = [])))]
#[delete("/v2/systems/{name}/users/{email}")]
pub async fn revoke(
    state: web::Data<AppState>,
    key: ManageKey,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (system, email) = path.into_inner();
    state
        .services
        .revoke_grant(&key.caller(), &system, &email, state.clock.now())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(tag = "grants", params(("name" = String, Path)),
    responses((status = 200, body = Vec<UserView>), (status = 404, body = ErrorBody)), security(("apikey" = [])))]
#[get("/v2/systems/{name}/users")]
pub async fn granted(
    state: web::Data<AppState>,
    key: ManageKey,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.services.granted_users(key.account(), &name).await?))
}
