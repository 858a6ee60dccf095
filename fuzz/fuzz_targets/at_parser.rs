//! Fuzzes the AT reply parser (`flexsecure::sms::modem::at`) with untrusted
//! modem bytes, read in chunks whose sizes come from the input itself.
//!
//! Input layout:
//! - byte 0: low 3 bits pick a pending command from [`COMMANDS`], bits 3..=5
//!   say how many chunk-size bytes follow (1 to 8);
//! - the chunk-size bytes;
//! - the rest: the bytes the "modem" sends.
//!
//! Each input runs through three parsers:
//! 1. idle (no pending command), fed whole and fed in chunks;
//! 2. with the chosen command pending, fed whole and fed in chunks;
//! 3. a driver-like run where every chunk-size byte may also set or clear
//!    the pending command or reset the parser before its chunk.
//!
//! Asserted (from the module docs and its property tests):
//! - every string in an item is trimmed and non-empty, `Text`/`Echo` are one
//!   line without control bytes, lengths are bounded by `MAX_LINE`;
//! - PDU-mode `+CMT`/`+CDS` carry non-empty hex, `^` URCs start with `^`;
//! - items do not depend on how reads split the bytes, except for a bare
//!   `>` at the end of a read (such chunkings are not compared);
//! - with a command pending that does not prompt, there is never a
//!   `Prompt`, every `Echo` starts with `AT`, and `truncated_lines` counts
//!   exactly the lines longer than `MAX_LINE`;
//! - `Text` is never a final result code nor a command echo;
//! - whatever came before, `\r\nOK\r\n` ends with `Final(Ok)` (a lost PDU
//!   never swallows the reply), and after `reset` `OK\r\n` is just that;
//! - the reply helpers (`parse_csq`, `parse_creg_reply`, `parse_cpin`,
//!   `parse_cmgs`, `parse_cops`, the error-text lookups) run on every `Text`
//!   line and their results stay in their documented ranges.

#![no_main]

use flexsecure::sms::modem::at::{
    classify_cme, classify_cms, cme_code_from_text, cms_code_from_text, is_registered, parse_cmgs,
    parse_cops, parse_cpin, parse_creg_reply, parse_csq, Final, Item, Parser, SimState, Urc,
    MAX_LINE,
};
use libfuzzer_sys::fuzz_target;

/// Pending commands to choose from; only the first one prompts (`> `).
const COMMANDS: &[&str] = &[
    "AT+CMGS=23",
    "AT+CREG?",
    "AT+CPIN?",
    "AT+CSQ",
    "AT+CMEE=1;+CGREG?;+CEREG?",
    "AT+COPS?",
    "AT^SYSINFO",
    "ATI",
];

/// Whether `COMMANDS[i]` answers with the SMS prompt.
fn prompts(i: usize) -> bool {
    i == 0
}

/// Final result codes as whole lines (V.250, vendor spellings).
const FINAL_LINES: &[&str] = &[
    "OK",
    "ERROR",
    "COMMAND NOT SUPPORT",
    "TOO MANY PARAMETERS",
    "NO CARRIER",
    "NO ANSWER",
    "NO DIALTONE",
    "NO DIAL TONE",
    "BUSY",
];

/// Prefixes of final result codes (matched ASCII case-insensitively).
const FINAL_PREFIXES: &[&str] = &["+CME ERROR:", "+CMS ERROR:", "MODEM ERROR:"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let cmd_index = usize::from(selector & 0x07);
    let n_sizes = usize::from((selector >> 3) & 0x07) + 1;
    let (sizes, payload) = rest.split_at(n_sizes.min(rest.len()));
    let sizes = if sizes.is_empty() { &[1u8][..] } else { sizes };

    // 1. Idle parser.
    run_whole_and_chunked(None, payload, sizes);
    // 2. The chosen command pending.
    run_whole_and_chunked(Some(cmd_index), payload, sizes);
    // 3. Pending command switched (and parser reset) between reads.
    run_driver_like(cmd_index, payload, sizes);
});

/// Bytes the parser drops without a trace (control bytes but CR, LF, TAB).
fn dropped(b: u8) -> bool {
    matches!(b, 0x00..=0x1F | 0x7F) && !matches!(b, b'\r' | b'\n' | b'\t')
}

/// Chunk sizes from the size bytes, cycled; a 0 is an empty read (kept, as
/// `read` can return nothing), unless all are 0.
fn chunk_ends(len: usize, sizes: &[usize]) -> Vec<(usize, usize)> {
    let all_zero = sizes.iter().all(|&s| s == 0);
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while start < len {
        let mut size = sizes[i % sizes.len()];
        if all_zero {
            size = 1;
        }
        let end = (start + size).min(len);
        out.push((start, end));
        start = end;
        i += 1;
    }
    out
}

