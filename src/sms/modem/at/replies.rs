//! Readers for the intermediate replies the driver needs (`+CSQ`, `+CREG`,
//! `+CPIN`, `+CMGS`, `+COPS`) and the comma/quote field splitter shared with
//! the URC classifier.
//!
//! Every reader takes one `Item::Text` line, tolerates a missing space after
//! the colon and surrounding blanks, and returns `None` for anything that is
//! not the reply it reads.

/// One comma-separated field of an information response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Field<'a> {
    /// The field without surrounding blanks and, when quoted, without quotes.
    pub text: &'a str,
    /// Whether the modem sent it between double quotes (a string parameter).
    pub quoted: bool,
}

/// Splits `a,"b,c", d` into fields; commas inside quotes do not split.
/// An empty input gives no field; `a,,b` gives an empty middle field.
pub(super) fn fields(s: &str) -> Vec<Field<'_>> {
    let mut out = Vec::new();
    if s.trim().is_empty() {
        return out;
    }
    let mut in_quotes = false;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                out.push(field(&s[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(field(&s[start..]));
    out
}

fn field(raw: &str) -> Field<'_> {
    let t = raw.trim();
    match t.strip_prefix('"') {
        // An unterminated quote keeps the rest of the line as the value.
        // Spaces inside the quotes mean nothing in these replies (a storage
        // name, an operator name): trimmed like the rest.
        Some(inner) => Field {
            text: inner.strip_suffix('"').unwrap_or(inner).trim(),
            quoted: true,
        },
        None => Field {
            text: t,
            quoted: false,
        },
    }
}

/// `line` without `prefix` (ASCII case-insensitive) and leading blanks.
pub(super) fn after_prefix<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let head = line.as_bytes().get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix.as_bytes()) {
        // The prefix is ASCII, so its length is a char boundary of `line`.
        line.get(prefix.len()..).map(str::trim_start)
    } else {
        None
    }
}

/// An unquoted, all-digit field as a number.
pub(super) fn number<T: std::str::FromStr>(f: &Field<'_>) -> Option<T> {
    if f.quoted || f.text.is_empty() || !f.text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    f.text.parse().ok()
}

/// `+CSQ: <rssi>,<ber>` (27.007 §8.5) → `(rssi, ber)`.
///
/// rssi: 0..=31 (−113 dBm .. −51 dBm or more), 99 unknown, 100..=191 the
/// TD-SCDMA range; ber: 0..=7 or 99 unknown. Anything else is `None`.
pub fn parse_csq(text: &str) -> Option<(u8, u8)> {
    let rest = after_prefix(text.trim(), "+CSQ:")?;
    let f = fields(rest);
    if f.len() != 2 {
        return None;
    }
    let rssi: u8 = number(&f[0])?;
    let ber: u8 = number(&f[1])?;
    let rssi_ok = rssi <= 31 || rssi == 99 || (100..=191).contains(&rssi);
    let ber_ok = ber <= 7 || ber == 99;
    (rssi_ok && ber_ok).then_some((rssi, ber))
}

/// The `<stat>` of a registration read reply: `+CREG: <n>,<stat>[,...]`,
/// likewise `+CGREG:`, `+CEREG:` and `+C5GREG:` (27.007 §7.2, §10.1.20,
/// §10.1.22). The one-field unsolicited form is not a read reply: `None`.
pub fn parse_creg_reply(text: &str) -> Option<u8> {
    let t = text.trim();
    let rest = ["+CREG:", "+CGREG:", "+CEREG:", "+C5GREG:"]
        .iter()
        .find_map(|p| after_prefix(t, p))?;
    let f = fields(rest);
    if f.len() < 2 {
        return None;
    }
    let _n: u8 = number(&f[0])?;
    number(&f[1])
}

/// Whether a registration `<stat>` lets the modem send SMS: 1 home,
/// 5 roaming, 6/7 "SMS only" home/roaming, 9/10 "CSFB not preferred"
/// home/roaming (27.007 §7.2). 0 not searching, 2 searching, 3 denied,
/// 4 unknown, 8 emergency only are not registered.
pub fn is_registered(stat: u8) -> bool {
    matches!(stat, 1 | 5 | 6 | 7 | 9 | 10)
}

/// What `+CPIN:` says about the SIM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimState {
    /// `READY`: no password pending.
    Ready,
    /// `SIM PIN`: the PIN must be entered before anything works.
    Pin,
    /// `SIM PUK`: the PIN is blocked; only the PUK unblocks it.
    Puk,
    /// Anything else, as sent (`SIM PIN2`, `PH-SIM PIN`, `NOT READY`,
    /// `NOT INSERTED`, ...).
    Other(String),
}

/// `+CPIN: <code>` (27.007 §8.3), as a read reply or unsolicited after boot.
pub fn parse_cpin(text: &str) -> Option<SimState> {
    let code = after_prefix(text.trim(), "+CPIN:")?.trim();
    let code = code
        .strip_prefix('"')
        .and_then(|c| c.strip_suffix('"'))
        .unwrap_or(code);
    if code.is_empty() {
        return None;
    }
    Some(match code.to_ascii_uppercase().as_str() {
        "READY" => SimState::Ready,
        "SIM PIN" => SimState::Pin,
        "SIM PUK" => SimState::Puk,
        _ => SimState::Other(code.to_owned()),
    })
}

