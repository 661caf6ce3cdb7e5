//! Server settings as library users, the CLI and `GREETER_*` variables set them.

use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::proto::ProtoConfig;

/// Which I/O backend serves connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BackendChoice {
    /// io_uring where the kernel allows it, else tokio, with one log line saying why.
    #[default]
    Auto,
    /// io_uring or a start-up error.
    Uring,
    /// tokio (epoll on Linux, kqueue on macOS).
    Tokio,
}

/// Knobs of the io_uring backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UringConfig {
    /// Submission queue entries; the completion queue gets four times as many.
    pub sq_entries: u32,
    /// Receive buffers in each worker's provided buffer ring (a power of two).
    pub recv_buffers: u16,
    /// Bytes per receive buffer.
    pub recv_buffer_size: u32,
}

impl Default for UringConfig {
    fn default() -> Self {
        UringConfig {
            sq_entries: 1024,
            recv_buffers: 512,
            recv_buffer_size: 2048,
        }
    }
}

/// Timeouts every backend enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Deadline for a whole request head, from its first byte (or from accept).
    pub header: Duration,
    /// Keep-alive connections idle between requests, and writes that make no progress.
    pub idle: Duration,
    /// How long a closing connection drains unread input after an error response.
    pub linger: Duration,
    /// Graceful shutdown: after this, remaining connections are closed at once.
    pub shutdown: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            linger: Duration::from_secs(2),
            shutdown: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub listen: SocketAddr,
    pub backend: BackendChoice,
    /// Worker threads; `None` means one per available core.
    pub workers: Option<NonZeroUsize>,
    pub proto: ProtoConfig,
    pub timeouts: Timeouts,
    /// Open connections per worker; `None` derives it from `RLIMIT_NOFILE`.
    pub max_connections: Option<NonZeroUsize>,
    pub uring: UringConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8888)),
            backend: BackendChoice::Auto,
            workers: None,
            proto: ProtoConfig::default(),
            timeouts: Timeouts::default(),
            max_connections: None,
            uring: UringConfig::default(),
        }
    }
}

impl Config {
    /// The worker count in effect.
    pub fn worker_count(&self) -> usize {
        self.workers.map_or_else(
            || std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
            NonZeroUsize::get,
        )
    }
}
