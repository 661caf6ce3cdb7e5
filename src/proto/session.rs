//! One connection's protocol state: pipelined requests answered in order, bodies read and
//! discarded, the backpressure bound, and the raw greet-and-close protocol.

use super::head::{self, Parsed};
use super::response::{self, Persist, Reply, Status};
use super::{Greeter, Next, Progress, Protocol, route};

/// Per-connection state. Idle, it is one null pointer: an idle connection must stay small.
#[derive(Debug, Default)]
pub struct Session {
    /// A request whose body is still arriving, and the answer it will get.
    body: Option<Box<PendingBody>>,
}

#[derive(Debug)]
struct PendingBody {
    remaining: u64,
    reply: Reply<'static>,
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

    fn http(&mut self, g: &Greeter, input: &[u8], out: &mut Vec<u8>) -> Progress {
        let mut pos = 0;
        loop {
            if self.body.is_some() {
                pos += self.discard_body(&input[pos..]);
                let Some(done) = self.body.take_if(|b| b.remaining == 0) else {
                    return Progress {
                        consumed: pos,
                        next: Next::Read,
                    };
                };
                let at_end = pos == input.len();
                if let Some(next) = answer(g, &done.reply, done.persist, done.minor, at_end, out) {
                    return Progress {
                        consumed: input.len(),
                        next,
                    };
                }
            }
            if pos == input.len() {
                return Progress {
                    consumed: pos,
                    next: Next::Read,
                };
            }
            if out.len() >= g.config.max_pending_output {
                return Progress {
                    consumed: pos,
                    next: Next::Flush,
                };
            }
            if let Some(next) = self.next_request(g, input, &mut pos, out) {
                return Progress {
                    consumed: if next == Next::Read { pos } else { input.len() },
                    next,
                };
            }
        }
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
        if head.body_len > g.config.max_body_bytes {
            return Some(reject(g, Status::PayloadTooLarge, out));
        }
        let reply = route::route(head.method, head.target, g.draining);
        if head.body_len > 0 {
            let (persist, minor) = (head.persist, head.minor);
            let reply = reply.into_owned();
            self.body = Some(Box::new(PendingBody {
                remaining: head.body_len,
                reply,
                persist,
                minor,
            }));
            return None;
        }
        answer(
            g,
            &reply,
            head.persist,
            head.minor,
            *pos == input.len(),
            out,
        )
    }

    /// Drops body bytes from the front of `input`; returns how many.
    fn discard_body(&mut self, input: &[u8]) -> usize {
        let Some(body) = self.body.as_mut() else {
            return 0;
        };
        let take = body.remaining.min(input.len() as u64);
        body.remaining -= take;
        take as usize
    }
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
    response::encode(
        out,
        &Reply::error(status),
        Persist::Close,
        g.config.greeting.as_bytes(),
        &g.date,
    );
    Next::Close { linger: true }
}
