//! What the two task-per-connection backends (tokio and tokio-uring) share, and neither
//! owns: a worker's state ([`Shared`]), its accept loop and drain ([`accept`]), its one
//! periodic tick and each connection's slot in it ([`slots`]), and a connection's state
//! and serving loop over the backend's own socket I/O ([`state::Io`]). A backend brings
//! its runtime and its connection task; both accept through tokio's listener (epoll or
//! kqueue), whose accept can be cancelled.

pub(crate) mod accept;
pub(crate) mod slots;
pub(crate) mod state;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::watch;

use super::{Fault, Oversight, Spares, Waker, WorkerSpec, doing, tick_for};
use crate::access::AccessLog;
use crate::metrics::WorkerMetrics;
use crate::proto::Greeter;
use accept::{Accept, serve};

/// Bytes read at once into the worker's scratch buffer.
const READ_CHUNK: usize = 16 * 1024;

/// What a worker's connections share. Single-threaded: `RefCell` borrows never cross an
/// `.await`.
pub(crate) struct Shared {
    pub greeter: RefCell<Greeter>,
    /// The receive buffer every connection of the worker reads into, one at a time (the
    /// readiness-based backend's).
    pub scratch: RefCell<Vec<u8>>,
    pub spares: RefCell<Spares>,
    /// Each connection's deadline, idleness and waker, for the worker's tick.
    pub slots: slots::Slots,
    pub metrics: Arc<WorkerMetrics>,
    pub access_log: Option<RefCell<AccessLog>>,
}

/// A task-per-connection worker's spec, taken apart: its name and listener, what its
/// thread serves with, the waker that stops it, what oversees its thread, and the
/// config (for backend knobs).
pub(crate) struct Taken<'a> {
    pub name: String,
    pub listener: socket2::Socket,
    pub parts: Parts,
    pub waker: Waker,
    pub oversight: Oversight,
    #[cfg_attr(not(tokio_uring), allow(dead_code))]
    pub config: &'a crate::config::Config,
}

impl<'a> From<WorkerSpec<'a>> for Taken<'a> {
    fn from(spec: WorkerSpec<'a>) -> Taken<'a> {
        let (tx, stop) = watch::channel(false);
        let (waker, fault) = Waker::new(move || {
            let _ = tx.send(true);
        });
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
            oversight: spec.oversight,
            config: spec.config,
        }
    }
}

/// The worker's listener, made non-blocking and registered with the reactor of the
/// runtime this is called in (epoll, or kqueue); call it in the runtime's setup, so that a
/// failure is a start-up error.
pub(crate) fn register(listener: socket2::Socket) -> std::io::Result<tokio::net::TcpListener> {
    listener
        .set_nonblocking(true)
        .map_err(doing("making its listener non-blocking"))?;
    tokio::net::TcpListener::from_std(listener.into())
        .map_err(doing("registering its listener with epoll"))
}

/// What a worker's thread serves with.
pub(crate) struct Parts {
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
    /// a task `run` makes; then drains, and says how.
    pub(crate) async fn serve<F, T>(
        self,
        listener: tokio::net::TcpListener,
        run: F,
    ) -> accept::Drained
    where
        F: Fn(tokio::net::TcpStream, std::net::SocketAddr, Rc<Shared>) -> T,
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

/// The worker's one timer: the Date header (and the per-tick cache), every connection's
/// deadline, and the access log's batch (which also goes when it fills).
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
