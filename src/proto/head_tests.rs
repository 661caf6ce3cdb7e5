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
fn content_on_get_or_head_closes_after_the_answer() {
    for raw in [
        &b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"[..],
        b"HEAD / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
    ] {
        let head = complete(raw);
        assert!(!head.persist, "{}", String::from_utf8_lossy(raw));
        assert_ne!(head.body, BodyFraming::None);
    }
    assert!(complete(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").persist);
    assert!(complete(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n").persist);
}

#[test]
fn a_framing_field_lookalike_closes_after_the_answer() {
    for name in [
        "Transfer_Encoding",
        "transfer---encoding",
        "Content_Length",
        "CONTENT__LENGTH",
        "Trans-fer-Encoding",
        "_Content-Length",
    ] {
        let raw = format!("POST / HTTP/1.1\r\nHost: x\r\n{name}: chunked\r\n\r\n");
        let head = complete(raw.as_bytes());
        assert!(!head.persist, "{name}");
        assert_eq!(head.body, BodyFraming::None, "{name} frames nothing");
    }
    for name in [
        "Content-Language",
        "Content-Type",
        "Content-Length-X",
        "Trailer",
        "X-Content-Length",
    ] {
        let raw = format!("GET / HTTP/1.1\r\nHost: x\r\n{name}: 1\r\n\r\n");
        assert!(complete(raw.as_bytes()).persist, "{name}");
    }
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
    assert_eq!(status_of(b"GET / HTTP/3.0\r\nHost: x\r\n\r\n"), 505);
    assert_eq!(
        status_of(b"GET /\r\n"),
        400,
        "HTTP/0.9: a request line without a version"
    );
}

#[test]
fn a_malformed_version_is_400_not_505() {
    // RFC 9112 §2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT; HTTP-name is
    // case-sensitive.
    for line in [
        "GET / HTTP/1",
        "GET / HTTP/01.1",
        "GET / HTTP/1.10",
        "GET / HTTP/ 1.1",
        "GET / HTTP /1.1",
        "GET / http/1.1",
        "GET / Http/1.1",
        "GET / HTTP/1.1 ",
        "GET / HTTP/1.x",
        "GET /a b HTTP/1.1",
        "GET / HTTP/1.1 extra",
    ] {
        let raw = format!("{line}\r\nHost: x\r\n\r\n");
        assert_eq!(status_of(raw.as_bytes()), 400, "{line:?}");
    }
}

#[test]
fn host_must_be_uri_host_and_port() {
    // RFC 9112 §3.2: a Host field with an invalid value is a 400; RFC 9110 §7.2:
    // Host = uri-host [ ":" port ].
    for host in [
        "user@example.com",
        "example.com/path",
        "a, b",
        "a,b",
        "example.com:80:80",
        "exa mple.com",
        "[::1",
    ] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(status_of(raw.as_bytes()), 400, "Host: {host}");
    }
    for host in ["example.com", "example.com:8080", "127.0.0.1", "[::1]:80"] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(complete(raw.as_bytes()).minor, 1, "Host: {host}");
    }
    assert_eq!(
        status_of(b"GET / HTTP/1.0\r\nHost: a@b\r\n\r\n"),
        400,
        "an invalid Host is invalid on HTTP/1.0 too"
    );
}

#[test]
fn an_empty_host_is_refused_with_an_origin_form_target_only() {
    // RFC 9110 §4.2.1: an http URI with an empty host is invalid, and with an
    // origin-form target the Host is the target URI's authority. With an absolute-form
    // target the Host is ignored (RFC 9112 §3.2.2).
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost:\r\n\r\n"), 400);
    assert_eq!(status_of(b"GET / HTTP/1.1\r\nHost: \r\n\r\n"), 400);
    let absolute = complete(b"GET http://example.com/ HTTP/1.1\r\nHost:\r\n\r\n");
    assert_eq!(absolute.target, b"http://example.com/");
}

#[test]
fn targets_are_visible_ascii_without_a_fragment() {
    for target in [&b"/caf\xc3\xa9"[..], b"/\xff", b"/#frag", b"/a#", b"/?q#f"] {
        let mut raw = b"GET ".to_vec();
        raw.extend_from_slice(target);
        raw.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(
            status_of(&raw),
            400,
            "{:?}",
            String::from_utf8_lossy(target)
        );
    }
    assert_eq!(
        complete(b"GET /caf%C3%A9?x=1 HTTP/1.1\r\nHost: x\r\n\r\n").minor,
        1
    );
}

#[test]
fn an_over_long_method_is_400_not_414() {
    let raw = format!("{} / HTTP/1.1\r\nHost: x\r\n\r\n", "A".repeat(MAX + 10));
    assert_eq!(status_of(raw.as_bytes()), 400);
}

#[test]
fn a_bare_lf_ends_no_line() {
    for raw in [
        &b"GET / HTTP/1.1\nHost: x\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nHost: x\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\n",
        b"GET / HTTP/1.1\nHost: x\n\n",
        b"\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    ] {
        assert_eq!(status_of(raw), 400, "{:?}", String::from_utf8_lossy(raw));
    }
    assert_eq!(
        complete(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n").minor,
        1,
        "an empty line (CRLF) before the request line is allowed (RFC 9112 §2.2)"
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
