//! The server's metrics: each worker owns its counters (written by its thread alone, so a
//! count is a plain load and store), and a scrape gathers them, with the build and process
//! facts, into the Prometheus text exposition that `/metrics` serves.

mod expose;
#[cfg(target_os = "linux")]
mod process;
#[cfg(not(target_os = "linux"))]
mod process {
    //! No `/proc` here: nothing to sample.
    #[derive(Debug, Default)]
    pub(crate) struct Sampled {
        _nothing: (),
    }

    impl Sampled {
        pub(crate) fn start<T>(
            _: &std::sync::Arc<T>,
            _: fn(&T) -> &Sampled,
            _: Option<std::sync::Arc<crate::sandbox::Filter>>,
        ) {
        }
    }
}

use std::sync::{Arc, OnceLock};

use crate::proto::{CloseReason, Counter, Exposition, Tally};
use crate::sandbox::Filter;

/// Why accepting paused, as the `cause` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PauseCause {
    /// The process or the system ran out of descriptors (`EMFILE`, `ENFILE`).
    Descriptors,
    /// The kernel ran out of memory for sockets (`ENOMEM`, `ENOBUFS`).
    Memory,
    /// The worker holds `--max-connections` connections.
    ConnectionLimit,
    /// Any other error that ends accepting: a broken listener, a refused submission.
    Error,
}

impl PauseCause {
    const ALL: [PauseCause; 4] = [
        PauseCause::Descriptors,
        PauseCause::Memory,
        PauseCause::ConnectionLimit,
        PauseCause::Error,
    ];

    fn label(self) -> &'static str {
        match self {
            PauseCause::Descriptors => "descriptors",
            PauseCause::Memory => "memory",
            PauseCause::ConnectionLimit => "connection_limit",
            PauseCause::Error => "error",
        }
    }
}

/// One worker's counters. Cache-line aligned so that workers never write the same line.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct WorkerMetrics {
    /// What the protocol answered (counted inside `proto`).
    pub tally: Arc<Tally>,
    pub accepted: Counter,
    /// A gauge: connections accepted and not yet closed.
    pub open: Counter,
    closed: [Counter; CloseReason::ALL.len()],
    pub bytes_received: Counter,
    pub bytes_sent: Counter,
    paused: [Counter; PauseCause::ALL.len()],
    pub uring_enobufs: Counter,
    pub uring_submit_calls: Counter,
    pub uring_completions: Counter,
    /// Submissions that found the submission queue full and waited for room.
    pub uring_sq_waits: Counter,
    /// Gauges: receive buffers out of the kernel's hands, fixed-file slots held.
    pub uring_buffers_in_use: Counter,
    pub uring_direct_slots_in_use: Counter,
    pub access_log_dropped: Counter,
    /// A gauge: the connection limit in force (set once, before the worker starts).
    pub connection_limit: Counter,
}

impl WorkerMetrics {
    /// A connection was accepted (and is open).
    pub(crate) fn accepted_open(&self) {
        self.accepted.add(1);
        self.open.add(1);
    }

    /// A connection's descriptor closed, for `reason` (the `open` gauge falls when the
    /// backend has released everything of it).
    pub(crate) fn closed(&self, reason: CloseReason) {
        self.closed[reason as usize].add(1);
    }

    /// Accepting paused, for `cause`.
    pub(crate) fn paused(&self, cause: PauseCause) {
        self.paused[cause as usize].add(1);
    }

    /// Pauses of every cause.
    pub(crate) fn paused_total(&self) -> u64 {
        self.paused.iter().map(Counter::get).sum()
    }
}

/// What the server runs on, for `greeter_build_info`; known once the workers are up.
#[derive(Debug, Clone)]
pub(crate) struct Build {
    pub backend: String,
    pub ring_flags: String,
    /// Opcodes an io_uring worker's ring is restricted to: a number, `0` for an
    /// unrestricted ring, empty on other backends.
    pub restricted_opcodes: String,
    /// The `--sandbox` mode: `off`, `enforce` or `log`.
    pub sandbox: &'static str,
}

/// Every worker's counters, by their `worker` label, and the build facts.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    workers: Vec<(String, Arc<WorkerMetrics>)>,
    build: OnceLock<Build>,
    /// Access log lines lost to failed writes (the log's writer thread counts them).
    pub access_log_lost: Arc<Counter>,
    /// The process figures, sampled off the event loops ([`Registry::sample_process`]).
    process: process::Sampled,
}

impl Registry {
    /// Counters for each of `workers` workers, labelled `0`, `1`, ..., and for an admin
    /// worker (`--metrics-listen`) if `admin`.
    pub(crate) fn new(workers: usize, admin: bool) -> Registry {
        let labels = (0..workers).map(|i| i.to_string());
        let labels = labels.chain(admin.then(|| "admin".to_owned()));
        Registry {
            workers: labels.map(|l| (l, Arc::default())).collect(),
            build: OnceLock::new(),
            access_log_lost: Arc::default(),
            process: process::Sampled::default(),
        }
    }

    /// Each worker's name and the ticks its loop has taken.
    pub(crate) fn ticks(&self) -> Vec<(&str, u64)> {
        let ticks = self
            .workers
            .iter()
            .map(|(name, w)| (name.as_str(), w.tally.ticks()));
        ticks.collect()
    }

    /// Whether any worker began to drain.
    pub(crate) fn is_draining(&self) -> bool {
        self.workers.iter().any(|(_, w)| w.tally.draining())
    }

    /// Samples the `process_*` figures once a second from now on, on a thread of their
    /// own, for as long as the registry lives (only when metrics are served).
    pub(crate) fn sample_process(self: &Arc<Self>, sandbox: Option<Arc<Filter>>) {
        process::Sampled::start(self, |r| &r.process, sandbox);
    }

    /// The counters of the worker at `index` (the admin worker comes last).
    pub(crate) fn worker(&self, index: usize) -> Arc<WorkerMetrics> {
        Arc::clone(&self.workers[index].1)
    }

    /// Records what the server runs on (once).
    pub(crate) fn set_build(&self, build: Build) {
        let _ = self.build.set(build);
    }

    /// The counters summed over workers, as `ServerHandle::stats` reports them.
    pub(crate) fn sum(&self, f: impl Fn(&WorkerMetrics) -> u64) -> u64 {
        self.workers.iter().map(|(_, w)| f(w)).sum()
    }

    /// Workers that serve the greeting (the admin worker does not count).
    pub(crate) fn serving_workers(&self) -> usize {
        self.workers.iter().filter(|(l, _)| l != "admin").count()
    }
}

impl Exposition for Registry {
    fn render(&self, out: &mut Vec<u8>) {
        expose::render(self, out);
    }
}
