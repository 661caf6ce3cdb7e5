//! One tokio connection task: wait until the socket is ready (or the worker signals its
//! slot), read into the worker's scratch buffer, let the flow decide, write. The deadline
//! the flow names is checked by the worker's tick, not by a timer per read.

use std::cell::Cell;
use std::future::poll_fn;
use std::io::{self, ErrorKind};
use std::mem;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use super::Shared;
use super::slots::Signal;
use crate::proto::{Action, CloseReason, Flow, Greeter};

struct Conn {
    stream: TcpStream,
    shared: Rc<Shared>,
    /// This connection's slot in the worker's table.
    id: usize,
    flow: Flow,
    /// Output being produced or written; borrowed from the worker's spares meanwhile.
    out: Vec<u8>,
    /// The write side is shut down; draining the peer's input.
    lingering: bool,
    /// Why this backend ended the connection, where the flow did not decide it.
    reason: Option<CloseReason>,
    /// The peer, looked up once, for the access log.
    peer: Option<Box<Option<std::net::SocketAddr>>>,
}

/// What a wait ended with.
enum Woke {
    /// Bytes read into the worker's scratch buffer (0 at end of stream).
    Read(io::Result<usize>),
    /// The socket is writable.
    Ready(io::Result<()>),
    Signal(Signal),
}

/// Serves one connection until it closes; dropping the stream closes the socket.
pub(super) async fn run(stream: TcpStream, shared: Rc<Shared>) {
    shared.metrics.accepted_open();
    let flow = Flow::new(&shared.greeter.borrow(), Instant::now());
    let id = shared.slots.register(flow.poll_timeout());
    let guard = Release(Rc::clone(&shared), id, Cell::new(false));
    let mut conn = Conn {
        stream,
        shared,
        id,
        flow,
        out: Vec::new(),
        lingering: false,
        reason: None,
        peer: None,
    };
    let reason = conn.serve().await;
    guard.0.metrics.closed(reason);
    guard.2.set(true);
}

/// Releases the connection's slot and counts it as closed however its task ends; a task
/// aborted at the shutdown deadline (never returning) is counted as closed by shutdown.
struct Release(Rc<Shared>, usize, Cell<bool>);

impl Drop for Release {
    fn drop(&mut self) {
        if !self.2.get() {
            self.0.metrics.closed(CloseReason::Shutdown);
        }
        self.0.slots.remove(self.1);
        self.0.metrics.open.sub(1);
    }
}

impl Conn {
    /// Serves until the connection ends; why it did.
    async fn serve(&mut self) -> CloseReason {
        // Accepted as draining began: the shutdown signal has gone by already.
        let mut action = match self.shared.draining() {
            true => self.step(|flow, g, _, now| flow.handle_shutdown(g, now)),
            false => Action::Read,
        };
        loop {
            if action != Action::Abort && !self.out.is_empty() {
                action = match self.write_out().await {
                    true => self.step(Flow::handle_flushed),
                    false => self.end(CloseReason::Error), // failed, or stalled
                };
                continue;
            }
            action = match action {
                Action::Abort | Action::Close { linger: false } => {
                    return self.reason.unwrap_or(self.flow.close_reason());
                }
                Action::Close { linger: true } => self.linger().await,
                // Held input waits for the output, which is written by now.
                Action::Hold => self.step(Flow::handle_flushed),
                Action::Read => self.read().await,
            };
        }
    }

    /// Runs one flow step against the worker's greeter, with a borrowed output buffer,
    /// and tells the worker's table the deadline and idleness that result.
    fn step(
        &mut self,
        f: impl FnOnce(&mut Flow, &Greeter, &mut Vec<u8>, Instant) -> Action,
    ) -> Action {
        let shared = Rc::clone(&self.shared);
        let greeter = shared.greeter.borrow();
        let mut spares = shared.spares.borrow_mut();
        let action = f(
            &mut self.flow,
            &greeter,
            spares.lend(&mut self.out),
            Instant::now(),
        );
        if self.out.is_empty() {
            spares.recycle(mem::take(&mut self.out));
        }
        shared
            .slots
            .update(self.id, self.flow.poll_timeout(), self.flow.is_idle());
        if shared.access_log.is_some() {
            self.log(&greeter);
        }
        action
    }

