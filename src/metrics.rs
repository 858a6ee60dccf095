//! The appliance's own metrics, in memory, in the Prometheus text format
//! 0.0.4. No global registry and no metrics crate: `app.rs` makes one
//! `Arc<Metrics>` and hands it to the services (logins, SMS) and through them
//! to the HTTP layer (requests, `/metrics`). Counters start at zero with the
//! process, as Prometheus expects.
//!
//! Label values come from bounded sets only (route patterns, never raw
//! paths; a fixed list of methods; outcome codes; configured channel names),
//! so the number of series stays bounded however the appliance is called.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;
use std::time::Duration;

/// Upper bounds, in seconds, of the request-duration histogram's buckets.
pub const DURATION_BUCKETS: [f64; 8] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// The metrics registry; cheap to share behind an `Arc`.
pub struct Metrics {
    http_requests: CounterVec,
    http_durations: HistogramVec,
    logins: CounterVec,
    sms: CounterVec,
    /// `[server.metrics] token`; `None`: `/metrics` is open.
    scrape_token: Option<Box<[u8]>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(None)
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field(
                "scrape_token",
                &self.scrape_token.as_ref().map(|_| "<redacted>"),
            )
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// `scrape_token`: when set, reading the metrics needs
    /// `Authorization: Bearer <token>`.
    pub fn new(scrape_token: Option<&str>) -> Self {
        Self {
            http_requests: CounterVec::default(),
            http_durations: HistogramVec::default(),
            logins: CounterVec::default(),
            sms: CounterVec::default(),
            scrape_token: scrape_token.map(|t| t.as_bytes().into()),
        }
    }

    /// One answered HTTP request. `route` is the route pattern (or
    /// `unmatched`), never the path: a link's token is part of its path.
    pub fn request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let method = bounded_method(method);
        let status = status.to_string();
        self.http_requests.inc(&labels(&[
            ("route", route),
            ("method", method),
            ("status", &status),
        ]));
        self.http_durations
            .observe(&labels(&[("route", route)]), elapsed);
    }

    /// One login decision, by its recorded outcome (`approved`, `pending`,
    /// `denied`, `wrong_pin`, ...).
    pub fn login(&self, outcome: &str) {
        self.logins.inc(&labels(&[("outcome", outcome)]));
    }

    /// One dispatched SMS outcome: `result` is `sent`, `unknown`, `retry`,
    /// `failed` or `expired`; `channel` the channel that sent it or was
    /// tried last (`none` when no channel was tried).
    pub fn sms(&self, channel: &str, result: &str) {
        self.sms
            .inc(&labels(&[("channel", channel), ("result", result)]));
    }

    /// Whether a request with this `Authorization` header may read the
    /// metrics. Compared in constant time; a presented token of another
    /// length is compared all the same (against the expected one) before it
    /// is refused.
    pub fn may_scrape(&self, authorization: Option<&[u8]>) -> bool {
        let Some(expected) = &self.scrape_token else {
            return true;
        };
        let presented = authorization
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(|v| {
                let (scheme, rest) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
            })
            .filter(|t| !t.is_empty());
        let Some(presented) = presented.map(str::as_bytes) else {
            return false;
        };
        let same_len = presented.len() == expected.len();
        let compared = if same_len { presented } else { &expected[..] };
        crate::crypto::ct_eq(compared, expected) && same_len
    }

    /// Writes the counters and histograms held here. Gauges read at scrape
    /// time (outbox, modems, database) are added by the caller.
    pub fn render(&self, out: &mut Exposition) {
        out.family(
            "flexsecure_http_requests_total",
            "counter",
            "HTTP requests answered, by route pattern, method and status.",
        );
        self.http_requests
            .render(out, "flexsecure_http_requests_total");
        out.family(
            "flexsecure_http_request_duration_seconds",
            "histogram",
            "Time to answer an HTTP request, by route pattern.",
        );
        self.http_durations
            .render(out, "flexsecure_http_request_duration_seconds");
        out.family(
            "flexsecure_logins_total",
            "counter",
            "Login decisions (start, complete, link page), by recorded outcome.",
        );
        self.logins.render(out, "flexsecure_logins_total");
        out.family(
            "flexsecure_sms_total",
            "counter",
            "SMS dispatch outcomes, by channel and result.",
        );
        self.sms.render(out, "flexsecure_sms_total");
    }
}

/// Methods outside the standard set are counted as `other`.
fn bounded_method(m: &str) -> &str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    KNOWN.into_iter().find(|k| *k == m).unwrap_or("other")
}

/// A label set in its exposition form: `a="x",b="y"` (escaped). It is the
/// key of a series, so rendering needs no further work.
fn labels(pairs: &[(&str, &str)]) -> String {
    let mut s = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(name);
        s.push_str("=\"");
        escape_into(&mut s, value);
        s.push('"');
    }
    s
}

fn escape_into(s: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
}

/// Counters keyed by label set. The lock is taken for writing only the
/// first time a label set is seen; increments are atomic under a read lock.
#[derive(Default)]
struct CounterVec {
    series: RwLock<BTreeMap<String, AtomicU64>>,
}

