//! After real logins, no PIN, link token or API key is found in clear in
//! the data directory (database, WAL, key file) or in the logs.

use crate::harness::{captured_logs, json, link_of, pin_of, token_of, TestApp};
use reqwest::Method;
use serde_json::json;

/// Whether `needle` occurs in `hay` not inside a longer run of hex digits or
/// digits (a 6-digit PIN can appear by chance inside a hex id or a phone number).
fn occurs_alone(hay: &[u8], needle: &[u8]) -> bool {
    // A '.' belongs to a number too: log timestamps carry 6-digit microseconds.
    let alnum = |b: u8| b.is_ascii_hexdigit() || b == b'.';
    hay.windows(needle.len()).enumerate().any(|(i, w)| {
        w == needle
            && (i == 0 || !alnum(hay[i - 1]))
            && hay.get(i + needle.len()).is_none_or(|b| !alnum(*b))
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn no_secret_in_clear_in_the_data_dir_or_the_logs() {
    // Seven SMS to one number in three minutes: above the per-number limit.
    let t = TestApp::spawn_with(|c| c.sms.limits.per_number.max = 0).await;
    t.setup(
        Method::POST,
        "/v2/policies",
        json!({"name": "both", "steps": ["passwordless", "pin"]}),
    )
    .await;
    t.system_with_user("Vault", "both", "s@example.com", "+41790000040")
        .await;
    let mut pins = Vec::new();
    let mut tokens = Vec::new();
    for round in 0..3 {
        let (_, start) = json(t.start("s@example.com", "Vault").await).await;
        let link = link_of(&t.wait_sms("+41790000040", round * 2 + 1).await);
        tokens.push(token_of(&link));
        let code = start["match_code"].as_str().unwrap();
        let (s, _) = json(t.confirm_on_page(&link, code).await).await;
        assert_eq!(s, 200);
        let pin = pin_of(&t.wait_sms("+41790000040", round * 2 + 2).await);
        // One wrong try, so the PIN passes through the failure path too.
        json(
            t.complete(json!({"email": "s@example.com", "system": "Vault", "pin": "0"}))
                .await,
        )
        .await;
        let (s, _) = json(
            t.complete(json!({"email": "s@example.com", "system": "Vault", "pin": pin}))
                .await,
        )
        .await;
        assert_eq!(s, 200);
        pins.push(pin);
        t.advance(60);
    }
    // An SMS still queued when the test looks must be sealed too: a start
    // whose SMS may or may not have gone out yet.
    t.start("s@example.com", "Vault").await;
    t.wait_sms("+41790000040", 7).await;

    let mut files = Vec::new();
    let mut seeds = Vec::new();
    let mut dirs = vec![t.data_dir.path().to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            let bytes = std::fs::read(&p).unwrap();
            if p.parent().unwrap().ends_with("signing-keys") {
                // The signing key's seed must never reach the logs.
                let key: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                seeds.push(key["seed"].as_str().unwrap().to_string());
                continue;
            }
            files.push((p.display().to_string(), bytes));
        }
    }
    assert!(!seeds.is_empty());
    assert!(files.iter().any(|(n, _)| n.ends_with("flexsecure.db")));
    let logs = captured_logs().lock().unwrap().clone();
    assert!(
        contains(&logs, b"route=\"/l/{token}\""),
        "the log capture works and logs route patterns"
    );
    for seed in &seeds {
        assert!(
            !contains(&logs, seed.as_bytes()),
            "a signing key in the logs"
        );
    }
    files.push(("logs".into(), logs));
    let keys = [&t.account.auth_key, &t.account.manage_key];
    for (name, bytes) in &files {
        for pin in &pins {
            assert!(!occurs_alone(bytes, pin.as_bytes()), "PIN {pin} in {name}");
        }
        for tok in &tokens {
            assert!(!contains(bytes, tok.as_bytes()), "token in {name}");
        }
        for k in keys {
            assert!(!contains(bytes, k.as_bytes()), "API key in {name}");
        }
        assert!(
            !contains(bytes, b"is your PIN"),
            "an SMS body in clear in {name}"
        );
        assert!(
            !contains(bytes, b"Sign in to Vault"),
            "an SMS body in clear in {name}"
        );
    }
}

#[test]
fn the_needle_check_itself_works() {
    assert!(occurs_alone(b"x 123456 y", b"123456"));
    assert!(!occurs_alone(b"a1234567", b"123456"));
    assert!(!occurs_alone(b"+41791234567", b"123456"));
}
