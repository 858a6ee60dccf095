use flexsecure::sms::modem::at::{self, Final, Item, Parser, Urc};
use flexsecure::sms::modem::pdu::{self, SubmitOptions};
use std::collections::VecDeque;
use std::path::Path;

// The AT transcripts in `firmware-notes/transcripts/` fed to the reply
// parser the way the driver feeds it: the pending command is set from the
// `> ` line that wrote it (`Parser::set_pending`), and what the modem sends
// in answer is pushed as one read and, separately, one byte at a time. Both
// must give the same items, and the items must match the `# expect:` block
// of each file (see `firmware-notes/README.md` for the format):
//
// - every command gets exactly one final reply, `Ok` unless
//   `final <command> -> <Final as Debug>` says otherwise; none while idle;
// - `AT+CMGS` gets exactly one prompt before its PDU, no other command any;
// - the unsolicited items are exactly the `urc` lines, in order;
// - `gap-text` lines (URCs the parser does not know) come out as text;
// - every `+CMGS:` line reads with `at::parse_cmgs`, giving the `cmgs` list;
// - every PDU typed at a prompt decodes, matches its `AT+CMGS=<length>` and
//   is byte for byte what `pdu::encode_submit` makes of `submit` to/text;
// - every `+CDS` (and every PDU read back with `AT+CMGR`) decodes with
//   `pdu::decode_status_report` (SMSC field present) or
//   `pdu::decode_status_report_tpdu` (absent) to the `report` values, and
//   the driver's "SMSC first, then without" fallback gives the same.

mod format;

use format::{
    parse_transcript, transcript_dir, transcript_files, Entry, ReportSource, ReportSpec,
    SubmitSpec, Transcript,
};

/// A stretch of modem output between two host writes, with what was
/// pending while it came.
#[derive(Debug)]
struct Run {
    /// Index into `Session::commands`; `None` while idle.
    command: Option<usize>,
    bytes: Vec<u8>,
    /// Whether a PDU was typed right after this run.
    before_pdu: bool,
}

#[derive(Debug)]
struct Command {
    text: String,
    /// Hex of the PDU typed at its prompt, if any.
    pdu: Option<String>,
}

#[derive(Debug)]
struct Session {
    commands: Vec<Command>,
    runs: Vec<Run>,
}

/// Whether a host write is a command line (`AT...`) rather than input
/// typed at a prompt or the ESC the driver sends first.
fn command_text(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end_matches('\r');
    (text.len() >= 2 && text[..2].eq_ignore_ascii_case("AT")).then(|| text.to_owned())
}

/// Splits the transcript into commands and runs of modem output.
fn session(t: &Transcript) -> Session {
    let mut commands: Vec<Command> = Vec::new();
    let mut runs: Vec<Run> = Vec::new();
    let mut current: Option<usize> = None;
    // Whether the last entry was modem output (a run to extend).
    let mut in_run = false;
    for entry in &t.entries {
        match entry {
            Entry::Host(bytes) => {
                in_run = false;
                if let Some(text) = command_text(bytes) {
                    commands.push(Command { text, pdu: None });
                    current = Some(commands.len() - 1);
                } else if let (Some(c), Some(pos)) =
                    (current, bytes.iter().position(|&b| b == 0x1A))
                {
                    // A PDU and Ctrl-Z typed at the prompt of `c`.
                    let hex = String::from_utf8(bytes[..pos].to_vec()).unwrap();
                    assert!(
                        commands[c].pdu.replace(hex).is_none(),
                        "{}: two PDUs for one command",
                        t.name
                    );
                    if let Some(run) = runs.last_mut().filter(|r| r.command == Some(c)) {
                        run.before_pdu = true;
                    } else {
                        panic!("{}: PDU typed before any prompt", t.name);
                    }
                }
            }
            Entry::Modem(bytes) => {
                if in_run {
                    runs.last_mut().unwrap().bytes.extend_from_slice(bytes);
                } else {
                    runs.push(Run {
                        command: current,
                        bytes: bytes.clone(),
                        before_pdu: false,
                    });
                    in_run = true;
                }
            }
            Entry::Idle => {
                current = None;
                in_run = false;
            }
        }
    }
    Session { commands, runs }
}

/// Feeds every run to one parser, pending command set as the driver sets
/// it; each run whole, or one byte at a time.
fn feed(s: &Session, byte_by_byte: bool) -> Vec<Vec<Item>> {
    let mut parser = Parser::new();
    s.runs
        .iter()
        .map(|run| {
            parser.set_pending(run.command.map(|c| s.commands[c].text.as_str()));
            if byte_by_byte {
                run.bytes.iter().flat_map(|b| parser.push(&[*b])).collect()
            } else {
                parser.push(&run.bytes)
            }
        })
        .collect()
}

