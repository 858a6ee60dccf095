//! `context` of a start: free-form JSON kept with the challenge, of which
//! the policy reads `ip`, `sensitivity`, `device_id` and `session`.

use super::{Error, MAX_CONTEXT_BYTES};
use crate::domain::{Invalid, Sensitivity};
use serde_json::Value;
use std::net::IpAddr;

const MAX_DEVICE_ID: usize = 200;
const MAX_SESSION: usize = 64;

/// The parts of `context` that policies look at, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoginContext {
    /// The end user's address as the calling app saw it.
    pub ip: Option<IpAddr>,
    pub sensitivity: Option<Sensitivity>,
    pub device_id: Option<String>,
    /// The `request_id` of an approved login to step up from.
    pub session: Option<String>,
    /// The whole object as sent, kept with the challenge.
    pub raw: Option<String>,
}

impl LoginContext {
    /// `null` or a JSON object of at most 4 KiB; the known keys must have
    /// the right form (a JSON `null` counts as absent).
    pub fn parse(value: Option<Value>) -> Result<Self, Error> {
        let map = match value {
            None | Some(Value::Null) => return Ok(Self::default()),
            Some(Value::Object(m)) => m,
            Some(_) => return Err(Invalid::new("context", "must be a JSON object").into()),
        };
        let raw = Value::Object(map.clone()).to_string();
        if raw.len() > MAX_CONTEXT_BYTES {
            return Err(Invalid::new("context", "must be at most 4096 bytes of JSON").into());
        }
        let ip = match map.get("ip") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.trim().parse::<IpAddr>().map_err(|_| {
                Invalid::new(
                    "context.ip",
                    "must be an IPv4 or IPv6 address, without a port",
                )
            })?),
            Some(_) => return Err(Invalid::new("context.ip", "must be a string").into()),
        };
        let sensitivity = match map.get("sensitivity") {
            None | Some(Value::Null) => None,
            Some(v) => {
                let n = v
                    .as_u64()
                    .and_then(|n| u8::try_from(n).ok())
                    .and_then(Sensitivity::new)
                    .ok_or_else(|| {
                        Invalid::new("context.sensitivity", "must be an integer from 0 to 3")
                    })?;
                Some(n)
            }
        };
        let device_id = text(&map, "device_id", "context.device_id", MAX_DEVICE_ID)?;
        let session = text(&map, "session", "context.session", MAX_SESSION)?;
        Ok(Self {
            ip,
            sensitivity,
            device_id,
            session,
            raw: Some(raw),
        })
    }
}

fn text(
    map: &serde_json::Map<String, Value>,
    key: &str,
    field: &'static str,
    max: usize,
) -> Result<Option<String>, Error> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.is_empty() || s.chars().count() > max || s.chars().any(char::is_control) {
                return Err(Invalid::new(
                    field,
                    format!("must be 1 to {max} characters without control characters"),
                )
                .into());
            }
            Ok(Some(s.to_string()))
        }
        Some(_) => Err(Invalid::new(field, "must be a string").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field(v: Value) -> &'static str {
        match LoginContext::parse(Some(v)) {
            Err(Error::Invalid(i)) => i.field,
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    #[test]
    fn known_keys_parsed_others_kept() {
        let c = LoginContext::parse(Some(json!({
            "ip": " 10.1.2.3 ", "sensitivity": 3, "device_id": "laptop-7",
            "session": "req_abc", "browser": "firefox"
        })))
        .unwrap();
        assert_eq!(c.ip, Some("10.1.2.3".parse().unwrap()));
        assert_eq!(c.sensitivity.map(|s| s.get()), Some(3));
        assert_eq!(c.device_id.as_deref(), Some("laptop-7"));
        assert_eq!(c.session.as_deref(), Some("req_abc"));
        assert!(c.raw.unwrap().contains("firefox"));
        assert_eq!(LoginContext::parse(None).unwrap(), LoginContext::default());
        let nulls = LoginContext::parse(Some(json!({"ip": null, "sensitivity": null}))).unwrap();
        assert_eq!(nulls.ip, None);
        assert_eq!(nulls.sensitivity, None);
    }

    #[test]
    fn bad_values_name_their_field() {
        assert_eq!(field(json!([1])), "context");
        assert_eq!(field(json!({"ip": "10.0.0.1:80"})), "context.ip");
        assert_eq!(field(json!({"ip": "10.0.0.0/8"})), "context.ip");
        assert_eq!(field(json!({"ip": 10})), "context.ip");
        assert_eq!(field(json!({"sensitivity": 4})), "context.sensitivity");
        assert_eq!(field(json!({"sensitivity": -1})), "context.sensitivity");
        assert_eq!(field(json!({"sensitivity": "3"})), "context.sensitivity");
        assert_eq!(field(json!({"sensitivity": 1.5})), "context.sensitivity");
        assert_eq!(field(json!({"device_id": ""})), "context.device_id");
        assert_eq!(field(json!({"device_id": "a\nb"})), "context.device_id");
        assert_eq!(field(json!({"session": "x".repeat(65)})), "context.session");
        assert_eq!(field(json!({"pad": "x".repeat(5000)})), "context");
    }
}
