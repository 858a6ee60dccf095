//! Configuration: built-in defaults, then a TOML file, then `FLEXSECURE_*`
//! environment variables, then command-line flags. Unknown keys and unknown
//! `FLEXSECURE_*` variables are errors, so a typo never silently does nothing.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./flexsecure-data";

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Format version of this file; only 1 exists.
    #[serde(default)]
    pub version: Option<u32>,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub sms: SmsConfig,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; default 127.0.0.1:8080.
    pub listen: Option<String>,
    /// Base of the links sent by SMS, e.g. `https://auth.example.com`.
    /// Never taken from a request's Host header. Default: `http://{listen}`.
    pub public_url: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SmsConfig {
    #[serde(default)]
    pub console: ConsoleConfig,
    /// GSM modems on serial ports. With none, SMS go to the console channel.
    #[serde(default)]
    pub modem: Vec<ModemConfig>,
    /// HTTP SMS gateways (Kannel, Twilio, any HTTP API); see docs/http-gateways.md.
    #[serde(default)]
    pub http: Vec<HttpGatewayConfig>,
    /// `[sms.limits]`: anti-pumping limits; see docs/api.md "SMS limits".
    #[serde(default)]
    pub limits: SmsLimitsConfig,
}

/// One `[[sms.modem]]` entry.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModemConfig {
    pub name: String,
    /// Serial device, best a stable `/dev/serial/by-id/...` path.
    pub port: PathBuf,
    #[serde(default = "default_baud")]
    pub baud: u32,
    /// SIM PIN, entered once at start; a refused PIN is never retried.
    pub sim_pin: Option<String>,
    /// SMS centre number for the PDU; default the SIM's own.
    pub smsc: Option<String>,
    /// Higher first; equal priorities share the load.
    #[serde(default)]
    pub priority: i32,
    /// Deadline of an ordinary AT command, milliseconds (default 5000).
    pub command_timeout_ms: Option<u64>,
    /// Deadline for the network's answer after a message is handed over (default 60000).
    pub submit_timeout_ms: Option<u64>,
    /// Seconds between health polls (registration, signal, operator; default 60).
    pub health_interval_seconds: Option<u64>,
}

fn default_baud() -> u32 {
    115_200
}

impl std::fmt::Debug for ModemConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModemConfig")
            .field("name", &self.name)
            .field("port", &self.port)
            .field("baud", &self.baud)
            .field("sim_pin", &self.sim_pin.as_ref().map(|_| "<redacted>"))
            .field("smsc", &self.smsc)
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}

impl ModemConfig {
    fn validate(&self, seen: &mut std::collections::HashSet<String>) -> Result<(), ConfigError> {
        let bad = |m: String| {
            Err(ConfigError::Invalid(format!(
                "[[sms.modem]] {:?}: {m}",
                self.name
            )))
        };
        if self.name.trim().is_empty() || self.name.len() > 64 {
            return bad("name must be 1 to 64 characters".into());
        }
        if !seen.insert(self.name.clone()) {
            return bad("name is used twice".into());
        }
        if self.port.as_os_str().is_empty() {
            return bad("port must be set".into());
        }
        const BAUDS: &[u32] = &[
            9_600, 19_200, 38_400, 57_600, 115_200, 230_400, 460_800, 921_600,
        ];
        if !BAUDS.contains(&self.baud) {
            return bad(format!("baud {} is not one of {BAUDS:?}", self.baud));
        }
        if let Some(pin) = &self.sim_pin {
            if !(4..=8).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
                return bad("sim_pin must be 4 to 8 digits".into());
            }
        }
        if let Some(smsc) = &self.smsc {
            if crate::domain::PhoneNumber::parse(smsc).is_err() {
                return bad(format!(
                    "smsc {smsc:?} must be an international number like +41794999000"
                ));
            }
        }
        Ok(())
    }
}

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
    fn validate(&self, seen: &mut std::collections::HashSet<String>) -> Result<(), ConfigError> {
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

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// A file that receives each console SMS as one JSON line; without it the
    /// console channel prints each SMS as a JSON line on standard output.
    pub path: Option<PathBuf>,
}

/// `[sms.limits]`: how many SMS an account may queue. Every limit counts the
/// account's own SMS in a sliding window; a `max` of 0 turns a limit off.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsLimitsConfig {
    /// SMS to one number (default 5 per 900 s).
    pub per_number: NumberLimit,
    /// SMS to numbers sharing their first `digits` digits (default 100 per 3600 s, 8 digits).
    pub per_prefix: PrefixLimit,
    /// SMS in any 3600 s (default 1000).
    pub per_account_hour: u32,
    /// SMS in any 86400 s (default 10000).
    pub per_account_day: u32,
    /// Country calling codes SMS may go to, e.g. `["41", "49"]`; empty = all.
    /// The default of accounts that did not set their own list.
    pub allowed_countries: Vec<String>,
}

