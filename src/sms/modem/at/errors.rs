//! `+CMS ERROR` / `+CME ERROR` codes: whether a failed send is worth another
//! try, and the verbose texts (`AT+CMEE=2`) mapped back to their codes.
//!
//! "Retryable" means: the message itself is fine, the network, the SIM or the
//! modem was not ready; the dispatcher may try again later (its own attempt
//! limit and the challenge expiry bound the retries). "Permanent" means the
//! same attempt will fail again: the PDU or the number is refused, or the
//! appliance needs an operator (SIM, PIN, SMSC address) before anything can
//! be sent. A permanent error fails the message at once, so the user sees
//! the failure and can ask for a new code instead of waiting on retries.

/// Whether a failed attempt is worth repeating later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorClass {
    /// Network, SIM or modem state: try again later.
    Retryable,
    /// This message will never go through as it is.
    Permanent,
}

use ErrorClass::{Permanent, Retryable};

/// Classifies a `+CMS ERROR: <err>` (3GPP TS 27.005 §3.2.5).
///
/// 0..=127 are RP-causes of TS 24.011 Annex E-2, 128..=255 TP-Failure-Causes
/// of TS 23.040 §9.2.3.22, 300..=500 are 27.005's own, 512.. are
/// manufacturer specific.
pub fn classify_cms(code: u16) -> ErrorClass {
    match code {
        // --- 24.011 E-2 RP-causes ---
        // 1 unassigned (unallocated) number, 8 operator determined barring,
        // 10 call barred: the recipient or this subscription is refused.
        1 | 8 | 10 => Permanent,
        // 17 network failure, 22 memory capacity exceeded (at the receiver,
        // freed once it reads its messages).
        17 | 22 => Retryable,
        // 21 short message transfer rejected, 27 destination out of service,
        // 28 unidentified subscriber, 29 facility rejected, 30 unknown
        // subscriber. 27 may heal, but not within a code's lifetime.
        21 | 27..=30 => Permanent,
        // 38 network out of order, 41 temporary failure, 42 congestion,
        // 47 resources unavailable, unspecified.
        38 | 41 | 42 | 47 => Retryable,
        // 50 requested facility not subscribed, 69 requested facility not
        // implemented: no SMS service on this SIM/network.
        50 | 69 => Permanent,
        // 81 invalid short message transfer reference value: a protocol hiccup,
        // the next attempt uses a new reference.
        81 => Retryable,
        // 95 semantically incorrect message, 96 invalid mandatory information,
        // 97 message type non-existent or not implemented, 99 information
        // element non-existent or not implemented: the PDU is refused.
        95..=97 | 99 => Permanent,
        // 98 message not compatible with short message protocol state,
        // 111 protocol error, unspecified, 127 interworking, unspecified.
        98 | 111 | 127 => Retryable,
        // Other RP-causes are unassigned: assume a transient network fault.
        0..=127 => Retryable,

        // --- 23.040 TP-Failure-Cause ---
        // 0x80..0x8F TP-PID errors (telematic interworking, SM type 0, cannot
        // replace), 0x90..0x9F TP-DCS errors (alphabet, class), 0xA0..0xAF
        // TP-Command errors, 0xB0 TPDU not supported: the PDU is refused.
        0x80..=0xBF => Permanent,
        // 0xC0 SC busy, 0xC2 SC system failure.
        0xC0 | 0xC2 => Retryable,
        // 0xC1 no SC subscription, 0xC3 invalid SME address, 0xC4 destination
        // SME barred, 0xC5 SM rejected - duplicate SM (the centre already has
        // it), 0xC6 TP-VPF not supported, 0xC7 TP-VP not supported, 0xC8..
        // reserved in the SC range.
        0xC1 | 0xC3..=0xCF => Permanent,
        // 0xD0 (U)SIM SMS storage full, 0xD1 no SMS storage capability in
        // (U)SIM, 0xD2 error in MS, 0xD3 memory capacity exceeded, 0xD4 (U)SIM
        // application toolkit busy, 0xD5 (U)SIM data download error: state of
        // the handset side, not of the message.
        0xD0..=0xDF => Retryable,
        // 0xE0..0xFE values specific to an application: unknown, refused.
        0xE0..=0xFE => Permanent,
        // 0xFF unspecified error cause.
        0xFF => Retryable,

        // Not assigned by 27.005 (Siemens used 256..263 for "operation
        // temporary not allowed", "phone busy", ...): transient.
        256..=299 => Retryable,

        // --- 27.005 §3.2.5 ---
        // 300 ME failure, 301 SMS service of ME reserved, 302 operation not
        // allowed (usually: SIM or network not ready yet).
        300..=302 => Retryable,
        // 303 operation not supported, 304 invalid PDU mode parameter,
        // 305 invalid text mode parameter.
        303..=305 => Permanent,
        // 310 (U)SIM not inserted, 311 (U)SIM PIN required, 312 PH-(U)SIM PIN
        // required, 313 (U)SIM failure: need an operator.
        310..=313 => Permanent,
        // 314 (U)SIM busy.
        314 => Retryable,
        // 315 (U)SIM wrong, 316 (U)SIM PUK required, 317 (U)SIM PIN2 required,
        // 318 (U)SIM PUK2 required.
        315..=318 => Permanent,
        // 320 memory failure, 322 memory full (the driver can delete stored
        // messages; AT+CMGS does not need storage).
        320 | 322 => Retryable,
        // 321 invalid memory index.
        321 => Permanent,
        // 330 SMSC address unknown: AT+CSCA is missing, no send can work.
        330 => Permanent,
        // 331 no network service, 332 network timeout.
        331 | 332 => Retryable,
        // 340 no +CNMA acknowledgement expected.
        340 => Retryable,
        // 500 unknown error: what many modems answer for a radio-level failure
        // they do not map; a later attempt often succeeds.
        500 => Retryable,
        // Reserved codes in 306..=511.
        306..=511 => Retryable,

        // 512..: manufacturer specific. Most documented ones describe a bad
        // input (Siemens/Cinterion 515 invalid character in address, 517
        // invalid character in PDU, 549 incorrect PDU length, ...); repeating
        // the same PDU repeats the error.
        512.. => Permanent,
    }
}

