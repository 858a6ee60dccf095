//! The seed's two login calls and status polling (key scope `auth`).

use super::error::{matched_rule_json, ApiError, ErrorBody};
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
    /// `pending` (202: an SMS is on its way), or `approved` (200: an `allow`
    /// rule, or a step-up session that already satisfied every step).
    pub status: String,
    pub authenticated: bool,
    /// The steps this login still has to pass, in order (empty when approved).
    pub steps: Vec<Factor>,
    /// When the secret just sent stops working.
    pub expires_at: DateTime<Utc>,
    /// Which rule of the policy decided: its index (a number) or `default`.
    #[schema(value_type = Object)]
    pub matched_rule: serde_json::Value,
    /// Assurance once the steps are done: `0` none, `1` link or PIN, `2` both.
    pub acr: String,
    /// Factors already satisfied (a step-up session's, or all when approved).
    pub amr: Vec<Factor>,
    /// Two digits for the app to show beside its login form while the link
    /// waits: the user picks this number on the confirmation page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_code: Option<String>,
    /// Signed result (JWT, EdDSA), when approved; verify with `/v2/jwks.json`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assertion: Option<String>,
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
    /// Assurance reached (only when approved): `1` link or PIN, `2` both.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    /// Signed result (JWT, EdDSA; only when approved).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assertion: Option<String>,
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
    /// Which rule of the policy decided: its index (a number) or `default`.
    #[schema(value_type = Object)]
    pub matched_rule: serde_json::Value,
    pub acr: Option<String>,
    /// While the link waits on the confirmation page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_code: Option<String>,
    /// Signed result while approved and younger than 5 minutes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assertion: Option<String>,
}

impl From<CompleteOutcome> for CompleteResponse {
    fn from(o: CompleteOutcome) -> Self {
        match o {
            CompleteOutcome::Approved {
                request_id,
                amr,
                acr,
                assertion,
            } => Self {
                authenticated: true,
                status: "approved".into(),
                request_id,
                amr: Some(amr),
                acr: Some(acr),
                assertion,
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
                acr: None,
                assertion: None,
                next_step: Some(next_step),
                expires_at: Some(expires_at),
            },
        }
    }
}

/// Start a login: the system's policy decides from `context` (`ip`,
/// `sensitivity`, `device_id`, `session`) whether to text a link, a PIN or
/// both, to approve at once, or to refuse.
///
/// An unknown, disabled or locked user, or one without access to the system,
/// gets exactly the same answer and no SMS.
#[utoipa::path(
    tag = "login",
    request_body = StartBody,
    responses(
        (status = 202, description = "pending: an SMS is on its way", body = StartResponse),
        (status = 200, description = "approved at once (allow rule or step-up session)", body = StartResponse),
        (status = 403, description = "`denied_by_policy`, with `matched_rule`", body = ErrorBody),
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
            &key.caller(),
            StartInput {
                email: body.email,
                system: body.system,
                context: body.context,
            },
            now,
        )
        .await?;
    let mut resp = if o.approved {
        HttpResponse::Ok()
    } else {
        HttpResponse::Accepted()
    };
    Ok(resp.json(StartResponse {
        request_id: o.request_id,
        status: if o.approved { "approved" } else { "pending" }.into(),
        authenticated: o.approved,
        steps: o.steps,
        expires_at: o.expires_at,
        matched_rule: matched_rule_json(&o.matched_rule),
        acr: o.acr,
        amr: o.amr,
        match_code: o.match_code.map(|c| c.to_string()),
        assertion: o.assertion,
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
    let o = state.services.complete(&key.caller(), input, now).await?;
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
        matched_rule: matched_rule_json(v.matched_rule.as_deref().unwrap_or("default")),
        acr: v.acr,
        match_code: v.match_code.map(|c| c.to_string()),
        assertion: v.assertion,
    }))
}