/// `+CMGS: <mr>[,<scts>|<ackpdu>]` (27.005 §3.5.1) → the TP-Message-Reference
/// (one octet), which a later status report (`+CDS`) carries back.
pub fn parse_cmgs(text: &str) -> Option<u8> {
    let rest = after_prefix(text.trim(), "+CMGS:")?;
    number(fields(rest).first()?)
}

/// The operator of `+COPS: <mode>[,<format>,<oper>[,<AcT>]]` (27.007 §7.3):
/// the long or short name, or the numeric MCC+MNC, whichever format was set.
/// `+COPS: 0` (not registered) and an empty name give `None`.
pub fn parse_cops(text: &str) -> Option<String> {
    let rest = after_prefix(text.trim(), "+COPS:")?;
    let f = fields(rest);
    // A test reply (`+COPS: (2,"Swisscom",...),...`) is not a read reply.
    if f.first()?.text.starts_with('(') {
        return None;
    }
    let name = f.get(2)?.text.trim();
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_split_on_commas_outside_quotes() {
        let cases: &[(&str, &[(&str, bool)])] = &[
            ("", &[]),
            ("1", &[("1", false)]),
            ("0,1", &[("0", false), ("1", false)]),
            (
                " 1 , \"00C3\",\"A,B\"",
                &[("1", false), ("00C3", true), ("A,B", true)],
            ),
            ("a,,b", &[("a", false), ("", false), ("b", false)]),
            ("\"open", &[("open", true)]),
            ("\" SM\",3", &[("SM", true), ("3", false)]),
            (",", &[("", false), ("", false)]),
        ];
        for (input, want) in cases {
            let got: Vec<(&str, bool)> = fields(input).iter().map(|f| (f.text, f.quoted)).collect();
            assert_eq!(&got, want, "input {input:?}");
        }
    }

    #[test]
    fn csq() {
        let cases = [
            ("+CSQ: 20,99", Some((20, 99))),
            ("+CSQ:31,0", Some((31, 0))),
            ("  +CSQ: 99,99  ", Some((99, 99))),
            ("+csq: 0,7", Some((0, 7))),
            ("+CSQ: 150,99", Some((150, 99))),
            ("+CSQ: 32,99", None),
            ("+CSQ: 20,8", None),
            ("+CSQ: 20", None),
            ("+CSQ: 20,99,1", None),
            ("+CSQ: -1,99", None),
            ("+CSQ: 256,99", None),
            ("+CSQ: \"20\",99", None),
            ("+CESQ: 20,99", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_csq(input), want, "input {input:?}");
        }
    }

    #[test]
    fn creg_reply() {
        let cases = [
            ("+CREG: 0,1", Some(1)),
            ("+CREG: 2,5,\"00C3\",\"0000A1B2\",7", Some(5)),
            ("+CGREG: 0,2", Some(2)),
            ("+CEREG: 2,5,\"1A2B\",\"01A2B3C4\",7", Some(5)),
            ("+C5GREG: 0,1", Some(1)),
            ("+CREG:0,3", Some(3)),
            ("+CREG: 1", None),
            ("+CREG: 1,\"00C3\",\"0000A1B2\"", None),
            ("+CREG: x,1", None),
            ("+CSQ: 0,1", None),
            ("", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_creg_reply(input), want, "input {input:?}");
        }
    }

    #[test]
    fn registered_stats() {
        let yes: Vec<u8> = (0..=20).filter(|s| is_registered(*s)).collect();
        assert_eq!(yes, vec![1, 5, 6, 7, 9, 10]);
    }

    #[test]
    fn cpin() {
        let cases = [
            ("+CPIN: READY", Some(SimState::Ready)),
            ("+CPIN:READY", Some(SimState::Ready)),
            ("+CPIN: SIM PIN", Some(SimState::Pin)),
            ("+CPIN: SIM PUK", Some(SimState::Puk)),
            ("+CPIN: \"SIM PIN\"", Some(SimState::Pin)),
            ("+CPIN: SIM PIN2", Some(SimState::Other("SIM PIN2".into()))),
            (
                "+CPIN: NOT READY",
                Some(SimState::Other("NOT READY".into())),
            ),
            (
                "+CPIN: PH-SIM PIN",
                Some(SimState::Other("PH-SIM PIN".into())),
            ),
            ("+CPIN:", None),
            ("READY", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_cpin(input), want, "input {input:?}");
        }
    }

    #[test]
    fn cmgs() {
        let cases = [
            ("+CMGS: 12", Some(12)),
            ("+CMGS:0", Some(0)),
            ("+CMGS: 255", Some(255)),
            ("+CMGS: 7,\"24/01/01,10:00:00+04\"", Some(7)),
            ("+CMGS: 256", None),
            ("+CMGS: ", None),
            ("+CMGS: x", None),
            ("+CMSS: 12", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_cmgs(input), want, "input {input:?}");
        }
    }

    #[test]
    fn cops() {
        let cases = [
            ("+COPS: 0,0,\"Swisscom\",7", Some("Swisscom")),
            ("+COPS: 0,2,\"22801\",2", Some("22801")),
            ("+COPS: 0,0,\"Sunrise, CH\"", Some("Sunrise, CH")),
            ("+COPS: 0", None),
            ("+COPS: 0,0,\"\"", None),
            (
                "+COPS: (2,\"Swisscom\",\"SCM\",\"22801\",7),,(0-4),(0-2)",
                None,
            ),
            ("+CSQ: 0,0,\"x\"", None),
        ];
        for (input, want) in cases {
            assert_eq!(parse_cops(input).as_deref(), want, "input {input:?}");
        }
    }
}
