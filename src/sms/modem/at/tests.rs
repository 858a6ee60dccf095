//! Parser tests: transcripts fed whole, byte by byte and split at every
//! position, plus property tests on arbitrary bytes and chunkings.

use super::*;
use proptest::prelude::*;

const PDU: &str = "0011000B914171000000F00000AA0AE8329BFD4697D9EC37";
const DELIVER: &str = "07914140540510F1040B914171000000F00000421010311540800AE8329BFD4697D9EC37";

fn text(s: &str) -> Item {
    Item::Text(s.into())
}
fn echo(s: &str) -> Item {
    Item::Echo(s.into())
}
fn other(s: &str) -> Item {
    Item::Urc(Urc::Other(s.into()))
}
fn huawei(s: &str) -> Item {
    Item::Urc(Urc::Huawei(s.into()))
}
fn fin(f: Final) -> Item {
    Item::Final(f)
}
fn ok() -> Item {
    fin(Final::Ok)
}

fn parser(pending: Option<&str>) -> Parser {
    let mut p = Parser::new();
    p.set_pending(pending);
    p
}

fn whole(pending: Option<&str>, input: &[u8]) -> Vec<Item> {
    parser(pending).push(input)
}

fn chunked(pending: Option<&str>, input: &[u8], sizes: &[usize]) -> Vec<Item> {
    let mut p = parser(pending);
    let mut out = Vec::new();
    let mut rest = input;
    let mut i = 0;
    while !rest.is_empty() {
        let size = sizes
            .get(i % sizes.len().max(1))
            .copied()
            .unwrap_or(1)
            .max(1);
        let (head, tail) = rest.split_at(size.min(rest.len()));
        out.extend(p.push(head));
        rest = tail;
        i += 1;
    }
    out
}

struct Case {
    name: &'static str,
    pending: Option<&'static str>,
    input: Vec<u8>,
    want: Vec<Item>,
}

fn case(name: &'static str, pending: Option<&'static str>, input: &str, want: Vec<Item>) -> Case {
    Case {
        name,
        pending,
        input: input.as_bytes().to_vec(),
        want,
    }
}

