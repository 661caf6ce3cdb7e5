//! Response framing and validation for the load generator. Sans-IO: bytes in, a verdict
//! out; the tests use it too.

use std::ops::Range;

use serde::Serialize;

/// Why a response did not count as a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) enum Failure {
    /// A status other than the expected one.
    Status,
    /// A body other than the expected one.
    Body,
}

/// One response found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Frame {
    /// More bytes are needed.
    Partial,
    Complete {
        /// Bytes the response takes, head and body.
        len: usize,
        status: u16,
        body: Range<usize>,
        /// The server closes after it (`Connection: close`, or HTTP/1.0 without keep-alive).
        close: bool,
    },
    Invalid,
}

/// Frames the response at the start of `buf`; `eof` says the server closed, which ends a
/// body without `Content-Length`.
pub(super) fn frame(buf: &[u8], eof: bool) -> Frame {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head = match response.parse(buf) {
        Ok(httparse::Status::Complete(head)) => head,
        Ok(httparse::Status::Partial) if !eof => return Frame::Partial,
        _ => return Frame::Invalid,
    };
    let (Some(status), Some(minor)) = (response.code, response.version) else {
        return Frame::Invalid;
    };
    let Ok(framing) = Framing::read(response.headers) else {
        return Frame::Invalid;
    };
    let close = framing.close || (minor == 0 && !framing.keep_alive);
    let end = match framing.length {
        Some(n) if buf.len() - head >= n => head + n,
        Some(_) if eof => return Frame::Invalid,
        Some(_) => return Frame::Partial,
        None if eof => buf.len(),
        None => return Frame::Partial,
    };
    Frame::Complete {
        len: end,
        status,
        body: head..end,
        close: close || framing.length.is_none(),
    }
}

#[derive(Default)]
struct Framing {
    length: Option<usize>,
    close: bool,
    keep_alive: bool,
}

impl Framing {
    /// Reads the framing headers; chunked or contradictory framing is an error here.
    fn read(headers: &[httparse::Header<'_>]) -> Result<Framing, ()> {
        let mut f = Framing::default();
        for h in headers {
            if h.name.eq_ignore_ascii_case("content-length") {
                let value = std::str::from_utf8(h.value).map_err(drop)?.trim();
                let n = value.parse().map_err(drop)?;
                if f.length.replace(n).is_some_and(|old| old != n) {
                    return Err(());
                }
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                return Err(());
            } else if h.name.eq_ignore_ascii_case("connection") {
                let value = String::from_utf8_lossy(h.value).to_ascii_lowercase();
                f.close |= value.split(',').any(|t| t.trim() == "close");
                f.keep_alive |= value.split(',').any(|t| t.trim() == "keep-alive");
            }
        }
        Ok(f)
    }
}

/// What every response must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Expect {
    pub status: u16,
    /// The body every response must carry; `None` adopts the first body seen, so each
    /// later response must match it.
    pub body: Option<Vec<u8>>,
    /// Bodies are not compared (a page that changes, such as `/metrics`).
    pub any_body: bool,
}

impl Expect {
    pub(super) fn check(&mut self, status: u16, body: &[u8]) -> Result<(), Failure> {
        if status != self.status {
            return Err(Failure::Status);
        }
        match &self.body {
            _ if self.any_body => Ok(()),
            Some(expected) if expected != body => Err(Failure::Body),
            Some(_) => Ok(()),
            None => {
                self.body = Some(body.to_vec());
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, world!";

    fn expect() -> Expect {
        Expect {
            status: 200,
            body: Some(b"Hello, world!".to_vec()),
            any_body: false,
        }
    }

    #[test]
    fn a_good_response_frames_and_checks() {
        let Frame::Complete {
            len,
            status,
            body,
            close,
        } = frame(OK, false)
        else {
            panic!()
        };
        assert_eq!((len, status, close), (OK.len(), 200, false));
        assert_eq!(expect().check(status, &OK[body]), Ok(()));
    }

    #[test]
    fn pipelined_responses_frame_one_at_a_time() {
        let two = [OK, OK].concat();
        assert!(matches!(frame(&two, false), Frame::Complete { len, .. } if len == OK.len()));
    }

    #[test]
    fn truncated_responses_wait_or_fail_at_eof() {
        for cut in [10, OK.len() - 1] {
            assert_eq!(frame(&OK[..cut], false), Frame::Partial, "cut at {cut}");
            assert_eq!(frame(&OK[..cut], true), Frame::Invalid, "closed at {cut}");
        }
    }

    #[test]
    fn wrong_length_wrong_body_wrong_status() {
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHello, world!";
        let Frame::Complete { body, .. } = frame(short, false) else {
            panic!()
        };
        assert_eq!(expect().check(200, &short[body]), Err(Failure::Body));
        assert_eq!(expect().check(200, b"Hello, World!"), Err(Failure::Body));
        assert_eq!(expect().check(404, b"Hello, world!"), Err(Failure::Status));
        let twice = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nHello!";
        assert_eq!(frame(twice, false), Frame::Invalid);
        assert_eq!(
            frame(
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                false
            ),
            Frame::Invalid
        );
        assert_eq!(frame(b"garbage\r\n\r\n", false), Frame::Invalid);
    }

    #[test]
    fn any_body_compares_none() {
        let mut e = Expect {
            status: 200,
            body: None,
            any_body: true,
        };
        assert_eq!(e.check(200, b"Hi"), Ok(()));
        assert_eq!(e.check(200, b"Ho"), Ok(()));
        assert_eq!(
            e.check(404, b"Ho"),
            Err(Failure::Status),
            "the status still counts"
        );
    }

    #[test]
    fn the_first_body_becomes_the_reference() {
        let mut e = Expect {
            status: 200,
            body: None,
            any_body: false,
        };
        assert_eq!(e.check(200, b"Hi"), Ok(()));
        assert_eq!(e.check(200, b"Hi"), Ok(()));
        assert_eq!(e.check(200, b"Ho"), Err(Failure::Body));
    }

    #[test]
    fn close_delimited_and_connection_close() {
        let raw = b"Hello, world!\n";
        let closed = [
            b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".as_slice(),
            raw,
        ]
        .concat();
        assert_eq!(
            frame(&closed, false),
            Frame::Partial,
            "no length: the body runs to the close"
        );
        let Frame::Complete { body, close, .. } = frame(&closed, true) else {
            panic!()
        };
        assert_eq!((&closed[body], close), (raw.as_slice(), true));
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert!(matches!(
            frame(old, false),
            Frame::Complete { close: true, .. }
        ));
    }
}
