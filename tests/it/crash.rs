//! `kill -9` of the real binary while SMS are queued and in flight: after a
//! restart every message is sent (or deliberately expired); none is lost.

use crate::cli::serve_args;
use crate::modem_sim::{SimModem, SimOptions};
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_flexsecure");
const USERS: usize = 30;

fn phone(i: usize) -> String {
    format!("+4179100{i:04}")
}

fn queue(cfg: &str) -> Value {
    let out = Command::new(BIN)
        .args(["--config", cfg, "sms", "queue", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn count(q: &Value, status: &str) -> u64 {
    q["by_status_and_channel"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == status)
        .map(|c| c["count"].as_u64().unwrap())
        .sum()
}

#[tokio::test]
async fn kill_dash_nine_loses_no_acknowledged_sms() {
    let dir = tempfile::tempdir().unwrap();
    // A slow modem: each message takes a while, so a burst is still queued
    // and in flight when the process dies.
    let sim = SimModem::start(
        dir.path(),
        "ttyCrash",
        SimOptions {
            prompt_delay: Duration::from_millis(150),
            ..Default::default()
        },
    );
    let cfg = dir.path().join("flexsecure.toml");
    std::fs::write(
        &cfg,
        format!(
            "[storage]\ndata_dir = \"{}\"\n[[sms.modem]]\nname = \"gsm1\"\nport = \"{}\"\ncommand_timeout_ms = 2000\nsubmit_timeout_ms = 2000\n",
            dir.path().join("data").display(),
            sim.path().display()
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap().to_string();
    let out = Command::new(BIN)
        .args([
            "--config", &cfg, "account", "create", "--name", "Acme", "--json",
        ])
        .output()
        .unwrap();
    let acc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (manage, auth) = (
        acc["manage_key"].as_str().unwrap().to_string(),
        acc["auth_key"].as_str().unwrap().to_string(),
    );

    let (server, addr) = serve_args(dir.path(), &["--config", &cfg]);
    let c = crate::harness::http_client();
    let url = |p: &str| format!("http://{addr}{p}");
    let r = c
        .post(url("/v2/systems"))
        .header("apikey", &manage)
        .json(&json!({"name": "CRM", "policy": "pin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let csv: String = (0..USERS)
        .map(|i| format!("u{i}@example.com,{}\n", phone(i)))
        .collect();
    let r = c
        .post(url("/v2/users/import"))
        .header("apikey", &manage)
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for i in 0..USERS {
        let r = c
            .put(url(&format!("/v2/systems/CRM/users/u{i}@example.com")))
            .header("apikey", &manage)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    for i in 0..USERS {
        let r = c
            .post(url("/v2/user/authenticate"))
            .header("apikey", &auth)
            .json(&json!({"email": format!("u{i}@example.com"), "system": "CRM"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202, "every start is acknowledged");
    }
    // Some messages go out, then the process dies mid-burst.
    for _ in 0..200 {
        if sim.messages().len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server); // SIGKILL, then reaped
    let before = sim.messages().len();
    assert!(
        before < USERS,
        "the kill came while messages were still waiting ({before} sent)"
    );

    let (_server, _addr) = serve_args(dir.path(), &["--config", &cfg]);
    let mut q = queue(&cfg);
    for _ in 0..400 {
        q = queue(&cfg);
        if count(&q, "queued") + count(&q, "sending") == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(count(&q, "queued") + count(&q, "sending"), 0, "{q}");
    assert_eq!(
        count(&q, "sent") + count(&q, "expired"),
        USERS as u64,
        "every message ended sent or expired: {q}"
    );
    // Every user got their PIN; at most the ones in flight at the kill twice.
    let got = sim.messages();
    for i in 0..USERS {
        let n = got.iter().filter(|(to, _)| *to == phone(i)).count();
        assert!((1..=2).contains(&n), "{} got {n} SMS", phone(i));
    }
    assert!(
        got.len() <= USERS + 2,
        "duplicates only for what was in flight: {}",
        got.len()
    );
}
