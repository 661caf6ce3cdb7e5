//! One connection's protocol state: pipelined requests answered in order, request bodies
//! (length-framed or chunked; discarded, or read for `POST /greet`), `Expect:
//! 100-continue`, the backpressure bound, and the raw greet-and-close protocol.

use std::sync::Arc;
use std::time::Instant;

use super::body::{Answer, Body};
use super::head::{self, BodyFraming, Head, Parsed};
use super::names;
use super::record::{Output, Requested, Source};
use super::response::{self, Persist, Reply, Sources};
use super::route::{self, Routed};
use super::status::Status;
use super::tally::Tally;
use super::{CloseReason, Greeter, Next, Progress, Protocol};

/// Per-connection state. Idle, it is one null pointer: an idle connection must stay small.
#[derive(Debug, Default)]
pub(super) struct Session {
    /// A request whose body is still arriving, and the answer it will get.
    body: Option<Box<PendingBody>>,
}

#[derive(Debug)]
struct PendingBody {
    body: Body,
    persist: bool,
    minor: u8,
    /// When the request's first bytes arrived.
    started: Instant,
    /// The request, kept only for the access log.
    line: Option<Requested>,
    /// When the head was complete: its answer's duration counts from here.
    head_at: Instant,
    _in_flight: InFlight,
}

/// A request counted in flight (its body arriving) until this is dropped: answered, or
/// its connection gone.
#[derive(Debug)]
struct InFlight(Arc<Tally>);

impl InFlight {
    fn begin(tally: &Arc<Tally>) -> InFlight {
        tally.body_began();
        InFlight(Arc::clone(tally))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.body_ended();
    }
}

/// The request an answer is for, as the access log records it: its line, and when its
/// first bytes arrived; and, for its duration, when its head was complete if that was in
/// an earlier pass over the input (`None`: in this one).
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    source: Source<'a>,
    started: Instant,
    head_at: Option<Instant>,
}

impl Line<'_> {
    /// A request refused before its line was read.
    fn unknown(started: Instant) -> Line<'static> {
        Line {
            source: Source::Unknown,
            started,
            head_at: None,
        }
    }
}

impl Session {
    /// Consumes as many whole requests from `input` as the backpressure bound allows and
    /// appends their responses to `out`; `started` is when `input`'s first bytes arrived.
    /// Unconsumed bytes must be passed again, with more input appended, on the next call.
    pub(super) fn handle_input(
        &mut self,
        g: &Greeter,
        input: &[u8],
        out: &mut Output<'_>,
        started: Instant,
    ) -> Progress {
        match g.settings.protocol() {
            Protocol::Http => self.http(g, input, out, started),
            Protocol::Raw if input.is_empty() => Progress {
                consumed: 0,
                next: Next::Read,
            },
            Protocol::Raw => {
                greet_raw(g, out);
                Progress {
                    consumed: input.len(),
                    next: Next::Close {
                        linger: false,
                        reason: CloseReason::Client,
                    },
                }
            }
        }
    }

    /// The peer finished sending. The raw protocol still greets; HTTP has nothing to add.
    pub(super) fn handle_eof(&mut self, g: &Greeter, out: &mut Output<'_>) -> Next {
        if g.settings.protocol() == Protocol::Raw {
            greet_raw(g, out);
        }
        Next::Close {
            linger: false,
            reason: CloseReason::Client,
        }
    }

    /// The connection's deadline passed. A client cut off mid-request (begun at
    /// `started`) learns why (`408`).
    pub(super) fn handle_timeout(
        &mut self,
        g: &Greeter,
        started: Option<Instant>,
        out: &mut Output<'_>,
    ) {
        let started = self.body.as_ref().map(|b| b.started).or(started);
        if let (Some(started), Protocol::Http) = (started, g.settings.protocol()) {
            reject(g, Status::RequestTimeout, Line::unknown(started), out);
        }
    }

    /// Whether a request body is still being read.
    pub(super) fn in_body(&self) -> bool {
        self.body.is_some()
    }

    /// Bytes of a body held for its answer (`POST /greet`).
    pub(super) fn buffered(&self) -> usize {
        self.body.as_ref().map_or(0, |b| b.body.buffered())
    }

