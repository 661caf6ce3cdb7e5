//! Sans-IO protocol core: bytes in, response bytes out. No sockets, no clock reads, no
//! threads; imports nothing from the crate outside `proto`.
//!
//! A backend owns one [`Flow`] per connection and feeds it what happens (bytes received,
//! output written, end of stream, a deadline passed, shutdown); the flow appends every
//! answer it can give to a caller-owned buffer and returns the [`Action`] the backend must
//! take, and [`Flow::poll_timeout`] says when it next needs attention. Inside, the
//! session parses and answers requests. The time arrives from outside, through
//! [`Greeter::set_time`] and the `now` arguments. Every backend drives the same code, so
//! behaviour is identical by construction, and unit tests cover it without I/O.

mod body;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod check;
mod chunked;
mod conn;
mod date;
mod fields;
mod head;
mod names;
mod response;
mod route;
mod session;

use std::time::SystemTime;

pub use conn::{Action, Flow, Timeouts};
use date::DateCache;
use session::Session;

/// Which protocol a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// HTTP/1.1 with keep-alive and pipelining.
    #[default]
    Http,
    /// Read once, write the greeting, close.
    Raw,
}

/// The settings `proto` needs; everything else about a server is the backend's.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    Close { linger: bool },
}

/// The result of feeding input; the caller must drop `consumed` bytes and act on `next`.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Progress {
    consumed: usize,
    next: Next,
}

/// Per-worker protocol state shared by all its connections: settings, the Date cache, and
/// whether the server is draining.
#[derive(Debug, Clone)]
pub struct Greeter {
    config: ProtoConfig,
    /// What the raw protocol writes: the greeting and a newline.
    raw_line: Box<[u8]>,
    date: DateCache,
    draining: bool,
}

impl Greeter {
    /// Protocol state for `config`, with the Date header at `now`.
    pub fn new(config: ProtoConfig, now: SystemTime) -> Self {
        let raw_line = format!("{}\n", config.greeting)
            .into_bytes()
            .into_boxed_slice();
        Greeter {
            config,
            raw_line,
            date: DateCache::new(now),
            draining: false,
        }
    }

    /// The settings it was made with.
    pub fn config(&self) -> &ProtoConfig {
        &self.config
    }

    /// Per-connection deadlines.
    pub fn timeouts(&self) -> &Timeouts {
        &self.config.timeouts
    }

    /// Input a connection may hold while its reading is paused (a backend's read can
    /// still deliver bytes after it was asked to stop): an unfinished head, plus as much
    /// again as the output bound. A client that sends more before reading is cut off.
    fn max_held_input(&self) -> usize {
        self.config.max_header_bytes + self.config.max_pending_output
    }

    /// Refreshes the Date header; the backend calls this from its periodic timer.
    pub fn set_time(&mut self, now: SystemTime) {
        self.date.update(now);
    }

    /// From now on `/healthz` answers `503` and the response that ends a connection's
    /// received input says `Connection: close`.
    pub fn start_draining(&mut self) {
        self.draining = true;
    }

    /// Whether [`Greeter::start_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining
    }
}

#[cfg(test)]
mod body_tests;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
