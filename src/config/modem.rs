//! `[[sms.modem]]`: GSM modems on serial ports.

use serde::Deserialize;
use std::path::PathBuf;

use super::ConfigError;

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
    pub(super) fn validate(
        &self,
        seen: &mut std::collections::HashSet<String>,
    ) -> Result<(), ConfigError> {
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
