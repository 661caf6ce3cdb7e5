//! Request-head parsing: httparse for the syntax, plus the framing checks that keep the
//! message boundary unambiguous (no request smuggling). Owns no buffer and no I/O.

use std::mem::MaybeUninit;

use super::response::Status;

/// Headers beyond this count answer `431`; browsers send about twenty.
pub const MAX_HEADERS: usize = 64;

/// Longest `Content-Length` we read: 19 digits always fit in a `u64`.
const MAX_LENGTH_DIGITS: usize = 19;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Options,
    Other,
}

/// A complete, well-framed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head<'a> {
    pub method: Method,
    pub target: &'a [u8],
    /// Minor version: `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor: u8,
    /// Whether the client may send another request on this connection.
    pub persist: bool,
    /// Bytes of body that follow the head (`Content-Length`).
    pub body_len: u64,
    /// Bytes of the head itself, final blank line included.
    pub len: usize,
    /// Header lines in the head.
    pub header_count: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    Complete(Head<'a>),
    /// The head is not complete yet and still fits the limit.
    Partial,
    /// Answer with this status and close.
    Reject(Status),
}

/// Parses the request head at the start of `buf`, allowing at most `max_head` bytes.
///
/// Only the first `max_head` bytes are ever looked at, so the verdict depends on those
/// bytes and on whether more follow, never on where the stream was split.
pub fn parse(buf: &[u8], max_head: usize) -> Parsed<'_> {
    let view = &buf[..buf.len().min(max_head)];
    let mut slots = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(view, &mut slots) {
        Ok(httparse::Status::Complete(len)) => frame(&req, len),
        Ok(httparse::Status::Partial) if buf.len() > max_head => Parsed::Reject(too_long(view)),
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => Parsed::Reject(Status::HeaderFieldsTooLarge),
        Err(httparse::Error::Version) => Parsed::Reject(Status::VersionNotSupported),
        Err(_) => Parsed::Reject(Status::BadRequest),
    }
}

/// A head over the limit: `414` if even the request line does not fit, else `431`.
fn too_long(view: &[u8]) -> Status {
    let body = view
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(0);
    if view[body..].contains(&b'\n') {
        Status::HeaderFieldsTooLarge
    } else {
        Status::UriTooLong
    }
}

/// What the framing headers say, gathered in one pass.
#[derive(Default)]
struct Framing {
    content_length: Option<u64>,
    transfer_encoding: Option<bool>,
    hosts: u32,
    close: bool,
    keep_alive: bool,
    invalid: bool,
}

impl Framing {
    fn read(headers: &[httparse::Header<'_>]) -> Framing {
        let mut f = Framing::default();
        for h in headers {
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"content-length") {
                f.invalid |= f.content_length.is_some();
                f.content_length = parse_length(h.value);
                f.invalid |= f.content_length.is_none();
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                // A second Transfer-Encoding line could hide a coding: refuse it.
                f.invalid |= f.transfer_encoding.is_some();
                f.transfer_encoding = Some(ends_in_chunked(h.value));
            } else if name.eq_ignore_ascii_case(b"host") {
                f.hosts += 1;
            } else if name.eq_ignore_ascii_case(b"connection") {
                for token in h.value.split(|&b| b == b',').map(trim) {
                    f.close |= token.eq_ignore_ascii_case(b"close");
                    f.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            }
        }
        f
    }
}

fn frame<'a>(req: &httparse::Request<'_, 'a>, len: usize) -> Parsed<'a> {
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Parsed::Reject(Status::BadRequest);
    };
    let f = Framing::read(req.headers);
    if f.invalid || f.hosts > 1 || (minor == 1 && f.hosts == 0) {
        return Parsed::Reject(Status::BadRequest);
    }
    if let Some(chunked) = f.transfer_encoding {
        // RFC 9112 §6.3: with both, or on HTTP/1.0, or not ending in chunked, the length
        // is unknowable and the only safe answer is 400. Chunked bodies we do not read.
        let known = chunked && f.content_length.is_none() && minor == 1;
        return Parsed::Reject(if known {
            Status::NotImplemented
        } else {
            Status::BadRequest
        });
    }
    let persist = !f.close && (minor == 1 || f.keep_alive);
    let body_len = f.content_length.unwrap_or(0);
    let method = method_of(method);
    Parsed::Complete(Head {
        method,
        target: path.as_bytes(),
        minor,
        persist,
        body_len,
        len,
        header_count: req.headers.len(),
    })
}

pub(crate) fn method_of(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "OPTIONS" => Method::Options,
        _ => Method::Other,
    }
}

/// Strict `Content-Length`: ASCII digits only. No sign, no hex, no list, no inner space.
fn parse_length(value: &[u8]) -> Option<u64> {
    let digits = trim(value);
    if digits.is_empty() || digits.len() > MAX_LENGTH_DIGITS {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit().then(|| n * 10 + u64::from(b - b'0'))
    })
}

/// Whether the final transfer coding is `chunked` and every coding is a plain token.
fn ends_in_chunked(value: &[u8]) -> bool {
    let mut codings = value.split(|&b| b == b',').map(trim);
    let all_tokens = codings
        .clone()
        .all(|c| !c.is_empty() && c.iter().all(|&b| is_tchar(b)));
    all_tokens
        && codings
            .next_back()
            .is_some_and(|c| c.eq_ignore_ascii_case(b"chunked"))
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
