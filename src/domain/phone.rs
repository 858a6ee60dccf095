use super::Invalid;
use std::fmt;

/// A mobile number in E.164 form (`+` and 8 to 15 digits).
///
/// Input may carry spaces, dashes, dots, parentheses or a `00` international
/// prefix; a national number without a country code is refused because the
/// appliance serves many countries and must not guess.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let err = |m: &str| Invalid::new("phone", m.to_string());
        let s = raw.trim();
        if s.len() > 32 {
            return Err(err("is too long"));
        }
        let mut digits = String::with_capacity(16);
        let rest = if let Some(r) = s.strip_prefix('+') {
            r
        } else if let Some(r) = s.strip_prefix("00") {
            r
        } else {
            return Err(err(
                "must be in international form with a country code, e.g. +41791234567",
            ));
        };
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => {
                    return Err(err(
                        "may contain only digits, spaces, dashes, dots and parentheses",
                    ))
                }
            }
        }
        if digits.starts_with('0') {
            return Err(err("country code cannot start with 0"));
        }
        if !(8..=15).contains(&digits.len()) {
            return Err(err("must have 8 to 15 digits after the +"));
        }
        Ok(Self(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_to_e164() {
        assert_eq!(
            PhoneNumber::parse("+41 79 123 45 67").unwrap().as_str(),
            "+41791234567"
        );
        assert_eq!(
            PhoneNumber::parse("0041-79-123.45.67").unwrap().as_str(),
            "+41791234567"
        );
        assert_eq!(
            PhoneNumber::parse("+1 (415) 555-0100").unwrap().as_str(),
            "+14155550100"
        );
    }

    #[test]
    fn refuses_bad_numbers() {
        for bad in [
            "",
            "0791234567",
            "+0791234567",
            "+41abc",
            "+123",
            "+1234567890123456",
            "+41 79 123 45 67 x",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad}");
        }
    }
}
