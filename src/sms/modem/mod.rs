//! GSM modems on serial ports, driven with AT commands in PDU mode.
//!
//! `at` parses the byte stream into replies and unsolicited result codes;
//! `pdu` encodes and decodes SMS TPDUs. Both are pure and fuzzed.

pub mod at;
pub mod pdu;
