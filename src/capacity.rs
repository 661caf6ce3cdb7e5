//! How many connections each worker takes by default: the smaller of what the descriptor
//! limit (`RLIMIT_NOFILE`) and the cgroup's memory limit allow, and which one decided,
//! for the start-up line. A container's memory runs out long before a descriptor limit of
//! a million does: at the limit greeter sheds idle connections and pauses accepting,
//! while past its memory the kernel kills it.

use std::fmt;

use crate::config::Config;

/// Descriptors kept back from the connection limit for listeners, rings, logs.
const RESERVED_FDS: u64 = 64;

/// Memory budgeted per connection: an idle one costs about 2–3 KiB here (kernel socket
/// and greeter's state, measured in a cgroup), a busy one more (data queued in the
/// kernel, a request being read, an answer being written), so 16 KiB leaves room.
pub(crate) const BYTES_PER_CONNECTION: u64 = 16 * 1024;

/// The process's own memory, before connections: binary, runtime, logs.
const PROCESS_BYTES: u64 = 16 << 20;
/// Each worker's own: its ring, receive buffers (counted separately) and spares.
const WORKER_BYTES: u64 = 2 << 20;

/// The default connection limit, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Capacity {
    /// Connections each worker holds at most.
    pub per_worker: usize,
    /// What decided it.
    pub why: Why,
}

/// What decided the limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Why {
    /// `--max-connections`.
    Configured,
    /// The soft descriptor limit.
    Descriptors { soft: u64 },
    /// The cgroup's memory limit, in bytes.
    Memory { limit: u64 },
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::Configured => f.write_str("--max-connections"),
            Why::Descriptors { soft } => write!(
                f,
                "RLIMIT_NOFILE {soft}, less {RESERVED_FDS} descriptors kept back"
            ),
            Why::Memory { limit } => write!(
                f,
                "the cgroup memory limit, {} MiB, at {} KiB a connection",
                limit >> 20,
                BYTES_PER_CONNECTION >> 10
            ),
        }
    }
}

/// The limit for `config` over `workers` workers: the configured one, else the smaller
/// of the descriptor and memory limits.
pub(crate) fn connection_limit(config: &Config, workers: usize) -> Capacity {
    if let Some(limit) = config.max_connections {
        return Capacity {
            per_worker: limit.get(),
            why: Why::Configured,
        };
    }
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    let by_fds = soft.saturating_sub(RESERVED_FDS).max(16);
    let by_memory = memory_limit().map(|limit| (limit, connections_in(limit, config, workers)));
    let (total, why) = match by_memory {
        Some((limit, fits)) if fits < by_fds => (fits, Why::Memory { limit }),
        _ => (by_fds, Why::Descriptors { soft }),
    };
    let per_worker = usize::try_from(total / workers.max(1) as u64).unwrap_or(usize::MAX);
    Capacity {
        per_worker: per_worker.max(1),
        why,
    }
}

/// Connections that fit in `limit` bytes: three quarters of it (the rest for the page
/// cache and bursts), less the process's and each worker's own memory.
pub(crate) fn connections_in(limit: u64, config: &Config, workers: usize) -> u64 {
    let buffers = u64::from(config.uring.recv_buffers) * u64::from(config.uring.recv_buffer_size);
    let own = PROCESS_BYTES + workers as u64 * (WORKER_BYTES + buffers);
    let budget = (limit / 4 * 3).saturating_sub(own);
    (budget / BYTES_PER_CONNECTION).max(16 * workers as u64)
}

/// The memory limit of the process's cgroup (the tightest of its own and its ancestors'),
/// v2 or v1; `None` without one.
#[cfg(target_os = "linux")]
fn memory_limit() -> Option<u64> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    cgroup::limit_files(&cgroups, &mounts)
        .into_iter()
        .filter_map(|file| cgroup::parse_limit(&std::fs::read_to_string(file).ok()?))
        .min()
}

#[cfg(not(target_os = "linux"))]
fn memory_limit() -> Option<u64> {
    None
}

#[cfg(target_os = "linux")]
#[path = "capacity_cgroup.rs"]
mod cgroup;
