//! The Prometheus text exposition format, version 0.0.4, which `/metrics` serves with
//! `Content-Type: text/plain; version=0.0.4; charset=utf-8`: a `# HELP` and a `# TYPE` line
//! per family, then its samples; counters named `_total`, base units, label values escaped.
//!
//! Written here rather than with `prometheus-client`: that crate writes only OpenMetrics,
//! whose counter `# TYPE` lines drop the `_total` suffix, and Prometheus's 0.0.4 parser
//! then files the samples under a second, untyped family (prometheus/client_rust#194).

use std::fmt::Display;
use std::io::Write;

use super::{PauseCause, Registry, WorkerMetrics};
use crate::proto::{BOUNDS_MICROS, CLASSES, CloseReason, Refusal, Route, Tally};

/// A metric family's type.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Appends a family's `# HELP` and `# TYPE` lines.
fn family(out: &mut Vec<u8>, name: &str, kind: Kind, help: &str) {
    let kind = match kind {
        Kind::Counter => "counter",
        Kind::Gauge => "gauge",
        Kind::Histogram => "histogram",
    };
    let help = help.replace('\\', "\\\\").replace('\n', "\\n");
    let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
}

/// Appends one sample line.
fn sample(out: &mut Vec<u8>, name: &str, labels: &[(&str, &str)], value: impl Display) {
    out.extend_from_slice(name.as_bytes());
    for (i, (label, v)) in labels.iter().enumerate() {
        out.push(if i == 0 { b'{' } else { b',' });
        let v = v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n");
        let _ = write!(out, "{label}=\"{v}\"");
    }
    if !labels.is_empty() {
        out.push(b'}');
    }
    let _ = writeln!(out, " {value}");
}

/// A family of one unlabelled sample.
fn single(out: &mut Vec<u8>, name: &str, kind: Kind, help: &str, value: impl Display) {
    family(out, name, kind, help);
    sample(out, name, &[], value);
}

/// Every family, from the registry's counters and the latest process sample.
pub(super) fn render(r: &Registry, out: &mut Vec<u8>) {
    requests(r, out);
    durations(r, out);
    state(r, out);
    connections(r, out);
    traffic(r, out);
    build(r, out);
    #[cfg(target_os = "linux")]
    process(&r.process.latest(), out);
}

fn requests(r: &Registry, out: &mut Vec<u8>) {
    let name = "greeter_requests_total";
    let help = "Requests answered, by route and status code (a series appears once non-zero).";
    family(out, name, Kind::Counter, help);
    // Every tally yields its (route, code) rows in the same order: sum them row by row.
    let mut rows: Vec<_> = Tally::default().requests().collect();
    for (_, w) in &r.workers {
        for (row, (_, _, n)) in rows.iter_mut().zip(w.tally.requests()) {
            row.2 += n;
        }
    }
    for (route, code, n) in rows.into_iter().filter(|row| row.2 > 0) {
        sample(
            out,
            name,
            &[("route", route.label()), ("code", &code.to_string())],
            n,
        );
    }
    let raw = r.sum(|w| w.tally.raw_greetings());
    let help = "Greetings written by the raw greet-and-close protocol.";
    single(out, "greeter_raw_greetings_total", Kind::Counter, help, raw);
    let name = "greeter_proxy_protocol_refused_total";
    let help = "Connections closed unanswered for their PROXY protocol header \
                (--proxy-protocol): missing, malformed, too_long, unfinished.";
    family(out, name, Kind::Counter, help);
    for why in Refusal::ALL {
        let n = r.sum(|w| w.tally.refused_prefaces(why));
        sample(out, name, &[("reason", why.label())], n);
    }
}

/// `greeter_request_duration_seconds`: a series per route and status class seen, summed
/// over workers.
fn durations(r: &Registry, out: &mut Vec<u8>) {
    let name = "greeter_request_duration_seconds";
    let help = "Time from a request's complete head to its answer queued, by route and \
                status class (the body's arrival counts; the client's sending of the head \
                and the network do not).";
    family(out, name, Kind::Histogram, help);
    for route in Route::ALL {
        for (class, label) in CLASSES.iter().enumerate() {
            let mut seen = r
                .workers
                .iter()
                .map(|(_, w)| w.tally.durations.observed(route, class));
            let Some(mut sum) = seen.next() else { continue };
            for o in seen {
                sum.count += o.count;
                sum.sum_micros += o.sum_micros;
                sum.cumulative
                    .iter_mut()
                    .zip(o.cumulative)
                    .for_each(|(a, b)| *a += b);
            }
            if sum.count > 0 {
                histogram(
                    out,
                    name,
                    &[("route", route.label()), ("class", label)],
                    &sum,
                );
            }
        }
    }
}

