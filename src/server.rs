//! Starting and stopping a server: resolves the backend, binds the listeners, starts one
//! worker per core and hands back a [`ServerHandle`]. The only module that knows several
//! backends exist.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::backend::{self, Stats, StatsSnapshot, Waker, WorkerHandle, WorkerSpec};
use crate::choice::{self, Backend, Unsupported};
use crate::config::Config;
use crate::net;
use crate::proto::Protocol;

/// Descriptors kept back from the connection limit for listeners, rings, logs.
const RESERVED_FDS: u64 = 64;

/// Why a server could not start.
#[derive(Debug)]
pub enum StartError {
    /// The requested backend cannot run here.
    Backend(Unsupported),
    /// The listening address could not be bound.
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why binding failed.
        source: io::Error,
    },
    /// A worker could not be set up (its ring, runtime or listener).
    Worker(io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Backend(why) => write!(f, "{why}"),
            StartError::Bind { addr, source } if source.kind() == io::ErrorKind::AddrInUse => {
                write!(
                    f,
                    "cannot listen on {addr}: the address is already in use (is another server running? choose another with --listen)"
                )
            }
            StartError::Bind { addr, source } => write!(f, "cannot listen on {addr}: {source}"),
            StartError::Worker(e) => write!(f, "cannot start a worker: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// A running server: its address, graceful shutdown, and join.
pub struct ServerHandle {
    addr: SocketAddr,
    backend: Backend,
    setup: String,
    threads: Vec<JoinHandle<io::Result<()>>>,
    trigger: Shutdown,
    stats: Vec<Arc<Stats>>,
}

/// Starts a graceful shutdown from anywhere (a signal thread, say); cheap to clone.
#[derive(Clone)]
pub struct Shutdown(Arc<Vec<Waker>>);

impl Shutdown {
    /// Stop accepting, finish what is in flight, close. Returns at once.
    pub fn shutdown(&self) {
        self.0.iter().for_each(Waker::wake);
    }
}

/// Starts a server as `config` says; returns once every worker is ready to accept.
pub fn start(config: Config) -> Result<ServerHandle, StartError> {
    let backend = resolve_backend(&config)?;
    let count = config.worker_count();
    let listener_count = if net::LISTENER_PER_WORKER { count } else { 1 };
    let (listeners, addr) =
        net::listeners(config.listen, listener_count).map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
    let limit = connection_limit(&config, count);
    let workers = start_workers(backend, &config, &listeners, limit)?;
    let handle = ServerHandle {
        addr,
        backend,
        setup: workers.setup,
        threads: workers.threads,
        trigger: Shutdown(Arc::new(workers.wakers)),
        stats: workers.stats,
    };
    log_start(&handle, &config, limit);
    Ok(handle)
}

/// The backend to run; a fallback from io_uring is logged with its reason.
fn resolve_backend(config: &Config) -> Result<Backend, StartError> {
    let resolved = choice::resolve(config.backend, "--backend").map_err(StartError::Backend)?;
    if let Some(why) = resolved.fallback {
        let hint = why
            .hint
            .map(|h| format!(" (to use io_uring, {h})"))
            .unwrap_or_default();
        tracing::warn!("{}; serving on the tokio backend instead{hint}", why.reason);
    }
    Ok(resolved.backend)
}

/// The started workers, in order.
#[derive(Default)]
struct Workers {
    threads: Vec<JoinHandle<io::Result<()>>>,
    wakers: Vec<Waker>,
    stats: Vec<Arc<Stats>>,
    /// What the workers run on (the same for all), for the log line.
    setup: String,
}

/// Starts one worker per `config.worker_count()`, each on its listener (or the one shared
/// listener); if one fails, those already started are stopped.
fn start_workers(
    backend: Backend,
    config: &Config,
    listeners: &[socket2::Socket],
    limit: usize,
) -> Result<Workers, StartError> {
    let mut workers = Workers::default();
    for index in 0..config.worker_count() {
        let stats = Arc::new(Stats::default());
        let listener = listeners.get(index).unwrap_or(&listeners[0]).try_clone();
        let spec = |listener| WorkerSpec {
            index,
            listener,
            config,
            stats: Arc::clone(&stats),
            max_connections: limit,
        };
        match listener.and_then(|l| spawn(backend, spec(l))) {
            Ok(worker) => {
                workers.threads.push(worker.thread);
                workers.wakers.push(worker.waker);
                workers.stats.push(stats);
                workers.setup = worker.setup;
            }
            Err(e) => {
                workers.wakers.iter().for_each(Waker::wake);
                workers.threads.into_iter().for_each(|t| drop(t.join()));
                return Err(StartError::Worker(e));
            }
        }
    }
    Ok(workers)
}

fn spawn(backend: Backend, spec: WorkerSpec<'_>) -> io::Result<WorkerHandle> {
    match backend {
        #[cfg(uring)]
        Backend::Uring => backend::uring::spawn(spec),
        #[cfg(feature = "tokio")]
        Backend::Tokio => backend::tokio::spawn(spec),
    }
}

fn log_start(handle: &ServerHandle, config: &Config, limit: usize) {
    let scheme = match config.proto.protocol {
        Protocol::Http => "http",
        Protocol::Raw => "tcp",
    };
    tracing::info!(
        "greeter serving {scheme}://{}/ on {} ({}), {} worker(s), up to {limit} connections each",
        handle.addr,
        handle.backend,
        handle.setup,
        handle.threads.len()
    );
}

/// The configured limit, or what `RLIMIT_NOFILE` leaves each worker.
fn connection_limit(config: &Config, workers: usize) -> usize {
    if let Some(limit) = config.max_connections {
        return limit.get();
    }
    let soft = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft);
    let usable = soft.saturating_sub(RESERVED_FDS).max(16);
    usize::try_from(usable / workers.max(1) as u64)
        .unwrap_or(usize::MAX)
        .max(1)
}

impl ServerHandle {
    /// The address the server listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The backend it runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The io_uring setup flags in effect, or the tokio runtime flavour.
    pub fn setup(&self) -> &str {
        &self.setup
    }

    /// Counters summed over the workers.
    pub fn stats(&self) -> StatsSnapshot {
        let mut total = StatsSnapshot::default();
        self.stats.iter().for_each(|s| total.add(s));
        total
    }

    /// Starts a graceful shutdown: stop accepting, finish what is in flight, close.
    /// Returns at once; [`ServerHandle::join`] waits for the end.
    pub fn shutdown(&self) {
        self.trigger.shutdown();
    }

    /// A handle to start the shutdown from another thread.
    pub fn shutdown_trigger(&self) -> Shutdown {
        self.trigger.clone()
    }

    /// Waits for every worker to stop; the first worker error, if any.
    pub fn join(mut self) -> io::Result<()> {
        self.join_workers()
    }

    fn join_workers(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        for thread in self.threads.drain(..) {
            let outcome = thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a worker panicked")));
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }
}

impl Drop for ServerHandle {
    /// A dropped handle shuts its server down and waits for it.
    fn drop(&mut self) {
        self.shutdown();
        let _ = self.join_workers();
    }
}
