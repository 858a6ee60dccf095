//! `[[sms.http]]`: HTTP SMS gateways.

use serde::Deserialize;
use std::path::PathBuf;

use super::ConfigError;

/// One `[[sms.http]]` entry: an HTTP SMS gateway. Every string in `url` and
/// `params` is a template with `{to}`, `{text}`, `{id}` and `{dlr_url}`.
/// A `preset` fills in what is left out; see docs/http-gateways.md.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpGatewayConfig {
    /// Letters, digits, `-` and `_`; the channel is called `http:<name>`.
    pub name: String,
    pub preset: Option<HttpPreset>,
    /// URL template; placeholders in it are percent-encoded.
    pub url: String,
    pub method: Option<HttpMethod>,
    /// Where `params` go: the query string, a form body or a JSON body.
    pub format: Option<HttpBodyFormat>,
    /// Query or form fields (`name = "template"`), or the JSON body (any
    /// TOML table; its strings are templates). Merged over the preset's.
    pub params: Option<toml::Table>,
    /// Extra request headers (not templates).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    pub auth: Option<HttpAuth>,
    /// How `{to}` is written: `e164` (`+41791234567`, default) or `digits` (`41791234567`).
    pub number_format: Option<HttpNumberFormat>,
    /// Deadline of the whole exchange, milliseconds (default 10000).
    pub timeout_ms: Option<u64>,
    /// Deadline to connect (TCP and TLS), milliseconds (default 5000).
    pub connect_timeout_ms: Option<u64>,
    pub success: Option<HttpSuccessRule>,
    pub retry: Option<HttpRetryRule>,
    /// Where the gateway's id for the message comes from.
    pub provider_id: Option<HttpProviderId>,
    /// Secret in the delivery-report URL given to the gateway (`{dlr_url}`);
    /// 16 to 128 characters of `A-Z a-z 0-9 - . _ ~`. Required by `kannel`.
    pub dlr_secret: Option<String>,
    /// An HTTP proxy, e.g. `http://proxy.lan:3128`; without it, no proxy
    /// (the `*_PROXY` environment variables are ignored).
    pub proxy: Option<String>,
    /// PEM file of the CAs trusted for this gateway, instead of the built-in
    /// Mozilla roots (for an on-premise gateway with an internal CA).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HttpPreset {
    Kannel,
    Twilio,
    GenericJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpBodyFormat {
    Query,
    Form,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HttpNumberFormat {
    #[default]
    E164,
    Digits,
}

/// `auth = { type = "basic", username = "..", password = ".." }`, or
/// `bearer` (`token`), `header` (`name`, `value`), `query` (`params`).
#[derive(Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum HttpAuth {
    Basic {
        username: String,
        password: String,
    },
    Bearer {
        token: String,
    },
    Header {
        name: String,
        value: String,
    },
    Query {
        params: std::collections::BTreeMap<String, String>,
    },
}

impl HttpAuth {
    /// The secret values, for redaction.
    pub fn secrets(&self) -> Vec<&str> {
        match self {
            HttpAuth::Basic { password, .. } => vec![password.as_str()],
            HttpAuth::Bearer { token } => vec![token.as_str()],
            HttpAuth::Header { value, .. } => vec![value.as_str()],
            HttpAuth::Query { params } => params.values().map(String::as_str).collect(),
        }
    }
}

impl std::fmt::Debug for HttpAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpAuth::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            HttpAuth::Bearer { .. } => f
                .debug_struct("Bearer")
                .field("token", &"<redacted>")
                .finish(),
            HttpAuth::Header { name, .. } => f
                .debug_struct("Header")
                .field("name", name)
                .field("value", &"<redacted>")
                .finish(),
            HttpAuth::Query { params } => f
                .debug_struct("Query")
                .field(
                    "params",
                    &params.keys().map(|k| (k, "<redacted>")).collect::<Vec<_>>(),
                )
                .finish(),
        }
    }
}

/// An HTTP status (`202`) or a class of them (`"2xx"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum HttpStatusPattern {
    Code(u16),
    Class(String),
}

/// When a response means "sent": its status is in `status` (default any
/// 2xx), and `body_regex` (if set) matches the body, and the value at
/// `json_pointer` (if set) equals `json_value` (or, without it, is present
/// and neither null nor false).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSuccessRule {
    pub status: Option<Vec<HttpStatusPattern>>,
    pub body_regex: Option<String>,
    pub json_pointer: Option<String>,
    pub json_value: Option<toml::Value>,
}

/// When a failed exchange is worth another try (default: timeouts,
/// connection failures, 429 and 5xx); anything else that is not a success
/// is permanent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpRetryRule {
    pub status: Option<Vec<HttpStatusPattern>>,
    pub body_regex: Option<String>,
    pub timeout: Option<bool>,
    pub connection: Option<bool>,
}

/// `"none"`, `"outbox_id"`, `{ json_pointer = "/sid" }` or
/// `{ body_regex = "id: (\\w+)" }` (the first group, else the whole match).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HttpProviderId {
    None,
    OutboxId,
    JsonPointer(String),
    BodyRegex(String),
}