    fn http(
        &mut self,
        g: &Greeter,
        input: &[u8],
        out: &mut Output<'_>,
        started: Instant,
    ) -> Progress {
        let mut pos = 0;
        loop {
            if let Some(next) = self.read_body(g, input, &mut pos, out) {
                return progress(input, pos, next);
            }
            if pos == input.len() {
                return progress(input, pos, Next::Read);
            }
            if out.bytes.len() >= g.settings.config().max_pending_output {
                return progress(input, pos, Next::Flush);
            }
            let at = Request { input, started };
            if let Some(next) = self.next_request(g, at, &mut pos, out) {
                return progress(input, pos, next);
            }
        }
    }

    /// Reads what `input[*pos..]` holds of a body in progress; answers once it ends.
    /// `None` means go on with the next request.
    fn read_body(
        &mut self,
        g: &Greeter,
        input: &[u8],
        pos: &mut usize,
        out: &mut Output<'_>,
    ) -> Option<Next> {
        let pending = self.body.as_mut()?;
        match pending.body.read(&input[*pos..]) {
            Err(status) => return Some(reject(g, status, line_of(pending), out)),
            Ok((used, false)) => {
                *pos += used;
                return Some(Next::Read);
            }
            Ok((used, true)) => *pos += used,
        }
        let done = *self.body.take()?;
        let head = Persisting {
            persist: done.persist,
            minor: done.minor,
            at_end: *pos == input.len(),
        };
        let line = Line {
            source: done.line.as_ref().map_or(Source::Unknown, Source::Kept),
            started: done.started,
            head_at: Some(done.head_at),
        };
        answer(g, &done.body.into_reply(), head, line, out)
    }

    /// Handles the request at `input[*pos..]`; `None` means go on with the next one.
    fn next_request(
        &mut self,
        g: &Greeter,
        Request { input, started }: Request<'_>,
        pos: &mut usize,
        out: &mut Output<'_>,
    ) -> Option<Next> {
        let config = g.settings.config();
        let head = match head::parse(&input[*pos..], config.max_header_bytes) {
            Parsed::Partial => return Some(Next::Read),
            Parsed::Reject(status) => return Some(reject(g, status, Line::unknown(started), out)),
            Parsed::Complete(head) => head,
        };
        let raw = &input[*pos..*pos + head.len];
        *pos += head.len;
        let line = Line {
            source: Source::Head(raw),
            started,
            head_at: None,
        };
        if matches!(head.body, BodyFraming::Length(n) if n > config.max_body_bytes) {
            return Some(reject(g, Status::PayloadTooLarge, line, out));
        }
        let persisting = Persisting {
            persist: head.persist,
            minor: head.minor,
            at_end: *pos == input.len(),
        };
        let planned = match route::route(head.method, head.target, g) {
            Routed::Reply(reply) if head.body == BodyFraming::None => Err(reply),
            // No body, no name.
            Routed::GreetFromBody if head.body == BodyFraming::None => {
                Err(Reply::error(Status::BadRequest))
            }
            Routed::Reply(reply) => Ok(Answer::Reply(reply.into_owned())),
            Routed::GreetFromBody => Ok(greet_from_body(&head)),
        };
        match planned {
            Err(reply) => answer(g, &reply, persisting, line, out),
            Ok(planned) => self.start_body(g, (&head, line), planned, out),
        }
    }

    /// A request with a body: refuse it at once if the client waits for our go-ahead and
    /// the answer is a refusal (RFC 9110 §10.1.1), else read the body (after `100
    /// Continue`, if the client waits for it).
    fn start_body(
        &mut self,
        g: &Greeter,
        (head, line): (&Head<'_>, Line<'_>),
        answer: Answer,
        out: &mut Output<'_>,
    ) -> Option<Next> {
        if let Answer::Reply(reply) = &answer
            && head.expect_continue
            && !reply.status.is_success()
        {
            // The client may or may not send the body now: the framing is lost.
            return Some(close_with(g, reply, line, out));
        }
        let config = g.settings.config();
        let max_trailer = config.max_header_bytes;
        let body = Body::new(head.body, answer, config.max_body_bytes, max_trailer)?;
        if head.expect_continue {
            out.bytes.extend_from_slice(response::CONTINUE);
        }
        let kept = match line.source {
            Source::Head(raw) if out.keeps_records() => Some(Requested::from_head(raw)),
            _ => None,
        };
        self.body = Some(Box::new(PendingBody {
            body,
            persist: head.persist,
            minor: head.minor,
            started: line.started,
            line: kept,
            head_at: out.now(),
            _in_flight: InFlight::begin(&g.tally),
        }));
        None
    }
}

