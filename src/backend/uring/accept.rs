//! Accepting on a worker's listener: the multishot accept (one accept at a time on a
//! listener the workers share), re-armed whenever it ends, and paused or resumed as the
//! shared policy ([`Gate`]) says.

use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Instant;

use super::Op;
use crate::backend::policy::{AfterError, Gate, Pause};
use crate::metrics::WorkerMetrics;
use crate::uring::{Completion, Ring, Socket, Token};

pub(super) struct Acceptor {
    /// `None` once draining: nothing more is accepted.
    listener: Option<socket2::Socket>,
    /// Other workers' rings accept on the same listener: one connection per accept, so
    /// they take turns (see [`Ring::accept_once`]).
    shared: bool,
    /// An accept is in flight (until its final completion).
    armed: bool,
    gate: Gate,
    metrics: Arc<WorkerMetrics>,
}

impl Acceptor {
    /// Accepts on `listener`, `shared` with other workers or not.
    pub(super) fn new(
        (listener, shared): (socket2::Socket, bool),
        limit: usize,
        metrics: Arc<WorkerMetrics>,
    ) -> Acceptor {
        Acceptor {
            listener: Some(listener),
            shared,
            armed: false,
            gate: Gate::new(limit),
            metrics,
        }
    }

    /// Arms the multishot accept if the policy allows and none is in flight.
    pub(super) fn arm(&mut self, ring: &mut Ring<Op>) {
        let Some(listener) = &self.listener else {
            return;
        };
        if self.armed || !self.gate.is_open() {
            return;
        }
        let (fd, token) = (listener.as_raw_fd(), Token::global(Op::Accept));
        match self.shared {
            true => ring.accept_once(fd, token),
            false => ring.accept_multi(fd, token),
        }
        self.armed = true;
    }

    /// An accept completion: the new connection, after applying the policy to a failure
    /// and re-arming. Connections accepted after [`Acceptor::stop`] (the cancel was still
    /// on its way) are served too: the client is already connected, and dropping them
    /// would refuse what a restart must not.
    pub(super) fn on_completion(
        &mut self,
        ring: &mut Ring<Op>,
        c: Completion<Op, Vec<u8>>,
        now: Instant,
        open: usize,
    ) -> Option<Socket> {
        if !c.more() {
            self.armed = false;
        }
        if c.result < 0 {
            self.failed(-c.result, now, open);
        }
        self.arm(ring);
        c.accepted
    }

    /// A multishot accept is in flight: its completions may still bring connections.
    pub(super) fn is_armed(&self) -> bool {
        self.armed
    }

    fn failed(&mut self, errno: i32, now: Instant, open: usize) {
        if let AfterError::Paused(cause) = self.gate.on_error(errno, now, open) {
            self.metrics.paused(cause);
        }
    }

    /// From the periodic timer: accept again once a back-off has passed.
    pub(super) fn on_tick(&mut self, ring: &mut Ring<Op>, now: Instant) {
        if self.gate.poll_resume(now) {
            self.arm(ring);
        }
    }

    /// A connection was admitted; the answer is how many idle ones to shed, at the limit.
    pub(super) fn on_admitted(&mut self, ring: &mut Ring<Op>, open: usize) -> Option<usize> {
        let shed = self.gate.on_admitted(open);
        if shed.is_some() {
            self.metrics.paused(Pause::ConnectionLimit);
            self.cancel(ring);
        }
        shed
    }

    /// A connection ended: resume accepting if the limit paused it.
    pub(super) fn on_closed(&mut self, ring: &mut Ring<Op>, open: usize) {
        if self.gate.on_closed(open) {
            self.arm(ring);
        }
    }

    /// Graceful shutdown: stop accepting for good and close the listener.
    pub(super) fn stop(&mut self, ring: &mut Ring<Op>) {
        self.cancel(ring);
        self.listener = None;
    }

    fn cancel(&mut self, ring: &mut Ring<Op>) {
        if self.armed {
            ring.cancel_accept(Token::global(Op::Accept));
        }
    }
}
