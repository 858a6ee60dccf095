//! What one complete line from the modem is: a final result code, the echo
//! of a command, an information response (text) or an unsolicited result
//! code. Lines arrive here trimmed and non-empty.

use super::errors::{cme_code_from_text, cms_code_from_text};
use super::replies::{after_prefix, fields, number};
use super::{Final, Item, Urc};

/// Extended commands that answer with the `> ` prompt (27.005 §3.5.1,
/// §3.5.3, §3.5.5, §3.4.4 with a length; Huawei's CDMA `^HCMGS`/`^HCMGW`).
const PROMPT_COMMANDS: &[&str] = &["+CMGS", "+CMGW", "+CMGC", "+CNMA", "^HCMGS", "^HCMGW"];

/// The command line in flight, reduced to what classification needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Pending {
    /// Names of the extended commands on the line, upper case: `AT+CREG?`
    /// gives `+CREG`, `AT+CMEE=1;^SYSINFO` gives `+CMEE` and `^SYSINFO`.
    names: Vec<String>,
    /// Whether one of them answers with the SMS prompt.
    pub prompt: bool,
}

impl Pending {
    pub fn new(cmd: &str) -> Self {
        let t = cmd.trim();
        let body = after_prefix(t, "AT").unwrap_or(t);
        let names: Vec<String> = split_commands(body)
            .into_iter()
            .filter_map(command_name)
            .collect();
        let prompt = names.iter().any(|n| PROMPT_COMMANDS.contains(&n.as_str()));
        Self { names, prompt }
    }

    /// Whether `line` is an information response of this command line:
    /// `+CREG: 0,1` while `AT+CREG?` runs.
    pub fn answers(&self, line: &str) -> bool {
        let b = line.as_bytes();
        self.names.iter().any(|n| {
            b.get(..n.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(n.as_bytes()))
                && b.get(n.len()) == Some(&b':')
        })
    }
}

/// `+CMEE=1;+CREG?` → `["+CMEE=1", "+CREG?"]`; `;` inside quotes does not split.
fn split_commands(body: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (i, c) in body.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ';' if !in_quotes => {
                out.push(&body[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&body[start..]);
    out
}

/// `+CREG?` → `+CREG`; `^SYSINFO` → `^SYSINFO`; basic commands (`E0`,
/// `&F`, `Z`) have no name.
fn command_name(segment: &str) -> Option<String> {
    let s = segment.trim();
    let mut chars = s.chars();
    let lead = chars.next().filter(|c| "+^$*#%!_".contains(*c))?;
    let tail: String = chars.take_while(char::is_ascii_alphanumeric).collect();
    if tail.is_empty() {
        return None;
    }
    let mut name = String::with_capacity(1 + tail.len());
    name.push(lead);
    name.push_str(&tail.to_ascii_uppercase());
    Some(name)
}

/// The classification of one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Line {
    Item(Item),
    /// The header of a two-line URC; the next line completes it.
    Header(TwoLine),
}

/// Classifies one trimmed, non-empty line.
///
/// Order: final result codes (they end the command whatever else runs),
/// command echo, information responses of the pending command, URCs, and
/// everything else is text.
pub(super) fn classify(line: &str, pending: Option<&Pending>) -> Line {
    if let Some(f) = final_result(line) {
        return Line::Item(Item::Final(f));
    }
    if is_echo(line) {
        return Line::Item(Item::Echo(line.to_owned()));
    }
    if pending.is_some_and(|p| p.answers(line)) {
        return Line::Item(Item::Text(line.to_owned()));
    }
    urc(line).unwrap_or_else(|| Line::Item(Item::Text(line.to_owned())))
}

fn is_echo(line: &str) -> bool {
    line.as_bytes()
        .get(..2)
        .is_some_and(|p| p.eq_ignore_ascii_case(b"AT"))
}

/// Final result codes (V.250 §5.7, 27.007 §9.2, 27.005 §3.2.5) and the
/// vendor spellings that end a command the same way: Huawei's
/// `COMMAND NOT SUPPORT` and `TOO MANY PARAMETERS`, Motorola's
/// `MODEM ERROR: <n>`.
pub(super) fn final_result(line: &str) -> Option<Final> {
    let f = match line {
        "OK" => Final::Ok,
        "ERROR" | "COMMAND NOT SUPPORT" | "TOO MANY PARAMETERS" => Final::Error,
        "NO CARRIER" => Final::NoCarrier,
        "NO ANSWER" => Final::NoAnswer,
        "NO DIALTONE" | "NO DIAL TONE" => Final::NoDialtone,
        "BUSY" => Final::Busy,
        _ => {
            if let Some(rest) = after_prefix(line, "+CME ERROR:") {
                return Some(coded(
                    rest,
                    cme_code_from_text,
                    Final::CmeError,
                    Final::CmeErrorText,
                ));
            }
            if let Some(rest) = after_prefix(line, "+CMS ERROR:") {
                return Some(coded(
                    rest,
                    cms_code_from_text,
                    Final::CmsError,
                    Final::CmsErrorText,
                ));
            }
            return after_prefix(line, "MODEM ERROR:").map(|_| Final::Error);
        }
    };
    Some(f)
}

/// `10` → code; `SIM PIN required` → its code when standard, else the text;
/// nothing after the colon → plain `Error`.
fn coded(
    rest: &str,
    from_text: fn(&str) -> Option<u16>,
    code: fn(u16) -> Final,
    text: fn(String) -> Final,
) -> Final {
    let rest = rest.trim();
    if rest.is_empty() {
        return Final::Error;
    }
    if rest.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(n) = rest.parse::<u16>() {
            return code(n);
        }
    }
    match from_text(rest) {
        Some(n) => code(n),
        None => text(rest.to_owned()),
    }
}

