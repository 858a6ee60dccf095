//! Configuration: built-in defaults, then a TOML file, then `FLEXSECURE_*`
//! environment variables, then command-line flags. Unknown keys and unknown
//! `FLEXSECURE_*` variables are errors, so a typo never silently does nothing.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod http;
mod limits;
mod modem;
mod ops;

pub use http::{
    HttpAuth, HttpBodyFormat, HttpGatewayConfig, HttpMethod, HttpNumberFormat, HttpPreset,
    HttpProviderId, HttpRetryRule, HttpStatusPattern, HttpSuccessRule,
};
pub use limits::{
    country_code_problem, NumberLimit, PrefixLimit, SmsLimitsConfig, MAX_ALLOWED_COUNTRIES,
    SMS_LIMIT_MAX, SMS_WINDOW_MAX_SECONDS,
};
pub use modem::ModemConfig;
pub use ops::{MetricsConfig, RetentionConfig, TlsConfig};

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
    #[serde(default)]
    pub retention: RetentionConfig,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on; default 127.0.0.1:8080.
    pub listen: Option<String>,
    /// Base of the links sent by SMS, e.g. `https://auth.example.com`.
    /// Never taken from a request's Host header. Default: `http://{listen}`.
    pub public_url: Option<String>,
    /// Optional plain-HTTP listener that only redirects to HTTPS.
    pub http_redirect_listen: Option<String>,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
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

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// A file that receives each console SMS as one JSON line; without it the
    /// console channel prints each SMS as a JSON line on standard output.
    pub path: Option<PathBuf>,
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
    "FLEXSECURE_LOG_FORMAT",
    "FLEXSECURE_BACKUP_PASSPHRASE",
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
                "FLEXSECURE_CONFIG"
                | "FLEXSECURE_LOG"
                | "FLEXSECURE_LOG_FORMAT"
                | "FLEXSECURE_BACKUP_PASSPHRASE" => {}
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

    pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
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
}
