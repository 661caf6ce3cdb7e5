//! The io_uring worker: one ring, one listener, its connections, and the event loop that
//! turns completions into flow calls and the flow's actions into submissions. Moves bytes
//! only; the flow decides what to read, write and close, and when.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use slab::Slab;

use super::Op;
use super::accept::Acceptor;
use super::conn::{Conn, Recv};
use crate::access::AccessLog;
use crate::backend::{Fault, Spares, WorkerSpec, doing, tick_for};
use crate::config::UringConfig;
use crate::metrics::WorkerMetrics;
use crate::proto::{Action, Answered, CloseReason, Flow, Greeter, Output};
use crate::uring::{
    Allow, Claim, Completion, Features, Generation, Ring, SendCursor, Setup, Socket, Token,
};

/// What a worker is made of, taken from its spec to move onto its thread.
pub(super) struct Parts {
    listener: socket2::Socket,
    shared_listener: bool,
    uring: UringConfig,
    shutdown_timeout: Duration,
    greeter: Greeter,
    metrics: Arc<WorkerMetrics>,
    access_log: Option<AccessLog>,
    max_connections: usize,
}

impl From<WorkerSpec<'_>> for Parts {
    fn from(spec: WorkerSpec<'_>) -> Parts {
        Parts {
            listener: spec.listener,
            shared_listener: spec.shared_listener,
            uring: spec.config.uring.clone(),
            shutdown_timeout: spec.config.shutdown_timeout,
            greeter: spec.greeter,
            metrics: spec.metrics,
            access_log: spec.access_log,
            max_connections: spec.max_connections,
        }
    }
}

pub(super) struct Worker {
    ring: Ring<Op>,
    acceptor: Acceptor,
    wake: OwnedFd,
    /// Checked when woken: a test's injected fault.
    fault: Fault,
    conns: Slab<Conn>,
    greeter: Greeter,
    /// The timer's period.
    tick: Duration,
    /// Whether the periodic timer is in flight (a refused submission is retried).
    ticking: bool,
    /// Read once per loop turn.
    now: Instant,
    spares: Spares,
    /// Receives that ran out of buffers, re-armed once the turn returned them.
    starved: Vec<(usize, Generation)>,
    shutdown_timeout: Duration,
    drain_deadline: Option<Instant>,
    generation: Generation,
    metrics: Arc<WorkerMetrics>,
    access_log: Option<AccessLog>,
    /// Peer addresses by slot, looked up at accept only when there is an access log.
    peers: Vec<Option<std::net::SocketAddr>>,
    /// A bundle receive's buffers, joined for the flow.
    joined: Vec<u8>,
    /// Requests a flow step answered, for the access log (when there is one).
    records: Vec<Answered>,
}

impl Worker {
    pub(super) fn new(parts: Parts, (wake, fault): (OwnedFd, Fault)) -> io::Result<Worker> {
        let ring = ring_for(&parts)?;
        let metrics = parts.metrics;
        Ok(Worker {
            ring,
            acceptor: Acceptor::new(
                (parts.listener, parts.shared_listener),
                parts.max_connections,
                Arc::clone(&metrics),
            ),
            wake,
            fault,
            conns: Slab::new(),
            tick: tick_for(parts.greeter.timeouts()),
            greeter: parts.greeter,
            ticking: false,
            now: Instant::now(),
            spares: Spares::default(),
            starved: Vec::new(),
            shutdown_timeout: parts.shutdown_timeout,
            drain_deadline: None,
            generation: Generation::default(),
            metrics,
            access_log: parts.access_log,
            peers: Vec::new(),
            joined: Vec::new(),
            records: Vec::new(),
        })
    }

    pub(super) fn setup(&self) -> Setup {
        self.ring.setup()
    }

    /// Serves until shut down and every connection is closed.
    pub(super) fn run(mut self) -> io::Result<()> {
        let wake = Token::global(Op::Wake);
        self.ring.read_eventfd(self.wake.as_raw_fd(), wake);
        self.acceptor.arm(&mut self.ring);
        let mut batch = Vec::with_capacity(256);
        while !self.finished() {
            self.arm_tick();
            self.ring.submit_and_wait()?;
            self.now = Instant::now();
            self.ring.drain(&mut batch);
            for c in batch.drain(..) {
                self.on_completion(c)?;
            }
            self.rearm_starved();
            if let Some(log) = self.access_log.as_mut() {
                log.flush(&self.metrics);
            }
            self.record_ring();
        }
        let finished = self.ring.finish();
        self.record_ring();
        finished
    }

