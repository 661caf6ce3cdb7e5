//! One connection's flow, shared by every backend: the unfinished-input tail, backpressure,
//! half-close, lingering after an error, graceful shutdown, and the connection's deadline.
//! Sans-IO: bytes and the current time come in as arguments (`handle_*`), answers go to a
//! caller-owned buffer, and the result is an [`Action`] the backend must act on; when the
//! connection next needs attention is [`Flow::poll_timeout`]. No sockets, no clock reads.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::preface::Refusal;
use super::record::Output;
use super::{Greeter, Next, Session};

/// What the backend does once the output produced so far is queued.
#[must_use = "the backend must act on what the flow says"]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Keep (or start) reading.
    Read,
    /// Stop reading until all output is written, then call [`Flow::handle_flushed`].
    Hold,
    /// Close once the output is written. With `linger`, shut down writing first and keep
    /// reading (the flow discards it) until the peer ends or the linger deadline passes, so
    /// the kernel does not answer unread bytes with a reset that destroys the response.
    Close {
        /// Drain the client's input briefly before closing.
        linger: bool,
    },
    /// Close now, discarding pending output: a stalled writer, an expired linger, a
    /// client that overran the input held for it.
    Abort,
}

impl Action {
    /// Whether the backend should have a read armed.
    pub fn reads(self) -> bool {
        matches!(self, Action::Read | Action::Close { linger: true })
    }
}

/// Why a connection closed, for `greeter_connections_closed_total{reason}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CloseReason {
    /// The client ended it, or asked for it (`Connection: close`, HTTP/1.0), or sent a
    /// request a front end could have framed differently (content on GET, a field named
    /// `Transfer_Encoding`), after which the connection closes.
    #[default]
    Client,
    /// Idle between requests past the idle timeout.
    IdleTimeout,
    /// A request (head or body) not complete by the header deadline.
    HeaderTimeout,
    /// Shed at the connection limit to make room for a new one.
    Shed,
    /// Bad input, a reset, an I/O error, a stalled reader, a client that overran what it
    /// may send unread.
    Error,
    /// Graceful shutdown closed it (idle, or still busy at the deadline).
    Shutdown,
}

impl CloseReason {
    /// Every reason, in the order of [`CloseReason::label`].
    pub const ALL: [CloseReason; 6] = [
        CloseReason::Client,
        CloseReason::IdleTimeout,
        CloseReason::HeaderTimeout,
        CloseReason::Shed,
        CloseReason::Error,
        CloseReason::Shutdown,
    ];

    /// The `reason` label value.
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::Client => "client",
            CloseReason::IdleTimeout => "idle_timeout",
            CloseReason::HeaderTimeout => "header_timeout",
            CloseReason::Shed => "shed",
            CloseReason::Error => "error",
            CloseReason::Shutdown => "shutdown",
        }
    }
}

/// Input kept between receives, and when its first bytes arrived (the start time of the
/// request they begin, for the access log).
#[derive(Debug)]
struct Tail {
    /// INVARIANT: not empty.
    bytes: Vec<u8>,
    arrived: Instant,
}

/// Which deadline a connection is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for or reading a request: the header deadline, not reset by bytes.
    Head,
    /// Keep-alive between requests.
    Idle,
    /// Output pending: the client must keep reading.
    Write,
    /// Draining a closing client's input after an error response.
    Linger,
}

/// Where a connection is with its PROXY protocol preface (`--proxy-protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prefaced {
    /// None expected, or taken.
    Done,
    /// Expected: what arrives is kept until it is whole.
    Awaiting,
    /// Refused: the connection is aborted unanswered.
    Refused(Refusal),
}

