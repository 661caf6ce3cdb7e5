//! The tokio backend: one current-thread runtime per worker (epoll on Linux, kqueue on
//! macOS), a listener per worker where `SO_REUSEPORT` balances, else a shared one. Each
//! connection is a task that reads into the worker's one scratch buffer, so an idle
//! connection holds no receive buffer, and borrows an output buffer only while it has
//! output. It moves bytes; the connection flow in `proto` decides.

mod conn;
mod slots;

use std::cell::RefCell;
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use super::policy::{AfterError, Gate, Pause};
use super::{Spares, Waker, WorkerHandle, WorkerSpec, start_worker, tick_for};
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
    let WorkerSpec {
        name,
        listener,
        config,
        greeter,
        metrics,
        access_log,
        max_connections,
        // epoll wakes every worker waiting on a shared listener; the first to accept wins.
        shared_listener: _,
    } = spec;
    listener.set_nonblocking(true)?;
    let (tx, rx) = watch::channel(false);
    let shutdown_timeout = config.shutdown_timeout;
    let setup = move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Registering the listener with the reactor needs the runtime's context.
        let listener = runtime.block_on(async { TcpListener::from_std(listener.into()) })?;
        Ok(((runtime, listener), "current-thread runtime".to_owned()))
    };
    let run = move |(runtime, listener): (tokio::runtime::Runtime, TcpListener)| {
        let shared = Rc::new(Shared::new(greeter, metrics, access_log));
        let accept = Accept {
            listener,
            gate: Gate::new(max_connections),
            conns: JoinSet::new(),
        };
        let serve = serve(accept, shared, rx, shutdown_timeout);
        tokio::task::LocalSet::new().block_on(&runtime, serve)
    };
    let (thread, setup) = start_worker(format!("greeter-tokio-{name}"), setup, run)?;
    Ok(WorkerHandle {
        thread,
        waker: Waker::Tokio(tx),
        setup,
    })
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

/// The accepting side of a worker: its listener, the shared policy, its connections.
struct Accept {
    listener: TcpListener,
    gate: Gate,
    conns: JoinSet<()>,
}

/// Accepts until shutdown, then drains: idle connections close, busy ones finish until
/// the shutdown deadline, after which the rest are dropped.
async fn serve(
    mut a: Accept,
    shared: Rc<Shared>,
    mut stop: watch::Receiver<bool>,
    shutdown_timeout: Duration,
) -> io::Result<()> {
    tokio::task::spawn_local(tick(Rc::clone(&shared)));
    loop {
        let resume = a.gate.resume_at().map(Instant::from_std);
        tokio::select! {
            _ = stop.changed() => break,
            accepted = a.listener.accept(), if a.gate.is_open() => match accepted {
                Ok((stream, _)) => a.admit(stream, &shared),
                Err(e) => a.failed(&e, &shared),
            },
            () = sleep_until(resume.unwrap_or_else(Instant::now)), if resume.is_some() => {
                a.gate.poll_resume(std::time::Instant::now());
            }
            Some(_) = a.conns.join_next() => {
                a.gate.on_closed(a.conns.len());
            }
        }
    }
    drop(a.listener);
    shared.greeter.borrow_mut().start_draining();
    shared.slots.shutdown();
    let deadline = Instant::now() + shutdown_timeout;
    while tokio::time::timeout_at(deadline, a.conns.join_next())
        .await
        .is_ok_and(|next| next.is_some())
    {}
    a.conns.shutdown().await;
    if let Some(log) = &shared.access_log {
        log.borrow_mut().flush(&shared.metrics);
    }
    Ok(())
}

impl Accept {
    fn admit(&mut self, stream: tokio::net::TcpStream, shared: &Rc<Shared>) {
        self.conns.spawn_local(conn::run(stream, Rc::clone(shared)));
        if let Some(batch) = self.gate.on_admitted(self.conns.len()) {
            shared.metrics.paused(Pause::ConnectionLimit);
            shared.slots.shed(batch);
        }
    }

    fn failed(&mut self, e: &io::Error, shared: &Shared) {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        let open = self.conns.len();
        if let AfterError::Paused(cause) =
            self.gate.on_error(errno, std::time::Instant::now(), open)
        {
            shared.metrics.paused(cause);
        }
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