impl CounterVec {
    fn inc(&self, key: &str) {
        {
            let map = self.series.read().unwrap_or_else(|e| e.into_inner());
            if let Some(c) = map.get(key) {
                c.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        let mut map = self.series.write().unwrap_or_else(|e| e.into_inner());
        map.entry(key.to_string())
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut Exposition, name: &str) {
        let map = self.series.read().unwrap_or_else(|e| e.into_inner());
        for (key, c) in map.iter() {
            out.raw_sample(name, key, c.load(Ordering::Relaxed) as f64);
        }
    }
}

/// One histogram: a count per bucket (the last one beyond every bound) and
/// the sum in nanoseconds.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

#[derive(Default)]
struct HistogramVec {
    series: RwLock<BTreeMap<String, Histogram>>,
}

impl HistogramVec {
    fn observe(&self, key: &str, d: Duration) {
        let secs = d.as_secs_f64();
        let i = DURATION_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let record = |h: &Histogram| {
            h.buckets[i].fetch_add(1, Ordering::Relaxed);
            h.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        };
        {
            let map = self.series.read().unwrap_or_else(|e| e.into_inner());
            if let Some(h) = map.get(key) {
                record(h);
                return;
            }
        }
        let mut map = self.series.write().unwrap_or_else(|e| e.into_inner());
        record(map.entry(key.to_string()).or_default());
    }

    fn render(&self, out: &mut Exposition, name: &str) {
        let map = self.series.read().unwrap_or_else(|e| e.into_inner());
        let bucket = format!("{name}_bucket");
        for (key, h) in map.iter() {
            // Cumulative counts; `+Inf` and `_count` are the same total, so
            // a scrape racing an observation stays self-consistent.
            let mut total = 0u64;
            for (i, n) in h.buckets.iter().enumerate() {
                total += n.load(Ordering::Relaxed);
                let le = DURATION_BUCKETS
                    .get(i)
                    .map(|b| b.to_string())
                    .unwrap_or_else(|| "+Inf".into());
                let mut k = key.clone();
                k.push_str(",le=\"");
                k.push_str(&le);
                k.push('"');
                out.raw_sample(&bucket, &k, total as f64);
            }
            let sum = h.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
            out.raw_sample(&format!("{name}_sum"), key, sum);
            out.raw_sample(&format!("{name}_count"), key, total as f64);
        }
    }
}

/// A Prometheus text-format (0.0.4) document being written.
#[derive(Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    /// `# HELP` and `# TYPE` of a family (`counter`, `gauge`, `histogram`).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// One sample; label values are escaped here.
    pub fn sample(&mut self, name: &str, pairs: &[(&str, &str)], value: f64) {
        self.raw_sample(name, &labels(pairs), value);
    }

    fn raw_sample(&mut self, name: &str, labels: &str, value: f64) {
        if labels.is_empty() {
            let _ = writeln!(self.out, "{name} {value}");
        } else {
            let _ = writeln!(self.out, "{name}{{{labels}}} {value}");
        }
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::default();
        m.request("/v2/users/{email}", "GET", 200, Duration::from_millis(3));
        m.request("/v2/users/{email}", "GET", 200, Duration::from_millis(300));
        m.request("unmatched", "BREW", 404, Duration::from_secs(9));
        m.login("approved");
        m.sms("console", "sent");
        let mut out = Exposition::default();
        m.render(&mut out);
        let text = out.finish();
        for line in [
            "flexsecure_http_requests_total{route=\"/v2/users/{email}\",method=\"GET\",status=\"200\"} 2",
            "flexsecure_http_requests_total{route=\"unmatched\",method=\"other\",status=\"404\"} 1",
            "flexsecure_http_request_duration_seconds_bucket{route=\"/v2/users/{email}\",le=\"0.005\"} 1",
            "flexsecure_http_request_duration_seconds_bucket{route=\"/v2/users/{email}\",le=\"0.25\"} 1",
            "flexsecure_http_request_duration_seconds_bucket{route=\"/v2/users/{email}\",le=\"1\"} 2",
            "flexsecure_http_request_duration_seconds_bucket{route=\"/v2/users/{email}\",le=\"+Inf\"} 2",
            "flexsecure_http_request_duration_seconds_count{route=\"/v2/users/{email}\"} 2",
            "flexsecure_http_request_duration_seconds_sum{route=\"/v2/users/{email}\"} 0.303",
            "flexsecure_http_request_duration_seconds_bucket{route=\"unmatched\",le=\"5\"} 0",
            "flexsecure_logins_total{outcome=\"approved\"} 1",
            "flexsecure_sms_total{channel=\"console\",result=\"sent\"} 1",
            "# TYPE flexsecure_http_request_duration_seconds histogram",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut out = Exposition::default();
        out.sample("x", &[("modem", "a\"b\\c\nd")], 1.0);
        assert_eq!(out.finish(), "x{modem=\"a\\\"b\\\\c\\nd\"} 1\n");
    }

    #[test]
    fn the_token_is_checked() {
        let open = Metrics::new(None);
        assert!(open.may_scrape(None));
        let m = Metrics::new(Some("s3cret"));
        assert!(m.may_scrape(Some(b"Bearer s3cret")));
        assert!(m.may_scrape(Some(b"bearer  s3cret ")));
        assert!(!m.may_scrape(None));
        assert!(!m.may_scrape(Some(b"Bearer s3cre")));
        assert!(!m.may_scrape(Some(b"Basic s3cret")));
        assert!(!m.may_scrape(Some(b"s3cret")));
        // An empty configured token lets nobody in.
        let empty = Metrics::new(Some(""));
        assert!(!empty.may_scrape(Some(b"Bearer ")));
        assert!(!format!("{m:?}").contains("s3cret"));
    }
}
