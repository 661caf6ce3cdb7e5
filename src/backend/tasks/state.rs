//! What a connection task of a tokio-based backend keeps besides its socket: its slot in
//! the worker's table, its flow, the output buffer it borrows, and how a step of the flow
//! is run, timed and logged. The socket's I/O is the backend's own (`conn` on tokio,
//! `owned` on tokio-uring).

use std::mem;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::Shared;
use super::slots::Signal;
use crate::proto::{Action, CloseReason, Flow, Greeter, Output};

pub(crate) struct State {
    pub shared: Rc<Shared>,
    /// This connection's slot in the worker's table.
    id: usize,
    pub flow: Flow,
    /// Output being produced or written; borrowed from the worker's spares meanwhile.
    pub out: Vec<u8>,
    /// Why the backend ended the connection, where the flow did not decide it.
    reason: Option<CloseReason>,
    /// The peer, kept only for the access log (as the accept gave it).
    peer: Option<Box<SocketAddr>>,
    /// Counted as closed; a task dropped before (aborted at the shutdown deadline) is
    /// counted as closed by shutdown.
    counted: bool,
}

impl State {
    /// A connection just accepted from `peer`: counted open, in a slot under its first
    /// deadline.
    pub(crate) fn enter(shared: Rc<Shared>, peer: SocketAddr) -> State {
        shared.metrics.accepted_open();
        let flow = Flow::new(&shared.greeter.borrow(), Instant::now());
        let id = shared.slots.register(flow.poll_timeout());
        let keep_peer = shared.access_log.is_some() || shared.greeter.borrow().expects_preface();
        let peer = keep_peer.then(|| Box::new(peer));
        State {
            shared,
            id,
            flow,
            out: Vec::new(),
            reason: None,
            peer,
            counted: false,
        }
    }

    /// The first action: read, or what draining says to one accepted as it began (the
    /// shutdown signal has gone by already).
    pub(crate) fn first_action(&mut self) -> Action {
        match self.shared.draining() {
            true => self.step(|flow, g, _, now| flow.handle_shutdown(g, now)),
            false => Action::Read,
        }
    }

    /// Runs one flow step against the worker's greeter, with a borrowed output buffer,
    /// and tells the worker's table the deadline and idleness that result; the requests
    /// it answered go to the access log, if there is one.
    pub(crate) fn step(
        &mut self,
        f: impl FnOnce(&mut Flow, &Greeter, &mut Output<'_>, Instant) -> Action,
    ) -> Action {
        let shared = Rc::clone(&self.shared);
        let greeter = shared.greeter.borrow();
        let mut spares = shared.spares.borrow_mut();
        let mut records = shared.access_log.as_ref().map(|_| Vec::new());
        let mut out = Output::new(spares.lend(&mut self.out), records.as_mut());
        let action = f(&mut self.flow, &greeter, &mut out, Instant::now());
        if self.out.is_empty() {
            spares.recycle(mem::take(&mut self.out));
        }
        shared
            .slots
            .update(self.id, self.flow.poll_timeout(), self.flow.is_idle());
        if let (Some(log), Some(records)) = (&shared.access_log, records) {
            let peer = self.flow.client().or(self.peer.as_deref().copied());
            log.borrow_mut().log(records, peer, &shared.metrics);
        }
        action
    }

    /// Received bytes: counted, and handed to the flow.
    pub(crate) fn input(&mut self, data: &[u8]) -> Action {
        match data.is_empty() {
            true => self.step(Flow::handle_eof),
            false => {
                self.shared.metrics.bytes_received.add(data.len() as u64);
                self.step(|flow, g, out, now| flow.handle_input(g, data, out, now))
            }
        }
    }

    /// What the worker signalled, told to the flow (or ending the connection).
    pub(crate) fn on_signal(&mut self, signal: Signal) -> Action {
        match signal {
            Signal::Timeout => self.step(Flow::handle_timeout),
            Signal::Shed => self.end(CloseReason::Shed),
            Signal::Deadline => self.end(CloseReason::Shutdown),
            Signal::Shutdown => self.step(|flow, g, _, now| flow.handle_shutdown(g, now)),
        }
    }

    /// Takes a signal the worker raised that `wanted` accepts, or registers the task.
    pub(crate) fn poll_signal(
        &self,
        cx: &mut Context<'_>,
        wanted: impl Fn(Signal) -> bool,
    ) -> Poll<Signal> {
        match self.shared.slots.poll(self.id, cx.waker(), wanted) {
            Some(signal) => Poll::Ready(signal),
            None => Poll::Pending,
        }
    }

    /// `n` bytes of output reached the kernel: a reader that keeps reading is not stalled.
    pub(crate) fn sent(&mut self, n: usize) {
        self.shared.metrics.bytes_sent.add(n as u64);
        let now = Instant::now();
        self.flow
            .handle_progress(&self.shared.greeter.borrow(), now);
        self.shared
            .slots
            .update(self.id, self.flow.poll_timeout(), false);
    }

    /// All output written: the buffer goes back to the worker's spares.
    pub(crate) fn written(&mut self) {
        let out = mem::take(&mut self.out);
        self.shared.spares.borrow_mut().recycle(out);
    }

    /// Ends the connection for a reason of the backend's (an I/O error, shedding); the
    /// first reason given is the one counted.
    pub(crate) fn end(&mut self, reason: CloseReason) -> Action {
        self.reason.get_or_insert(reason);
        Action::Abort
    }

    /// A write stopped because the worker's shutdown deadline passed: the connection
    /// ends, counted as closed by shutdown; `false`, as for any write that did not finish.
    pub(crate) fn ended_by_deadline(&mut self) -> bool {
        self.reason.get_or_insert(CloseReason::Shutdown);
        false
    }

    /// The connection is over: counted closed, for the backend's reason or the flow's.
    pub(crate) fn finish(&mut self) {
        self.counted = true;
        let reason = self.reason.unwrap_or(self.flow.close_reason());
        self.shared.metrics.closed(reason);
        crate::backend::refused::note(&self.flow, self.peer.as_deref().copied());
    }
}

/// A connection's socket I/O, as a tokio-based backend does it.
pub(crate) trait Io {
    fn state(&mut self) -> &mut State;
    /// Writes all pending output; `false` if a write failed or stalled past the deadline.
    async fn write_out(&mut self) -> bool;
    /// Shuts down writing once, then reads (and discards) until the peer is done.
    async fn linger(&mut self) -> Action;
    /// Waits for input or a worker's signal, and tells the flow.
    async fn read(&mut self) -> Action;
}

/// Serves a connection until it ends: write what the flow produced, then do what it says.
pub(crate) async fn serve(io: &mut impl Io) {
    let mut action = io.state().first_action();
    loop {
        if action != Action::Abort && !io.state().out.is_empty() {
            action = match io.write_out().await {
                true => io.state().step(Flow::handle_flushed),
                false => io.state().end(CloseReason::Error), // failed, or stalled
            };
            continue;
        }
        action = match action {
            Action::Abort | Action::Close { linger: false } => return,
            Action::Close { linger: true } => io.linger().await,
            // Held input waits for the output, which is written by now.
            Action::Hold => io.state().step(Flow::handle_flushed),
            Action::Read => io.read().await,
        };
    }
}

impl Drop for State {
    /// Releases the slot and the open count however the task ends.
    fn drop(&mut self) {
        if !self.counted {
            self.shared.metrics.closed(CloseReason::Shutdown);
        }
        self.shared.slots.remove(self.id);
        self.shared.metrics.open.sub(1);
    }
}