    /// The ring's counts and what it holds, for `/metrics`.
    fn record_ring(&self) {
        let (submits, completions, waited) = self.ring.counts();
        self.metrics.uring_submit_calls.set(submits);
        self.metrics.uring_completions.set(completions);
        self.metrics.uring_sq_waits.set(waited);
        let (buffers, slots) = self.ring.in_use();
        self.metrics.uring_buffers_in_use.set(buffers as u64);
        self.metrics.uring_direct_slots_in_use.set(slots as u64);
    }

    /// Draining is done: every connection closed, and the accept cancelled has ended (its
    /// last completions may carry connections), or the drain deadline passed.
    fn finished(&self) -> bool {
        let Some(deadline) = self.drain_deadline else {
            return false;
        };
        self.conns.is_empty() && (!self.acceptor.is_armed() || self.now >= deadline)
    }

    fn on_completion(&mut self, c: Completion<Op, Vec<u8>>) -> io::Result<()> {
        match c.token.kind() {
            Op::Accept => {
                let open = self.conns.len();
                let accepted = self
                    .acceptor
                    .on_completion(&mut self.ring, c, self.now, open);
                accepted.into_iter().for_each(|fd| self.admit(fd));
            }
            Op::Recv => self.on_recv(&c),
            Op::Send => self.on_send(c),
            Op::Tick => self.on_tick(),
            Op::Wake => {
                self.fault.check()?;
                self.start_draining();
            }
        }
        Ok(())
    }

    /// Registers a freshly accepted connection and starts receiving on it.
    fn admit(&mut self, fd: Socket) {
        self.generation = self.generation.next();
        let flow = Flow::new(&self.greeter, self.now);
        let keep_peer = self.access_log.is_some() || self.greeter.expects_preface();
        let peer = keep_peer.then(|| peer_of(&fd)).flatten();
        let slot = self.conns.insert(Conn::new(fd, self.generation, flow));
        if keep_peer {
            self.peers.resize(self.peers.len().max(slot + 1), None);
            self.peers[slot] = peer;
        }
        self.metrics.accepted_open();
        self.resume_reading(slot);
        if let Some(batch) = self.acceptor.on_admitted(&mut self.ring, self.conns.len()) {
            self.shed(batch);
        }
    }

