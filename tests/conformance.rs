//! The RFC rules independent conformance suites score, each against real servers on every
//! backend: `POST /` reads its body by its framing (RFC 9112 §6) and is answered as
//! `GET /`; `OPTIONS` (RFC 9110 §9.3.7); the Host field's grammar (RFC 9112 §3.2, RFC 9110
//! §7.2); the HTTP-version's (RFC 9112 §2.3); request-target bytes (RFC 9112 §3.2,
//! RFC 3986); chunk extensions (RFC 9112 §7.1.1); no bare LF (RFC 9112 §2.2); a close
//! after content on GET and after a framing-field lookalike (RFC 9110 §9.3.1).

mod support;

use std::io::Write;

use greeter::BackendChoice;
use support::*;

/// The refusal `status` gets, after which the server closes.
fn refused(status: &str) -> String {
    let reason = status.split_once(' ').unwrap().1;
    expected(status, "Connection: close\r\n", reason)
}

/// An `OPTIONS` answer: no content, and what is allowed.
fn allowed(methods: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nServer: greeter\r\nDate: <date>\r\nContent-Length: 0\r\nAllow: {methods}\r\n\r\n"
    )
}

/// Sends each request on one keep-alive connection and expects `answers` in order.
fn on_one_connection(backend: BackendChoice, raw: &str, answers: usize) -> String {
    let server = server(backend);
    let mut c = connect(server.local_addr());
    c.write_all(raw.as_bytes()).unwrap();
    read_responses(&mut c, answers)
}

fn post_to_the_root_reads_the_body_by_its_framing(backend: BackendChoice) {
    let length = "POST / HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"a\":1}";
    let chunked = "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=\"v\"\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n";
    let empty = "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
    let bare = "POST / HTTP/1.1\r\nHost: t\r\n\r\n";
    let raw = [length, chunked, empty, GET, bare].concat();
    assert_eq!(
        on_one_connection(backend, &raw, 5),
        hello().repeat(5),
        "every framing read exactly, the connection kept"
    );
    let server = server(backend);
    let mut c = connect(server.local_addr());
    let head = "POST / HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n";
    c.write_all(head.as_bytes()).unwrap();
    let mut first = [0; 25];
    std::io::Read::read_exact(&mut c, &mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"body").unwrap();
    assert_eq!(read_response(&mut c), hello());
}

fn options_answers_with_what_is_allowed(backend: BackendChoice) {
    let raw = [
        "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n",
        "OPTIONS / HTTP/1.1\r\nHost: t\r\n\r\n",
        "OPTIONS /greet HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        "OPTIONS /healthz HTTP/1.1\r\nHost: t\r\n\r\n",
        GET,
    ]
    .concat();
    let want = [
        allowed("GET, HEAD, POST, OPTIONS"),
        allowed("GET, HEAD, POST, OPTIONS"),
        allowed("POST, OPTIONS"),
        allowed("GET, HEAD, OPTIONS"),
        hello(),
    ]
    .concat();
    assert_eq!(on_one_connection(backend, &raw, 5), want);
    let refused = "DELETE /greet HTTP/1.1\r\nHost: t\r\n\r\n";
    let want = expected(
        "405 Method Not Allowed",
        "Allow: POST, OPTIONS\r\n",
        "Method Not Allowed",
    );
    assert_eq!(on_one_connection(backend, refused, 1), want);
}

fn an_invalid_host_is_400(backend: BackendChoice) {
    let server = server(backend);
    for host in ["user@t", "t/path", "a, b", "a,b", "t:80:80", "[::1"] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        let got = exchange(server.local_addr(), raw.as_bytes());
        assert_eq!(got, refused("400 Bad Request"), "Host: {host}");
    }
    let empty = exchange(server.local_addr(), b"GET / HTTP/1.1\r\nHost:\r\n\r\n");
    assert_eq!(
        empty,
        refused("400 Bad Request"),
        "an empty Host, origin-form"
    );
    let absolute = "GET http://t/ HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n";
    let got = exchange(server.local_addr(), absolute.as_bytes());
    assert_eq!(
        got,
        expected("200 OK", "Connection: close\r\n", "Hello, world!")
    );
}

