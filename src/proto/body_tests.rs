//! Request bodies at the session level: `POST /greet` with the name in a form or text
//! body, framed by length or chunked; chunked bodies discarded on any route; `Expect:
//! 100-continue`. Each case names its status and whether the connection stays open.

use super::tests::{CLOSE_LINGER, GET, answer, drive, expected, greeter, greeter_with};
use super::{Next, Output, ProtoConfig};

const FORM: &str = "application/x-www-form-urlencoded";

fn post(path: &str, extra: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn chunked(path: &str, extra: &str, chunks: &[&str]) -> String {
    let body: String = chunks
        .iter()
        .map(|c| format!("{:x}\r\n{c}\r\n", c.len()))
        .collect();
    format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\n{extra}Transfer-Encoding: chunked\r\n\r\n{body}0\r\n\r\n"
    )
}

fn typed(media: &str) -> String {
    format!("Content-Type: {media}\r\n")
}

fn hello(name: &str) -> String {
    expected("200 OK", "", &format!("Hello, {name}!"))
}

fn refused(status: &str, extra: &str) -> String {
    let reason = status.split_once(' ').unwrap().1;
    expected(status, extra, reason)
}

#[test]
fn post_greet_reads_the_name_from_a_form_or_text_body() {
    for (request, name) in [
        (post("/greet", &typed(FORM), "name=Alice"), "Alice"),
        (
            post("/greet", &typed(FORM), "x=1&name=Ren%C3%A9e+B"),
            "Renée B",
        ),
        (post("/greet", &typed("text/plain"), "Alice"), "Alice"),
        (
            post("/greet", &typed("text/plain; charset=utf-8"), "Bo\n"),
            "Bo",
        ),
        (
            chunked("/greet", &typed(FORM), &["na", "me=Al", "ice"]),
            "Alice",
        ),
        (
            chunked("/greet", &typed("text/plain"), &["Al", "ice"]),
            "Alice",
        ),
    ] {
        assert_eq!(
            answer(&request),
            (hello(name), None),
            "{request:?}: 200, stays open"
        );
    }
}

#[test]
fn post_greet_refusals_keep_a_well_framed_connection() {
    let bad = refused("400 Bad Request", "");
    let unsupported = refused("415 Unsupported Media Type", "");
    for (request, want) in [
        (post("/greet", &typed(FORM), "name="), &bad),
        (post("/greet", &typed("text/plain"), "a\u{1}b"), &bad),
        (post("/greet", &typed(FORM), "nom=Alice"), &bad),
        (post("/greet", &typed("text/plain"), &"x".repeat(65)), &bad),
        ("POST /greet HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(), &bad),
        (
            post("/greet", &typed("application/json"), "{}"),
            &unsupported,
        ),
        (
            post("/greet", &typed("text/plain; charset=latin1"), "Al"),
            &unsupported,
        ),
        (post("/greet", "", "name=Al"), &unsupported),
        (
            chunked(
                "/greet",
                &format!("{}Transfer-Encoding: gzip\r\n", typed(FORM)),
                &["x"],
            ),
            &unsupported,
        ),
    ] {
        let (out, next) = answer(&format!("{request}{GET}"));
        assert_eq!(out, format!("{want}{}", hello("world")), "{request:?}");
        assert_eq!(next, None, "{request:?}: the next request is answered too");
    }
}

#[test]
fn other_methods_on_greet_are_405_allowing_post() {
    let allow = "Allow: POST, OPTIONS\r\n";
    assert_eq!(
        answer("GET /greet HTTP/1.1\r\nHost: x\r\n\r\n"),
        (refused("405 Method Not Allowed", allow), None)
    );
}

#[test]
fn a_chunked_body_on_any_route_is_discarded_and_pipelining_goes_on() {
    let request = chunked("/healthz", "", &["abc", "defgh"]) + &chunked("/", "", &["ij"]) + GET;
    let allow = "Allow: GET, HEAD, OPTIONS\r\n";
    let want = refused("405 Method Not Allowed", allow) + &hello("world") + &hello("world");
    assert_eq!(answer(&request), (want.clone(), None));
    let bytes = request.as_bytes();
    let one_at_a_time: Vec<&[u8]> = bytes.chunks(1).collect();
    assert_eq!(
        drive(&greeter(), &one_at_a_time),
        (want, None),
        "a byte at a time"
    );
    let get_with_body = chunked("/healthz", "", &["x"]).replace("POST", "GET");
    assert_eq!(
        answer(&get_with_body).0,
        expected("200 OK", "Connection: close\r\n", "ok"),
        "content on GET is read, answered, and the connection closes after it"
    );
}

#[test]
fn bodies_over_the_limit_are_413_and_close() {
    let g = greeter_with(ProtoConfig {
        max_body_bytes: 8,
        ..ProtoConfig::default()
    });
    let close = "Connection: close\r\n";
    for request in [
        chunked("/", "", &["12345", "6789"]),
        chunked("/greet", &typed(FORM), &["name=Alice"]),
        post("/greet", &typed(FORM), "name=Alice"),
    ] {
        let got = drive(&g, &[format!("{request}{GET}").as_bytes()]);
        assert_eq!(
            got,
            (refused("413 Content Too Large", close), CLOSE_LINGER),
            "{request:?}"
        );
    }
}

#[test]
fn a_trailer_section_over_the_head_limit_is_431_and_closes() {
    let g = greeter_with(ProtoConfig {
        max_header_bytes: 128,
        ..ProtoConfig::default()
    });
    let request = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: {}\r\n\r\n",
        "a".repeat(200)
    );
    let close = "Connection: close\r\n";
    assert_eq!(
        drive(&g, &[request.as_bytes()]),
        (
            refused("431 Request Header Fields Too Large", close),
            CLOSE_LINGER
        )
    );
}