impl Default for SmsLimitsConfig {
    fn default() -> Self {
        Self {
            per_number: NumberLimit::default(),
            per_prefix: PrefixLimit::default(),
            per_account_hour: 1_000,
            per_account_day: 10_000,
            allowed_countries: Vec::new(),
        }
    }
}

/// `per_number = { max = 5, window_seconds = 900 }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NumberLimit {
    pub max: u32,
    pub window_seconds: u32,
}

impl Default for NumberLimit {
    fn default() -> Self {
        Self {
            max: 5,
            window_seconds: 900,
        }
    }
}

/// `per_prefix = { digits = 8, max = 100, window_seconds = 3600 }`: `digits`
/// counts the digits of the E.164 number after the `+`, country code included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrefixLimit {
    pub digits: u8,
    pub max: u32,
    pub window_seconds: u32,
}

impl Default for PrefixLimit {
    fn default() -> Self {
        Self {
            digits: 8,
            max: 100,
            window_seconds: 3600,
        }
    }
}

/// Largest `max` of any SMS limit.
pub const SMS_LIMIT_MAX: u32 = 10_000_000;
/// Longest window of an SMS limit: 7 days.
pub const SMS_WINDOW_MAX_SECONDS: u32 = 7 * 86_400;
/// Most country codes in an allowlist.
pub const MAX_ALLOWED_COUNTRIES: usize = 300;

/// Why `code` is not a country calling code: 1 to 3 digits, no leading 0,
/// and of one digit only 1 (North America) or 7 (Russia, Kazakhstan), since
/// a code matches every number that starts with it.
pub fn country_code_problem(code: &str) -> Option<&'static str> {
    if code.is_empty() || code.len() > 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Some("must be 1 to 3 digits, like \"41\"");
    }
    if code.starts_with('0') {
        return Some("cannot start with 0");
    }
    if code.len() == 1 && code != "1" && code != "7" {
        return Some("of one digit only 1 and 7 are country codes");
    }
    None
}

impl SmsLimitsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(format!("[sms.limits] {m}")));
        let window = |name: &str, max: u32, secs: u32| {
            if max > SMS_LIMIT_MAX {
                return bad(format!(
                    "{name}.max must be at most {SMS_LIMIT_MAX} (0 = off)"
                ));
            }
            if max > 0 && !(1..=SMS_WINDOW_MAX_SECONDS).contains(&secs) {
                return bad(format!(
                    "{name}.window_seconds must be 1 to {SMS_WINDOW_MAX_SECONDS}"
                ));
            }
            Ok(())
        };
        window(
            "per_number",
            self.per_number.max,
            self.per_number.window_seconds,
        )?;
        window(
            "per_prefix",
            self.per_prefix.max,
            self.per_prefix.window_seconds,
        )?;
        if !(2..=14).contains(&self.per_prefix.digits) {
            return bad("per_prefix.digits must be 2 to 14".into());
        }
        window("per_account_hour", self.per_account_hour, 3600)?;
        window("per_account_day", self.per_account_day, 86_400)?;
        if self.allowed_countries.len() > MAX_ALLOWED_COUNTRIES {
            return bad(format!(
                "allowed_countries may hold at most {MAX_ALLOWED_COUNTRIES} codes"
            ));
        }
        for c in &self.allowed_countries {
            if let Some(p) = country_code_problem(c) {
                return bad(format!("allowed_countries: {c:?} {p}"));
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    #[error("{0}: {1}")]
    Parse(String, String),
    #[error("{0}")]
    Invalid(String),
}

/// Overrides given on the command line.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
}

/// Environment variables understood; anything else starting with
/// `FLEXSECURE_` is refused.
pub const ENV_VARS: &[&str] = &[
    "FLEXSECURE_CONFIG",
    "FLEXSECURE_SERVER_LISTEN",
    "FLEXSECURE_SERVER_PUBLIC_URL",
    "FLEXSECURE_STORAGE_DATA_DIR",
    "FLEXSECURE_SMS_CONSOLE_PATH",
    "FLEXSECURE_LOG",
];