/// One connection's state. Small: an idle connection holds no buffer.
#[derive(Debug)]
pub struct Flow {
    session: Session,
    /// Received bytes not consumed yet: an unfinished request, or requests held back by
    /// backpressure. `None` on an idle connection.
    tail: Option<Box<Tail>>,
    /// When the current phase times out.
    deadline: Instant,
    phase: Phase,
    /// Backpressure: `tail` waits until the output is written.
    held: bool,
    /// Output was produced and not yet reported written ([`Flow::handle_flushed`]).
    writing: bool,
    /// The peer shut down its sending side.
    eof: bool,
    /// Set once the connection is to close; the value is whether it lingers.
    closing: Option<bool>,
    /// Any byte received yet: a fresh connection is under the header deadline.
    seen_input: bool,
    /// Aborted: nothing more is read or written.
    aborted: bool,
    /// Why it is closing, once it is.
    reason: CloseReason,
    prefaced: Prefaced,
    /// The client a PROXY protocol preface named (the peer is then its balancer).
    client: Option<Box<SocketAddr>>,
}

impl Flow {
    /// A connection accepted at `now`: under the header deadline until its first request
    /// (while draining, under [`FIRST_REQUEST_GRACE`] if that is sooner).
    pub fn new(g: &Greeter, now: Instant) -> Flow {
        Flow {
            session: Session::default(),
            tail: None,
            deadline: now + first_request_timeout(g),
            phase: Phase::Head,
            held: false,
            writing: false,
            eof: false,
            closing: None,
            seen_input: false,
            aborted: false,
            reason: CloseReason::Client,
            prefaced: match g.settings.proxy_protocol() {
                true => Prefaced::Awaiting,
                false => Prefaced::Done,
            },
            client: None,
        }
    }

    /// Received bytes, at `now`; answers are appended to `out`.
    pub fn handle_input(
        &mut self,
        g: &Greeter,
        data: &[u8],
        out: &mut Output<'_>,
        now: Instant,
    ) -> Action {
        if self.prefaced == Prefaced::Awaiting && self.closing.is_none() {
            let action = self.read_preface(g, data, out, now);
            return self.settle(g, action, out.bytes, now);
        }
        self.seen_input = true;
        let action = match self.closing {
            Some(_) => self.action(),
            None if self.held => self.hold_input(g, data, now),
            None => match self.tail.as_mut() {
                Some(tail) => {
                    tail.bytes.extend_from_slice(data);
                    self.run_tail(g, out)
                }
                None => self.run(g, data, out, now),
            },
        };
        self.settle(g, action, out.bytes, now)
    }

    /// Every byte of output so far reached the kernel (`out` is empty again): resume held
    /// input, finish a half-close, start lingering, close an idle connection while
    /// draining. Output left in `out` counts as still to write.
    pub fn handle_flushed(&mut self, g: &Greeter, out: &mut Output<'_>, now: Instant) -> Action {
        self.writing = false;
        let action = match self.closing {
            Some(_) => self.action(),
            None if std::mem::take(&mut self.held) => self.run_tail(g, out),
            None => Action::Read,
        };
        self.settle(g, action, out.bytes, now)
    }

    /// A write made progress: a reader that keeps reading is not stalled, however long
    /// the whole answer takes.
    pub fn handle_progress(&mut self, g: &Greeter, now: Instant) {
        if self.phase == Phase::Write {
            self.deadline = now + timeout(g, Phase::Write);
        }
    }

    /// The peer will send nothing more. Requests already received are still answered.
    pub fn handle_eof(&mut self, g: &Greeter, out: &mut Output<'_>, now: Instant) -> Action {
        self.eof = true;
        let action = match self.closing {
            // Nothing left to drain from a peer that is done.
            Some(_) => self.close(false, self.reason),
            None if self.prefaced == Prefaced::Awaiting => {
                self.unfinished_preface(g, CloseReason::Client)
            }
            None if self.held => Action::Hold,
            None => self.finish_eof(g, out),
        };
        self.settle(g, action, out.bytes, now)
    }

    /// [`Flow::poll_timeout`] has passed. A request cut off mid-way is told why (`408`)
    /// and the connection closes; a stalled writer or an expired linger is aborted.
    pub fn handle_timeout(&mut self, g: &Greeter, out: &mut Output<'_>, now: Instant) -> Action {
        match self.phase {
            Phase::Write => return self.abort(CloseReason::Error), // a stalled reader
            Phase::Linger => return self.abort(self.reason),
            Phase::Head | Phase::Idle => {}
        }
        if self.prefaced == Prefaced::Awaiting && self.closing.is_none() {
            return self.unfinished_preface(g, CloseReason::HeaderTimeout);
        }
        if self.closing.is_none() {
            let begun = self.tail.as_ref().map(|t| t.arrived);
            self.session.handle_timeout(g, begun, out);
        }
        let reason = match self.phase {
            Phase::Idle => CloseReason::IdleTimeout,
            _ if g.is_draining() && !self.seen_input => CloseReason::Shutdown,
            _ => CloseReason::HeaderTimeout,
        };
        let action = self.close(false, reason);
        self.settle(g, action, out.bytes, now)
    }

