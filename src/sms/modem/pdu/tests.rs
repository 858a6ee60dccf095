use super::*;
use proptest::prelude::*;

fn opts() -> SubmitOptions {
    SubmitOptions::default()
}

fn encode(to: &str, text: &str, opts: &SubmitOptions) -> Vec<SubmitPdu> {
    encode_submit(to, text, opts).unwrap()
}

fn decode_all(pdus: &[SubmitPdu]) -> Vec<DecodedSubmit> {
    pdus.iter()
        .map(|p| decode_submit(&p.hex).unwrap())
        .collect()
}

/// The pieces of one encoded part, found by walking its octets.
struct Layout {
    smsc_len: usize,
    dcs: u8,
    udhi: bool,
    udl: usize,
    ud: Vec<u8>,
}

fn layout(hex: &str) -> Layout {
    let bytes = hex::decode(hex).unwrap();
    let smsc_len = 1 + usize::from(bytes[0]);
    let tpdu = &bytes[smsc_len..];
    let first = tpdu[0];
    let da_octets = usize::from(tpdu[2]).div_ceil(2);
    let dcs_at = 2 + 2 + da_octets + 1;
    let vp = usize::from(first & VPF_MASK == VPF_RELATIVE);
    let udl_at = dcs_at + 1 + vp;
    Layout {
        smsc_len,
        dcs: tpdu[dcs_at],
        udhi: first & UDHI != 0,
        udl: usize::from(tpdu[udl_at]),
        ud: tpdu[udl_at + 1..].to_vec(),
    }
}

// ---- Published vectors -------------------------------------------

/// The SMS-SUBMIT example of Lars Pettersson's "SMS and the PDU format"
/// (dreamfabric.com/sms), quoted in countless modem tutorials:
/// "hellohello" to +46708251358, validity AA (4 days).
#[test]
fn vector_hellohello() {
    let hex = "0011000B916407281553F80000AA0AE8329BFD4697D9EC37";
    let pdus = encode(
        "+46708251358",
        "hellohello",
        &SubmitOptions {
            validity_minutes: Some(5760),
            ..opts()
        },
    );
    assert_eq!(
        pdus,
        vec![SubmitPdu {
            hex: hex.to_owned(),
            tpdu_len: 23
        }]
    );
    assert_eq!(
        decode_submit(hex).unwrap(),
        DecodedSubmit {
            to: "+46708251358".to_owned(),
            text: "hellohello".to_owned(),
            coding: Coding::Gsm7,
            status_report: false,
            concat: None,
            message_ref: 0,
        }
    );
}

/// python-gsmmodem (faucamp/python-gsmmodem, test/test_pdu.py,
/// `test_encodeSmsSubmit`): GSM 7-bit without validity or SMSC.
#[test]
fn vector_python_gsmmodem_hello_world() {
    let hex = "0001000B917228001011F100000CC8329BFD065DDF72363904";
    let pdus = encode("+27820001111", "Hello World!", &opts());
    assert_eq!(pdus.len(), 1);
    assert_eq!(pdus[0].hex, hex);
    assert_eq!(pdus[0].tpdu_len, hex.len() / 2 - 1);
    assert_eq!(decode_submit(hex).unwrap().text, "Hello World!");
}

/// python-gsmmodem, test/test_pdu.py, `test_encodeSmsSubmit`: UCS-2
/// "世界您好！" to +123456789 through SMSC +44000000000, validity 52
/// weeks (TP-VP F4).
#[test]
fn vector_python_gsmmodem_ucs2_submit() {
    let hex = "07914400000000F01100099121436587F90008F40A4E16754C60A8597DFF01";
    let pdus = encode(
        "+123456789",
        "世界您好！",
        &SubmitOptions {
            validity_minutes: Some(52 * 7 * 24 * 60),
            smsc: Some("+44000000000".to_owned()),
            ..opts()
        },
    );
    assert_eq!(
        pdus,
        vec![SubmitPdu {
            hex: hex.to_owned(),
            tpdu_len: hex.len() / 2 - 8
        }]
    );
    let decoded = decode_submit(hex).unwrap();
    assert_eq!(decoded.to, "+123456789");
    assert_eq!(decoded.text, "世界您好！");
    assert_eq!(decoded.coding, Coding::Ucs2);
}

