//! Unit tests for the protocol core: every HTTP rule, pipelining, splits, backpressure,
//! draining and the raw protocol, all without I/O.

use std::time::{Duration, Instant, UNIX_EPOCH};

use super::*;

const DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
pub(super) const GET: &str = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

pub(super) fn greeter_with(config: ProtoConfig) -> Greeter {
    Greeter::new(config, UNIX_EPOCH + Duration::from_secs(784_111_777))
}

pub(super) fn greeter() -> Greeter {
    greeter_with(ProtoConfig::default())
}

/// The response greeter must send, byte for byte.
pub(super) fn expected(status: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nServer: greeter\r\nDate: {DATE}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
}

/// Feeds `chunks` the way a backend does (unfinished input kept, output written at once
/// on Flush); returns everything written and how the connection ended, if it did.
pub(super) fn drive(g: &Greeter, chunks: &[&[u8]]) -> (String, Option<Next>) {
    let (mut session, mut tail, mut out, mut written) =
        (Session::default(), Vec::new(), Vec::new(), Vec::new());
    for chunk in chunks {
        tail.extend_from_slice(chunk);
        loop {
            let progress =
                session.handle_input(g, &tail, &mut Output::bytes(&mut out), Instant::now());
            tail.drain(..progress.consumed);
            written.append(&mut out);
            match progress.next {
                Next::Flush => continue,
                Next::Read => break,
                closed => return (String::from_utf8(written).unwrap(), Some(closed)),
            }
        }
    }
    (String::from_utf8(written).unwrap(), None)
}

pub(super) fn answer(raw: &str) -> (String, Option<Next>) {
    drive(&greeter(), &[raw.as_bytes()])
}

pub(super) const CLOSE: Option<Next> = Some(Next::Close {
    linger: false,
    reason: CloseReason::Client,
});
pub(super) const SHUTDOWN: Option<Next> = Some(Next::Close {
    linger: false,
    reason: CloseReason::Shutdown,
});
pub(super) const CLOSE_LINGER: Option<Next> = Some(Next::Close {
    linger: true,
    reason: CloseReason::Error,
});

#[test]
fn get_root_greets() {
    assert_eq!(answer(GET), (expected("200 OK", "", "Hello, world!"), None));
}

#[test]
fn head_sends_the_headers_of_get_without_body() {
    let (out, _) = answer("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        out,
        expected("200 OK", "", "Hello, world!").replace("Hello, world!", "")
    );
    let (out, _) = answer("HEAD /greet/Al HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(out.ends_with("Content-Length: 10\r\n\r\n"), "{out}");
}

#[test]
fn greets_by_name_and_checks_the_name() {
    assert_eq!(
        answer("GET /greet/Alice HTTP/1.1\r\nHost: x\r\n\r\n").0,
        expected("200 OK", "", "Hello, Alice!")
    );
    let bad = answer("GET /greet/%00 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        bad,
        (expected("400 Bad Request", "", "Bad Request"), None),
        "a bad name keeps the connection"
    );
}

#[test]
fn configured_greeting() {
    let g = greeter_with(ProtoConfig {
        greeting: "Bonjour".into(),
        ..ProtoConfig::default()
    });
    assert_eq!(
        drive(&g, &[GET.as_bytes()]).0,
        expected("200 OK", "", "Bonjour")
    );
}

#[test]
fn healthz_is_ok_then_503_while_draining() {
    let probe = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_eq!(answer(probe).0, expected("200 OK", "", "ok"));
    let mut g = greeter();
    g.start_draining();
    let drained = drive(&g, &[probe.as_bytes()]);
    assert_eq!(
        drained,
        (
            expected(
                "503 Service Unavailable",
                "Connection: close\r\n",
                "draining"
            ),
            SHUTDOWN
        )
    );
}

#[test]
fn unknown_paths_and_methods_keep_the_connection() {
    let raw =
        format!("DELETE / HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n{GET}");
    let want = expected(
        "405 Method Not Allowed",
        "Allow: GET, HEAD, POST, OPTIONS\r\n",
        "Method Not Allowed",
    ) + &expected("404 Not Found", "", "Not Found")
        + &expected("200 OK", "", "Hello, world!");
    assert_eq!(answer(&raw), (want, None));
}

#[test]
fn malformed_input_gets_400_and_closes() {
    let (out, next) = answer(&format!("{GET}GARBAGE\0\r\n\r\n{GET}"));
    assert_eq!(
        out,
        expected("200 OK", "", "Hello, world!")
            + &expected("400 Bad Request", "Connection: close\r\n", "Bad Request")
    );
    assert_eq!(next, CLOSE_LINGER);
}

#[test]
fn oversized_heads_get_431_or_414() {
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "a".repeat(9000)
    );
    assert_eq!(
        answer(&big).0,
        expected(
            "431 Request Header Fields Too Large",
            "Connection: close\r\n",
            "Request Header Fields Too Large"
        )
    );
    let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(9000));
    assert_eq!(
        answer(&long),
        (
            expected("414 URI Too Long", "Connection: close\r\n", "URI Too Long"),
            CLOSE_LINGER
        )
    );
}

