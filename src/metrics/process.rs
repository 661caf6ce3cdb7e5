//! The standard `process_*` figures, sampled once a second by a thread of their own (never
//! on an event loop: counting open descriptors reads a directory as long as the number of
//! connections). A scrape renders the latest sample. Each figure is read on its own, so
//! one that a sandbox hides (`ProcSubset=pid` hides `/proc/stat`) does not take the others
//! with it; the start time is the server's own record, which needs no `/proc` at all.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::sandbox::Filter;

/// How often the figures are read.
const EVERY: Duration = Duration::from_secs(1);

/// Clock ticks per second in `/proc/PID/stat`: the kernel's USER_HZ, 100 on every
/// architecture Linux runs greeter on (x86-64, arm64).
const USER_HZ: f64 = 100.0;

/// What `/proc/self` said at the last sample; a figure it could not read is `None`.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Process {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
    /// When the server started (seconds since the epoch).
    pub start_time_seconds: f64,
}

/// The latest sample, shared by the sampling thread and every scrape.
#[derive(Debug)]
pub(crate) struct Sampled {
    latest: Mutex<Process>,
    started: f64,
}

impl Sampled {
    /// A first sample now, then one a second on a thread of its own for as long as
    /// `owner` lives (the thread holds only a weak reference, and sees it gone within a
    /// second).
    pub(super) fn start<T: Send + Sync + 'static>(
        owner: &Arc<T>,
        get: fn(&T) -> &Sampled,
        sandbox: Option<Arc<Filter>>,
    ) {
        get(owner).refresh();
        let weak: Weak<T> = Arc::downgrade(owner);
        let spawned = std::thread::Builder::new()
            .name("greeter-metrics".into())
            .spawn(move || {
                if let Some(Err(e)) = sandbox.map(|s| s.confine()) {
                    return tracing::error!("the metrics sampler cannot be confined: {e}");
                }
                while let Some(owner) = weak.upgrade() {
                    get(&owner).refresh();
                    drop(owner);
                    std::thread::sleep(EVERY);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("process metrics are not sampled: cannot start their thread: {e}");
        }
    }

    fn refresh(&self) {
        let sample = read(self.started);
        if let Ok(mut latest) = self.latest.lock() {
            *latest = sample;
        }
    }

    /// The latest sample.
    pub(super) fn latest(&self) -> Process {
        self.latest.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

impl Default for Sampled {
    /// Nothing sampled yet; the start time is now.
    fn default() -> Self {
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        Sampled {
            latest: Mutex::new(Process {
                start_time_seconds: started,
                ..Process::default()
            }),
            started,
        }
    }
}

/// Reads every figure it can.
fn read(started: f64) -> Process {
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let status = std::fs::read_to_string("/proc/self/status").ok();
    let open_fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count() as u64);
    Process {
        cpu_seconds: stat.as_deref().and_then(cpu_seconds),
        resident_bytes: status.as_deref().and_then(resident_bytes),
        open_fds: open_fds.ok(),
        max_fds: rlimit::getrlimit(rlimit::Resource::NOFILE)
            .ok()
            .map(|l| l.0),
        start_time_seconds: started,
    }
}

/// User plus system CPU seconds from the text of `/proc/self/stat`.
fn cpu_seconds(stat: &str) -> Option<f64> {
    // Fields after the command name, which may hold spaces and parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 (11 and 12 after the name).
    Some((ticks(11)? + ticks(12)?) / USER_HZ)
}

/// Resident bytes from the text of `/proc/self/status`.
fn resident_bytes(status: &str) -> Option<u64> {
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_text() {
        let stat =
            "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 5000 300 0";
        assert_eq!(cpu_seconds(stat), Some(3.0));
        let status = "Name:\tx\nVmRSS:\t    2048 kB\nThreads:\t3\n";
        assert_eq!(resident_bytes(status), Some(2 << 20));
        assert_eq!(resident_bytes("Name:\tx\n"), None, "a missing line is None");
    }

    #[test]
    fn reads_this_process_figure_by_figure() {
        let p = read(1.0);
        assert!(p.resident_bytes.is_some_and(|r| r > 0));
        assert!(p.open_fds.is_some_and(|n| n > 0));
        assert!(p.max_fds >= p.open_fds);
        assert!(p.cpu_seconds.is_some());
        assert_eq!(p.start_time_seconds, 1.0);
    }
}
