//! What a gateway's answer means: the success rule (→ `Sent`, with the
//! gateway's id for the message), the retry rule (→ `Retryable`), anything
//! else → `Permanent`. Pure; the outcome texts never carry the SMS text or a
//! configured secret, because they end up in the log and the database.

use crate::config::{HttpProviderId, HttpStatusPattern};
use crate::sms::SendOutcome;
use regex::Regex;

/// HTTP statuses, as inclusive ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(Vec<(u16, u16)>);

impl StatusSet {
    pub fn parse(patterns: &[HttpStatusPattern]) -> Result<Self, String> {
        let mut ranges = Vec::new();
        for p in patterns {
            ranges.push(match p {
                HttpStatusPattern::Code(c) if (100..=599).contains(c) => (*c, *c),
                HttpStatusPattern::Code(c) => return Err(format!("{c} is not an HTTP status")),
                HttpStatusPattern::Class(s) => {
                    let b = s.as_bytes();
                    match b {
                        [d @ b'1'..=b'5', b'x' | b'X', b'x' | b'X'] => {
                            let base = u16::from(d - b'0') * 100;
                            (base, base + 99)
                        }
                        _ => return Err(format!("{s:?} is not a status class like \"5xx\"")),
                    }
                }
            });
        }
        Ok(Self(ranges))
    }

    pub fn success_default() -> Self {
        Self(vec![(200, 299)])
    }

    /// 429 and every 5xx.
    pub fn retry_default() -> Self {
        Self(vec![(429, 429), (500, 599)])
    }

    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|(a, b)| (*a..=*b).contains(&status))
    }
}

#[derive(Debug, Clone)]
pub struct SuccessRule {
    pub status: StatusSet,
    pub body: Option<Regex>,
    /// A JSON pointer and the value it must hold (without one: present, not
    /// null, not false).
    pub pointer: Option<(String, Option<serde_json::Value>)>,
}

#[derive(Debug, Clone)]
pub struct RetryRule {
    pub status: StatusSet,
    pub body: Option<Regex>,
    pub timeout: bool,
    pub connection: bool,
}

#[derive(Debug, Clone)]
pub enum ProviderId {
    None,
    OutboxId,
    JsonPointer(String),
    BodyRegex(Regex),
}

impl ProviderId {
    pub fn from_config(p: &HttpProviderId) -> Result<Self, String> {
        Ok(match p {
            HttpProviderId::None => ProviderId::None,
            HttpProviderId::OutboxId => ProviderId::OutboxId,
            HttpProviderId::JsonPointer(p) => ProviderId::JsonPointer(json_pointer(p)?),
            HttpProviderId::BodyRegex(r) => ProviderId::BodyRegex(regex(r)?),
        })
    }
}

pub fn regex(r: &str) -> Result<Regex, String> {
    Regex::new(r).map_err(|e| format!("bad regular expression {r:?}: {e}"))
}

pub fn json_pointer(p: &str) -> Result<String, String> {
    if p.is_empty() || p.starts_with('/') {
        Ok(p.to_string())
    } else {
        Err(format!(
            "{p:?} is not a JSON pointer (they start with '/', e.g. \"/sid\")"
        ))
    }
}

/// Why an exchange produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// A deadline passed (connect or overall).
    Timeout(String),
    /// Refused, reset, closed early, name not found, garbled answer.
    Connection(String),
    /// TLS, a bad request on our side, anything else.
    Other(String),
}

/// Hides secrets and the SMS text in what a gateway answered, and keeps a
/// short single line of it.
#[derive(Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

