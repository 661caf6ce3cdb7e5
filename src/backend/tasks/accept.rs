//! A tokio-based worker's accept loop: take connections from its listener as the shared
//! policy ([`Gate`]) allows, start a task for each, and on shutdown drain them.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::rc::Rc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Instant, sleep_until};

use super::{Shared, tick};
use crate::backend::Fault;
use crate::backend::policy::{AfterError, Gate, Pause};

/// A listener the accept loop takes connections from: tokio's, or tokio-uring's.
pub(crate) trait Listen {
    type Stream;
    /// An accept once started takes a connection even if no longer polled (tokio-uring
    /// cannot cancel it): the loop keeps it and, after shutdown, serves what it brings.
    const ACCEPT_RUNS_ON: bool;
    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>>;
}

impl Listen for TcpListener {
    type Stream = tokio::net::TcpStream;
    const ACCEPT_RUNS_ON: bool = false;

    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> {
        TcpListener::accept(self)
    }
}

/// The accepting side of a worker: the shared policy, its connections, and the task each
/// connection runs.
pub(crate) struct Accept<F> {
    gate: Gate,
    conns: JoinSet<()>,
    run: F,
}

/// Accepts until shutdown, then drains: idle connections close, busy ones finish until
/// the shutdown deadline, after which the rest are dropped.
pub(crate) async fn serve<L, F, T>(
    listener: L,
    mut a: Accept<F>,
    shared: Rc<Shared>,
    (stop, fault): (watch::Receiver<bool>, Fault),
    shutdown_timeout: Duration,
) -> io::Result<()>
where
    L: Listen,
    F: Fn(L::Stream, SocketAddr, Rc<Shared>) -> T,
    T: Future<Output = ()> + 'static,
{
    tokio::task::spawn_local(tick(Rc::clone(&shared)));
    let deadline = a
        .accept(&listener, &shared, (stop, fault), shutdown_timeout)
        .await?;
    drop(listener); // closed: what arrives now waits for the next process, or is refused
    a.drain(&shared, deadline).await;
    Ok(())
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
    /// another while one is pending); then tells every connection shutdown began. The
    /// drain's deadline; or the fault a test injected, at once (a failing worker drops
    /// its listener and connections as they are).
    async fn accept<L, T>(
        &mut self,
        listener: &L,
        shared: &Rc<Shared>,
        (mut stop, fault): (watch::Receiver<bool>, Fault),
        shutdown_timeout: Duration,
    ) -> io::Result<Instant>
    where
        L: Listen,
        F: Fn(L::Stream, SocketAddr, Rc<Shared>) -> T,
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
        fault.check()?;
        shared.greeter.borrow_mut().start_draining();
        shared.slots.shutdown();
        let deadline = Instant::now() + shutdown_timeout;
        if L::ACCEPT_RUNS_ON {
            self.serve_last_accept(next, shared, deadline).await;
        }
        Ok(deadline)
    }

    fn accepted<S, T>(&mut self, accepted: io::Result<(S, SocketAddr)>, shared: &Rc<Shared>)
    where
        F: Fn(S, SocketAddr, Rc<Shared>) -> T,
        T: Future<Output = ()> + 'static,
    {
        match accepted {
            Ok((stream, peer)) => self.admit(stream, peer, shared),
            Err(e) => self.failed(&e, shared),
        }
    }

    fn admit<S, T>(&mut self, stream: S, peer: SocketAddr, shared: &Rc<Shared>)
    where
        F: Fn(S, SocketAddr, Rc<Shared>) -> T,
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

    /// While draining, an accept that cannot be cancelled (tokio-uring) is served rather
    /// than leaked: what it brings is a client already connected. Waits for it as long as
    /// there are connections to drain.
    async fn serve_last_accept<S, T>(
        &mut self,
        next: Pin<&mut impl Future<Output = io::Result<(S, SocketAddr)>>>,
        shared: &Rc<Shared>,
        deadline: Instant,
    ) where
        F: Fn(S, SocketAddr, Rc<Shared>) -> T,
        T: Future<Output = ()> + 'static,
    {
        let mut next = next;
        loop {
            tokio::select! {
                accepted = &mut next => {
                    if let Ok((stream, peer)) = accepted {
                        self.admit(stream, peer, shared);
                    }
                    return;
                }
                joined = tokio::time::timeout_at(deadline, self.conns.join_next()) => {
                    if !joined.is_ok_and(|n| n.is_some()) {
                        return;
                    }
                }
            }
        }
    }

    /// Graceful shutdown: the connections were told; those left at the deadline are
    /// dropped.
    async fn drain(mut self, shared: &Shared, deadline: Instant) {
        while let Ok(Some(joined)) = tokio::time::timeout_at(deadline, self.conns.join_next()).await
        {
            surface_panic(joined);
        }
        self.conns.shutdown().await;
        if let Some(log) = &shared.access_log {
            log.borrow_mut().flush(&shared.metrics);
        }
    }
}
