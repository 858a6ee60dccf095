//! A gateway's configuration resolved against its preset and checked once:
//! templates parsed, rules compiled. Building the request of one message is
//! pure, so it is unit-tested without a network.

use super::presets;
use super::rules::{self, ProviderId, Redactor, RetryRule, Rules, StatusSet, SuccessRule};
use super::template::{percent_encode, JsonTemplate, Template, Values, Var};
use crate::config::HttpPreset;
use crate::config::{HttpAuth, HttpBodyFormat, HttpGatewayConfig, HttpMethod, HttpNumberFormat};
use crate::sms::modem::pdu::{choose_coding, Coding};
use crate::sms::OutgoingSms;
use base64::Engine;
use std::time::Duration;

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_TIMEOUT_MS: u64 = 120_000;

/// Where the params go.
#[derive(Debug, Clone)]
pub enum Body {
    Query(Vec<(String, Template)>),
    Form(Vec<(String, Template)>),
    Json(JsonTemplate),
}

/// Not `Debug`-printed in full: it holds the secrets.
#[derive(Clone)]
pub struct Settings {
    /// The gateway's name.
    pub gateway: String,
    /// `http:<name>`.
    pub channel: String,
    pub preset: Option<HttpPreset>,
    pub method: HttpMethod,
    pub url: Template,
    pub body: Body,
    pub headers: Vec<(String, String)>,
    pub auth: Option<HttpAuth>,
    pub number_format: HttpNumberFormat,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    pub rules: Rules,
    /// `{public_url}/v2/sms/dlr/{name}/` and the secret, when reports are on.
    pub dlr: Option<(String, String)>,
    pub unicode_fields: Vec<(String, String)>,
    pub proxy: Option<String>,
    pub ca_file: Option<std::path::PathBuf>,
    pub redactor: Redactor,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("channel", &self.channel)
            .field("preset", &self.preset)
            .field("method", &self.method)
            .field("auth", &self.auth)
            .field("number_format", &self.number_format)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("rules", &self.rules)
            .field("dlr", &self.dlr.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// One request, ready to go. Not `Debug`: it holds the text and secrets.
pub struct Request {
    pub method: HttpMethod,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<(&'static str, Vec<u8>)>,
}

/// A parameter name that suggests its value is a secret (kept out of answers
/// quoted in logs even when it is not given as `auth`).
fn secret_like(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["pass", "secret", "token", "key", "auth"]
        .iter()
        .any(|s| n.contains(s))
}

fn dlr_secret_ok(s: &str) -> bool {
    (16..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

const SAMPLE: Values<'static> = Values {
    to: "+41791234567",
    text: "sample text",
    id: "1",
    dlr_url: "http://127.0.0.1/v2/sms/dlr/x/1?secret=x",
};

impl Settings {
    /// Resolves `cfg` over its preset. `public_url` is the appliance's base
    /// URL, for delivery-report callbacks.
    pub fn resolve(cfg: &HttpGatewayConfig, public_url: &str) -> Result<Self, String> {
        let d = presets::defaults(cfg);
        let method = cfg.method.unwrap_or(d.method);
        let format = cfg.format.unwrap_or(d.format);
        if method == HttpMethod::Get && format != HttpBodyFormat::Query {
            return Err(
                "a GET request has no body: use format = \"query\" or method = \"POST\"".into(),
            );
        }

        let mut params = d.params.clone();
        if let Some(p) = &cfg.params {
            params.extend(p.clone());
        }
        let flat = |params: &toml::Table| -> Result<Vec<(String, Template)>, String> {
            params
                .iter()
                .map(|(k, v)| {
                    let s = match v {
                        toml::Value::String(s) => s.clone(),
                        toml::Value::Integer(i) => i.to_string(),
                        toml::Value::Boolean(b) => b.to_string(),
                        _ => {
                            return Err(format!(
                            "params.{k}: a query or form field must be a string, number or boolean"
                        ))
                        }
                    };
                    Ok((
                        k.clone(),
                        Template::parse(&s).map_err(|e| format!("params.{k}: {e}"))?,
                    ))
                })
                .collect()
        };
        let body = match format {
            HttpBodyFormat::Query => Body::Query(flat(&params)?),
            HttpBodyFormat::Form => Body::Form(flat(&params)?),
            HttpBodyFormat::Json => Body::Json(
                JsonTemplate::from_toml(&toml::Value::Table(params.clone()))
                    .map_err(|e| format!("params: {e}"))?,
            ),
        };
        let url = Template::parse(&cfg.url).map_err(|e| format!("url: {e}"))?;
        let uses = |v: Var| {
            url.uses(v)
                || match &body {
                    Body::Query(f) | Body::Form(f) => f.iter().any(|(_, t)| t.uses(v)),
                    Body::Json(j) => j.uses(v),
                }
        };
        if !uses(Var::To) || !uses(Var::Text) {
            return Err("the url or params must use both {to} and {text}".into());
        }
        if !d.needs_one_of.is_empty() && !d.needs_one_of.iter().any(|k| params.contains_key(*k)) {
            return Err(format!(
                "params must set one of {} (the sender)",
                d.needs_one_of.join(", ")
            ));
        }

        // The URL must come out as an absolute http(s) URL.
        let sample = url.render_with(&SAMPLE, percent_encode);
        match url::Url::parse(&sample) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return Err(format!("url {:?} is not an http or https URL", sample)),
        }

        let mut headers = Vec::new();
        for (k, v) in &cfg.headers {
            ureq::http::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("headers: {k:?} is not a header name"))?;
            ureq::http::HeaderValue::from_str(v)
                .map_err(|_| format!("headers.{k}: not a valid header value"))?;
            headers.push((k.clone(), v.clone()));
        }
        match &cfg.auth {
            Some(HttpAuth::Header { name, value }) => {
                ureq::http::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| format!("auth: {name:?} is not a header name"))?;
                ureq::http::HeaderValue::from_str(value)
                    .map_err(|_| "auth: the value is not a valid header value".to_string())?;
            }
            Some(HttpAuth::Bearer { token }) => {
                ureq::http::HeaderValue::from_str(&format!("Bearer {token}"))
                    .map_err(|_| "auth: the token is not a valid header value".to_string())?;
            }
            Some(HttpAuth::Basic { username, .. }) if username.contains(':') => {
                return Err("auth: a basic-auth username cannot contain ':'".into());
            }
            Some(HttpAuth::Query { params }) if params.is_empty() => {
                return Err("auth: query auth needs at least one of params".into());
            }
            _ => {}
        }
        if d.needs_basic_auth && !matches!(cfg.auth, Some(HttpAuth::Basic { .. })) {
            return Err(
                "this preset needs auth = { type = \"basic\", username = .., password = .. }"
                    .into(),
            );
        }

        let dlr = match &cfg.dlr_secret {
            Some(s) if !dlr_secret_ok(s) => {
                return Err(
                    "dlr_secret must be 16 to 128 characters of A-Z a-z 0-9 - . _ ~ (e.g. openssl rand -hex 32)"
                        .into(),
                )
            }
            Some(s) => Some((
                format!(
                    "{}/v2/sms/dlr/{}/",
                    public_url.trim_end_matches('/'),
                    cfg.name
                ),
                s.clone(),
            )),
            None if d.needs_dlr_secret => {
                return Err("this preset asks for delivery reports: set dlr_secret".into())
            }
            None if uses(Var::DlrUrl) => return Err("{dlr_url} needs dlr_secret".into()),
            None => None,
        };

        let ms = |v: Option<u64>, default: Duration, what: &str| match v {
            None => Ok(default),
            Some(0) => Err(format!("{what} must be more than 0")),
            Some(ms) if ms > MAX_TIMEOUT_MS => {
                Err(format!("{what} must be at most {MAX_TIMEOUT_MS}"))
            }
            Some(ms) => Ok(Duration::from_millis(ms)),
        };
        let timeout = ms(cfg.timeout_ms, DEFAULT_TIMEOUT, "timeout_ms")?;
        let connect_timeout = ms(
            cfg.connect_timeout_ms,
            DEFAULT_CONNECT_TIMEOUT,
            "connect_timeout_ms",
        )?
        .min(timeout);

        let s = cfg.success.clone().unwrap_or_default();
        let ps = d.success;
        let status = match s.status.as_ref().or(ps.status.as_ref()) {
            Some(p) => StatusSet::parse(p).map_err(|e| format!("success.status: {e}"))?,
            None => StatusSet::success_default(),
        };
        let json_pointer = s.json_pointer.or(ps.json_pointer);
        let json_value = s.json_value.or(ps.json_value);
        if json_value.is_some() && json_pointer.is_none() {
            return Err("success.json_value needs success.json_pointer".into());
        }
        let success = SuccessRule {
            status,
            body: s
                .body_regex
                .or(ps.body_regex)
                .map(|r| rules::regex(&r))
                .transpose()
                .map_err(|e| format!("success.body_regex: {e}"))?,
            pointer: match json_pointer {
                Some(p) => Some((
                    rules::json_pointer(&p).map_err(|e| format!("success.json_pointer: {e}"))?,
                    json_value
                        .map(|v| serde_json::to_value(v).map_err(|e| e.to_string()))
                        .transpose()?,
                )),
                None => None,
            },
        };
        let r = cfg.retry.clone().unwrap_or_default();
        let retry = RetryRule {
            status: match &r.status {
                Some(p) => StatusSet::parse(p).map_err(|e| format!("retry.status: {e}"))?,
                None => StatusSet::retry_default(),
            },
            body: r
                .body_regex
                .map(|r| rules::regex(&r))
                .transpose()
                .map_err(|e| format!("retry.body_regex: {e}"))?,
            timeout: r.timeout.unwrap_or(true),
            connection: r.connection.unwrap_or(true),
        };
        let provider_id =
            ProviderId::from_config(cfg.provider_id.as_ref().unwrap_or(&d.provider_id))
                .map_err(|e| format!("provider_id: {e}"))?;

        if let Some(p) = &cfg.proxy {
            ureq::Proxy::new(p)
                .map_err(|_| "proxy is not a proxy URL like http://proxy:3128".to_string())?;
        }

        let mut secrets: Vec<String> = cfg
            .auth
            .iter()
            .flat_map(|a| a.secrets())
            .map(str::to_string)
            .collect();
        secrets.extend(cfg.dlr_secret.clone());
        secrets.extend(cfg.headers.values().filter(|v| v.len() >= 4).cloned());
        if let Some(p) = &cfg.params {
            for (k, v) in p {
                if let (true, toml::Value::String(s)) = (secret_like(k), v) {
                    secrets.push(s.clone());
                }
            }
        }
        if let Some(p) = cfg.proxy.as_deref().and_then(|p| url::Url::parse(p).ok()) {
            secrets.extend(p.password().map(str::to_string));
        }

        Ok(Self {
            gateway: cfg.name.clone(),
            channel: format!("http:{}", cfg.name),
            preset: cfg.preset,
            method,
            url,
            body,
            headers,
            auth: cfg.auth.clone(),
            number_format: cfg.number_format.unwrap_or_default(),
            timeout,
            connect_timeout,
            rules: Rules {
                success,
                retry,
                provider_id,
            },
            dlr,
            unicode_fields: d.unicode_fields,
            proxy: cfg.proxy.clone(),
            ca_file: cfg.ca_file.clone(),
            redactor: Redactor::new(secrets),
        })
    }

    /// The delivery-report URL of one message (empty without reports).
    pub fn dlr_url(&self, id: i64) -> String {
        match &self.dlr {
            Some((base, secret)) => format!("{base}{id}?secret={secret}"),
            None => String::new(),
        }
    }

    /// The request that sends `sms`.
    pub fn request(&self, sms: &OutgoingSms) -> Result<Request, String> {
        let to = match self.number_format {
            HttpNumberFormat::E164 => sms.to.as_str(),
            HttpNumberFormat::Digits => sms.to.trim_start_matches('+'),
        };
        let id = sms.id.to_string();
        let dlr_url = self.dlr_url(sms.id);
        let v = Values {
            to,
            text: &sms.text,
            id: &id,
            dlr_url: &dlr_url,
        };
        let mut url = url::Url::parse(&self.url.render_with(&v, percent_encode))
            .map_err(|_| "the url template gives no valid URL for this message".to_string())?;
        let render = |fields: &[(String, Template)]| {
            let mut out: Vec<(String, String)> = fields
                .iter()
                .map(|(k, t)| (k.clone(), t.render(&v)))
                .collect();
            if !self.unicode_fields.is_empty() && choose_coding(&sms.text) == Coding::Ucs2 {
                out.retain(|(k, _)| !self.unicode_fields.iter().any(|(u, _)| u == k));
                out.extend(self.unicode_fields.iter().cloned());
            }
            out
        };
        let mut query: Vec<(String, String)> = Vec::new();
        let body = match &self.body {
            Body::Query(f) => {
                query.extend(render(f));
                None
            }
            Body::Form(f) => Some((
                "application/x-www-form-urlencoded",
                url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(render(f))
                    .finish()
                    .into_bytes(),
            )),
            Body::Json(j) => Some((
                "application/json",
                serde_json::to_vec(&j.render(&v)).map_err(|e| e.to_string())?,
            )),
        };
        let mut headers = self.headers.clone();
        match &self.auth {
            Some(HttpAuth::Basic { username, password }) => {
                let b64 = base64::engine::general_purpose::STANDARD
                    .encode(format!("{username}:{password}"));
                headers.push(("Authorization".into(), format!("Basic {b64}")));
            }
            Some(HttpAuth::Bearer { token }) => {
                headers.push(("Authorization".into(), format!("Bearer {token}")));
            }
            Some(HttpAuth::Header { name, value }) => headers.push((name.clone(), value.clone())),
            Some(HttpAuth::Query { params }) => {
                query.extend(params.iter().map(|(k, v)| (k.clone(), v.clone())))
            }
            None => {}
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(Request {
            method: self.method,
            url: url.into(),
            headers,
            body,
        })
    }
}

#[cfg(test)]
mod tests;
