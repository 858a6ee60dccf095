//! Extractors: a handler that needs a key says so in its signature.
//!
//! The key is looked up by a middleware, before any extractor runs, so that a
//! bad key is always answered as such, whatever is wrong with the body (actix
//! runs a handler's extractors side by side and answers the first failure).

use super::error::ApiError;
use super::AppState;
use crate::domain::{Actor, Caller};
use crate::service::KeyIdentity;
use crate::store::Scope;
use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::QueryPayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use std::future::{ready, Future, Ready};
use std::pin::Pin;

pub const API_KEY_HEADER: &str = "apikey";
/// Largest JSON body accepted.
pub const JSON_LIMIT: usize = 64 * 1024;

/// The outcome of the key look-up, left in the request for the extractors.
#[derive(Clone)]
enum KeyLookup {
    Found(KeyIdentity),
    Unknown,
    Failed(String),
}

/// Middleware: looks up the `apikey` header, if any, before the handler's
/// extractors run.
pub async fn key_lookup(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let presented = req
        .headers()
        .get(API_KEY_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty());
    let state = req.app_data::<web::Data<AppState>>().cloned();
    if let (Some(key), Some(state)) = (presented, state) {
        let lookup = match state.services.identify_key(&key).await {
            Ok(Some(id)) => KeyLookup::Found(id),
            Ok(None) => KeyLookup::Unknown,
            Err(e) => KeyLookup::Failed(e.to_string()),
        };
        req.extensions_mut().insert(lookup);
    }
    next.call(req).await
}

fn identify(req: &HttpRequest, need: Scope) -> Result<KeyIdentity, ApiError> {
    let Some(value) = req.headers().get(API_KEY_HEADER) else {
        return Err(ApiError::MissingKey);
    };
    if value.as_bytes().iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::MissingKey);
    }
    let lookup = req.extensions().get::<KeyLookup>().cloned();
    match lookup {
        Some(KeyLookup::Found(id)) if id.scope == need => Ok(id),
        Some(KeyLookup::Found(id)) => Err(ApiError::WrongScope {
            have: id.scope.as_str(),
            need: need.as_str(),
        }),
        Some(KeyLookup::Failed(e)) => Err(ApiError::Service(crate::service::Error::Internal(e))),
        // Unknown, or a header that is not text and so was never looked up.
        Some(KeyLookup::Unknown) | None => Err(ApiError::InvalidKey),
    }
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

            /// The key's account, acting as `key:<key id>` (audit log).
            pub fn caller(&self) -> Caller {
                Caller::new(
                    self.0.account_id.clone(),
                    Actor::ApiKey(self.0.key_id.clone()),
                )
            }
        }

        impl FromRequest for $name {
            type Error = ApiError;
            type Future = Ready<Result<Self, ApiError>>;

            fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
                ready(identify(req, $scope).map($name))
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

/// A JSON body. Syntax is judged first on the whole body (400
/// `malformed_json`), then the shape (422 `invalid_field`), so the answer
/// never depends on where a streaming parser happened to stop.
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T> JsonBody<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

/// No Content-Type (the seed's clients sometimes omit it) or a JSON one.
fn json_content_type(req: &HttpRequest) -> bool {
    match req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        None => true,
        Some(ct) => {
            let essence = ct
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        }
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let type_ok = json_content_type(req);
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if !type_ok {
                return Err(ApiError::UnsupportedMediaType);
            }
            if declared.is_some_and(|n| n > JSON_LIMIT) {
                return Err(ApiError::PayloadTooLarge);
            }
            let mut body = web::BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk
                    .map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
                if body.len() + chunk.len() > JSON_LIMIT {
                    return Err(ApiError::PayloadTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            let value: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
            serde_json::from_value(value)
                .map(JsonBody)
                .map_err(|e| ApiError::InvalidBody(e.to_string()))
        })
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
