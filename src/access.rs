//! The access log: one line per answered request (time, peer, method, target, status,
//! bytes sent, time to answer) on standard output, as text or JSON lines. Written by a
//! thread of its own: a worker hands each line over a bounded channel and never waits; when
//! the writer falls behind, the line is dropped and counted instead.

use std::io::{BufWriter, Write};
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::{Instant, SystemTime};

use crate::config::LogFormat;
use crate::metrics::WorkerMetrics;
use crate::proto::Answered;

/// Lines waiting for the writer; beyond this they are dropped.
const BACKLOG: usize = 8192;

/// One line to write.
#[derive(Debug)]
struct Entry {
    time: SystemTime,
    peer: Option<SocketAddr>,
    answered: Answered,
    micros: u128,
}

/// A worker's end of the access log.
#[derive(Debug, Clone)]
pub(crate) struct AccessLog {
    tx: SyncSender<Entry>,
}

impl AccessLog {
    /// Starts the writer thread, writing lines in `format` to standard output.
    pub fn start(format: LogFormat) -> std::io::Result<AccessLog> {
        let (tx, rx) = sync_channel(BACKLOG);
        std::thread::Builder::new()
            .name("greeter-access-log".into())
            .spawn(move || write_lines(&rx, format, std::io::stdout().lock()))?;
        Ok(AccessLog { tx })
    }

    /// Hands `answered` (requests of the connection to `peer`) to the writer; what does not
    /// fit is counted in `metrics` as dropped.
    pub fn log(&self, answered: Vec<Answered>, peer: Option<SocketAddr>, metrics: &WorkerMetrics) {
        let (time, now) = (SystemTime::now(), Instant::now());
        for answered in answered {
            let micros = now.saturating_duration_since(answered.started).as_micros();
            let entry = Entry {
                time,
                peer,
                answered,
                micros,
            };
            match self.tx.try_send(entry) {
                Ok(()) => {}
                Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                    metrics.access_log_dropped.add(1);
                }
            }
        }
    }
}

/// The writer: lines are buffered, and flushed whenever no more are waiting.
fn write_lines(rx: &Receiver<Entry>, format: LogFormat, out: impl Write) {
    let mut out = BufWriter::new(out);
    while let Ok(entry) = rx.recv() {
        let mut next = Some(entry);
        while let Some(entry) = next {
            if write_line(&mut out, &entry, format).is_err() {
                return;
            }
            next = rx.try_recv().ok();
        }
        if out.flush().is_err() {
            return;
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
        let (tx, rx) = sync_channel(2);
        let log = AccessLog { tx };
        let metrics = WorkerMetrics::default();
        let batch = (0..5).map(|_| entry().answered).collect();
        log.log(batch, None, &metrics);
        assert_eq!(
            metrics.access_log_dropped.get(),
            3,
            "two fit, three dropped"
        );
        assert_eq!(rx.try_iter().count(), 2);
    }
}