const SNIPPET_CHARS: usize = 160;

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| !s.is_empty()).collect();
        // Longest first, so a secret containing another is hidden whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    /// `body` as a short line, without any configured secret, the text, or
    /// any word of 4+ characters of the text (a PIN, a link's token) that a
    /// gateway may echo on its own.
    pub fn snippet(&self, body: &str, text: &str) -> String {
        let mut s = body.to_string();
        let mut hide: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        hide.push(text);
        let mut words: Vec<&str> = text
            .split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_'))
            .filter(|w| w.chars().count() >= 4)
            .collect();
        words.sort_by_key(|w| std::cmp::Reverse(w.len()));
        hide.extend(words);
        for h in hide {
            if !h.trim().is_empty() && s.contains(h) {
                s = s.replace(h, "…");
            }
        }
        let line: String = s
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        match line.char_indices().nth(SNIPPET_CHARS) {
            Some((i, _)) => format!("{}…", &line[..i]),
            None => line,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Rules {
    pub success: SuccessRule,
    pub retry: RetryRule,
    pub provider_id: ProviderId,
}

impl Rules {
    /// The outcome of a response. `body` is `None` when it could not be read.
    pub fn classify_response(
        &self,
        status: u16,
        body: Option<&str>,
        outbox_id: i64,
        text: &str,
        redactor: &Redactor,
    ) -> SendOutcome {
        let json = || body.and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok());
        let said = |b: Option<&str>| match b.map(|b| redactor.snippet(b, text)) {
            Some(s) if !s.is_empty() => format!("HTTP {status}: {s}"),
            _ => format!("HTTP {status}"),
        };
        if self.success.status.contains(status) {
            let needs_body = self.success.body.is_some() || self.success.pointer.is_some();
            match (needs_body, body) {
                (true, None) => {
                    return SendOutcome::Unknown(format!(
                        "HTTP {status}, but the body could not be read to check the success rule"
                    ))
                }
                (true, Some(b)) => {
                    let body_ok = self.success.body.as_ref().is_none_or(|r| r.is_match(b));
                    let pointer_ok = self.success.pointer.as_ref().is_none_or(|(p, want)| {
                        let doc = json();
                        let got = doc.as_ref().and_then(|d| d.pointer(p));
                        match (got, want) {
                            (Some(g), Some(w)) => g == w,
                            (Some(g), None) => !g.is_null() && *g != serde_json::Value::Bool(false),
                            (None, _) => false,
                        }
                    });
                    if body_ok && pointer_ok {
                        return self.sent(body, outbox_id);
                    }
                }
                (false, _) => return self.sent(body, outbox_id),
            }
        }
        let retry_body = match (&self.retry.body, body) {
            (Some(r), Some(b)) => r.is_match(b),
            _ => false,
        };
        if self.retry.status.contains(status) || retry_body {
            return SendOutcome::Retryable(said(body));
        }
        if (300..400).contains(&status) {
            return SendOutcome::Permanent(format!(
                "HTTP {status}: redirects are not followed; configure the final URL"
            ));
        }
        if self.success.status.contains(status) {
            return SendOutcome::Permanent(format!(
                "{} (does not match the success rule)",
                said(body)
            ));
        }
        SendOutcome::Permanent(said(body))
    }

    fn sent(&self, body: Option<&str>, outbox_id: i64) -> SendOutcome {
        let provider_id = match &self.provider_id {
            ProviderId::None => None,
            ProviderId::OutboxId => Some(outbox_id.to_string()),
            ProviderId::JsonPointer(p) => body
                .and_then(|b| serde_json::from_str::<serde_json::Value>(b).ok())
                .and_then(|d| match d.pointer(p) {
                    Some(serde_json::Value::String(s)) => Some(s.clone()),
                    Some(serde_json::Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                }),
            ProviderId::BodyRegex(r) => body.and_then(|b| {
                r.captures(b).map(|c| {
                    c.get(1)
                        .or_else(|| c.get(0))
                        .map(|m| m.as_str().to_string())
                        .unwrap_or_default()
                })
            }),
        };
        // An id is a short token; anything else is not one.
        let provider_id = provider_id.filter(|p| !p.is_empty() && p.len() <= 128);
        SendOutcome::Sent { provider_id }
    }

    pub fn classify_failure(&self, f: &Failure) -> SendOutcome {
        match f {
            Failure::Timeout(e) if self.retry.timeout => SendOutcome::Retryable(e.clone()),
            Failure::Connection(e) if self.retry.connection => SendOutcome::Retryable(e.clone()),
            Failure::Timeout(e) | Failure::Connection(e) | Failure::Other(e) => {
                SendOutcome::Permanent(e.clone())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HttpStatusPattern::{Class, Code};

    fn rules(success: SuccessRule, provider_id: ProviderId) -> Rules {
        Rules {
            success,
            retry: RetryRule {
                status: StatusSet::retry_default(),
                body: None,
                timeout: true,
                connection: true,
            },
            provider_id,
        }
    }

    fn plain() -> SuccessRule {
        SuccessRule {
            status: StatusSet::success_default(),
            body: None,
            pointer: None,
        }
    }

    fn classify(r: &Rules, status: u16, body: &str) -> SendOutcome {
        r.classify_response(
            status,
            Some(body),
            7,
            "Your PIN is 123456",
            &Redactor::default(),
        )
    }

    #[test]
    fn status_sets() {
        let s = StatusSet::parse(&[Code(200), Class("5xx".into()), Code(429)]).unwrap();
        assert!(s.contains(200) && s.contains(500) && s.contains(599) && s.contains(429));
        assert!(!s.contains(201) && !s.contains(428) && !s.contains(600));
        assert!(StatusSet::parse(&[Code(99)]).is_err());
        assert!(StatusSet::parse(&[Class("6xx".into())]).is_err());
        assert!(StatusSet::parse(&[Class("2x".into())]).is_err());
    }

    #[test]
    fn default_rules() {
        let r = rules(plain(), ProviderId::None);
        assert_eq!(
            classify(&r, 200, ""),
            SendOutcome::Sent { provider_id: None }
        );
        assert_eq!(
            classify(&r, 204, ""),
            SendOutcome::Sent { provider_id: None }
        );
        assert!(
            matches!(classify(&r, 500, "boom"), SendOutcome::Retryable(e) if e == "HTTP 500: boom")
        );
        assert!(matches!(classify(&r, 503, ""), SendOutcome::Retryable(e) if e == "HTTP 503"));
        assert!(matches!(classify(&r, 429, ""), SendOutcome::Retryable(_)));
        assert!(
            matches!(classify(&r, 400, "bad"), SendOutcome::Permanent(e) if e == "HTTP 400: bad")
        );
        assert!(matches!(classify(&r, 401, ""), SendOutcome::Permanent(_)));
        assert!(
            matches!(classify(&r, 302, ""), SendOutcome::Permanent(e) if e.contains("redirect"))
        );
        let t = Failure::Timeout("timed out".into());
        let c = Failure::Connection("refused".into());
        let o = Failure::Other("tls".into());
        assert!(matches!(r.classify_failure(&t), SendOutcome::Retryable(_)));
        assert!(matches!(r.classify_failure(&c), SendOutcome::Retryable(_)));
        assert!(matches!(r.classify_failure(&o), SendOutcome::Permanent(_)));
        let strict = Rules {
            retry: RetryRule {
                timeout: false,
                connection: false,
                ..r.retry.clone()
            },
            ..r
        };
        assert!(matches!(
            strict.classify_failure(&t),
            SendOutcome::Permanent(_)
        ));
        assert!(matches!(
            strict.classify_failure(&c),
            SendOutcome::Permanent(_)
        ));
    }

    #[test]
    fn body_regex_and_json_pointer_success() {
        let kannel = rules(
            SuccessRule {
                body: Some(regex(r"^\s*[03]:").unwrap()),
                ..plain()
            },
            ProviderId::OutboxId,
        );
        let sent7 = SendOutcome::Sent {
            provider_id: Some("7".into()),
        };
        assert_eq!(classify(&kannel, 202, "0: Accepted for delivery"), sent7);
        assert_eq!(
            classify(&kannel, 202, "3: Queued for later delivery"),
            sent7
        );
        assert!(
            matches!(classify(&kannel, 202, "Sent."), SendOutcome::Permanent(e) if e.contains("success rule"))
        );
        assert!(matches!(
            classify(&kannel, 503, "Temporal failure, try again later."),
            SendOutcome::Retryable(_)
        ));
        assert!(matches!(
            classify(&kannel, 403, "Not routable. Do not try again."),
            SendOutcome::Permanent(_)
        ));
        assert!(matches!(
            kannel.classify_response(202, None, 7, "", &Redactor::default()),
            SendOutcome::Unknown(_)
        ));

        let json = rules(
            SuccessRule {
                pointer: Some(("/status".into(), Some(serde_json::json!("queued")))),
                ..plain()
            },
            ProviderId::JsonPointer("/message/id".into()),
        );
        assert_eq!(
            classify(&json, 200, r#"{"status":"queued","message":{"id":"m-1"}}"#),
            SendOutcome::Sent {
                provider_id: Some("m-1".into())
            }
        );
        assert_eq!(
            classify(&json, 200, r#"{"status":"queued","message":{"id":99}}"#),
            SendOutcome::Sent {
                provider_id: Some("99".into())
            }
        );
        assert!(matches!(
            classify(&json, 200, r#"{"status":"rejected"}"#),
            SendOutcome::Permanent(_)
        ));
        assert!(matches!(
            classify(&json, 200, "not json"),
            SendOutcome::Permanent(_)
        ));
        let present = rules(
            SuccessRule {
                pointer: Some(("/ok".into(), None)),
                ..plain()
            },
            ProviderId::BodyRegex(regex(r"id=(\w+)").unwrap()),
        );
        assert!(matches!(
            classify(&present, 200, r#"{"ok":false}"#),
            SendOutcome::Permanent(_)
        ));
        assert_eq!(
            classify(&present, 200, r#"{"ok":true,"x":"id=abc"}"#),
            SendOutcome::Sent {
                provider_id: Some("abc".into())
            }
        );
    }

    #[test]
    fn retry_body_regex() {
        let mut r = rules(plain(), ProviderId::None);
        r.retry.body = Some(regex("(?i)throttled").unwrap());
        assert!(matches!(
            classify(&r, 400, "Throttled, slow down"),
            SendOutcome::Retryable(_)
        ));
        assert!(matches!(
            classify(&r, 400, "invalid number"),
            SendOutcome::Permanent(_)
        ));
    }

    #[test]
    fn snippets_hide_secrets_and_the_text() {
        let r = Redactor::new(["hunter22".to_string(), "s3cr3t-token".to_string()]);
        let text = "Your PIN is 123456. Or open https://fs.example/l/AbCdEf_-xyz";
        let body = "error: user hunter22 token s3cr3t-token text 'Your PIN is 123456. Or open https://fs.example/l/AbCdEf_-xyz' pin 123456 link AbCdEf_-xyz";
        let s = r.snippet(body, text);
        for leak in ["hunter22", "s3cr3t-token", "123456", "AbCdEf_-xyz"] {
            assert!(!s.contains(leak), "{leak} in {s}");
        }
        assert!(s.starts_with("error: user … token …"), "{s}");
        let long = "x".repeat(500);
        assert_eq!(r.snippet(&long, "").chars().count(), SNIPPET_CHARS + 1);
        assert_eq!(r.snippet("a\r\n  b\tc", ""), "a b c");
    }
}
