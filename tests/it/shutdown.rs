//! SIGTERM under load: the real binary stops accepting, finishes what is in
//! flight, and every start it acknowledged is still there after a restart.

use crate::cli::serve_args;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn sigterm_under_load_loses_no_acknowledged_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let global = ["--data-dir", data.to_str().unwrap()];
    let (server, addr) = serve_args(dir.path(), &global);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_flexsecure"))
        .args([
            "account",
            "create",
            "--name",
            "Load",
            "--json",
            "--data-dir",
            data.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    let acc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (auth, manage) = (
        acc["auth_key"].as_str().unwrap().to_string(),
        acc["manage_key"].as_str().unwrap().to_string(),
    );
    let client = crate::harness::http_client();
    let r = client
        .post(format!("http://{addr}/v2/systems"))
        .header("apikey", &manage)
        .json(&json!({"name": "CRM", "policy": "pin"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Eight clients start logins (look-alike users: no SMS needed) until
    // the server goes away; each keeps the request ids it was given.
    let mut tasks = Vec::new();
    for c in 0..8 {
        let (client, auth, addr) = (client.clone(), auth.clone(), addr.clone());
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..2000 {
                let r = client
                    .post(format!("http://{addr}/v2/user/authenticate"))
                    .header("apikey", &auth)
                    .json(&json!({"email": format!("u{c}-{i}@example.com"), "system": "CRM"}))
                    .timeout(Duration::from_secs(35))
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 202 => {
                        let v: Value = r.json().await.unwrap();
                        acked.push(v["request_id"].as_str().unwrap().to_string());
                    }
                    Ok(r) => panic!("unexpected {}", r.status()),
                    // The server has stopped accepting.
                    Err(_) => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(server.0.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(
            tokio::time::timeout(Duration::from_secs(60), t)
                .await
                .unwrap()
                .unwrap(),
        );
    }
    // It exits by itself once drained (bounded wait), with success.
    let mut server = server;
    let mut status = None;
    for _ in 0..350 {
        status = server.0.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    drop(server);
    assert!(acked.len() > 20, "the load ran: {}", acked.len());

    // Restarted on the same data: every acknowledged start is there.
    let (_again, addr) = serve_args(dir.path(), &global);
    for id in &acked {
        let r = client
            .get(format!("http://{addr}/v2/authentications/{id}"))
            .header("apikey", &auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{id} was acknowledged but is gone");
    }
}

#[test]
fn systemd_hears_ready_once_serving_and_stopping_on_sigterm() {
    use std::os::unix::net::UnixDatagram;
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_flexsecure"))
        .args(["--data-dir", dir.path().join("data").to_str().unwrap()])
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("NOTIFY_SOCKET", &sock_path)
        .env_remove("FLEXSECURE_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("READY=1 within 30 s");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let n = sock.recv(&mut buf).expect("STOPPING=1 within 30 s");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("STOPPING=1"));
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
