//! `flexsecure backup`, `restore` and `db check`: backups taken while the
//! real server handles logins restore into consistent databases; a quiet
//! server's backup restores to exactly the same data; encryption, damage,
//! a running server's directory and a corrupted database are refused or
//! reported.

use crate::harness::{pin_of, TestApp};
use flexsecure::ops::{self, DataDirLock, OpsError};
use reqwest::Method;
use rusqlite::{Connection, OpenFlags};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_flexsecure");
const DB: &str = "flexsecure.db";

/// Runs the real binary: (success, stdout, stderr).
fn bin(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .env_remove("FLEXSECURE_CONFIG")
        .env_remove("FLEXSECURE_BACKUP_PASSPHRASE")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn bin_async(args: Vec<String>) -> (bool, String, String) {
    tokio::task::spawn_blocking(move || bin(&args.iter().map(String::as_str).collect::<Vec<_>>()))
        .await
        .unwrap()
}

fn s(p: &Path) -> String {
    p.to_str().unwrap().to_string()
}

/// Every table's rows in a fixed order, as text, with the schema.
fn dump(db: &Path) -> String {
    flexsecure::ops::logical_dump(db).unwrap()
}

async fn dump_async(db: PathBuf) -> String {
    flexsecure::blocking::run(move || dump(&db)).await.unwrap()
}

fn count(db: &Path, sql: &str) -> i64 {
    let c = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.query_row(sql, [], |r| r.get(0)).unwrap()
}

fn email(i: usize) -> String {
    format!("u{i}@example.com")
}

/// A system with `n` granted users, SMS limits off.
async fn app_with_users(n: usize) -> TestApp {
    let t = TestApp::spawn_with(|c| {
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
    let csv: String = (0..n)
        .map(|i| format!("{},+4179200{i:04}\n", email(i)))
        .collect();
    let r = t
        .manage(Method::POST, "/v2/users/import")
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    for i in 0..n {
        let r = t
            .manage(Method::PUT, &format!("/v2/systems/CRM/users/{}", email(i)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
    }
    t
}

const USERS: usize = 400;
const TASKS: usize = 4;
const BACKUPS: usize = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backups_taken_during_logins_restore_consistent_databases() {
    let t = Arc::new(app_with_users(USERS).await);
    let data = t.data_dir.path().to_path_buf();
    let started = Arc::new(AtomicUsize::new(0));
    let acked = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    // TASKS loops of logins (each user once: a second start would re-use
    // the live challenge), until stopped or out of users.
    let loops: Vec<_> = (0..TASKS)
        .map(|k| {
            let (t, started, acked, stop) =
                (t.clone(), started.clone(), acked.clone(), stop.clone());
            tokio::spawn(async move {
                for i in (k..USERS).step_by(TASKS) {
                    if stop.load(SeqCst) {
                        break;
                    }
                    started.fetch_add(1, SeqCst);
                    let r = t.start(&email(i), "CRM").await;
                    assert_eq!(r.status(), 202);
                    acked.fetch_add(1, SeqCst);
                }
            })
        })
        .collect();
    for _ in 0..400 {
        if acked.load(SeqCst) >= 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(acked.load(SeqCst) >= 20, "logins are running");

    let out = tempfile::tempdir().unwrap();
    let mut taken = Vec::new();
    for k in 0..BACKUPS {
        let file = out.path().join(format!("b{k}.fsb"));
        // Committed: every start acknowledged before the backup began.
        let low = acked.load(SeqCst);
        let (d, f) = (data.clone(), file.clone());
        let r = flexsecure::blocking::run(move || ops::backup(&d, &f, None))
            .await
            .unwrap()
            .unwrap();
        // At most: every start sent before the backup ended.
        let high = started.load(SeqCst);
        assert!(!r.encrypted);
        taken.push((file, low, high));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    let still_running = started.load(SeqCst) < USERS;
    stop.store(true, SeqCst);
    for l in loops {
        l.await.unwrap();
    }
    assert!(
        still_running,
        "the logins went on during every backup (raise USERS if this fails)"
    );

    let mut counts = Vec::new();
    for (file, low, high) in &taken {
        let dir = out.path().join(format!("{}-restored", s(file)));
        let (f, d) = (file.clone(), dir.clone());
        let r = flexsecure::blocking::run(move || ops::restore(&f, &d, None, false))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.integrity_check, "ok");
        let d = dir.clone();
        let check = flexsecure::blocking::run(move || ops::check(&d))
            .await
            .unwrap()
            .unwrap();
        assert!(
            check.ok,
            "integrity and foreign keys of {}: {check:?}",
            s(file)
        );
        let db = dir.join(DB);
        let challenges = count(&db, "SELECT count(*) FROM challenges");
        assert!(
            (*low as i64..=*high as i64).contains(&challenges),
            "{}: {challenges} challenges, acknowledged {low} before, {high} started by the end",
            s(file)
        );
        let without_sms = count(
            &db,
            "SELECT count(*) FROM challenges c WHERE NOT EXISTS
               (SELECT 1 FROM sms_outbox o WHERE o.challenge_id = c.id)",
        );
        assert_eq!(without_sms, 0, "every challenge has its SMS in the outbox");
        let sms = count(
            &db,
            "SELECT count(*) FROM sms_outbox WHERE challenge_id IS NOT NULL",
        );
        assert_eq!(sms, challenges, "one PIN SMS per challenge");
        assert_eq!(
            std::fs::read(dir.join("server.key")).unwrap(),
            std::fs::read(data.join("server.key")).unwrap()
        );
        counts.push(challenges);
    }
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "later backups hold at least as much: {counts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_servers_encrypted_backup_restores_exactly_the_same_data() {
    let t = TestApp::spawn().await;
    t.system_with_user("CRM", "pin", "ann@example.com", "+41790000001")
        .await;
    let r = t.start("ann@example.com", "CRM").await;
    assert_eq!(r.status(), 202);
    let rid = r.json::<Value>().await.unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let pin = pin_of(&t.wait_sms("+41790000001", 1).await);
    let r = t
        .complete(
            json!({"request_id": rid, "pin": pin, "email": "ann@example.com", "system": "CRM"}),
        )
        .await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    t.settle_outbox().await;

    let data = t.data_dir.path().to_path_buf();
    let tmp = tempfile::tempdir().unwrap();
    let pass = tmp.path().join("pass");
    std::fs::write(&pass, "correct horse battery staple\n").unwrap();
    let wrong = tmp.path().join("wrong");
    std::fs::write(&wrong, "correct horse battery stapler\n").unwrap();
    let file = tmp.path().join("quiet.fsb");

    let before = dump_async(data.join(DB)).await;
    let (ok, out, err) = bin_async(
        ["--data-dir", &s(&data), "--json", "backup", &s(&file)]
            .into_iter()
            .map(String::from)
            .chain(["--passphrase-file".into(), s(&pass)])
            .collect(),
    )
    .await;
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["encrypted"], true, "{report}");
    assert!(!err.contains("not encrypted"), "{err}");
    let after = dump_async(data.join(DB)).await;
    assert_eq!(before, after, "the server stayed quiet during the backup");
    assert!(before.contains("challenges: "), "the dump holds the login");

    // Revoked after the backup: the restored database has the key back.
    let (d, key_id) = (data.clone(), t.account.auth_key_id.clone());
    flexsecure::blocking::run(move || {
        let store = flexsecure::store::Store::open(&d).unwrap();
        flexsecure::service::revoke_api_key(
            &store,
            &key_id,
            &flexsecure::domain::Actor::Cli,
            chrono::Utc::now(),
        )
        .unwrap();
    })
    .await
    .unwrap();
    let revoked = |db: &Path| {
        count(
            db,
            &format!(
                "SELECT count(*) FROM api_keys WHERE id = '{}' AND revoked_at IS NOT NULL",
                t.account.auth_key_id
            ),
        )
    };
    assert_eq!(revoked(&data.join(DB)), 1);

    let restored = tmp.path().join("restored");
    let restore = |pass: &Path, archive: &Path| {
        vec![
            "--data-dir".to_string(),
            s(&restored),
            "--json".into(),
            "restore".into(),
            s(archive),
            "--passphrase-file".into(),
            s(pass),
        ]
    };
    // Wrong passphrase, no passphrase, a flipped byte: refused, nothing written.
    let (ok, _, err) = bin_async(restore(&wrong, &file)).await;
    assert!(!ok && err.contains("wrong passphrase"), "{err}");
    let (ok, _, err) = bin_async(vec![
        "--data-dir".into(),
        s(&restored),
        "restore".into(),
        s(&file),
    ])
    .await;
    assert!(!ok && err.contains("encrypted"), "{err}");
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() * 2 / 3;
    bytes[at] ^= 0x01;
    let tampered = tmp.path().join("tampered.fsb");
    std::fs::write(&tampered, &bytes).unwrap();
    let (ok, _, err) = bin_async(restore(&pass, &tampered)).await;
    assert!(!ok && err.contains("damaged"), "{err}");
    assert!(!restored.exists(), "nothing was written");

    let (ok, out, err) = bin_async(restore(&pass, &file)).await;
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["integrity_check"], "ok");
    assert_eq!(report["encrypted"], true);
    assert_eq!(
        dump_async(restored.join(DB)).await,
        before,
        "the restored database equals the source"
    );
    assert_eq!(revoked(&restored.join(DB)), 0, "the revoked key is back");
    assert_eq!(
        std::fs::read(restored.join("server.key")).unwrap(),
        std::fs::read(data.join("server.key")).unwrap()
    );
    let keys = |d: &Path| {
        let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(d.join("signing-keys"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        v.sort();
        v
    };
    assert!(!keys(&data).is_empty());
    assert_eq!(keys(&restored), keys(&data));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_into_a_running_servers_data_dir_is_refused() {
    let t = TestApp::spawn().await;
    let data = t.data_dir.path().to_path_buf();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("plain.fsb");
    let (ok, out, err) = bin_async(vec![
        "--data-dir".into(),
        s(&data),
        "--json".into(),
        "backup".into(),
        s(&file),
    ])
    .await;
    assert!(ok, "{err}");
    assert!(err.contains("not encrypted"), "a warning: {err}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["encrypted"],
        false
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let before = dump_async(data.join(DB)).await;

    // The running server holds the data dir's lock: refused, before any
    // other check.
    let (ok, _, err) = bin_async(vec![
        "--data-dir".into(),
        s(&data),
        "restore".into(),
        s(&file),
    ])
    .await;
    assert!(
        !ok && err.contains("in use by a running flexsecure"),
        "{err}"
    );

    // Refused even with --force, by the binary (another process) and the
    // library (the server runs in this process, so the lock is this
    // process's; the test takes it itself only if nothing holds it).
    let d = data.clone();
    let lock = flexsecure::blocking::run(move || {
        (!DataDirLock::is_held(&d)).then(|| DataDirLock::acquire(&d).unwrap())
    })
    .await
    .unwrap();
    let (ok, _, err) = bin_async(vec![
        "--data-dir".into(),
        s(&data),
        "restore".into(),
        s(&file),
        "--force".into(),
    ])
    .await;
    let pid = std::process::id();
    assert!(
        !ok && err.contains(&format!("in use by a running flexsecure (pid {pid})")),
        "{err}"
    );
    let (d, f) = (data.clone(), file.clone());
    let refused = flexsecure::blocking::run(move || ops::restore(&f, &d, None, true))
        .await
        .unwrap();
    assert!(matches!(refused, Err(OpsError::Locked(..))), "{refused:?}");
    let d = data.clone();
    assert!(flexsecure::blocking::run(move || DataDirLock::is_held(&d))
        .await
        .unwrap());
    if let Some(lock) = lock {
        drop(lock);
        let d = data.clone();
        assert!(!flexsecure::blocking::run(move || DataDirLock::is_held(&d))
            .await
            .unwrap());
    }

    assert_eq!(
        dump_async(data.join(DB)).await,
        before,
        "nothing was changed"
    );
    let r = t.manage(Method::GET, "/v2/policies").send().await.unwrap();
    assert_eq!(r.status(), 200, "the server still serves");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn db_check_passes_a_good_database_and_reports_a_corrupted_copy() {
    let t = app_with_users(30).await;
    for i in 0..30 {
        assert_eq!(t.start(&email(i), "CRM").await.status(), 202);
    }
    let data = t.data_dir.path().to_path_buf();

    // Beside the running server.
    let (ok, out, err) = bin_async(vec![
        "--data-dir".into(),
        s(&data),
        "--json".into(),
        "db".into(),
        "check".into(),
    ])
    .await;
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["integrity"], json!(["ok"]));
    assert_eq!(report["foreign_key_violations"], json!([]));
    assert_eq!(report["schema_version"], report["supported_schema_version"]);

    // A stand-alone copy (backup, restore), then bytes of one of its pages
    // overwritten: the cell pointers of the challenges table's root page.
    let tmp = tempfile::tempdir().unwrap();
    let (file, copy) = (tmp.path().join("b.fsb"), tmp.path().join("copy"));
    let (d, f, c) = (data.clone(), file.clone(), copy.clone());
    flexsecure::blocking::run(move || {
        ops::backup(&d, &f, None).unwrap();
        ops::restore(&f, &c, None, false).unwrap();
    })
    .await
    .unwrap();
    let db = copy.join(DB);
    let (page_size, root) = {
        let c = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let page_size: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
        let root: i64 = c
            .query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = 'challenges'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        (page_size, root)
    };
    assert!(!copy.join("flexsecure.db-wal").exists());
    let mut bytes = std::fs::read(&db).unwrap();
    let at = ((root - 1) * page_size + 8) as usize;
    for b in &mut bytes[at..at + 24] {
        *b = 0xff;
    }
    std::fs::write(&db, &bytes).unwrap();

    let (ok, out, err) = bin_async(vec![
        "--data-dir".into(),
        s(&copy),
        "--json".into(),
        "db".into(),
        "check".into(),
    ])
    .await;
    assert!(!ok, "a non-zero exit code");
    assert!(err.contains("found problems"), "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["ok"], false, "{report}");
    assert_ne!(report["integrity"], json!(["ok"]), "{report}");
    // A backup of it is refused: the copy fails its quick_check.
    let (c, f) = (copy.clone(), tmp.path().join("of-damaged.fsb"));
    let refused = flexsecure::blocking::run(move || ops::backup(&c, &f, None))
        .await
        .unwrap();
    assert!(
        matches!(refused, Err(OpsError::SourceDamaged(_))),
        "{refused:?}"
    );
    assert!(!tmp.path().join("of-damaged.fsb").exists());
    // The human form says so too.
    let (ok, out, _) = bin_async(vec![
        "--data-dir".into(),
        s(&copy),
        "db".into(),
        "check".into(),
    ])
    .await;
    assert!(!ok);
    assert!(out.contains("PROBLEMS FOUND"), "{out}");
}