/// Whether a read ending at `end` may end with a bare `>` (the documented
/// exception to chunking independence): its last kept byte is `>`.
fn bare_gt_at(payload: &[u8], end: usize) -> bool {
    payload[..end]
        .iter()
        .rev()
        .find(|&&b| !dropped(b))
        .is_some_and(|&b| b == b'>')
}

/// Lines (ended by CR or LF) that keep more than `MAX_LINE` bytes, i.e. the
/// lines a parser without prompts truncates.
fn long_lines(bytes: &[u8]) -> u64 {
    let mut count = 0;
    let mut kept = 0usize;
    for &b in bytes {
        match b {
            b'\r' | b'\n' => {
                if kept > MAX_LINE {
                    count += 1;
                }
                kept = 0;
            }
            _ if dropped(b) => {}
            _ => kept += 1,
        }
    }
    count
}

fn new_parser(pending: Option<usize>) -> Parser {
    let mut p = Parser::new();
    p.set_pending(pending.map(|i| COMMANDS[i]));
    p
}

const TAIL: &[u8] = b"\r\nOK\r\n";

fn run_whole_and_chunked(pending: Option<usize>, payload: &[u8], size_bytes: &[u8]) {
    let no_prompt = pending.is_some_and(|i| !prompts(i));
    let sizes: Vec<usize> = size_bytes.iter().map(|&s| usize::from(s)).collect();

    let mut whole_parser = new_parser(pending);
    let whole = whole_parser.push(payload);
    check_items(&whole, no_prompt);

    let mut chunked_parser = new_parser(pending);
    let mut chunked = Vec::new();
    let mut risky = false;
    let ends = chunk_ends(payload.len(), &sizes);
    for &(start, end) in &ends {
        let items = chunked_parser.push(&payload[start..end]);
        check_items(&items, no_prompt);
        chunked.extend(items);
        if end < payload.len() && bare_gt_at(payload, end) {
            risky = true;
        }
    }
    // Without a prompting command, `>` is plain text: no exception at all.
    if no_prompt || !risky {
        assert_eq!(
            whole, chunked,
            "items depend on the chunking (pending {pending:?}, chunks {ends:?})"
        );
    }

    for p in [&mut whole_parser, &mut chunked_parser] {
        let tail = p.push(TAIL);
        check_items(&tail, no_prompt);
        assert_eq!(
            tail.last(),
            Some(&Item::Final(Final::Ok)),
            "\\r\\nOK\\r\\n did not end with Final(Ok): {tail:?}"
        );
    }
    if no_prompt {
        let mut all = payload.to_vec();
        all.extend_from_slice(TAIL);
        let want = long_lines(&all);
        assert_eq!(whole_parser.truncated_lines(), want, "truncated_lines (whole)");
        assert_eq!(chunked_parser.truncated_lines(), want, "truncated_lines (chunked)");
    }
}

fn run_driver_like(cmd_index: usize, payload: &[u8], size_bytes: &[u8]) {
    let mut p = new_parser(Some(cmd_index));
    let sizes: Vec<usize> = size_bytes.iter().map(|&s| usize::from(s & 0x3F)).collect();
    let ends = chunk_ends(payload.len(), &sizes);
    let mut truncated = 0;
    for (i, &(start, end)) in ends.iter().enumerate() {
        let control = size_bytes[i % size_bytes.len()];
        match control >> 6 {
            0b11 => p.reset(),
            0b10 => p.set_pending(Some(COMMANDS[usize::from(control) & 0x07])),
            0b01 => p.set_pending(None),
            _ => {}
        }
        assert!(p.truncated_lines() >= truncated, "truncated_lines went down");
        truncated = p.truncated_lines();
        let items = p.push(&payload[start..end]);
        check_items(&items, false);
    }
    let tail = p.push(TAIL);
    check_items(&tail, false);
    assert_eq!(
        tail.last(),
        Some(&Item::Final(Final::Ok)),
        "\\r\\nOK\\r\\n did not end with Final(Ok): {tail:?}"
    );
    let before = p.truncated_lines();
    p.reset();
    assert_eq!(p.truncated_lines(), before, "reset forgot truncated_lines");
    p.set_pending(Some(COMMANDS[cmd_index]));
    assert_eq!(p.push(b"OK\r\n"), vec![Item::Final(Final::Ok)]);
}