#[test]
fn continue_is_sent_when_the_body_will_be_read() {
    let expect = format!("Expect: 100-continue\r\n{}", typed(FORM));
    let request = post("/greet", &expect, "name=Alice");
    let (head, body) = request.split_at(request.len() - "name=Alice".len());
    let continue_ = "HTTP/1.1 100 Continue\r\n\r\n";
    assert_eq!(
        drive(&greeter(), &[head.as_bytes()]),
        (continue_.to_owned(), None)
    );
    let both = drive(&greeter(), &[head.as_bytes(), body.as_bytes()]);
    assert_eq!(both, (format!("{continue_}{}", hello("Alice")), None));
    let chunked = chunked("/greet", &expect, &["name=Bo"]);
    assert_eq!(
        answer(&chunked),
        (format!("{continue_}{}", hello("Bo")), None)
    );
    let http_1_0 = "POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx";
    assert!(
        !answer(http_1_0).0.contains("100 Continue"),
        "HTTP/1.0 ignores Expect"
    );
}

#[test]
fn a_refusal_is_sent_at_once_without_waiting_for_the_body_then_closes() {
    let close = "Connection: close\r\n";
    let expect = "Expect: 100-continue\r\n";
    let g = greeter_with(ProtoConfig {
        max_body_bytes: 100,
        ..ProtoConfig::default()
    });
    for (head, want) in [
        (post("/nope", expect, ""), refused("404 Not Found", close)),
        (
            post("/healthz", expect, ""),
            refused(
                "405 Method Not Allowed",
                &format!("{close}Allow: GET, HEAD, OPTIONS\r\n"),
            ),
        ),
        (
            post(
                "/greet",
                &format!("{expect}{}", typed("application/json")),
                "",
            ),
            refused("415 Unsupported Media Type", close),
        ),
        (
            post("/", expect, "").replace("Length: 0", "Length: 101"),
            refused("413 Content Too Large", close),
        ),
    ] {
        // Only the head: the client waits for our word before it sends the body.
        let head = head.replace("Content-Length: 0", "Content-Length: 10");
        assert_eq!(
            drive(&g, &[head.as_bytes()]),
            (want, CLOSE_LINGER),
            "{head:?}"
        );
    }
}

#[test]
fn a_body_that_stops_arriving_is_408_at_the_deadline() {
    let g = greeter();
    let mut session = super::Session::default();
    let mut out = Vec::new();
    let start = chunked("/greet", &typed(FORM), &["name=Al"]);
    let cut = &start.as_bytes()[..start.len() - 7];
    let now = std::time::Instant::now();
    let progress = session.handle_input(&g, cut, &mut Output::bytes(&mut out), now);
    assert_eq!((progress.consumed, progress.next), (cut.len(), Next::Read));
    assert!(session.in_body(), "mid-body");
    session.handle_timeout(&g, None, &mut Output::bytes(&mut out));
    let close = "Connection: close\r\n";
    assert_eq!(
        String::from_utf8(out).unwrap(),
        refused("408 Request Timeout", close)
    );
}