fn cases() -> Vec<Case> {
    let csq = Some("AT+CSQ");
    let cmgs = Some("AT+CMGS=23");
    vec![
        case(
            "echo on",
            csq,
            "AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n",
            vec![echo("AT+CSQ"), text("+CSQ: 20,99"), ok()],
        ),
        case(
            "echo off",
            csq,
            "\r\n+CSQ: 20,99\r\n\r\nOK\r\n",
            vec![text("+CSQ: 20,99"), ok()],
        ),
        case(
            "CR only",
            csq,
            "AT+CSQ\r+CSQ: 20,99\r\rOK\r",
            vec![echo("AT+CSQ"), text("+CSQ: 20,99"), ok()],
        ),
        case(
            "LF only",
            csq,
            "AT+CSQ\n+CSQ: 20,99\n\nOK\n",
            vec![echo("AT+CSQ"), text("+CSQ: 20,99"), ok()],
        ),
        case(
            "no pending command",
            None,
            "AT+CSQ\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n",
            vec![echo("AT+CSQ"), text("+CSQ: 20,99"), ok()],
        ),
        case(
            "lower-case echo",
            Some("at+csq"),
            "at+csq\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n",
            vec![echo("at+csq"), text("+CSQ: 20,99"), ok()],
        ),
        case(
            "multi-line ATI",
            Some("ATI"),
            "ATI\r\r\nQuectel\r\nEC25\r\nRevision: EC25EFAR06A06M4G\r\n\r\nOK\r\n",
            vec![
                echo("ATI"),
                text("Quectel"),
                text("EC25"),
                text("Revision: EC25EFAR06A06M4G"),
                ok(),
            ],
        ),
        case(
            "IMEI",
            Some("AT+CGSN"),
            "\r\n860000000000000\r\n\r\nOK\r\n",
            vec![text("860000000000000"), ok()],
        ),
        case(
            "blanks trimmed, blank lines skipped",
            csq,
            "\r\n \t \r\n  +CSQ: 1,2  \r\n\n\n\r\r OK \r\n",
            vec![text("+CSQ: 1,2"), ok()],
        ),
        case(
            "URC between echo and prompt",
            cmgs,
            "AT+CMGS=23\r\r\n+CREG: 1\r\n> ",
            vec![
                echo("AT+CMGS=23"),
                Item::Urc(Urc::Creg { stat: 1 }),
                Item::Prompt,
            ],
        ),
        case(
            "send with echo: PDU echoed after the prompt",
            cmgs,
            &format!("AT+CMGS=23\r\r\n> {PDU}\x1a\r\n+CMGS: 12\r\n\r\nOK\r\n"),
            vec![
                echo("AT+CMGS=23"),
                Item::Prompt,
                echo(PDU),
                text("+CMGS: 12"),
                ok(),
            ],
        ),
        case(
            "send without echo",
            cmgs,
            "\r\n> \r\n+CMGS: 12\r\n\r\nOK\r\n",
            vec![Item::Prompt, text("+CMGS: 12"), ok()],
        ),
        case(
            "prompt on a line of its own",
            cmgs,
            "\r\n>\r\n",
            vec![Item::Prompt],
        ),
        case(
            "send refused",
            cmgs,
            &format!("> {PDU}\x1a\r\n+CMS ERROR: 304\r\n"),
            vec![Item::Prompt, echo(PDU), fin(Final::CmsError(304))],
        ),
        case(
            "'>' is text while a non-prompting command runs",
            Some("AT+CMGL=4"),
            "\r\n> quoted\r\n>\r\n\r\nOK\r\n",
            vec![text("> quoted"), text(">"), ok()],
        ),
        case(
            "^RSSI in the middle of a reply",
            csq,
            "AT+CSQ\r\r\n^RSSI:18\r\n+CSQ: 20,99\r\n\r\nOK\r\n",
            vec![echo("AT+CSQ"), huawei("^RSSI:18"), text("+CSQ: 20,99"), ok()],
        ),
        case(
            "+CMTI in the middle of a reply",
            csq,
            "AT+CSQ\r\r\n+CMTI: \"ME\",1\r\n+CSQ: 20,99\r\n\r\nOK\r\n",
            vec![
                echo("AT+CSQ"),
                Item::Urc(Urc::Cmti {
                    mem: "ME".into(),
                    index: 1,
                }),
                text("+CSQ: 20,99"),
                ok(),
            ],
        ),
        case("RING", None, "\r\nRING\r\n", vec![Item::Urc(Urc::Ring)]),
        case(
            "+CMTI",
            None,
            "\r\n+CMTI: \"SM\",3\r\n",
            vec![Item::Urc(Urc::Cmti {
                mem: "SM".into(),
                index: 3,
            })],
        ),
        case(
            "+CMTI malformed",
            None,
            "\r\n+CMTI: \"SM\"\r\n",
            vec![other("+CMTI: \"SM\"")],
        ),
        case(
            "+CDSI",
            None,
            "\r\n+CDSI: \"SR\",5\r\n",
            vec![Item::Urc(Urc::Cdsi {
                mem: "SR".into(),
                index: 5,
            })],
        ),
        case(
            "+CDS joined with its PDU",
            None,
            &format!("\r\n+CDS: 25\r\n{DELIVER}\r\n"),
            vec![Item::Urc(Urc::Cds {
                pdu: DELIVER.into(),
            })],
        ),
        case(
            "+CDS with a blank line before the PDU",
            None,
            &format!("\r\n+CDS: 25\r\n\r\n{DELIVER}\r\n"),
            vec![Item::Urc(Urc::Cds {
                pdu: DELIVER.into(),
            })],
        ),
        case(
            "+CDS during a command",
            csq,
            &format!("AT+CSQ\r\r\n+CDS: 25\r\n{DELIVER}\r\n+CSQ: 9,99\r\n\r\nOK\r\n"),
            vec![
                echo("AT+CSQ"),
                Item::Urc(Urc::Cds {
                    pdu: DELIVER.into(),
                }),
                text("+CSQ: 9,99"),
                ok(),
            ],
        ),
        case(
            "+CDS whose PDU never came does not swallow the final",
            csq,
            "\r\n+CDS: 25\r\nOK\r\n",
            vec![other("+CDS: 25"), ok()],
        ),
        case(
            "+CDS text mode is one line",
            None,
            "\r\n+CDS: 6,12,\"+41791234567\",145,\"24/01/01,10:00:00+04\",\"24/01/01,10:00:05+04\",0\r\n",
            vec![other(
                "+CDS: 6,12,\"+41791234567\",145,\"24/01/01,10:00:00+04\",\"24/01/01,10:00:05+04\",0",
            )],
        ),
        case(
            "+CMT joined with its PDU",
            None,
            &format!("\r\n+CMT: ,24\r\n{DELIVER}\r\n"),
            vec![Item::Urc(Urc::Cmt {
                pdu: DELIVER.into(),
            })],
        ),
        case(
            "+CMT with an alpha containing a comma",
            None,
            &format!("\r\n+CMT: \"Doe, J\",24\r\n{DELIVER}\r\n"),
            vec![Item::Urc(Urc::Cmt {
                pdu: DELIVER.into(),
            })],
        ),
        case(
            "+CMT text mode joins header and body",
            None,
            "\r\n+CMT: \"+41791234567\",,\"24/01/01,10:00:00+04\"\r\nHello, world\r\n",
            vec![other(
                "+CMT: \"+41791234567\",,\"24/01/01,10:00:00+04\"\nHello, world",
            )],
        ),
        case(
            "+CBM PDU mode",
            None,
            "\r\n+CBM: 88\r\n0011AB\r\n",
            vec![other("+CBM: 88\n0011AB")],
        ),
        case(
            "+CMS ERROR numeric",
            cmgs,
            "\r\n+CMS ERROR: 304\r\n",
            vec![fin(Final::CmsError(304))],
        ),
        case(
            "+CME ERROR numeric",
            None,
            "\r\n+CME ERROR: 10\r\n",
            vec![fin(Final::CmeError(10))],
        ),
        case(
            "+CME ERROR verbose, standard text",
            None,
            "\r\n+CME ERROR: SIM PIN required\r\n",
            vec![fin(Final::CmeError(11))],
        ),
        case(
            "+CME ERROR verbose, unknown text",
            None,
            "\r\n+CME ERROR: Please wait\r\n",
            vec![fin(Final::CmeErrorText("Please wait".into()))],
        ),
        case(
            "+CMS ERROR verbose",
            cmgs,
            "\r\n+CMS ERROR: unknown error\r\n+CMS ERROR: Bogus\r\n",
            vec![
                fin(Final::CmsError(500)),
                fin(Final::CmsErrorText("Bogus".into())),
            ],
        ),
        case(
            "+CME ERROR without a space or a value",
            None,
            "\r\n+CME ERROR:3\r\n+CME ERROR:\r\n+CME ERROR: 99999\r\n",
            vec![
                fin(Final::CmeError(3)),
                fin(Final::Error),
                fin(Final::CmeErrorText("99999".into())),
            ],
        ),
        case(
            "plain and vendor errors",
            None,
            "\r\nERROR\r\n\r\nCOMMAND NOT SUPPORT\r\n\r\nTOO MANY PARAMETERS\r\nMODEM ERROR: 3\r\n",
            vec![
                fin(Final::Error),
                fin(Final::Error),
                fin(Final::Error),
                fin(Final::Error),
            ],
        ),
        case(
            "call results",
            None,
            "\r\nNO CARRIER\r\n\r\nBUSY\r\n\r\nNO ANSWER\r\n\r\nNO DIALTONE\r\n",
            vec![
                fin(Final::NoCarrier),
                fin(Final::Busy),
                fin(Final::NoAnswer),
                fin(Final::NoDialtone),
            ],
        ),
        case(
            "+CREG read reply is text while AT+CREG? runs",
            Some("AT+CREG?"),
            "AT+CREG?\r\r\n+CREG: 0,1\r\n\r\nOK\r\n",
            vec![echo("AT+CREG?"), text("+CREG: 0,1"), ok()],
        ),
        case(
            "+CREG URC-shaped line is text too while AT+CREG? runs",
            Some("at+creg?"),
            "\r\n+CREG: 1\r\n\r\nOK\r\n",
            vec![text("+CREG: 1"), ok()],
        ),
        case(
            "registration URCs",
            None,
            "\r\n+CREG: 1\r\n\r\n+CREG: 5,\"00C3\",\"0000A1B2\",7\r\n\r\n+CGREG: 2\r\n\r\n+CEREG: 1,\"1A2B\",\"01A2B3C4\",7\r\n",
            vec![
                Item::Urc(Urc::Creg { stat: 1 }),
                Item::Urc(Urc::Creg { stat: 5 }),
                Item::Urc(Urc::Cgreg { stat: 2 }),
                Item::Urc(Urc::Cereg { stat: 1 }),
            ],
        ),
        case(
            "late read reply without pending is text",
            None,
            "\r\n+CREG: 0,1\r\n\r\n+CEREG: 2,5,\"1A2B\",\"01A2B3C4\",7\r\n",
            vec![
                text("+CREG: 0,1"),
                text("+CEREG: 2,5,\"1A2B\",\"01A2B3C4\",7"),
            ],
        ),
        case(
            "URC of another command while AT+CSQ runs",
            csq,
            "\r\n+CEREG: 5\r\n+CSQ: 20,99\r\nOK\r\n",
            vec![Item::Urc(Urc::Cereg { stat: 5 }), text("+CSQ: 20,99"), ok()],
        ),
        case(
            "compound command line",
            Some("AT+CMEE=1;+CREG?"),
            "\r\n+CREG: 0,5\r\n+CREG: 1\r\nOK\r\n",
            vec![text("+CREG: 0,5"), text("+CREG: 1"), ok()],
        ),
        case(
            "+CPIN read reply",
            Some("AT+CPIN?"),
            "AT+CPIN?\r\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n",
            vec![echo("AT+CPIN?"), text("+CPIN: SIM PIN"), ok()],
        ),
        case(
            "boot reports",
            None,
            "\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n\r\nSMS Ready\r\n",
            vec![
                other("RDY"),
                other("+CFUN: 1"),
                other("+CPIN: READY"),
                other("+QUSIM: 1"),
                other("SMS Ready"),
            ],
        ),
        case(
            "Huawei boot",
            None,
            "\r\n^BOOT:27710117,0,0,0,75\r\n\r\n^MODE:3,3\r\n\r\n^HCSQ:\"LTE\",48,43,116,20\r\n",
            vec![
                huawei("^BOOT:27710117,0,0,0,75"),
                huawei("^MODE:3,3"),
                huawei("^HCSQ:\"LTE\",48,43,116,20"),
            ],
        ),
        case(
            "Huawei reply while its command runs",
            Some("AT^SYSINFO"),
            "AT^SYSINFO\r\r\n^RSSI:17\r\n^SYSINFO:2,3,0,5,1\r\n\r\nOK\r\n",
            vec![
                echo("AT^SYSINFO"),
                huawei("^RSSI:17"),
                text("^SYSINFO:2,3,0,5,1"),
                ok(),
            ],
        ),
        case(
            "+CUSD",
            None,
            "\r\n+CUSD: 0,\"Balance: 10.00\",15\r\n",
            vec![other("+CUSD: 0,\"Balance: 10.00\",15")],
        ),
        case(
            "NUL and other control bytes dropped",
            None,
            "\0\0\r\nO\0K\x1b\r\n\x07",
            vec![ok()],
        ),
    ]
}

