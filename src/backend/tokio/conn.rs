//! One tokio connection task: read into the worker's scratch buffer, let the flow decide,
//! write, and wait on the deadline the flow names.

use std::cell::Cell;
use std::io::ErrorKind;
use std::mem;
use std::rc::Rc;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};

use super::Shared;
use crate::proto::{Action, CloseReason, Flow, Greeter};

struct Conn {
    stream: TcpStream,
    shared: Rc<Shared>,
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

/// Serves one connection until it closes; dropping the stream closes the socket.
pub(super) async fn run(stream: TcpStream, shared: Rc<Shared>) {
    shared.metrics.accepted_open();
    let guard = OpenGuard(Rc::clone(&shared), Cell::new(false));
    let flow = Flow::new(&shared.greeter.borrow(), std::time::Instant::now());
    let mut conn = Conn {
        stream,
        shared,
        flow,
        out: Vec::new(),
        lingering: false,
        reason: None,
        peer: None,
    };
    let reason = conn.serve().await;
    guard.0.metrics.closed(reason);
    guard.1.set(true);
}

/// Counts the connection as released however its task ends; a task aborted at the
/// shutdown deadline (never returning) is counted as closed by shutdown.
struct OpenGuard(Rc<Shared>, Cell<bool>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        if !self.1.get() {
            self.0.metrics.closed(CloseReason::Shutdown);
        }
        self.0.metrics.open.sub(1);
    }
}

impl Conn {
    /// Serves until the connection ends; why it did.
    async fn serve(&mut self) -> CloseReason {
        // Accepted as draining began: the drain notification has gone by already.
        let mut action = match self.shared.draining() {
            true => self
                .flow
                .handle_shutdown(&self.shared.greeter.borrow(), now()),
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

    /// Runs one flow step against the worker's greeter, with a borrowed output buffer.
    fn step(
        &mut self,
        f: impl FnOnce(&mut Flow, &Greeter, &mut Vec<u8>, std::time::Instant) -> Action,
    ) -> Action {
        let greeter = self.shared.greeter.borrow();
        let mut spares = self.shared.spares.borrow_mut();
        let action = f(&mut self.flow, &greeter, spares.lend(&mut self.out), now());
        if self.out.is_empty() {
            spares.recycle(mem::take(&mut self.out));
        }
        if let Some(log) = &self.shared.access_log {
            let answered = greeter.take_answered();
            if !answered.is_empty() {
                let stream = &self.stream;
                let peer = **self
                    .peer
                    .get_or_insert_with(|| Box::new(stream.peer_addr().ok()));
                log.borrow_mut().log(answered, peer, &self.shared.metrics);
            }
        }
        action
    }

    /// Ends the connection for a reason of this backend's (an I/O error, shedding).
    fn end(&mut self, reason: CloseReason) -> Action {
        self.reason = Some(reason);
        Action::Abort
    }

    /// Waits for input, a deadline, shutdown or shedding, and tells the flow.
    async fn read(&mut self) -> Action {
        loop {
            let shared = Rc::clone(&self.shared);
            let deadline = Instant::from_std(self.flow.poll_timeout());
            tokio::select! {
                ready = self.stream.readable() => if ready.is_err() { return self.end(CloseReason::Error) },
                () = sleep_until(deadline) => return self.step(Flow::handle_timeout),
                () = shared.drain.notified(), if !shared.draining() => {
                    let greeter = shared.greeter.borrow();
                    return self.flow.handle_shutdown(&greeter, now());
                }
                () = shared.shed.notified(), if self.flow.is_idle() => {
                    if shared.take_shed() { return self.end(CloseReason::Shed) }
                    continue;
                }
            }
            if let Some(action) = self.try_read() {
                return action;
            }
        }
    }

    /// Reads what is there into the scratch buffer; `None` if nothing was.
    fn try_read(&mut self) -> Option<Action> {
        let shared = Rc::clone(&self.shared);
        let mut scratch = shared.scratch.borrow_mut();
        match self.stream.try_read(&mut scratch) {
            Ok(0) => Some(self.step(Flow::handle_eof)),
            Ok(n) => {
                shared.metrics.bytes_received.add(n as u64);
                let input = &scratch[..n];
                Some(self.step(|flow, g, out, now| flow.handle_input(g, input, out, now)))
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => None,
            Err(_) => Some(self.end(CloseReason::Error)),
        }
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
                        .handle_progress(&self.shared.greeter.borrow(), now());
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return false,
            }
            let deadline = Instant::from_std(self.flow.poll_timeout());
            tokio::select! {
                ready = self.stream.writable() => if ready.is_err() { return false },
                () = sleep_until(deadline) => return false,
            }
        }
        let out = mem::take(&mut self.out);
        self.shared.spares.borrow_mut().recycle(out);
        true
    }
}

fn now() -> std::time::Instant {
    std::time::Instant::now()
}