#[test]
fn an_unfinished_head_within_the_limit_waits() {
    assert_eq!(
        answer("GET / HTTP/1.1\r\nHost: x\r\nX: aaaa"),
        (String::new(), None)
    );
}

#[test]
fn small_bodies_are_discarded_large_ones_get_413() {
    let (out, next) = answer(&format!(
        "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello{GET}"
    ));
    let allow = "Allow: GET, HEAD, OPTIONS\r\n";
    assert_eq!(
        out,
        expected("405 Method Not Allowed", allow, "Method Not Allowed")
            + &expected("200 OK", "", "Hello, world!")
    );
    assert_eq!(next, None);
    let large = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n";
    assert_eq!(
        answer(large),
        (
            expected(
                "413 Content Too Large",
                "Connection: close\r\n",
                "Content Too Large"
            ),
            CLOSE_LINGER
        )
    );
}

#[test]
fn the_answer_to_a_body_waits_for_the_whole_body() {
    let head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab";
    assert_eq!(drive(&greeter(), &[head]).0, "");
    assert_eq!(
        drive(&greeter(), &[head, b"cd"]).0,
        expected("200 OK", "", "Hello, world!")
    );
}

#[test]
fn http_1_0_closes_unless_keep_alive() {
    let (out, next) = answer("GET / HTTP/1.0\r\n\r\n");
    assert_eq!(
        (out, next),
        (
            expected("200 OK", "Connection: close\r\n", "Hello, world!"),
            CLOSE
        )
    );
    let (out, next) = answer("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(
        (out, next),
        (
            expected("200 OK", "Connection: keep-alive\r\n", "Hello, world!"),
            None
        )
    );
}

#[test]
fn connection_close_is_honoured_and_later_requests_ignored() {
    let close = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    assert_eq!(
        answer(close),
        (
            expected("200 OK", "Connection: close\r\n", "Hello, world!"),
            CLOSE
        )
    );
    let (out, next) = answer(&format!("{close}{GET}"));
    let client_lingers = Some(Next::Close {
        linger: true,
        reason: CloseReason::Client,
    });
    assert_eq!(
        (out, next),
        (
            expected("200 OK", "Connection: close\r\n", "Hello, world!"),
            client_lingers
        )
    );
}

#[test]
fn pipelined_16_and_1000_answered_in_order_in_one_batch() {
    for count in [16, 1000] {
        let raw: String = (0..count)
            .map(|i| format!("GET /greet/n{i} HTTP/1.1\r\nHost: x\r\n\r\n"))
            .collect();
        let mut out = Vec::new();
        let progress = Session::default().handle_input(
            &greeter(),
            raw.as_bytes(),
            &mut Output::bytes(&mut out),
            Instant::now(),
        );
        let want: String = (0..count)
            .map(|i| expected("200 OK", "", &format!("Hello, n{i}!")))
            .collect();
        if count == 16 {
            assert_eq!(
                progress,
                Progress {
                    consumed: raw.len(),
                    next: Next::Read
                }
            );
            assert_eq!(String::from_utf8(out).unwrap(), want);
        } else {
            assert_eq!(drive(&greeter(), &[raw.as_bytes()]), (want, None));
        }
    }
}

