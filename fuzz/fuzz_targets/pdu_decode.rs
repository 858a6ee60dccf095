//! Fuzzes the SMS PDU codec (`flexsecure::sms::modem::pdu`).
//!
//! - The input as a string (lossy UTF-8) and as hex (lower and upper case)
//!   goes to `decode_submit`, `decode_status_report` and
//!   `decode_status_report_tpdu`: the module promises they return a
//!   `PduError` rather than panic on any input.
//! - When the input is valid UTF-8, it is a text: `encode_submit` to
//!   "+41790000000" must succeed (unless it needs more than 255 parts), and
//!   decoding every part and joining them in sequence order must give the
//!   text back (the round-trip property), with consistent headers.

#![no_main]

use flexsecure::sms::modem::pdu::{
    choose_coding, decode_status_report, decode_status_report_tpdu, decode_submit, encode_submit,
    part_count, PduError, StatusReport, SubmitOptions,
};
use libfuzzer_sys::fuzz_target;

const TO: &str = "+41790000000";
const SMSC: &str = "+41794999000";

fuzz_target!(|data: &[u8]| {
    let lossy = String::from_utf8_lossy(data);
    decode_all(&lossy);
    let lower = to_hex(data, b"0123456789abcdef");
    decode_all(&lower);
    let upper = to_hex(data, b"0123456789ABCDEF");
    decode_all(&upper);
    // Both cases of the same bytes are the same PDU.
    assert_eq!(decode_submit(&lower), decode_submit(&upper));
    assert_eq!(decode_status_report(&lower), decode_status_report(&upper));

    if let Ok(text) = std::str::from_utf8(data) {
        round_trip(text);
    }
});

fn to_hex(bytes: &[u8], digits: &[u8; 16]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        s.push(char::from(digits[usize::from(b >> 4)]));
        s.push(char::from(digits[usize::from(b & 0x0F)]));
    }
    s
}

fn decode_all(hex: &str) {
    if let Ok(submit) = decode_submit(hex) {
        if let Some((_, total, seq)) = submit.concat {
            // Nothing promised about the values; just touch them.
            let _ = (total, seq);
        }
    }
    for report in [decode_status_report(hex), decode_status_report_tpdu(hex)]
        .into_iter()
        .flatten()
    {
        check_report(&report);
    }
}

fn check_report(r: &StatusReport) {
    assert_eq!(r.delivered(), r.status <= 0x1F, "{r:?}");
    assert_eq!(r.is_final(), !(0x20..=0x3F).contains(&r.status), "{r:?}");
}

/// Options varied by the text's length, so the round trip covers them all
/// while the whole input stays the text.
fn options(text: &str) -> SubmitOptions {
    let n = text.len();
    SubmitOptions {
        status_report: n & 1 != 0,
        validity_minutes: (n & 2 != 0).then(|| u32::try_from(n).unwrap_or(u32::MAX) * 97),
        smsc: (n & 4 != 0).then(|| SMSC.to_owned()),
        concat_ref: (n % 251) as u8,
    }
}

fn round_trip(text: &str) {
    let opts = options(text);
    let expected_parts = part_count(text);
    let pdus = match encode_submit(TO, text, &opts) {
        Ok(pdus) => pdus,
        Err(PduError::TooLong { parts }) => {
            assert!(expected_parts > 255, "TooLong for {expected_parts} parts");
            assert_eq!(parts, expected_parts);
            return;
        }
        Err(e) => panic!("encode_submit failed on a valid text: {e}"),
    };
    assert_eq!(pdus.len(), expected_parts, "part_count disagrees with encode_submit");
    assert!(!pdus.is_empty(), "no part at all");
    let total = pdus.len();
    let coding = choose_coding(text);

    // SMSC field: 00, or 07 91 and 6 octets for +41794999000.
    let smsc_len = if opts.smsc.is_some() { 8 } else { 1 };
    // First octet, TP-MR, TP-DA (11 digits: 2 + 6), TP-PID, TP-DCS,
    // TP-VP when set, TP-UDL.
    let tpdu_header = 2 + 8 + 2 + usize::from(opts.validity_minutes.is_some()) + 1;

    let mut parts = Vec::with_capacity(total);
    for pdu in &pdus {
        assert!(
            pdu.hex.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)),
            "hex not upper case: {}",
            pdu.hex
        );
        assert_eq!(pdu.hex.len() % 2, 0);
        assert_eq!(pdu.tpdu_len, pdu.hex.len() / 2 - smsc_len, "tpdu_len");
        let ud_len = pdu.tpdu_len.checked_sub(tpdu_header).expect("TPDU shorter than its header");
        assert!(ud_len <= 140, "user data of {ud_len} octets");

        let decoded = match decode_submit(&pdu.hex) {
            Ok(d) => d,
            Err(e) => panic!("decode_submit failed on our own PDU {}: {e}", pdu.hex),
        };
        assert_eq!(decoded.to, TO);
        assert_eq!(decoded.coding, coding);
        assert_eq!(decoded.status_report, opts.status_report);
        // A submit is not a status report, whatever the decoder makes of it.
        assert!(decode_status_report(&pdu.hex).is_err());
        parts.push(decoded);
    }
    if total > 1 {
        for (i, part) in parts.iter().enumerate() {
            let want = (opts.concat_ref, total as u8, (i + 1) as u8);
            assert_eq!(part.concat, Some(want), "concatenation header of part {}", i + 1);
        }
    } else {
        assert_eq!(parts[0].concat, None, "single part with a concatenation header");
    }
    parts.sort_by_key(|p| p.concat.map(|(_, _, seq)| seq));
    let joined: String = parts.into_iter().map(|p| p.text).collect();
    assert_eq!(joined, text, "round trip changed the text");
}
