//! The tokio backend: one current-thread runtime per worker (epoll on Linux, kqueue on
//! macOS), a listener per worker where `SO_REUSEPORT` balances, else a shared one. Each
//! connection is a task that reads into the worker's one scratch buffer, so an idle
//! connection holds no receive buffer, and borrows an output buffer only while it has
//! output. It moves bytes; the connection flow in `proto` decides.

mod accept;
mod conn;
#[cfg(tokio_uring)]
pub(crate) mod owned;
mod slots;
mod state;

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::{
    Alarm, Fault, Spares, Wake, Waker, WorkerHandle, WorkerSpec, doing, start_worker, tick_for,
};
use accept::{Accept, serve};

use crate::access::AccessLog;
use crate::metrics::WorkerMetrics;
use crate::proto::Greeter;

/// Bytes read at once into the worker's scratch buffer.
const READ_CHUNK: usize = 16 * 1024;

/// What a worker's connections share. Single-threaded: `RefCell` borrows never cross an
/// `.await`.
struct Shared {
    greeter: RefCell<Greeter>,
    /// The receive buffer every connection of the worker reads into, one at a time.
    scratch: RefCell<Vec<u8>>,
    spares: RefCell<Spares>,
    /// Each connection's deadline, idleness and waker, for the worker's tick.
    slots: slots::Slots,
    metrics: Arc<WorkerMetrics>,
    access_log: Option<RefCell<AccessLog>>,
}

/// Starts a worker in its own thread and runtime; returns once it can accept.
pub(crate) fn spawn(spec: WorkerSpec<'_>) -> io::Result<WorkerHandle> {
    // epoll wakes every worker waiting on a shared listener; the first to accept wins.
    let Taken {
        name,
        listener,
        parts,
        waker,
        alarm,
        ..
    } = Taken::from(spec);
    listener
        .set_nonblocking(true)
        .map_err(doing("making its listener non-blocking"))?;
    let setup = move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(doing("creating the tokio runtime (epoll)"))?;
        // Registering the listener with the reactor needs the runtime's context.
        let listener = runtime
            .block_on(async { TcpListener::from_std(listener.into()) })
            .map_err(doing("registering its listener with epoll"))?;
        Ok(((runtime, listener), "current-thread runtime".to_owned()))
    };
    let run = move |(runtime, listener): (tokio::runtime::Runtime, TcpListener)| {
        let serve = parts.serve(listener, conn::run);
        tokio::task::LocalSet::new().block_on(&runtime, serve)
    };
    let (thread, setup) = start_worker(format!("greeter-tokio-{name}"), alarm, setup, run)?;
    Ok(WorkerHandle {
        thread,
        waker,
        setup,
    })
}

/// A tokio-based worker's spec, taken apart: its name and listener, what its thread
/// serves with, the waker that stops it, and the config (for backend knobs).
struct Taken<'a> {
    name: String,
    listener: socket2::Socket,
    parts: Parts,
    waker: Waker,
    alarm: Arc<Alarm>,
    #[cfg_attr(not(tokio_uring), allow(dead_code))]
    config: &'a crate::config::Config,
}

impl<'a> From<WorkerSpec<'a>> for Taken<'a> {
    fn from(spec: WorkerSpec<'a>) -> Taken<'a> {
        let (tx, stop) = watch::channel(false);
        let (waker, fault) = Waker::new(Wake::Tokio(tx));
        let parts = Parts {
            greeter: spec.greeter,
            metrics: spec.metrics,
            access_log: spec.access_log,
            max_connections: spec.max_connections,
            shutdown_timeout: spec.config.shutdown_timeout,
            stop,
            fault,
        };
        Taken {
            name: spec.name,
            listener: spec.listener,
            parts,
            waker,
            alarm: spec.alarm,
            config: spec.config,
        }
    }
}

/// What a worker's thread serves with.
struct Parts {
    greeter: Greeter,
    metrics: Arc<WorkerMetrics>,
    access_log: Option<AccessLog>,
    max_connections: usize,
    shutdown_timeout: std::time::Duration,
    stop: watch::Receiver<bool>,
    /// Checked when stopped: a test's injected fault.
    fault: Fault,
}

impl Parts {
    /// Serves on `listener` (registered with the runtime) until stopped, each connection
    /// a task `run` makes.
    async fn serve<L, F, T>(self, listener: L, run: F) -> io::Result<()>
    where
        L: accept::Listen,
        F: Fn(L::Stream, std::net::SocketAddr, Rc<Shared>) -> T,
        T: std::future::Future<Output = ()> + 'static,
    {
        let shared = Rc::new(Shared::new(self.greeter, self.metrics, self.access_log));
        let accept = Accept::new(self.max_connections, run);
        let stop = (self.stop, self.fault);
        serve(listener, accept, shared, stop, self.shutdown_timeout).await
    }
}

impl Shared {
    fn new(greeter: Greeter, metrics: Arc<WorkerMetrics>, access_log: Option<AccessLog>) -> Shared {
        Shared {
            greeter: RefCell::new(greeter),
            scratch: RefCell::new(vec![0; READ_CHUNK]),
            spares: RefCell::default(),
            slots: slots::Slots::default(),
            metrics,
            access_log: access_log.map(RefCell::new),
        }
    }

    fn draining(&self) -> bool {
        self.greeter.borrow().is_draining()
    }
}

/// The worker's one timer: the Date header, every connection's deadline, and the access
/// log's batch (which also goes when it fills).
async fn tick(shared: Rc<Shared>) {
    let mut interval = tokio::time::interval(tick_for(shared.greeter.borrow().timeouts()));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        shared.greeter.borrow_mut().set_time(SystemTime::now());
        shared.slots.expire(std::time::Instant::now());
        if let Some(log) = &shared.access_log {
            log.borrow_mut().flush(&shared.metrics);
        }
    }
}
