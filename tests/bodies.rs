//! Request bodies against real servers on every backend: `POST /greet` with form, text and
//! chunked bodies, `415`, a chunked body followed by pipelined requests, `Expect:
//! 100-continue` with a client that waits for the `100`, a body trickled a byte at a time,
//! a chunk-size overflow, a body over the limit.

mod support;

use std::io::{Read, Write};
use std::thread::sleep;
use std::time::Duration;

use greeter::BackendChoice;
use support::*;

const FORM: &str = "application/x-www-form-urlencoded";

fn post(path: &str, media: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {media}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn chunked(path: &str, media: &str, chunks: &[&str]) -> String {
    let body: String = chunks
        .iter()
        .map(|c| format!("{:x}\r\n{c}\r\n", c.len()))
        .collect();
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: {media}\r\nTransfer-Encoding: chunked\r\n\r\n{body}0\r\n\r\n"
    )
}

fn hello(name: &str) -> String {
    expected("200 OK", "", &format!("Hello, {name}!"))
}

fn closed(status: &str) -> String {
    let reason = status.split_once(' ').unwrap().1;
    expected(status, "Connection: close\r\n", reason)
}

fn post_greet_with_form_text_and_chunked_bodies(backend: BackendChoice) {
    let server = server(backend);
    let mut c = connect(server.local_addr());
    for (request, name) in [
        (post("/greet", FORM, "name=Alice"), "Alice"),
        (post("/greet", "text/plain", "Bob"), "Bob"),
        (chunked("/greet", FORM, &["name=Ca", "rol%20A"]), "Carol A"),
        (
            chunked("/greet", "text/plain; charset=utf-8", &["Dé", "sirée"]),
            "Désirée",
        ),
    ] {
        c.write_all(request.as_bytes()).unwrap();
        assert_eq!(read_response(&mut c), hello(name), "{request:?}");
    }
}

fn unsupported_media_is_415_and_the_connection_stays(backend: BackendChoice) {
    let server = server(backend);
    let mut c = connect(server.local_addr());
    let request = post("/greet", "application/json", "{\"name\":\"Al\"}") + GET;
    c.write_all(request.as_bytes()).unwrap();
    let want = expected("415 Unsupported Media Type", "", "Unsupported Media Type");
    assert_eq!(read_responses(&mut c, 2), want + &support::hello());
}

fn a_chunked_body_then_pipelined_requests(backend: BackendChoice) {
    let server = server(backend);
    let mut c = connect(server.local_addr());
    let body = ["abc", &"x".repeat(3000), "z"];
    let request = chunked("/healthz", "text/plain", &body) + &chunked("/", "", &body) + GET;
    c.write_all(request.as_bytes()).unwrap();
    let refused = expected(
        "405 Method Not Allowed",
        "Allow: GET, HEAD, OPTIONS\r\n",
        "Method Not Allowed",
    );
    assert_eq!(
        read_responses(&mut c, 3),
        refused + &support::hello() + &support::hello()
    );
}

fn continue_then_the_body(backend: BackendChoice) {
    let server = server(backend);
    let mut c = connect(server.local_addr());
    let head = "POST /greet HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\n";
    c.write_all(head.as_bytes()).unwrap();
    let mut interim = [0u8; 25];
    c.read_exact(&mut interim).unwrap(); // the client waits for this before the body
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    c.write_all(b"Eve").unwrap();
    assert_eq!(read_response(&mut c), hello("Eve"));
}

fn a_refusal_does_not_wait_for_the_body(backend: BackendChoice) {
    let server = server(backend);
    let head =
        "POST /nope HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n";
    // The body is never sent: the answer must come without it.
    assert_eq!(
        exchange(server.local_addr(), head.as_bytes()),
        closed("404 Not Found")
    );
}

fn a_body_trickled_one_byte_at_a_time(backend: BackendChoice) {
    let server = server(backend);
    let mut c = connect(server.local_addr());
    c.set_nodelay(true).unwrap();
    for byte in chunked("/greet", FORM, &["name=", "Slow"]).bytes() {
        c.write_all(&[byte]).unwrap();
        sleep(Duration::from_millis(1));
    }
    assert_eq!(read_response(&mut c), hello("Slow"));
}

fn a_chunk_size_overflow_is_400_and_closes(backend: BackendChoice) {
    let server = server(backend);
    let request =
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000a\r\nabc";
    assert_eq!(
        exchange(server.local_addr(), format!("{request}{GET}").as_bytes()),
        closed("400 Bad Request")
    );
}

fn a_body_over_the_limit_is_413_and_closes(backend: BackendChoice) {
    let server = server_with(backend, |c| c.proto.max_body_bytes = 1000);
    let request = chunked("/", "text/plain", &[&"a".repeat(600), &"b".repeat(600)]);
    assert_eq!(
        exchange(server.local_addr(), format!("{request}{GET}").as_bytes()),
        closed("413 Content Too Large")
    );
}

per_backend!(
    post_greet_with_form_text_and_chunked_bodies,
    unsupported_media_is_415_and_the_connection_stays,
    a_chunked_body_then_pipelined_requests,
    continue_then_the_body,
    a_refusal_does_not_wait_for_the_body,
    a_body_trickled_one_byte_at_a_time,
    a_chunk_size_overflow_is_400_and_closes,
    a_body_over_the_limit_is_413_and_closes,
);
