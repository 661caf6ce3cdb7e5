//! What a load run measured: per-thread counters and latency histograms, merged into one
//! report, printed like wrk's summary or as JSON.

use std::fmt;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::validate::Failure;

/// Highest latency recorded, in microseconds (a minute).
const MAX_LATENCY_US: u64 = 60_000_000;

/// Errors by kind. A response that fails validation, a connection that fails, a request
/// that times out: each counts once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Errors {
    /// Connections that could not be opened.
    pub connect: u64,
    /// Connections reset or closed with requests in flight; failed reads and writes.
    pub reset: u64,
    /// Requests unanswered within the timeout.
    pub timeout: u64,
    /// Answers with another status than expected.
    pub status: u64,
    /// Answers with another body than expected.
    pub body: u64,
    /// Answers that were not well-framed HTTP/1.1.
    pub framing: u64,
}

impl Errors {
    /// Every error, of any kind.
    pub fn total(&self) -> u64 {
        self.connect + self.reset + self.timeout + self.status + self.body + self.framing
    }

    pub(crate) fn count(&mut self, failure: Failure) {
        match failure {
            Failure::Status => self.status += 1,
            Failure::Body => self.body += 1,
        }
    }

    fn add(&mut self, o: &Errors) {
        self.connect += o.connect;
        self.reset += o.reset;
        self.timeout += o.timeout;
        self.status += o.status;
        self.body += o.body;
        self.framing += o.framing;
    }
}

/// One thread's measurements.
#[derive(Debug, Clone)]
pub(crate) struct Stats {
    /// Microseconds from (intended) send to the last byte of the response.
    pub latency: Histogram<u64>,
    pub ok: u64,
    pub errors: Errors,
    /// Requests re-sent after the server closed their connection before answering.
    pub retries: u64,
    pub bytes: u64,
}

impl Default for Stats {
    fn default() -> Self {
        let latency =
            Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds");
        Stats {
            latency,
            ok: 0,
            errors: Errors::default(),
            retries: 0,
            bytes: 0,
        }
    }
}

impl Stats {
    pub(crate) fn record(&mut self, latency_ns: u64) {
        self.ok += 1;
        self.latency
            .saturating_record((latency_ns / 1000).clamp(1, MAX_LATENCY_US));
    }