/// One histogram series: its buckets, `+Inf`, sum and count.
fn histogram(out: &mut Vec<u8>, name: &str, labels: &[(&str, &str)], o: &crate::proto::Observed) {
    let bucket = format!("{name}_bucket");
    for (bound, n) in BOUNDS_MICROS.iter().zip(o.cumulative) {
        let le = format!("{}", *bound as f64 / 1e6);
        sample(out, &bucket, &[labels, &[("le", &le)]].concat(), n);
    }
    sample(out, &bucket, &[labels, &[("le", "+Inf")]].concat(), o.count);
    let sum = o.sum_micros as f64 / 1e6;
    sample(out, &format!("{name}_sum"), labels, sum);
    sample(out, &format!("{name}_count"), labels, o.count);
}

/// The state an operator alerts on: the connection limit in force, draining, requests in
/// flight.
fn state(r: &Registry, out: &mut Vec<u8>) {
    let limit = "Connections a worker accepts before it sheds idle ones and pauses, by worker.";
    let name = "greeter_connection_limit";
    per_worker(r, out, (name, Kind::Gauge), limit, |w| {
        w.connection_limit.get()
    });
    let draining = "1 once shutdown began: the listeners are closed and connections drain.";
    single(
        out,
        "greeter_draining",
        Kind::Gauge,
        draining,
        u8::from(r.is_draining()),
    );
    let help = "Requests read whose answers are not queued yet (their bodies arriving).";
    let in_flight = r.sum(|w| w.tally.in_flight());
    single(
        out,
        "greeter_requests_in_flight",
        Kind::Gauge,
        help,
        in_flight,
    );
}

fn connections(r: &Registry, out: &mut Vec<u8>) {
    let accepted = "Connections accepted, by worker (SO_REUSEPORT spreads them).";
    let name = "greeter_connections_accepted_total";
    per_worker(r, out, (name, Kind::Counter), accepted, |w| {
        w.accepted.get()
    });
    let open = "Connections open now, by worker.";
    let name = "greeter_connections_open";
    per_worker(r, out, (name, Kind::Gauge), open, |w| w.open.get());
    let closed = CloseReason::ALL.map(|c| (c.label(), r.sum(|w| w.closed[c as usize].get())));
    let name = "greeter_connections_closed_total";
    labelled(
        out,
        name,
        "Connections closed, by reason.",
        "reason",
        &closed,
    );
    let paused = PauseCause::ALL.map(|c| (c.label(), r.sum(|w| w.paused[c as usize].get())));
    let name = "greeter_accept_paused_total";
    labelled(
        out,
        name,
        "Times accepting paused, by cause.",
        "cause",
        &paused,
    );
}

/// A counter family with one label, one sample per value.
fn labelled(out: &mut Vec<u8>, name: &str, help: &str, label: &str, values: &[(&str, u64)]) {
    family(out, name, Kind::Counter, help);
    for (value, n) in values {
        sample(out, name, &[(label, value)], n);
    }
}

fn per_worker(
    r: &Registry,
    out: &mut Vec<u8>,
    (name, kind): (&str, Kind),
    help: &str,
    value: impl Fn(&WorkerMetrics) -> u64,
) {
    family(out, name, kind, help);
    for (label, w) in &r.workers {
        sample(out, name, &[("worker", label)], value(w));
    }
}

/// An unlabelled counter summed over workers: name, help, and where each worker keeps it.
type Total = (&'static str, &'static str, fn(&WorkerMetrics) -> u64);

const TOTALS: [Total; 2] = [
    (
        "greeter_bytes_received_total",
        "Bytes received from clients.",
        |w| w.bytes_received.get(),
    ),
    ("greeter_bytes_sent_total", "Bytes sent to clients.", |w| {
        w.bytes_sent.get()
    }),
];

