//! HTTP SMS gateways (`[[sms.http]]`): Kannel, Twilio, or any HTTP API
//! described by a URL, a method, params and rules. The channel is called
//! `http:<name>`. See docs/http-gateways.md.
//!
//! Sending is blocking (`ureq`, rustls): the dispatcher calls `send` on a
//! blocking thread. Redirects are never followed. Neither the SMS text nor
//! any configured secret reaches the log or the outcome texts (which the
//! outbox stores).

mod presets;
pub mod rules;
mod settings;
pub mod template;

pub use presets::KANNEL_SUCCESS_BODY;
pub use settings::{Body, Request, Settings, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT};

use super::{Attempt, Channel, OutgoingSms, SendOutcome};
use crate::config::{HttpGatewayConfig, HttpMethod};
use rules::Failure;
use std::io::{Error as IoError, ErrorKind};
use std::sync::Arc;

/// Most of a gateway's answer that is read.
const MAX_BODY: u64 = 64 * 1024;

pub struct HttpGateway {
    settings: Settings,
    agent: ureq::Agent,
}

impl std::fmt::Debug for HttpGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpGateway")
            .field("channel", &self.settings.channel)
            .finish_non_exhaustive()
    }
}

impl HttpGateway {
    /// Builds the gateway from its configuration. `public_url` is the
    /// appliance's base URL (`Config::public_url`), the base of the
    /// delivery-report callbacks. Reads `ca_file`, so call it at start (or
    /// on a blocking thread). A configuration error is `InvalidInput`.
    pub fn new(cfg: &HttpGatewayConfig, public_url: &str) -> std::io::Result<Self> {
        let invalid = |e: String| {
            IoError::new(
                ErrorKind::InvalidInput,
                format!("[[sms.http]] {:?}: {e}", cfg.name),
            )
        };
        let settings = Settings::resolve(cfg, public_url).map_err(invalid)?;
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(path) = &settings.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| invalid(format!("ca_file {}: {e}", path.display())))?;
            let mut certs = Vec::new();
            for item in ureq::tls::parse_pem(&pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                    Ok(_) => {}
                    Err(e) => return Err(invalid(format!("ca_file {}: {e}", path.display()))),
                }
            }
            if certs.is_empty() {
                return Err(invalid(format!(
                    "ca_file {} holds no PEM certificate",
                    path.display()
                )));
            }
            tls = tls.root_certs(ureq::tls::RootCerts::Specific(Arc::new(certs)));
        }
        let proxy = match &settings.proxy {
            Some(p) => {
                Some(ureq::Proxy::new(p).map_err(|_| invalid("proxy is not a proxy URL".into()))?)
            }
            None => None,
        };
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .timeout_global(Some(settings.timeout))
            .timeout_connect(Some(settings.connect_timeout))
            .proxy(proxy)
            .user_agent(concat!("flexsecure/", env!("CARGO_PKG_VERSION")))
            .tls_config(tls.build())
            .build();
        Ok(Self {
            agent: ureq::Agent::new_with_config(config),
            settings,
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// One exchange: the status and the body (`None` if unreadable).
    fn exchange(&self, req: Request) -> Result<(u16, Option<String>), ureq::Error> {
        let mut resp = match req.method {
            HttpMethod::Get => {
                let mut b = self.agent.get(req.url.as_str());
                for (k, v) in &req.headers {
                    b = b.header(k.as_str(), v.as_str());
                }
                b.call()?
            }
            HttpMethod::Post | HttpMethod::Put => {
                let mut b = if req.method == HttpMethod::Post {
                    self.agent.post(req.url.as_str())
                } else {
                    self.agent.put(req.url.as_str())
                };
                for (k, v) in &req.headers {
                    b = b.header(k.as_str(), v.as_str());
                }
                match req.body {
                    Some((ctype, bytes)) => b.header("Content-Type", ctype).send(&bytes[..])?,
                    None => b.send_empty()?,
                }
            }
        };
        let status = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .lossy_utf8(true)
            .read_to_string()
            .ok();
        Ok((status, body))
    }
}

/// What kind of failure a client error is. Its texts never hold the URL.
fn failure_of(e: &ureq::Error) -> Failure {
    use ureq::Error as E;
    match e {
        E::Timeout(t) => Failure::Timeout(format!("timed out ({t})")),
        E::Io(io) => match io.kind() {
            ErrorKind::TimedOut | ErrorKind::WouldBlock => {
                Failure::Timeout(format!("timed out ({})", io.kind()))
            }
            ErrorKind::ConnectionRefused
            | ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::NotConnected
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
            | ErrorKind::AddrNotAvailable
            | ErrorKind::HostUnreachable
            | ErrorKind::NetworkUnreachable
            | ErrorKind::NetworkDown => {
                Failure::Connection(format!("connection failed: {}", io.kind()))
            }
            other => Failure::Other(format!("I/O error: {other}")),
        },
        E::HostNotFound => Failure::Connection("host not found".into()),
        E::ConnectionFailed => Failure::Connection("connection failed".into()),
        E::Protocol(_) => Failure::Connection("garbled HTTP answer".into()),
        E::Tls(m) => Failure::Other(format!("TLS: {m}")),
        E::Rustls(r) => Failure::Other(format!("TLS: {r}")),
        E::BadUri(_) | E::Http(_) => Failure::Other("the request could not be built".into()),
        E::TooManyRedirects | E::RedirectFailed => {
            Failure::Other("redirects are not followed; configure the final URL".into())
        }
        _ => Failure::Other("HTTP client error".into()),
    }
}

impl Channel for HttpGateway {
    fn name(&self) -> &str {
        &self.settings.channel
    }

    fn send(&self, sms: &OutgoingSms) -> Attempt {
        crate::blocking::check("http gateway request");
        let s = &self.settings;
        let outcome = match s.request(sms) {
            Err(e) => SendOutcome::Permanent(e),
            Ok(req) => match self.exchange(req) {
                Ok((status, body)) => {
                    tracing::debug!(channel = %s.channel, outbox_id = sms.id, status, "gateway answered");
                    s.rules.classify_response(
                        status,
                        body.as_deref(),
                        sms.id,
                        &sms.text,
                        &s.redactor,
                    )
                }
                Err(e) => s.rules.classify_failure(&failure_of(&e)),
            },
        };
        match &outcome {
            SendOutcome::Sent { .. } => {}
            SendOutcome::Unknown(e) | SendOutcome::Retryable(e) | SendOutcome::Permanent(e) => {
                tracing::warn!(channel = %s.channel, outbox_id = sms.id, error = %e, "gateway did not take the SMS")
            }
        }
        Attempt {
            channel: s.channel.clone(),
            outcome,
        }
    }
}