    /// Graceful shutdown began ([`Greeter::start_draining`]): an idle connection closes
    /// now; a busy one, or a new one yet to send its request, gets one more answer, which
    /// says `Connection: close`.
    pub fn handle_shutdown(&mut self, g: &Greeter, now: Instant) -> Action {
        if !self.seen_input {
            self.deadline = self.deadline.min(now + first_request_timeout(g));
        }
        let action = self.action();
        self.settle(g, action, &[], now)
    }

    /// When the connection's current deadline passes; then call [`Flow::handle_timeout`].
    pub fn poll_timeout(&self) -> Instant {
        self.deadline
    }

    /// What the connection should be doing now: the [`Action`] the last `handle_*`
    /// returned, for a backend whose own I/O state changed since (a read ended).
    pub fn poll_action(&self) -> Action {
        self.action()
    }

    /// Between requests with nothing pending: closing it loses nothing (nginx's
    /// "reusable" connection, the first to go at the connection limit).
    pub fn is_idle(&self) -> bool {
        self.phase == Phase::Idle && !self.writing && self.closing.is_none()
    }

    /// Received bytes kept: an unfinished request, input held back, a body held for its
    /// answer.
    pub fn buffered(&self) -> usize {
        self.tail.as_ref().map_or(0, |t| t.bytes.len()) + self.session.buffered()
    }

    /// Input arriving while held (a read cancelled, its completions still coming) waits,
    /// up to a bound: a client that overruns it is cut off.
    fn hold_input(&mut self, g: &Greeter, data: &[u8], now: Instant) -> Action {
        if self.buffered_tail() + data.len() > g.settings.max_held_input() {
            return self.abort(CloseReason::Error);
        }
        self.keep(data, now);
        Action::Hold
    }

    fn buffered_tail(&self) -> usize {
        self.tail.as_ref().map_or(0, |t| t.bytes.len())
    }

    /// Keeps `data`, which arrived at `now`, after what is kept already.
    fn keep(&mut self, data: &[u8], now: Instant) {
        match self.tail.as_mut() {
            Some(tail) => tail.bytes.extend_from_slice(data),
            None if data.is_empty() => {}
            None => {
                let bytes = data.to_vec();
                self.tail = Some(Box::new(Tail {
                    bytes,
                    arrived: now,
                }));
            }
        }
    }

    fn run(&mut self, g: &Greeter, data: &[u8], out: &mut Output<'_>, now: Instant) -> Action {
        let progress = self.session.handle_input(g, data, out, now);
        let rest = &data[progress.consumed..];
        if let Some(overrun) = self.overrun(g, progress.next, rest.len()) {
            return overrun;
        }
        if !matches!(progress.next, Next::Close { .. }) {
            // Only an unfinished request's bytes, or input held back within the bound,
            // outlive the receive buffer.
            self.keep(rest, now);
        }
        self.after(g, progress.next, out)
    }

    fn run_tail(&mut self, g: &Greeter, out: &mut Output<'_>) -> Action {
        let Some(mut tail) = self.tail.take() else {
            return self.after(g, Next::Read, out);
        };
        let progress = self.session.handle_input(g, &tail.bytes, out, tail.arrived);
        tail.bytes.drain(..progress.consumed);
        if let Some(overrun) = self.overrun(g, progress.next, tail.bytes.len()) {
            return overrun;
        }
        if !tail.bytes.is_empty() && !matches!(progress.next, Next::Close { .. }) {
            self.tail = Some(tail);
        }
        self.after(g, progress.next, out)
    }

