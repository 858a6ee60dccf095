//! Address fields (3GPP TS 23.040 9.1.2.5) and the service centre address
//! in front of the TPDU (3GPP TS 24.011 8.2.5.1).

use super::{gsm7, PduError, Reader};

/// Type of address: international number, ISDN/E.164 numbering plan.
const TOA_INTERNATIONAL: u8 = 0x91;
/// Type of address: unknown number type, ISDN/E.164 numbering plan.
const TOA_UNKNOWN: u8 = 0x81;
/// An address holds at most 20 semi-octets (10 octets of digits).
const MAX_DIGITS: usize = 20;

/// A number ready to be written as semi-octets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Number {
    toa: u8,
    /// Decimal digits, 0..=9.
    digits: Vec<u8>,
}

impl Number {
    /// `+` and digits (international, 0x91) or digits alone (unknown type
    /// of number, 0x81); 1 to 20 digits and nothing else.
    pub(super) fn parse(number: &str) -> Result<Self, PduError> {
        let (toa, digits) = match number.strip_prefix('+') {
            Some(rest) => (TOA_INTERNATIONAL, rest),
            None => (TOA_UNKNOWN, number),
        };
        if digits.is_empty()
            || digits.len() > MAX_DIGITS
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(PduError::InvalidNumber(number.to_owned()));
        }
        Ok(Number {
            toa,
            digits: digits.bytes().map(|b| b - b'0').collect(),
        })
    }

    /// Never fails: keeps the digits (at most 20) and a leading `+`,
    /// drops anything else. For the simulator's status reports.
    pub(super) fn lenient(number: &str) -> Self {
        let number = number.trim();
        let toa = if number.starts_with('+') {
            TOA_INTERNATIONAL
        } else {
            TOA_UNKNOWN
        };
        let digits = number
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|b| b - b'0')
            .take(MAX_DIGITS)
            .collect();
        Number { toa, digits }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.digits.is_empty()
    }

    /// Digits two to an octet, the first in the low nibble, 0xF to fill.
    fn push_semi_octets(&self, out: &mut Vec<u8>) {
        for pair in self.digits.chunks(2) {
            let low = pair.first().copied().unwrap_or(0x0F);
            let high = pair.get(1).copied().unwrap_or(0x0F);
            out.push(high << 4 | low);
        }
    }

    fn digit_count(&self) -> u8 {
        u8::try_from(self.digits.len()).unwrap_or(u8::MAX)
    }

    /// TP-DA / TP-RA: number of digits, type of address, semi-octets.
    pub(super) fn push_address(&self, out: &mut Vec<u8>) {
        out.push(self.digit_count());
        out.push(self.toa);
        self.push_semi_octets(out);
    }

    /// Service centre address: octets that follow (type of address and
    /// semi-octets), type of address, semi-octets.
    pub(super) fn push_smsc(&self, out: &mut Vec<u8>) {
        let octets = 1 + self.digits.len().div_ceil(2);
        out.push(u8::try_from(octets).unwrap_or(u8::MAX));
        out.push(self.toa);
        self.push_semi_octets(out);
    }
}

/// The service centre field: `Some(number)` or, for `None`, the single
/// octet 00 that tells the modem to use its configured SMSC.
pub(super) fn push_smsc(out: &mut Vec<u8>, smsc: Option<&Number>) {
    match smsc {
        Some(number) => number.push_smsc(out),
        None => out.push(0x00),
    }
}

/// Skips the service centre field at the start of a PDU and returns its
/// length in octets (including the length octet itself).
pub(super) fn skip_smsc(r: &mut Reader<'_>) -> Result<usize, PduError> {
    let len = r.u8()?;
    r.take(usize::from(len))?;
    Ok(1 + usize::from(len))
}

/// Reads TP-DA / TP-RA / TP-OA. International numbers get a leading `+`;
/// alphanumeric addresses are GSM 7-bit text.
pub(super) fn read_address(r: &mut Reader<'_>) -> Result<String, PduError> {
    let semi_octets = usize::from(r.u8()?);
    let toa = r.u8()?;
    let bytes = r.take(semi_octets.div_ceil(2))?;
    match (toa >> 4) & 0x07 {
        // Alphanumeric: GSM 7-bit septets packed in the semi-octets.
        0b101 => gsm7::decode_septets(&gsm7::unpack(bytes, 0, semi_octets * 4 / 7)?),
        ton => {
            let digits = semi_octet_digits(bytes, semi_octets)?;
            Ok(if ton == 0b001 && !digits.is_empty() {
                format!("+{digits}")
            } else {
                digits
            })
        }
    }
}

