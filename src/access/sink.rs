//! Where the access log's writer thread writes: standard output, or a file appended to
//! and reopened on request (`SIGUSR1`/`SIGHUP`, after logrotate moved it), and what a
//! failed write costs: its lines, counted, and one error line per episode.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::AccessLogTarget;
use crate::proto::Counter;

/// The destination.
pub(super) enum Sink {
    Stdout(std::io::Stdout),
    File { path: PathBuf, file: File },
}

impl Sink {
    /// Opens `target` (a file is created if missing, and appended to).
    pub(super) fn open(target: &AccessLogTarget) -> std::io::Result<Sink> {
        match target {
            AccessLogTarget::Stdout => Ok(Sink::Stdout(std::io::stdout())),
            AccessLogTarget::File(path) => Ok(Sink::File {
                file: append(path)?,
                path: path.clone(),
            }),
        }
    }

    /// A file is opened anew by its path (the old one was moved away); standard output
    /// stays. A file that cannot be opened leaves the old one in use, and says so.
    pub(super) fn reopen(&mut self) {
        let Sink::File { path, file } = self else {
            return tracing::info!("reopen asked for: the access log goes to standard output");
        };
        match append(path) {
            Ok(new) => {
                *file = new;
                tracing::info!("reopened the access log {}", path.display());
            }
            Err(e) => tracing::error!(
                "cannot reopen the access log {}: {e}; still writing the file open before",
                path.display()
            ),
        }
    }
}

fn append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Stdout(out) => out.lock().write(buf),
            Sink::File { file, .. } => file.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Stdout(out) => out.lock().write_all(buf),
            Sink::File { file, .. } => file.write_all(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout(out) => out.flush(),
            Sink::File { file, .. } => file.flush(),
        }
    }
}

/// Formatted lines on their way out, and what failed writes cost: the lines of a write
/// that failed are counted in `lost`, and the first failure of an episode is logged.
pub(super) struct Writer<'a, W: Write> {
    pub(super) out: W,
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

    pub(super) fn new(out: W, lost: &'a Counter) -> Self {
        Writer {
            out,
            buf: Vec::with_capacity(Self::CHUNK),
            lines: 0,
            lost,
            failing: false,
        }
    }

    /// Adds one line, formatted by `format`; writes once enough wait.
    pub(super) fn line(&mut self, format: impl FnOnce(&mut Vec<u8>)) {
        format(&mut self.buf);
        self.lines += 1;
        if self.buf.len() >= Self::CHUNK {
            self.flush();
        }
    }

    /// Writes what waits; on failure its lines are lost, and the next batch starts clean.
    pub(super) fn flush(&mut self) {
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

    #[cfg(test)]
    pub(super) fn failing(&self) -> bool {
        self.failing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn three(w: &mut Writer<'_, Flaky>) {
        for _ in 0..3 {
            w.line(|b| b.extend_from_slice(b"a line\n"));
        }
        w.flush();
    }

    #[test]
    fn a_failed_write_loses_its_lines_counted_and_the_writer_carries_on() {
        let lost = Counter::default();
        let out = Flaky {
            broken: true,
            written: Vec::new(),
        };
        let mut writer = Writer::new(out, &lost);
        three(&mut writer);
        assert_eq!(lost.get(), 3, "the failed batch is counted");
        assert!(writer.failing());
        three(&mut writer);
        assert_eq!(lost.get(), 6, "still failing: counted again");
        writer.out.broken = false;
        writer.line(|b| b.extend_from_slice(b"after\n"));
        writer.flush();
        assert_eq!(lost.get(), 6);
        assert!(!writer.failing(), "written again");
        assert_eq!(
            writer.out.written, b"after\n",
            "only the line after recovery"
        );
    }

    #[test]
    fn a_file_is_reopened_by_its_path() {
        let dir = std::env::temp_dir().join(format!("greeter-sink-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("access.log");
        let mut sink = Sink::open(&AccessLogTarget::File(path.clone())).unwrap();
        sink.write_all(b"one\n").unwrap();
        std::fs::rename(&path, dir.join("access.log.1")).unwrap();
        sink.write_all(b"two\n").unwrap();
        sink.reopen();
        sink.write_all(b"three\n").unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        assert_eq!(
            read("access.log.1"),
            "one\ntwo\n",
            "the moved file got what came before"
        );
        assert_eq!(
            read("access.log"),
            "three\n",
            "the new file what came after"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
