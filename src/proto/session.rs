//! One connection's protocol state: pipelined requests answered in order, request bodies
//! (length-framed or chunked; discarded, or read for `POST /greet`), `Expect:
//! 100-continue`, the backpressure bound, and the raw greet-and-close protocol.

use super::body::{Answer, Body};
use super::head::{self, BodyFraming, Head, Parsed};
use super::names;
use super::response::{self, Persist, Reply, Status};
use super::route::{self, Routed};
use super::{Greeter, Next, Progress, Protocol};

/// Per-connection state. Idle, it is one null pointer: an idle connection must stay small.
#[derive(Debug, Default)]
pub struct Session {
    /// A request whose body is still arriving, and the answer it will get.
    body: Option<Box<PendingBody>>,
}

#[derive(Debug)]
struct PendingBody {
    body: Body,
    persist: bool,
    minor: u8,
}

impl Session {
    /// Consumes as many whole requests from `input` as the backpressure bound allows and
    /// appends their responses to `out`. Unconsumed bytes must be passed again, with more
    /// input appended, on the next call.
    pub fn handle_input(&mut self, g: &Greeter, input: &[u8], out: &mut Vec<u8>) -> Progress {
        match g.config.protocol {
            Protocol::Http => self.http(g, input, out),
            Protocol::Raw if input.is_empty() => Progress {
                consumed: 0,
                next: Next::Read,
            },
            Protocol::Raw => {
                out.extend_from_slice(&g.raw_line);
                Progress {
                    consumed: input.len(),
                    next: Next::Close { linger: false },
                }
            }
        }
    }

    /// The peer finished sending. The raw protocol still greets; HTTP has nothing to add.
    pub fn handle_eof(&mut self, g: &Greeter, out: &mut Vec<u8>) -> Next {
        if g.config.protocol == Protocol::Raw {
            out.extend_from_slice(&g.raw_line);
        }
        Next::Close { linger: false }
    }

    /// The connection's deadline passed. A client cut off mid-request learns why (`408`).
    pub fn handle_timeout(&mut self, g: &Greeter, mid_request: bool, out: &mut Vec<u8>) {
        if mid_request && g.config.protocol == Protocol::Http {
            reject(g, Status::RequestTimeout, out);
        }
    }

    /// Whether a request body is still being read.
    pub fn in_body(&self) -> bool {
        self.body.is_some()
    }

    /// Bytes of a body held for its answer (`POST /greet`).
    pub fn buffered(&self) -> usize {
        self.body.as_ref().map_or(0, |b| b.body.buffered())
    }

    fn http(&mut self, g: &Greeter, input: &[u8], out: &mut Vec<u8>) -> Progress {
        let mut pos = 0;
        loop {
            if let Some(next) = self.read_body(g, input, &mut pos, out) {
                return progress(input, pos, next);
            }
            if pos == input.len() {
                return progress(input, pos, Next::Read);
            }
            if out.len() >= g.config.max_pending_output {
                return progress(input, pos, Next::Flush);
            }
            if let Some(next) = self.next_request(g, input, &mut pos, out) {
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
        out: &mut Vec<u8>,
    ) -> Option<Next> {
        let pending = self.body.as_mut()?;
        match pending.body.read(&input[*pos..]) {
            Err(status) => return Some(reject(g, status, out)),
            Ok((used, false)) => {
                *pos += used;
                return Some(Next::Read);
            }
            Ok((used, true)) => *pos += used,
        }
        let PendingBody {
            body,
            persist,
            minor,
        } = *self.body.take()?;
        answer(
            g,
            &body.into_reply(),
            persist,
            minor,
            *pos == input.len(),
            out,
        )
    }

    /// Handles the request at `input[*pos..]`; `None` means go on with the next one.
    fn next_request(
        &mut self,
        g: &Greeter,
        input: &[u8],
        pos: &mut usize,
        out: &mut Vec<u8>,
    ) -> Option<Next> {
        let head = match head::parse(&input[*pos..], g.config.max_header_bytes) {
            Parsed::Partial => return Some(Next::Read),
            Parsed::Reject(status) => return Some(reject(g, status, out)),
            Parsed::Complete(head) => head,
        };
        *pos += head.len;
        if matches!(head.body, BodyFraming::Length(n) if n > g.config.max_body_bytes) {
            return Some(reject(g, Status::PayloadTooLarge, out));
        }
        let at_end = *pos == input.len();
        let planned = match route::route(head.method, head.target, g.draining) {
            Routed::Reply(reply) if head.body == BodyFraming::None => Err(reply),
            // No body, no name.
            Routed::GreetFromBody if head.body == BodyFraming::None => {
                Err(Reply::error(Status::BadRequest))
            }
            Routed::Reply(reply) => Ok(Answer::Reply(reply.into_owned())),
            Routed::GreetFromBody => Ok(greet_from_body(&head)),
        };
        match planned {
            Err(reply) => answer(g, &reply, head.persist, head.minor, at_end, out),
            Ok(planned) => self.start_body(g, &head, planned, out),
        }
    }

    /// A request with a body: refuse it at once if the client waits for our go-ahead and
    /// the answer is a refusal (RFC 9110 §10.1.1), else read the body (after `100
    /// Continue`, if the client waits for it).
    fn start_body(
        &mut self,
        g: &Greeter,
        head: &Head<'_>,
        answer: Answer,
        out: &mut Vec<u8>,
    ) -> Option<Next> {
        if let Answer::Reply(reply) = &answer
            && head.expect_continue
            && !reply.status.is_success()
        {
            // The client may or may not send the body now: the framing is lost.
            return Some(close_with(g, reply, out));
        }
        let max_trailer = g.config.max_header_bytes;
        let body = Body::new(head.body, answer, g.config.max_body_bytes, max_trailer)?;
        if head.expect_continue {
            out.extend_from_slice(response::CONTINUE);
        }
        let (persist, minor) = (head.persist, head.minor);
        self.body = Some(Box::new(PendingBody {
            body,
            persist,
            minor,
        }));
        None
    }
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
    persist: bool,
    minor: u8,
    at_end: bool,
    out: &mut Vec<u8>,
) -> Option<Next> {
    let close = !persist || (g.draining && at_end);
    let header = match (close, minor) {
        (true, _) => Persist::Close,
        (false, 0) => Persist::KeepAlive,
        (false, _) => Persist::Default,
    };
    response::encode(out, reply, header, g.config.greeting.as_bytes(), &g.date);
    close.then_some(Next::Close { linger: !at_end })
}

/// Answers a request that cannot be read further; the connection closes after it.
fn reject(g: &Greeter, status: Status, out: &mut Vec<u8>) -> Next {
    close_with(g, &Reply::error(status), out)
}

/// Answers with `reply` and closes, draining what the client may still send.
fn close_with(g: &Greeter, reply: &Reply<'_>, out: &mut Vec<u8>) -> Next {
    response::encode(
        out,
        reply,
        Persist::Close,
        g.config.greeting.as_bytes(),
        &g.date,
    );
    Next::Close { linger: true }
}
