//! Unit tests for request-head parsing and framing.

use super::*;

const MAX: usize = 8192;

fn complete(raw: &[u8]) -> Head<'_> {
    match parse(raw, MAX) {
        Parsed::Complete(head) => head,
        other => panic!("expected a complete head, got {other:?}"),
    }
}

fn status_of(raw: &[u8]) -> u16 {
    match parse(raw, MAX) {
        Parsed::Reject(status) => status.code(),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn parses_a_simple_get() {
    let head = complete(b"GET /greet/Bo HTTP/1.1\r\nHost: x\r\n\r\nrest");
    assert_eq!(head.method, Method::Get);
    assert_eq!(head.target, b"/greet/Bo");
    assert_eq!(
        (head.minor, head.persist, head.body, head.len),
        (1, true, BodyFraming::None, 35)
    );
}

#[test]
fn partial_until_the_blank_line() {
    assert_eq!(
        parse(b"GET / HTTP/1.1\r\nHost: x\r\n", MAX),
        Parsed::Partial
    );
    assert_eq!(parse(b"", MAX), Parsed::Partial);
}

#[test]
fn persistence_follows_version_and_connection() {
    assert!(!complete(b"GET / HTTP/1.0\r\n\r\n").persist);
    assert!(complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").persist);
    assert!(!complete(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").persist);
    assert!(!complete(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, Close\r\n\r\n").persist);
}

#[test]
fn content_length_is_strict() {
    assert_eq!(
        complete(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 42\r\n\r\n").body,
        BodyFraming::Length(42)
    );
    assert_eq!(
        complete(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:  7 \r\n\r\n").body,
        BodyFraming::Length(7)
    );
    for value in [
        "+5",
        "-1",
        "0x5",
        "5 5",
        "5,5",
        "",
        "1e3",
        "99999999999999999999",
    ] {
        let raw = format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {value}\r\n\r\n");
        assert_eq!(status_of(raw.as_bytes()), 400, "Content-Length: {value}");
    }
    let twice = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
    assert_eq!(status_of(twice), 400);
}

#[test]
fn transfer_encoding_lines_are_one_list_ending_in_chunked() {
    let te = |lines: &[&str]| {
        let fields: String = lines
            .iter()
            .map(|v| format!("Transfer-Encoding: {v}\r\n"))
            .collect();
        format!("POST / HTTP/1.1\r\nHost: x\r\n{fields}\r\n")
    };
    let chunked = |lines: &[&str]| {
        let raw = te(lines);
        let head = complete(raw.as_bytes());
        assert_eq!(head.body, BodyFraming::Chunked, "{lines:?}");
        head.coded
    };
    assert!(!chunked(&["chunked"]));
    assert!(!chunked(&["CHUNKED"]));
    assert!(
        chunked(&["gzip, chunked"]),
        "codings before chunked are noted"
    );
    assert!(chunked(&["gzip", "chunked"]), "several lines are one list");
    assert!(chunked(&["gzip,deflate", " chunked "]));
}

#[test]
fn transfer_encoding_that_leaves_the_length_unknown_is_400() {
    let te = |v: &str, extra: &str| {
        format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {v}\r\n{extra}\r\n")
    };
    assert_eq!(
        status_of(te("chunked", "Content-Length: 5\r\n").as_bytes()),
        400
    );
    for bad in [
        "gzip",
        "chunked, gzip",
        "xchunked",
        "chunked;q=1",
        "",
        "\"chunked\"",
        "chunked,",
        "chunked, chunked",
    ] {
        assert_eq!(
            status_of(te(bad, "").as_bytes()),
            400,
            "Transfer-Encoding: {bad}"
        );
    }
    assert_eq!(
        status_of(te("chunked", "Transfer-Encoding: gzip\r\n").as_bytes()),
        400,
        "a later line ends the list in gzip"
    );
    assert_eq!(
        status_of(te("chunked", "Transfer-Encoding: chunked\r\n").as_bytes()),
        400,
        "chunked twice"
    );
    assert_eq!(
        status_of(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
        400
    );
}

#[test]
fn expectations_and_content_type() {
    let head = complete(
        b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Type: text/plain \r\n\r\n",
    );
    assert!(head.expect_continue);
    assert_eq!(head.content_type, Some(&b"text/plain"[..]));
    assert!(
        !complete(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expect_continue,
        "1.0 ignores it"
    );
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n"),
        417
    );
    assert_eq!(
        status_of(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n\r\n"),
        400,
        "two media types"
    );
}

#[test]
fn host_is_required_once_on_http_1_1() {
    assert_eq!(status_of(b"GET / HTTP/1.1\r\n\r\n"), 400);
    assert_eq!(
        status_of(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        400
    );
    assert_eq!(complete(b"GET / HTTP/1.0\r\n\r\n").minor, 0);
}

#[test]
fn malformed_heads_are_bad_requests() {
    let cases: [&[u8]; 8] = [
        b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\rX: y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHo\x01st: x\r\n\r\n",
        b"GET / HTTP/1.1\r\n: x\r\n\r\n",
        b"G\x00T / HTTP/1.1\r\n\r\n",
        b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n",
    ];
    for raw in cases {
        assert_eq!(status_of(raw), 400, "{:?}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn other_versions_are_not_supported() {
    assert_eq!(status_of(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), 505);
    assert_eq!(status_of(b"GET / HTTP/1.2\r\nHost: x\r\n\r\n"), 505);
    assert_eq!(
        status_of(b"GET /\r\n"),
        400,
        "HTTP/0.9: a request line without a version"
    );
}

#[test]
fn heads_over_the_limit() {
    let long_line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX));
    assert_eq!(status_of(long_line.as_bytes()), 414);
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "a".repeat(MAX)
    );
    assert_eq!(status_of(big.as_bytes()), 431);
    let mut many = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
    (0..MAX_HEADERS).for_each(|i| many.push_str(&format!("X-{i}: y\r\n")));
    assert_eq!(status_of(format!("{many}\r\n").as_bytes()), 431);
}

#[test]
fn exactly_at_the_limit_is_accepted() {
    let pad = MAX - "GET / HTTP/1.1\r\nHost: x\r\nX: \r\n\r\n".len();
    let raw = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "a".repeat(pad)
    );
    assert_eq!(complete(raw.as_bytes()).len, MAX);
    let over = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "a".repeat(pad + 1)
    );
    assert_eq!(status_of(over.as_bytes()), 431);
}