#[test]
fn transcripts_whole() {
    for c in cases() {
        assert_eq!(whole(c.pending, &c.input), c.want, "case {:?}", c.name);
    }
}

#[test]
fn transcripts_byte_by_byte() {
    for c in cases() {
        assert_eq!(
            chunked(c.pending, &c.input, &[1]),
            c.want,
            "case {:?}",
            c.name
        );
    }
}

#[test]
fn transcripts_split_at_every_position() {
    for c in cases() {
        for at in 0..=c.input.len() {
            let mut p = parser(c.pending);
            let mut got = p.push(&c.input[..at]);
            got.extend(p.push(&c.input[at..]));
            assert_eq!(got, c.want, "case {:?} split at {at}", c.name);
        }
    }
}

#[test]
fn transcripts_in_odd_chunks() {
    for c in cases() {
        for sizes in [&[2][..], &[3], &[7], &[5, 1, 2], &[64]] {
            let got = chunked(c.pending, &c.input, sizes);
            assert_eq!(got, c.want, "case {:?} sizes {sizes:?}", c.name);
        }
    }
}

#[test]
fn prompt_is_reported_before_any_newline() {
    let mut p = parser(Some("AT+CMGS=23"));
    // The echo ends with its CR; the reply's CR LF is an empty line.
    assert_eq!(p.push(b"AT+CMGS=23\r"), vec![echo("AT+CMGS=23")]);
    assert_eq!(p.push(b"\r\n"), vec![]);
    assert_eq!(p.push(b">"), vec![Item::Prompt]);
    // The space after a bare '>' belongs to the same prompt.
    assert_eq!(p.push(b" "), vec![]);
    assert_eq!(p.push(PDU.as_bytes()), vec![]);
    assert_eq!(p.push(b"\x1a"), vec![]);
    assert_eq!(
        p.push(b"\r\n+CMGS: 7\r\n\r\nOK\r\n"),
        vec![echo(PDU), text("+CMGS: 7"), ok()]
    );
}

