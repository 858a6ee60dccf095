//! The load tool's figures: percentiles, the report as JSON or text.

use serde::Serialize;
use std::collections::BTreeMap;

/// Latency summary in milliseconds. Percentiles use the nearest-rank
/// definition on the sorted samples: the p-th percentile is the value at
/// 1-based rank ceil(p/100 * n), so p99 of 1,000 samples is the 990th
/// smallest and p99.9 the 999th.
#[derive(Debug, Serialize, Default)]
pub struct Latency {
    pub count: usize,
    pub p50: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

/// The nearest-rank percentile `p` (0-100] of sorted `v`, in microseconds.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // The small margin keeps float noise (0.999 * 1000 = 999.0000000000001)
    // from moving the rank up by one.
    let rank = ((p / 100.0) * sorted.len() as f64 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Latency {
    pub fn of(mut v: Vec<u64>) -> Self {
        v.sort_unstable();
        let ms = |us: u64| (us as f64 / 1000.0 * 1000.0).round() / 1000.0;
        Self {
            count: v.len(),
            p50: ms(percentile(&v, 50.0)),
            p99: ms(percentile(&v, 99.0)),
            p999: ms(percentile(&v, 99.9)),
            max: ms(v.last().copied().unwrap_or(0)),
        }
    }
}

#[derive(Debug, Serialize, Default)]
pub struct Provisioning {
    pub users: usize,
    pub seconds: f64,
    pub account_seconds: f64,
    pub system_and_import_seconds: f64,
    pub grants_seconds: f64,
    pub grant_calls: usize,
}

#[derive(Debug, Serialize, Default)]
pub struct Healthz {
    pub requests: usize,
    pub requests_per_second: f64,
    pub errors: u64,
    pub latency_ms: Latency,
    pub server_cpu_ms: u64,
    pub bench_cpu_ms: u64,
}

#[derive(Debug, Serialize, Default)]
pub struct Report {
    pub users: usize,
    pub concurrency: usize,
    pub duration_seconds: u64,
    pub warmup_seconds: u64,
    /// `std::thread::available_parallelism` of the machine.
    pub cpus: usize,
    pub provisioning: Provisioning,
    /// Whole logins (start, SMS, complete) inside the measured window.
    pub logins: usize,
    pub logins_per_second: f64,
    pub starts_per_second: f64,
    pub completes_per_second: f64,
    /// `start`, `complete`, `login` (start to approved) and `sms_wait`
    /// (start answered to PIN at the sink).
    pub latency_ms: BTreeMap<&'static str, Latency>,
    /// Failed logins that began in the measured window, and by kind.
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    pub warmup_errors: u64,
    pub warmup_errors_by_kind: BTreeMap<String, u64>,
    /// SMS the sink accepted during the measured window, and in all.
    pub sms_delivered: u64,
    pub sms_delivered_total: u64,
    pub sms_refused_by_sink: u64,
    /// The server process at the end: VmHWM and VmRSS of /proc/PID/status.
    pub server_peak_rss_kb: u64,
    pub server_rss_kb: u64,
    /// CPU time (user + system, ms) in the measured login window of the
    /// server and of the bench process (its load workers and the sink),
    /// and the server's CPU time per login.
    pub server_cpu_ms: u64,
    pub bench_cpu_ms: u64,
    pub server_cpu_ms_per_login: f64,
    pub healthz: Healthz,
    /// starts_per_second / healthz.requests_per_second.
    pub starts_to_healthz_ratio: f64,
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Report {
    pub fn rate(n: usize, secs: u64) -> f64 {
        round(n as f64 / secs.max(1) as f64)
    }

    pub fn finish(&mut self) {
        let h = self.healthz.requests_per_second;
        self.starts_to_healthz_ratio = if h > 0.0 {
            (self.starts_per_second / h * 1000.0).round() / 1000.0
        } else {
            0.0
        };
        self.server_cpu_ms_per_login = if self.logins > 0 {
            (self.server_cpu_ms as f64 / self.logins as f64 * 1000.0).round() / 1000.0
        } else {
            0.0
        };
    }

    pub fn text(&self) -> String {
        let mut s = format!(
            "flexsecure bench: {} users, concurrency {}, {} s measured after {} s warm-up, {} CPUs\n\
             provisioning: {:.2} s (account {:.2} s, system + CSV import {:.2} s, {} grants {:.2} s)\n\
             logins/s:    {:>10.1}  ({} logins)\n\
             starts/s:    {:>10.1}\n\
             completes/s: {:>10.1}\n\
             latency ms        count       p50       p99     p99.9       max\n",
            self.users,
            self.concurrency,
            self.duration_seconds,
            self.warmup_seconds,
            self.cpus,
            self.provisioning.seconds,
            self.provisioning.account_seconds,
            self.provisioning.system_and_import_seconds,
            self.provisioning.grant_calls,
            self.provisioning.grants_seconds,
            self.logins_per_second,
            self.logins,
            self.starts_per_second,
            self.completes_per_second,
        );
        let h = &self.healthz;
        let mut rows: Vec<(&str, &Latency)> = ["start", "complete", "login", "sms_wait"]
            .iter()
            .filter_map(|k| self.latency_ms.get(k).map(|l| (*k, l)))
            .collect();
        rows.push(("healthz", &h.latency_ms));
        for (k, l) in rows {
            s.push_str(&format!(
                "  {k:<12} {:>10} {:>9.3} {:>9.3} {:>9.3} {:>9.3}\n",
                l.count, l.p50, l.p99, l.p999, l.max
            ));
        }
        s.push_str(&format!(
            "errors:      {} {:?} (warm-up: {} {:?})\n\
             SMS at sink: {} in the window, {} in all, {} refused\n\
             server RSS:  peak {:.1} MB, now {:.1} MB\n\
             CPU logins:  server {} ms, bench {} ms in the window ({:.3} server ms per login)\n\
             healthz:     {:.1} req/s ({} errors); CPU server {} ms, bench {} ms\n\
             starts/healthz: {:.3}",
            self.errors,
            self.errors_by_kind,
            self.warmup_errors,
            self.warmup_errors_by_kind,
            self.sms_delivered,
            self.sms_delivered_total,
            self.sms_refused_by_sink,
            self.server_peak_rss_kb as f64 / 1024.0,
            self.server_rss_kb as f64 / 1024.0,
            self.server_cpu_ms,
            self.bench_cpu_ms,
            self.server_cpu_ms_per_login,
            h.requests_per_second,
            h.errors,
            h.server_cpu_ms,
            h.bench_cpu_ms,
            self.starts_to_healthz_ratio,
        ));
        s
    }
}

/// `VmHWM` and `VmRSS` of a process in kB (0 when unreadable).
pub fn rss_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=1000).collect();
        assert_eq!(percentile(&v, 50.0), 500);
        assert_eq!(percentile(&v, 99.0), 990);
        assert_eq!(percentile(&v, 99.9), 999);
        assert_eq!(percentile(&v, 100.0), 1000);
        assert_eq!(percentile(&[7], 99.9), 7);
        assert_eq!(percentile(&[], 50.0), 0);
        let l = Latency::of(vec![3000, 1000, 2000]);
        assert_eq!((l.count, l.p50, l.max), (3, 2.0, 3.0));
    }
}
