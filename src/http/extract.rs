//! Extractors: a handler that needs a key says so in its signature.

use super::error::ApiError;
use super::AppState;
use crate::service::KeyIdentity;
use crate::store::Scope;
use actix_web::dev::Payload;
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::{web, FromRequest, HttpRequest};
use std::future::Future;
use std::pin::Pin;

pub const API_KEY_HEADER: &str = "apikey";

async fn identify(req: HttpRequest, need: Scope) -> Result<KeyIdentity, ApiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| ApiError::Service(crate::service::Error::Internal("no app state".into())))?
        .clone();
    let presented = req
        .headers()
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(ApiError::MissingKey)?;
    let id = state
        .services
        .identify_key(presented)
        .await?
        .ok_or(ApiError::InvalidKey)?;
    if id.scope != need {
        return Err(ApiError::WrongScope {
            have: id.scope.as_str(),
            need: need.as_str(),
        });
    }
    Ok(id)
}

macro_rules! key_extractor {
    ($name:ident, $scope:expr, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone)]
        pub struct $name(pub KeyIdentity);

        impl $name {
            pub fn account(&self) -> &str {
                &self.0.account_id
            }
        }

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                let req = req.clone();
                Box::pin(async move { identify(req, $scope).await.map($name) })
            }
        }
    };
}

key_extractor!(
    AuthKey,
    Scope::Auth,
    "A caller holding a key of scope `auth`."
);
key_extractor!(
    ManageKey,
    Scope::Manage,
    "A caller holding a key of scope `manage`."
);

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(64 * 1024)
        // The seed's clients send JSON; some forget the Content-Type.
        .content_type_required(false)
        .error_handler(|err, _req| json_error(err).into())
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
            ApiError::PayloadTooLarge
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::InvalidBody(e.to_string()),
        JsonPayloadError::Deserialize(e) => ApiError::MalformedJson(e.to_string()),
        other => ApiError::MalformedJson(other.to_string()),
    }
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::InvalidQuery(err.to_string()).into()
    })
}

pub fn path_config() -> web::PathConfig {
    web::PathConfig::default()
        .error_handler(|err, _req| ApiError::InvalidQuery(err.to_string()).into())
}

/// A request body limit for the CSV import.
pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::default().limit(16 * 1024 * 1024)
}
