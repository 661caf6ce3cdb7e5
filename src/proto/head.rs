//! Request-head parsing: httparse for the syntax, plus the framing checks that keep the
//! message boundary unambiguous (no request smuggling). Owns no buffer and no I/O.

use std::mem::MaybeUninit;

use super::fields::{Expect, Fields};
use super::status::Status;

/// Headers beyond this count answer `431`; browsers send about twenty.
pub(super) const MAX_HEADERS: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Method {
    Get,
    Head,
    Post,
    Options,
    Other,
}

/// How the body after a head is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BodyFraming {
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// The chunked transfer coding, to its last chunk and trailer section.
    Chunked,
}

/// A complete, well-framed request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Head<'a> {
    pub method: Method,
    /// The method as sent (for the access log).
    pub method_name: &'a str,
    pub target: &'a [u8],
    /// Minor version: `0` for HTTP/1.0, `1` for HTTP/1.1.
    pub minor: u8,
    /// Whether the client may send another request on this connection.
    pub persist: bool,
    pub body: BodyFraming,
    /// Transfer codings other than `chunked` were applied to the body (`gzip, chunked`).
    pub coded: bool,
    /// The `Content-Type` value, trimmed.
    pub content_type: Option<&'a [u8]>,
    /// `Expect: 100-continue` on HTTP/1.1: the client waits before sending the body.
    pub expect_continue: bool,
    /// Bytes of the head itself, final blank line included.
    pub len: usize,
    /// Header lines in the head.
    pub header_count: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Parsed<'a> {
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
pub(super) fn parse(buf: &[u8], max_head: usize) -> Parsed<'_> {
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

fn frame<'a>(req: &httparse::Request<'_, 'a>, len: usize) -> Parsed<'a> {
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Parsed::Reject(Status::BadRequest);
    };
    let f = Fields::read(req.headers);
    if f.invalid || f.hosts > 1 || (minor == 1 && f.hosts == 0) {
        return Parsed::Reject(Status::BadRequest);
    }
    let Some(body) = body_framing(&f, minor) else {
        return Parsed::Reject(Status::BadRequest);
    };
    // RFC 9110 §10.1.1: HTTP/1.0 requests' expectations are ignored.
    let expect_continue = match (minor, f.expect) {
        (0, _) | (_, Expect::Nothing) => false,
        (_, Expect::Continue) => true,
        (_, Expect::Other) => return Parsed::Reject(Status::ExpectationFailed),
    };
    Parsed::Complete(Head {
        method: method_of(method),
        method_name: method,
        target: path.as_bytes(),
        minor,
        persist: !f.close && (minor == 1 || f.keep_alive),
        body,
        coded: f.codings.coded(),
        content_type: f.content_type,
        expect_continue,
        len,
        header_count: req.headers.len(),
    })
}

/// RFC 9112 §6.3: with `Transfer-Encoding`, the body is chunked if the list ends in
/// `chunked` on HTTP/1.1 without `Content-Length`; anything else leaves the length
/// unknowable, and the only safe answer is `400` (`None`).
fn body_framing(f: &Fields<'_>, minor: u8) -> Option<BodyFraming> {
    if !f.codings.present() {
        return Some(match f.content_length {
            Some(n) if n > 0 => BodyFraming::Length(n),
            _ => BodyFraming::None,
        });
    }
    let chunked = f.codings.frames_chunked() && f.content_length.is_none() && minor == 1;
    chunked.then_some(BodyFraming::Chunked)
}

pub(crate) fn method_of(name: &str) -> Method {
    match name {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "OPTIONS" => Method::Options,
        _ => Method::Other,
    }
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
