//! `/v2/sms/countries` and `/v2/sms/refusals` (key scope `manage`): the
//! account's country allowlist and its record of refused SMS.

use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, ManageKey};
use super::AppState;
use crate::service::{SmsCountriesView, SmsRefusalView};
use actix_web::{delete, get, put, web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CountriesBody {
    /// Country calling codes, e.g. `["41", "49", "1"]` (a leading `+` is
    /// dropped); empty = every country.
    pub allowed: Vec<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct RefusalsQuery {
    /// 1 to 500, default 50.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RefusalsResponse {
    /// One entry per email, reason and hour (UTC), most recent first.
    pub refusals: Vec<SmsRefusalView>,
}

/// The country allowlist in force for the account's SMS.
#[utoipa::path(tag = "sms-limits",
    responses((status = 200, body = SmsCountriesView)), security(("apikey" = [])))]
#[get("/v2/sms/countries")]
pub async fn countries(
    state: web::Data<AppState>,
    key: ManageKey,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.services.sms_countries(key.account()).await?))
}

/// Sets the account's own allowlist; a start for a user whose number is in
/// no listed country answers 403 `sms_country_denied`.
#[utoipa::path(tag = "sms-limits", request_body = CountriesBody,
    responses((status = 200, body = SmsCountriesView), (status = 422, body = ErrorBody)),
    security(("apikey" = [])))]
#[put("/v2/sms/countries")]
pub async fn set_countries(
    state: web::Data<AppState>,
    key: ManageKey,
    body: JsonBody<CountriesBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    Ok(HttpResponse::Ok().json(
        state
            .services
            .set_sms_countries(&key.caller(), &b.allowed, state.clock.now())
            .await?,
    ))
}

/// Drops the account's own allowlist: the appliance's default applies again.
#[utoipa::path(tag = "sms-limits",
    responses((status = 200, body = SmsCountriesView)), security(("apikey" = [])))]
#[delete("/v2/sms/countries")]
pub async fn reset_countries(
    state: web::Data<AppState>,
    key: ManageKey,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .services
            .reset_sms_countries(&key.caller(), state.clock.now())
            .await?,
    ))
}

/// SMS refused by the anti-pumping limits.
#[utoipa::path(tag = "sms-limits", params(RefusalsQuery),
    responses((status = 200, body = RefusalsResponse), (status = 422, body = ErrorBody)),
    security(("apikey" = [])))]
#[get("/v2/sms/refusals")]
pub async fn refusals(
    state: web::Data<AppState>,
    key: ManageKey,
    q: web::Query<RefusalsQuery>,
) -> Result<HttpResponse, ApiError> {
    let refusals = state
        .services
        .sms_refusals(key.account(), q.into_inner().limit)
        .await?;
    Ok(HttpResponse::Ok().json(RefusalsResponse { refusals }))
}
