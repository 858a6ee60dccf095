//! AT reply parser: turns the bytes a GSM/LTE modem sends on its AT port
//! into [`Item`]s — final result codes, the SMS prompt, command echoes,
//! unsolicited result codes (URCs) and the information text in between.
//!
//! The driver thread writes a command, tells the parser about it with
//! [`Parser::set_pending`], feeds every read to [`Parser::push`] and acts on
//! the items: text until a [`Final`], the [`Item::Prompt`] before the PDU of
//! `AT+CMGS`, and URCs whenever they come.
//!
//! What real modems do, and how it is handled:
//! - Lines end with CR LF, CR alone or LF alone, and the echo of a command
//!   ends with CR before the reply's CR LF: any CR or LF ends a line and
//!   empty lines are skipped. Items never depend on how reads split bytes,
//!   except for a bare `>` at the end of a read (see [`Item::Prompt`]).
//! - The prompt `> ` has no newline after it: it is reported as soon as its
//!   two bytes are in; what follows on the same line is the modem echoing
//!   the PDU we type and comes back as [`Item::Echo`].
//! - URCs can come at any time, also between a command's echo and its reply.
//!   Replies that look like URCs (`+CREG: 0,1` for `AT+CREG?`) are text while
//!   a command with that name is pending.
//! - `+CMT`/`+CDS` (PDU mode) come as a header line and a PDU line, possibly
//!   with blank lines in between: they are joined into one URC.
//! - Control bytes other than CR/LF/TAB (NUL, the echoed Ctrl-Z, ESC) are
//!   dropped, invalid UTF-8 is replaced (lossy), and a line is capped at
//!   [`MAX_LINE`] bytes: the excess is dropped, memory stays bounded.
//! - Numeric result codes (`ATV0`) are not understood: the driver must set
//!   `ATV1` (verbose) during initialisation; V.250 reports the result of
//!   `ATV1` itself in the new, verbose form.
//!
//! Ideas were checked against gammu (`libgammu/protocol/at/at.c`: special
//! answers, final strings), Kannel's `smsc_at` and Android's reference RIL
//! (`+CMT`/`+CDS` as two-line URCs); the code is written from 3GPP TS 27.007
//! and 27.005.

mod errors;
mod line;
mod replies;
#[cfg(test)]
mod tests;

pub use errors::{classify_cme, classify_cms, cme_code_from_text, cms_code_from_text, ErrorClass};
pub use replies::{
    is_registered, parse_cmgs, parse_cops, parse_cpin, parse_creg_reply, parse_csq, SimState,
};

use line::{Line, Pending, TwoLine};

/// Longest line kept, in bytes; the rest of a longer line is dropped. A
/// `+CMT` PDU line is at most ~360 hex digits, a `+CMGL` entry similar.
pub const MAX_LINE: usize = 4096;

/// One complete item from the modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Ends the command in flight.
    Final(Final),
    /// The SMS text prompt `> ` (27.005 §3.5.1): the modem waits for the PDU
    /// and Ctrl-Z. Reported as soon as `> ` arrives at the start of a line;
    /// a bare `>` counts too when it is the last byte of a read or a line of
    /// its own. Never reported while a command that does not prompt
    /// (anything but `+CMGS`, `+CMGW`, `+CMGC`, `+CNMA`, `^HCMGS`, `^HCMGW`) is
    /// pending: then `>...` is ordinary text.
    Prompt,
    /// A line starting with `AT` (any case): the echo of a command (`ATE1`).
    /// Also the echo of what is typed after a prompt (the PDU).
    Echo(String),
    /// An unsolicited result code.
    Urc(Urc),
    /// Any other line: an information response (`+CSQ: 20,99`, `Quectel`,
    /// an IMEI, `+CMGS: 12`). Trimmed, never empty.
    Text(String),
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Final {
    /// `OK`.
    Ok,
    /// `ERROR`, and the vendor forms `COMMAND NOT SUPPORT`,
    /// `TOO MANY PARAMETERS` (Huawei), `MODEM ERROR: <n>` (Motorola), and
    /// `+CME ERROR:`/`+CMS ERROR:` with nothing after the colon.
    Error,
    /// `+CME ERROR: <n>` (27.007 §9.2), or a verbose text with a standard code.
    CmeError(u16),
    /// `+CME ERROR: <text>` whose text is not a standard one.
    CmeErrorText(String),
    /// `+CMS ERROR: <n>` (27.005 §3.2.5), or a verbose text with a standard code.
    CmsError(u16),
    /// `+CMS ERROR: <text>` whose text is not a standard one.
    CmsErrorText(String),
    /// `NO CARRIER`.
    NoCarrier,
    /// `NO ANSWER`.
    NoAnswer,
    /// `NO DIALTONE` (also spelled `NO DIAL TONE`).
    NoDialtone,
    /// `BUSY`.
    Busy,
}

