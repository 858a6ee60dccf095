//! The appliance with modems configured: logins whose PIN goes out through
//! the modem simulator, delivery reports in the outbox, and the modem CLI.

use crate::harness::{json, pin_of, TestApp};
use crate::modem_sim::{SimModem, SimOptions};
use flexsecure::config::ModemConfig;
use flexsecure::store::{Store, StoreError};
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn modem_config(name: &str, port: &Path) -> ModemConfig {
    ModemConfig {
        name: name.into(),
        port: port.into(),
        baud: 115_200,
        sim_pin: None,
        smsc: None,
        priority: 0,
        command_timeout_ms: Some(800),
        submit_timeout_ms: Some(800),
        health_interval_seconds: Some(1),
    }
}

/// Waits (bounded) until the simulator got `n` messages to `to`. The clock
/// moves on meanwhile: a message tried before the modem was ready waits for
/// its retry, which the dispatcher schedules on the test's clock.
async fn wait_text_to(t: &TestApp, sim: &SimModem, to: &str, n: usize) -> String {
    for i in 0..200 {
        let got: Vec<String> = sim
            .messages()
            .into_iter()
            .filter(|(x, _)| x == to)
            .map(|(_, x)| x)
            .collect();
        if got.len() >= n {
            return got[n - 1].clone();
        }
        if i % 4 == 3 {
            t.advance(2);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "no SMS #{n} to {to} through the modem: {:?}",
        sim.messages()
    );
}

#[tokio::test]
async fn a_login_with_the_pin_delivered_through_the_modem() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimModem::start(
        dir.path(),
        "ttyLogin",
        SimOptions {
            status_reports: true,
            urc_noise: true,
            ..Default::default()
        },
    );
    let port = sim.path();
    let t = TestApp::spawn_with(|c| c.sms.modem.push(modem_config("gsm1", &port))).await;
    t.system_with_user("CRM", "pin", "ann@example.com", "+41790000050")
        .await;

    let (s, start) = json(t.start("ann@example.com", "CRM").await).await;
    assert_eq!(s, 202, "{start}");
    let text = wait_text_to(&t, &sim, "+41790000050", 1).await;
    let (s, done) = json(
        t.complete(json!({"email": "ann@example.com", "system": "CRM", "pin": pin_of(&text)}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert!(
        t.sms_sent_to("+41790000050").is_empty(),
        "nothing went to the console"
    );

    // The outbox names the modem, its message reference, and the delivery report.
    let dir = t.data_dir.path().to_path_buf();
    let (account, rid) = (
        t.account.account_id.clone(),
        start["request_id"].as_str().unwrap().to_string(),
    );
    let mut entry = None;
    for _ in 0..200 {
        let (d, a, r) = (dir.clone(), account.clone(), rid.clone());
        let rows = flexsecure::blocking::run(move || {
            let store = Store::open(&d).unwrap();
            store
                .read_blocking(|db| db.outbox_for_challenge(&a, &r))
                .map_err(|e: StoreError| e.to_string())
        })
        .await
        .unwrap()
        .unwrap();
        if rows.first().is_some_and(|e| e.delivery.is_some()) {
            entry = rows.into_iter().next();
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let entry = entry.expect("a delivery report was recorded");

    // The server holds the port: a probe beside it is refused, quickly and clearly.
    let out = Command::new(BIN)
        .args(["modem", "probe", "--port", port.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not ready"), "{err}");
    assert_eq!(entry.status, "sent");
    assert_eq!(entry.channel.as_deref(), Some("modem:gsm1"));
    assert!(entry.provider_id.is_some());
    assert_eq!(entry.delivery.as_deref(), Some("delivered"));

    // The admin dashboard and channels page show the modem's signal.
    let mut admin = crate::admin::logged_in(&t).await;
    let dash = admin
        .get(&format!("/admin/a/{}", t.account.account_id))
        .await;
    let modems = dash
        .body
        .split("id=\"modem-signal\"")
        .nth(1)
        .expect("a modem table");
    assert!(
        modems.contains("gsm1") && modems.contains("ready"),
        "{modems}"
    );
    let channels = admin.get("/admin/channels").await;
    assert!(
        channels
            .body
            .contains("<td>gsm1</td><td>ready</td><td>21</td>"),
        "{}",
        channels.body
    );
}

#[tokio::test]
async fn sending_resumes_after_unplug_and_replug_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = SimModem::start(dir.path(), "ttyReplug", SimOptions::default());
    let port = sim.path();
    let t = TestApp::spawn_with(|c| c.sms.modem.push(modem_config("gsm1", &port))).await;
    t.system_with_user("CRM", "pin", "ann@example.com", "+41790000051")
        .await;
    t.start("ann@example.com", "CRM").await;
    wait_text_to(&t, &sim, "+41790000051", 1).await;

    sim.unplug();
    t.advance(30);
    assert_eq!(t.start("ann@example.com", "CRM").await.status(), 202);
    // Queued while the modem is away (the dispatcher retries with backoff on
    // the test's clock); goes out once the modem is back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    sim.replug();
    let text = wait_text_to(&t, &sim, "+41790000051", 2).await;
    let (s, done) = json(
        t.complete(json!({"email": "ann@example.com", "system": "CRM", "pin": pin_of(&text)}))
            .await,
    )
    .await;
    assert_eq!(s, 200, "{done}");
}

const BIN: &str = env!("CARGO_BIN_EXE_flexsecure");

#[test]
fn modem_probe_and_sms_send_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimModem::start(dir.path(), "ttyCli", SimOptions::default());
    let out = Command::new(BIN)
        .args([
            "modem",
            "probe",
            "--port",
            sim.path().to_str().unwrap(),
            "--json",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "ready");
    assert_eq!(v["model"], "SIM7600-SIM");
    assert_eq!(v["imei"], "860000000000001");
    assert_eq!(v["operator"], "SimNet");
    assert_eq!(v["registration"], 1);

    let cfg = dir.path().join("c.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[sms.modem]]\nname = \"gsm1\"\nport = \"{}\"\n",
            sim.path().display()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args([
            "--config",
            cfg.to_str().unwrap(),
            "sms",
            "send",
            "--to",
            "+41 79 000 00 52",
            "--text",
            "Grüezi 👋",
            "--json",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "sent");
    assert_eq!(v["channel"], "modem:gsm1");
    assert_eq!(
        sim.wait_messages(1),
        vec![("+41790000052".to_string(), "Grüezi 👋".to_string())]
    );

    // A probe of a port with nothing behind it fails clearly (bounded by the CLI's wait).
    let out = Command::new(BIN)
        .args([
            "modem",
            "probe",
            "--port",
            dir.path().join("nothing").to_str().unwrap(),
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not ready"));
}