#[test]
fn gt_starting_a_longer_line_is_not_a_prompt() {
    for input in [&b"\r\n>abc\r\n"[..], b"\r\n>>\r\n", b"\r\n>=5\r\n"] {
        let got = whole(None, input);
        let want = vec![text(
            std::str::from_utf8(&input[2..input.len() - 2]).unwrap_or(""),
        )];
        assert_eq!(got, want, "input {input:?}");
    }
    // A bare '>' at the end of a read is taken for the prompt only when a
    // prompting command (or none) is pending.
    assert_eq!(whole(Some("AT+CMGL=4"), b"\r\n>"), vec![]);
    assert_eq!(whole(Some("AT+CMGW=23"), b"\r\n>"), vec![Item::Prompt]);
    assert_eq!(whole(None, b"\r\n>"), vec![Item::Prompt]);
    assert_eq!(whole(Some("AT+CSQ"), b"\r\n> "), vec![]);
}

#[test]
fn pending_can_be_cleared() {
    let mut p = parser(Some("AT+CREG?"));
    assert_eq!(p.push(b"\r\n+CREG: 1\r\n"), vec![text("+CREG: 1")]);
    p.set_pending(None);
    assert_eq!(
        p.push(b"\r\n+CREG: 1\r\n"),
        vec![Item::Urc(Urc::Creg { stat: 1 })]
    );
}

