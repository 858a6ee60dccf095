//! Operators of the admin UI: who they are and what they may see.

use super::{Invalid, Name, NameKind};

/// What an operator may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OperatorRole {
    /// Every account, the SMS channels and the appliance's settings.
    Appliance,
    /// One account (its id), nothing of the others.
    Account(String),
}

impl OperatorRole {
    pub fn as_str(&self) -> &'static str {
        match self {
            OperatorRole::Appliance => "appliance",
            OperatorRole::Account(_) => "account",
        }
    }

    /// Whether this operator may act on `account_id`.
    pub fn may_access(&self, account_id: &str) -> bool {
        match self {
            OperatorRole::Appliance => true,
            OperatorRole::Account(a) => a == account_id,
        }
    }
}

/// An operator's login name: 1–64 characters of letters, digits, `.`, `_`,
/// `-` and `@`, compared lower-cased.
pub fn parse_username(raw: &str) -> Result<String, Invalid> {
    let u = raw.trim().to_lowercase();
    let ok = !u.is_empty()
        && u.chars().count() <= 64
        && u.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        // Also a valid name (no slashes, no control characters).
        Name::parse(NameKind::Policy, &u).map_err(|_| bad_username())?;
        Ok(u)
    } else {
        Err(bad_username())
    }
}

fn bad_username() -> Invalid {
    Invalid::new(
        "username",
        "must be 1 to 64 letters, digits, '.', '_', '-' or '@'",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(parse_username(" Ann.Admin ").unwrap(), "ann.admin");
        assert_eq!(parse_username("ops@acme").unwrap(), "ops@acme");
        for bad in ["", "a b", "a/b", "x<y", &"a".repeat(65)] {
            assert_eq!(parse_username(bad).unwrap_err().field, "username", "{bad}");
        }
    }

    #[test]
    fn roles() {
        let a = OperatorRole::Account("acc_1".into());
        assert!(a.may_access("acc_1"));
        assert!(!a.may_access("acc_2"));
        assert!(OperatorRole::Appliance.may_access("acc_2"));
    }
}
