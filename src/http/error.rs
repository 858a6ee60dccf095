//! The one error type at the HTTP edge: every failure becomes
//! `{"error": {"code": "...", "message": "...", ...}}` with a fitting status.

pub use crate::service::matched_rule_json;
use crate::service::Error as ServiceError;
use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use serde_json::{json, Map, Value};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("{0}")]
    InvalidBody(String),
    #[error("{0}")]
    InvalidQuery(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the request body is too large")]
    PayloadTooLarge,
    #[error("send the body as JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("missing API key: send it in the apikey header")]
    MissingKey,
    #[error("unknown or revoked API key")]
    InvalidKey,
    #[error("missing or wrong delivery-report secret")]
    InvalidSecret,
    #[error("missing or wrong bearer token: send Authorization: Bearer <token>")]
    InvalidToken,
    #[error("this API key has scope {have}; this call needs scope {need}")]
    WrongScope {
        have: &'static str,
        need: &'static str,
    },
    #[error("no such endpoint (check the path and the method)")]
    NoRoute,
}

impl ApiError {
    fn code(&self) -> &'static str {
        use ServiceError as S;
        match self {
            ApiError::Service(e) => match e {
                S::Invalid(_) => "invalid_field",
                S::NotFound { code, .. } | S::Conflict { code, .. } | S::Forbidden { code, .. } => {
                    code
                }
                S::WrongSecret { factor, .. } => match factor {
                    crate::domain::Factor::Pin => "invalid_pin",
                    crate::domain::Factor::Passwordless => "invalid_link",
                },
                S::Expired => "expired",
                S::DeniedByPolicy { .. } => "denied_by_policy",
                S::AttemptsExhausted => "too_many_attempts",
                S::RateLimited { .. } => "rate_limited",
                S::SmsLimit { .. } => "sms_limit",
                S::UserLocked => "user_locked",
                S::Import(_) => "invalid_csv",
                S::Store(e) if e.is_busy() => "busy",
                S::Store(_) | S::Internal(_) => "internal_error",
            },
            ApiError::MalformedJson(_) => "malformed_json",
            ApiError::InvalidBody(_) => "invalid_field",
            ApiError::InvalidQuery(_) => "invalid_query",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::MissingKey => "missing_api_key",
            ApiError::InvalidKey => "invalid_api_key",
            ApiError::InvalidSecret => "invalid_secret",
            ApiError::InvalidToken => "invalid_token",
            ApiError::WrongScope { .. } => "wrong_scope",
            ApiError::NoRoute => "not_found",
        }
    }

    /// Extra fields beside code and message.
    fn details(&self) -> Map<String, Value> {
        let mut m = Map::new();
        match self {
            ApiError::Service(ServiceError::Invalid(i)) => {
                m.insert("field".into(), json!(i.field));
            }
            ApiError::Service(ServiceError::WrongSecret { attempts_left, .. }) => {
                m.insert("attempts_left".into(), json!(attempts_left));
            }
            ApiError::Service(ServiceError::Import(rows)) => {
                m.insert("rows".into(), json!(rows));
            }
            ApiError::Service(ServiceError::DeniedByPolicy { matched_rule }) => {
                m.insert("matched_rule".into(), matched_rule_json(matched_rule));
            }
            ApiError::Service(ServiceError::RateLimited { retry_after }) => {
                m.insert("retry_after".into(), json!(retry_after));
            }
            ApiError::Service(ServiceError::SmsLimit { limit, retry_after }) => {
                m.insert("limit".into(), json!(limit));
                m.insert("retry_after".into(), json!(retry_after));
            }
            _ => {}
        }
        m
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            ApiError::Service(
                ServiceError::RateLimited { retry_after }
                | ServiceError::SmsLimit { retry_after, .. },
            ) => Some(*retry_after),
            // A dead challenge: a new start may follow at once.
            ApiError::Service(ServiceError::AttemptsExhausted) => Some(0),
            ApiError::Service(ServiceError::Store(e)) if e.is_busy() => Some(1),
            _ => None,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        use ServiceError as S;
        match self {
            ApiError::Service(e) => match e {
                S::Invalid(_) | S::Import(_) => StatusCode::UNPROCESSABLE_ENTITY,
                S::NotFound { .. } => StatusCode::NOT_FOUND,
                S::Conflict { .. } => StatusCode::CONFLICT,
                S::WrongSecret { .. } => StatusCode::UNAUTHORIZED,
                S::Expired => StatusCode::GONE,
                S::AttemptsExhausted | S::RateLimited { .. } | S::SmsLimit { .. } => {
                    StatusCode::TOO_MANY_REQUESTS
                }
                S::UserLocked | S::Forbidden { .. } | S::DeniedByPolicy { .. } => {
                    StatusCode::FORBIDDEN
                }
                S::Store(e) if e.is_busy() => StatusCode::SERVICE_UNAVAILABLE,
                S::Store(_) | S::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
            ApiError::MalformedJson(_) | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::InvalidBody(_) | ApiError::InvalidQuery(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::MissingKey
            | ApiError::InvalidKey
            | ApiError::InvalidSecret
            | ApiError::InvalidToken => StatusCode::UNAUTHORIZED,
            ApiError::WrongScope { .. } => StatusCode::FORBIDDEN,
            ApiError::NoRoute => StatusCode::NOT_FOUND,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let message = if status.is_server_error() {
            // Details of internal failures go to the log, not to clients.
            tracing::error!(error = %self, "request failed");
            "internal error; the operator's log has the details".to_string()
        } else {
            self.to_string()
        };
        let mut body = Map::new();
        body.insert("code".into(), json!(self.code()));
        body.insert("message".into(), json!(message));
        body.extend(self.details());
        let mut resp = HttpResponse::build(status);
        if let Some(s) = self.retry_after() {
            resp.insert_header((header::RETRY_AFTER, s.to_string()));
        }
        if matches!(self, ApiError::InvalidToken) {
            resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        resp.json(json!({ "error": body }))
    }
}

/// JSON error body as documented, for the OpenAPI schema.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code, e.g. `invalid_pin`.
    pub code: String,
    pub message: String,
    /// For `invalid_field`: the field at fault.
    pub field: Option<String>,
    /// For `invalid_pin` / `invalid_link`.
    pub attempts_left: Option<u32>,
    /// For `denied_by_policy`: the rule's index (a number) or `default`.
    #[schema(value_type = Option<Object>)]
    pub matched_rule: Option<serde_json::Value>,
}
