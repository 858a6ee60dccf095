//! `/v2/policies` (key scope `manage`).

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, ManageKey};
use super::AppState;
use crate::domain::{Factor, OutcomeInput, PolicySpecInput, RuleInput};
use crate::service::{EvaluationView, PolicyView, StartInput};
use actix_web::{delete, get, post, put, web, HttpResponse};
use serde::Deserialize;
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyBody {
    /// Required on POST; on PUT it may be left out or must equal the path.
    pub name: Option<String>,
    /// One of `["passwordless"]`, `["pin"]`, `["passwordless","pin"]`.
    /// Required without `rules`; with `rules` it may stand for the `default`.
    pub steps: Option<Vec<Factor>>,
    /// 4 to 10, default 6.
    pub pin_length: Option<u8>,
    /// 30 to 600, default 300.
    pub pin_ttl_seconds: Option<u32>,
    /// 30 to 600, default 600.
    pub link_ttl_seconds: Option<u32>,
    /// 1 to 20, default 5.
    pub max_attempts: Option<u32>,
    /// How long an approved login may serve as `context.session` for
    /// step-up: 60 to 2592000 seconds, default 28800 (8 h).
    pub session_max_age_seconds: Option<u32>,
    /// Context rules, in order; the first whose `when` holds decides.
    pub rules: Option<Vec<RuleInput>>,
    /// What applies when no rule holds: `{"require": [...]}`, `{"allow": true}`
    /// or `{"deny": true}`.
    pub default: Option<OutcomeInput>,
    /// IANA time zone of `time` conditions, e.g. `Europe/Zurich`.
    pub timezone: Option<String>,
}

impl PolicyBody {
    fn spec(self) -> PolicySpecInput {
        PolicySpecInput {
            steps: self.steps,
            pin_length: self.pin_length,
            pin_ttl_seconds: self.pin_ttl_seconds,
            link_ttl_seconds: self.link_ttl_seconds,
            max_attempts: self.max_attempts,
            session_max_age_seconds: self.session_max_age_seconds,
            rules: self.rules,
            default: self.default,
            timezone: self.timezone,
        }
    }
}

#[utoipa::path(tag = "policies", responses((status = 200, body = Vec<PolicyView>), (status = 401, body = ErrorBody)), security(("apikey" = [])))]
#[get("/v2/policies")]
pub async fn list(state: web::Data<AppState>, key: ManageKey) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.services.list_policies(key.account()).await?))
}

#[utoipa::path(tag = "policies", request_body = PolicyBody,
    responses((status = 201, body = PolicyView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("apikey" = [])))]
#[post("/v2/policies")]
pub async fn create(
    state: web::Data<AppState>,
    key: ManageKey,
    body: JsonBody<PolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let name = body.name.clone().unwrap_or_default();
    let v = state
        .services
        .create_policy(&key.caller(), &name, body.spec(), state.clock.now())
        .await?;
    Ok(HttpResponse::Created().json(v))
}

#[utoipa::path(tag = "policies", params(("name" = String, Path)),
    responses((status = 200, body = PolicyView), (status = 404, body = ErrorBody)), security(("apikey" = [])))]
#[get("/v2/policies/{name}")]
pub async fn get(
    state: web::Data<AppState>,
    key: ManageKey,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.services.get_policy(key.account(), &name).await?))
}

#[utoipa::path(tag = "policies", params(("name" = String, Path)), request_body = PolicyBody,
    responses((status = 200, body = PolicyView), (status = 404, body = ErrorBody), (status = 409, description = "built-in policy", body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("apikey" = [])))]
#[put("/v2/policies/{name}")]
pub async fn replace(
    state: web::Data<AppState>,
    key: ManageKey,
    name: web::Path<String>,
    body: JsonBody<PolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body
        .name
        .as_deref()
        .is_some_and(|n| n.trim() != name.as_str())
    {
        return Err(ApiError::Service(
            crate::domain::Invalid::new("name", "cannot be changed; create a new policy instead")
                .into(),
        ));
    }
    let v = state
        .services
        .replace_policy(&key.caller(), &name, body.spec(), state.clock.now())
        .await?;
    Ok(HttpResponse::Ok().json(v))
}

#[utoipa::path(tag = "policies", params(("name" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, description = "built-in or in use", body = ErrorBody)),
    security(("apikey" = [])))]
#[delete("/v2/policies/{name}")]
pub async fn remove(
    state: web::Data<AppState>,
    key: ManageKey,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    state
        .services
        .delete_policy(&key.caller(), &name, state.clock.now())
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvaluateBody {
    pub email: String,
    pub system: String,
    /// As in a start: `ip`, `sensitivity`, `device_id`, `session`, anything else.
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Value>,
}

/// Dry-run: what a start would decide under this policy (whichever policy
/// the system has), without creating a challenge or sending anything.
#[utoipa::path(tag = "policies", params(("name" = String, Path)), request_body = EvaluateBody,
    responses((status = 200, body = EvaluationView), (status = 404, description = "unknown policy or system", body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("apikey" = [])))]
#[post("/v2/policies/{name}/evaluate")]
pub async fn evaluate(
    state: web::Data<AppState>,
    key: ManageKey,
    name: web::Path<String>,
    body: JsonBody<EvaluateBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let input = StartInput {
        email: b.email,
        system: b.system,
        context: b.context,
    };
    let v = state
        .services
        .evaluate_policy(key.account(), &name, input, state.clock.now())
        .await?;
    Ok(HttpResponse::Ok().json(v))
}