fn check_transcript(path: &Path) {
    let mut t = parse_transcript(path);
    let name = t.name.clone();
    let s = session(&t);
    assert!(!s.commands.is_empty(), "{name}: no command");

    let per_run = feed(&s, false);
    assert_eq!(
        per_run,
        feed(&s, true),
        "{name}: whole reads and single bytes give different items"
    );

    // Final replies and prompts, command by command.
    for (ci, cmd) in s.commands.iter().enumerate() {
        let runs: Vec<(&Run, &Vec<Item>)> = s
            .runs
            .iter()
            .zip(&per_run)
            .filter(|(r, _)| r.command == Some(ci))
            .collect();
        let finals: Vec<&Final> = runs
            .iter()
            .flat_map(|(_, items)| items.iter())
            .filter_map(|i| match i {
                Item::Final(f) => Some(f),
                _ => None,
            })
            .collect();
        let want = t
            .expect
            .finals
            .get_mut(&cmd.text)
            .and_then(VecDeque::pop_front)
            .unwrap_or_else(|| "Ok".to_owned());
        assert_eq!(
            finals.len(),
            1,
            "{name}: {} must get exactly one final reply, got {finals:?}",
            cmd.text
        );
        assert_eq!(format!("{:?}", finals[0]), want, "{name}: {}", cmd.text);

        let prompts =
            |(_, items): &(&Run, &Vec<Item>)| items.iter().filter(|i| **i == Item::Prompt).count();
        let total: usize = runs.iter().map(prompts).sum();
        if cmd.pdu.is_some() {
            let before: usize = runs.iter().filter(|(r, _)| r.before_pdu).map(prompts).sum();
            assert_eq!(
                before, 1,
                "{name}: {} needs its prompt before the PDU",
                cmd.text
            );
            assert_eq!(total, 1, "{name}: {} got more than one prompt", cmd.text);
        } else {
            assert_eq!(
                total, 0,
                "{name}: {} got a prompt it never asks for",
                cmd.text
            );
        }
    }
    for (cmd, left) in &t.expect.finals {
        assert!(
            left.is_empty(),
            "{name}: `final {cmd}` expected more often than sent"
        );
    }

    // Nothing ends a command while none is pending.
    for (run, items) in s.runs.iter().zip(&per_run) {
        if run.command.is_none() {
            assert!(
                !items.iter().any(|i| matches!(i, Item::Final(_))),
                "{name}: final reply while idle: {items:?}"
            );
        }
    }

    let all: Vec<&Item> = per_run.iter().flatten().collect();

    // Unsolicited items, exactly and in order.
    let urcs: Vec<&Urc> = all
        .iter()
        .filter_map(|i| match i {
            Item::Urc(u) => Some(u),
            _ => None,
        })
        .collect();
    assert_eq!(
        urcs.len(),
        t.expect.urcs.len(),
        "{name}: URCs {urcs:#?}\nexpected {:#?}",
        t.expect.urcs
    );
    for (got, want) in urcs.iter().zip(&t.expect.urcs) {
        assert!(want.matches(got), "{name}: URC {got:?}, expected {want:?}");
    }

    // Known parser gaps: real URCs that come out as text.
    for line in &t.expect.gap_texts {
        assert!(
            all.contains(&&Item::Text(line.clone())),
            "{name}: {line:?} is no longer text; if the parser now knows it, move it to `urc`"
        );
    }

    // +CMGS message references.
    let cmgs: Vec<u8> = all
        .iter()
        .filter_map(|i| match i {
            Item::Text(l) if l.to_ascii_uppercase().starts_with("+CMGS:") => {
                Some(at::parse_cmgs(l).unwrap_or_else(|| panic!("{name}: unreadable {l:?}")))
            }
            _ => None,
        })
        .collect();
    assert_eq!(cmgs, t.expect.cmgs, "{name}: +CMGS references");

    check_submits(&name, &s, &t.expect.submits);
    check_reports(&name, &s, &per_run, &t.expect.reports);
}

/// Every PDU typed at a prompt: consistent with its `AT+CMGS=<length>` and
/// exactly what the appliance's encoder makes of the expected text.
fn check_submits(name: &str, s: &Session, want: &[SubmitSpec]) {
    let sent: Vec<&Command> = s.commands.iter().filter(|c| c.pdu.is_some()).collect();
    assert_eq!(sent.len(), want.len(), "{name}: one `submit` per PDU sent");
    for (cmd, spec) in sent.iter().zip(want) {
        let hex = cmd.pdu.as_deref().unwrap();
        let bytes = hex::decode(hex).unwrap_or_else(|e| panic!("{name}: PDU hex: {e}"));
        let tpdu_len = bytes.len() - 1 - usize::from(bytes[0]);
        let length: usize = cmd
            .text
            .to_ascii_uppercase()
            .strip_prefix("AT+CMGS=")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name}: PDU typed after {:?}", cmd.text));
        assert_eq!(
            length, tpdu_len,
            "{name}: {} announces the wrong length",
            cmd.text
        );

        let d = pdu::decode_submit(hex).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(d.to, spec.to, "{name}: recipient");
        assert_eq!(d.text, spec.text, "{name}: text");
        assert!(
            d.status_report,
            "{name}: the appliance always asks for a report"
        );

        let opts = SubmitOptions {
            status_report: true,
            ..SubmitOptions::default()
        };
        let ours = pdu::encode_submit(&spec.to, &spec.text, &opts).unwrap();
        assert_eq!(
            ours.len(),
            1,
            "{name}: transcripts hold single-part messages"
        );
        assert_eq!(
            ours[0].hex, hex,
            "{name}: not the PDU the appliance would send"
        );
        assert_eq!(ours[0].tpdu_len, length, "{name}: AT+CMGS length");
    }
}