/// python-gsmmodem, test/test_pdu.py, `test_decode`: a UCS-2
/// SMS-SUBMIT "あ叶葉" to +34616585119 via SMSC +34646456456.
#[test]
fn vector_python_gsmmodem_ucs2_decode() {
    let decoded = decode_submit("07914346466554F601000B914316565811F9000806304253F68449").unwrap();
    assert_eq!(decoded.to, "+34616585119");
    assert_eq!(decoded.text, "あ叶葉");
    assert_eq!(decoded.coding, Coding::Ucs2);
    assert_eq!(decoded.concat, None);
}

/// python-gsmmodem, test/test_pdu.py, `test_decode` (the example of
/// Diafaan's online PDU tool): status report requested, TP-MR 0x0D,
/// validity 3 days (A9), SMSC +31624000000.
#[test]
fn vector_diafaan_submit_with_status_report() {
    let hex = "07911326040000F0310D0B911326880736F40000A90FF7FBDD454E87CDE1B0DB357EB701";
    assert_eq!(
        decode_submit(hex).unwrap(),
        DecodedSubmit {
            to: "+31628870634".to_owned(),
            text: "www.diafaan.com".to_owned(),
            coding: Coding::Gsm7,
            status_report: true,
            concat: None,
            message_ref: 0x0D,
        }
    );
    // We always send TP-MR 00; otherwise our encoding is the same.
    let pdus = encode(
        "+31628870634",
        "www.diafaan.com",
        &SubmitOptions {
            status_report: true,
            validity_minutes: Some(3 * 24 * 60),
            smsc: Some("+31624000000".to_owned()),
            concat_ref: 0,
        },
    );
    assert_eq!(pdus.len(), 1);
    assert_eq!(pdus[0].hex, hex.replacen("310D", "3100", 1));
}

/// python-gsmmodem, test/test_pdu.py, `test_encodeSmsSubmit_concatenated`:
/// three parts with concatenation reference 0. That test also sets
/// TP-RD (first octet 45); we never do (41), the rest is identical.
#[test]
fn vector_python_gsmmodem_concatenated() {
    let text = "Lorem ipsum dolor sit amet, consectetur adipisicing elit, sed do eiusmod \
                tempor incididunt ut labore et dolore magna aliqua.Ut enim ad minim veniam, \
                quinostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo \
                consequat.Duis aute irure dolor in reprehenderit in voluptate velit esse \
                cillum doloe eu fugiat nulla pariatur.Excepteur sint occaecat cupidatat non \
                proident, sunt in culpa qui officia deserunt mollit anim id est laborum";
    let published = [
        "0045000B915121551532F40000A0050003000301986F79B90D4AC3E7F53688FC66BFE5A0799A0E0AB7CB741668FC76CFCB637A995E9783C2E4343C3D4F8FD3EE33A8CC4ED359A079990C22BF41E5747DDE7E9341F4721BFE9683D2EE719A9C26D7DD74509D0E6287C56F791954A683C86FF65B5E06B5C36777181466A7E3F5B0AB4A0795DDE936284C06B5D3EE741B642FBBD3E1360B14AFA7DD",
        "0045000B915121551532F40000A0050003000302DE73BABC4E0695F165F9384D0FD3D36F37A8CE6687DBE337881D16BFE5E939C89D9EA741753A28CC4EC7EB6938A88C0795C3A0F1BBDD7E93DFA0F1DB3D2FC7EB61BA8B584FCF41E13ABD0C4ACBEBF23288FC66BFE5A0B41B242FC3E56574D94D2ECBD37450DA0DB2BFD975383D4C2F83EC65769A0E2ACFE765D038CD66D7DB20F29BFD2E83CA",
        "0045000B915121551532F400008C050003000303EA2073FD9C0ED341EE3A9B1D06C1C3F274985E97BB8AF871194E2FD7E5A079DA4D07BDC7E370791CA683C675789A1CA687E920F7DB0D82CBDF6972D94D6781E675371D947683C675363C0C8AD7D3A0B7D99C1EA7C32072795E96D7DD7450FBCD66A7E9A0B03BDD06A5C9A0F29C0E6287C56F79BD0D",
    ];
    let pdus = encode("+15125551234", text, &opts());
    let ours: Vec<&str> = pdus.iter().map(|p| p.hex.as_str()).collect();
    let expected: Vec<String> = published
        .iter()
        .map(|h| h.replacen("0045", "0041", 1))
        .collect();
    assert_eq!(ours, expected);

    let mut joined = String::new();
    for (seq, hex) in (1..).zip(published) {
        let part = decode_submit(hex).unwrap();
        assert_eq!(part.concat, Some((0, 3, seq)));
        assert_eq!(part.to, "+15125551234");
        joined.push_str(&part.text);
    }
    assert_eq!(joined, text);
}

