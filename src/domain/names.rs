use super::Invalid;
use std::fmt;

/// What a name identifies; sets the field name in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameKind {
    System,
    Policy,
    Account,
}

impl NameKind {
    fn field(self) -> &'static str {
        match self {
            NameKind::System => "system",
            NameKind::Policy => "policy",
            NameKind::Account => "name",
        }
    }
}

pub const MAX_NAME_LEN: usize = 100;

/// The name of a system, policy or account: 1 to 100 characters, no control
/// characters and no `/` (names appear in URL paths), surrounding spaces trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Name(String);

impl Name {
    pub fn parse(kind: NameKind, raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        let err = |m: &str| Invalid::new(kind.field(), m.to_string());
        if s.is_empty() {
            return Err(err("must not be empty"));
        }
        if s.chars().count() > MAX_NAME_LEN {
            return Err(err("must be at most 100 characters"));
        }
        if s.chars().any(|c| c.is_control() || c == '/') {
            return Err(err("must not contain '/' or control characters"));
        }
        Ok(Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            Name::parse(NameKind::System, " CRM ").unwrap().as_str(),
            "CRM"
        );
        assert!(Name::parse(NameKind::System, "").is_err());
        assert!(Name::parse(NameKind::System, "a/b").is_err());
        assert!(Name::parse(NameKind::System, &"x".repeat(101)).is_err());
        assert_eq!(
            Name::parse(NameKind::Policy, "").unwrap_err().field,
            "policy"
        );
    }
}