fn a_malformed_version_is_400_and_an_unsupported_one_505(backend: BackendChoice) {
    let server = server(backend);
    for line in [
        "GET / HTTP/1",
        "GET / HTTP/01.1",
        "GET / HTTP/ 1.1",
        "GET / http/1.1",
        "GET /a b HTTP/1.1",
    ] {
        let raw = format!("{line}\r\nHost: t\r\n\r\n");
        let got = exchange(server.local_addr(), raw.as_bytes());
        assert_eq!(got, refused("400 Bad Request"), "{line:?}");
    }
    for line in ["GET / HTTP/2.0", "GET / HTTP/1.2"] {
        let raw = format!("{line}\r\nHost: t\r\n\r\n");
        let got = exchange(server.local_addr(), raw.as_bytes());
        assert_eq!(got, refused("505 HTTP Version Not Supported"), "{line:?}");
    }
}

fn target_bytes_and_an_over_long_method_are_400(backend: BackendChoice) {
    let server = server(backend);
    let cases: [&[u8]; 3] = [
        b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /\xff HTTP/1.1\r\nHost: t\r\n\r\n",
        b"GET /#fragment HTTP/1.1\r\nHost: t\r\n\r\n",
    ];
    for raw in cases {
        let got = exchange(server.local_addr(), raw);
        assert_eq!(
            got,
            refused("400 Bad Request"),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
    let long = format!("{} / HTTP/1.1\r\nHost: t\r\n\r\n", "A".repeat(9000));
    let got = exchange(server.local_addr(), long.as_bytes());
    assert_eq!(
        got,
        refused("400 Bad Request"),
        "a method past the head limit"
    );
}

fn chunk_extensions_outside_their_grammar_are_400(backend: BackendChoice) {
    let server = server(backend);
    for ext in [";", ";;a", ";=v", ";a b", ";(x)"] {
        let raw = format!(
            "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3{ext}\r\nabc\r\n0\r\n\r\n"
        );
        let got = exchange(server.local_addr(), raw.as_bytes());
        assert_eq!(got, refused("400 Bad Request"), "3{ext}");
    }
}

fn a_bare_lf_is_400(backend: BackendChoice) {
    let server = server(backend);
    for raw in [
        "GET / HTTP/1.1\nHost: t\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: t\n\r\n",
        "GET / HTTP/1.1\nHost: t\n\n",
    ] {
        let got = exchange(server.local_addr(), raw.as_bytes());
        assert_eq!(got, refused("400 Bad Request"), "{raw:?}");
    }
}

/// A request a front end could frame differently is answered, then the connection closes:
/// what follows it (here a pipelined GET, where a smuggled request would sit) is never
/// read as a request.
fn a_request_a_front_end_could_frame_differently_closes_after_its_answer(backend: BackendChoice) {
    let server = server(backend);
    let closing_hello = expected("200 OK", "Connection: close\r\n", "Hello, world!");
    for first in [
        "GET / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        "GET / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer_Encoding: chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: t\r\nContent--Length: 5\r\n\r\n",
    ] {
        let got = exchange(server.local_addr(), [first, GET].concat().as_bytes());
        assert_eq!(got, closing_hello, "{first:?}");
    }
    let got = on_one_connection(
        backend,
        &[
            GET,
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
            GET,
        ]
        .concat(),
        3,
    );
    assert_eq!(
        got,
        hello().repeat(3),
        "content on POST keeps the connection"
    );
}

per_backend!(
    post_to_the_root_reads_the_body_by_its_framing,
    a_request_a_front_end_could_frame_differently_closes_after_its_answer,
    options_answers_with_what_is_allowed,
    an_invalid_host_is_400,
    a_malformed_version_is_400_and_an_unsupported_one_505,
    target_bytes_and_an_over_long_method_are_400,
    chunk_extensions_outside_their_grammar_are_400,
    a_bare_lf_is_400,
);