/// python-gsmmodem, test/test_pdu.py, `test_decode`: SMS-STATUS-REPORT
/// for TP-MR 214 to +31628870634, TP-ST 00 (delivered).
#[test]
fn vector_python_gsmmodem_status_report() {
    let report =
        decode_status_report("0006D60B911326880736F4111011719551401110117195714000").unwrap();
    assert_eq!(
        report,
        StatusReport {
            message_ref: 214,
            recipient: "+31628870634".to_owned(),
            status: 0,
        }
    );
    assert!(report.delivered() && report.is_final());
}

/// The `+CDS:` line of amro.blogspot.com, "receiving an SMS status
/// report message" (2007-09-17). That modem left out the SMSC field.
#[test]
fn vector_amro_blog_status_report() {
    let tpdu = "06000B910221815716F2709021510121807090215101718000";
    let expected = StatusReport {
        message_ref: 0,
        recipient: "+20121875612".to_owned(),
        status: 0,
    };
    assert_eq!(decode_status_report_tpdu(tpdu).unwrap(), expected);
    assert_eq!(
        decode_status_report(&format!("00{tpdu}")).unwrap(),
        expected
    );
}

/// python-gsmmodem, test/test_pdu.py, `test_decode`: a "semi-invalid"
/// status report captured from a ZTE modem (odd recipient digits).
#[test]
fn vector_zte_status_report() {
    let report =
        decode_status_report("0297F1061C0F910B487228297020F5317062419272803170624192138000")
            .unwrap();
    assert_eq!(report.message_ref, 28);
    assert_eq!(report.status, 0);
    assert_eq!(report.recipient, "+#08427829207025");
}

/// python-gsmmodem, test/test_pdu.py, `test_decode`: PDUs we refuse.
#[test]
fn vectors_we_refuse() {
    // 8-bit data coding.
    assert_eq!(
        decode_submit("0591721891F101000B917228214365F700040C48656C6C6F20776F726C6421"),
        Err(PduError::Unsupported("8-bit data"))
    );
    // TP-UDL (A0) longer than the user data that follows.
    assert_eq!(
        decode_submit("0041010C910661345542F60008A0050003000301306F3044"),
        Err(PduError::Truncated)
    );
    // An SMS-DELIVER is not an SMS-SUBMIT.
    assert_eq!(
        decode_submit("06917228195339040B917228214365F700003130805120618005D4F29C2E03"),
        Err(PduError::WrongType {
            expected: "SMS-SUBMIT",
            found: 0
        })
    );
}

// ---- Alphabet and lengths ----------------------------------------

#[test]
fn coding_and_septet_length() {
    assert_eq!(choose_coding(""), Coding::Gsm7);
    assert_eq!(choose_coding("Grüezi, 5 € @ Zürich {ok}"), Coding::Gsm7);
    assert_eq!(choose_coding("ça"), Coding::Ucs2);
    assert_eq!(choose_coding("Ж"), Coding::Ucs2);
    assert_eq!(choose_coding("😀"), Coding::Ucs2);
    assert_eq!(choose_coding("\u{1B}"), Coding::Ucs2);
    assert_eq!(septet_len(""), Some(0));
    assert_eq!(septet_len("€"), Some(2));
    assert_eq!(septet_len("a€b"), Some(4));
    assert_eq!(septet_len("€[]{}~^\\|\u{0C}"), Some(20));
    assert_eq!(septet_len("ça"), None);
}

