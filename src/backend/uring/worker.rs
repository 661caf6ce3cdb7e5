//! The io_uring worker: one ring, one listener, its connections and the event loop that
//! turns completions into protocol calls and new submissions. Moves bytes only.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use slab::Slab;

use super::conn::{Conn, Recv};
use super::cursor::SendCursor;
use super::ring::{self, Completion, Ring};
use super::token::{Kind, Token};
use crate::backend::Stats;
use crate::backend::flow::{Action, Flow, Phase};
use crate::config::{Config, Timeouts};
use crate::proto::Greeter;

/// Spare output buffers kept for reuse; more are freed.
const SPARE_BUFFERS: usize = 256;
/// Idle keep-alive connections closed at once when the connection limit is reached.
pub(super) const SHED_BATCH: usize = 32;
/// How long accepting pauses after the process runs out of descriptors.
pub(super) const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub struct Worker {
    pub(super) ring: Ring,
    pub(super) listener: Option<socket2::Socket>,
    wake: OwnedFd,
    pub(super) conns: Slab<Conn>,
    pub(super) greeter: Greeter,
    timeouts: Timeouts,
    tick: Duration,
    start: Instant,
    /// Milliseconds since `start`, read once per loop turn.
    pub(super) now: u64,
    spare: Vec<Vec<u8>>,
    /// Receives that ran out of buffers, re-armed once the turn returned them.
    starved: Vec<(usize, u32)>,
    pub(super) accept: super::accept::AcceptState,
    drain_deadline: Option<u64>,
    next_generation: u32,
    pub(super) stats: Arc<Stats>,
    pub(super) max_connections: usize,
}

impl Worker {
    pub fn new(
        config: &Config,
        listener: socket2::Socket,
        wake: OwnedFd,
        stats: Arc<Stats>,
        max_connections: usize,
    ) -> io::Result<Worker> {
        let mut ring = Ring::new(config.uring.sq_entries)?;
        ring.register_buffers(0, config.uring.recv_buffers, config.uring.recv_buffer_size)?;
        Ok(Worker {
            ring,
            listener: Some(listener),
            wake,
            conns: Slab::new(),
            greeter: Greeter::new(config.proto.clone(), SystemTime::now()),
            timeouts: config.timeouts,
            tick: tick_for(&config.timeouts),
            start: Instant::now(),
            now: 0,
            spare: Vec::new(),
            starved: Vec::new(),
            accept: Default::default(),
            drain_deadline: None,
            next_generation: 0,
            stats,
            max_connections,
        })
    }

