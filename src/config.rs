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
        let mut seen = std::collections::HashSet::new();
        for m in &self.sms.modem {
            m.validate(&mut seen)?;
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
}
