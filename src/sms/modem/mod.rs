//! GSM modems on serial ports, driven with AT commands in PDU mode.
//!
//! `at` parses the byte stream into replies and unsolicited result codes;
//! `pdu` encodes and decodes SMS TPDUs. Both are pure and fuzzed.
//! `driver` runs one modem on its own thread; `pool` spreads messages over
//! the healthy ones.

pub mod at;
pub mod driver;
pub mod pdu;
pub mod pool;
