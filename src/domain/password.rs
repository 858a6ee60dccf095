//! What an operator password must be: 8 to 128 characters, not one of the
//! common passwords shipped in the binary, not the username, not a run of
//! one or two characters.

use super::Invalid;

pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 128;

const COMMON: &str = include_str!("common_passwords.txt");

fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    COMMON
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .any(|l| l == lower)
}

/// Checks a new password for `username`; the error names the field `password`.
pub fn check_password(password: &str, username: &str) -> Result<(), Invalid> {
    let bad = |m: &str| Err(Invalid::new("password", m));
    let len = password.chars().count();
    if len < MIN_PASSWORD_LEN {
        return bad("must be at least 8 characters");
    }
    if len > MAX_PASSWORD_LEN {
        return bad("must be at most 128 characters");
    }
    if password.chars().any(char::is_control) {
        return bad("must not contain control characters");
    }
    if is_common(password) {
        return bad("is a commonly used password; choose another");
    }
    if password.eq_ignore_ascii_case(username) {
        return bad("must not be the username");
    }
    let mut distinct: Vec<char> = password.chars().collect();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < 3 {
        return bad("must use more than two different characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_a_decent_password() {
        assert!(check_password("correct horse battery", "ann").is_ok());
        assert!(check_password(
            &"é"
                .repeat(4)
                .chars()
                .chain("xyz1".chars())
                .collect::<String>(),
            "ann"
        )
        .is_ok());
        assert!(check_password(&"abc".repeat(42)[..126], "ann").is_ok());
    }

    #[test]
    fn refuses_short_long_common_username_and_simple() {
        for (pw, why) in [
            ("short1!", "at least 8"),
            (&"ab1".repeat(43)[..129], "at most 128"),
            ("Password123", "commonly used"),
            ("QWERTYUIOP", "commonly used"),
            ("annabelle", "the username"),
            ("abababab", "more than two"),
            ("tab\there!x", "control"),
        ] {
            let e = check_password(pw, "annabelle").unwrap_err();
            assert_eq!(e.field, "password");
            assert!(e.message.contains(why), "{pw}: {}", e.message);
        }
    }

    #[test]
    fn the_list_is_shipped_and_lower_case() {
        let entries: Vec<&str> = COMMON
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        assert!(entries.len() > 100);
        assert!(entries
            .iter()
            .all(|e| *e == e.to_lowercase() && e.len() >= 8));
    }
}
