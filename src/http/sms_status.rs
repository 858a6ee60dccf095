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
    pub modems: Vec<ModemHealth>,
}

/// A modem's health. Traffic counters and the IMEI are not shown to
/// accounts (the channels are shared); `flexsecure modem probe` shows the
/// IMEI to the appliance's operator.
#[derive(Serialize, ToSchema)]
pub struct ModemHealth {
    pub name: String,
    pub healthy: bool,
    /// closed, initialising, ready, sim_blocked
    #[schema(value_type = String)]
    pub state: crate::sms::modem::driver::ModemState,
    pub model: Option<String>,
    pub sim: Option<String>,
    pub registration: Option<u8>,
    pub signal: Option<u8>,
    pub operator: Option<String>,
    pub last_error: Option<String>,
}

/// Health of every SMS channel and the state of its circuit breaker. The
/// channels are the appliance's, shared by all accounts.
#[utoipa::path(tag = "sms", responses((status = 200, body = SmsStatus), (status = 401, body = ErrorBody)), security(("apikey" = [])))]
#[get("/v2/sms/status")]
pub async fn status(state: web::Data<AppState>, _key: ManageKey) -> Result<HttpResponse, ApiError> {
    // Channels are shared by all accounts: their health, not their traffic
    // counters or device identities.
    let modems = state
        .modems
        .iter()
        .map(|m| {
            let st = m.status();
            ModemHealth {
                healthy: st.healthy(),
                name: st.name,
                state: st.state,
                model: st.model,
                sim: st.sim,
                registration: st.registration,
                signal: st.signal,
                operator: st.operator,
                last_error: st.last_error,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(SmsStatus {
        channels: state.router.status(),
        modems,
    }))
}
