//! SMS PDU codec (3GPP TS 23.040 and 23.038) for modems in PDU mode
//! (`AT+CMGF=0`): SMS-SUBMIT going out, SMS-STATUS-REPORT coming back.
//!
//! Text goes out in the GSM 7-bit default alphabet (with its extension
//! table) when every character has a code there, else as "UCS-2", which is
//! UTF-16BE here: characters beyond the BMP (emoji) travel as surrogate
//! pairs, as phones send them. A long text becomes up to 255 parts joined
//! by a concatenation header with an 8-bit reference; a part boundary never
//! falls inside an escape pair or a surrogate pair.
//!
//! Every function is pure, and the decoders return [`PduError`] rather than
//! panic on any input.

mod address;
mod gsm7;

use address::Number;

/// Septets in a single-part GSM 7-bit message.
const SINGLE_GSM7: usize = 160;
/// Septets of text per part behind the 6-octet concatenation header.
const MULTI_GSM7: usize = 153;
/// UTF-16 units in a single-part UCS-2 message.
const SINGLE_UCS2: usize = 70;
/// UTF-16 units of text per part behind the 6-octet concatenation header.
const MULTI_UCS2: usize = 67;

// First octet of a TPDU (23.040 9.2.3).
const MTI_MASK: u8 = 0x03;
const MTI_SUBMIT: u8 = 0x01;
const MTI_STATUS_REPORT: u8 = 0x02;
/// SMS-STATUS-REPORT: TP-MMS set, no more messages waiting.
const MMS_NO_MORE: u8 = 0x04;
const VPF_MASK: u8 = 0x18;
const VPF_NONE: u8 = 0x00;
const VPF_RELATIVE: u8 = 0x10;
const SRR: u8 = 0x20;
const UDHI: u8 = 0x40;

const DCS_GSM7: u8 = 0x00;
const DCS_UCS2: u8 = 0x08;

/// Concatenated short messages, 8-bit reference (23.040 9.2.3.24.1).
const IEI_CONCAT_8BIT: u8 = 0x00;
/// Concatenated short messages, 16-bit reference (23.040 9.2.3.24.8).
const IEI_CONCAT_16BIT: u8 = 0x08;

/// Fixed timestamps for simulated status reports: 2024-01-01 12:00:00 and
/// 12:00:05, UTC, as swapped semi-octets (23.040 9.2.3.11).
const SIM_SCTS: [u8; 7] = [0x42, 0x10, 0x10, 0x21, 0x00, 0x00, 0x00];
const SIM_DT: [u8; 7] = [0x42, 0x10, 0x10, 0x21, 0x00, 0x50, 0x00];

/// The alphabet of the user data (TP-DCS 0x00 or 0x08).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// GSM 7-bit default alphabet with the extension table.
    Gsm7,
    /// UTF-16BE code units.
    Ucs2,
}

/// How an SMS-SUBMIT is built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitOptions {
    /// TP-SRR: ask for an SMS-STATUS-REPORT.
    pub status_report: bool,
    /// Relative validity period (TP-VPF = 10), rounded up to the next
    /// period 23.040 can express and capped at 63 weeks; `None` sends no
    /// validity period.
    pub validity_minutes: Option<u32>,
    /// Service centre as `+` and digits (or digits alone); `None` sends
    /// the empty field `00`, so the modem uses its configured SMSC.
    pub smsc: Option<String>,
    /// Reference of the concatenation header of a multi-part message.
    pub concat_ref: u8,
}

/// One part, ready for `AT+CMGS=<tpdu_len>` and the `> ` prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitPdu {
    /// Upper-case hex of the SMSC field and the TPDU, sent before Ctrl-Z.
    pub hex: String,
    /// Octets of the TPDU alone (without the SMSC field).
    pub tpdu_len: usize,
}

/// An SMS-SUBMIT taken apart (what a modem would send on `AT+CMGS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedSubmit {
    pub to: String,
    /// The text of this part alone.
    pub text: String,
    pub coding: Coding,
    pub status_report: bool,
    /// `(reference, total, sequence)` from the concatenation header. With
    /// a 16-bit reference, `reference` is its low octet.
    pub concat: Option<(u8, u8, u8)>,
    pub message_ref: u8,
}

