//! The real `flexsecure` binary: serve with no configuration, the account
//! and key commands with `--json` beside a running server, check-config.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_flexsecure");

fn run(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env_remove("FLEXSECURE_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_json(dir: &Path, args: &[&str]) -> Value {
    let (ok, out, err) = run(dir, args);
    assert!(ok, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `flexsecure serve` with no configuration file in `dir` on a free
/// port and returns it with its address, read from its first log lines.
fn serve(dir: &Path) -> (Server, String) {
    serve_args(dir, &[])
}

/// Starts `flexsecure <global args> serve --listen 127.0.0.1:0` in `dir`.
pub fn serve_args(dir: &Path, global: &[&str]) -> (Server, String) {
    let mut child = Command::new(BIN)
        .args(global)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir)
        .env("FLEXSECURE_LOG", "info")
        .env_remove("FLEXSECURE_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let server = Server(child);
    // Read stderr on a thread (it also keeps draining it, so the server never
    // blocks on a full pipe); wait for the address with a deadline.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(rest) = line.split("listen=").nth(1) {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string(),
                );
            }
        }
    });
    if let Ok(addr) = rx.recv_timeout(Duration::from_secs(30)) {
        return (server, addr);
    }
    panic!("the server did not report its address");
}

#[tokio::test]
async fn serve_without_configuration_and_cli_beside_it() {
    let cwd = tempfile::tempdir().unwrap();
    let (_server, addr) = serve(cwd.path());

    // The default data directory with the database and a private key file.
    let data = cwd.path().join("flexsecure-data");
    assert!(data.join("flexsecure.db").exists());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("server.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // The CLI works on the same data dir while the server runs.
    let acc = run_json(
        cwd.path(),
        &["account", "create", "--name", "Acme", "--json"],
    );
    let account = acc["account_id"].as_str().unwrap().to_string();
    let manage = acc["manage_key"].as_str().unwrap().to_string();
    assert!(acc["auth_key"].as_str().unwrap().starts_with("fsk_"));

    let client = crate::harness::http_client();
    let r = client
        .get(format!("http://{addr}/v2/policies"))
        .header("apikey", &manage)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let key = run_json(
        cwd.path(),
        &[
            "apikey",
            "create",
            "--account",
            &account,
            "--scope",
            "manage",
            "--json",
        ],
    );
    let new_key = key["key"].as_str().unwrap().to_string();
    let key_id = key["key_id"].as_str().unwrap().to_string();
    let r = client
        .get(format!("http://{addr}/v2/systems"))
        .header("apikey", &new_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let list = run_json(
        cwd.path(),
        &["apikey", "list", "--account", &account, "--json"],
    );
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 3);
    assert!(
        list.iter().all(|k| k.get("key").is_none()),
        "the list never shows keys"
    );

    let revoked = run_json(cwd.path(), &["apikey", "revoke", &key_id, "--json"]);
    assert!(revoked["revoked_at"].is_string());
    // The server trusts a key it looked up for at most KEY_CACHE_SECONDS.
    let mut status = 0;
    for _ in 0..100 {
        let r = client
            .get(format!("http://{addr}/v2/systems"))
            .header("apikey", &new_key)
            .send()
            .await
            .unwrap();
        status = r.status().as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401);

    // Errors are clear and fail the command.
    let (ok, _, err) = run(cwd.path(), &["apikey", "list", "--account", "acc_nope"]);
    assert!(!ok);
    assert!(err.contains("no account acc_nope"), "{err}");
}

#[test]
fn check_config_reports_the_first_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(&good, "version = 1\n[server]\nlisten = \"127.0.0.1:9999\"\npublic_url = \"https://auth.example\"\n").unwrap();
    let v = run_json(
        dir.path(),
        &["check-config", "--config", good.to_str().unwrap(), "--json"],
    );
    assert_eq!(v["listen"], "127.0.0.1:9999");
    assert_eq!(v["public_url"], "https://auth.example");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nlisten_on = \"127.0.0.1:9999\"\n").unwrap();
    let (ok, _, err) = run(
        dir.path(),
        &["check-config", "--config", bad.to_str().unwrap()],
    );
    assert!(!ok);
    assert!(err.contains("listen_on"), "{err}");
}

#[test]
fn keys_rotate_then_list() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();

    let new = run_json(
        dir.path(),
        &["keys", "rotate", "--data-dir", data, "--json"],
    );
    let kid = new["kid"].as_str().unwrap();
    assert!(kid.starts_with("k_"), "{new}");
    assert_eq!(new["active"], true);
    assert!(new["published_until"].is_null());
    assert!(new.get("seed").is_none(), "never the key itself");

    // The fresh data dir got its first key, then the new one.
    let list = run_json(dir.path(), &["keys", "list", "--data-dir", data, "--json"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 2, "{list:?}");
    assert_eq!(list.iter().filter(|k| k["active"] == true).count(), 1);
    assert_eq!(list[0]["kid"], kid);
    assert!(list[1]["published_until"].is_string());
    assert!(list.iter().all(|k| k.get("seed").is_none()));

    let (ok, out, err) = run(dir.path(), &["keys", "rotate", "--data-dir", data]);
    assert!(ok, "{err}");
    assert!(out.contains("within a few seconds"), "{out}");
}

#[test]
fn operator_create_prints_a_one_time_setup_link() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let acc = run_json(
        dir.path(),
        &[
            "account",
            "create",
            "--name",
            "Acme",
            "--data-dir",
            data,
            "--json",
        ],
    );
    let account = acc["account_id"].as_str().unwrap();
    let v = run_json(
        dir.path(),
        &[
            "operator",
            "create",
            "--username",
            "Ops",
            "--account",
            account,
            "--data-dir",
            data,
            "--json",
        ],
    );
    assert_eq!(v["username"], "ops");
    assert!(
        v["setup_link"].as_str().unwrap().contains("/admin/setup/"),
        "{v}"
    );
    // The same name again, or an unknown account: refused.
    let (ok, _, err) = run(
        dir.path(),
        &[
            "operator",
            "create",
            "--username",
            "ops",
            "--data-dir",
            data,
        ],
    );
    assert!(!ok && err.contains("exists"), "{err}");
    let (ok, _, err) = run(
        dir.path(),
        &[
            "operator",
            "create",
            "--username",
            "x",
            "--account",
            "acc_nope",
            "--data-dir",
            data,
        ],
    );
    assert!(!ok && err.contains("no account"), "{err}");
}
