//! What an approved login is worth: `acr` levels, RFC 8176 `amr` values and
//! the two-digit match code of the link page.

use super::Factor;

/// The `acr` of a login that passed these factors (in any order):
/// `"0"` none (approved by an `allow` rule), `"1"` one SMS factor (link or
/// PIN), `"2"` link and PIN. Both factors reach the same phone, so `"2"` is
/// more proof of possession, not two independent devices.
pub fn acr_for(factors: &[Factor]) -> &'static str {
    let link = factors.contains(&Factor::Passwordless);
    let pin = factors.contains(&Factor::Pin);
    match (link, pin) {
        (false, false) => "0",
        (true, true) => "2",
        _ => "1",
    }
}

/// RFC 8176 authentication method references for these factors: `sms` for
/// anything delivered by SMS, `otp` when a PIN was typed, `mca` when the link
/// was approved on the appliance's page, a second channel beside the
/// application's login form. Empty for an `allow`.
pub fn rfc8176_amr(factors: &[Factor], page_approved: bool) -> Vec<&'static str> {
    let mut out = Vec::new();
    if !factors.is_empty() {
        out.push("sms");
    }
    if factors.contains(&Factor::Pin) {
        out.push("otp");
    }
    if page_approved && factors.contains(&Factor::Passwordless) {
        out.push("mca");
    }
    out
}

/// The number the application shows beside its login form and the three
/// numbers the link page offers (the code among them), all 10..=99.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatchCode {
    pub code: u8,
    pub choices: [u8; 3],
}

impl MatchCode {
    /// From random bytes (the caller draws them): three distinct numbers,
    /// the code at a random place.
    pub fn from_random(bytes: [u8; 8]) -> Self {
        let mut picked: Vec<u8> = Vec::with_capacity(3);
        for b in bytes.iter().take(7) {
            let n = 10 + b % 90;
            if !picked.contains(&n) {
                picked.push(n);
            }
            if picked.len() == 3 {
                break;
            }
        }
        // Too few distinct values in the bytes (very rare): fill deterministically.
        let mut next = 10u8;
        while picked.len() < 3 {
            if !picked.contains(&next) {
                picked.push(next);
            }
            next += 1;
        }
        let code = picked[0];
        let mut choices = [picked[1], picked[2], code];
        choices.swap(2, usize::from(bytes[7] % 3));
        Self { code, choices }
    }

    /// Stored form: the code, then the choices in page order (`"47 12 47 85"`).
    pub fn to_db(self) -> String {
        let [a, b, c] = self.choices;
        format!("{} {a} {b} {c}", self.code)
    }

    pub fn from_db(s: &str) -> Option<Self> {
        let n: Vec<u8> = s
            .split(' ')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        match n.as_slice() {
            [code, a, b, c] if [*a, *b, *c].contains(code) => Some(Self {
                code: *code,
                choices: [*a, *b, *c],
            }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Factor::*;

    #[test]
    fn acr_levels() {
        assert_eq!(acr_for(&[]), "0");
        assert_eq!(acr_for(&[Pin]), "1");
        assert_eq!(acr_for(&[Passwordless]), "1");
        assert_eq!(acr_for(&[Pin, Passwordless]), "2");
    }

    #[test]
    fn amr_values() {
        assert!(rfc8176_amr(&[], false).is_empty());
        assert_eq!(rfc8176_amr(&[Pin], false), ["sms", "otp"]);
        assert_eq!(rfc8176_amr(&[Passwordless], false), ["sms"]);
        assert_eq!(rfc8176_amr(&[Passwordless], true), ["sms", "mca"]);
        assert_eq!(
            rfc8176_amr(&[Passwordless, Pin], true),
            ["sms", "otp", "mca"]
        );
        // The page flag alone adds nothing without a link step.
        assert_eq!(rfc8176_amr(&[Pin], true), ["sms", "otp"]);
    }

    #[test]
    fn match_codes_are_distinct_two_digit_and_round_trip() {
        for seed in 0u32..2000 {
            let mut b = [0u8; 8];
            for (i, x) in b.iter_mut().enumerate() {
                *x = (seed.wrapping_mul(2654435761).rotate_left(i as u32 * 4) >> 3) as u8;
            }
            let m = MatchCode::from_random(b);
            assert!(m.choices.contains(&m.code));
            assert!(m.choices.iter().all(|c| (10..=99).contains(c)));
            let [a, b2, c] = m.choices;
            assert!(a != b2 && b2 != c && a != c, "{m:?}");
            assert_eq!(MatchCode::from_db(&m.to_db()), Some(m));
        }
        // All bytes equal: still three distinct numbers.
        let m = MatchCode::from_random([7; 8]);
        let [a, b, c] = m.choices;
        assert!(a != b && b != c && a != c);
    }

    #[test]
    fn match_code_places_vary() {
        let places: std::collections::HashSet<usize> = (0u8..3)
            .map(|p| {
                let m = MatchCode::from_random([1, 2, 3, 4, 5, 6, 7, p]);
                m.choices.iter().position(|c| *c == m.code).unwrap()
            })
            .collect();
        assert_eq!(places.len(), 3);
    }

    #[test]
    fn bad_stored_codes_are_refused() {
        assert_eq!(MatchCode::from_db(""), None);
        assert_eq!(MatchCode::from_db("47 12 13 14"), None);
        assert_eq!(MatchCode::from_db("47 12 47"), None);
        assert_eq!(MatchCode::from_db("x 1 2 3"), None);
    }
}
