//! The access log: one line per answered request, in nginx's `combined` format or as JSON
//! ([`format`]), to standard output or a file reopened on request ([`sink`]). Written by a
//! thread of its own: a worker gathers its lines and hands them over a bounded channel in
//! batches (one per loop turn, or per connection step) and never waits; when the writer
//! falls behind, the lines are dropped and counted instead. A write that fails (a closed
//! pipe, a full disk) loses its batch, counted, and is said once per episode; the writer
//! carries on with the next batch, and serving is never affected.

mod format;
mod sink;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crate::config::{AccessLogConfig, AccessLogFormat};
use crate::metrics::WorkerMetrics;
use crate::proto::{Answered, Counter};
use crate::sandbox::Filter;
use sink::{Sink, Writer};

/// Lines waiting for the writer; a batch that would go beyond this is dropped.
const BACKLOG: usize = 8192;
/// A batch is handed over once it holds this many lines, whatever the turn.
const BATCH: usize = 512;

/// One line to write.
#[derive(Debug)]
struct Entry {
    time: SystemTime,
    peer: Option<SocketAddr>,
    answered: Answered,
    micros: u128,
}

/// A worker's end of the access log: its lines not yet handed over.
#[derive(Debug)]
pub(crate) struct AccessLog {
    tx: Sender<Vec<Entry>>,
    /// Lines handed over and not yet written, across workers (touched once per batch).
    queued: Arc<AtomicUsize>,
    batch: Vec<Entry>,
}

impl Clone for AccessLog {
    /// Another worker's end: the same writer, a batch of its own.
    fn clone(&self) -> Self {
        AccessLog {
            tx: self.tx.clone(),
            queued: Arc::clone(&self.queued),
            batch: Vec::new(),
        }
    }
}

/// Asks the access log's writer to reopen its file (after logrotate moved it): the
/// binary's answer to `SIGUSR1` and `SIGHUP`. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Reopen(Option<Arc<AtomicBool>>);

impl Reopen {
    /// The writer reopens its file before its next line, or within a second.
    pub fn reopen(&self) {
        match &self.0 {
            Some(asked) => asked.store(true, Ordering::Relaxed),
            None => tracing::info!("reopen asked for, but no access log is kept"),
        }
    }
}

/// How often an idle writer looks for a reopen request.
const REOPEN_CHECK: Duration = Duration::from_secs(1);

impl AccessLog {
    /// Opens the log's destination and starts the writer thread; it ends once every
    /// worker's end is dropped, after writing what they handed over. Lines a failed write
    /// lost are counted in `lost` (the writer thread is its one writer).
    pub(crate) fn start(
        config: &AccessLogConfig,
        lost: Arc<Counter>,
        sandbox: Option<Arc<Filter>>,
    ) -> std::io::Result<(AccessLog, JoinHandle<()>, Reopen)> {
        let sink = Sink::open(&config.target)?;
        let (tx, rx) = channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let reopen = Arc::new(AtomicBool::new(false));
        let thread = Thread {
            rx,
            queued: Arc::clone(&queued),
            format: config.format,
            reopen: Arc::clone(&reopen),
        };
        let writer = std::thread::Builder::new()
            .name("greeter-access-log".into())
            .spawn(move || {
                if let Some(Err(e)) = sandbox.map(|s| s.confine()) {
                    return tracing::error!("the access log's writer cannot be confined: {e}");
                }
                thread.run(&mut Writer::new(sink, &lost));
            })?;
        let log = AccessLog {
            tx,
            queued,
            batch: Vec::new(),
        };
        Ok((log, writer, Reopen(Some(reopen))))
    }

    /// Adds `answered` (requests of the connection to `peer`, answered by now) to the batch.
    pub(crate) fn log(
        &mut self,
        answered: Vec<Answered>,
        peer: Option<SocketAddr>,
        metrics: &WorkerMetrics,
    ) {
        let (time, now) = (SystemTime::now(), Instant::now());
        self.batch
            .extend(answered.into_iter().map(|answered| Entry {
                time,
                peer,
                micros: now.saturating_duration_since(answered.started).as_micros(),
                answered,
            }));
        if self.batch.len() >= BATCH {
            self.flush(metrics);
        }
    }

    /// Hands the batch to the writer; if it cannot take it, the lines are counted in
    /// `metrics` as dropped.
    pub(crate) fn flush(&mut self, metrics: &WorkerMetrics) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let lines = batch.len();
        if self.queued.fetch_add(lines, Ordering::Relaxed) + lines > BACKLOG {
            self.queued.fetch_sub(lines, Ordering::Relaxed);
            return metrics.access_log_dropped.add(lines as u64);
        }
        if self.tx.send(batch).is_err() {
            metrics.access_log_dropped.add(lines as u64); // the writer is gone
        }
    }
}

/// The writer thread's side.
struct Thread {
    rx: Receiver<Vec<Entry>>,
    queued: Arc<AtomicUsize>,
    format: AccessLogFormat,
    reopen: Arc<AtomicBool>,
}

impl Thread {
    /// Each batch is written whole, and flushed whenever no more batches are waiting; a
    /// reopen request is served before the next line, or within [`REOPEN_CHECK`]; runs
    /// until every worker's end is gone, whatever the writes do.
    fn run(&self, out: &mut Writer<'_, Sink>) {
        loop {
            let first = match self.rx.recv_timeout(REOPEN_CHECK) {
                Ok(batch) => batch,
                Err(RecvTimeoutError::Timeout) => {
                    self.reopen_if_asked(out);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            self.reopen_if_asked(out);
            let mut next = Some(first);
            while let Some(batch) = next {
                for entry in &batch {
                    out.line(|buf| format::line(buf, entry, self.format));
                }
                self.queued.fetch_sub(batch.len(), Ordering::Relaxed);
                next = self.rx.try_recv().ok();
            }
            out.flush();
        }
        out.flush();
    }

    fn reopen_if_asked(&self, out: &mut Writer<'_, Sink>) {
        if self.reopen.swap(false, Ordering::Relaxed) {
            out.flush();
            out.out.reopen();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Requested;

    fn entry() -> Entry {
        Entry {
            time: std::time::UNIX_EPOCH,
            peer: Some("127.0.0.1:5000".parse().unwrap()),
            answered: Answered::for_test(Requested::for_test("GET / HTTP/1.1\r\n"), 200, 150, 13),
            micros: 42,
        }
    }

    #[test]
    fn a_writer_that_falls_behind_loses_lines_not_time() {
        let (tx, rx) = channel();
        let queued = Arc::new(AtomicUsize::new(BACKLOG - 7));
        let mut log = AccessLog {
            tx,
            queued,
            batch: Vec::new(),
        };
        let metrics = WorkerMetrics::default();
        for lines in [3, 4, 5] {
            log.log(
                (0..lines).map(|_| entry().answered).collect(),
                None,
                &metrics,
            );
            log.flush(&metrics);
        }
        assert_eq!(
            metrics.access_log_dropped.get(),
            5,
            "seven lines fit, the third batch not"
        );
        assert_eq!(rx.try_iter().map(|b| b.len()).sum::<usize>(), 7);
    }
}