impl Final {
    /// Whether the command succeeded.
    pub fn is_ok(&self) -> bool {
        matches!(self, Final::Ok)
    }

    /// Whether a failed send is worth another try; `None` for `Ok`.
    ///
    /// Coded errors go through [`classify_cme`]/[`classify_cms`]. A plain
    /// `ERROR` (no `AT+CMEE`, or a vendor that does not say more), an
    /// unknown verbose text and the call results say nothing about the
    /// message: retryable, the dispatcher's attempt limit bounds them.
    pub fn classify(&self) -> Option<ErrorClass> {
        match self {
            Final::Ok => None,
            Final::CmeError(code) => Some(classify_cme(*code)),
            Final::CmsError(code) => Some(classify_cms(*code)),
            Final::Error
            | Final::CmeErrorText(_)
            | Final::CmsErrorText(_)
            | Final::NoCarrier
            | Final::NoAnswer
            | Final::NoDialtone
            | Final::Busy => Some(ErrorClass::Retryable),
        }
    }
}

/// An unsolicited result code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Urc {
    /// `RING`: an incoming call.
    Ring,
    /// `+CMTI: <mem>,<index>`: an SMS was stored.
    Cmti { mem: String, index: u32 },
    /// `+CDSI: <mem>,<index>`: a status report was stored.
    Cdsi { mem: String, index: u32 },
    /// `+CDS: <length>` and the next line: a status report, PDU in hex.
    Cds { pdu: String },
    /// `+CMT: [<alpha>],<length>` and the next line: an SMS, PDU in hex.
    Cmt { pdu: String },
    /// `+CREG: <stat>[,<lac>,<ci>[,<AcT>...]]` (CS registration).
    Creg { stat: u8 },
    /// `+CEREG: <stat>[,<tac>,<ci>[,<AcT>...]]` (EPS registration).
    Cereg { stat: u8 },
    /// `+CGREG: <stat>[,<lac>,<ci>[,<AcT>...]]` (GPRS registration).
    Cgreg { stat: u8 },
    /// Any line starting with `^` outside a `^` command: Huawei's `^RSSI`,
    /// `^BOOT`, `^MODE`, `^NWTIME`, `^SRVST`, `^SIMST`, `^HCSQ`, `^DSFLOWRPT`
    /// (Cinterion's `^SYSSTART` lands here too). The whole line.
    Huawei(String),
    /// Other lines known to be unsolicited, whole: `+CUSD:`, `+CIEV:`,
    /// `+CLIP:`, `+CRING:`, `+CGEV:`, `+CTZV:`/`+CTZE:`, network time,
    /// boot reports (`RDY`, `+CFUN: 1`, `+CPIN: READY`, `SMS Ready`,
    /// `Call Ready`, `PB DONE`), power-down warnings; also text-mode
    /// `+CDS`, `+CMT`/`+CBM` joined as `header\nbody`, PDU-mode `+CBM`
    /// joined likewise, and a two-line header whose second line never came.
    Other(String),
}

/// Where the current line stands with respect to the SMS prompt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum PromptState {
    /// No prompt on this line.
    #[default]
    None,
    /// A bare `>` was reported at the end of a read; a space right after
    /// it belongs to the prompt.
    Bare,
    /// The prompt was reported; the rest of the line is the echo of input.
    Open,
}

