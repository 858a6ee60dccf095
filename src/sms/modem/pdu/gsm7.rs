//! The GSM 7-bit default alphabet and its extension table (3GPP TS 23.038
//! 6.2.1 and 6.2.1.1), and the packing of septets into octets (6.1.2.1.1).

use super::PduError;

/// Escape to the extension table (the code 0x1B of the default alphabet).
pub(super) const ESCAPE: u8 = 0x1B;

/// The default alphabet, indexed by septet. Index 0x1B is the escape, not
/// a character: the encoder skips it and the decoder handles it first.
pub(super) const BASIC: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// The extension table: (septet after the escape, character).
pub(super) const EXTENSION: [(u8, char); 10] = [
    (0x0A, '\u{0C}'), // form feed (page break)
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// A character of the GSM alphabet: one septet, or an escaped pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Gsm7Char {
    Basic(u8),
    Extension(u8),
}

impl Gsm7Char {
    /// Number of septets this character takes (1, or 2 with the escape).
    pub(super) fn len(self) -> usize {
        match self {
            Gsm7Char::Basic(_) => 1,
            Gsm7Char::Extension(_) => 2,
        }
    }

    pub(super) fn push_to(self, septets: &mut Vec<u8>) {
        match self {
            Gsm7Char::Basic(s) => septets.push(s),
            Gsm7Char::Extension(s) => septets.extend([ESCAPE, s]),
        }
    }
}

/// The GSM 7-bit code of `c`, if it has one.
pub(super) fn encode_char(c: char) -> Option<Gsm7Char> {
    if let Some(i) = BASIC
        .iter()
        .enumerate()
        .position(|(i, &b)| b == c && i != usize::from(ESCAPE))
    {
        return u8::try_from(i).ok().map(Gsm7Char::Basic);
    }
    EXTENSION
        .iter()
        .find(|&&(_, e)| e == c)
        .map(|&(s, _)| Gsm7Char::Extension(s))
}

/// Septets (one per byte, 0..=0x7F) to text. An escape followed by a code
/// the extension table lacks shows the default-alphabet character, and a
/// double escape shows a space, as 23.038 asks of a receiving entity; an
/// escape with nothing after it is an error.
pub(super) fn decode_septets(septets: &[u8]) -> Result<String, PduError> {
    let mut text = String::with_capacity(septets.len());
    let mut iter = septets.iter().map(|&s| s & 0x7F);
    while let Some(s) = iter.next() {
        if s != ESCAPE {
            text.push(basic_char(s));
            continue;
        }
        let Some(next) = iter.next() else {
            return Err(PduError::Malformed(
                "GSM 7-bit text ends with a lone escape",
            ));
        };
        let c = match EXTENSION.iter().find(|&&(e, _)| e == next) {
            Some(&(_, c)) => c,
            None if next == ESCAPE => ' ',
            None => basic_char(next),
        };
        text.push(c);
    }
    Ok(text)
}

fn basic_char(septet: u8) -> char {
    BASIC
        .get(usize::from(septet & 0x7F))
        .copied()
        .unwrap_or(' ')
}

/// Packs `septets` into `ud`, the first one at septet position `first`
/// (counted from the start of `ud`, whose earlier octets — a user data
/// header — stay as they are). Grows `ud` to exactly the octets needed.
pub(super) fn pack_into(ud: &mut Vec<u8>, first: usize, septets: &[u8]) {
    let total_bits = (first + septets.len()) * 7;
    ud.resize(total_bits.div_ceil(8).max(ud.len()), 0);
    for (i, &s) in septets.iter().enumerate() {
        let bit = (first + i) * 7;
        let (idx, shift) = (bit / 8, bit % 8);
        let s = s & 0x7F;
        if let Some(octet) = ud.get_mut(idx) {
            *octet |= s << shift;
        }
        if shift > 1 {
            if let Some(octet) = ud.get_mut(idx + 1) {
                *octet |= s >> (8 - shift);
            }
        }
    }
}