#[test]
fn extension_chars_round_trip() {
    let text = "€[]{}~^\\|\u{0C} and plain @£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ¤¡ÄÖÑÜ§¿äöñüà";
    let pdus = encode("+41794999000", text, &opts());
    assert_eq!(pdus.len(), 1);
    let decoded = decode_submit(&pdus[0].hex).unwrap();
    assert_eq!(decoded.text, text);
    assert_eq!(decoded.coding, Coding::Gsm7);
    assert_eq!(layout(&pdus[0].hex).udl, septet_len(text).unwrap());
}

#[test]
fn empty_text_is_one_empty_part() {
    let pdus = encode("+41794999000", "", &opts());
    assert_eq!(pdus.len(), 1);
    assert_eq!(layout(&pdus[0].hex).udl, 0);
    assert_eq!(decode_submit(&pdus[0].hex).unwrap().text, "");
}

// ---- Part boundaries ---------------------------------------------

fn part_texts(text: &str) -> Vec<String> {
    let pdus = encode("+41794999000", text, &opts());
    let parts = decode_all(&pdus);
    let total = u8::try_from(parts.len()).unwrap();
    for (seq, part) in (1..).zip(&parts) {
        if total == 1 {
            assert_eq!(part.concat, None);
        } else {
            assert_eq!(part.concat, Some((0, total, seq)));
        }
    }
    assert_eq!(part_count(text), parts.len());
    parts.into_iter().map(|p| p.text).collect()
}

#[test]
fn gsm7_160_septets_fit_one_part_161_need_two() {
    let a160 = "a".repeat(160);
    assert_eq!(part_texts(&a160), vec![a160.clone()]);
    let pdus = encode("+41794999000", &a160, &opts());
    assert_eq!(layout(&pdus[0].hex).ud.len(), 140);

    let a161 = "a".repeat(161);
    assert_eq!(part_texts(&a161), vec!["a".repeat(153), "a".repeat(8)]);
    let pdus = encode("+41794999000", &a161, &opts());
    let first = layout(&pdus[0].hex);
    assert!(first.udhi);
    assert_eq!(first.udl, 160);
    assert_eq!(first.ud.len(), 140);
    assert_eq!(&first.ud[..6], &[0x05, 0x00, 0x03, 0x00, 0x02, 0x01]);
}

#[test]
fn euro_counts_two_septets() {
    let e80 = "€".repeat(80);
    assert_eq!(part_texts(&e80), vec![e80.clone()]);
    // 81 € are 162 septets: parts of 76 € (152 septets; 77 would be 154).
    let e81 = "€".repeat(81);
    assert_eq!(part_texts(&e81), vec!["€".repeat(76), "€".repeat(5)]);
}

#[test]
fn escape_pair_never_straddles_a_part_boundary() {
    // Septets 153 and 154 would be the escape pair of the €.
    let text = format!("{}€{}", "a".repeat(152), "b".repeat(20));
    let parts = part_texts(&text);
    assert_eq!(parts, vec!["a".repeat(152), format!("€{}", "b".repeat(20))]);
    let pdus = encode("+41794999000", &text, &opts());
    assert_eq!(layout(&pdus[0].hex).udl, 7 + 152);
    // With 153 plain septets in front, the € opens the second part.
    let text = format!("{}€{}", "a".repeat(153), "b".repeat(10));
    assert_eq!(
        part_texts(&text),
        vec!["a".repeat(153), format!("€{}", "b".repeat(10))]
    );
}

#[test]
fn ucs2_70_units_fit_one_part_71_need_two() {
    let z70 = "ж".repeat(70);
    assert_eq!(part_texts(&z70), vec![z70.clone()]);
    let pdus = encode("+41794999000", &z70, &opts());
    let l = layout(&pdus[0].hex);
    assert_eq!((l.dcs, l.udl, l.ud.len()), (DCS_UCS2, 140, 140));

    let z71 = "ж".repeat(71);
    assert_eq!(part_texts(&z71), vec!["ж".repeat(67), "ж".repeat(4)]);
    let pdus = encode("+41794999000", &z71, &opts());
    assert_eq!(layout(&pdus[0].hex).udl, 6 + 134);
}