#[test]
fn every_split_gives_the_same_output() {
    let stream = format!(
        "GET /greet/Ren%C3%A9e HTTP/1.1\r\nHost: x\r\n\r\nPOST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
         HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n{GET}GET / HTTP/1.0\r\n\r\n"
    );
    let whole = drive(&greeter(), &[stream.as_bytes()]);
    assert_eq!(whole.1, CLOSE);
    for at in 0..=stream.len() {
        let (a, b) = stream.as_bytes().split_at(at);
        assert_eq!(drive(&greeter(), &[a, b]), whole, "split at {at}");
    }
    let bytes: Vec<&[u8]> = stream.as_bytes().chunks(1).collect();
    assert_eq!(drive(&greeter(), &bytes), whole, "one byte at a time");
}

#[test]
fn output_over_the_bound_asks_for_a_flush() {
    let g = greeter_with(ProtoConfig {
        max_pending_output: 300,
        ..ProtoConfig::default()
    });
    let raw = GET.repeat(10);
    let mut out = Vec::new();
    let progress = Session::default().handle_input(
        &g,
        raw.as_bytes(),
        &mut Output::bytes(&mut out),
        Instant::now(),
    );
    let one = expected("200 OK", "", "Hello, world!").len();
    let answered = out.len() / one;
    assert_eq!(
        progress,
        Progress {
            consumed: answered * GET.len(),
            next: Next::Flush
        }
    );
    assert!(
        out.len() >= 300 && out.len() < 300 + one,
        "{} bytes pending",
        out.len()
    );
}

#[test]
fn draining_closes_after_the_last_received_request() {
    let mut g = greeter();
    g.start_draining();
    let (out, next) = drive(&g, &[GET.repeat(3).as_bytes()]);
    let ok = expected("200 OK", "", "Hello, world!");
    assert_eq!(
        out,
        format!(
            "{ok}{ok}{}",
            expected("200 OK", "Connection: close\r\n", "Hello, world!")
        )
    );
    assert_eq!(next, SHUTDOWN);
    let partial = format!("{GET}GET / HTT");
    assert_eq!(
        drive(&g, &[partial.as_bytes()]),
        (ok, None),
        "an unfinished request is still waited for"
    );
}

#[test]
fn raw_protocol_greets_once_and_closes() {
    let g = greeter_with(ProtoConfig {
        protocol: Protocol::Raw,
        ..ProtoConfig::default()
    });
    assert_eq!(drive(&g, &[b"hi"]), ("Hello, world!\n".to_owned(), CLOSE));
    assert_eq!(drive(&g, &[b""]), (String::new(), None));
    let mut out = Vec::new();
    assert_eq!(
        Session::default().handle_eof(&g, &mut Output::bytes(&mut out)),
        Next::Close {
            linger: false,
            reason: CloseReason::Client
        }
    );
    assert_eq!(out, b"Hello, world!\n");
}

#[test]
fn timeout_mid_request_answers_408() {
    let g = greeter();
    let mut out = Vec::new();
    Session::default().handle_timeout(&g, None, &mut Output::bytes(&mut out));
    assert!(out.is_empty(), "an idle connection closes silently");
    let begun = Some(Instant::now());
    Session::default().handle_timeout(&g, begun, &mut Output::bytes(&mut out));
    assert_eq!(
        String::from_utf8(out).unwrap(),
        expected(
            "408 Request Timeout",
            "Connection: close\r\n",
            "Request Timeout"
        )
    );
}

