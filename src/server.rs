//! Starting and stopping a server: resolves the backend, binds the listeners, starts one
//! worker per core and hands back a [`ServerHandle`]. The only module that knows several
//! backends exist.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::SystemTime;

use crate::access::{AccessLog, Reopen};
use crate::activation::Inherited;
use crate::backend::{self, Oversight, Waker, WorkerHandle, WorkerSpec};
use crate::capacity::{self, Capacity};
use crate::choice::{self, Backend, Unsupported};
use crate::config::{Config, Metrics, Sandbox};
use crate::handle::{ServerHandle, Shutdown};
use crate::metrics::{Build, Registry};
use crate::net;
use crate::proto::{Exposition, Greeter, Protocol, Site};
use crate::sandbox;

/// Connections the admin listener (`--metrics-listen`) holds at most.
const ADMIN_CONNECTIONS: usize = 64;

/// Why a server could not start.
#[derive(Debug)]
#[non_exhaustive]
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
    /// A worker could not be set up (its ring, runtime or listener), or the access log
    /// writer could not start.
    Worker(io::Error),
    /// `--sandbox` cannot be applied here (no seccomp, an architecture it has no filter
    /// for).
    Sandbox(io::Error),
    /// The access log's file cannot be opened (or its writer thread started).
    AccessLog(io::Error),
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
            StartError::Sandbox(e) => write!(f, "cannot confine the server: {e}"),
            StartError::AccessLog(e) => write!(f, "cannot open the access log: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// What every worker of a server shares.
struct Common<'a> {
    backend: Backend,
    config: &'a Config,
    /// Serving workers, resolved once at start (see [`resolve_workers`]).
    workers: usize,
    registry: &'a Arc<Registry>,
    access_log: Option<AccessLog>,
    /// Raised by a worker that fails (stops them all); the sandbox each thread installs.
    oversight: Oversight,
}

/// Starts a server as `config` says; returns once every worker is ready to accept.
pub fn start(config: Config) -> Result<ServerHandle, StartError> {
    let workers = resolve_workers(&config);
    let bound = bind(&config, workers)?;
    launch(config, workers, bound)
}

/// The worker count, read once: the available parallelism can change while a server
/// starts (a cpuset or quota resized), and every part of it must agree on one figure.
fn resolve_workers(config: &Config) -> usize {
    config.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        std::num::NonZeroUsize::get,
    )
}

/// Starts a server on listening sockets a supervisor passed ([`crate::activation::take`])
/// instead of binding `config.listen`: the workers share them. A socket named `metrics`
/// serves `/metrics` (as `--metrics-listen` would) unless metrics are off.
pub fn start_inherited(
    mut config: Config,
    inherited: Inherited,
) -> Result<ServerHandle, StartError> {
    let workers = resolve_workers(&config);
    let bound = adopt(&mut config, inherited)?;
    launch(config, workers, bound)
}

fn launch(config: Config, workers: usize, bound: Bound) -> Result<ServerHandle, StartError> {
    let backend = resolve_backend(&config)?;
    let sandbox = sandbox::filter(config.sandbox).map_err(StartError::Sandbox)?;
    let registry = Arc::new(Registry::new(workers, bound.admin.is_some()));
    let mut helpers = start_helpers(&config, &registry, &sandbox)?;
    let common = Common {
        backend,
        config: &config,
        workers,
        registry: &registry,
        access_log: helpers.access_log.take(),
        oversight: Oversight::confined_by(sandbox.clone()),
    };
    let capacity = capacity::connection_limit(&config, workers);
    let mut workers = start_workers(&common, &bound.listeners, capacity.per_worker)?;
    let metrics_addr = bound
        .admin
        .map(|(listener, addr)| start_admin(&common, listener, addr, &mut workers))
        .transpose()?;
    record_build(&registry, backend, &workers.setup, config.sandbox);
    let wakers = Arc::new(workers.wakers);
    common.oversight.alarm.arm(Arc::clone(&wakers));
    drop(common); // its end of the access log: the workers hold theirs
    let handle = ServerHandle {
        addr: bound.addr,
        metrics_addr,
        backend,
        setup: workers.setup,
        threads: workers.threads,
        trigger: Shutdown(wakers),
        registry,
        access_writer: helpers.access_writer,
        reopen: helpers.reopen,
        sandbox,
    };
    log_start(&handle, &config, &capacity, bound.inherited.as_deref());
    Ok(handle)
}

/// The threads beside the workers: the process metrics' sampler (when metrics are
/// served), and the access log's writer if one is asked for (each worker's end of it, and
/// its thread). Each confines itself with `sandbox`.
fn start_helpers(
    config: &Config,
    registry: &Arc<Registry>,
    sandbox: &Option<Arc<sandbox::Filter>>,
) -> Result<Helpers, StartError> {
    if config.metrics != Metrics::Off {
        registry.sample_process(sandbox.clone());
    }
    let lost = Arc::clone(&registry.access_log_lost);
    let Some(access) = &config.access_log else {
        return Ok(Helpers::default());
    };
    let (log, writer, reopen) =
        AccessLog::start(access, lost, sandbox.clone()).map_err(StartError::AccessLog)?;
    Ok(Helpers {
        access_log: Some(log),
        access_writer: Some(writer),
        reopen,
    })
}