/// Unpacks `count` septets starting at septet position `first` of `ud`.
pub(super) fn unpack(ud: &[u8], first: usize, count: usize) -> Result<Vec<u8>, PduError> {
    let needed = (first + count) * 7;
    if needed.div_ceil(8) > ud.len() {
        return Err(PduError::Truncated);
    }
    let mut septets = Vec::with_capacity(count);
    for j in first..first + count {
        let bit = j * 7;
        let (idx, shift) = (bit / 8, bit % 8);
        let lo = ud.get(idx).copied().unwrap_or(0) >> shift;
        let hi = if shift > 1 {
            ud.get(idx + 1).copied().unwrap_or(0) << (8 - shift)
        } else {
            0
        };
        septets.push((lo | hi) & 0x7F);
    }
    Ok(septets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode_all(text: &str) -> Vec<u8> {
        let mut septets = Vec::new();
        for c in text.chars() {
            encode_char(c).unwrap().push_to(&mut septets);
        }
        septets
    }

    fn packed(text: &str) -> Vec<u8> {
        let mut ud = Vec::new();
        pack_into(&mut ud, 0, &encode_all(text));
        ud
    }

    /// Septet and packed-octet vectors published in python-gsmmodem's test
    /// suite (faucamp/python-gsmmodem, test/test_pdu.py, class TestGsm7).
    #[test]
    fn published_septet_vectors() {
        let vectors: [(&str, &[u8], &[u8]); 5] = [
            ("123", b"123", &[49, 217, 12]),
            (
                "Hello World!",
                b"Hello World!",
                &[200, 50, 155, 253, 6, 93, 223, 114, 54, 57, 4],
            ),
            (
                "[{abc}]~",
                &[
                    0x1B, 0x3C, 0x1B, 0x28, 0x61, 0x62, 0x63, 0x1B, 0x29, 0x1B, 0x3E, 0x1B, 0x3D,
                ],
                &[27, 222, 6, 21, 22, 143, 55, 169, 141, 111, 211, 3],
            ),
            (
                "{åΦΓΛΩΠΨΣΘ€}",
                &[27, 40, 15, 18, 19, 20, 21, 22, 23, 24, 25, 27, 101, 27, 41],
                &[27, 212, 67, 50, 161, 84, 44, 23, 76, 102, 83, 222, 164, 0],
            ),
            (
                "a[]{}€",
                &[97, 27, 60, 27, 62, 27, 40, 27, 41, 27, 101],
                &[225, 13, 111, 227, 219, 160, 54, 169, 77, 25],
            ),
        ];
        for (text, septets, octets) in vectors {
            assert_eq!(encode_all(text), septets, "{text}");
            assert_eq!(packed(text), octets, "{text}");
            assert_eq!(unpack(octets, 0, septets.len()).unwrap(), septets);
            assert_eq!(decode_septets(septets).unwrap(), text);
        }
    }

    #[test]
    fn every_code_round_trips() {
        for s in 0u8..0x80 {
            if s == ESCAPE {
                continue;
            }
            let c = basic_char(s);
            assert_eq!(encode_char(c), Some(Gsm7Char::Basic(s)), "{c:?}");
        }
        for (s, c) in EXTENSION {
            assert_eq!(encode_char(c), Some(Gsm7Char::Extension(s)));
            assert_eq!(decode_septets(&[ESCAPE, s]).unwrap(), c.to_string());
        }
        assert_eq!(encode_char('\u{1B}'), None);
        assert_eq!(encode_char('ç'), None);
        assert_eq!(encode_char('`'), None);
    }

    #[test]
    fn unknown_escapes_decode_leniently_but_lone_escape_fails() {
        assert_eq!(decode_septets(&[ESCAPE, 0x41]).unwrap(), "A");
        assert_eq!(decode_septets(&[ESCAPE, ESCAPE]).unwrap(), " ");
        assert!(decode_septets(&[0x41, ESCAPE]).is_err());
    }

    #[test]
    fn fill_bits_after_a_header() {
        // Six header octets take 48 bits; the text starts at septet 7 (bit 49).
        let mut ud = vec![0x05, 0x00, 0x03, 0x01, 0x02, 0x01];
        pack_into(&mut ud, 7, &encode_all("hi"));
        assert_eq!(ud.len(), (9 * 7usize).div_ceil(8));
        assert_eq!(&ud[..6], &[0x05, 0x00, 0x03, 0x01, 0x02, 0x01]);
        assert_eq!(unpack(&ud, 7, 2).unwrap(), encode_all("hi"));
        assert_eq!(ud[6] & 1, 0, "the fill bit stays zero");
        assert_eq!(unpack(&ud, 7, 3), Err(PduError::Truncated));
    }
}
