//! The transcript files: their format, parsed into entries and expectations.

use flexsecure::sms::modem::at::Urc;
use flexsecure::sms::modem::pdu::StatusReport;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

/// One line of a transcript file.
#[derive(Debug)]
pub(super) enum Entry {
    /// `> `: bytes the appliance writes.
    Host(Vec<u8>),
    /// `< `: bytes the modem sends.
    Modem(Vec<u8>),
    /// `# idle`: the command before is over; no command is pending.
    Idle,
}

/// A URC the transcript expects, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum UrcSpec {
    /// A whole URC, compared exactly.
    Exact(Urc),
    /// `+CDS` with any PDU (the PDU is checked by a `report` line).
    AnyCds,
    /// `+CMT` with any PDU.
    AnyCmt,
}

impl UrcSpec {
    pub(super) fn matches(&self, urc: &Urc) -> bool {
        match self {
            UrcSpec::Exact(u) => u == urc,
            UrcSpec::AnyCds => matches!(urc, Urc::Cds { .. }),
            UrcSpec::AnyCmt => matches!(urc, Urc::Cmt { .. }),
        }
    }
}

/// `submit to=<number> text=<rest of the line>`.
#[derive(Debug)]
pub(super) struct SubmitSpec {
    pub(super) to: String,
    pub(super) text: String,
}

/// Where a status report PDU comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReportSource {
    /// A `+CDS` URC.
    Cds,
    /// The PDU line of an `AT+CMGR` reply.
    Cmgr,
}

/// `report cds|cmgr mr=<n> st=0x<hh> to=<number> smsc=yes|no`, or
/// `report cds|cmgr none` for a PDU that is no status report at all.
#[derive(Debug)]
pub(super) struct ReportSpec {
    pub(super) source: ReportSource,
    /// `None`: neither decoder may accept the PDU.
    pub(super) want: Option<(StatusReport, bool)>,
}

#[derive(Debug, Default)]
pub(super) struct Expect {
    /// Final replies other than `Ok`, per command text, in order of use.
    pub(super) finals: HashMap<String, VecDeque<String>>,
    pub(super) urcs: Vec<UrcSpec>,
    pub(super) gap_texts: Vec<String>,
    pub(super) cmgs: Vec<u8>,
    pub(super) submits: Vec<SubmitSpec>,
    pub(super) reports: Vec<ReportSpec>,
}

pub(super) struct Transcript {
    pub(super) name: String,
    pub(super) entries: Vec<Entry>,
    pub(super) expect: Expect,
}

pub(super) fn transcript_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("firmware-notes/transcripts")
}

pub(super) fn transcript_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(transcript_dir())
        .expect("firmware-notes/transcripts exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    files
}

/// `\r`, `\n`, `\t`, `\\` and `\xHH`; everything else is taken literally.
fn unescape(s: &str, what: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        match chars.next() {
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('t') => out.push(b'\t'),
            Some('\\') => out.push(b'\\'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                let byte = u8::from_str_radix(&hex, 16)
                    .unwrap_or_else(|_| panic!("{what}: bad escape \\x{hex}"));
                out.push(byte);
            }
            other => panic!("{what}: unknown escape \\{other:?}"),
        }
    }
    out
}

pub(super) fn parse_transcript(path: &Path) -> Transcript {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let source = std::fs::read_to_string(path).unwrap();
    let mut entries = Vec::new();
    let mut expect = Expect::default();
    for (n, line) in source.lines().enumerate() {
        let at = format!("{name}:{}", n + 1);
        assert!(
            !line.ends_with([' ', '\t']),
            "{at}: trailing blank (write a significant space as \\x20)"
        );
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("> ") {
            entries.push(Entry::Host(unescape(rest, &at)));
        } else if let Some(rest) = line.strip_prefix("< ") {
            entries.push(Entry::Modem(unescape(rest, &at)));
        } else if line == "# idle" {
            entries.push(Entry::Idle);
        } else if let Some(rest) = line.strip_prefix("# expect: ") {
            parse_directive(rest, &mut expect, &at);
        } else {
            assert!(line.starts_with('#'), "{at}: not a transcript line");
        }
    }
    Transcript {
        name,
        entries,
        expect,
    }
}

