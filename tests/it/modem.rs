//! The real modem driver over a pseudo-terminal, against the simulator.

use crate::modem_sim::{SimModem, SimOptions};
use flexsecure::sms::modem::driver::{
    self, DeliveryReport, ModemHandle, ModemSettings, ModemState, Timeouts,
};
use flexsecure::sms::modem::pool::ModemPool;
use flexsecure::sms::{Channel, OutgoingSms, SendOutcome};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn fast_timeouts() -> Timeouts {
    Timeouts {
        command: Duration::from_millis(800),
        prompt: Duration::from_millis(800),
        submit: Duration::from_millis(800),
        health_interval: Duration::from_millis(500),
        reopen_max: Duration::from_millis(300),
    }
}

pub fn settings(name: &str, port: &Path, sim_pin: Option<&str>) -> ModemSettings {
    ModemSettings {
        name: name.into(),
        port: port.into(),
        baud: 115_200,
        sim_pin: sim_pin.map(str::to_string),
        smsc: None,
        priority: 0,
        timeouts: fast_timeouts(),
    }
}

type Reports = Arc<Mutex<Vec<DeliveryReport>>>;

fn start(s: ModemSettings) -> (ModemHandle, Reports) {
    let reports: Reports = Arc::default();
    let sink = reports.clone();
    let h = driver::spawn(s, Arc::new(move |r| sink.lock().unwrap().push(r))).unwrap();
    (h, reports)
}

