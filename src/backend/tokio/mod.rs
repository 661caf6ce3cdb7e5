//! The tokio backend: one current-thread runtime per worker (epoll on Linux, kqueue on
//! macOS), a listener per worker where `SO_REUSEPORT` balances, else a shared one. Each
//! connection is a task that reads into the worker's one scratch buffer, so an idle
//! connection holds no receive buffer. It moves bytes; `proto` decides.

mod conn;

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep};

use super::{Stats, Waker, WorkerHandle, WorkerSpec, start_worker};
use crate::config::{Config, Timeouts};
use crate::proto::Greeter;

/// How long accepting pauses after the process runs out of descriptors.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);
/// How often the Date header is refreshed.
const DATE_TICK: Duration = Duration::from_millis(100);

/// What a worker's connections share. Single-threaded: `RefCell` borrows never cross an
/// `.await`.
struct Shared {
    greeter: RefCell<Greeter>,
    /// The receive buffer every connection of the worker reads into, one at a time.
    scratch: RefCell<Vec<u8>>,
    timeouts: Timeouts,
    /// Wakes idle connections when draining starts.
    drain: Notify,
    /// Wakes idle keep-alive connections to close at the connection limit.
    shed: Notify,
    /// When descriptor exhaustion was last logged, to log at most once a second.
    exhaustion_logged: Cell<Option<Instant>>,
    max_connections: usize,
    stats: Arc<Stats>,
}

/// Starts a worker in its own thread and runtime; returns once it can accept.
pub fn spawn(spec: WorkerSpec<'_>) -> io::Result<(WorkerHandle, &'static str)> {
    let WorkerSpec {
        index,
        listener,
        config,
        stats,
        max_connections,
    } = spec;
    listener.set_nonblocking(true)?;
    let (tx, rx) = watch::channel(false);
    let config = config.clone();
    let setup = move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Registering the listener with the reactor needs the runtime's context.
        let listener = runtime.block_on(async { TcpListener::from_std(listener.into()) })?;
        Ok(((runtime, listener), "current-thread runtime"))
    };
    let run = move |(runtime, listener): (tokio::runtime::Runtime, TcpListener)| {
        let shared = Rc::new(Shared::new(&config, stats, max_connections));
        tokio::task::LocalSet::new().block_on(&runtime, serve(listener, shared, rx))
    };
    let (thread, setup) = start_worker(format!("greeter-tokio-{index}"), setup, run)?;
    Ok((
        WorkerHandle {
            thread,
            waker: Waker::Tokio(tx),
        },
        setup,
    ))
}

impl Shared {
    fn new(config: &Config, stats: Arc<Stats>, max_connections: usize) -> Shared {
        Shared {
            greeter: RefCell::new(Greeter::new(config.proto.clone(), SystemTime::now())),
            scratch: RefCell::new(vec![0; config.uring.recv_buffer_size.max(1024) as usize]),
            timeouts: config.timeouts,
            drain: Notify::new(),
            shed: Notify::new(),
            exhaustion_logged: Cell::new(None),
            max_connections,
            stats,
        }
    }

    fn draining(&self) -> bool {
        self.greeter.borrow().is_draining()
    }
}

/// Accepts until shutdown, then drains: idle connections close, busy ones finish until
/// the shutdown deadline, after which the rest are dropped.
async fn serve(
    listener: TcpListener,
    shared: Rc<Shared>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let mut conns = JoinSet::new();
    tokio::task::spawn_local(refresh_date(Rc::clone(&shared)));
    loop {
        // At the limit, accepting waits until a connection ends (reaped below).
        let room = conns.len() < shared.max_connections;
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept(), if room => match accepted {
                Ok((stream, _)) => admit(&mut conns, stream, &shared),
                Err(e) => accept_failed(e, &shared).await,
            },
            Some(_) = conns.join_next() => {}
        }
    }
    drop(listener);
    shared.greeter.borrow_mut().start_draining();
    shared.drain.notify_waiters();
    let deadline = Instant::now() + shared.timeouts.shutdown;
    while tokio::time::timeout_at(deadline, conns.join_next())
        .await
        .is_ok_and(|next| next.is_some())
    {}
    conns.shutdown().await;
    Ok(())
}

fn admit(conns: &mut JoinSet<()>, stream: tokio::net::TcpStream, shared: &Rc<Shared>) {
    shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
    conns.spawn_local(conn::run(stream, Rc::clone(shared)));
    if conns.len() >= shared.max_connections {
        tracing::warn!(
            limit = shared.max_connections,
            "connection limit reached; closing idle keep-alive connections, pausing accepts"
        );
        shared.shed.notify_waiters();
    }
}

async fn accept_failed(e: io::Error, shared: &Shared) {
    let exhausted = matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    );
    if !exhausted {
        return;
    }
    shared.stats.accept_pauses.fetch_add(1, Ordering::Relaxed);
    let now = Instant::now();
    if shared
        .exhaustion_logged
        .get()
        .is_none_or(|t| now >= t + Duration::from_secs(1))
    {
        shared.exhaustion_logged.set(Some(now));
        tracing::warn!("accept failed ({e}); pausing accepts, still serving open connections");
    }
    sleep(ACCEPT_BACKOFF).await;
}

async fn refresh_date(shared: Rc<Shared>) {
    loop {
        sleep(DATE_TICK).await;
        shared.greeter.borrow_mut().set_time(SystemTime::now());
    }
}
