//! The access log: one line per answered request (time, peer, method, target, status,
//! bytes sent, time to answer) on standard output, as text or JSON lines. Written by a
//! thread of its own: a worker gathers its lines and hands them over a bounded channel in
//! batches (one per loop turn, or per connection step) and never waits; when the writer
//! falls behind, the lines are dropped and counted instead. A write that fails (a closed
//! pipe, a full disk) loses its batch, counted, and is said once per episode; the writer
//! carries on with the next batch, and serving is never affected.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::{Instant, SystemTime};

use crate::config::LogFormat;
use crate::metrics::WorkerMetrics;
use crate::proto::{Answered, Counter};
use crate::sandbox::Filter;

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

impl AccessLog {
    /// Starts the writer thread, writing lines in `format` to standard output; it ends
    /// once every worker's end is dropped, after writing what they handed over. Lines a
    /// failed write lost are counted in `lost` (the writer thread is its one writer).
    pub(crate) fn start(
        format: LogFormat,
        lost: Arc<Counter>,
        sandbox: Option<Arc<Filter>>,
    ) -> std::io::Result<(AccessLog, JoinHandle<()>)> {
        let (tx, rx) = channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let written = Arc::clone(&queued);
        let writer = std::thread::Builder::new()
            .name("greeter-access-log".into())
            .spawn(move || {
                let mut out = Writer::new(std::io::stdout().lock(), &lost);
                if let Some(Err(e)) = sandbox.map(|s| s.confine()) {
                    return tracing::error!("the access log's writer cannot be confined: {e}");
                }
                write_lines(&rx, &written, format, &mut out)
            })?;
        let log = AccessLog {
            tx,
            queued,
            batch: Vec::new(),
        };
        Ok((log, writer))
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

/// The writer: each batch is written whole, and flushed whenever no more batches are
/// waiting; it runs until every worker's end is gone, whatever the writes do.
fn write_lines<W: Write>(
    rx: &Receiver<Vec<Entry>>,
    queued: &AtomicUsize,
    format: LogFormat,
    out: &mut Writer<'_, W>,
) {
    while let Ok(batch) = rx.recv() {
        let mut next = Some(batch);
        while let Some(batch) = next {
            out.batch(&batch, format);
            queued.fetch_sub(batch.len(), Ordering::Relaxed);
            next = rx.try_recv().ok();
        }
        out.flush();
    }
    out.flush();
}

/// Where lines go, and what failed writes cost: the lines of a write that failed are
/// counted in `lost`, and the first failure of an episode is logged.
struct Writer<'a, W: Write> {
    out: W,
    /// Lines formatted and not yet written.
    buf: Vec<u8>,
    lines: u64,
    lost: &'a Counter,
    /// A write failed and none has succeeded since.
    failing: bool,
}

impl<'a, W: Write> Writer<'a, W> {
    /// Formatted lines are written once this many bytes wait.
    const CHUNK: usize = 64 * 1024;

    fn new(out: W, lost: &'a Counter) -> Self {
        Writer {
            out,
            buf: Vec::with_capacity(Self::CHUNK),
            lines: 0,
            lost,
            failing: false,
        }
    }

    fn batch(&mut self, batch: &[Entry], format: LogFormat) {
        for entry in batch {
            // Formatting into memory cannot fail.
            let _ = write_line(&mut self.buf, entry, format);
            self.lines += 1;
            if self.buf.len() >= Self::CHUNK {
                self.flush();
            }
        }
    }

    /// Writes what waits; on failure its lines are lost, and the next batch starts clean.
    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        match self
            .out
            .write_all(&self.buf)
            .and_then(|()| self.out.flush())
        {
            Ok(()) => self.recovered(),
            Err(e) => self.failed(&e),
        }
        self.buf.clear();
        self.lines = 0;
    }

    fn failed(&mut self, e: &std::io::Error) {
        self.lost.add(self.lines);
        if !std::mem::replace(&mut self.failing, true) {
            tracing::error!(
                "cannot write the access log ({e}); its lines are dropped and counted in greeter_access_log_dropped_total{{reason=\"write_error\"}}; serving goes on"
            );
        }
    }

    fn recovered(&mut self) {
        if std::mem::replace(&mut self.failing, false) {
            tracing::info!("the access log is written again");
        }
    }
}

fn write_line(out: &mut impl Write, e: &Entry, format: LogFormat) -> std::io::Result<()> {
    let time = humantime::format_rfc3339_micros(e.time);
    let peer = e.peer.map_or_else(|| "-".to_owned(), |p| p.to_string());
    let a = &e.answered;
    match format {
        LogFormat::Text => writeln!(
            out,
            "{time} {peer} \"{} {}\" {} {} {}us",
            a.method, a.target, a.status, a.bytes, e.micros
        ),
        LogFormat::Json => {
            let line = serde_json::json!({
                "time": time.to_string(), "peer": peer, "method": a.method, "target": a.target,
                "status": a.status, "bytes": a.bytes, "duration_us": e.micros as u64,
            });
            writeln!(out, "{line}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Entry {
        Entry {
            time: std::time::UNIX_EPOCH,
            peer: Some("127.0.0.1:5000".parse().unwrap()),
            answered: Answered {
                method: "GET".into(),
                target: "/greet/Ann".into(),
                status: 200,
                bytes: 150,
                started: Instant::now(),
            },
            micros: 42,
        }
    }

    /// Fails every write while `broken`, and keeps what it was given otherwise.
    struct Flaky {
        broken: bool,
        written: Vec<u8>,
    }

    impl Write for Flaky {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.broken {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            self.written.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_loses_its_lines_counted_and_the_writer_carries_on() {
        let lost = Counter::default();
        let out = Flaky {
            broken: true,
            written: Vec::new(),
        };
        let mut writer = Writer::new(out, &lost);
        let batch: Vec<Entry> = (0..3).map(|_| entry()).collect();
        writer.batch(&batch, LogFormat::Text);
        writer.flush();
        assert_eq!(lost.get(), 3, "the failed batch is counted");
        assert!(writer.failing);
        writer.batch(&batch, LogFormat::Text);
        writer.flush();
        assert_eq!(lost.get(), 6, "still failing: counted again");
        writer.out.broken = false;
        writer.batch(&batch[..1], LogFormat::Text);
        writer.flush();
        assert_eq!(lost.get(), 6);
        assert!(!writer.failing, "written again");
        let text = String::from_utf8(writer.out.written.clone()).unwrap();
        assert_eq!(
            text.lines().count(),
            1,
            "only the line after recovery: {text}"
        );
    }

    #[test]
    fn lines_as_text_and_json() {
        let mut text = Vec::new();
        write_line(&mut text, &entry(), LogFormat::Text).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "1970-01-01T00:00:00.000000Z 127.0.0.1:5000 \"GET /greet/Ann\" 200 150 42us\n"
        );
        let mut json = Vec::new();
        write_line(&mut json, &entry(), LogFormat::Json).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(v["target"], "/greet/Ann");
        assert_eq!(
            (v["status"].as_u64(), v["duration_us"].as_u64()),
            (Some(200), Some(42))
        );
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