#[test]
fn invalid_utf8_is_replaced() {
    let got = whole(None, b"\r\n+COPS: 0,0,\"Sw\xffss\"\r\n\xfe\xff\r\n");
    assert_eq!(
        got,
        vec![
            text("+COPS: 0,0,\"Sw\u{FFFD}ss\""),
            text("\u{FFFD}\u{FFFD}")
        ]
    );
}

#[test]
fn huge_line_is_capped() {
    let mut p = Parser::new();
    let chunk = vec![b'A'; 10 * 1024];
    for _ in 0..10 {
        assert_eq!(p.push(&chunk), vec![]);
        assert!(p.line.len() <= MAX_LINE);
    }
    let got = p.push(b"\r\nOK\r\n");
    assert_eq!(got, vec![text(&"A".repeat(MAX_LINE)), ok()]);
    assert_eq!(p.truncated_lines(), 1);
    assert_eq!(p.push(b"short\r\n"), vec![text("short")]);
    assert_eq!(p.truncated_lines(), 1);
}

#[test]
fn reset_forgets_partial_state() {
    let mut p = parser(Some("AT+CREG?"));
    assert_eq!(p.push(b"\r\n+CDS: 25\r\n"), vec![]);
    assert_eq!(p.push(b"+CSQ: 1"), vec![]);
    p.reset();
    // The half line, the +CDS header and the pending command are gone.
    assert_eq!(p.push(b",2\r\n"), vec![text(",2")]);
    assert_eq!(p.push(b"0011\r\n"), vec![text("0011")]);
    assert_eq!(
        p.push(b"+CREG: 1\r\n"),
        vec![Item::Urc(Urc::Creg { stat: 1 })]
    );
}

#[test]
fn two_line_header_followed_by_another_header() {
    let got = whole(
        None,
        format!("\r\n+CMT: ,24\r\n+CDS: 25\r\n{DELIVER}\r\n").as_bytes(),
    );
    assert_eq!(
        got,
        vec![
            other("+CMT: ,24"),
            Item::Urc(Urc::Cds {
                pdu: DELIVER.into()
            })
        ]
    );
}

#[test]
fn final_helpers() {
    let cases = [
        (Final::Ok, true, None),
        (Final::Error, false, Some(ErrorClass::Retryable)),
        (Final::CmsError(304), false, Some(ErrorClass::Permanent)),
        (Final::CmsError(331), false, Some(ErrorClass::Retryable)),
        (Final::CmeError(11), false, Some(ErrorClass::Permanent)),
        (Final::CmeError(14), false, Some(ErrorClass::Retryable)),
        (
            Final::CmeErrorText("x".into()),
            false,
            Some(ErrorClass::Retryable),
        ),
        (Final::NoCarrier, false, Some(ErrorClass::Retryable)),
    ];
    for (f, is_ok, class) in cases {
        assert_eq!(f.is_ok(), is_ok, "{f:?}");
        assert_eq!(f.classify(), class, "{f:?}");
    }
}