/// Incremental reader of the modem's byte stream.
#[derive(Debug, Default)]
pub struct Parser {
    /// Bytes of the current, unfinished line (control bytes dropped).
    line: Vec<u8>,
    /// Whether the current line went past [`MAX_LINE`].
    overflow: bool,
    prompt: PromptState,
    pending: Option<Pending>,
    /// A `+CMT`/`+CDS`/`+CBM` header waiting for its second line.
    two_line: Option<TwoLine>,
    truncated_lines: u64,
}

impl Parser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes as they come off the port; returns every item now
    /// complete. Partial lines are kept for the next call.
    #[must_use = "the items are the modem's replies"]
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Item> {
        let mut out = Vec::new();
        for &b in bytes {
            match b {
                b'\r' | b'\n' => self.end_line(&mut out),
                b'\t' => self.put(b, &mut out),
                0x00..=0x1F | 0x7F => {}
                _ => self.put(b, &mut out),
            }
        }
        // A modem that prompts with a bare `>` then waits: nothing else will
        // come until we type, so the end of a read is the end of the prompt.
        if self.prompt == PromptState::None && self.line == b">" && self.prompt_allowed() {
            self.line.clear();
            self.prompt = PromptState::Bare;
            out.push(Item::Prompt);
        }
        out
    }

    /// Sets the command in flight (`Some("AT+CREG?")`), or `None` when idle.
    /// While it runs, lines named like it (`+CREG: ...`) are text, not URCs,
    /// and only a prompting command (`+CMGS`, ...) may get an [`Item::Prompt`].
    pub fn set_pending(&mut self, cmd: Option<&str>) {
        self.pending = cmd.map(Pending::new);
    }

    /// Forgets everything: the partial line, a half-received two-line URC,
    /// the prompt state and the pending command (after reopening the port
    /// or a timeout).
    pub fn reset(&mut self) {
        let truncated_lines = self.truncated_lines;
        *self = Self {
            truncated_lines,
            ..Self::default()
        };
    }

    /// How many lines were cut at [`MAX_LINE`] since the parser was made
    /// (for the driver's diagnostics).
    pub fn truncated_lines(&self) -> u64 {
        self.truncated_lines
    }

    fn prompt_allowed(&self) -> bool {
        self.pending.as_ref().is_none_or(|p| p.prompt)
    }

    fn put(&mut self, b: u8, out: &mut Vec<Item>) {
        if self.prompt == PromptState::Bare {
            self.prompt = PromptState::Open;
            if b == b' ' {
                return;
            }
        }
        if self.line.len() >= MAX_LINE {
            self.overflow = true;
            return;
        }
        self.line.push(b);
        if self.prompt == PromptState::None && self.line == b"> " && self.prompt_allowed() {
            self.line.clear();
            self.prompt = PromptState::Open;
            out.push(Item::Prompt);
        }
    }

    fn end_line(&mut self, out: &mut Vec<Item>) {
        let prompt = std::mem::take(&mut self.prompt);
        if std::mem::take(&mut self.overflow) {
            self.truncated_lines = self.truncated_lines.saturating_add(1);
        }
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line).trim().to_owned();
        self.line.clear();
        if text.is_empty() {
            return;
        }
        if prompt == PromptState::None {
            self.classify(&text, out);
        } else {
            out.push(Item::Echo(text));
        }
    }

    fn classify(&mut self, text: &str, out: &mut Vec<Item>) {
        if let Some(header) = self.two_line.take() {
            match header.complete(text) {
                Ok(urc) => {
                    out.push(Item::Urc(urc));
                    return;
                }
                Err(orphan) => out.push(Item::Urc(orphan)),
            }
        }
        if text == ">" && self.prompt_allowed() {
            out.push(Item::Prompt);
            return;
        }
        match line::classify(text, self.pending.as_ref()) {
            Line::Item(item) => out.push(item),
            Line::Header(header) => self.two_line = Some(header),
        }
    }
}
