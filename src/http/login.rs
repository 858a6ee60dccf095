//! The seed's two login calls and status polling (key scope `auth`).

use super::error::{ApiError, ErrorBody};
use super::extract::{AuthKey, JsonBody};
use super::AppState;
use crate::domain::Factor;
use crate::service::{CompleteInput, CompleteOutcome, StartInput};
use actix_web::{get, post, web, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Deserialize, ToSchema)]
pub struct StartBody {
    /// The user's email (case-insensitive).
    pub email: String,
    /// The system's name.
    pub system: String,
    /// Circumstances of the login (device, address, ...), a JSON object of at most 4 KiB.
    #[schema(value_type = Option<Object>)]
    pub context: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StartResponse {
    pub request_id: String,
    /// Always `pending`.
    pub status: String,
    pub steps: Vec<Factor>,
    /// When the secret just sent stops working.
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CompleteBody {
    pub email: String,
    pub system: String,
    /// The PIN the user received.
    pub pin: Option<String>,
    /// The link's token, or the whole link as sent.
    pub passwordless: Option<String>,
    /// The `request_id` from the start; without it the user's newest
    /// authentication for the system is meant.
    pub request_id: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CompleteResponse {
    pub authenticated: bool,
    /// `approved` or `pending`.
    pub status: String,
    pub request_id: String,
    /// Factors satisfied, in order (only when approved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amr: Option<Vec<Factor>>,
    /// The step that remains (only when pending).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_step: Option<Factor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StatusResponse {
    pub request_id: String,
    /// `pending`, `approved`, `failed` or `expired`.
    pub status: String,
    pub authenticated: bool,
    pub steps: Vec<Factor>,
    pub next_step: Option<Factor>,
    pub amr: Vec<Factor>,
    pub attempts_left: u32,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl From<CompleteOutcome> for CompleteResponse {
    fn from(o: CompleteOutcome) -> Self {
        match o {
            CompleteOutcome::Approved { request_id, amr } => Self {
                authenticated: true,
                status: "approved".into(),
                request_id,
                amr: Some(amr),
                next_step: None,
                expires_at: None,
            },
            CompleteOutcome::Pending {
                request_id,
                next_step,
                expires_at,
            } => Self {
                authenticated: false,
                status: "pending".into(),
                request_id,
                amr: None,
                next_step: Some(next_step),
                expires_at: Some(expires_at),
            },
        }
    }
}

/// Start a login: texts the user a link or a PIN, per the system's policy.
///
/// An unknown, disabled or locked user, or one without access to the system,
/// gets exactly the same answer and no SMS.
#[utoipa::path(
    tag = "login",
    request_body = StartBody,
    responses(
        (status = 202, body = StartResponse),
        (status = 404, description = "unknown system", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "too many SMS for this authentication; see Retry-After", body = ErrorBody),
    ),
    security(("apikey" = []))
)]
#[post("/v2/user/authenticate")]
pub async fn start(
    state: web::Data<AppState>,
    key: AuthKey,
    body: JsonBody<StartBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let now = state.clock.now();
    let o = state
        .services
        .start(
            key.account(),
            StartInput {
                email: body.email,
                system: body.system,
                context: body.context,
            },
            now,
        )
        .await?;
    Ok(HttpResponse::Accepted().json(StartResponse {
        request_id: o.request_id,
        status: "pending".into(),
        steps: o.steps,
        expires_at: o.expires_at,
    }))
}

/// Complete a step with the PIN or the link the user received.
#[utoipa::path(
    tag = "login",
    request_body = CompleteBody,
    responses(
        (status = 200, body = CompleteResponse),
        (status = 401, description = "wrong PIN or link (`invalid_pin`, `invalid_link`, with `attempts_left`)", body = ErrorBody),
        (status = 403, description = "user locked", body = ErrorBody),
        (status = 404, description = "no authentication in progress", body = ErrorBody),
        (status = 409, description = "already completed, or another step is expected", body = ErrorBody),
        (status = 410, description = "expired", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "attempts used up", body = ErrorBody),
    ),
    security(("apikey" = []))
)]
#[post("/v2/system/authenticate/user")]
pub async fn complete(
    state: web::Data<AppState>,
    key: AuthKey,
    body: JsonBody<CompleteBody>,
) -> Result<HttpResponse, ApiError> {
    let b = body.into_inner();
    let now = state.clock.now();
    let input = CompleteInput {
        email: b.email,
        system: b.system,
        pin: b.pin,
        passwordless: b.passwordless,
        request_id: b.request_id,
    };
    let o = state.services.complete(key.account(), input, now).await?;
    Ok(HttpResponse::Ok().json(CompleteResponse::from(o)))
}

/// The current state of an authentication, for apps that poll.
#[utoipa::path(
    tag = "login",
    params(("request_id" = String, Path, description = "from the start call")),
    responses((status = 200, body = StatusResponse), (status = 404, body = ErrorBody)),
    security(("apikey" = []))
)]
#[get("/v2/authentications/{request_id}")]
pub async fn status(
    state: web::Data<AppState>,
    key: AuthKey,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let v = state
        .services
        .status(key.account(), &path.into_inner(), now)
        .await?;
    Ok(HttpResponse::Ok().json(StatusResponse {
        authenticated: v.status == crate::domain::ChallengeStatus::Approved,
        status: v.status.as_str().into(),
        request_id: v.request_id,
        steps: v.steps,
        next_step: v.next_step,
        amr: v.amr,
        attempts_left: v.attempts_left,
        expires_at: v.expires_at,
        created_at: v.created_at,
    }))
}