    /// Hands what the last step answered to the access log.
    fn log(&mut self, greeter: &Greeter) {
        let (answered, Some(log)) = (greeter.take_answered(), &self.shared.access_log) else {
            return;
        };
        if !answered.is_empty() {
            let stream = &self.stream;
            let peer = **self
                .peer
                .get_or_insert_with(|| Box::new(stream.peer_addr().ok()));
            log.borrow_mut().log(answered, peer, &self.shared.metrics);
        }
    }

    /// Ends the connection for a reason of this backend's (an I/O error, shedding).
    fn end(&mut self, reason: CloseReason) -> Action {
        self.reason = Some(reason);
        Action::Abort
    }

    /// Waits for input or a signal, and tells the flow.
    async fn read(&mut self) -> Action {
        let shared = Rc::clone(&self.shared);
        let woke = poll_fn(|cx| {
            if let Some(signal) = shared.slots.poll(self.id, cx.waker(), |_| true) {
                return Poll::Ready(Woke::Signal(signal));
            }
            // `poll_read`, not readiness then `try_read`: a read that leaves the buffer
            // part empty tells tokio the socket is drained, which saves the `recv` that
            // would only say `EAGAIN` on the next turn (one system call per request).
            let mut scratch = shared.scratch.borrow_mut();
            let mut buf = ReadBuf::new(&mut scratch[..]);
            let read = Pin::new(&mut self.stream).poll_read(cx, &mut buf);
            read.map(|r| Woke::Read(r.map(|()| buf.filled().len())))
        })
        .await;
        match woke {
            Woke::Read(Ok(0)) => self.step(Flow::handle_eof),
            Woke::Read(Ok(n)) => {
                shared.metrics.bytes_received.add(n as u64);
                let scratch = shared.scratch.borrow();
                let input = &scratch[..n];
                self.step(|flow, g, out, now| flow.handle_input(g, input, out, now))
            }
            Woke::Read(Err(_)) | Woke::Ready(Err(_)) => self.end(CloseReason::Error),
            Woke::Ready(Ok(())) => Action::Read, // not asked for by a read
            Woke::Signal(Signal::Timeout) => self.step(Flow::handle_timeout),
            Woke::Signal(Signal::Shed) => self.end(CloseReason::Shed),
            Woke::Signal(Signal::Shutdown) => {
                self.step(|flow, g, _, now| flow.handle_shutdown(g, now))
            }
        }
    }

    /// Until the socket is ready to write or its deadline passes (other signals wait for
    /// the next read).
    async fn wait_writable(&self) -> Woke {
        poll_fn(|cx| {
            let deadline = |s| s == Signal::Timeout;
            if let Some(signal) = self.shared.slots.poll(self.id, cx.waker(), deadline) {
                return Poll::Ready(Woke::Signal(signal));
            }
            self.stream.poll_write_ready(cx).map(Woke::Ready)
        })
        .await
    }

    /// Shuts down writing once, then reads (and discards) until the peer is done.
    async fn linger(&mut self) -> Action {
        if !self.lingering {
            self.lingering = true;
            if self.stream.shutdown().await.is_err() {
                return self.end(CloseReason::Error);
            }
        }
        self.read().await
    }

    /// Writes all pending output, telling the flow of progress; `false` if the write
    /// failed or stalled past the flow's deadline.
    async fn write_out(&mut self) -> bool {
        let mut written = 0;
        while written < self.out.len() {
            match self.stream.try_write(&self.out[written..]) {
                Ok(n) => {
                    written += n;
                    self.shared.metrics.bytes_sent.add(n as u64);
                    self.flow
                        .handle_progress(&self.shared.greeter.borrow(), Instant::now());
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return false,
            }
            self.shared
                .slots
                .update(self.id, self.flow.poll_timeout(), false);
            if !matches!(self.wait_writable().await, Woke::Ready(Ok(()))) {
                return false; // an error, or the deadline passed with no progress
            }
        }
        let out = mem::take(&mut self.out);
        self.shared.spares.borrow_mut().recycle(out);
        true
    }
}