/// Classifies a `+CME ERROR: <err>` (3GPP TS 27.007 §9.2).
pub fn classify_cme(code: u16) -> ErrorClass {
    match code {
        // 0 phone failure, 1 no connection to phone, 2 phone-adaptor link
        // reserved, 3 operation not allowed (usually: not ready yet).
        0..=3 => Retryable,
        // 4 operation not supported.
        4 => Permanent,
        // 5 PH-SIM PIN required, 6 PH-FSIM PIN required, 7 PH-FSIM PUK
        // required, 10 SIM not inserted, 11 SIM PIN required, 12 SIM PUK
        // required, 13 SIM failure: need an operator.
        5..=7 | 10..=13 => Permanent,
        // 14 SIM busy.
        14 => Retryable,
        // 15 SIM wrong, 16 incorrect password, 17 SIM PIN2 required, 18 SIM
        // PUK2 required.
        15..=18 => Permanent,
        // 20 memory full, 23 memory failure.
        20 | 23 => Retryable,
        // 21 invalid index, 22 not found, 24 text string too long, 25 invalid
        // characters in text string, 26 dial string too long, 27 invalid
        // characters in dial string.
        21 | 22 | 24..=27 => Permanent,
        // 30 no network service, 31 network timeout, 32 network not allowed -
        // emergency calls only (may clear after a reselection).
        30..=32 => Retryable,
        // 40..47 network / network subset / service provider / corporate
        // personalisation PIN or PUK required, 48 hidden key required, 49 EAP
        // method not supported, 50 incorrect parameters.
        40..=50 => Permanent,
        // 100 unknown.
        100 => Retryable,
        // 103 illegal MS (#3), 106 illegal ME (#6), 107 GPRS services not
        // allowed (#7): the network refuses this device.
        103 | 106 | 107 => Permanent,
        // 111 PLMN not allowed (#11), 112 location area not allowed (#12),
        // 113 roaming not allowed in this location area (#13): tied to where
        // the modem camps, may change.
        111..=113 => Retryable,
        // 132 service option not supported (#32), 133 requested service
        // option not subscribed (#33).
        132 | 133 => Permanent,
        // 134 service option temporarily out of order (#34), 148 unspecified
        // GPRS error.
        134 | 148 => Retryable,
        // 149 PDP authentication failure, 150 invalid mobile class.
        149 | 150 => Permanent,
        // 515: "please wait, init or command processing in progress"
        // (u-blox, SIMCom and others).
        515 => Retryable,
        // Everything else (reserved or vendor specific): CME errors describe
        // the state of the ME, not the message, so assume it passes.
        _ => Retryable,
    }
}

