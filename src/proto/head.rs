//! Request-head parsing: httparse for the syntax, plus the framing checks that keep the
//! message boundary unambiguous (no request smuggling). Owns no buffer and no I/O.

use std::mem::MaybeUninit;

use super::fields::{Expect, Fields};
use super::host;
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
        Ok(httparse::Status::Complete(len)) => frame(&req, &view[..len]),
        Ok(httparse::Status::Partial) if buf.len() > max_head => Parsed::Reject(too_long(view)),
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => Parsed::Reject(Status::HeaderFieldsTooLarge),
        Err(httparse::Error::Version) => version_error(view, buf.len() > max_head),
        Err(_) => Parsed::Reject(Status::BadRequest),
    }
}

/// Whether a line of a parsed head ends in a bare LF: RFC 9112 §2.2 lets a recipient
/// accept one, and greeter does not, since a front end that reads the line differently is
/// a way to smuggle. httparse refuses a CR that ends no line, so a line ends in CRLF
/// exactly when a CR follows its last token: [`Fields::read`] looked at the byte after
/// each field's value; here, the byte after the request line and the final blank line.
/// A head those bytes cannot settle (an empty value, trailing whitespace, empty lines
/// before the request line) is scanned whole.
fn has_bare_lf(head: &[u8], path: &str, f: &Fields<'_>) -> bool {
    if !f.crlf {
        return true;
    }
    let path_end = (path.as_ptr() as usize + path.len()).wrapping_sub(head.as_ptr() as usize);
    let line_end = head.get(path_end + " HTTP/1.1".len());
    let settled = !f.unsure && head[0] != b'\r' && head[0] != b'\n' && line_end == Some(&b'\r');
    match settled {
        true => !head.ends_with(b"\r\n\r\n"),
        false => head
            .iter()
            .enumerate()
            .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r')),
    }
}

/// httparse could not read the version (it reads only `HTTP/1.0` and `HTTP/1.1`): `505`
/// for a well-formed one greeter does not speak (`HTTP/2.0`), `400` for a malformed one
/// (RFC 9112 §2.3: `HTTP-name "/" DIGIT "." DIGIT`, the name case-sensitive), which is
/// also what a space inside the target makes of the request line. A line not ended yet
/// whose version could still become well-formed waits for more (`Partial`), so the
/// verdict never depends on where the stream was split.
fn version_error(view: &[u8], over_limit: bool) -> Parsed<'static> {
    let (line, ended) = request_line(view);
    let mut parts = line.split(|&b| b == b' ');
    let version = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(_), Some(_), Some(version), None) => version,
        _ => return Parsed::Reject(Status::BadRequest),
    };
    let well_formed = version.len() == 8 && could_be_version(version);
    match (ended, well_formed) {
        (true, true) => Parsed::Reject(Status::VersionNotSupported),
        (false, _) if could_be_version(version) && over_limit => Parsed::Reject(too_long(view)),
        (false, _) if could_be_version(version) => Parsed::Partial,
        _ => Parsed::Reject(Status::BadRequest),
    }
}

/// Whether `so_far` is `HTTP/` DIGIT `.` DIGIT, or the start of it.
fn could_be_version(so_far: &[u8]) -> bool {
    const NAME: &[u8] = b"HTTP/";
    so_far.len() <= 8
        && so_far.iter().enumerate().all(|(i, &b)| match i {
            0..5 => b == NAME[i],
            5 | 7 => b.is_ascii_digit(),
            _ => b == b'.',
        })
}

/// The request line at the start of `view` (after any empty lines), without its end;
/// and whether it ended within `view`.
fn request_line(view: &[u8]) -> (&[u8], bool) {
    let start = view
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .unwrap_or(view.len());
    let line = &view[start..];
    match line.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(end) => (&line[..end], true),
        None => (line, false),
    }
}

/// A head over the limit: `414` if even the request line does not fit, else `431`; a
/// method that does not end within the limit is no method at all (`400`).
fn too_long(view: &[u8]) -> Status {
    match request_line(view) {
        (line, _) if !line.contains(&b' ') => Status::BadRequest,
        (_, true) => Status::HeaderFieldsTooLarge,
        (_, false) => Status::UriTooLong,
    }
}

fn frame<'a>(req: &httparse::Request<'_, 'a>, head: &[u8]) -> Parsed<'a> {
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Parsed::Reject(Status::BadRequest);
    };
    let f = Fields::read(req.headers, head);
    if f.invalid
        || has_bare_lf(head, path, &f)
        || !target_ok(path.as_bytes())
        || !host_ok(&f, path.as_bytes(), minor)
    {
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
    let method_name = method;
    let method = method_of(method_name);
    Parsed::Complete(Head {
        method,
        method_name,
        target: path.as_bytes(),
        minor,
        persist: !f.close && (minor == 1 || f.keep_alive) && !desync_risk(&f, method, body),
        body,
        coded: f.codings.coded(),
        content_type: f.content_type,
        expect_continue,
        len: head.len(),
        header_count: req.headers.len(),
    })
}

/// A request answered as usual, but after which the connection closes, because a front
/// end could have framed it differently: content on GET or HEAD (RFC 9110 §9.3.1 names
/// this, "because of its potential as a request smuggling attack"; some servers ignore
/// such content), or a field named like a framing field (`Transfer_Encoding`). Closing
/// ends the connection before bytes a front end meant as a body can be read as a
/// request. AWS's http-desync-guardian suite asks this of its "Ambiguous" tier.
fn desync_risk(f: &Fields<'_>, method: Method, body: BodyFraming) -> bool {
    let bodiless = matches!(method, Method::Get | Method::Head);
    f.framing_lookalike || (bodiless && body != BodyFraming::None)
}

/// RFC 9112 §3.2 (and RFC 3986): a request-target is visible ASCII, and carries no
/// fragment (a `#` is never sent); raw non-ASCII bytes and `#` are `400`.
fn target_ok(target: &[u8]) -> bool {
    target.iter().all(|&b| b.is_ascii_graphic() && b != b'#')
}

/// RFC 9112 §3.2: HTTP/1.1 needs exactly one `Host` (any version: never two), with a
/// valid value ([`host::is_valid`]). An empty one is refused with an origin-form target:
/// the target URI's authority is then the Host value, and an `http` URI with an empty
/// host is invalid (RFC 9110 §4.2.1). With an absolute-form target the Host is ignored
/// for routing (RFC 9112 §3.2.2), so an empty one is allowed there.
fn host_ok(f: &Fields<'_>, target: &[u8], minor: u8) -> bool {
    match (f.hosts, f.host) {
        (0, _) => minor == 0,
        (1, Some(host)) => host::is_valid(host) && !(host.is_empty() && target.starts_with(b"/")),
        _ => false,
    }
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