/// A string from one line: trimmed, non-empty, no CR/LF nor dropped bytes.
fn check_line(s: &str, what: &str, item: &Item) {
    assert!(!s.is_empty(), "empty {what} in {item:?}");
    assert_eq!(s.trim(), s, "{what} not trimmed in {item:?}");
    assert!(
        !s.bytes().any(|b| b == b'\r' || b == b'\n' || dropped(b)),
        "{what} holds a line end or control byte: {item:?}"
    );
    // Lossy decoding turns one invalid byte into three (U+FFFD).
    assert!(s.len() <= 3 * MAX_LINE, "{what} longer than a line can be");
}

fn check_items(items: &[Item], no_prompt: bool) {
    for item in items {
        match item {
            Item::Prompt => assert!(
                !no_prompt,
                "Prompt while a command that does not prompt is pending"
            ),
            Item::Echo(s) => {
                check_line(s, "echo", item);
                if no_prompt {
                    assert!(starts_with_ci(s, "AT"), "echo not starting with AT: {item:?}");
                }
            }
            Item::Text(s) => {
                check_line(s, "text", item);
                assert!(!starts_with_ci(s, "AT"), "command echo as text: {item:?}");
                assert!(!FINAL_LINES.contains(&s.as_str()), "final result as text: {item:?}");
                assert!(
                    !FINAL_PREFIXES.iter().any(|p| starts_with_ci(s, p)),
                    "final result as text: {item:?}"
                );
                check_reply_helpers(s);
            }
            Item::Final(f) => {
                assert_eq!(f.classify().is_none(), f.is_ok(), "{f:?}");
                if let Final::CmeErrorText(s) | Final::CmsErrorText(s) = f {
                    check_line(s, "error text", item);
                }
            }
            Item::Urc(urc) => match urc {
                Urc::Ring
                | Urc::Creg { .. }
                | Urc::Cereg { .. }
                | Urc::Cgreg { .. } => {}
                Urc::Cmti { mem, .. } | Urc::Cdsi { mem, .. } => {
                    // The parser's own property tests hold `mem` to the same
                    // rule as every other string: trimmed and non-empty.
                    assert!(!mem.is_empty(), "empty mem in {item:?}");
                    assert_eq!(mem.trim(), mem.as_str(), "mem not trimmed in {item:?}");
                }
                Urc::Cmt { pdu } | Urc::Cds { pdu } => {
                    check_line(pdu, "pdu", item);
                    assert!(
                        pdu.bytes().all(|b| b.is_ascii_hexdigit()),
                        "PDU not hex: {item:?}"
                    );
                }
                Urc::Huawei(s) => {
                    check_line(s, "^ URC", item);
                    assert!(s.starts_with('^'), "{item:?}");
                }
                Urc::Other(s) => {
                    // Two-line URCs are `header\nbody`, each part one line.
                    assert!(s.matches('\n').count() <= 1, "more than two lines: {item:?}");
                    for part in s.split('\n') {
                        check_line(part, "URC line", item);
                    }
                }
            },
        }
    }
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.as_bytes()
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Runs every reply reader on a `Text` line and checks the documented
/// ranges of what they return.
fn check_reply_helpers(s: &str) {
    let t = s.trim();
    if let Some((rssi, ber)) = parse_csq(s) {
        assert!(starts_with_ci(t, "+CSQ:"), "{s:?}");
        assert!(
            rssi <= 31 || rssi == 99 || (100..=191).contains(&rssi),
            "rssi {rssi} from {s:?}"
        );
        assert!(ber <= 7 || ber == 99, "ber {ber} from {s:?}");
    }
    if let Some(stat) = parse_creg_reply(s) {
        assert!(
            ["+CREG:", "+CGREG:", "+CEREG:", "+C5GREG:"]
                .iter()
                .any(|p| starts_with_ci(t, p)),
            "{s:?}"
        );
        let _ = is_registered(stat);
    }
    match parse_cpin(s) {
        Some(SimState::Other(code)) => {
            assert!(!code.is_empty(), "empty SIM state from {s:?}");
            let upper = code.to_ascii_uppercase();
            assert!(
                !["READY", "SIM PIN", "SIM PUK"].contains(&upper.as_str()),
                "{code:?} should have been a known state"
            );
        }
        Some(_) | None => {}
    }
    if parse_cpin(s).is_some() {
        assert!(starts_with_ci(t, "+CPIN:"), "{s:?}");
    }
    if parse_cmgs(s).is_some() {
        assert!(starts_with_ci(t, "+CMGS:"), "{s:?}");
    }
    if let Some(name) = parse_cops(s) {
        assert!(!name.is_empty(), "empty operator from {s:?}");
        assert_eq!(name.trim(), name, "operator not trimmed from {s:?}");
    }
    if let Some(code) = cme_code_from_text(s) {
        let _ = classify_cme(code);
    }
    if let Some(code) = cms_code_from_text(s) {
        let _ = classify_cms(code);
    }
}
