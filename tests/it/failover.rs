//! A modem and a real Kannel behind the appliance: the modem is unplugged
//! during a burst of logins; every SMS still goes out exactly once (through
//! the modem or through Kannel), new logins fail over quickly, and after the
//! replug traffic returns to the modem.

use crate::harness::{json, TestApp};
use crate::kannel::Kannel;
use crate::modem_sim::{SimModem, SimOptions};
use flexsecure::config::{Config, ModemConfig};
use reqwest::Method;
use serde_json::json;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const LOGINS: usize = 200;

fn phone(i: usize) -> String {
    format!("+4178200{i:04}")
}

fn kannel_config(k: &Kannel) -> flexsecure::config::HttpGatewayConfig {
    let text = format!(
        "[[sms.http]]\nname = \"kannel\"\npreset = \"kannel\"\nurl = \"{}\"\ndlr_secret = \"failover-secret-0123\"\n\
         auth = {{ type = \"query\", params = {{ username = \"{}\", password = \"{}\" }} }}\n\
         params = {{ from = \"FlexSecure\" }}\ntimeout_ms = 5000\n",
        k.sendsms_url(),
        k.username(),
        k.password()
    );
    Config::parse(&text).unwrap().sms.http.remove(0)
}

/// SMS per phone seen at the modem and at Kannel.
fn delivered(sim: &SimModem, k: &Kannel) -> HashMap<String, (usize, usize)> {
    let mut m: HashMap<String, (usize, usize)> = HashMap::new();
    for (to, _) in sim.messages() {
        m.entry(to).or_default().0 += 1;
    }
    for s in k.received() {
        m.entry(s.to).or_default().1 += 1;
    }
    m
}

async fn start(t: &TestApp, i: usize) {
    let r = t.start(&format!("f{i}@example.com"), "CRM").await;
    assert_eq!(r.status(), 202);
}

/// Waits, with a deadline, until `phone` got an SMS through `via`.
async fn arrives(
    t: &TestApp,
    sim: &SimModem,
    k: &Kannel,
    to: &str,
    via_modem: bool,
    within: Duration,
) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        let d = delivered(sim, k);
        let (m, g) = d.get(to).copied().unwrap_or_default();
        if (via_modem && m > 0) || (!via_modem && g > 0) {
            return true;
        }
        // Retries are scheduled on the test's clock.
        t.advance(1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

#[tokio::test]
async fn unplugging_the_modem_during_a_burst_loses_nothing() {
    let k = flexsecure::blocking::run(Kannel::start).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut sim = SimModem::start(
        dir.path(),
        "ttyFailover",
        SimOptions {
            prompt_delay: Duration::from_millis(5),
            ..Default::default()
        },
    );
    let (port, gw) = (sim.path(), kannel_config(&k));
    let t = TestApp::spawn_with(move |c| {
        c.sms.modem.push(ModemConfig {
            name: "gsm1".into(),
            port,
            baud: 115_200,
            sim_pin: None,
            smsc: None,
            priority: 0,
            command_timeout_ms: Some(1000),
            submit_timeout_ms: Some(1000),
            health_interval_seconds: Some(1),
        });
        c.sms.http.push(gw);
        // This test is about failover, not about SMS-pumping limits.
        c.sms.limits.per_number.max = 0;
        c.sms.limits.per_prefix.max = 0;
        c.sms.limits.per_account_hour = 0;
        c.sms.limits.per_account_day = 0;
    })
    .await;
    t.setup(
        Method::POST,
        "/v2/systems",
        json!({"name": "CRM", "policy": "pin"}),
    )
    .await;
    let csv: String = (0..=LOGINS + 1)
        .map(|i| format!("f{i}@example.com,{}\n", phone(i)))
        .collect();
    let r = t
        .manage(Method::POST, "/v2/users/import")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for i in 0..=LOGINS + 1 {
        t.setup(
            Method::PUT,
            &format!("/v2/systems/CRM/users/f{i}@example.com"),
            json!(null),
        )
        .await;
    }
    // The modem is up before the burst.
    for _ in 0..200 {
        let (_, st) = json(
            t.manage(Method::GET, "/v2/sms/status")
                .send()
                .await
                .unwrap(),
        )
        .await;
        if st["channels"][0]["available"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }

    // The burst, with the modem pulled out a quarter of the way in.
    for i in 0..LOGINS {
        if i == LOGINS / 4 {
            // On a busy machine the first quarter may still be queued: let
            // the modem carry some of it before it goes (bounded wait).
            for _ in 0..400 {
                if delivered(&sim, &k).values().any(|(m, _)| *m > 0) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            sim.unplug();
        }
        start(&t, i).await;
    }
    let mut all = false;
    for _ in 0..600 {
        if delivered(&sim, &k).len() >= LOGINS {
            all = true;
            break;
        }
        t.advance(1);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let d = delivered(&sim, &k);
    assert!(all, "only {} of {LOGINS} phones got their SMS", d.len());
    let (via_modem, via_kannel): (usize, usize) =
        d.values().fold((0, 0), |a, (m, g)| (a.0 + m, a.1 + g));
    assert!(
        via_modem > 0 && via_kannel > 0,
        "both channels carried traffic: {via_modem} / {via_kannel}"
    );

    // Exactly once, except messages whose outcome was unknown (counted and reported).
    let (_, status) = json(
        t.manage(Method::GET, "/v2/sms/status")
            .send()
            .await
            .unwrap(),
    )
    .await;
    let dir_path = t.data_dir.path().to_path_buf();
    let summary = flexsecure::blocking::run(move || {
        let store = flexsecure::store::Store::open(&dir_path).unwrap();
        store.read_blocking(|db| db.queue_summary()).unwrap()
    })
    .await
    .unwrap();
    let twice: Vec<_> = d.iter().filter(|(_, (m, g))| m + g > 1).collect();
    assert!(
        twice.len() as u64 <= summary.possible_duplicates,
        "duplicates only where reported as possible: {twice:?} vs {summary:?} ({status})"
    );
    for i in 0..LOGINS {
        assert!(d.contains_key(&phone(i)), "{} got nothing", phone(i));
    }

    // A new login while the modem is away goes out through Kannel quickly.
    start(&t, LOGINS).await;
    assert!(
        arrives(&t, &sim, &k, &phone(LOGINS), false, Duration::from_secs(10)).await,
        "a new login failed over to Kannel within 10 s"
    );

    // Replugged: traffic returns to the modem.
    sim.replug();
    for _ in 0..200 {
        let (_, st) = json(
            t.manage(Method::GET, "/v2/sms/status")
                .send()
                .await
                .unwrap(),
        )
        .await;
        if st["channels"][0]["available"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    start(&t, LOGINS + 1).await;
    assert!(
        arrives(
            &t,
            &sim,
            &k,
            &phone(LOGINS + 1),
            true,
            Duration::from_secs(10)
        )
        .await,
        "after the replug the modem carries traffic again"
    );
}