/// Every string in an item is trimmed and non-empty.
fn check_items(items: &[Item]) -> Result<(), TestCaseError> {
    for item in items {
        let s = match item {
            Item::Text(s) | Item::Echo(s) => s,
            Item::Urc(Urc::Huawei(s) | Urc::Other(s)) => s,
            Item::Urc(Urc::Cmt { pdu } | Urc::Cds { pdu }) => pdu,
            Item::Urc(Urc::Cmti { mem, .. } | Urc::Cdsi { mem, .. }) => mem,
            _ => continue,
        };
        prop_assert!(!s.is_empty(), "empty string in {:?}", item);
        prop_assert_eq!(s.trim(), s.as_str());
        // Lossy decoding at most triples a byte; two-line URCs join two lines.
        prop_assert!(s.len() <= 2 * 3 * MAX_LINE + 1);
    }
    Ok(())
}

/// Bytes that exercise the parser's corners, mixed with random ones.
fn noisy_bytes() -> impl Strategy<Value = Vec<u8>> {
    let token = prop_oneof![
        any::<u8>().prop_map(|b| vec![b]),
        Just(b"\r".to_vec()),
        Just(b"\n".to_vec()),
        Just(b">".to_vec()),
        Just(b"> ".to_vec()),
        Just(b" ".to_vec()),
        Just(b"\0".to_vec()),
        Just(b"\xff".to_vec()),
        Just(b"OK".to_vec()),
        Just(b"AT".to_vec()),
        Just(b"+CDS: 25".to_vec()),
        Just(b"+CMT: ,24".to_vec()),
        Just(b"+CREG: 1".to_vec()),
        Just(b"+CME ERROR: ".to_vec()),
        Just(b"0791AB".to_vec()),
        Just(b"^RSSI:".to_vec()),
    ];
    prop::collection::vec(token, 0..200).prop_map(|t| t.concat())
}

/// Well-formed pieces of a modem session; `|` stands for a line end.
const PIECES: &[&str] = &[
    "AT+CSQ\r|+CSQ: 20,99||OK|",
    "|+CMTI: \"SM\",3|",
    "|RING|",
    "|^RSSI:18|",
    "|+CDS: 25||07914140540510F1060C9141710000000042101031154000|",
    "|+CMT: ,24|07914140540510F1040B914171000000F000004210103115408000|",
    "AT+CMGS=23\r|> 0011000B914171000000F00000AA0AE8329BFD4697D9EC37\x1a|+CMGS: 12||OK|",
    "|> |+CMGS: 13||OK|",
    "|+CME ERROR: SIM PIN required|",
    "|+CMS ERROR: 332|",
    "|+CREG: 1,\"00C3\",\"0000A1B2\"|",
    "|+CREG: 0,1|",
    "|ERROR|",
    "|+CUSD: 0,\"x, y\",15|",
    "ATI\r|Quectel|EC25||OK|",
    "|\0noise\u{7f} and \u{e9}|",
];

const EOLS: &[&str] = &["\r\n", "\r", "\n", "\r\r\n", "\r\n\r\n"];

fn transcript() -> impl Strategy<Value = Vec<u8>> {
    let piece = (0..PIECES.len(), 0..EOLS.len());
    prop::collection::vec(piece, 0..24).prop_map(|picks| {
        picks
            .into_iter()
            .map(|(p, e)| PIECES[p].replace('|', EOLS[e]))
            .collect::<String>()
            .into_bytes()
    })
}

fn sizes() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1..48usize, 1..32)
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..4096), sizes in sizes()) {
        check_items(&whole(None, &bytes))?;
        check_items(&chunked(None, &bytes, &sizes))?;
        check_items(&chunked(Some("AT+CMGS=23"), &bytes, &sizes))?;
    }

    #[test]
    fn noisy_bytes_never_panic(bytes in noisy_bytes(), sizes in sizes()) {
        check_items(&whole(None, &bytes))?;
        check_items(&chunked(None, &bytes, &sizes))?;
        check_items(&chunked(Some("AT+CREG?"), &bytes, &sizes))?;
    }

    #[test]
    fn chunking_does_not_matter_without_gt(bytes in noisy_bytes(), sizes in sizes()) {
        let bytes: Vec<u8> = bytes.into_iter().filter(|b| *b != b'>').collect();
        prop_assert_eq!(whole(None, &bytes), chunked(None, &bytes, &sizes));
    }

    #[test]
    fn chunking_does_not_matter_for_transcripts(bytes in transcript(), sizes in sizes()) {
        let want = whole(None, &bytes);
        check_items(&want)?;
        prop_assert_eq!(&chunked(None, &bytes, &sizes), &want);
        prop_assert_eq!(&chunked(None, &bytes, &[1]), &want);
    }
}
