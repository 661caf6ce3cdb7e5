//! One connection's byte flow, shared by every backend: the unfinished-input tail,
//! backpressure, half-close, draining and which timeout applies. Pure: no sockets, no
//! clocks; a backend moves bytes and acts on the [`Action`] it gets back.

use std::mem;
use std::time::Duration;

use crate::config::Timeouts;
use crate::proto::{Greeter, Next, Session};

/// What the backend does once the output produced so far is queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Keep (or start) reading.
    Read,
    /// Stop reading until the output is written, then call [`Flow::on_flushed`].
    Hold,
    /// Close once the output is written (see [`Next::Close`] for `linger`).
    Close { linger: bool },
}

/// Which timeout a connection is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for or reading a request head: the header deadline, not reset by bytes.
    Head,
    /// Keep-alive between requests.
    Idle,
    /// Output pending: the client must keep reading.
    Write,
    /// Draining a closing client's input after an error response.
    Linger,
}

impl Phase {
    pub fn timeout(self, t: &Timeouts) -> Duration {
        match self {
            Phase::Head => t.header,
            Phase::Idle | Phase::Write => t.idle,
            Phase::Linger => t.linger,
        }
    }
}

#[derive(Debug, Default)]
pub struct Flow {
    session: Session,
    /// Received bytes not consumed yet: an unfinished request, or requests held back by
    /// backpressure. Empty (and unallocated) on an idle connection.
    tail: Vec<u8>,
    /// Backpressure: `tail` waits until the output is written.
    held: bool,
    /// The peer shut down its sending side.
    eof: bool,
    /// Set once the connection is to close; the value is whether it lingers.
    closing: Option<bool>,
    /// Any byte received yet: a fresh connection is under the header deadline.
    seen_input: bool,
}

impl Flow {
    /// Feeds received bytes; answers go to `out`.
    pub fn on_input(&mut self, g: &Greeter, data: &[u8], out: &mut Vec<u8>) -> Action {
        self.seen_input = true;
        if let Some(linger) = self.closing {
            return Action::Close { linger };
        }
        if self.held || !self.tail.is_empty() {
            self.tail.extend_from_slice(data);
            return if self.held {
                Action::Hold
            } else {
                self.run_tail(g, out)
            };
        }
        let progress = self.session.handle_input(g, data, out);
        if !matches!(progress.next, Next::Close { .. }) {
            // Only an unfinished request's bytes outlive the receive buffer.
            self.tail.extend_from_slice(&data[progress.consumed..]);
        }
        self.after(g, progress.next, out)
    }

    /// Everything written so far reached the kernel: resume held input, finish a half-close.
    pub fn on_flushed(&mut self, g: &Greeter, out: &mut Vec<u8>) -> Action {
        if let Some(linger) = self.closing {
            return Action::Close { linger };
        }
        if mem::take(&mut self.held) {
            return self.run_tail(g, out);
        }
        Action::Read
    }

    /// The peer will send nothing more. Requests already received are still answered.
    pub fn on_eof(&mut self, g: &Greeter, out: &mut Vec<u8>) -> Action {
        self.eof = true;
        match self.closing {
            // Nothing left to drain from a peer that is done.
            Some(_) => self.close(false),
            None if self.held => Action::Hold,
            None => self.finish_eof(g, out),
        }
    }

    /// The phase's deadline passed: answer `408` if a request was cut off, then close.
    pub fn on_timeout(&mut self, g: &Greeter, out: &mut Vec<u8>) -> Action {
        if self.closing.is_none() {
            self.session
                .handle_timeout(g, self.seen_input && self.mid_request(), out);
        }
        self.close(false)
    }

    /// Received bytes kept for later: an unfinished request, or input held back.
    pub fn buffered(&self) -> usize {
        self.tail.len()
    }

    /// No request in progress and nothing held: safe to close while draining.
    pub fn is_idle(&self) -> bool {
        !self.mid_request() && !self.held && self.closing.is_none()
    }

    /// Set to close once the output is written.
    pub fn is_closing(&self) -> bool {
        self.closing.is_some()
    }

    /// Closing, but draining the peer's input first.
    pub fn lingers(&self) -> bool {
        self.closing == Some(true)
    }

    /// Whether reading should continue: not held back, peer not done, not closing outright.
    pub fn wants_input(&self) -> bool {
        !self.held && !self.eof && self.closing != Some(false)
    }

    /// Graceful shutdown: an idle connection closes now; a busy one finishes first.
    pub fn on_shutdown(&mut self) -> Option<Action> {
        self.is_idle().then(|| self.close(false))
    }

    /// The timeout that applies, given whether output is still pending.
    pub fn phase(&self, writing: bool) -> Phase {
        match (writing, self.closing) {
            (true, _) => Phase::Write,
            (false, Some(true)) => Phase::Linger,
            _ if !self.seen_input || self.mid_request() => Phase::Head,
            _ => Phase::Idle,
        }
    }

    fn mid_request(&self) -> bool {
        !self.tail.is_empty() || self.session.in_body()
    }

    fn run_tail(&mut self, g: &Greeter, out: &mut Vec<u8>) -> Action {
        let mut tail = mem::take(&mut self.tail);
        let progress = self.session.handle_input(g, &tail, out);
        tail.drain(..progress.consumed);
        if !tail.is_empty() {
            self.tail = tail;
        }
        self.after(g, progress.next, out)
    }

    fn after(&mut self, g: &Greeter, next: Next, out: &mut Vec<u8>) -> Action {
        match next {
            Next::Read if self.eof => self.finish_eof(g, out),
            Next::Read => Action::Read,
            Next::Flush => {
                self.held = true;
                Action::Hold
            }
            Next::Close { linger } => self.close(linger),
        }
    }

    fn finish_eof(&mut self, g: &Greeter, out: &mut Vec<u8>) -> Action {
        let Next::Close { linger } = self.session.handle_eof(g, out) else {
            return Action::Read;
        };
        self.close(linger && !self.eof)
    }

    fn close(&mut self, linger: bool) -> Action {
        self.closing = Some(linger);
        self.tail = Vec::new();
        Action::Close { linger }
    }
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