/// An SMS-STATUS-REPORT, as a modem delivers it with `+CDS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// TP-MR of the SMS-SUBMIT this reports on (the `+CMGS: <mr>` value).
    pub message_ref: u8,
    pub recipient: String,
    /// TP-ST (23.040 9.2.3.15).
    pub status: u8,
}

impl StatusReport {
    /// The short message reached the recipient (TP-ST 0x00..=0x1F).
    pub fn delivered(&self) -> bool {
        self.status <= 0x1F
    }

    /// No further report follows: anything but 0x20..=0x3F, where the
    /// service centre is still trying.
    pub fn is_final(&self) -> bool {
        !(0x20..=0x3F).contains(&self.status)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("invalid phone number {0:?}: expected an optional '+' and 1 to 20 digits")]
    InvalidNumber(String),
    #[error("text too long: it needs {parts} parts, at most 255 are possible")]
    TooLong { parts: usize },
    #[error("invalid hex: {0}")]
    BadHex(String),
    #[error("PDU truncated")]
    Truncated,
    #[error("not an {expected}: message type indicator {found}")]
    WrongType { expected: &'static str, found: u8 },
    #[error("unsupported PDU: {0}")]
    Unsupported(&'static str),
    #[error("malformed PDU: {0}")]
    Malformed(&'static str),
}

/// [`Coding::Gsm7`] iff every character is in the GSM 7-bit default
/// alphabet or its extension table.
pub fn choose_coding(text: &str) -> Coding {
    if text.chars().all(|c| gsm7::encode_char(c).is_some()) {
        Coding::Gsm7
    } else {
        Coding::Ucs2
    }
}

/// Length in GSM 7-bit septets, extension characters (€ [ ] { } ~ ^ \ |
/// and form feed) counting two; `None` if a character has no GSM code.
pub fn septet_len(text: &str) -> Option<usize> {
    text.chars()
        .map(|c| gsm7::encode_char(c).map(gsm7::Gsm7Char::len))
        .sum()
}

/// How many SMS-SUBMIT parts [`encode_submit`] makes of `text` (which may
/// be more than 255, the most it accepts).
pub fn part_count(text: &str) -> usize {
    match split_text(text) {
        Parts::Gsm7(parts) => parts.len(),
        Parts::Ucs2(parts) => parts.len(),
    }
}

/// TP-VP for a relative validity period (23.040 9.2.3.12.1): the shortest
/// period of at least `minutes` (0 gives the minimum, 5 minutes), capped
/// at 63 weeks.
pub fn relative_validity(minutes: u32) -> u8 {
    let vp = match minutes {
        0..=720 => minutes.div_ceil(5).max(1) - 1,
        721..=1440 => 143 + (minutes - 720).div_ceil(30),
        1441..=43_200 => 166 + minutes.div_ceil(1440),
        _ => 192 + minutes.div_ceil(10_080),
    };
    u8::try_from(vp).unwrap_or(u8::MAX)
}

/// The period a relative TP-VP stands for, in minutes.
pub fn relative_validity_minutes(vp: u8) -> u32 {
    let vp = u32::from(vp);
    match vp {
        0..=143 => (vp + 1) * 5,
        144..=167 => 720 + (vp - 143) * 30,
        168..=196 => (vp - 166) * 1440,
        _ => (vp - 192) * 10_080,
    }
}

/// Builds the SMS-SUBMIT PDUs for `text` to `to`, one per part.
pub fn encode_submit(
    to: &str,
    text: &str,
    opts: &SubmitOptions,
) -> Result<Vec<SubmitPdu>, PduError> {
    let to = Number::parse(to)?;
    let smsc = opts.smsc.as_deref().map(Number::parse).transpose()?;
    let (dcs, bodies) = match split_text(text) {
        Parts::Gsm7(parts) => (DCS_GSM7, user_data(&parts, opts.concat_ref, gsm7_body)?),
        Parts::Ucs2(parts) => (DCS_UCS2, user_data(&parts, opts.concat_ref, ucs2_body)?),
    };

    let mut first = MTI_SUBMIT;
    if opts.validity_minutes.is_some() {
        first |= VPF_RELATIVE;
    }
    if opts.status_report {
        first |= SRR;
    }
    if bodies.len() > 1 {
        first |= UDHI;
    }

    let mut pdus = Vec::with_capacity(bodies.len());
    for UserData { udl, ud } in bodies {
        let mut pdu = Vec::with_capacity(180);
        address::push_smsc(&mut pdu, smsc.as_ref());
        let smsc_len = pdu.len();
        // TP-MR 0: the modem puts in the real message reference.
        pdu.extend([first, 0x00]);
        to.push_address(&mut pdu);
        pdu.extend([0x00, dcs]); // TP-PID, TP-DCS
        if let Some(minutes) = opts.validity_minutes {
            pdu.push(relative_validity(minutes));
        }
        pdu.push(udl);
        pdu.extend(ud);
        pdus.push(SubmitPdu {
            hex: hex::encode_upper(&pdu),
            tpdu_len: pdu.len() - smsc_len,
        });
    }
    Ok(pdus)
}

/// Takes apart an SMS-SUBMIT given as hex with the SMSC field in front.
pub fn decode_submit(hex: &str) -> Result<DecodedSubmit, PduError> {
    let bytes = parse_hex(hex)?;
    let mut r = Reader::new(&bytes);
    address::skip_smsc(&mut r)?;
    let first = r.u8()?;
    check_type(first, MTI_SUBMIT, "SMS-SUBMIT")?;
    let message_ref = r.u8()?;
    let to = address::read_address(&mut r)?;
    let _pid = r.u8()?;
    let coding = coding_from_dcs(r.u8()?)?;
    let vp_len = match first & VPF_MASK {
        VPF_NONE => 0,
        VPF_RELATIVE => 1,
        _ => 7, // enhanced or absolute
    };
    r.take(vp_len)?;
    let udl = usize::from(r.u8()?);
    let (concat, text) = decode_user_data(coding, first & UDHI != 0, udl, r.rest())?;
    Ok(DecodedSubmit {
        to,
        text,
        coding,
        status_report: first & SRR != 0,
        concat,
        message_ref,
    })
}

/// Takes apart an SMS-STATUS-REPORT given as hex with the SMSC field in
/// front, as 27.005 specifies the `+CDS` PDU.
pub fn decode_status_report(hex: &str) -> Result<StatusReport, PduError> {
    let bytes = parse_hex(hex)?;
    let mut r = Reader::new(&bytes);
    address::skip_smsc(&mut r)?;
    read_status_report(&mut r)
}

/// Like [`decode_status_report`], for modems that leave the SMSC field
/// out of `+CDS` (then the hex is exactly `<length>` octets long).
pub fn decode_status_report_tpdu(hex: &str) -> Result<StatusReport, PduError> {
    let bytes = parse_hex(hex)?;
    read_status_report(&mut Reader::new(&bytes))
}

/// Builds the hex of a `+CDS` SMS-STATUS-REPORT (SMSC field included) for
/// the modem simulator, with fixed timestamps. Numbers are taken
/// leniently: digits and a leading `+` are kept, anything else dropped;
/// an SMSC without digits becomes the empty field `00`.
pub fn encode_status_report(
    smsc: Option<&str>,
    message_ref: u8,
    recipient: &str,
    status: u8,
) -> String {
    let smsc = smsc.map(Number::lenient).filter(|n| !n.is_empty());
    let mut pdu = Vec::with_capacity(40);
    address::push_smsc(&mut pdu, smsc.as_ref());
    pdu.extend([MTI_STATUS_REPORT | MMS_NO_MORE, message_ref]);
    Number::lenient(recipient).push_address(&mut pdu);
    pdu.extend(SIM_SCTS);
    pdu.extend(SIM_DT);
    pdu.push(status);
    hex::encode_upper(pdu)
}

/// The text cut into parts of septets or of UTF-16 units.
enum Parts {
    Gsm7(Vec<Vec<u8>>),
    Ucs2(Vec<Vec<u16>>),
}

fn split_text(text: &str) -> Parts {
    let mut septets = Vec::with_capacity(text.len());
    let mut ends = Vec::with_capacity(text.len());
    for c in text.chars() {
        let Some(g) = gsm7::encode_char(c) else {
            return split_ucs2(text);
        };
        g.push_to(&mut septets);
        ends.push(septets.len());
    }
    Parts::Gsm7(split_at_char_ends(&septets, &ends, SINGLE_GSM7, MULTI_GSM7))
}

fn split_ucs2(text: &str) -> Parts {
    let mut units = Vec::with_capacity(text.len());
    let mut ends = Vec::with_capacity(text.len());
    for c in text.chars() {
        let mut buf = [0u16; 2];
        units.extend_from_slice(c.encode_utf16(&mut buf));
        ends.push(units.len());
    }
    Parts::Ucs2(split_at_char_ends(&units, &ends, SINGLE_UCS2, MULTI_UCS2))
}

/// Cuts `units` into one part of at most `single` units or into parts of
/// at most `per_part`, only at `ends` (where a character ends), so an
/// escape pair or a surrogate pair stays whole.
fn split_at_char_ends<T: Clone>(
    units: &[T],
    ends: &[usize],
    single: usize,
    per_part: usize,
) -> Vec<Vec<T>> {
    if units.len() <= single {
        return vec![units.to_vec()];
    }
    let mut parts = Vec::with_capacity(units.len().div_ceil(per_part) + 1);
    let (mut start, mut last_end) = (0, 0);
    for &end in ends {
        if end - start > per_part {
            parts.push(units.get(start..last_end).unwrap_or_default().to_vec());
            start = last_end;
        }
        last_end = end;
    }
    parts.push(units.get(start..).unwrap_or_default().to_vec());
    parts
}

/// `(reference, total, sequence)` of a concatenation header.
type Concat = (u8, u8, u8);

/// TP-UDL and TP-UD of one part.
struct UserData {
    udl: u8,
    ud: Vec<u8>,
}

impl UserData {
    fn new(udl: usize, ud: Vec<u8>) -> Self {
        // At most 160 septets or 140 octets by construction.
        let udl = u8::try_from(udl).unwrap_or(u8::MAX);
        UserData { udl, ud }
    }
}

/// TP-UDL and TP-UD of every part, with a concatenation header when there
/// is more than one.
fn user_data<T>(
    parts: &[Vec<T>],
    concat_ref: u8,
    body: fn(Vec<u8>, &[T]) -> UserData,
) -> Result<Vec<UserData>, PduError> {
    let total = u8::try_from(parts.len()).map_err(|_| PduError::TooLong { parts: parts.len() })?;
    Ok(parts
        .iter()
        .zip(1..=total)
        .map(|(part, seq)| {
            let udh = if total > 1 {
                vec![0x05, IEI_CONCAT_8BIT, 0x03, concat_ref, total, seq]
            } else {
                Vec::new()
            };
            body(udh, part)
        })
        .collect())
}

/// Septets behind the header, the first on a septet boundary; TP-UDL
/// counts septets, the header's included.
fn gsm7_body(udh: Vec<u8>, septets: &[u8]) -> UserData {
    let first = (udh.len() * 8).div_ceil(7);
    let mut ud = udh;
    gsm7::pack_into(&mut ud, first, septets);
    UserData::new(first + septets.len(), ud)
}

/// UTF-16BE behind the header; TP-UDL counts octets.
fn ucs2_body(udh: Vec<u8>, units: &[u16]) -> UserData {
    let mut ud = udh;
    ud.extend(units.iter().flat_map(|u| u.to_be_bytes()));
    UserData::new(ud.len(), ud)
}

/// Text and concatenation info from TP-UD (`ud` may run past TP-UDL).
fn decode_user_data(
    coding: Coding,
    udhi: bool,
    udl: usize,
    ud: &[u8],
) -> Result<(Option<Concat>, String), PduError> {
    let (udh_len, concat) = if udhi {
        let udhl = usize::from(ud.first().copied().ok_or(PduError::Truncated)?);
        let ies = ud.get(1..1 + udhl).ok_or(PduError::Truncated)?;
        (1 + udhl, find_concat(ies)?)
    } else {
        (0, None)
    };
    let text = match coding {
        Coding::Gsm7 => {
            let first = (udh_len * 8).div_ceil(7);
            let count = udl.checked_sub(first).ok_or(PduError::Malformed(
                "user data length shorter than its header",
            ))?;
            gsm7::decode_septets(&gsm7::unpack(ud, first, count)?)?
        }
        Coding::Ucs2 => {
            if udl > ud.len() {
                return Err(PduError::Truncated);
            }
            let body = ud.get(udh_len..udl).ok_or(PduError::Malformed(
                "user data length shorter than its header",
            ))?;
            if body.len() % 2 != 0 {
                return Err(PduError::Malformed("odd number of UCS-2 octets"));
            }
            let units: Vec<u16> = body
                .chunks_exact(2)
                .map(|pair| u16::from_be_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16(&units).map_err(|_| PduError::Malformed("invalid UTF-16"))?
        }
    };
    Ok((concat, text))
}

/// The concatenation element among the information elements of a header.
fn find_concat(mut ies: &[u8]) -> Result<Option<Concat>, PduError> {
    let mut concat = None;
    while let [iei, len, rest @ ..] = ies {
        let len = usize::from(*len);
        let data = rest.get(..len).ok_or(PduError::Malformed(
            "information element overruns the header",
        ))?;
        match (*iei, data) {
            (IEI_CONCAT_8BIT, &[reference, total, seq])
            | (IEI_CONCAT_16BIT, &[_, reference, total, seq]) => {
                concat = Some((reference, total, seq));
            }
            _ => {}
        }
        ies = rest.get(len..).unwrap_or_default();
    }
    if ies.is_empty() {
        Ok(concat)
    } else {
        Err(PduError::Malformed("stray octet in the user data header"))
    }
}

/// TP-DCS to the alphabet (23.038 clause 4); 8-bit data, compressed text
/// and reserved codings are unsupported.
fn coding_from_dcs(dcs: u8) -> Result<Coding, PduError> {
    let alphabet = match dcs >> 4 {
        // General data coding, with or without automatic deletion.
        0x0..=0x7 => {
            if dcs & 0x20 != 0 {
                return Err(PduError::Unsupported("compressed text"));
            }
            (dcs >> 2) & 0x03
        }
        // Message waiting indication groups.
        0xC | 0xD => 0,
        0xE => 2,
        // Data coding / message class.
        0xF => (dcs >> 2) & 0x01,
        _ => return Err(PduError::Unsupported("reserved data coding group")),
    };
    match alphabet {
        0 => Ok(Coding::Gsm7),
        2 => Ok(Coding::Ucs2),
        1 => Err(PduError::Unsupported("8-bit data")),
        _ => Err(PduError::Unsupported("reserved alphabet")),
    }
}

fn read_status_report(r: &mut Reader<'_>) -> Result<StatusReport, PduError> {
    let first = r.u8()?;
    check_type(first, MTI_STATUS_REPORT, "SMS-STATUS-REPORT")?;
    let message_ref = r.u8()?;
    let recipient = address::read_address(r)?;
    r.take(SIM_SCTS.len())?; // TP-SCTS
    r.take(SIM_DT.len())?; // TP-DT
    let status = r.u8()?;
    // TP-PI and what it announces are of no interest here.
    Ok(StatusReport {
        message_ref,
        recipient,
        status,
    })
}

fn check_type(first: u8, mti: u8, expected: &'static str) -> Result<(), PduError> {
    if first & MTI_MASK == mti {
        Ok(())
    } else {
        Err(PduError::WrongType {
            expected,
            found: first & MTI_MASK,
        })
    }
}

fn parse_hex(hex: &str) -> Result<Vec<u8>, PduError> {
    hex::decode(hex.trim()).map_err(|e| PduError::BadHex(e.to_string()))
}

/// A cursor over PDU octets that reports running out as `Truncated`.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes, pos: 0 }
    }

    fn u8(&mut self) -> Result<u8, PduError> {
        let byte = self
            .bytes
            .get(self.pos)
            .copied()
            .ok_or(PduError::Truncated)?;
        self.pos += 1;
        Ok(byte)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PduError> {
        let end = self.pos.checked_add(n).ok_or(PduError::Truncated)?;
        let slice = self.bytes.get(self.pos..end).ok_or(PduError::Truncated)?;
        self.pos = end;
        Ok(slice)
    }

    fn rest(&mut self) -> &'a [u8] {
        let slice = self.bytes.get(self.pos..).unwrap_or_default();
        self.pos = self.bytes.len();
        slice
    }
}

#[cfg(test)]
mod tests;