    /// Output paused with more than the bound left over (one receive can carry hundreds
    /// of KiB): held input may never pass the bound, so the client is cut off.
    fn overrun(&mut self, g: &Greeter, next: Next, rest: usize) -> Option<Action> {
        let bound = g.settings.max_held_input();
        (next == Next::Flush && rest > bound).then(|| self.abort(CloseReason::Error))
    }

    fn after(&mut self, g: &Greeter, next: Next, out: &mut Output<'_>) -> Action {
        match next {
            Next::Read if self.eof => self.finish_eof(g, out),
            Next::Read => Action::Read,
            Next::Flush => {
                self.held = true;
                Action::Hold
            }
            Next::Close { linger, reason } => self.close(linger, reason),
        }
    }

    fn finish_eof(&mut self, g: &Greeter, out: &mut Output<'_>) -> Action {
        let Next::Close { linger, reason } = self.session.handle_eof(g, out) else {
            return Action::Read;
        };
        self.close(linger && !self.eof, reason)
    }

    /// Records what a step produced, closes an idle connection while draining, and moves
    /// the deadline if the phase changed.
    fn settle(&mut self, g: &Greeter, action: Action, out: &[u8], now: Instant) -> Action {
        if action == Action::Abort {
            return action;
        }
        self.writing |= !out.is_empty();
        let action = if g.is_draining() && self.quiet() {
            self.close(false, CloseReason::Shutdown)
        } else {
            action
        };
        self.enter(g, self.current_phase(), now);
        action
    }

    /// Between requests: one answered, none begun, nothing held or pending, not closing.
    /// A connection yet to send its first request is not quiet: a client connects to send
    /// one, so while draining it gets [`FIRST_REQUEST_GRACE`] for it to arrive (as Go's
    /// `Shutdown` spares new connections), and connections accepted as a restart began
    /// are served.
    fn quiet(&self) -> bool {
        self.seen_input
            && !self.mid_request()
            && !self.held
            && !self.writing
            && self.closing.is_none()
    }

    fn current_phase(&self) -> Phase {
        match (self.writing, self.closing) {
            (true, _) => Phase::Write,
            (false, Some(true)) => Phase::Linger,
            _ if !self.seen_input || self.mid_request() => Phase::Head,
            _ => Phase::Idle,
        }
    }

    fn enter(&mut self, g: &Greeter, phase: Phase, now: Instant) {
        if phase != self.phase {
            self.deadline = now + timeout(g, phase);
            self.phase = phase;
        }
    }

    fn action(&self) -> Action {
        match self.closing {
            _ if self.aborted => Action::Abort,
            Some(linger) => Action::Close { linger },
            None if self.held => Action::Hold,
            None => Action::Read,
        }
    }

    fn mid_request(&self) -> bool {
        self.tail.is_some() || self.session.in_body()
    }

    /// Why the connection is closing (the client, by default, until it is).
    pub fn close_reason(&self) -> CloseReason {
        self.reason
    }

    fn close(&mut self, linger: bool, reason: CloseReason) -> Action {
        self.reason = reason;
        self.closing = Some(linger);
        self.tail = None;
        Action::Close { linger }
    }

    fn abort(&mut self, reason: CloseReason) -> Action {
        self.reason = reason;
        self.aborted = true;
        self.closing = Some(false);
        self.tail = None;
        Action::Abort
    }
}

/// While draining, how long a connection that has sent nothing yet may take to send its
/// first request: a client sends it right after connecting, within a round trip.
pub const FIRST_REQUEST_GRACE: Duration = Duration::from_secs(2);

fn first_request_timeout(g: &Greeter) -> Duration {
    match g.is_draining() {
        true => g.timeouts().header.min(FIRST_REQUEST_GRACE),
        false => g.timeouts().header,
    }
}

/// How long `phase` may last.
fn timeout(g: &Greeter, phase: Phase) -> Duration {
    let t = g.timeouts();
    match phase {
        Phase::Head => t.header,
        Phase::Idle | Phase::Write => t.idle,
        Phase::Linger => t.linger,
    }
}

#[path = "flow_preface.rs"]
mod preface;

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "preface_flow_tests.rs"]
mod preface_tests;