/// Waits (bounded) until the modem is healthy.
fn wait_healthy(h: &ModemHandle) {
    for _ in 0..300 {
        if h.healthy() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("modem never became healthy: {:?}", h.status());
}

fn wait_state(h: &ModemHandle, state: ModemState) {
    for _ in 0..300 {
        if h.status().state == state {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("modem never reached {state:?}: {:?}", h.status());
}

/// The driver blocks; tests call it from a blocking thread like the dispatcher does.
async fn send(h: &ModemHandle, to: &str, text: &str) -> SendOutcome {
    let (h, to, text) = (h.clone(), to.to_string(), text.to_string());
    flexsecure::blocking::run(move || h.send(&to, &text, None))
        .await
        .unwrap()
}

#[tokio::test]
async fn init_with_echo_noise_and_a_sim_pin_then_send_long_and_unicode() {
    let dir = tempfile::tempdir().unwrap();
    let opts = SimOptions {
        sim_pin: Some("4321"),
        urc_noise: true,
        prompt_delay: Duration::from_millis(150),
        status_reports: true,
        ..Default::default()
    };
    let sim = SimModem::start(dir.path(), "ttyModem0", opts);
    let (h, reports) = start(settings("m0", &sim.path(), Some("4321")));
    wait_healthy(&h);
    let st = h.status();
    assert_eq!(st.manufacturer.as_deref(), Some("SimModem Inc."));
    assert_eq!(st.imei.as_deref(), Some("860000000000001"));
    assert_eq!(st.operator.as_deref(), Some("SimNet"));
    assert_eq!(st.signal, Some(21));
    assert_eq!(sim.pin_attempts(), 1);
    let cmds = sim.commands();
    for c in [
        "ATE0",
        "AT+CMEE=1",
        "AT+CPIN?",
        "AT+CPIN=<pin>",
        "AT+CMGF=0",
        "AT+CREG?",
        "AT+CEREG?",
        "AT+CSQ",
    ] {
        assert!(cmds.iter().any(|x| x == c), "{c} missing from {cmds:?}");
    }

    let long: String = "Your sign-in link is ready. ".repeat(12) + "€ [x] {y} ~^\\|";
    let unicode = "Grüezi Zoë, dein PIN ist 123456 🔐 — 登录 ".repeat(3);
    for text in ["short", long.as_str(), unicode.as_str()] {
        match send(&h, "+41790000001", text).await {
            SendOutcome::Sent { provider_id } => assert!(provider_id.is_some()),
            other => panic!("{other:?}"),
        }
    }
    let got = sim.wait_messages(3);
    assert_eq!(got[0], ("+41790000001".into(), "short".into()));
    let texts: Vec<&str> = got.iter().map(|(_, t)| t.as_str()).collect();
    assert!(texts.contains(&long.as_str()), "long text arrives intact");
    assert!(
        texts.contains(&unicode.as_str()),
        "unicode text arrives intact"
    );

    // Status reports come back as +CDS and are matched by TP-MR.
    for _ in 0..100 {
        if reports.lock().unwrap().len() >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = reports.lock().unwrap().clone();
    assert!(r.len() >= 3, "{r:?}");
    assert!(r.iter().all(|x| x.delivered && x.channel == "modem:m0"));
}

#[tokio::test]
async fn cms_errors_are_classified_and_silence_after_the_pdu_is_unknown() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimModem::start(dir.path(), "ttyModem1", SimOptions::default());
    let (h, _) = start(settings("m1", &sim.path(), None));
    wait_healthy(&h);

    sim.fail_next(&[42]);
    assert!(matches!(
        send(&h, "+41790000002", "x").await,
        SendOutcome::Retryable(_)
    ));
    sim.fail_next(&[304]);
    assert!(matches!(
        send(&h, "+41790000002", "x").await,
        SendOutcome::Permanent(_)
    ));

    // No reply after Ctrl-Z: the message may have gone out.
    sim.set_swallow_pdu(true);
    assert!(matches!(
        send(&h, "+41790000002", "x").await,
        SendOutcome::Unknown(_)
    ));
    sim.set_swallow_pdu(false);
    wait_healthy(&h);
    assert!(matches!(
        send(&h, "+41790000002", "after").await,
        SendOutcome::Sent { .. }
    ));
}

#[tokio::test]
async fn lte_only_registration_counts() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimModem::start(
        dir.path(),
        "ttyModem2",
        SimOptions {
            lte_only: true,
            ..Default::default()
        },
    );
    let (h, _) = start(settings("m2", &sim.path(), None));
    wait_healthy(&h);
    assert_eq!(h.status().registration, Some(1));
}

#[tokio::test]
async fn a_refused_sim_pin_is_never_retried() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = SimModem::start(
        dir.path(),
        "ttyModem3",
        SimOptions {
            sim_pin: Some("1111"),
            ..Default::default()
        },
    );
    let (h, _) = start(settings("m3", &sim.path(), Some("2222")));
    wait_state(&h, ModemState::SimBlocked);
    assert!(h.status().last_error.unwrap().contains("refused"));
    assert!(matches!(
        send(&h, "+41790000003", "x").await,
        SendOutcome::Retryable(_)
    ));
    // Even across a replug, the appliance does not try the PIN again.
    sim.unplug();
    sim.replug();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(sim.pin_attempts(), 1);
    assert_eq!(h.status().state, ModemState::SimBlocked);

    let puk = SimModem::start(
        dir.path(),
        "ttyModem4",
        SimOptions {
            puk: true,
            ..Default::default()
        },
    );
    let (h, _) = start(settings("m4", &puk.path(), Some("2222")));
    wait_state(&h, ModemState::SimBlocked);
    assert!(h.status().last_error.unwrap().contains("PUK"));
    assert_eq!(puk.pin_attempts(), 0);
}

#[tokio::test]
async fn sending_resumes_after_unplug_and_replug() {
    let dir = tempfile::tempdir().unwrap();
    let mut sim = SimModem::start(dir.path(), "ttyModem5", SimOptions::default());
    let (h, _) = start(settings("m5", &sim.path(), None));
    wait_healthy(&h);
    assert!(matches!(
        send(&h, "+41790000005", "before").await,
        SendOutcome::Sent { .. }
    ));

    sim.unplug();
    // The driver notices (on its next read) and refuses until it is back.
    let mut refused = false;
    for _ in 0..50 {
        if let SendOutcome::Retryable(_) = send(&h, "+41790000005", "while out").await {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(refused, "sends are refused while the modem is gone");
    assert!(!h.healthy());

    sim.replug();
    wait_healthy(&h);
    assert!(matches!(
        send(&h, "+41790000005", "after").await,
        SendOutcome::Sent { .. }
    ));
    let texts: Vec<String> = sim.wait_messages(1).into_iter().map(|(_, t)| t).collect();
    assert!(texts.contains(&"after".to_string()), "{texts:?}");
}

#[tokio::test]
async fn a_silent_modem_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let sim = SimModem::start(dir.path(), "ttyModem6", SimOptions::default());
    let (h, _) = start(settings("m6", &sim.path(), None));
    wait_healthy(&h);
    sim.set_silent(true);
    // Health polls time out twice: the driver closes the port.
    for _ in 0..300 {
        if !h.healthy() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!h.healthy());
    sim.set_silent(false);
    wait_healthy(&h);
    assert!(matches!(
        send(&h, "+41790000006", "back").await,
        SendOutcome::Sent { .. }
    ));
}

#[tokio::test]
async fn two_modems_share_the_load_and_one_failing_does_not_stop_sending() {
    let dir = tempfile::tempdir().unwrap();
    let a = SimModem::start(dir.path(), "ttyA", SimOptions::default());
    let b = SimModem::start(dir.path(), "ttyB", SimOptions::default());
    let (ha, _) = start(settings("a", &a.path(), None));
    let (hb, _) = start(settings("b", &b.path(), None));
    wait_healthy(&ha);
    wait_healthy(&hb);
    let pool = Arc::new(ModemPool::new(vec![ha.clone(), hb.clone()]));
    let send_all = |pool: Arc<ModemPool>, n: usize, tag: &'static str| async move {
        let mut outcomes = Vec::new();
        for i in 0..n {
            let p = pool.clone();
            outcomes.push(
                flexsecure::blocking::run(move || {
                    p.send(&OutgoingSms {
                        id: 0,
                        to: "+41790000007".into(),
                        text: format!("{tag} {i}"),
                        deadline: None,
                    })
                })
                .await
                .unwrap(),
            );
        }
        outcomes
    };
    for o in send_all(pool.clone(), 10, "even").await {
        assert!(matches!(o.outcome, SendOutcome::Sent { .. }), "{o:?}");
    }
    let (na, nb) = (a.messages().len(), b.messages().len());
    assert_eq!(na + nb, 10);
    assert!(na >= 3 && nb >= 3, "load is shared: {na} / {nb}");

    // Modem a fails every send with a network error: b takes them all.
    a.fail_next(&[42; 20]);
    for o in send_all(pool.clone(), 6, "failover").await {
        assert!(matches!(o.outcome, SendOutcome::Sent { .. }), "{o:?}");
        assert_eq!(o.channel, "modem:b");
    }
    assert_eq!(b.messages().len(), nb + 6);
}
