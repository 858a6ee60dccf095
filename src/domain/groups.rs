//! The groups a user belongs to, for `user_in_group` policy rules.

use super::rules::MAX_GROUP_LEN;
use super::Invalid;
use std::collections::HashSet;

/// At most this many groups per user.
pub const MAX_GROUPS: usize = 64;

/// A user's groups: each name trimmed, 1 to [`MAX_GROUP_LEN`] characters,
/// without control characters, `,` or `;` (they separate groups in CSV);
/// no two equal ASCII case-insensitively (the first spelling is kept, as
/// policy rules compare groups that way); at most [`MAX_GROUPS`]; in the
/// order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Groups(Vec<String>);

impl Groups {
    /// `field` names the value in errors (`groups`).
    pub fn parse(raw: Vec<String>, field: &'static str) -> Result<Self, Invalid> {
        let mut seen = HashSet::with_capacity(raw.len());
        let mut groups = Vec::with_capacity(raw.len().min(MAX_GROUPS));
        for (i, g) in raw.iter().enumerate() {
            let err = |m: &str| Invalid::new(field, format!("group {}: {m}", i + 1));
            let g = g.trim();
            if g.is_empty() {
                return Err(err("must not be empty"));
            }
            if g.chars().count() > MAX_GROUP_LEN {
                return Err(err("must be at most 100 characters"));
            }
            if g.chars().any(|c| c.is_control() || c == ',' || c == ';') {
                return Err(err("must not contain ',', ';' or control characters"));
            }
            if seen.insert(g.to_ascii_lowercase()) {
                if groups.len() == MAX_GROUPS {
                    return Err(Invalid::new(
                        field,
                        format!("at most {MAX_GROUPS} groups per user"),
                    ));
                }
                groups.push(g.to_string());
            }
        }
        Ok(Self(groups))
    }

    /// One CSV cell: groups separated by `;`; an empty cell is no groups.
    pub fn parse_csv_cell(cell: &str, field: &'static str) -> Result<Self, Invalid> {
        if cell.trim().is_empty() {
            return Ok(Self::default());
        }
        Self::parse(cell.split(';').map(str::to_string).collect(), field)
    }

    pub fn as_slice(&self) -> &[String] {
        &self.0
    }

    pub fn into_vec(self) -> Vec<String> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &[&str]) -> Result<Vec<String>, Invalid> {
        Groups::parse(raw.iter().map(|s| s.to_string()).collect(), "groups").map(Groups::into_vec)
    }

    #[test]
    fn trimmed_deduplicated_in_order() {
        assert_eq!(
            parse(&[" Staff ", "ops", "STAFF", "Öl", "öl", "ops "]).unwrap(),
            vec!["Staff", "ops", "Öl", "öl"],
            "ASCII case folds, other letters do not (as policy rules compare)"
        );
        assert_eq!(parse(&[]).unwrap(), Vec::<String>::new());
        assert_eq!(parse(&[&"é".repeat(MAX_GROUP_LEN)]).unwrap().len(), 1);
    }

    #[test]
    fn bad_names_are_refused_with_their_position() {
        for (raw, needle) in [
            (vec!["a", " "], "group 2: must not be empty"),
            (vec!["a\u{7}b"], "control"),
            (vec!["tab\there"], "control"),
            (vec!["a;b"], "';'"),
            (vec!["a,b"], "','"),
        ] {
            let e = parse(&raw).unwrap_err();
            assert_eq!(e.field, "groups");
            assert!(e.message.contains(needle), "{raw:?}: {e}");
        }
        let long = "x".repeat(MAX_GROUP_LEN + 1);
        assert!(parse(&[&long]).unwrap_err().message.contains("100"));
    }

    #[test]
    fn at_most_64_distinct_groups() {
        let names: Vec<String> = (0..MAX_GROUPS).map(|i| format!("g{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(parse(&refs).unwrap().len(), MAX_GROUPS);
        let mut with_dups = refs.clone();
        with_dups.extend(["G0", "g1 "]);
        assert_eq!(parse(&with_dups).unwrap().len(), MAX_GROUPS);
        let mut over = refs;
        over.push("one more");
        assert!(parse(&over).unwrap_err().message.contains("64"));
    }

    #[test]
    fn csv_cells() {
        let cell = |c: &str| Groups::parse_csv_cell(c, "groups").map(Groups::into_vec);
        assert_eq!(cell("").unwrap(), Vec::<String>::new());
        assert_eq!(cell("  ").unwrap(), Vec::<String>::new());
        assert_eq!(cell("staff; ops ;Staff").unwrap(), vec!["staff", "ops"]);
        assert!(cell("staff;;ops").is_err());
        assert!(cell("staff;").is_err());
        assert!(cell("a,b").is_err());
    }
}