    /// At the connection limit: close up to `batch` idle keep-alive connections.
    fn shed(&mut self, batch: usize) {
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_reusable())
            .map(|(slot, _)| slot)
            .take(batch)
            .collect();
        idle.into_iter()
            .for_each(|slot| self.close(slot, CloseReason::Shed));
    }

    fn on_recv(&mut self, c: &Completion<Op, Vec<u8>>) {
        let Some(slot) = self.live(c.token) else {
            return; // a completion of a slot since reused; its buffer goes back by itself
        };
        if !c.more() {
            self.conns[slot].recv = Recv::Off;
        }
        if self.conns[slot].fd.is_none() {
            return self.settle(slot);
        }
        let action = match c.result {
            n if n > 0 => {
                self.metrics.bytes_received.add(n as u64);
                self.feed(slot, c.buffers(), n as usize)
            }
            0 => self.step(slot, Flow::handle_eof),
            e if -e == libc::ENOBUFS => return self.starve(slot),
            // Our own cancel (backpressure), or a multishot the kernel ended: carry on.
            e if -e == libc::ECANCELED => self.conns[slot].flow.poll_action(),
            _ => return self.abort(slot, CloseReason::Error), // a reset, say
        };
        self.apply(slot, action);
    }

    /// Parses a filled buffer in place and hands it straight back to the kernel.
    fn feed(&mut self, slot: usize, claim: Option<Claim>, len: usize) -> Action {
        let Some(claim) = claim else {
            return self.conns[slot].flow.poll_action();
        };
        let Worker {
            ring,
            conns,
            greeter,
            spares,
            now,
            joined,
            access_log,
            records,
            ..
        } = self;
        let conn = &mut conns[slot];
        let data = ring.checkout(claim, len);
        let mut out = Output::new(
            spares.lend(&mut conn.out),
            access_log.as_ref().map(|_| records),
        );
        conn.flow
            .handle_input(greeter, data.contiguous(joined), &mut out, *now)
    }

    /// Runs a flow step that may produce output.
    fn step(
        &mut self,
        slot: usize,
        step: impl FnOnce(&mut Flow, &Greeter, &mut Output<'_>, Instant) -> Action,
    ) -> Action {
        let conn = &mut self.conns[slot];
        let mut out = Output::new(
            self.spares.lend(&mut conn.out),
            self.access_log.as_ref().map(|_| &mut self.records),
        );
        step(&mut conn.flow, &self.greeter, &mut out, self.now)
    }

    fn starve(&mut self, slot: usize) {
        self.metrics.uring_enobufs.add(1);
        self.starved.push((slot, self.conns[slot].generation));
    }

    /// Re-arms receives that found no buffer; by the end of a turn all are returned.
    fn rearm_starved(&mut self) {
        for (slot, generation) in mem::take(&mut self.starved) {
            let conn = self.conns.get(slot).filter(|c| c.generation == generation);
            if let Some(action) = conn.map(|c| c.flow.poll_action()) {
                self.apply(slot, action);
            }
        }
    }

    fn on_send(&mut self, c: Completion<Op, Vec<u8>>) {
        let mut cursor = c.sent.expect("a send completion returns its buffer");
        let slot = c.token.slot(); // a send in flight keeps its slot alive
        let conn = &mut self.conns[slot];
        conn.sending = false;
        if c.result < 0 {
            self.spares.recycle(cursor.into_inner());
            return self.abort(slot, CloseReason::Error);
        }
        if c.result > 0 {
            self.metrics.bytes_sent.add(c.result as u64);
            conn.flow.handle_progress(&self.greeter, self.now);
        }
        if conn.fd.is_some() && !cursor.advance(c.result as usize) {
            return self.send(slot, cursor); // a short send continues from its offset
        }
        self.spares.recycle(cursor.into_inner());
        if self.conns[slot].fd.is_none() {
            return self.settle(slot);
        }
        let action = match self.conns[slot].out.is_empty() {
            true => self.step(slot, Flow::handle_flushed),
            false => self.conns[slot].flow.poll_action(),
        };
        self.apply(slot, action);
    }

    /// Acts on what the flow said: reading on or off, then writing, closing or lingering.
    fn apply(&mut self, slot: usize, action: Action) {
        if self.access_log.is_some() {
            self.log_answered(slot);
        }
        let reason = self.conns[slot].flow.close_reason();
        match action {
            Action::Abort => return self.abort(slot, reason),
            Action::Hold => self.pause_reading(slot),
            a if a.reads() => self.resume_reading(slot),
            _ => {}
        }
        // A refused submission may have dropped the connection.
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.sending || conn.fd.is_none() {
            return; // the send's completion carries on
        }
        if !conn.out.is_empty() {
            let buf = mem::take(&mut conn.out);
            return self.send(slot, SendCursor::new(buf));
        }
        self.spares.recycle(mem::take(&mut conn.out));
        match action {
            Action::Close { linger: false } => self.close(slot, reason),
            Action::Close { linger: true } => self.linger(slot),
            _ => {}
        }
    }

    /// Hands the requests the last flow step answered to the access log's batch.
    fn log_answered(&mut self, slot: usize) {
        let (Some(log), false) = (self.access_log.as_mut(), self.records.is_empty()) else {
            return;
        };
        let records = mem::take(&mut self.records);
        let peer = self.conns[slot].flow.client().or(self.peers[slot]);
        log.log(records, peer, &self.metrics);
    }

    fn send(&mut self, slot: usize, cursor: SendCursor<Vec<u8>>) {
        let conn = &mut self.conns[slot];
        let Some(fd) = conn.target() else {
            return self.spares.recycle(cursor.into_inner());
        };
        let token = Token::new(Op::Send, slot, conn.generation);
        self.ring.send(fd, cursor, token);
        conn.sending = true;
    }

    /// The output is written and the flow wants to linger: shut down writing once.
    fn linger(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if let Some(fd) = conn.target().filter(|_| !conn.lingering) {
            conn.lingering = true;
            self.ring.shutdown_write(fd);
        }
    }

    fn resume_reading(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        let Some(fd) = conn.target().filter(|_| conn.recv == Recv::Off) else {
            return;
        };
        let token = Token::new(Op::Recv, slot, conn.generation);
        self.ring.recv_multi(fd, token);
        conn.recv = Recv::Armed;
    }

    fn pause_reading(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if conn.recv == Recv::Armed {
            let token = Token::new(Op::Recv, slot, conn.generation);
            self.ring.cancel_recv(token);
            conn.recv = Recv::Cancelling;
        }
    }

    /// Closes the descriptor now, cancelling whatever is in flight on it.
    fn close(&mut self, slot: usize, reason: CloseReason) {
        let conn = &mut self.conns[slot];
        if let Some(fd) = conn.fd.take() {
            self.metrics.closed(reason);
            crate::backend::refused::note(&conn.flow, self.peers.get(slot).copied().flatten());
            if conn.recv == Recv::Armed || conn.sending {
                self.ring.cancel_fd(fd.target());
            }
            if conn.recv == Recv::Armed {
                conn.recv = Recv::Cancelling;
            }
            self.ring.close(fd);
        }
        self.settle(slot);
    }

    /// Drops the connection at once, pending output and all.
    fn abort(&mut self, slot: usize, reason: CloseReason) {
        let out = mem::take(&mut self.conns[slot].out);
        self.spares.recycle(out);
        self.close(slot, reason);
    }

    /// Frees the slot once the kernel holds nothing of the connection.
    fn settle(&mut self, slot: usize) {
        if !self.conns[slot].is_settled() {
            return;
        }
        let conn = self.conns.remove(slot);
        self.metrics.open.sub(1);
        self.spares.recycle(conn.out);
        let open = self.conns.len();
        self.acceptor.on_closed(&mut self.ring, open);
    }

    /// Live connection addressed by a token, or `None` for a completion that outlived it.
    fn live(&self, token: Token<Op>) -> Option<usize> {
        let slot = token.slot();
        let conn = self.conns.get(slot)?;
        (conn.generation == token.generation()).then_some(slot)
    }

    fn arm_tick(&mut self) {
        if !self.ticking {
            self.ring.timeout(self.tick, Token::global(Op::Tick));
            self.ticking = true;
        }
    }

    /// The periodic timer: Date, deadlines, accept back-off, forced shutdown.
    fn on_tick(&mut self) {
        self.ticking = false;
        self.greeter.set_time(SystemTime::now());
        let forced = self.drain_deadline.is_some_and(|d| self.now >= d);
        let now = self.now;
        let expired: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.fd.is_some() && (forced || c.flow.poll_timeout() <= now))
            .map(|(slot, _)| slot)
            .collect();
        for slot in expired {
            match forced {
                true => self.abort(slot, CloseReason::Shutdown),
                false => {
                    let action = self.step(slot, Flow::handle_timeout);
                    self.apply(slot, action);
                }
            }
        }
        self.acceptor.on_tick(&mut self.ring, now);
        if self.drain_deadline.is_some() {
            tracing::debug!(connections = self.conns.len(), "draining");
        }
    }

    /// Graceful shutdown: stop accepting, close idle connections, let busy ones finish.
    fn start_draining(&mut self) {
        if self.drain_deadline.is_some() {
            return;
        }
        self.greeter.start_draining();
        self.drain_deadline = Some(self.now + self.shutdown_timeout);
        self.acceptor.stop(&mut self.ring);
        let open: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.fd.is_some())
            .map(|(slot, _)| slot)
            .collect();
        for slot in open {
            let action = self.conns[slot]
                .flow
                .handle_shutdown(&self.greeter, self.now);
            self.apply(slot, action);
        }
    }
}