    pub fn setup(&self) -> &'static str {
        self.ring.setup()
    }

    /// Serves until shut down and every connection is closed.
    pub fn run(mut self) -> io::Result<()> {
        self.arm_accept();
        self.ring.timeout(self.tick, Token::global(Kind::Timer));
        self.ring
            .read_wake(self.wake.as_raw_fd(), Token::global(Kind::Wake));
        let mut batch = Vec::with_capacity(256);
        while self.drain_deadline.is_none() || !self.conns.is_empty() {
            self.ring.submit_and_wait()?;
            self.now = self.start.elapsed().as_millis() as u64;
            self.ring.drain(&mut batch);
            batch.drain(..).for_each(|c| self.on_completion(c));
            self.rearm_starved();
        }
        self.wind_down()
    }

    fn on_completion(&mut self, c: Completion<Vec<u8>>) {
        match c.token.kind {
            Kind::Accept => self.on_accept(&c),
            Kind::Recv => self.on_recv(&c),
            Kind::Send => self.on_send(c),
            Kind::Timer => self.on_tick(),
            Kind::Wake => self.start_draining(),
            // The server makes no outgoing connections.
            Kind::Ignore | Kind::Connect => {}
        }
    }

    /// Registers a freshly accepted connection and starts receiving on it.
    pub(super) fn admit(&mut self, fd: OwnedFd) {
        self.next_generation = self.next_generation.wrapping_add(1);
        let deadline = self.now + ms(self.timeouts.header);
        let slot = self
            .conns
            .insert(Conn::new(fd, self.next_generation, deadline));
        self.arm_recv(slot);
        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
        self.stats.open.fetch_add(1, Ordering::Relaxed);
    }

    fn on_recv(&mut self, c: &Completion<Vec<u8>>) {
        let slot = self.live(c.token);
        if let Some(slot) = slot
            && !c.more()
        {
            self.conns[slot].recv = Recv::Off;
        }
        let Some(slot) = slot.filter(|&s| self.conns[s].fd.is_some()) else {
            // Late data for a closed (or reused) slot: hand the buffer back, drop the rest.
            if let Some(bid) = c.buffer() {
                drop(self.ring.checkout(bid, 0));
            }
            return slot.into_iter().for_each(|s| self.settle(s));
        };
        let action = match c.result {
            n if n > 0 => self.feed(slot, c.buffer(), n as usize),
            0 => self.with_output(slot, |flow, g, out| flow.on_eof(g, out)),
            e if -e == libc::ENOBUFS => return self.starve(slot),
            // Our own cancel (backpressure): reading resumes if the flow wants it by now.
            e if -e == libc::ECANCELED => return self.resume_reading(slot),
            _ => return self.abort(slot),
        };
        self.apply(slot, action);
    }

    /// Parses a filled buffer in place and hands it straight back to the kernel.
    fn feed(&mut self, slot: usize, bid: Option<u16>, len: usize) -> Action {
        let Some(bid) = bid else { return Action::Read };
        let Worker {
            ring,
            conns,
            greeter,
            spare,
            ..
        } = self;
        let conn = &mut conns[slot];
        let data = ring.checkout(bid, len);
        conn.flow
            .on_input(greeter, &data, lend(&mut conn.out, spare))
    }

    /// Runs a flow step that may produce output.
    fn with_output(
        &mut self,
        slot: usize,
        step: impl FnOnce(&mut Flow, &Greeter, &mut Vec<u8>) -> Action,
    ) -> Action {
        let Worker {
            conns,
            greeter,
            spare,
            ..
        } = self;
        let conn = &mut conns[slot];
        step(&mut conn.flow, greeter, lend(&mut conn.out, spare))
    }

    fn starve(&mut self, slot: usize) {
        self.stats.recv_enobufs.fetch_add(1, Ordering::Relaxed);
        self.starved.push((slot, self.conns[slot].generation));
    }

    /// Re-arms receives that found no buffer; by the end of a turn all are returned.
    fn rearm_starved(&mut self) {
        for (slot, generation) in mem::take(&mut self.starved) {
            if self
                .conns
                .get(slot)
                .is_some_and(|c| c.generation == generation)
            {
                self.resume_reading(slot);
            }
        }
    }

    fn on_send(&mut self, c: Completion<Vec<u8>>) {
        let mut cursor = c.sent.expect("a send completion returns its buffer");
        let slot = c.token.slot as usize;
        self.conns[slot].sending = false;
        if c.result < 0 {
            self.recycle(cursor.into_inner());
            return self.abort(slot);
        }
        let conn = &mut self.conns[slot];
        if c.result > 0 {
            // Progress: a reader that keeps reading is not stalled, however long it takes.
            conn.deadline = self.now + ms(self.timeouts.idle);
        }
        if conn.fd.is_some() && !cursor.advance(c.result as usize) {
            return self.send(slot, cursor);
        }
        self.recycle(cursor.into_inner());
        if self.conns[slot].fd.is_none() {
            return self.settle(slot);
        }
        let action = match self.conns[slot].out.is_empty() {
            true => self.with_output(slot, |flow, g, out| flow.on_flushed(g, out)),
            false => Action::Read,
        };
        self.apply(slot, action);
    }

    /// Acts on what the flow asked for, then writes or closes.
    fn apply(&mut self, slot: usize, action: Action) {
        match action {
            Action::Read => self.resume_reading(slot),
            Action::Hold => self.pause_reading(slot),
            Action::Close { .. } => {}
        }
        self.flush(slot);
        if self.conns.contains(slot) {
            self.update_deadline(slot);
        }
    }

    /// Starts a send if output waits and none is in flight; closes a flushed, closing one.
    fn flush(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if conn.sending || conn.fd.is_none() {
            return;
        }
        if !conn.out.is_empty() {
            let buf = mem::take(&mut conn.out);
            return self.send(slot, SendCursor::new(buf));
        }
        let idle_out = mem::take(&mut conn.out);
        self.recycle(idle_out);
        let conn = &mut self.conns[slot];
        if self.drain_deadline.is_some() && !conn.flow.is_closing() {
            let _ = conn.flow.on_shutdown();
        }
        if conn.flow.is_closing() {
            self.finish(slot);
        }
    }

    fn send(&mut self, slot: usize, cursor: SendCursor<Vec<u8>>) {
        let conn = &mut self.conns[slot];
        let Some(fd) = conn.raw_fd() else {
            return self.recycle(cursor.into_inner());
        };
        conn.sending = true;
        let token = Token::new(Kind::Send, slot, conn.generation);
        self.ring.send(fd, cursor, token);
    }

    /// The output is written and the flow is closing: linger or close.
    fn finish(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if !conn.flow.lingers() {
            return self.close(slot);
        }
        if !conn.lingering {
            conn.lingering = true;
            if let Some(fd) = conn.raw_fd() {
                self.ring.shutdown_write(fd);
            }
            self.resume_reading(slot);
        }
    }

    fn resume_reading(&mut self, slot: usize) {
        let conn = &self.conns[slot];
        if conn.recv == Recv::Off && conn.fd.is_some() && conn.flow.wants_input() {
            self.arm_recv(slot);
        }
    }

    fn arm_recv(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        let Some(fd) = conn.raw_fd() else { return };
        conn.recv = Recv::Armed;
        self.ring
            .recv_multi(fd, Token::new(Kind::Recv, slot, conn.generation));
    }

    fn pause_reading(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if conn.recv == Recv::Armed {
            conn.recv = Recv::Cancelling;
            self.ring
                .cancel(Token::new(Kind::Recv, slot, conn.generation));
        }
    }

    /// Closes the descriptor now, cancelling whatever is in flight on it.
    pub(super) fn close(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if let Some(fd) = conn.fd.take() {
            if conn.recv == Recv::Armed || conn.sending {
                self.ring.cancel_fd(fd.as_raw_fd());
            }
            if conn.recv == Recv::Armed {
                conn.recv = Recv::Cancelling;
            }
            self.ring.close(fd);
        }
        self.settle(slot);
    }

    /// Drops the connection at once: errors, resets, stalled writers, forced shutdown.
    pub(super) fn abort(&mut self, slot: usize) {
        let out = mem::take(&mut self.conns[slot].out);
        self.recycle(out);
        self.close(slot);
    }

    /// Frees the slot once the kernel holds nothing of the connection.
    fn settle(&mut self, slot: usize) {
        if !self.conns[slot].is_settled() {
            return;
        }
        let conn = self.conns.remove(slot);
        self.stats.open.fetch_sub(1, Ordering::Relaxed);
        self.recycle(conn.out);
        self.below_limit();
    }

    fn recycle(&mut self, mut buf: Vec<u8>) {
        if buf.capacity() > 0 && self.spare.len() < SPARE_BUFFERS {
            buf.clear();
            self.spare.push(buf);
        }
    }

    fn update_deadline(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        let phase = conn.flow.phase(conn.writing());
        if phase != conn.phase {
            conn.phase = phase;
            conn.deadline = self.now + ms(phase.timeout(&self.timeouts));
        }
    }

    /// Live connection addressed by a token, or `None` for a completion that outlived it.
    fn live(&self, token: Token) -> Option<usize> {
        let slot = token.slot as usize;
        self.conns
            .get(slot)
            .filter(|c| c.generation & super::token::GEN_MASK == token.generation)
            .map(|_| slot)
    }

    /// The periodic timer: Date, deadlines, accept back-off, forced shutdown.
    fn on_tick(&mut self) {
        self.greeter.set_time(SystemTime::now());
        let forced = self.drain_deadline.is_some_and(|d| self.now >= d);
        let expired: Vec<usize> = self
            .conns
            .iter()
            // Strictly past: `now` is truncated to the millisecond, so `<=` could fire early.
            .filter(|(_, c)| forced || c.deadline < self.now)
            .map(|(slot, _)| slot)
            .collect();
        for slot in expired {
            self.expire(slot, forced);
        }
        self.retry_accept();
        if self.drain_deadline.is_some() {
            tracing::debug!(connections = self.conns.len(), "draining");
        }
        self.ring.timeout(self.tick, Token::global(Kind::Timer));
    }

    fn expire(&mut self, slot: usize, forced: bool) {
        let conn = &self.conns[slot];
        if forced || conn.fd.is_none() || matches!(conn.phase, Phase::Write | Phase::Linger) {
            return self.abort(slot);
        }
        let action = self.with_output(slot, |flow, g, out| flow.on_timeout(g, out));
        self.apply(slot, action);
    }

    /// Graceful shutdown: stop accepting, close idle connections, let busy ones finish.
    fn start_draining(&mut self) {
        if self.drain_deadline.is_some() {
            return;
        }
        self.greeter.start_draining();
        self.drain_deadline = Some(self.now + ms(self.timeouts.shutdown));
        self.stop_accepting();
        self.listener = None;
        let slots: Vec<usize> = self.conns.iter().map(|(slot, _)| slot).collect();
        for slot in slots {
            self.flush(slot);
        }
    }

    /// Cancels what is left (timer), waits for the kernel to finish with every buffer,
    /// then unregisters the buffer ring.
    fn wind_down(mut self) -> io::Result<()> {
        self.ring.cancel(Token::global(Kind::Timer));
        self.ring.finish()
    }
}

/// Gives an unallocated output buffer a spare one: idle connections hold none.
fn lend<'a>(out: &'a mut Vec<u8>, spare: &mut Vec<Vec<u8>>) -> &'a mut Vec<u8> {
    if out.capacity() == 0 {
        *out = spare.pop().unwrap_or_default();
    }
    out
}

/// Milliseconds, saturating.
pub(super) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX / 2)
}

/// The timer period: fine enough for the shortest timeout, at most 100 ms.
fn tick_for(t: &Timeouts) -> Duration {
    let shortest = t.header.min(t.idle).min(t.linger);
    (shortest / 4).clamp(Duration::from_millis(5), Duration::from_millis(100))
}

/// Adopts an accepted descriptor (kept here so `accept` stays free of `ring` details).
pub(super) fn adopt(fd: i32) -> OwnedFd {
    ring::adopt_fd(fd)
}