/// Request-smuggling defences: every way two parsers could disagree on where a message
/// ends is refused, and the connection closes so nothing after it is read as a request.
/// `(case, request, status, closes)`.
const SMUGGLING: &[(&str, &str, u16, bool)] = &[
    (
        "Transfer-Encoding with Content-Length",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
        400,
        true,
    ),
    (
        "duplicate Content-Length, same value",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        400,
        true,
    ),
    (
        "duplicate Content-Length, different values",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        400,
        true,
    ),
    (
        "comma-listed Content-Length",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc",
        400,
        true,
    ),
    (
        "Content-Length with a sign",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
        400,
        true,
    ),
    (
        "Content-Length in hex",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc",
        400,
        true,
    ),
    (
        "Content-Length with inner space",
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\nabc",
        400,
        true,
    ),
    (
        "obs-fold",
        "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
        400,
        true,
    ),
    (
        "bare CR",
        "GET / HTTP/1.1\r\nHost: x\rGET /admin HTTP/1.1\r\n\r\n",
        400,
        true,
    ),
    (
        "NUL in a value",
        "GET / HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n",
        400,
        true,
    ),
    (
        "control byte in a value",
        "GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n",
        400,
        true,
    ),
    (
        "control byte in a name",
        "GET / HTTP/1.1\r\nHost: x\r\nX\x01Y: a\r\n\r\n",
        400,
        true,
    ),
    (
        "whitespace before the colon",
        "GET / HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc",
        400,
        true,
    ),
    (
        "tab before the colon",
        "GET / HTTP/1.1\r\nHost\t: x\r\n\r\n",
        400,
        true,
    ),
    (
        "chunk-size with a sign",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n+3\r\nabc\r\n0\r\n\r\n",
        400,
        true,
    ),
    (
        "chunk-size in 0x hex",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n",
        400,
        true,
    ),
    (
        "chunk-size overflowing 64 bits",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000003\r\nabc\r\n0\r\n\r\n",
        400,
        true,
    ),
    (
        "bare LF ending a chunk-size line",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n",
        400,
        true,
    ),
    (
        "bare LF after chunk data",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n",
        400,
        true,
    ),
    (
        "chunk data longer than its size",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n",
        400,
        true,
    ),
    (
        "CR inside a chunk extension",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a\rb\r\nabc\r\n0\r\n\r\n",
        400,
        true,
    ),
    (
        "obs-fold in the trailer section",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\r\n b\r\n\r\n",
        400,
        true,
    ),
    (
        "Transfer-Encoding: gzip",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
        true,
    ),
    (
        "Transfer-Encoding: chunked, gzip",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        400,
        true,
    ),
    (
        "Transfer-Encoding: identity",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
        400,
        true,
    ),
    (
        "Transfer-Encoding: xchunked",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n",
        400,
        true,
    ),
    (
        "chunked named twice, over two lines",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
        true,
    ),
    (
        "a second Transfer-Encoding line ending the list in gzip",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n",
        400,
        true,
    ),
    (
        "an expectation greeter cannot meet",
        "POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 3\r\n\r\nabc",
        417,
        true,
    ),
    (
        "Transfer-Encoding on HTTP/1.0",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        400,
        true,
    ),
    (
        "two Host headers",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        400,
        true,
    ),
    ("HTTP/0.9", "GET /\r\n", 400, true),
    (
        "HTTP/2 preface on the HTTP/1 port",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        505,
        true,
    ),
    // Well framed, so no desync is possible: answered, and the connection stays.
    (
        "Transfer-Encoding: chunked, body read and discarded",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        200,
        false,
    ),
    (
        "Transfer-Encoding over two lines ending in chunked",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: CHUNKED\r\n\r\n0\r\n\r\n",
        200,
        false,
    ),
    (
        "absolute-form target",
        "GET http://x/greet/Al HTTP/1.1\r\nHost: x\r\n\r\n",
        200,
        false,
    ),
    (
        "asterisk-form target with GET",
        "GET * HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
        false,
    ),
    (
        "asterisk-form target with OPTIONS",
        "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        200,
        false,
    ),
    // RFC 9112 §2.2: greeter takes no bare LF for a line end, so a front end that does
    // cannot read a different message out of the same bytes.
    (
        "a header line ended by a bare LF",
        "GET / HTTP/1.1\r\nHost: x\nX-Smuggle: y\r\n\r\n",
        400,
        true,
    ),
    (
        "a chunk extension that is not a token",
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;\r\nabc\r\n0\r\n\r\n",
        400,
        true,
    ),
    (
        "a Host list",
        "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n",
        400,
        true,
    ),
    (
        "a space inside the target",
        "GET /a HTTP/1.1 HTTP/1.1\r\nHost: x\r\n\r\n",
        400,
        true,
    ),
];

#[test]
fn smuggling_attempts_are_refused_and_close_where_a_desync_is_possible() {
    for &(case, raw, status, closes) in SMUGGLING {
        // A request follows each case: it must never be answered after a refusal.
        let (out, next) = answer(&format!("{raw}{GET}"));
        let code = status.to_string();
        assert!(
            out.starts_with(&format!("HTTP/1.1 {code} ")),
            "{case}: {out:?}"
        );
        assert_eq!(
            out.matches("HTTP/1.1 ").count(),
            if closes { 1 } else { 2 },
            "{case}: {out:?}"
        );
        assert_eq!(next.is_some(), closes, "{case}");
        if closes {
            assert!(
                out.contains("Connection: close\r\n"),
                "{case} says it closes"
            );
        }
    }
}