/// Lines that are always unsolicited, matched whole.
const URC_LINES: &[&str] = &[
    // Quectel / SIMCom boot and power reports.
    "RDY",
    "SMS Ready",
    "Call Ready",
    "PB DONE",
    "SMS DONE",
    "APP RDY",
    "+PBREADY",
    "NORMAL POWER DOWN",
    "POWERED DOWN",
    "UNDER-VOLTAGE POWER DOWN",
    "UNDER-VOLTAGE WARNNING",
    "OVER-VOLTAGE POWER DOWN",
    "OVER-VOLTAGE WARNNING",
];

/// Prefixes of unsolicited lines reported as `Urc::Other` (unless they
/// answer the pending command, e.g. `+CPIN:` during `AT+CPIN?`).
const URC_PREFIXES: &[&str] = &[
    "+CUSD:",   // USSD reply / network-initiated USSD (27.007 §7.15)
    "+CIEV:",   // indicator event (27.007 §8.10)
    "+CLIP:",   // calling line identity of an incoming call
    "+CRING:",  // extended ring
    "+CCWA:",   // call waiting
    "+CSSI:",   // supplementary service notification (MO)
    "+CSSU:",   // supplementary service notification (MT)
    "+CGEV:",   // packet domain event
    "+CTZV:",   // network time zone
    "+CTZE:",   // network time zone and DST
    "+CTZEU:",  // network time zone, DST and UTC time
    "+CSCON:",  // signalling connection status
    "+C5GREG:", // 5GS registration
    "+CPIN:",   // SIM state after boot or SIM swap (Quectel, SIMCom)
    "+CFUN:",   // functionality level after boot (Quectel)
    "+QIND:",   // Quectel indications
    "+QUSIM:",  // Quectel USIM/SIM indication
    "+CUSATP:", // USAT proactive command
    "+STIN:",   // SIMCom SIM toolkit
    "+ZUSIMR:", // ZTE/ONDA SIM state
    "*PSUTTZ:", // SIMCom network time
    "DST:",     // SIMCom daylight saving
    "+NITZ:",   // network time
];