/// The io_uring backend's own.
const URING_TOTALS: [Total; 4] = [
    (
        "greeter_uring_enobufs_total",
        "io_uring receives that found the buffer ring empty and were re-armed.",
        |w| w.uring_enobufs.get(),
    ),
    (
        "greeter_uring_submit_calls_total",
        "io_uring_enter calls that submitted work.",
        |w| w.uring_submit_calls.get(),
    ),
    (
        "greeter_uring_completions_total",
        "io_uring completions drained.",
        |w| w.uring_completions.get(),
    ),
    (
        "greeter_uring_sq_waits_total",
        "io_uring submissions that found the submission queue full and waited for room.",
        |w| w.uring_sq_waits.get(),
    ),
];

/// The io_uring backend's gauges, per worker: what the chaos test reads, 0 when idle.
const URING_GAUGES: [Total; 2] = [
    (
        "greeter_uring_buffers_in_use",
        "Provided receive buffers out of the kernel's hands (being parsed), by worker.",
        |w| w.uring_buffers_in_use.get(),
    ),
    (
        "greeter_uring_direct_slots_in_use",
        "Fixed-file table slots held by connections (--uring-features direct), by worker.",
        |w| w.uring_direct_slots_in_use.get(),
    ),
];

fn traffic(r: &Registry, out: &mut Vec<u8>) {
    let uring = r.build.get().is_some_and(|b| b.backend == "io_uring");
    let uring_totals = if uring { &URING_TOTALS[..] } else { &[] };
    for (name, help, value) in TOTALS.iter().chain(uring_totals) {
        single(out, name, Kind::Counter, help, r.sum(value));
    }
    let dropped = [
        ("behind", r.sum(|w| w.access_log_dropped.get())),
        ("write_error", r.access_log_lost.get()),
    ];
    let help = "Access log lines dropped: the writer fell behind, or a write failed.";
    labelled(
        out,
        "greeter_access_log_dropped_total",
        help,
        "reason",
        &dropped,
    );
    let uring_gauges = if uring { &URING_GAUGES[..] } else { &[] };
    for (name, help, value) in uring_gauges {
        per_worker(r, out, (name, Kind::Gauge), help, value);
    }
}

fn build(r: &Registry, out: &mut Vec<u8>) {
    let name = "greeter_build_info";
    family(
        out,
        name,
        Kind::Gauge,
        "What greeter runs: version, backend, io_uring setup flags, --sandbox mode (always 1).",
    );
    let (backend, flags, restricted, sandbox) = r.build.get().map_or(("", "", "", ""), |b| {
        (&b.backend, &b.ring_flags, &b.restricted_opcodes, b.sandbox)
    });
    let labels = [
        ("version", env!("CARGO_PKG_VERSION")),
        ("commit", env!("GREETER_COMMIT")),
        ("backend", backend),
        ("ring_flags", flags),
        ("ring_restricted_opcodes", restricted),
        ("sandbox", sandbox),
    ];
    sample(out, name, &labels, 1);
    single(
        out,
        "greeter_workers",
        Kind::Gauge,
        "Worker threads serving the greeting.",
        r.serving_workers(),
    );
}

/// The standard `process_*` families, each one the sample has.
#[cfg(target_os = "linux")]
fn process(p: &super::process::Process, out: &mut Vec<u8>) {
    if let Some(cpu) = p.cpu_seconds {
        let help = "Total user and system CPU time spent in seconds.";
        single(out, "process_cpu_seconds_total", Kind::Counter, help, cpu);
    }
    let gauges = [
        (
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            p.resident_bytes,
        ),
        (
            "process_open_fds",
            "Number of open file descriptors.",
            p.open_fds,
        ),
        (
            "process_max_fds",
            "Maximum number of open file descriptors.",
            p.max_fds,
        ),
    ];
    for (name, help, value) in gauges {
        if let Some(value) = value {
            single(out, name, Kind::Gauge, help, value);
        }
    }
    let help = "Start time of the process since unix epoch in seconds.";
    single(
        out,
        "process_start_time_seconds",
        Kind::Gauge,
        help,
        p.start_time_seconds,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut out = Vec::new();
        family(&mut out, "x_total", Kind::Counter, "a \\ b\nc");
        sample(&mut out, "x_total", &[("a", "q\"\\\nz"), ("b", "|")], 3);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\nx_total{a=\"q\\\"\\\\\\nz\",b=\"|\"} 3\n"
        );
    }
}
