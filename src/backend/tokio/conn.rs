//! One tokio connection task: read into the worker's scratch buffer, let the flow decide,
//! write, and keep the same deadlines as every backend.

use std::io::ErrorKind;
use std::rc::Rc;
use std::sync::atomic::Ordering;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::{Instant, sleep_until};

use super::Shared;
use crate::backend::flow::{Action, Flow, Phase};
use crate::proto::Greeter;

struct Conn {
    stream: TcpStream,
    shared: Rc<Shared>,
    flow: Flow,
    out: Vec<u8>,
    phase: Phase,
    deadline: Instant,
    /// The write side is shut down; draining the peer's input.
    lingering: bool,
}

/// Serves one connection until it closes; dropping the stream closes the socket.
pub(super) async fn run(stream: TcpStream, shared: Rc<Shared>) {
    let deadline = Instant::now() + shared.timeouts.header;
    shared.stats.open.fetch_add(1, Ordering::Relaxed);
    let _open = OpenGuard(Rc::clone(&shared));
    let mut conn = Conn {
        stream,
        shared,
        flow: Flow::default(),
        out: Vec::new(),
        phase: Phase::Head,
        deadline,
        lingering: false,
    };
    conn.serve().await;
}

/// Counts the connection as closed however its task ends (finished or aborted).
struct OpenGuard(Rc<Shared>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.stats.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Conn {
    async fn serve(&mut self) {
        let mut action = Action::Read;
        loop {
            if !self.out.is_empty() {
                if !self.write_out().await {
                    return;
                }
                action = self.step(Flow::on_flushed);
                continue;
            }
            if self.shared.draining() && !self.flow.is_closing() {
                action = self.flow.on_shutdown().unwrap_or(action);
            }
            let next = match action {
                Action::Close { linger: false } => return,
                Action::Close { linger: true } => self.linger().await,
                Action::Hold => Some(self.step(Flow::on_flushed)),
                Action::Read => self.read().await,
            };
            let Some(next) = next else { return };
            action = next;
        }
    }

    /// Runs one flow step against the worker's greeter.
    fn step(&mut self, f: impl FnOnce(&mut Flow, &Greeter, &mut Vec<u8>) -> Action) -> Action {
        let greeter = self.shared.greeter.borrow();
        f(&mut self.flow, &greeter, &mut self.out)
    }

    /// Waits for input (or a deadline, or shutdown) and feeds it to the flow.
    /// `None` means close now.
    async fn read(&mut self) -> Option<Action> {
        loop {
            self.update_deadline(false);
            let shared = Rc::clone(&self.shared);
            tokio::select! {
                ready = self.stream.readable() => ready.ok()?,
                () = sleep_until(self.deadline) => return self.expire(),
                () = shared.drain.notified(), if !shared.draining() => return Some(Action::Read),
                () = shared.shed.notified(), if self.phase == Phase::Idle => return None,
            }
            let mut scratch = shared.scratch.borrow_mut();
            let greeter = shared.greeter.borrow();
            match self.stream.try_read(&mut scratch) {
                Ok(0) => return Some(self.flow.on_eof(&greeter, &mut self.out)),
                Ok(n) => return Some(self.flow.on_input(&greeter, &scratch[..n], &mut self.out)),
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return None,
            }
        }
    }

    /// Shuts down writing once, then reads (and discards) until the peer is done.
    async fn linger(&mut self) -> Option<Action> {
        if !self.lingering {
            self.lingering = true;
            self.stream.shutdown().await.ok()?;
        }
        self.read().await
    }

    fn expire(&mut self) -> Option<Action> {
        match self.phase {
            Phase::Write | Phase::Linger => None,
            Phase::Head | Phase::Idle => Some(self.step(Flow::on_timeout)),
        }
    }

    /// Writes all pending output; a write making no progress for the idle timeout fails.
    async fn write_out(&mut self) -> bool {
        let mut written = 0;
        self.phase = Phase::Write;
        self.deadline = Instant::now() + self.shared.timeouts.idle;
        while written < self.out.len() {
            match self.stream.try_write(&self.out[written..]) {
                Ok(n) => {
                    written += n;
                    self.deadline = Instant::now() + self.shared.timeouts.idle;
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return false,
            }
            tokio::select! {
                ready = self.stream.writable() => if ready.is_err() { return false },
                () = sleep_until(self.deadline) => return false,
            }
        }
        self.out.clear();
        true
    }

    fn update_deadline(&mut self, writing: bool) {
        let phase = self.flow.phase(writing);
        if phase != self.phase {
            self.phase = phase;
            self.deadline = Instant::now() + phase.timeout(&self.shared.timeouts);
        }
    }
}
