//! What the presets fill in when the configuration leaves it out.
//!
//! - `kannel`: Kannel's `sendsms` (GET, query). Kannel's user guide: `202`
//!   with `0: Accepted for delivery` or `3: Queued for later delivery` means
//!   accepted; `4xx` (varies) means the request or Kannel's configuration
//!   rules delivery out (e.g. `403 Not routable. Do not try again.`,
//!   `Authorization failed for sendsms`): permanent; `503 Temporal failure,
//!   try again later.`: retryable. `charset=UTF-8` always (the text is sent
//!   as UTF-8) and `coding=2` when the text does not fit GSM 7-bit. A
//!   `dlr-url` back to `/v2/sms/dlr/{gateway}/{id}` with `dlr-mask=3`
//!   (delivered or failed); Kannel replaces `%d` with the report type.
//!   Kannel gives no id for the message in its answer: the outbox id is used.
//! - `twilio`: form POST with basic auth (Account SID or API key and its
//!   secret); the message's `sid` from the JSON answer; with `dlr_secret`, a
//!   `StatusCallback` back to the appliance.
//! - `generic-json`: JSON POST `{"to", "text", "id"}`, the id from `/id`.

use crate::config::{
    HttpBodyFormat, HttpGatewayConfig, HttpMethod, HttpPreset, HttpProviderId, HttpSuccessRule,
};

/// The defaults one preset (or none) gives.
#[derive(Debug, Clone)]
pub struct Defaults {
    pub method: HttpMethod,
    pub format: HttpBodyFormat,
    pub params: toml::Table,
    pub success: HttpSuccessRule,
    pub provider_id: HttpProviderId,
    pub needs_dlr_secret: bool,
    pub needs_basic_auth: bool,
    /// Query or form fields added when the text needs UCS-2.
    pub unicode_fields: Vec<(String, String)>,
    /// One of these params must be configured (e.g. Twilio's sender).
    pub needs_one_of: &'static [&'static str],
}

fn table(pairs: &[(&str, &str)]) -> toml::Table {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), toml::Value::String(v.to_string())))
        .collect()
}

/// Kannel's answer when it took the message: `0: Accepted for delivery` or
/// `3: Queued for later delivery`.
pub const KANNEL_SUCCESS_BODY: &str = r"^\s*[03]:";

pub fn defaults(cfg: &HttpGatewayConfig) -> Defaults {
    let dlr = cfg.dlr_secret.is_some();
    match cfg.preset {
        Some(HttpPreset::Kannel) => {
            let mut params = table(&[("to", "{to}"), ("text", "{text}"), ("charset", "UTF-8")]);
            if dlr {
                params.extend(table(&[
                    ("dlr-mask", "3"),
                    ("dlr-url", "{dlr_url}&status=%d"),
                ]));
            }
            Defaults {
                method: HttpMethod::Get,
                format: HttpBodyFormat::Query,
                params,
                success: HttpSuccessRule {
                    body_regex: Some(KANNEL_SUCCESS_BODY.into()),
                    ..Default::default()
                },
                provider_id: HttpProviderId::OutboxId,
                needs_dlr_secret: true,
                needs_basic_auth: false,
                unicode_fields: vec![("coding".into(), "2".into())],
                needs_one_of: &[],
            }
        }
        Some(HttpPreset::Twilio) => {
            let mut params = table(&[("To", "{to}"), ("Body", "{text}")]);
            if dlr {
                params.extend(table(&[("StatusCallback", "{dlr_url}")]));
            }
            Defaults {
                method: HttpMethod::Post,
                format: HttpBodyFormat::Form,
                params,
                success: HttpSuccessRule::default(),
                provider_id: HttpProviderId::JsonPointer("/sid".into()),
                needs_dlr_secret: false,
                needs_basic_auth: true,
                unicode_fields: Vec::new(),
                needs_one_of: &["From", "MessagingServiceSid"],
            }
        }
        Some(HttpPreset::GenericJson) => {
            let mut params = table(&[("to", "{to}"), ("text", "{text}"), ("id", "{id}")]);
            if dlr {
                params.extend(table(&[("dlr_url", "{dlr_url}")]));
            }
            Defaults {
                method: HttpMethod::Post,
                format: HttpBodyFormat::Json,
                params,
                success: HttpSuccessRule::default(),
                provider_id: HttpProviderId::JsonPointer("/id".into()),
                needs_dlr_secret: false,
                needs_basic_auth: false,
                unicode_fields: Vec::new(),
                needs_one_of: &[],
            }
        }
        None => {
            let method = cfg.method.unwrap_or(HttpMethod::Post);
            Defaults {
                method,
                format: if method == HttpMethod::Get {
                    HttpBodyFormat::Query
                } else {
                    HttpBodyFormat::Form
                },
                params: toml::Table::new(),
                success: HttpSuccessRule::default(),
                provider_id: HttpProviderId::None,
                needs_dlr_secret: false,
                needs_basic_auth: false,
                unicode_fields: Vec::new(),
                needs_one_of: &[],
            }
        }
    }
}
