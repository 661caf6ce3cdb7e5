//! Server settings, as library users, the command line and `GREETER_*` variables set them.

use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::choice::BackendChoice;
use crate::proto::ProtoConfig;

/// How logs (and the access log) are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Lines of text (coloured only on a terminal).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// How access log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
#[non_exhaustive]
pub enum AccessLogFormat {
    /// nginx's `combined`, field for field: what log analysers read.
    #[default]
    Combined,
    /// One JSON object per line, with every field.
    Json,
}

/// Where access log lines go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AccessLogTarget {
    /// Standard output.
    #[default]
    Stdout,
    /// A file, appended to (created if missing); reopened on `SIGUSR1` or `SIGHUP`.
    File(std::path::PathBuf),
}

/// The access log: its format and where it goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct AccessLogConfig {
    /// How lines are written.
    pub format: AccessLogFormat,
    /// Where they go.
    pub target: AccessLogTarget,
}

impl AccessLogConfig {
    /// Lines in `format`, to `target`.
    pub fn new(format: AccessLogFormat, target: AccessLogTarget) -> Self {
        AccessLogConfig { format, target }
    }
}

/// Whether and how `--sandbox` confines the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
#[non_exhaustive]
pub enum Sandbox {
    /// No filter (the command line's default).
    #[default]
    Off,
    /// Calls outside the list fail with `EPERM` (what `--sandbox` alone means).
    Enforce,
    /// Calls outside the list are allowed and logged by the kernel (audit, `journalctl
    /// -k`): to find what a deployment needs before enforcing.
    Log,
}

impl Sandbox {
    /// The mode's name, as `--sandbox` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Sandbox::Off => "off",
            Sandbox::Enforce => "enforce",
            Sandbox::Log => "log",
        }
    }
}

/// Where `/metrics` is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Metrics {
    /// On the main listener, beside the greeting.
    #[default]
    Here,
    /// On an admin listener of its own; the main listener answers `404` for `/metrics`.
    Listen(SocketAddr),
    /// Not served.
    Off,
}

/// Newer io_uring features; each is used only where the kernel has it (the setup falls
/// back without it). The defaults are what a paired measurement kept: bundles. Built
/// from its default (or parsed from a list), then changed field by field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct UringFeatures {
    /// Register the ring's descriptor, so `io_uring_enter` skips a lookup (5.18).
    pub ring_fd: bool,
    /// `IORING_SETUP_NO_SQARRAY`: no submission index array (6.6).
    pub no_sqarray: bool,
    /// Wait up to this many microseconds to gather completions (6.12); 0 does not wait.
    pub min_wait_us: u32,
    /// Direct descriptors: accept into a fixed-file table, so receives, sends and closes
    /// skip the descriptor lookup (5.19). Not with an access log (it asks each peer's
    /// address of a descriptor).
    pub direct: bool,
    /// Bundle receives: one completion for all the buffers the waiting bytes fill,
    /// instead of one per buffer (6.10).
    pub bundle: bool,
    /// Restricted rings: set up disabled, restricted to the opcodes greeter submits (no
    /// `OPENAT`, `CONNECT`, `SOCKET`...) and no register operation, then enabled (5.10).
    /// On by default; `off-restrict` only to compare.
    pub restrict: bool,
}

impl Default for UringFeatures {
    fn default() -> Self {
        UringFeatures {
            ring_fd: false,
            no_sqarray: false,
            min_wait_us: 0,
            direct: false,
            bundle: true,
            restrict: true,
        }
    }
}

impl std::str::FromStr for UringFeatures {
    type Err = String;

    /// A comma-separated list changing the defaults: `ring-fd`, `no-sqarray`,
    /// `min-wait=50`; a name after `off-` turns that feature off (`off-ring-fd`).
    fn from_str(list: &str) -> Result<Self, String> {
        let mut f = UringFeatures::default();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, on) = item
                .strip_prefix("off-")
                .map_or((item, true), |n| (n, false));
            match name.split_once('=') {
                Some(("min-wait", us)) => {
                    f.min_wait_us = us
                        .parse()
                        .map_err(|_| format!("`{item}`: microseconds expected"))?
                }
                None if name == "ring-fd" => f.ring_fd = on,
                None if name == "no-sqarray" => f.no_sqarray = on,
                None if name == "direct" => f.direct = on,
                None if name == "bundle" => f.bundle = on,
                None if name == "restrict" => f.restrict = on,
                _ => {
                    let known = "ring-fd, no-sqarray, direct, bundle, restrict, min-wait=US";
                    return Err(format!("`{item}`: the features are {known}"));
                }
            }
        }
        Ok(f)
    }
}

/// Knobs of the io_uring backend.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UringConfig {
    /// Submission queue entries; the completion queue gets four times as many.
    pub sq_entries: u32,
    /// Receive buffers in each worker's provided buffer ring (a power of two).
    pub recv_buffers: u16,
    /// Bytes per receive buffer.
    pub recv_buffer_size: u32,
    /// Newer kernel features.
    pub features: UringFeatures,
}

impl Default for UringConfig {
    fn default() -> Self {
        UringConfig {
            sq_entries: 1024,
            recv_buffers: 512,
            recv_buffer_size: 2048,
            features: UringFeatures::default(),
        }
    }
}

/// Everything a server is started with; [`Config::default`] serves
/// `http://127.0.0.1:8888/` on the best backend available.
///
/// Built from its default, then changed field by field (new fields may come):
/// `let mut config = Config::default(); config.listen = "127.0.0.1:0".parse()?;`
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Address to listen on (port 0 picks one; [`crate::ServerHandle::local_addr`] tells).
    pub listen: SocketAddr,
    /// The I/O backend.
    pub backend: BackendChoice,
    /// Worker threads; `None` means one per available core.
    pub workers: Option<NonZeroUsize>,
    /// The protocol, its limits and its per-connection timeouts.
    pub proto: ProtoConfig,
    /// Graceful shutdown: after this, remaining connections are closed at once.
    pub shutdown_timeout: Duration,
    /// Open connections per worker; `None` derives it from `RLIMIT_NOFILE`.
    pub max_connections: Option<NonZeroUsize>,
    /// io_uring knobs (ignored by the tokio backend).
    pub uring: UringConfig,
    /// Where `/metrics` is served.
    pub metrics: Metrics,
    /// An access log line per answered request, if asked for.
    pub access_log: Option<AccessLogConfig>,
    /// greeter's own seccomp filter on every thread it runs, once serving (Linux).
    pub sandbox: Sandbox,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 8888)),
            backend: BackendChoice::Auto,
            workers: None,
            proto: ProtoConfig::default(),
            shutdown_timeout: Duration::from_secs(10),
            max_connections: None,
            uring: UringConfig::default(),
            metrics: Metrics::Here,
            access_log: None,
            sandbox: Sandbox::Off,
        }
    }
}