/// 27.007 §9.2 verbose texts (and common variants) with their codes.
const CME_TEXTS: &[(u16, &str)] = &[
    (0, "phone failure"),
    (1, "no connection to phone"),
    (2, "phone-adaptor link reserved"),
    (3, "operation not allowed"),
    (4, "operation not supported"),
    (5, "PH-SIM PIN required"),
    (6, "PH-FSIM PIN required"),
    (7, "PH-FSIM PUK required"),
    (10, "SIM not inserted"),
    (11, "SIM PIN required"),
    (12, "SIM PUK required"),
    (13, "SIM failure"),
    (14, "SIM busy"),
    (15, "SIM wrong"),
    (16, "incorrect password"),
    (17, "SIM PIN2 required"),
    (18, "SIM PUK2 required"),
    (20, "memory full"),
    (21, "invalid index"),
    (22, "not found"),
    (23, "memory failure"),
    (24, "text string too long"),
    (25, "invalid characters in text string"),
    (26, "dial string too long"),
    (27, "invalid characters in dial string"),
    (30, "no network service"),
    (31, "network timeout"),
    (32, "network not allowed - emergency calls only"),
    (40, "network personalization PIN required"),
    (41, "network personalization PUK required"),
    (42, "network subset personalization PIN required"),
    (43, "network subset personalization PUK required"),
    (44, "service provider personalization PIN required"),
    (45, "service provider personalization PUK required"),
    (46, "corporate personalization PIN required"),
    (47, "corporate personalization PUK required"),
    (48, "hidden key required"),
    (49, "EAP method not supported"),
    (50, "incorrect parameters"),
    (100, "unknown"),
    (100, "unknown error"),
    (103, "illegal MS"),
    (106, "illegal ME"),
    (107, "GPRS services not allowed"),
    (111, "PLMN not allowed"),
    (112, "location area not allowed"),
    (113, "roaming not allowed in this location area"),
    (132, "service option not supported"),
    (133, "requested service option not subscribed"),
    (134, "service option temporarily out of order"),
    (148, "unspecified GPRS error"),
    (149, "PDP authentication failure"),
    (150, "invalid mobile class"),
];

/// 27.005 §3.2.5 verbose texts with their codes. `(U)` is dropped when
/// comparing, so "(U)SIM PIN required" and "SIM PIN required" both match.
const CMS_TEXTS: &[(u16, &str)] = &[
    (300, "ME failure"),
    (301, "SMS service of ME reserved"),
    (302, "operation not allowed"),
    (303, "operation not supported"),
    (304, "invalid PDU mode parameter"),
    (305, "invalid text mode parameter"),
    (310, "SIM not inserted"),
    (311, "SIM PIN required"),
    (312, "PH-SIM PIN required"),
    (313, "SIM failure"),
    (314, "SIM busy"),
    (315, "SIM wrong"),
    (316, "SIM PUK required"),
    (317, "SIM PIN2 required"),
    (318, "SIM PUK2 required"),
    (320, "memory failure"),
    (321, "invalid memory index"),
    (322, "memory full"),
    (330, "SMSC address unknown"),
    (331, "no network service"),
    (332, "network timeout"),
    (340, "no +CNMA acknowledgement expected"),
    (500, "unknown error"),
];

/// Lower case, `(U)` and a `U` before `SIM` dropped, every run of
/// punctuation or blanks one space: "PH-(U)SIM PIN required." and
/// "ph sim pin required" compare equal.
fn normalize(text: &str) -> String {
    let lower = text.to_ascii_lowercase().replace("(u)", "");
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| if w == "usim" { "sim" } else { w })
        .collect();
    words.join(" ")
}

