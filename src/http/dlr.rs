//! Delivery reports from HTTP gateways: `GET` or `POST
//! /v2/sms/dlr/{gateway}/{message_id}`. No API key: the gateway proves itself
//! with its `dlr_secret`, which the appliance put in the callback URL it gave
//! the gateway (`?secret=`). The report marks the outbox message that this
//! gateway sent as delivered or failed; intermediate reports (buffered,
//! accepted by the SMSC, queued, ...) are acknowledged and not recorded.
//!
//! The status is read from `status` in the query (Kannel's `%d`: 1 delivered,
//! 2 failed, 4 buffered, 8 SMSC submit, 16 SMSC reject; or a word such as
//! `delivered`, `undelivered`, `failed`), or from a form or JSON body field
//! `status` or `MessageStatus` (Twilio's status callback). The secret may also
//! come in the body.

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::config::HttpGatewayConfig;
use actix_web::{get, post, web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Largest report body accepted.
const BODY_LIMIT: usize = 16 * 1024;

/// A gateway that may send delivery reports, and its secret.
#[derive(Clone)]
pub struct DlrGateway {
    pub name: String,
    secret: String,
}

impl DlrGateway {
    pub fn new(name: impl Into<String>, secret: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            secret: secret.into(),
        }
    }
}

impl std::fmt::Debug for DlrGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DlrGateway")
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The gateways the report endpoint accepts, as `web::Data` of the app.
#[derive(Debug, Clone, Default)]
pub struct DlrGateways {
    gateways: Vec<DlrGateway>,
}

impl DlrGateways {
    pub fn new(gateways: Vec<DlrGateway>) -> Self {
        Self { gateways }
    }

    /// Every `[[sms.http]]` gateway with a `dlr_secret`.
    pub fn from_config(http: &[HttpGatewayConfig]) -> Self {
        Self::new(
            http.iter()
                .filter_map(|g| {
                    g.dlr_secret
                        .as_ref()
                        .map(|s| DlrGateway::new(g.name.clone(), s.clone()))
                })
                .collect(),
        )
    }

    fn find(&self, name: &str) -> Option<&DlrGateway> {
        self.gateways.iter().find(|g| g.name == name)
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DlrQuery {
    /// The gateway's `dlr_secret`.
    pub secret: Option<String>,
    /// Kannel's report type (`1` delivered, `2` failed, `4` buffered, `8`
    /// SMSC submit, `16` SMSC reject) or a word (`delivered`, `failed`,
    /// `undelivered`, `rejected`, `expired`; `queued`, `sent`, ... are
    /// intermediate).
    pub status: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DlrAck {
    /// Whether the message now carries this final state.
    pub recorded: bool,
    /// `delivered`, `failed`, or `intermediate` (acknowledged, not recorded).
    pub delivery: String,
    /// The message is still being sent: the report is applied when the send
    /// is recorded (answered with 202).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    Delivered,
    Failed,
    Intermediate,
}

fn parse_status(s: &str) -> Option<Report> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "delivered" | "delivrd" => Some(Report::Delivered),
        "2" | "16" | "failed" | "undelivered" | "undeliv" | "rejected" | "rejectd" | "expired"
        | "deleted" => Some(Report::Failed),
        "4" | "8" | "buffered" | "queued" | "accepted" | "acceptd" | "sending" | "sent"
        | "enroute" | "submitted" | "scheduled" => Some(Report::Intermediate),
        _ => None,
    }
}

fn unknown_gateway() -> ApiError {
    ApiError::Service(crate::service::Error::not_found(
        "unknown_gateway",
        "no HTTP gateway of that name takes delivery reports",
    ))
}

fn unknown_message() -> ApiError {
    ApiError::Service(crate::service::Error::not_found(
        "unknown_message",
        "no message of that id was sent through this gateway",
    ))
}

async fn handle(
    state: &AppState,
    gateways: Option<&DlrGateways>,
    (gateway, message_id): (String, String),
    secret: Option<String>,
    status: Option<String>,
) -> Result<HttpResponse, ApiError> {
    let g = gateways
        .and_then(|all| all.find(&gateway))
        .ok_or_else(unknown_gateway)?;
    let given = secret.unwrap_or_default();
    if !crate::crypto::ct_eq(given.as_bytes(), g.secret.as_bytes()) {
        return Err(ApiError::InvalidSecret);
    }
    let report = match status.as_deref().map(parse_status) {
        Some(Some(r)) => r,
        _ => {
            return Err(ApiError::InvalidQuery(
                "status must be a delivery status: 1 (delivered), 2 or 16 (failed), 4 or 8 \
                 (intermediate), or a word such as delivered, undelivered, failed"
                    .into(),
            ))
        }
    };
    let id: i64 = message_id
        .parse()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(unknown_message)?;
    let delivered = match report {
        Report::Intermediate => {
            return Ok(HttpResponse::Ok().json(DlrAck {
                recorded: false,
                delivery: "intermediate".into(),
                pending: false,
            }))
        }
        Report::Delivered => true,
        Report::Failed => false,
    };
    let channel = format!("http:{}", g.name);
    let now = state.clock.now();
    let matched = state
        .services
        .store
        .write(move |db| db.record_delivery_by_id(id, &channel, delivered, now))
        .await
        .map_err(|e| ApiError::Service(crate::service::Error::Store(e)))?;
    let delivery = if delivered { "delivered" } else { "failed" };
    tracing::info!(gateway = %g.name, outbox_id = id, delivery, recorded = ?matched, "delivery report");
    match matched {
        Some(true) => Ok(HttpResponse::Ok().json(DlrAck {
            recorded: true,
            delivery: delivery.into(),
            pending: false,
        })),
        Some(false) => Ok(HttpResponse::Accepted().json(DlrAck {
            recorded: false,
            delivery: delivery.into(),
            pending: true,
        })),
        None => Err(unknown_message()),
    }
}

/// A delivery report from an HTTP gateway (Kannel's `dlr-url` calls this).
///
/// Authenticated by the gateway's `dlr_secret`, not by an API key.
#[utoipa::path(
    tag = "sms",
    params(
        ("gateway" = String, Path, description = "the `[[sms.http]]` gateway's name"),
        ("message_id" = String, Path, description = "the outbox id the appliance put in the callback URL"),
        DlrQuery,
    ),
    responses(
        (status = 200, description = "recorded, or an intermediate report acknowledged", body = DlrAck),
        (status = 202, description = "the message is still being sent: kept and applied when the send is recorded", body = DlrAck),
        (status = 401, description = "missing or wrong secret (`invalid_secret`)", body = ErrorBody),
        (status = 404, description = "unknown gateway (`unknown_gateway`) or message (`unknown_message`)", body = ErrorBody),
        (status = 422, description = "status missing or not understood", body = ErrorBody),
    )
)]
#[get("/v2/sms/dlr/{gateway}/{message_id}")]
pub async fn report_get(
    state: web::Data<AppState>,
    gateways: Option<web::Data<DlrGateways>>,
    path: web::Path<(String, String)>,
    query: web::Query<DlrQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    handle(
        &state,
        gateways.as_ref().map(|g| g.get_ref()),
        path.into_inner(),
        q.secret,
        q.status,
    )
    .await
}

