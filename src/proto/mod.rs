//! Sans-IO protocol core: bytes in, response bytes out. No sockets, no clock reads, no
//! file I/O, no threads; imports nothing from the crate outside `proto`.
//!
//! A backend owns one [`Flow`] per connection and feeds it what happens (bytes received,
//! output written, end of stream, a deadline passed, shutdown); the flow appends every
//! answer it can give to a caller-owned [`Output`] (with an access-log record per answer
//! when asked) and returns the [`Action`] the backend must take, and
//! [`Flow::poll_timeout`] says when it next needs attention. Inside, the session parses and
//! answers requests. The time arrives from outside, through [`Greeter::set_time`] and the
//! `now` arguments; the `/metrics` body comes from an exposition that renders counters
//! already kept. Every backend drives the same code, so behaviour is identical by
//! construction, and unit tests cover it without I/O.

use std::time::Duration;

mod body;
mod canned;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod check;
mod chunked;
mod counter;
mod date;
mod durations;
mod fields;
mod flow;
mod greeter;
mod head;
mod host;
mod names;
mod preface;
mod record;
mod response;
mod route;
mod session;
mod settings;
mod status;
mod tally;
mod tick;

pub(crate) use counter::Counter;
pub(crate) use durations::{BOUNDS_MICROS, CLASSES, Observed};
pub use flow::{Action, CloseReason, FIRST_REQUEST_GRACE, Flow};
pub(crate) use greeter::Exposition;
pub use greeter::Greeter;
pub use preface::Refusal;
pub use record::{Answered, Output, Requested};
use session::Session;
pub(crate) use status::Route;
pub(crate) use tally::Tally;

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// HTTP/1.1 with keep-alive and pipelining.
    #[default]
    Http,
    /// Read once, write the greeting, close.
    Raw,
}

/// The settings `proto` needs; everything else about a server is the backend's. Built
/// from its default, then changed field by field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProtoConfig {
    /// HTTP/1.1 or the raw greet-and-close protocol.
    pub protocol: Protocol,
    /// The body of `GET /` and the line the raw protocol writes.
    pub greeting: String,
    /// Longest request head (request line and headers); `431`/`414` above it.
    pub max_header_bytes: usize,
    /// Longest request body read and discarded; `413` above it.
    pub max_body_bytes: u64,
    /// Output a connection may have pending before its input is no longer processed.
    pub max_pending_output: usize,
    /// Per-connection deadlines.
    pub timeouts: Timeouts,
    /// Which routes this listener serves.
    pub site: Site,
    /// Every connection begins with a PROXY protocol preface (version 1 or 2) naming the
    /// client, as a load balancer sends it (`--proxy-protocol`); one without is closed.
    pub proxy_protocol: bool,
}

/// Per-connection timeouts every backend enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Timeouts {
    /// Deadline for a whole request head (and body), from its first byte, or from accept.
    pub header: Duration,
    /// Keep-alive connections idle between requests, and writes that make no progress.
    pub idle: Duration,
    /// How long a closing connection drains unread input after an error response.
    pub linger: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            linger: Duration::from_secs(2),
        }
    }
}

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Site {
    /// The greeting routes, `/healthz`, and `/metrics` when the server exposes metrics
    /// here.
    #[default]
    Main,
    /// The admin listener of `--metrics-listen`: `/metrics` and `/healthz` only.
    Admin,
}

impl Default for ProtoConfig {
    fn default() -> Self {
        ProtoConfig {
            protocol: Protocol::Http,
            greeting: "Hello, world!".to_owned(),
            max_header_bytes: 8 * 1024,
            max_body_bytes: 64 * 1024,
            max_pending_output: 64 * 1024,
            timeouts: Timeouts::default(),
            site: Site::Main,
            proxy_protocol: false,
        }
    }
}

/// What the connection does next, once the output produced so far is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// Keep reading; unconsumed input is the start of an unfinished request.
    Read,
    /// Output passed the backpressure bound: stop reading, write, then call again with
    /// the unconsumed input.
    Flush,
    /// Close after the output is written. With `linger`, the client may still be sending
    /// (an error cut its request short): shut down writing and drain its input briefly,
    /// so the kernel does not answer unread bytes with a reset that destroys the response.
    Close { linger: bool, reason: CloseReason },
}

/// The result of feeding input; the caller must drop `consumed` bytes and act on `next`.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Progress {
    consumed: usize,
    next: Next,
}

#[cfg(test)]
mod body_tests;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
