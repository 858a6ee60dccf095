//! `flexsecure bench`, the login-path load tool, as a smoke test: the real
//! binary starts its own server and SMS sink, logs users in for a moment
//! and reports. Only that it works is checked, never how fast.

use serde_json::Value;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_flexsecure");

#[test]
fn bench_runs_logins_end_to_end_and_reports_json() {
    let cwd = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "bench",
            "--users",
            "20",
            "--concurrency",
            "4",
            "--duration",
            "2",
            "--warmup",
            "1",
            "--json",
        ])
        .current_dir(cwd.path())
        .env_remove("FLEXSECURE_CONFIG")
        .env_remove("FLEXSECURE_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let r: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));

    for field in [
        "logins_per_second",
        "starts_per_second",
        "completes_per_second",
        "errors_by_kind",
        "sms_delivered_total",
        "starts_to_healthz_ratio",
    ] {
        assert!(r.get(field).is_some(), "{field} missing: {r}");
    }
    for call in ["start", "complete", "login", "sms_wait"] {
        for p in ["count", "p50", "p99", "p999", "max"] {
            assert!(r["latency_ms"][call][p].is_number(), "{call}.{p}: {r}");
        }
    }
    let n = |v: &Value| {
        v.as_u64()
            .unwrap_or_else(|| panic!("not a count: {v} in {r}"))
    };
    let logins = n(&r["logins"]);
    assert!(logins > 0, "{r}");
    assert_eq!(n(&r["errors"]), 0, "{r}");
    assert_eq!(n(&r["warmup_errors"]), 0, "{r}");
    assert!(n(&r["sms_delivered"]) >= logins, "{r}");
    assert_eq!(n(&r["sms_refused_by_sink"]), 0, "{r}");
    assert!(n(&r["server_rss_kb"]) > 0, "{r}");
    assert!(n(&r["server_peak_rss_kb"]) >= n(&r["server_rss_kb"]), "{r}");
    assert_eq!(n(&r["provisioning"]["grant_calls"]), 20, "{r}");
    assert!(n(&r["healthz"]["requests"]) > 0, "{r}");
    assert_eq!(n(&r["healthz"]["errors"]), 0, "{r}");
    // Nothing went wrong on the way (account create, provisioning).
    assert!(
        !stderr.contains("error"),
        "the run logged an error: {stderr}"
    );
}
