//! The standard `process_*` metrics on Linux, read from `/proc/self` at scrape time: CPU
//! seconds, resident memory, open and maximum descriptors, start time.

#[cfg(test)]
use std::time::{SystemTime, UNIX_EPOCH};

use super::expose::process as emit;

/// Clock ticks per second in `/proc/PID/stat`: the kernel's USER_HZ, 100 on every
/// architecture Linux runs greeter on (x86-64, arm64).
const USER_HZ: f64 = 100.0;

/// What `/proc/self` says.
#[derive(Debug, Default, PartialEq)]
struct Process {
    cpu_seconds: f64,
    resident_bytes: u64,
    open_fds: u64,
    max_fds: u64,
    start_time_seconds: f64,
}

pub(super) fn render(out: &mut Vec<u8>) {
    let Some(p) = read() else { return };
    emit(
        out,
        "process_cpu_seconds_total",
        true,
        "Total user and system CPU time spent in seconds.",
        p.cpu_seconds,
    );
    emit(
        out,
        "process_resident_memory_bytes",
        false,
        "Resident memory size in bytes.",
        p.resident_bytes,
    );
    emit(
        out,
        "process_open_fds",
        false,
        "Number of open file descriptors.",
        p.open_fds,
    );
    emit(
        out,
        "process_max_fds",
        false,
        "Maximum number of open file descriptors.",
        p.max_fds,
    );
    emit(
        out,
        "process_start_time_seconds",
        false,
        "Start time of the process since unix epoch in seconds.",
        p.start_time_seconds,
    );
}

fn read() -> Option<Process> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let boot = std::fs::read_to_string("/proc/stat").ok()?;
    let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
    let max_fds = rlimit::getrlimit(rlimit::Resource::NOFILE).ok()?.0;
    parse(&stat, &status, &boot, open_fds, max_fds)
}

/// The figures from the text of `/proc/self/stat`, `/proc/self/status` and `/proc/stat`.
fn parse(stat: &str, status: &str, boot: &str, open_fds: u64, max_fds: u64) -> Option<Process> {
    // Fields after the command name, which may hold spaces and parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    let resident_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    let btime: f64 = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(Process {
        // utime and stime are fields 14 and 15, starttime 22 (11, 12 and 19 after the name).
        cpu_seconds: (ticks(11)? + ticks(12)?) / USER_HZ,
        resident_bytes: resident_kib * 1024,
        open_fds,
        max_fds,
        start_time_seconds: btime + ticks(19)? / USER_HZ,
    })
}

/// Seconds since the epoch now, to sanity-check a start time.
#[cfg(test)]
fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_text() {
        let stat =
            "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1000 5000 300 0";
        let status = "Name:\tx\nVmRSS:\t    2048 kB\nThreads:\t3\n";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n";
        let p = parse(stat, status, boot, 7, 20000).unwrap();
        assert_eq!(
            p,
            Process {
                cpu_seconds: 3.0,
                resident_bytes: 2 << 20,
                open_fds: 7,
                max_fds: 20000,
                start_time_seconds: 1_700_000_010.0,
            }
        );
    }

    #[test]
    fn reads_this_process() {
        let p = read().expect("/proc/self is readable");
        assert!(p.resident_bytes > 0 && p.open_fds > 0 && p.max_fds >= p.open_fds);
        let age = now_seconds() - p.start_time_seconds;
        assert!((0.0..3600.0).contains(&age), "started {age} s ago");
    }
}