fn urc(line: &str) -> Option<Line> {
    let done = |u: Urc| Some(Line::Item(Item::Urc(u)));
    let other = || Urc::Other(line.to_owned());
    if line == "RING" {
        return done(Urc::Ring);
    }
    // Huawei's ^RSSI, ^BOOT, ^MODE, ^HCSQ, ... (and Cinterion's ^SYSSTART).
    if line.starts_with('^') {
        return done(Urc::Huawei(line.to_owned()));
    }
    if let Some(rest) = after_prefix(line, "+CMTI:") {
        return done(stored(rest).map_or_else(other, |(mem, index)| Urc::Cmti { mem, index }));
    }
    if let Some(rest) = after_prefix(line, "+CDSI:") {
        return done(stored(rest).map_or_else(other, |(mem, index)| Urc::Cdsi { mem, index }));
    }
    if let Some(rest) = after_prefix(line, "+CMT:") {
        // PDU mode: `+CMT: [<alpha>],<length>`; text mode has 3+ fields.
        let f = fields(rest);
        let pdu = f.len() == 2 && number::<u16>(&f[1]).is_some();
        return Some(header(TwoKind::Cmt, line, pdu));
    }
    if let Some(rest) = after_prefix(line, "+CDS:") {
        // PDU mode: `+CDS: <length>` then the PDU; text mode is one line.
        return if single_number(rest) {
            Some(header(TwoKind::Cds, line, true))
        } else {
            done(other())
        };
    }
    if let Some(rest) = after_prefix(line, "+CBM:") {
        // Cell broadcast: header then PDU (PDU mode) or text (text mode).
        return Some(header(TwoKind::Cbm, line, single_number(rest)));
    }
    let registrations: [(&str, MakeRegistration); 3] = [
        ("+CREG:", |stat| Urc::Creg { stat }),
        ("+CGREG:", |stat| Urc::Cgreg { stat }),
        ("+CEREG:", |stat| Urc::Cereg { stat }),
    ];
    for (prefix, make) in registrations {
        if let Some(rest) = after_prefix(line, prefix) {
            // A read-reply shape outside `set_pending` is a late reply: text.
            return registration(rest).map(|stat| Line::Item(Item::Urc(make(stat))));
        }
    }
    if URC_LINES.contains(&line) || URC_PREFIXES.iter().any(|p| after_prefix(line, p).is_some()) {
        return done(other());
    }
    None
}

/// Builds a registration URC from its `<stat>`.
type MakeRegistration = fn(u8) -> Urc;

fn header(kind: TwoKind, line: &str, pdu: bool) -> Line {
    Line::Header(TwoLine {
        kind,
        header: line.to_owned(),
        pdu,
    })
}

fn single_number(rest: &str) -> bool {
    let f = fields(rest);
    f.len() == 1 && number::<u16>(&f[0]).is_some()
}

/// `"SM",3` → `("SM", 3)`.
fn stored(rest: &str) -> Option<(String, u32)> {
    let f = fields(rest);
    let mem = f.first()?.text;
    let index = number(f.get(1)?)?;
    (!mem.is_empty()).then(|| (mem.to_owned(), index))
}

/// The `<stat>` of an unsolicited registration line: `1`, `1,"00C3","A1B2"`,
/// `5,,,7`. `<n>,<stat>...` (second field an unquoted number) is the shape
/// of a read reply and gives `None`.
fn registration(rest: &str) -> Option<u8> {
    let f = fields(rest);
    let stat = number(f.first()?)?;
    match f.get(1) {
        Some(second) if number::<u32>(second).is_some() => None,
        _ => Some(stat),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TwoKind {
    Cmt,
    Cds,
    Cbm,
}

/// A two-line URC whose header has arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TwoLine {
    kind: TwoKind,
    header: String,
    /// PDU mode: the second line must be hexadecimal.
    pdu: bool,
}

impl TwoLine {
    /// Joins the header with the next non-empty line. `Err` carries the
    /// header alone (as `Urc::Other`) when `line` cannot be its second line
    /// (not hexadecimal in PDU mode, or a final result code): the caller
    /// then classifies `line` on its own, so a lost PDU never swallows the
    /// reply the driver waits for.
    pub fn complete(self, line: &str) -> Result<Urc, Urc> {
        let fits = if self.pdu {
            line.bytes().all(|b| b.is_ascii_hexdigit())
        } else {
            final_result(line).is_none()
        };
        if !fits {
            return Err(Urc::Other(self.header));
        }
        Ok(match (self.kind, self.pdu) {
            (TwoKind::Cmt, true) => Urc::Cmt {
                pdu: line.to_owned(),
            },
            (TwoKind::Cds, true) => Urc::Cds {
                pdu: line.to_owned(),
            },
            _ => Urc::Other(format!("{}\n{}", self.header, line)),
        })
    }
}
