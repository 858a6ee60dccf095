//! fakesmsc's output, parsed and decoded into whole messages.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a part of a concatenated message may wait for its access-log
/// line, and how long a text line waits for continuation lines.
const ACCESS_LOG_GRACE: Duration = Duration::from_secs(2);
const TEXT_SETTLE: Duration = Duration::from_millis(150);

/// The data coding Kannel used towards the SMS centre.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// GSM 7-bit alphabet (coding 0).
    Gsm,
    /// 8-bit data (coding 1); `text` is the bytes read as UTF-8, lossily.
    Binary,
    /// UCS-2 / UTF-16 (coding 2).
    Ucs2,
}

/// One complete message as fakesmsc received it, parts joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeSms {
    pub from: String,
    pub to: String,
    pub text: String,
    pub coding: Coding,
    /// How many SMS it took (1 unless Kannel concatenated it).
    pub parts: usize,
}

/// One line fakesmsc logged as received, and when.
pub(super) struct Line {
    pub(super) at: Instant,
    pub(super) payload: Vec<u8>,
}

/// The line inside `... Got message <n>: <line>`.
pub(super) fn got_message(log_line: &[u8]) -> Option<&[u8]> {
    const MARK: &[u8] = b"Got message ";
    let start = log_line.windows(MARK.len()).position(|w| w == MARK)? + MARK.len();
    let rest = &log_line[start..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    let rest = rest[digits..].strip_prefix(b": <")?;
    rest.strip_suffix(b">")
}

/// One line from the fake SMSC, understood.
enum Parsed {
    Single {
        from: String,
        to: String,
        coding: Coding,
        bytes: Vec<u8>,
    },
    Udh {
        from: String,
        to: String,
        udh: Vec<u8>,
        bytes: Vec<u8>,
    },
}

fn parse_line(line: &[u8]) -> Option<Parsed> {
    let mut it = line.splitn(4, |&b| b == b' ');
    let from = String::from_utf8_lossy(it.next()?).into_owned();
    let to = String::from_utf8_lossy(it.next()?).into_owned();
    let kind = it.next()?;
    let rest = it.next()?;
    let single = |coding, bytes| Parsed::Single {
        from: from.clone(),
        to: to.clone(),
        coding,
        bytes,
    };
    Some(match kind {
        b"text" => single(Coding::Gsm, rest.to_vec()),
        b"data" => single(Coding::Binary, url_decode(rest)),
        b"ucs-2" | b"ucs2" => single(Coding::Ucs2, url_decode(rest)),
        b"udh" => {
            let mut it = rest.splitn(3, |&b| b == b' ');
            let udh = url_decode(it.next()?);
            let (a, b) = (it.next()?, it.next());
            // `udh <udh> data <msg>` (Kannel 1.4.5); older: `udh <udh> <msg>`.
            let data = match b {
                Some(b) if a == b"data" => b,
                Some(_) => return None,
                None => a,
            };
            Parsed::Udh {
                from: from.clone(),
                to: to.clone(),
                udh,
                bytes: url_decode(data),
            }
        }
        _ => return None,
    })
}

/// Kannel's URL encoding: `%XX` and `+` for space.
fn url_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        match s[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < s.len() => {
                match std::str::from_utf8(&s[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// The concatenation element of a UDH: (reference, total, sequence).
fn concat_info(udh: &[u8]) -> Option<(u16, u8, u8)> {
    let len = usize::from(*udh.first()?);
    let ies = udh.get(1..1 + len)?;
    let mut i = 0;
    while i + 1 < ies.len() {
        let (iei, l) = (ies[i], usize::from(ies[i + 1]));
        let v = ies.get(i + 2..i + 2 + l)?;
        match (iei, l) {
            (0x00, 3) => return Some((u16::from(v[0]), v[1], v[2])),
            (0x08, 4) => return Some((u16::from_be_bytes([v[0], v[1]]), v[2], v[3])),
            _ => {}
        }
        i += 2 + l;
    }
    None
}

fn text_of(coding: Coding, bytes: &[u8]) -> String {
    match coding {
        Coding::Ucs2 => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        Coding::Gsm | Coding::Binary => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// A whole message as bearerbox's access log has it.
struct Logged {
    to: String,
    coding: i64,
    msg: String,
}

fn access_log_entries(log: &str) -> Vec<Logged> {
    let field = |line: &str, name: &str| -> Option<String> {
        let start = line.find(name)? + name.len();
        let end = line[start..].find(']')? + start;
        Some(line[start..end].to_string())
    };
    log.lines()
        .filter(|l| l.contains(" Sent SMS "))
        .filter_map(|l| {
            let to = field(l, "[to:")?;
            let coding = field(l, "[flags:")?.split(':').nth(1)?.parse().ok()?;
            let rest = &l[l.find("[msg:")? + 5..];
            let (n, rest) = rest.split_once(':')?;
            let n: usize = n.parse().ok()?;
            let len = if matches!(coding, 1 | 2) { 2 * n } else { n };
            let msg = rest.get(..len)?.to_string();
            Some(Logged { to, coding, msg })
        })
        .collect()
}

/// The coding of a message sent in parts, from bearerbox's access log.
fn logged_coding(to: &str, bytes: &[u8], log: &[Logged]) -> Option<Coding> {
    let hex: String = bytes.iter().map(|b| format!("{b:02X}")).collect();
    let dotted: String = bytes
        .iter()
        .map(|&b| {
            if (0x20..=0x7e).contains(&b) {
                char::from(b)
            } else {
                '.'
            }
        })
        .collect();
    let mine = || log.iter().filter(|l| l.to == to);
    mine()
        .find_map(|l| match l.coding {
            2 if l.msg == hex => Some(Coding::Ucs2),
            1 if l.msg == hex => Some(Coding::Binary),
            _ => None,
        })
        .or_else(|| {
            mine()
                .any(|l| matches!(l.coding, 0 | -1) && l.msg == dotted)
                .then_some(Coding::Gsm)
        })
}

/// The guess when the access log does not tell: GSM text is UTF-8 here and
/// never holds NULs or control bytes other than line breaks.
fn guessed_coding(bytes: &[u8]) -> Coding {
    let odd = |b: &u8| *b < 0x20 && *b != b'\n' && *b != b'\r';
    if std::str::from_utf8(bytes).is_err() || bytes.iter().any(odd) {
        Coding::Ucs2
    } else {
        Coding::Gsm
    }
}

type PartsKey = (String, String, u16, u8);

/// The complete messages in fakesmsc's lines. Messages still settling (text
/// that may get continuation lines, parts whose coding is not logged yet)
/// are left out until they are complete.
pub(super) fn decode(lines: &[Line], access_log: &str, now: Instant) -> Vec<FakeSms> {
    let logged = access_log_entries(access_log);
    let mut out: Vec<FakeSms> = Vec::new();
    // The GSM text the next unparsable line continues, and its last line.
    let mut open_text: Option<(usize, Instant)> = None;
    let mut parts: BTreeMap<PartsKey, BTreeMap<u8, Vec<u8>>> = BTreeMap::new();
    for line in lines {
        let Some(parsed) = parse_line(&line.payload) else {
            if let Some((i, at)) = open_text.as_mut() {
                out[*i].text.push('\n');
                out[*i]
                    .text
                    .push_str(&String::from_utf8_lossy(&line.payload));
                *at = line.at;
            }
            continue;
        };
        open_text = None;
        match parsed {
            Parsed::Single {
                from,
                to,
                coding,
                bytes,
            } => {
                if coding == Coding::Gsm {
                    open_text = Some((out.len(), line.at));
                }
                let text = text_of(coding, &bytes);
                out.push(FakeSms {
                    from,
                    to,
                    text,
                    coding,
                    parts: 1,
                });
            }
            Parsed::Udh {
                from,
                to,
                udh,
                bytes,
            } => {
                let (whole, count) = match concat_info(&udh) {
                    None => (bytes, 1),
                    Some((reference, total, seq)) => {
                        let key = (from.clone(), to.clone(), reference, total);
                        let got = parts.entry(key.clone()).or_default();
                        got.insert(seq, bytes);
                        if got.len() < usize::from(total) {
                            continue;
                        }
                        let got = parts.remove(&key).unwrap_or_default();
                        (got.into_values().flatten().collect(), usize::from(total))
                    }
                };
                let coding = match logged_coding(&to, &whole, &logged) {
                    Some(c) => c,
                    None if now.duration_since(line.at) >= ACCESS_LOG_GRACE => {
                        guessed_coding(&whole)
                    }
                    None => continue,
                };
                out.push(FakeSms {
                    from,
                    to,
                    text: text_of(coding, &whole),
                    coding,
                    parts: count,
                });
            }
        }
    }
    // The newest text may still get continuation lines.
    if let Some((i, at)) = open_text {
        if now.duration_since(at) < TEXT_SETTLE {
            out.remove(i);
        }
    }
    out
}

#[test]
fn fakesmsc_lines_decode() {
    let t0 = Instant::now();
    let later = t0 + Duration::from_secs(5);
    let line = |s: &str| Line {
        at: t0,
        payload: s.as_bytes().to_vec(),
    };
    let log = "2026-01-01 00:00:00 [1] [0] DEBUG: Got message 12: <1 2 text a > b>";
    assert_eq!(got_message(log.as_bytes()), Some(&b"1 2 text a > b"[..]));
    let lines = [
        line("1 2 text first"),
        line("continued"),
        line(""),
        line("1 2 data %00%FFx"),
        // 16-bit reference, parts out of order, unknown to the access log:
        // UCS-2 because of the NUL bytes.
        line("1 3 udh %06%08%04%01%02%02%02 data %00i"),
        line("1 3 udh %06%08%04%01%02%02%01 data %00h"),
        // A UCS-2 text that is printable ASCII, told by the access log.
        line("1 4 udh %05%00%03%07%02%01 data v%7B"),
        line("1 4 udh %05%00%03%07%02%02 data _U"),
        // Incomplete: left out.
        line("1 5 udh %05%00%03%08%02%01 data x"),
        line("1 2 text last"),
    ];
    let access_log = "2026-01-01 00:00:00 Sent SMS [SMSC:fake] [SVC:u] [ACT:] [BINF:] \
        [FID:] [META:] [from:1] [to:4] [flags:-1:2:-1:-1:-1] [msg:4:767B5F55] [udh:0:]";
    let got = decode(&lines, access_log, later);
    let brief: Vec<(&str, &str, Coding, usize)> = got
        .iter()
        .map(|m| (m.to.as_str(), m.text.as_str(), m.coding, m.parts))
        .collect();
    assert_eq!(
        brief,
        vec![
            ("2", "first\ncontinued\n", Coding::Gsm, 1),
            ("2", "\0\u{FFFD}x", Coding::Binary, 1),
            ("3", "hi", Coding::Ucs2, 2),
            ("4", "登录", Coding::Ucs2, 2),
            ("2", "last", Coding::Gsm, 1),
        ]
    );
    // Right after the lines: the last text may still continue, and the
    // parts of "hi" wait for the access log.
    let got = decode(&lines, access_log, t0);
    let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, vec!["first\ncontinued\n", "\0\u{FFFD}x", "登录"]);
}