/// `count` BCD digits (with the 23.040 extras * # a b c), low nibble
/// first. A filler nibble counted as the last digit (a sloppy length seen
/// in the wild) is dropped; a filler anywhere else is an error.
fn semi_octet_digits(bytes: &[u8], count: usize) -> Result<String, PduError> {
    let mut digits = String::with_capacity(count);
    for i in 0..count {
        let byte = bytes.get(i / 2).copied().ok_or(PduError::Truncated)?;
        let nibble = if i % 2 == 0 { byte & 0x0F } else { byte >> 4 };
        digits.push(match nibble {
            0xF if i + 1 == count => break,
            0..=9 => char::from(b'0' + nibble),
            0xA => '*',
            0xB => '#',
            0xC => 'a',
            0xD => 'b',
            0xE => 'c',
            _ => return Err(PduError::Malformed("filler nibble inside an address")),
        });
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn address_hex(number: &str) -> String {
        let mut out = Vec::new();
        Number::parse(number).unwrap().push_address(&mut out);
        hex::encode_upper(out)
    }

    fn smsc_hex(number: &str) -> String {
        let mut out = Vec::new();
        Number::parse(number).unwrap().push_smsc(&mut out);
        hex::encode_upper(out)
    }

    fn read(hex: &str) -> Result<String, PduError> {
        let bytes = hex::decode(hex).unwrap();
        read_address(&mut Reader::new(&bytes))
    }

    /// Address and SMSC field vectors published in python-gsmmodem's test
    /// suite (faucamp/python-gsmmodem, test/test_pdu.py,
    /// TestSmsPduAddressFields and TestSmsPduSmscFields).
    #[test]
    fn published_address_vectors() {
        for (number, hex) in [
            ("+9876543210", "0A918967452301"),
            ("+987654321", "099189674523F1"),
            ("+27829135934", "0B917228195339F4"),
        ] {
            assert_eq!(address_hex(number), hex);
            assert_eq!(read(hex).unwrap(), number);
        }
        assert_eq!(smsc_hex("+9876543210"), "06918967452301");
        assert_eq!(smsc_hex("+987654321"), "069189674523F1");
        // Alphanumeric originators and a national (0xA1) number.
        assert_eq!(read("06D061F118").unwrap(), "abc");
        assert_eq!(read("0ED04669D0397C26A7").unwrap(), "FRANCOIS");
        assert_eq!(read("14D0E10D6FE3DBA036A94D19").unwrap(), "a[]{}€");
        assert_eq!(read("0AA11092997856").unwrap(), "0129998765");
    }

    #[test]
    fn numbers_without_plus_are_unknown_type() {
        assert_eq!(address_hex("0791234567"), "0A817019325476");
        assert_eq!(read("0A817019325476").unwrap(), "0791234567");
    }

    #[test]
    fn bad_numbers_are_rejected() {
        for bad in [
            "",
            "+",
            "++41",
            "+41 79",
            "41-79",
            "+4179x",
            "123456789012345678901",
        ] {
            assert_eq!(
                Number::parse(bad),
                Err(PduError::InvalidNumber(bad.to_owned())),
                "{bad:?}"
            );
        }
        assert!(Number::parse("12345678901234567890").is_ok());
    }

    #[test]
    fn lenient_numbers_keep_digits_and_plus() {
        let mut out = Vec::new();
        Number::lenient(" +41 79-499 ").push_address(&mut out);
        assert_eq!(hex::encode_upper(out), "0791149794F9");
    }

    #[test]
    fn truncated_and_filler_addresses_fail() {
        assert_eq!(read("0B917228"), Err(PduError::Truncated));
        assert_eq!(read("0B"), Err(PduError::Truncated));
        assert!(matches!(read("04912F43"), Err(PduError::Malformed(_))));
        // A filler counted in the length, but only as the last digit.
        assert_eq!(read("0C910661345542F6").unwrap(), "+60164355246");
    }
}