#[test]
fn emoji_are_surrogate_pairs() {
    let smile = "😀".repeat(35); // 70 UTF-16 units
    assert_eq!(part_texts(&smile), vec![smile.clone()]);
    let pdus = encode("+41794999000", "😀", &opts());
    assert!(pdus[0].hex.ends_with("04D83DDE00"));

    let text = format!("{smile}a"); // 71 units
    assert_eq!(
        part_texts(&text),
        vec!["😀".repeat(33), "😀😀a".to_owned()],
        "67 units would split the 34th emoji"
    );
}

#[test]
fn surrogate_pair_never_straddles_a_part_boundary() {
    // Units 67 and 68 would be the surrogate pair.
    let text = format!("{}😀😀😀", "a".repeat(66));
    assert_eq!(part_texts(&text), vec!["a".repeat(66), "😀😀😀".to_owned()]);
}

#[test]
fn at_most_255_parts() {
    let most = "a".repeat(255 * 153);
    let pdus = encode("+41794999000", &most, &opts());
    assert_eq!(pdus.len(), 255);
    assert_eq!(
        decode_submit(&pdus[254].hex).unwrap().concat,
        Some((0, 255, 255))
    );
    assert_eq!(
        encode_submit("+41794999000", &format!("{most}a"), &opts()),
        Err(PduError::TooLong { parts: 256 })
    );
    assert_eq!(part_count(&format!("{most}a")), 256);
}

// ---- Options and header fields -----------------------------------

#[test]
fn options_reach_the_pdu() {
    let options = SubmitOptions {
        status_report: true,
        validity_minutes: Some(10),
        smsc: Some("+41794999000".to_owned()),
        concat_ref: 0xAB,
    };
    let pdus = encode("0791234567", &"x".repeat(200), &options);
    assert_eq!(pdus.len(), 2);
    for (seq, pdu) in (1..).zip(&pdus) {
        // SMSC 07 91 1497949900F0; first octet 71 (UDHI, SRR, VPF
        // relative, SUBMIT); TP-MR 00; DA 0A 81 7019325476; PID 00;
        // DCS 00; VP 01 (10 minutes).
        assert_eq!(
            &pdu.hex[..40],
            "07911497949900F071000A817019325476000001",
            "{}",
            pdu.hex
        );
        assert_eq!(pdu.tpdu_len, pdu.hex.len() / 2 - 8);
        let decoded = decode_submit(&pdu.hex).unwrap();
        assert_eq!(decoded.to, "0791234567");
        assert!(decoded.status_report);
        assert_eq!(decoded.concat, Some((0xAB, 2, seq)));
    }
}

#[test]
fn bad_numbers_are_refused() {
    assert_eq!(
        encode_submit("+41 79", "x", &opts()),
        Err(PduError::InvalidNumber("+41 79".to_owned()))
    );
    let bad_smsc = SubmitOptions {
        smsc: Some("smsc".to_owned()),
        ..opts()
    };
    assert_eq!(
        encode_submit("+41794999000", "x", &bad_smsc),
        Err(PduError::InvalidNumber("smsc".to_owned()))
    );
}

#[test]
fn relative_validity_follows_23040() {
    // Published by python-gsmmodem (test_pdu.py, TestRelativeValidityPeriod).
    assert_eq!(relative_validity(30), 5);
    assert_eq!(relative_validity(16 * 60), 151);
    assert_eq!(relative_validity(3 * 1440), 169);
    assert_eq!(relative_validity(5 * 10_080), 197);
    // Range edges and rounding up.
    assert_eq!(relative_validity(0), 0);
    assert_eq!(relative_validity(5), 0);
    assert_eq!(relative_validity(6), 1);
    assert_eq!(relative_validity(720), 143);
    assert_eq!(relative_validity(721), 144);
    assert_eq!(relative_validity(1440), 167);
    assert_eq!(relative_validity(1441), 168);
    assert_eq!(relative_validity(5760), 0xAA);
    assert_eq!(relative_validity(30 * 1440), 196);
    assert_eq!(relative_validity(30 * 1440 + 1), 197);
    assert_eq!(relative_validity(63 * 10_080), 255);
    assert_eq!(relative_validity(u32::MAX), 255);
    assert_eq!(relative_validity_minutes(0xAA), 5760);
    assert_eq!(relative_validity_minutes(255), 63 * 10_080);
}