/// The access log's worker end, its writer thread, and what reopens its file.
#[derive(Default)]
struct Helpers {
    access_log: Option<AccessLog>,
    access_writer: Option<JoinHandle<()>>,
    reopen: Reopen,
}

/// The listening sockets a server starts with.
struct Bound {
    /// One per worker where `SO_REUSEPORT` balances, else one they share.
    listeners: Vec<socket2::Socket>,
    addr: SocketAddr,
    /// The admin listener for `--metrics-listen`, and its address.
    admin: Option<(socket2::Socket, SocketAddr)>,
    /// The names of inherited sockets (`LISTEN_FDNAMES`), for the start log.
    inherited: Option<String>,
}

/// Binds every listener before any worker starts, so a bad address fails the start.
fn bind(config: &Config, workers: usize) -> Result<Bound, StartError> {
    let listener_count = if net::LISTENER_PER_WORKER { workers } else { 1 };
    let (listeners, addr) =
        net::listeners(config.listen, listener_count).map_err(bind_error(config.listen))?;
    let admin = admin_listener(config)?;
    Ok(Bound {
        listeners,
        addr,
        admin,
        inherited: None,
    })
}

/// Serves on inherited sockets, one shared by every worker: a socket bound by a supervisor
/// (of another user) cannot be joined by new `SO_REUSEPORT` sockets. `config` learns the
/// addresses.
fn adopt(config: &mut Config, inherited: Inherited) -> Result<Bound, StartError> {
    let (serve, addr) = inherited.serve;
    config.listen = addr;
    let admin = match (inherited.metrics, config.metrics) {
        (Some(_), Metrics::Off) => {
            tracing::warn!("an inherited `metrics` socket is not served: metrics are off");
            None
        }
        (Some((socket, addr)), _) => {
            config.metrics = Metrics::Listen(addr);
            Some((socket, addr))
        }
        // --metrics-listen is bound as usual: only the main socket is inherited.
        (None, _) => admin_listener(config)?,
    };
    Ok(Bound {
        listeners: vec![serve],
        addr,
        admin,
        inherited: Some(inherited.names.join(":")),
    })
}

/// What `greeter_build_info` reports: the backend, and the ring flags on io_uring.
fn record_build(registry: &Registry, backend: Backend, setup: &str, sandbox: Sandbox) {
    let ring_flags = match backend.is_uring() {
        true => setup.to_owned(),
        false => String::new(),
    };
    // The ring flags end `|RESTRICTED(N opcodes)` or `|UNRESTRICTED` (`uring::Setup`).
    let restricted_opcodes = match ring_flags
        .split('|')
        .find_map(|f| f.strip_prefix("RESTRICTED("))
    {
        Some(n) => n.split(' ').next().unwrap_or_default().to_owned(),
        None if backend.is_uring() => "0".to_owned(),
        None => String::new(),
    };
    registry.set_build(Build {
        backend: backend.to_string(),
        ring_flags,
        restricted_opcodes,
        sandbox: sandbox.name(),
    });
}