/// Status reports from `+CDS` and from `AT+CMGR` replies.
fn check_reports(name: &str, s: &Session, per_run: &[Vec<Item>], want: &[ReportSpec]) {
    let cds: Vec<&str> = per_run
        .iter()
        .flatten()
        .filter_map(|i| match i {
            Item::Urc(Urc::Cds { pdu }) => Some(pdu.as_str()),
            _ => None,
        })
        .collect();
    // The driver's reading of AT+CMGR: the line after the `+CMGR:` header.
    let cmgr: Vec<String> = s
        .commands
        .iter()
        .enumerate()
        .filter(|(_, c)| c.text.to_ascii_uppercase().starts_with("AT+CMGR="))
        .filter_map(|(ci, _)| {
            let lines: Vec<&String> = s
                .runs
                .iter()
                .zip(per_run)
                .filter(|(r, _)| r.command == Some(ci))
                .flat_map(|(_, items)| items)
                .filter_map(|i| match i {
                    Item::Text(l) => Some(l),
                    _ => None,
                })
                .collect();
            lines
                .iter()
                .skip_while(|l| !l.starts_with("+CMGR:"))
                .nth(1)
                .map(|l| (*l).clone())
        })
        .collect();
    let by_source = |src| want.iter().filter(move |r| r.source == src);
    assert_eq!(
        cds.len(),
        by_source(ReportSource::Cds).count(),
        "{name}: one `report cds` per +CDS"
    );
    assert_eq!(
        cmgr.len(),
        by_source(ReportSource::Cmgr).count(),
        "{name}: one `report cmgr` per PDU read back"
    );
    let pdus = cds.iter().copied().zip(by_source(ReportSource::Cds)).chain(
        cmgr.iter()
            .map(String::as_str)
            .zip(by_source(ReportSource::Cmgr)),
    );
    for (hex, spec) in pdus {
        let with_smsc = pdu::decode_status_report(hex);
        let without = pdu::decode_status_report_tpdu(hex);
        // What `driver::reports` does with a +CDS.
        let driver =
            pdu::decode_status_report(hex).or_else(|_| pdu::decode_status_report_tpdu(hex));
        match &spec.want {
            None => {
                assert!(
                    with_smsc.is_err() && without.is_err(),
                    "{name}: {hex} is no status report, yet decodes: {with_smsc:?} / {without:?}"
                );
            }
            Some((report, true)) => {
                assert_eq!(
                    with_smsc.as_ref(),
                    Ok(report),
                    "{name}: {hex} with SMSC field"
                );
                assert_eq!(
                    driver.as_ref(),
                    Ok(report),
                    "{name}: {hex} as the driver reads it"
                );
            }
            Some((report, false)) => {
                assert_eq!(
                    without.as_ref(),
                    Ok(report),
                    "{name}: {hex} without SMSC field"
                );
                assert!(
                    with_smsc.is_err(),
                    "{name}: {hex} has no SMSC field but also decodes as if it had: {with_smsc:?}"
                );
                assert_eq!(
                    driver.as_ref(),
                    Ok(report),
                    "{name}: {hex} as the driver reads it"
                );
            }
        }
    }
}

#[test]
fn every_transcript_parses_as_its_header_expects() {
    let files = transcript_files();
    assert!(
        files.len() >= 4,
        "expected a transcript per modem family in {}",
        transcript_dir().display()
    );
    for file in &files {
        check_transcript(file);
    }
}

#[test]
fn each_modem_family_has_a_transcript_with_a_send_and_a_report() {
    let files = transcript_files();
    for family in [
        "huawei-e3372",
        "simcom-sim7600",
        "quectel-ec25",
        "sierra-mc73xx",
    ] {
        let ts: Vec<Transcript> = files
            .iter()
            .filter(|f| f.file_name().unwrap().to_string_lossy().starts_with(family))
            .map(|f| parse_transcript(f))
            .collect();
        assert!(!ts.is_empty(), "no transcript for {family}");
        assert!(
            ts.iter().any(|t| !t.expect.submits.is_empty()),
            "{family}: no transcript sends a message"
        );
        assert!(
            ts.iter().any(|t| !t.expect.reports.is_empty()),
            "{family}: no transcript has a status report"
        );
        assert!(
            ts.iter()
                .any(|t| t.expect.finals.values().any(|q| !q.is_empty())),
            "{family}: no transcript has an error reply"
        );
    }
}

#[test]
fn transcript_headers_say_they_are_reconstructed() {
    for file in transcript_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        let header: String = text
            .lines()
            .take_while(|l| l.starts_with('#') || l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            header.contains("RECONSTRUCTED, NOT CAPTURED FROM A DEVICE"),
            "{}: the header must say the transcript is reconstructed",
            file.display()
        );
    }
}