/// A worker's ring with its receive buffers registered, and its fixed-file table when
/// direct descriptors are asked for (not with an access log, which asks each peer's
/// address of a descriptor).
fn ring_for(parts: &Parts) -> io::Result<Ring<Op>> {
    let u = &parts.uring;
    let f = u.features;
    let features = Features {
        ring_fd: f.ring_fd,
        no_sqarray: f.no_sqarray,
        min_wait_us: f.min_wait_us,
        recv_bundle: f.bundle,
        restrict: f.restrict,
    };
    let mut ring = Ring::new(u.sq_entries, features).map_err(doing("setting up its ring"))?;
    ring.register_buffers(0, u.recv_buffers, u.recv_buffer_size)
        .map_err(doing("registering its receive buffer ring"))?;
    if f.direct && parts.access_log.is_none() {
        // Sized to the connection limit; a kernel that refuses keeps plain descriptors.
        let slots = u32::try_from(parts.max_connections).unwrap_or(u32::MAX);
        if let Err(e) = ring.register_files(slots) {
            tracing::debug!("direct descriptors unavailable: {e}");
        }
    }
    ring.enable(&SERVING)
        .map_err(doing("restricting and enabling its ring"))?;
    Ok(ring)
}

/// What a server ring submits; the driver adds its cancels and closes.
const SERVING: [Allow; 6] = [
    Allow::Accept,
    Allow::Recv,
    Allow::Send,
    Allow::Timeout,
    Allow::ReadEventfd,
    Allow::Shutdown,
];

/// The peer of an accepted connection (one `getpeername`), for the access log; a direct
/// descriptor has none to ask.
fn peer_of(socket: &Socket) -> Option<std::net::SocketAddr> {
    let Socket::Fd(fd) = socket else { return None };
    socket2::SockRef::from(fd).peer_addr().ok()?.as_socket()
}
