//! Who does something, for the audit log.

use std::fmt;

/// The author of a change or of a login call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// An application or script with an API key (its id, never the key).
    ApiKey(String),
    /// A person in the admin UI (the username).
    Operator(String),
    /// The `flexsecure` command line on the appliance.
    Cli,
    /// The appliance itself (background jobs).
    System,
}

impl fmt::Display for Actor {
    /// `key:<id>`, `operator:<username>`, `cli`, `system`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::ApiKey(id) => write!(f, "key:{id}"),
            Actor::Operator(name) => write!(f, "operator:{name}"),
            Actor::Cli => f.write_str("cli"),
            Actor::System => f.write_str("system"),
        }
    }
}

/// Who calls, on behalf of which account: what every account-scoped use
/// case takes, so that it is scoped and recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account_id: String,
    pub actor: Actor,
}

impl Caller {
    pub fn new(account_id: impl Into<String>, actor: Actor) -> Self {
        Self {
            account_id: account_id.into(),
            actor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_print_as_stored() {
        assert_eq!(Actor::ApiKey("ak_1".into()).to_string(), "key:ak_1");
        assert_eq!(Actor::Operator("ann".into()).to_string(), "operator:ann");
        assert_eq!(Actor::Cli.to_string(), "cli");
        assert_eq!(Actor::System.to_string(), "system");
    }
}