    pub(crate) fn merge(&mut self, other: &Stats) {
        self.latency
            .add(&other.latency)
            .expect("histograms share their bounds");
        self.ok += other.ok;
        self.retries += other.retries;
        self.errors.add(&other.errors);
        self.bytes += other.bytes;
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// The median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// The slowest.
    pub max: u64,
    /// The mean.
    pub mean: f64,
}

impl Percentiles {
    pub(crate) fn of(h: &Histogram<u64>) -> Percentiles {
        let q = |q: f64| h.value_at_quantile(q);
        Percentiles {
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            p999: q(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// The result of a run, as printed and as written to JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was run.
    #[serde(flatten)]
    pub settings: ReportHeader,
    /// How long it ran.
    pub duration_s: f64,
    /// Answers that passed validation.
    pub requests: u64,
    /// Failures by kind.
    pub errors: Errors,
    /// Failures of every kind.
    pub error_total: u64,
    /// Requests re-sent on a new connection after the server closed theirs before any
    /// answer came (RFC 9112 §9.3.1): not errors, and counted in `requests` once answered.
    pub retries: u64,
    /// Bytes received.
    pub bytes: u64,
    /// `requests` per second.
    pub requests_per_sec: f64,
    /// `bytes` per second.
    pub bytes_per_sec: f64,
    /// Latency of the answers that passed, from (intended) send to the last byte.
    pub latency_us: Percentiles,
}

impl Report {
    pub(crate) fn new(header: ReportHeader, stats: &Stats, elapsed: Duration) -> Report {
        let secs = elapsed.as_secs_f64().max(1e-9);
        Report {
            settings: header,
            duration_s: secs,
            requests: stats.ok,
            errors: stats.errors,
            error_total: stats.errors.total(),
            retries: stats.retries,
            bytes: stats.bytes,
            requests_per_sec: stats.ok as f64 / secs,
            bytes_per_sec: stats.bytes as f64 / secs,
            latency_us: Percentiles::of(&stats.latency),
        }
    }
}

/// The settings a report repeats.
#[derive(Debug, Clone, Serialize)]
pub struct ReportHeader {
    /// The URL loaded.
    pub target: String,
    /// The I/O that drove it.
    pub engine: String,
    /// Connections kept open.
    pub connections: usize,
    /// Load threads.
    pub threads: usize,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// A new connection per request.
    pub close: bool,
    /// Requests per connection before a new one, if limited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_connection: Option<usize>,
    /// The fixed rate, if any.
    pub rate: Option<u64>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.settings.fmt(f, self.duration_s)?;
        let l = &self.latency_us;
        writeln!(
            f,
            "  Latency     p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
            us(l.p50),
            us(l.p90),
            us(l.p99),
            us(l.p999),
            us(l.max)
        )?;
        writeln!(
            f,
            "  {} requests in {:.2}s, {} read",
            self.requests,
            self.duration_s,
            bytes(self.bytes as f64)
        )?;
        let e = &self.errors;
        if self.error_total > 0 {
            writeln!(
                f,
                "  Errors: connect {}, reset {}, timeout {}, status {}, body {}, framing {}",
                e.connect, e.reset, e.timeout, e.status, e.body, e.framing
            )?;
        }
        if self.retries > 0 {
            writeln!(
                f,
                "  Retries: {} (re-sent after the server closed a connection unanswered)",
                self.retries
            )?;
        }
        writeln!(f, "Requests/sec: {:>12.2}", self.requests_per_sec)?;
        write!(f, "Transfer/sec: {:>12}", bytes(self.bytes_per_sec))
    }
}

impl ReportHeader {
    /// The summary's first two lines: what ran, for how long.
    fn fmt(&self, f: &mut fmt::Formatter<'_>, duration_s: f64) -> fmt::Result {
        writeln!(
            f,
            "{duration_s:.2}s test @ {} ({} engine)",
            self.target, self.engine
        )?;
        let limited = match self.requests_per_connection {
            Some(n) => format!(", a new connection every {n} requests"),
            None => String::new(),
        };
        let mode = match (self.close, self.rate) {
            (true, _) => "a new connection per request".to_owned(),
            (false, Some(rate)) if !limited.is_empty() => {
                format!("fixed rate {rate}/s, pipeline {}{limited}", self.pipeline)
            }
            (false, None) if !limited.is_empty() => format!("pipeline {}{limited}", self.pipeline),
            (false, Some(rate)) => format!("fixed rate {rate}/s, pipeline {}", self.pipeline),
            (false, None) => format!("pipeline {}", self.pipeline),
        };
        writeln!(
            f,
            "  {} threads and {} connections, {mode}",
            self.threads, self.connections
        )
    }
}

fn us(v: u64) -> String {
    match v {
        0..1_000 => format!("{v}us"),
        1_000..1_000_000 => format!("{:.2}ms", v as f64 / 1e3),
        _ => format!("{:.2}s", v as f64 / 1e6),
    }
}

fn bytes(v: f64) -> String {
    match v {
        v if v >= 1024.0 * 1024.0 => format!("{:.2}MB", v / (1024.0 * 1024.0)),
        v if v >= 1024.0 => format!("{:.2}KB", v / 1024.0),
        v => format!("{v:.0}B"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_adds_counts_and_keeps_the_latency_shape() {
        let mut a = Stats::default();
        let mut b = Stats::default();
        (1..=90).for_each(|i| a.record(i * 1000));
        (1..=10).for_each(|i| b.record(1_000_000 + i * 1000));
        b.errors.timeout = 2;
        b.bytes = 5;
        a.merge(&b);
        assert_eq!((a.ok, a.errors.total(), a.bytes), (100, 2, 5));
        let p = Percentiles::of(&a.latency);
        assert_eq!(p.p50, 50, "the merged median comes from the first thread");
        assert_eq!(p.max, 1010, "microseconds");
        assert!(p.p99 >= 1001, "the slow tail is kept: {}", p.p99);
    }

    #[test]
    fn failures_count_by_kind() {
        let mut e = Errors::default();
        e.framing += 1;
        [Failure::Status, Failure::Body, Failure::Body]
            .into_iter()
            .for_each(|f| e.count(f));
        assert_eq!((e.framing, e.status, e.body, e.total()), (1, 1, 2, 4));
    }

    #[test]
    fn prints_like_wrk() {
        let mut s = Stats::default();
        s.record(250_000);
        s.bytes = 2048;
        let header = ReportHeader {
            target: "http://x/".into(),
            engine: "io_uring".into(),
            connections: 2,
            threads: 1,
            pipeline: 1,
            close: false,
            requests_per_connection: None,
            rate: None,
        };
        let text = Report::new(header, &s, Duration::from_secs(2)).to_string();
        assert!(text.contains("1 requests in 2.00s, 2.00KB read"), "{text}");
        assert!(text.contains("Requests/sec:         0.50"), "{text}");
        assert!(text.contains("p50 250us"), "{text}");
    }
}