// ---- Status reports ----------------------------------------------

#[test]
fn status_report_round_trip() {
    let hex = encode_status_report(Some("+41794999000"), 42, "+41791234567", 0x00);
    assert!(hex.starts_with("07911497949900F0"));
    let report = decode_status_report(&hex).unwrap();
    assert_eq!(
        report,
        StatusReport {
            message_ref: 42,
            recipient: "+41791234567".to_owned(),
            status: 0,
        }
    );
    let without_smsc = encode_status_report(None, 7, "0791234567", 0x30);
    assert!(without_smsc.starts_with("0006070A81"));
    let report = decode_status_report(&without_smsc).unwrap();
    assert_eq!(report.recipient, "0791234567");
    assert_eq!(report.message_ref, 7);
    // An SMSC without digits becomes the empty field.
    assert!(encode_status_report(Some("?"), 1, "+1", 0).starts_with("0006"));
}

#[test]
fn status_meanings() {
    let report = |status| StatusReport {
        message_ref: 0,
        recipient: String::new(),
        status,
    };
    for (status, delivered, is_final) in [
        (0x00, true, true),
        (0x02, true, true),
        (0x1F, true, true),
        (0x20, false, false),
        (0x30, false, false),
        (0x3F, false, false),
        (0x40, false, true),
        (0x45, false, true),
        (0x60, false, true),
        (0x7F, false, true),
    ] {
        assert_eq!(report(status).delivered(), delivered, "{status:#x}");
        assert_eq!(report(status).is_final(), is_final, "{status:#x}");
    }
}

#[test]
fn decoders_report_errors() {
    assert!(matches!(decode_submit("zz"), Err(PduError::BadHex(_))));
    assert!(matches!(decode_submit("001"), Err(PduError::BadHex(_))));
    assert_eq!(decode_submit(""), Err(PduError::Truncated));
    assert_eq!(decode_status_report("00"), Err(PduError::Truncated));
    assert_eq!(decode_submit("0701"), Err(PduError::Truncated));
    assert_eq!(
        decode_status_report("0011000B916407281553F80000AA0AE8329BFD4697D9EC37"),
        Err(PduError::WrongType {
            expected: "SMS-STATUS-REPORT",
            found: 1
        })
    );
    // Lower case and surrounding white space (a modem line) are fine.
    assert_eq!(
        decode_submit(" 0011000b916407281553f80000aa0ae8329bfd4697d9ec37\r\n")
            .unwrap()
            .text,
        "hellohello"
    );
    // A header longer than TP-UDL.
    assert!(matches!(
        decode_submit("0041000B916407281553F8000003050003010201"),
        Err(PduError::Malformed(_))
    ));
}

// ---- Properties --------------------------------------------------

fn gsm_chars() -> Vec<char> {
    gsm7::BASIC
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != usize::from(gsm7::ESCAPE))
        .map(|(_, &c)| c)
        .chain(gsm7::EXTENSION.iter().map(|&(_, c)| c))
        .collect()
}

fn gsm_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(gsm_chars()), 0..=1000).prop_map(String::from_iter)
}

fn any_text() -> impl Strategy<Value = String> {
    let c = prop_oneof![
        any::<char>(),
        prop::char::range('\u{1F300}', '\u{1FAFF}'),
        prop::sample::select(gsm_chars()),
    ];
    prop::collection::vec(c, 0..=1000).prop_map(String::from_iter)
}

fn any_options() -> impl Strategy<Value = SubmitOptions> {
    (
        any::<bool>(),
        prop::option::of(0u32..700_000),
        prop::option::of(prop::sample::select(vec![
            "+41794999000",
            "+4179499900",
            "12345",
        ])),
        any::<u8>(),
    )
        .prop_map(
            |(status_report, validity_minutes, smsc, concat_ref)| SubmitOptions {
                status_report,
                validity_minutes,
                smsc: smsc.map(str::to_owned),
                concat_ref,
            },
        )
}