impl Config {
    /// Loads the file (if any), overlays `env` and `overrides`, validates.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &Overrides,
    ) -> Result<Self, ConfigError> {
        let mut cfg = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| ConfigError::Read(p.display().to_string(), e))?;
                Self::parse(&text).map_err(|e| ConfigError::Parse(p.display().to_string(), e))?
            }
            None => Config::default(),
        };
        for (k, v) in env {
            if !k.starts_with("FLEXSECURE_") {
                continue;
            }
            match k.as_str() {
                "FLEXSECURE_SERVER_LISTEN" => cfg.server.listen = Some(v),
                "FLEXSECURE_SERVER_PUBLIC_URL" => cfg.server.public_url = Some(v),
                "FLEXSECURE_STORAGE_DATA_DIR" => cfg.storage.data_dir = Some(v.into()),
                "FLEXSECURE_SMS_CONSOLE_PATH" => cfg.sms.console.path = Some(v.into()),
                "FLEXSECURE_CONFIG" | "FLEXSECURE_LOG" => {}
                other => {
                    return Err(ConfigError::Invalid(format!(
                        "unknown environment variable {other}; known: {}",
                        ENV_VARS.join(", ")
                    )))
                }
            }
        }
        if let Some(d) = &overrides.data_dir {
            cfg.storage.data_dir = Some(d.clone());
        }
        if let Some(l) = &overrides.listen {
            cfg.server.listen = Some(l.clone());
        }
        cfg.validate()?;
        Ok(cfg)
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(v) = self.version {
            if v != 1 {
                return Err(ConfigError::Invalid(format!(
                    "version = {v} is not supported (only 1)"
                )));
            }
        }
        self.listen_addr()?;
        self.sms.limits.validate()?;
        let mut seen = std::collections::HashSet::new();
        for m in &self.sms.modem {
            m.validate(&mut seen)?;
        }
        let mut seen_http = std::collections::HashSet::new();
        for h in &self.sms.http {
            h.validate(&mut seen_http)?;
        }
        if let Some(u) = &self.server.public_url {
            match url::Url::parse(u) {
                Ok(p) if matches!(p.scheme(), "http" | "https") && p.host().is_some() => {}
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "server.public_url = {u:?} must be an http or https URL"
                    )))
                }
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        let l = self.server.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        l.parse().map_err(|_| {
            ConfigError::Invalid(format!(
                "server.listen = {l:?} is not an address like 127.0.0.1:8080"
            ))
        })
    }

    pub fn data_dir(&self) -> PathBuf {
        self.storage
            .data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
    }

    /// The configured public URL, or one derived from the bound address.
    pub fn public_url(&self, bound: SocketAddr) -> String {
        match &self.server.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{bound}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_file_env_and_flags_layer() {
        let c = Config::load(None, env(&[]), &Overrides::default()).unwrap();
        assert_eq!(c.listen_addr().unwrap().to_string(), "127.0.0.1:8080");
        assert_eq!(c.data_dir(), PathBuf::from("./flexsecure-data"));

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[server]\nlisten = \"127.0.0.1:9000\"\n[sms.console]\npath = \"/tmp/sms\"\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&f),
            env(&[("FLEXSECURE_SERVER_LISTEN", "127.0.0.1:9001")]),
            &Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.listen_addr().unwrap().port(), 9001);
        let o = Overrides {
            listen: Some("127.0.0.1:9002".into()),
            ..Default::default()
        };
        let c = Config::load(Some(&f), env(&[]), &o).unwrap();
        assert_eq!(c.listen_addr().unwrap().port(), 9002);
        assert_eq!(c.sms.console.path.as_deref(), Some(Path::new("/tmp/sms")));
    }

    #[test]
    fn typos_are_errors() {
        assert!(Config::parse("[server]\nlisen = \"x\"").is_err());
        let modem = |extra: &str| {
            let dir = tempfile::tempdir().unwrap();
            let f = dir.path().join("c.toml");
            std::fs::write(
                &f,
                format!("[[sms.modem]]\nname = \"m1\"\nport = \"/dev/ttyUSB0\"\n{extra}"),
            )
            .unwrap();
            Config::load(Some(&f), env(&[]), &Overrides::default())
        };
        let ok = modem("sim_pin = \"1234\"").unwrap();
        assert_eq!(ok.sms.modem[0].baud, 115_200);
        assert!(
            !format!("{ok:?}").contains("1234"),
            "the SIM PIN is redacted"
        );
        assert!(modem("sim_pin = \"12\"").is_err());
        assert!(modem("baud = 1234").is_err());
        assert!(modem("smsc = \"123\"").is_err());
        assert!(modem("[[sms.modem]]\nname = \"m1\"\nport = \"/dev/ttyUSB1\"").is_err());
        assert!(Config::load(
            None,
            env(&[("FLEXSECURE_LISTEN", "x")]),
            &Overrides::default()
        )
        .is_err());
        assert!(Config::load(
            None,
            env(&[("FLEXSECURE_SERVER_LISTEN", "nope")]),
            &Overrides::default()
        )
        .is_err());
        assert!(Config::load(
            None,
            env(&[("FLEXSECURE_SERVER_PUBLIC_URL", "ftp://x")]),
            &Overrides::default()
        )
        .is_err());
    }

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