/// Input being parsed, and when its first bytes arrived.
#[derive(Debug, Clone, Copy)]
struct Request<'a> {
    input: &'a [u8],
    started: Instant,
}

/// A pending body's request, kept if the access log wants it.
fn line_of(pending: &PendingBody) -> Line<'_> {
    Line {
        source: pending.line.as_ref().map_or(Source::Unknown, Source::Kept),
        started: pending.started,
        head_at: Some(pending.head_at),
    }
}

/// Whether the connection persists after an answer, and how to say so.
#[derive(Debug, Clone, Copy)]
struct Persisting {
    persist: bool,
    /// HTTP/1.`minor`.
    minor: u8,
    /// The answer ends the received input (while draining, it then closes).
    at_end: bool,
}

/// What a `POST /greet` body must be: a media type greeter reads, with no transfer coding
/// but chunked (else `415`).
fn greet_from_body(head: &Head<'_>) -> Answer {
    match names::media(head.content_type).filter(|_| !head.coded) {
        Some(media) => Answer::Greet(media),
        None => Answer::Reply(Reply::error(Status::UnsupportedMediaType)),
    }
}

/// The result of a call: a read waits with the unconsumed input; anything that closes the
/// connection discards the rest.
fn progress(input: &[u8], pos: usize, next: Next) -> Progress {
    let consumed = match next {
        Next::Read | Next::Flush => pos,
        Next::Close { .. } => input.len(),
    };
    Progress { consumed, next }
}

/// Encodes `reply`; returns the closing [`Next`] when the connection ends after it.
///
/// While draining, the answer to the request that ends the received input closes the
/// connection: requests already received are all answered, and the client is told.
fn answer(
    g: &Greeter,
    reply: &Reply<'_>,
    p: Persisting,
    line: Line<'_>,
    out: &mut Output<'_>,
) -> Option<Next> {
    let close = !p.persist || (g.is_draining() && p.at_end);
    let header = match (close, p.minor) {
        (true, _) => Persist::Close,
        (false, 0) => Persist::KeepAlive,
        (false, _) => Persist::Default,
    };
    respond(g, reply, header, line, out);
    let reason = match p.persist {
        true => CloseReason::Shutdown,
        false => CloseReason::Client,
    };
    close.then_some(Next::Close {
        linger: !p.at_end,
        reason,
    })
}

/// Answers a request that cannot be read further; the connection closes after it.
fn reject(g: &Greeter, status: Status, line: Line<'_>, out: &mut Output<'_>) -> Next {
    close_with(g, &Reply::error(status), line, out)
}

/// Answers with `reply` and closes, draining what the client may still send.
fn close_with(g: &Greeter, reply: &Reply<'_>, line: Line<'_>, out: &mut Output<'_>) -> Next {
    respond(g, reply, Persist::Close, line, out);
    Next::Close {
        linger: true,
        reason: CloseReason::Error,
    }
}

/// Encodes `reply`, then counts it (after encoding: a scrape does not count itself) and
/// records it for the access log.
fn respond(g: &Greeter, reply: &Reply<'_>, persist: Persist, line: Line<'_>, out: &mut Output<'_>) {
    let before = out.bytes.len();
    match g
        .tick
        .canned()
        .get(reply)
        .filter(|_| persist == Persist::Default)
    {
        Some(bytes) => out.bytes.extend_from_slice(bytes),
        None => encode(g, reply, persist, out.bytes),
    }
    g.tally.answered(reply.route, reply.status);
    // An answer queued in the pass over the input that completed its head took
    // microseconds, under the first bucket: no clock reading for it.
    let elapsed = line
        .head_at
        .map(|at| out.now().saturating_duration_since(at));
    let elapsed = elapsed.unwrap_or_default();
    g.tally.timed(reply.route, reply.status, elapsed);
    out.record(line.source, reply.status.code(), before, line.started);
}

/// Encodes a reply the canned answers do not hold, from the parts it needs.
fn encode(g: &Greeter, reply: &Reply<'_>, persist: Persist, out: &mut Vec<u8>) {
    let metrics = match reply.body {
        response::Body::Metrics => g.metrics(),
        _ => &[],
    };
    let from = Sources {
        date: g.tick.date().as_bytes(),
        greeting: g.settings.greeting(),
        metrics,
    };
    response::encode(out, reply, persist, from);
}

/// The raw protocol's greeting.
fn greet_raw(g: &Greeter, out: &mut Output<'_>) {
    out.bytes.extend_from_slice(g.settings.raw_line());
    g.tally.greeted();
}
