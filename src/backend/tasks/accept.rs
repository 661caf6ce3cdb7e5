//! A tokio-based worker's accept loop: take connections from its listener as the shared
//! policy ([`Gate`]) allows, start a task for each, and on shutdown drain them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use super::{Shared, tick};
use crate::backend::Fault;
use crate::backend::policy::{AfterError, Gate, Pause};

/// The accepting side of a worker: the shared policy, its connections, and the task each
/// connection runs.
pub(crate) struct Accept<F> {
    gate: Gate,
    conns: JoinSet<()>,
    run: F,
}

/// How long connections told the drain deadline passed have to end (their sockets shut
/// down, which ends any read or write in flight at once) before their tasks are dropped.
const GRACE: Duration = Duration::from_secs(2);

/// Accepts until shutdown, then drains: idle connections close, busy ones finish until
/// the shutdown deadline, when the rest are told to end. A fault a test injected ends
/// the accepting at once and the connections with it. The connection tasks still running
/// after [`GRACE`] are dropped, and counted in what it returns: a backend whose
/// operations cannot be cancelled (tokio-uring) must not free its runtime under them.
pub(crate) async fn serve<F, T>(
    listener: TcpListener,
    mut a: Accept<F>,
    shared: Rc<Shared>,
    (stop, fault): (watch::Receiver<bool>, Fault),
    shutdown_timeout: Duration,
) -> Drained
where
    F: Fn(TcpStream, SocketAddr, Rc<Shared>) -> T,
    T: Future<Output = ()> + 'static,
{
    tokio::task::spawn_local(tick(Rc::clone(&shared)));
    a.accept(&listener, &shared, stop).await;
    drop(listener); // closed: what arrives now waits for the next process, or is refused
    let failed = fault.check();
    let deadline = match failed {
        Ok(()) => Instant::now() + shutdown_timeout,
        Err(_) => Instant::now(), // a failing worker ends its connections as they are
    };
    let abandoned = a.drain(&shared, deadline).await;
    Drained {
        abandoned,
        fault: failed,
    }
}

/// How a worker's serving ended.
#[derive(Debug)]
pub(crate) struct Drained {
    /// Connection tasks dropped because they had not ended within [`GRACE`] of being told
    /// to: whatever operation they had in flight was left running.
    #[cfg_attr(not(tokio_uring), allow(dead_code))] // only tokio-uring must act on it
    pub abandoned: usize,
    /// The fault a test injected, if one stopped the worker.
    pub fault: io::Result<()>,
}

/// A connection task that panicked takes its worker down with it, as it would without a
/// runtime to catch it: the worker's failure is then logged and stops the server.
fn surface_panic(joined: Result<(), tokio::task::JoinError>) {
    if let Err(e) = joined
        && e.is_panic()
    {
        std::panic::resume_unwind(e.into_panic());
    }
}

impl<F> Accept<F> {
    pub(crate) fn new(limit: usize, run: F) -> Self {
        Accept {
            gate: Gate::new(limit),
            conns: JoinSet::new(),
            run,
        }
    }

    /// Accepts until `stop`, keeping one accept across the loop's turns (never starting
    /// another while one is pending); then tells every connection shutdown began.
    async fn accept<T>(
        &mut self,
        listener: &TcpListener,
        shared: &Rc<Shared>,
        mut stop: watch::Receiver<bool>,
    ) where
        F: Fn(TcpStream, SocketAddr, Rc<Shared>) -> T,
        T: Future<Output = ()> + 'static,
    {
        let mut next = pin!(listener.accept());
        loop {
            let resume = self.gate.resume_at().map(Instant::from_std);
            tokio::select! {
                _ = stop.changed() => break,
                accepted = &mut next, if self.gate.is_open() => {
                    next.set(listener.accept());
                    self.accepted(accepted, shared);
                }
                () = sleep_until(resume.unwrap_or_else(Instant::now)), if resume.is_some() => {
                    self.gate.poll_resume(std::time::Instant::now());
                }
                Some(joined) = self.conns.join_next() => {
                    surface_panic(joined);
                    self.gate.on_closed(self.conns.len());
                }
            }
        }
        shared.greeter.borrow_mut().start_draining();
        shared.slots.shutdown();
    }

    fn accepted<T>(&mut self, accepted: io::Result<(TcpStream, SocketAddr)>, shared: &Rc<Shared>)
    where
        F: Fn(TcpStream, SocketAddr, Rc<Shared>) -> T,
        T: Future<Output = ()> + 'static,
    {
        match accepted {
            Ok((stream, peer)) => self.admit(stream, peer, shared),
            Err(e) => self.failed(&e, shared),
        }
    }

    fn admit<T>(&mut self, stream: TcpStream, peer: SocketAddr, shared: &Rc<Shared>)
    where
        F: Fn(TcpStream, SocketAddr, Rc<Shared>) -> T,
        T: Future<Output = ()> + 'static,
    {
        self.conns
            .spawn_local((self.run)(stream, peer, Rc::clone(shared)));
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

    /// Graceful shutdown: the connections were told; those left at the deadline are told
    /// it passed, and those left after [`GRACE`] more are dropped (and counted).
    async fn drain(mut self, shared: &Shared, deadline: Instant) -> usize {
        self.join_until(deadline).await;
        shared.slots.deadline();
        self.join_until(Instant::now() + GRACE).await;
        let abandoned = self.conns.len();
        if abandoned > 0 {
            tracing::warn!(abandoned, "connections did not end when told to; dropped");
        }
        self.conns.shutdown().await;
        if let Some(log) = &shared.access_log {
            log.borrow_mut().flush(&shared.metrics);
        }
        abandoned
    }

    /// Waits for connection tasks to end, until none is left or `deadline`.
    async fn join_until(&mut self, deadline: Instant) {
        while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, self.conns.join_next()).await
        {
            surface_panic(joined);
        }
    }
}
