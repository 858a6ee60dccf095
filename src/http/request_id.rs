//! Gives every request an id (the caller's `X-Request-Id` if it is sane),
//! returns it in the response, runs the request under a span carrying it,
//! logs one line per request with the id as a field, and counts the request
//! in the metrics. Paths are logged and counted as route patterns: a link's
//! token is part of its path and must never reach the log (and raw paths
//! would make the metrics' label values unbounded).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::web;
use actix_web::HttpMessage;
use std::time::Instant;
use tracing::Instrument;

use super::AppState;

pub const HEADER: &str = "x-request-id";

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

fn sane(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map(str::to_string)
        .unwrap_or_else(|| hex::encode(crate::crypto::random_bytes::<12>()));
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let method = req.method().clone();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.services.metrics().clone());
    let span = tracing::info_span!("request", request_id = %id);
    let started = Instant::now();
    let result = next.call(req).instrument(span).await;
    let elapsed = started.elapsed();
    // An error that left the middleware chain is answered by actix later;
    // its status is known here already.
    let status = match &result {
        Ok(res) => res.status(),
        Err(e) => e.as_response_error().status_code(),
    };
    if let Some(m) = &metrics {
        m.request(&route, method.as_str(), status.as_u16(), elapsed);
    }
    // The id is a field of the line itself (not only of the span), so it is
    // a top-level key of the JSON line too.
    tracing::info!(
        request_id = %id,
        %method,
        route,
        status = status.as_u16(),
        ms = elapsed.as_millis() as u64,
        "request"
    );
    let mut res = result?;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(HeaderName::from_static(HEADER), v);
    }
    Ok(res)
}
