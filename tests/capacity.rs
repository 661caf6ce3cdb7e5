//! The default connection limit fits the container: under a cgroup memory limit (v1 here,
//! v2 where its memory controller is mounted) it is what the memory holds, the start-up
//! line says so, and `greeter_connection_limit` agrees; a lower descriptor limit still
//! wins.
#![cfg(target_os = "linux")]

mod support;

use std::path::{Path, PathBuf};

use support::child::{Greeter, command, through_shell, with_nofile};
use support::*;

/// A cgroup limited to `bytes` of memory, removed on drop.
struct MemoryGroup(PathBuf);

impl MemoryGroup {
    /// v2 if its memory controller is mounted at `/sys/fs/cgroup`, else v1's `memory`.
    fn new(name: &str, bytes: u64) -> Option<MemoryGroup> {
        let name = format!("greeter-{name}-{}", std::process::id());
        let v2 = Path::new("/sys/fs/cgroup");
        let controllers = std::fs::read_to_string(v2.join("cgroup.subtree_control"));
        let (dir, file) = match controllers {
            Ok(c) if c.split_whitespace().any(|c| c == "memory") => (v2.join(name), "memory.max"),
            _ => (v2.join("memory").join(name), "memory.limit_in_bytes"),
        };
        std::fs::create_dir(&dir).ok()?;
        let group = MemoryGroup(dir);
        std::fs::write(group.0.join(file), bytes.to_string()).ok()?;
        Some(group)
    }

    /// greeter started inside the group (through a shell that moves itself first).
    fn start(&self, args: &[&str], nofile: Option<u32>) -> Greeter {
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec \"$0\" \"$@\"",
            self.0.display()
        );
        let cmd = match nofile {
            Some(limit) => with_nofile(through_shell(command(args, &[]), &script), limit),
            None => through_shell(command(args, &[]), &script),
        };
        Greeter::spawn_with(cmd, |mut c| c.spawn())
    }
}

impl Drop for MemoryGroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn group_or_skip(name: &str, bytes: u64) -> Option<MemoryGroup> {
    let group = MemoryGroup::new(name, bytes);
    if group.is_none() {
        let why = "cannot create a cgroup with a memory limit here (needs root and a writable memory controller)";
        assert!(std::env::var_os("GREETER_REQUIRE_TOOLS").is_none(), "{why}");
        eprintln!("skipped: {why}");
    }
    group
}

fn limit_gauges(addr: std::net::SocketAddr) -> Vec<u64> {
    let text = exchange(addr, b"GET /metrics HTTP/1.0\r\n\r\n");
    let gauges = text
        .lines()
        .filter(|l| l.starts_with("greeter_connection_limit{"));
    gauges
        .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
        .collect()
}

/// 64 MiB, two workers: three quarters of it (48 MiB) less the process's own 16 MiB and
/// each worker's 3 MiB (2 MiB and 1 MiB of receive buffers) is 26 MiB, 1664 connections
/// of 16 KiB, 832 each.
#[test]
fn a_memory_limit_sets_the_connection_limit() {
    let Some(group) = group_or_skip("memory", 64 << 20) else {
        return;
    };
    let args = ["--listen", "127.0.0.1:0", "--workers", "2"];
    let mut g = group.start(&args, None);
    let line = g.wait_for_line("greeter serving");
    let want = "up to 832 connections each (set by the cgroup memory limit, 64 MiB, at 16 KiB a connection)";
    assert!(line.contains(want), "{line}");
    assert_eq!(limit_gauges(support::child::address_in(&line)), [832, 832]);
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
}

/// The smaller limit wins: 300 descriptors hold fewer connections than 64 MiB does.
#[test]
fn a_lower_descriptor_limit_still_wins() {
    let Some(group) = group_or_skip("nofile", 64 << 20) else {
        return;
    };
    let args = ["--listen", "127.0.0.1:0", "--workers", "2"];
    let mut g = group.start(&args, Some(300));
    let line = g.wait_for_line("greeter serving");
    let want =
        "up to 118 connections each (set by RLIMIT_NOFILE 300, less 64 descriptors kept back)";
    assert!(line.contains(want), "{line}");
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
}