fn parse_directive(rest: &str, expect: &mut Expect, at: &str) {
    let (verb, args) = rest.split_once(' ').unwrap_or((rest, ""));
    match verb {
        "final" => {
            let (cmd, fin) = args
                .split_once(" -> ")
                .unwrap_or_else(|| panic!("{at}: want `final <command> -> <Final>`"));
            expect
                .finals
                .entry(cmd.to_owned())
                .or_default()
                .push_back(fin.to_owned());
        }
        "urc" => expect.urcs.push(parse_urc(args, at)),
        "gap-text" => expect.gap_texts.push(args.to_owned()),
        "cmgs" => expect
            .cmgs
            .push(args.parse().unwrap_or_else(|_| panic!("{at}: bad cmgs"))),
        "submit" => {
            let to = args
                .strip_prefix("to=")
                .and_then(|r| r.split_once(" text="))
                .unwrap_or_else(|| panic!("{at}: want `submit to=<number> text=<text>`"));
            expect.submits.push(SubmitSpec {
                to: to.0.to_owned(),
                text: to.1.to_owned(),
            });
        }
        "report" => expect.reports.push(parse_report(args, at)),
        other => panic!("{at}: unknown directive {other:?}"),
    }
}

fn parse_urc(args: &str, at: &str) -> UrcSpec {
    let (kind, rest) = args.split_once(' ').unwrap_or((args, ""));
    let stored = || {
        let (mem, index) = rest
            .split_once(' ')
            .unwrap_or_else(|| panic!("{at}: want `<mem> <index>`"));
        (mem.to_owned(), index.parse::<u32>().unwrap())
    };
    let stat = || rest.parse::<u8>().unwrap();
    UrcSpec::Exact(match kind {
        "cds" => return UrcSpec::AnyCds,
        "cmt" => return UrcSpec::AnyCmt,
        "ring" => Urc::Ring,
        "cmti" => {
            let (mem, index) = stored();
            Urc::Cmti { mem, index }
        }
        "cdsi" => {
            let (mem, index) = stored();
            Urc::Cdsi { mem, index }
        }
        "creg" => Urc::Creg { stat: stat() },
        "cereg" => Urc::Cereg { stat: stat() },
        "cgreg" => Urc::Cgreg { stat: stat() },
        "huawei" => Urc::Huawei(rest.to_owned()),
        "other" => Urc::Other(rest.to_owned()),
        other => panic!("{at}: unknown urc kind {other:?}"),
    })
}

fn parse_report(args: &str, at: &str) -> ReportSpec {
    let mut words = args.split(' ');
    let source = match words.next() {
        Some("cds") => ReportSource::Cds,
        Some("cmgr") => ReportSource::Cmgr,
        other => panic!("{at}: report source {other:?}, want cds or cmgr"),
    };
    let mut fields: HashMap<&str, &str> = HashMap::new();
    let mut none = false;
    for w in words {
        match w.split_once('=') {
            Some((k, v)) => {
                fields.insert(k, v);
            }
            None if w == "none" => none = true,
            None => panic!("{at}: bad report field {w:?}"),
        }
    }
    if none {
        return ReportSpec { source, want: None };
    }
    let field = |k: &str| {
        *fields
            .get(k)
            .unwrap_or_else(|| panic!("{at}: report needs {k}="))
    };
    let status = u8::from_str_radix(field("st").trim_start_matches("0x"), 16).unwrap();
    let smsc = match field("smsc") {
        "yes" => true,
        "no" => false,
        other => panic!("{at}: smsc={other}, want yes or no"),
    };
    ReportSpec {
        source,
        want: Some((
            StatusReport {
                message_ref: field("mr").parse().unwrap(),
                recipient: field("to").to_owned(),
                status,
            },
            smsc,
        )),
    }
}