/// A URL with its query (which may hold a key) and any user info hidden.
fn redact_url(u: &str) -> String {
    let (base, had_query) = match u.find(['?', '#']) {
        Some(i) => (&u[..i], true),
        None => (u, false),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://<redacted>@{host}{path}"),
                None => base.to_string(),
            }
        }
        None => base.to_string(),
    };
    if had_query {
        format!("{base}?<redacted>")
    } else {
        base
    }
}

impl std::fmt::Debug for HttpGatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys =
            |t: &Option<toml::Table>| t.as_ref().map(|t| t.keys().cloned().collect::<Vec<_>>());
        f.debug_struct("HttpGatewayConfig")
            .field("name", &self.name)
            .field("preset", &self.preset)
            .field("url", &redact_url(&self.url))
            .field("method", &self.method)
            .field("format", &self.format)
            .field("params", &keys(&self.params))
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("auth", &self.auth)
            .field("number_format", &self.number_format)
            .field("timeout_ms", &self.timeout_ms)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("success", &self.success)
            .field("retry", &self.retry)
            .field("provider_id", &self.provider_id)
            .field(
                "dlr_secret",
                &self.dlr_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("proxy", &self.proxy.as_deref().map(redact_url))
            .field("ca_file", &self.ca_file)
            .finish()
    }
}

impl HttpGatewayConfig {
    pub(super) fn validate(
        &self,
        seen: &mut std::collections::HashSet<String>,
    ) -> Result<(), ConfigError> {
        let bad = |m: String| {
            Err(ConfigError::Invalid(format!(
                "[[sms.http]] {:?}: {m}",
                self.name
            )))
        };
        let name_ok = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
        if self.name.is_empty() || self.name.len() > 64 || !self.name.chars().all(name_ok) {
            return bad("name must be 1 to 64 letters, digits, '-' or '_'".into());
        }
        if !seen.insert(self.name.clone()) {
            return bad("name is used twice".into());
        }
        // The same resolution the channel uses at start, with a stand-in public URL.
        match crate::sms::http_gateway::Settings::resolve(self, "http://127.0.0.1") {
            Ok(_) => Ok(()),
            Err(e) => bad(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env;
    use crate::config::{Config, Overrides};

    #[test]
    fn http_gateways_validate_and_hide_their_secrets() {
        let load = |text: &str| {
            let dir = tempfile::tempdir().unwrap();
            let f = dir.path().join("c.toml");
            std::fs::write(&f, text).unwrap();
            Config::load(Some(&f), env(&[]), &Overrides::default())
        };
        let kannel = r#"
[[sms.http]]
name = "kannel"
preset = "kannel"
url = "http://kannel.lan:13013/cgi-bin/sendsms?key=url-key-1"
dlr_secret = "dlr-secret-0123456789"
auth = { type = "query", params = { username = "fs", password = "kannel-pw" } }

[[sms.http]]
name = "twilio"
preset = "twilio"
url = "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
auth = { type = "basic", username = "AC1", password = "twilio-token" }
params = { From = "+15005550006" }
timeout_ms = 3000
"#;
        let c = load(kannel).unwrap();
        assert_eq!(c.sms.http.len(), 2);
        assert_eq!(c.sms.http[0].preset, Some(HttpPreset::Kannel));
        assert_eq!(c.sms.http[1].timeout_ms, Some(3000));
        let shown = format!("{c:?}");
        for secret in [
            "dlr-secret-0123456789",
            "kannel-pw",
            "twilio-token",
            "url-key-1",
        ] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(
            shown.contains("kannel.lan:13013/cgi-bin/sendsms?<redacted>"),
            "{shown}"
        );
        assert_eq!(
            redact_url("https://u:p@h:1/x?k=v"),
            "https://<redacted>@h:1/x?<redacted>"
        );

        let bad = |extra: &str, why: &str| {
            let e = load(&format!("{kannel}{extra}")).unwrap_err().to_string();
            assert!(e.contains(why), "{extra}: {e}");
        };
        bad(
            "[[sms.http]]\nname = \"kannel\"\nurl = \"https://x/{to}/{text}\"",
            "used twice",
        );
        bad(
            "[[sms.http]]\nname = \"a b\"\nurl = \"https://x/{to}/{text}\"",
            "name",
        );
        bad(
            "[[sms.http]]\nname = \"c\"\nurl = \"https://x/{to}/{text}\"\nurl_typo = 1",
            "url_typo",
        );
        bad(
            "[[sms.http]]\nname = \"c\"\npreset = \"kanel\"\nurl = \"https://x\"",
            "kanel",
        );
        bad(
            "[[sms.http]]\nname = \"c\"\nurl = \"https://x/{to}/{text}\"\nauth = { type = \"basic\", username = \"u\", password = \"p\", pw = 1 }",
            "pw",
        );
        bad(
            "[[sms.http]]\nname = \"c\"\nurl = \"https://x/{to}\"",
            "{text}",
        );
    }
}
