//! What a flow step puts out: the bytes to send, and (when an access log is kept) one
//! [`Answered`] record per request answered, each with its own request's start time.
//! Both go to buffers the caller owns, as in rustls' unbuffered API: nothing of it stays
//! in the connection.

use std::time::Instant;

/// One answered request, for the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Answered {
    /// The method, or `-` for a request refused before it was parsed.
    pub method: String,
    /// The request target, or `-`.
    pub target: String,
    /// The status answered.
    pub status: u16,
    /// Bytes of the answer, head and body.
    pub bytes: usize,
    /// When this request's first bytes arrived on its connection.
    pub started: Instant,
}

/// Where a flow step's output goes.
#[derive(Debug)]
pub struct Output<'a> {
    /// Answers are appended here, to be written in order.
    pub bytes: &'a mut Vec<u8>,
    /// A record of each answered request is appended here, if an access log is kept.
    pub records: Option<&'a mut Vec<Answered>>,
    /// The step's clock reading, taken at its first timed answer and shared by the rest:
    /// one reading per batch of input, however many requests it holds.
    now: Option<Instant>,
}

impl<'a> Output<'a> {
    /// Output to `bytes`, and records to `records` if an access log is kept.
    pub fn new(bytes: &'a mut Vec<u8>, records: Option<&'a mut Vec<Answered>>) -> Output<'a> {
        Output {
            bytes,
            records,
            now: None,
        }
    }

    /// Output to `bytes` only: no access log.
    pub fn bytes(bytes: &'a mut Vec<u8>) -> Output<'a> {
        Output::new(bytes, None)
    }

    /// The time now, as this step reads it: the first call reads the clock.
    pub(super) fn now(&mut self) -> Instant {
        *self.now.get_or_insert_with(Instant::now)
    }

    /// Records an answer of `bytes` bytes with `status` to `method target`, if records
    /// are kept.
    pub(super) fn record(
        &mut self,
        line: (&str, &[u8]),
        status: u16,
        bytes: usize,
        started: Instant,
    ) {
        if let Some(records) = self.records.as_mut() {
            records.push(Answered {
                method: line.0.to_owned(),
                target: String::from_utf8_lossy(line.1).into_owned(),
                status,
                bytes,
                started,
            });
        }
    }

    /// Whether records are kept (the request line is worth keeping for them).
    pub(super) fn keeps_records(&self) -> bool {
        self.records.is_some()
    }
}