fn lookup(table: &[(u16, &str)], text: &str) -> Option<u16> {
    let wanted = normalize(text);
    if wanted.is_empty() {
        return None;
    }
    table
        .iter()
        .find(|(_, t)| normalize(t) == wanted)
        .map(|(code, _)| *code)
}

/// The code of a verbose `+CME ERROR: <text>` (`AT+CMEE=2`), if standard.
pub fn cme_code_from_text(text: &str) -> Option<u16> {
    lookup(CME_TEXTS, text)
}

/// The code of a verbose `+CMS ERROR: <text>`, if standard.
pub fn cms_code_from_text(text: &str) -> Option<u16> {
    lookup(CMS_TEXTS, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cms_classes() {
        let retryable = [
            17, 22, 38, 41, 42, 47, 81, 98, 111, 127, 0, 2, 0xC0, 0xC2, 0xD0, 0xD4, 0xFF, 256, 300,
            301, 302, 314, 320, 322, 331, 332, 340, 500, 306, 511,
        ];
        let permanent = [
            1,
            8,
            10,
            21,
            27,
            28,
            29,
            30,
            50,
            69,
            95,
            96,
            97,
            99,
            0x80,
            0x90,
            0xB0,
            0xC1,
            0xC3,
            0xC5,
            0xC7,
            0xE0,
            303,
            304,
            305,
            310,
            311,
            312,
            313,
            315,
            316,
            317,
            318,
            321,
            330,
            512,
            515,
            517,
            549,
            u16::MAX,
        ];
        for code in retryable {
            assert_eq!(classify_cms(code), Retryable, "CMS {code}");
        }
        for code in permanent {
            assert_eq!(classify_cms(code), Permanent, "CMS {code}");
        }
    }

    #[test]
    fn cme_classes() {
        let retryable = [
            0, 1, 2, 3, 14, 20, 23, 30, 31, 32, 100, 111, 112, 113, 134, 148, 515, 9, 600,
        ];
        let permanent = [
            4, 5, 6, 7, 10, 11, 12, 13, 15, 16, 17, 18, 21, 22, 24, 25, 26, 27, 40, 47, 48, 50,
            103, 106, 107, 132, 133, 149, 150,
        ];
        for code in retryable {
            assert_eq!(classify_cme(code), Retryable, "CME {code}");
        }
        for code in permanent {
            assert_eq!(classify_cme(code), Permanent, "CME {code}");
        }
    }

    #[test]
    fn verbose_texts() {
        let cme = [
            ("SIM PIN required", Some(11)),
            ("sim pin required", Some(11)),
            ("SIM not inserted", Some(10)),
            ("  incorrect password ", Some(16)),
            ("Network not allowed - emergency calls only.", Some(32)),
            ("network not allowed, emergency calls only", Some(32)),
            ("PH-SIM PIN required", Some(5)),
            ("unknown", Some(100)),
            ("Unknown error", Some(100)),
            ("USIM PUK required", Some(12)),
            ("something odd", None),
            ("", None),
            ("---", None),
        ];
        for (text, want) in cme {
            assert_eq!(cme_code_from_text(text), want, "CME {text:?}");
        }
        let cms = [
            ("invalid PDU mode parameter", Some(304)),
            ("(U)SIM PIN required", Some(311)),
            ("PH-(U)SIM PIN required", Some(312)),
            ("SMSC address unknown", Some(330)),
            ("no +CNMA acknowledgement expected", Some(340)),
            ("unknown error", Some(500)),
            ("operation not allowed", Some(302)),
            ("phone failure", None),
        ];
        for (text, want) in cms {
            assert_eq!(cms_code_from_text(text), want, "CMS {text:?}");
        }
    }

    #[test]
    fn every_table_text_maps_to_its_own_code() {
        for (code, text) in CME_TEXTS {
            assert_eq!(cme_code_from_text(text), Some(*code), "CME {text:?}");
        }
        for (code, text) in CMS_TEXTS {
            assert_eq!(cms_code_from_text(text), Some(*code), "CMS {text:?}");
        }
    }
}