/// The body fields a report may carry (form or JSON).
fn body_fields(req: &HttpRequest, body: &[u8]) -> (Option<String>, Option<String>) {
    let json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
    let mut secret = None;
    let mut status = None;
    if json {
        if let Ok(serde_json::Value::Object(o)) = serde_json::from_slice(body) {
            let text = |v: &serde_json::Value| match v {
                serde_json::Value::String(s) => Some(s.clone()),
                serde_json::Value::Number(n) => Some(n.to_string()),
                _ => None,
            };
            secret = o.get("secret").and_then(text);
            status = o
                .get("status")
                .or_else(|| o.get("MessageStatus"))
                .and_then(text);
        }
    } else {
        for (k, v) in url::form_urlencoded::parse(body) {
            match k.as_ref() {
                "secret" => secret = Some(v.into_owned()),
                "status" | "MessageStatus" if status.is_none() => status = Some(v.into_owned()),
                _ => {}
            }
        }
    }
    (secret, status)
}

/// The same report by POST (form or JSON body; Twilio's status callback).
/// The query's `secret` and `status` win over the body's.
#[utoipa::path(
    tag = "sms",
    params(
        ("gateway" = String, Path, description = "the `[[sms.http]]` gateway's name"),
        ("message_id" = String, Path, description = "the outbox id the appliance put in the callback URL"),
        DlrQuery,
    ),
    responses(
        (status = 200, description = "recorded, or an intermediate report acknowledged", body = DlrAck),
        (status = 202, description = "the message is still being sent: kept and applied when the send is recorded", body = DlrAck),
        (status = 401, description = "missing or wrong secret (`invalid_secret`)", body = ErrorBody),
        (status = 404, description = "unknown gateway (`unknown_gateway`) or message (`unknown_message`)", body = ErrorBody),
        (status = 413, description = "body larger than 16 KiB", body = ErrorBody),
        (status = 422, description = "status missing or not understood", body = ErrorBody),
    )
)]
#[post("/v2/sms/dlr/{gateway}/{message_id}")]
pub async fn report_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    gateways: Option<web::Data<DlrGateways>>,
    path: web::Path<(String, String)>,
    query: web::Query<DlrQuery>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::BadRequest(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > BODY_LIMIT {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let (body_secret, body_status) = body_fields(&req, &body);
    let q = query.into_inner();
    handle(
        &state,
        gateways.as_ref().map(|g| g.get_ref()),
        path.into_inner(),
        q.secret.or(body_secret),
        q.status.or(body_status),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        assert_eq!(parse_status("1"), Some(Report::Delivered));
        assert_eq!(parse_status(" Delivered "), Some(Report::Delivered));
        assert_eq!(parse_status("2"), Some(Report::Failed));
        assert_eq!(parse_status("16"), Some(Report::Failed));
        assert_eq!(parse_status("undelivered"), Some(Report::Failed));
        assert_eq!(parse_status("4"), Some(Report::Intermediate));
        assert_eq!(parse_status("8"), Some(Report::Intermediate));
        assert_eq!(parse_status("sent"), Some(Report::Intermediate));
        assert_eq!(parse_status("%d"), None);
        assert_eq!(parse_status("3"), None);
        assert_eq!(parse_status(""), None);
    }

    #[test]
    fn gateways_from_config_keep_only_those_with_a_secret_and_hide_it() {
        let c = crate::config::Config::parse(
            r#"
            [[sms.http]]
            name = "k"
            preset = "kannel"
            url = "http://k/cgi-bin/sendsms"
            dlr_secret = "0123456789abcdef"
            [[sms.http]]
            name = "j"
            preset = "generic-json"
            url = "http://j/send"
            "#,
        )
        .unwrap();
        let g = DlrGateways::from_config(&c.sms.http);
        assert!(g.find("k").is_some() && g.find("j").is_none());
        assert!(!format!("{g:?}").contains("0123456789abcdef"));
    }
}
