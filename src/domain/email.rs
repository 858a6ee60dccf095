use super::Invalid;
use std::fmt;

/// An email address, lower-cased so that look-ups are case-insensitive.
///
/// Deliberately simple: it identifies a user, it is never mailed to, so we
/// accept what a directory would hold and refuse what is clearly not an address.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

pub const MAX_EMAIL_LEN: usize = 254;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let err = |m: &str| Invalid::new("email", m.to_string());
        if s.is_empty() {
            return Err(err("must not be empty"));
        }
        if s.len() > MAX_EMAIL_LEN {
            return Err(err("must be at most 254 characters"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(err("must not contain spaces or control characters"));
        }
        let (local, domain) = s.rsplit_once('@').ok_or_else(|| err("must contain '@'"))?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(err("has an invalid local part"));
        }
        let labels_ok = domain.split('.').count() >= 2
            && domain.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !labels_ok {
            return Err(err("has an invalid domain"));
        }
        Ok(Self(s.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowercases_and_accepts_plain_addresses() {
        assert_eq!(
            Email::parse(" Ann@Example.COM ").unwrap().as_str(),
            "ann@example.com"
        );
        assert!(Email::parse("a.b+tag@sub.example.ch").is_ok());
    }

    #[test]
    fn refuses_bad_addresses() {
        for bad in [
            "",
            "no-at",
            "@example.com",
            "a@",
            "a@localhost",
            "a b@x.ch",
            "a@-x.ch",
            "a@x..ch",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }
}