/// Encodes, checks every part, decodes and joins the parts again.
fn check_round_trip(text: &str, options: &SubmitOptions) -> Result<(), TestCaseError> {
    let pdus = encode_submit("+41791234567", text, options)
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    let total = pdus.len();
    let mut parts = Vec::new();
    for pdu in &pdus {
        let l = layout(&pdu.hex);
        prop_assert_eq!(pdu.tpdu_len, pdu.hex.len() / 2 - l.smsc_len);
        prop_assert!(l.ud.len() <= 140, "user data of {} octets", l.ud.len());
        prop_assert_eq!(l.udhi, total > 1);
        let udh_len = if l.udhi { 6 } else { 0 };
        if l.dcs == DCS_GSM7 {
            prop_assert_eq!(l.ud.len(), (l.udl * 7).div_ceil(8));
            let first = udh_len * 8 / 7 + usize::from(udh_len > 0);
            let septets = gsm7::unpack(&l.ud, first, l.udl - first).unwrap();
            prop_assert_ne!(septets.last(), Some(&gsm7::ESCAPE), "lone escape");
        } else {
            prop_assert_eq!(l.ud.len(), l.udl);
            let units: Vec<u16> = l.ud[udh_len..]
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]))
                .collect();
            let lone_high = units.last().is_some_and(|u| (0xD800..0xDC00).contains(u));
            prop_assert!(!lone_high, "lone high surrogate");
        }
        let decoded = decode_submit(&pdu.hex).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(decoded.status_report, options.status_report);
        prop_assert_eq!(decoded.coding, choose_coding(text));
        parts.push(decoded);
    }
    if total > 1 {
        for part in &parts {
            let (reference, n, _) = part.concat.unwrap();
            prop_assert_eq!((reference, usize::from(n)), (options.concat_ref, total));
        }
    }
    parts.sort_by_key(|p| p.concat.map(|(_, _, seq)| seq));
    let joined: String = parts.into_iter().map(|p| p.text).collect();
    prop_assert_eq!(joined, text);
    Ok(())
}

proptest! {
    #[test]
    fn gsm_text_round_trips(text in gsm_text(), options in any_options()) {
        prop_assert_eq!(choose_coding(&text), Coding::Gsm7);
        check_round_trip(&text, &options)?;
    }

    #[test]
    fn any_text_round_trips(text in any_text(), options in any_options()) {
        check_round_trip(&text, &options)?;
    }

    #[test]
    fn validity_rounds_up_to_the_next_period(minutes in 0u32..=63 * 10_080) {
        let vp = relative_validity(minutes);
        prop_assert!(relative_validity_minutes(vp) >= minutes.max(5));
        if vp > 0 {
            prop_assert!(relative_validity_minutes(vp - 1) < minutes);
        }
    }

    #[test]
    fn decoders_never_panic_on_hex(hex in "[0-9A-Fa-f]{0,600}") {
        let _ = decode_submit(&hex);
        let _ = decode_status_report(&hex);
        let _ = decode_status_report_tpdu(&hex);
    }

    #[test]
    fn decoders_never_panic_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let hex = hex::encode(&bytes);
        let _ = decode_submit(&hex);
        let _ = decode_status_report(&hex);
        let _ = decode_status_report_tpdu(&hex);
    }

    #[test]
    fn decoders_never_panic_on_strings(s in ".{0,200}") {
        let _ = decode_submit(&s);
        let _ = decode_status_report(&s);
    }

    #[test]
    fn decoders_never_panic_on_damaged_pdus(
        text in any_text(),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let report = encode_status_report(Some("+41794999000"), 1, "+41791234567", 0);
        let pdus = encode_submit("+41791234567", &text, &opts()).unwrap();
        for hex in pdus.iter().map(|p| p.hex.clone()).chain([report]) {
            let mut bytes = hex::decode(&hex).unwrap();
            for (at, value) in &damage {
                let i = at.index(bytes.len());
                bytes[i] = *value;
            }
            let damaged = hex::encode(&bytes);
            let _ = decode_submit(&damaged);
            let _ = decode_status_report(&damaged);
            let truncated = &damaged[..cut.index(damaged.len() / 2) * 2];
            let _ = decode_submit(truncated);
            let _ = decode_status_report(truncated);
        }
    }
}
