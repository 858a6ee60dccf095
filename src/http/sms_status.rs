//! `GET /v2/sms/status`: the SMS channels as the dispatcher sees them.

use super::error::{ApiError, ErrorBody};
use super::extract::ManageKey;
use super::AppState;
use actix_web::{get, web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct SmsStatus {
    /// In the order the dispatcher tries them: `{channel, available,
    /// breaker: closed|open|half_open, consecutive_failures}`.
    #[schema(value_type = Vec<Object>)]
    pub channels: Vec<crate::sms::router::RouteStatus>,
    /// Each modem: state, identity, SIM, registration, signal, operator, last error, counts.
    #[schema(value_type = Vec<Object>)]
    pub modems: Vec<crate::sms::modem::driver::ModemStatus>,
}

/// Health of every SMS channel and the state of its circuit breaker. The
/// channels are the appliance's, shared by all accounts.
#[utoipa::path(tag = "sms", responses((status = 200, body = SmsStatus), (status = 401, body = ErrorBody)), security(("apikey" = [])))]
#[get("/v2/sms/status")]
pub async fn status(state: web::Data<AppState>, _key: ManageKey) -> Result<HttpResponse, ApiError> {
    let modems = state.modems.iter().map(|m| m.status()).collect();
    Ok(HttpResponse::Ok().json(SmsStatus {
        channels: state.router.status(),
        modems,
    }))
}