fn bind_error(addr: SocketAddr) -> impl FnOnce(io::Error) -> StartError {
    move |source| StartError::Bind { addr, source }
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

/// The admin listener for `--metrics-listen`, bound before any worker starts.
fn admin_listener(config: &Config) -> Result<Option<(socket2::Socket, SocketAddr)>, StartError> {
    let Metrics::Listen(addr) = config.metrics else {
        return Ok(None);
    };
    let (mut listeners, bound) = net::listeners(addr, 1).map_err(bind_error(addr))?;
    Ok(Some((listeners.remove(0), bound)))
}

/// The started workers, in order.
#[derive(Default)]
struct Workers {
    threads: Vec<JoinHandle<io::Result<()>>>,
    wakers: Vec<Waker>,
    /// What the workers run on (the same for all), for the log line.
    setup: String,
}

impl Workers {
    fn push(&mut self, worker: WorkerHandle) {
        self.threads.push(worker.thread);
        self.wakers.push(worker.waker);
        self.setup = worker.setup;
    }

    /// Stops the workers started so far, after one failed to start.
    fn abandon(self, e: io::Error) -> StartError {
        self.wakers.iter().for_each(Waker::wake);
        self.threads.into_iter().for_each(|t| drop(t.join()));
        StartError::Worker(e)
    }
}

/// Starts `c.workers` workers, each on its listener (or the one shared
/// listener); if one fails, those already started are stopped.
fn start_workers(
    c: &Common<'_>,
    listeners: &[socket2::Socket],
    limit: usize,
) -> Result<Workers, StartError> {
    let mut workers = Workers::default();
    let exposition = (c.config.metrics == Metrics::Here).then(|| exposition(c.registry));
    let shared = listeners.len() < c.workers;
    for index in 0..c.workers {
        let listener = listeners.get(index).unwrap_or(&listeners[0]).try_clone();
        let greeter = greeter_for(c, Site::Main, index, exposition.clone());
        match listener.and_then(|l| spawn(c, index, (l, shared), greeter, limit)) {
            Ok(worker) => workers.push(worker),
            Err(e) => return Err(workers.abandon(e)),
        }
    }
    Ok(workers)
}

/// Starts the admin worker on `listener`; its address.
fn start_admin(
    c: &Common<'_>,
    listener: socket2::Socket,
    addr: SocketAddr,
    workers: &mut Workers,
) -> Result<SocketAddr, StartError> {
    let index = c.workers; // the admin worker comes last
    let greeter = greeter_for(c, Site::Admin, index, Some(exposition(c.registry)));
    match spawn(c, index, (listener, false), greeter, ADMIN_CONNECTIONS) {
        Ok(worker) => {
            workers.push(worker);
            Ok(addr)
        }
        Err(e) => Err(std::mem::take(workers).abandon(e)),
    }
}

fn exposition(registry: &Arc<Registry>) -> Arc<dyn Exposition> {
    Arc::clone(registry) as Arc<dyn Exposition>
}

/// The protocol state of worker `index` on `site`: its routes, its counts, `/metrics`.
fn greeter_for(
    c: &Common<'_>,
    site: Site,
    index: usize,
    exposition: Option<Arc<dyn Exposition>>,
) -> Greeter {
    let mut proto = c.config.proto.clone();
    proto.site = site;
    // The admin listener is scraped and probed directly, never through the balancer.
    proto.proxy_protocol &= site == Site::Main;
    let greeter = Greeter::new(proto, SystemTime::now())
        .with_tally(Arc::clone(&c.registry.worker(index).tally));
    match exposition {
        Some(e) => greeter.expose(e),
        None => greeter,
    }
}

/// Starts worker `index` (the admin worker when it is `c.workers`).
fn spawn(
    c: &Common<'_>,
    index: usize,
    (listener, shared_listener): (socket2::Socket, bool),
    greeter: Greeter,
    max_connections: usize,
) -> io::Result<WorkerHandle> {
    let name = match index < c.workers {
        true => index.to_string(),
        false => "admin".to_owned(),
    };
    let metrics = c.registry.worker(index);
    metrics.connection_limit.set(max_connections as u64);
    let spec = WorkerSpec {
        name,
        listener,
        shared_listener,
        config: c.config,
        greeter,
        metrics,
        access_log: c.access_log.clone(),
        max_connections,
        oversight: c.oversight.clone(),
    };
    match c.backend {
        #[cfg(uring)]
        Backend::Uring => backend::uring::spawn(spec),
        #[cfg(feature = "tokio")]
        Backend::Tokio => backend::tokio::spawn(spec),
        #[cfg(tokio_uring)]
        Backend::TokioUring => backend::tokio_uring::spawn(spec),
    }
}

fn log_start(handle: &ServerHandle, config: &Config, capacity: &Capacity, inherited: Option<&str>) {
    let limit = capacity.per_worker;
    let scheme = match config.proto.protocol {
        Protocol::Http => "http",
        Protocol::Raw => "tcp",
    };
    let metrics = match (config.metrics, handle.metrics_addr) {
        (_, Some(addr)) => format!("; metrics on http://{addr}/metrics"),
        (Metrics::Here, None) => "; metrics at /metrics".to_owned(),
        _ => String::new(),
    };
    let workers = handle.registry.serving_workers();
    let sandbox = match config.sandbox {
        Sandbox::Off => String::new(),
        mode => format!("; sandboxed (seccomp, {})", mode.name()),
    };
    let source = inherited.map_or_else(String::new, |names| {
        format!(" on inherited socket(s) LISTEN_FDNAMES={names}")
    });
    let proxied = match config.proto.proxy_protocol {
        true => "; behind a balancer: every connection begins with a PROXY protocol header",
        false => "",
    };
    tracing::info!(
        backend = %handle.backend,
        ring_flags = %handle.setup,
        workers,
        address = %handle.addr,
        max_connections = limit,
        max_connections_from = %capacity.why,
        sandbox = %config.sandbox.name(),
        proxy_protocol = config.proto.proxy_protocol,
        "greeter serving {scheme}://{}/{source} on {} ({}), {workers} worker(s), up to {limit} connections each (set by {}){metrics}{sandbox}{proxied}",
        handle.addr,
        handle.backend,
        handle.setup,
        capacity.why,
    );
}
