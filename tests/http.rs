//! HTTP conformance against real servers on every backend: byte-exact answers for every
//! route and error, pipelining, splits, HTTP/1.0 and Connection rules.

mod support;

use std::io::Write;
use std::thread::sleep;
use std::time::Duration;

use greeter::BackendChoice;
use support::*;

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

fn closed(status: &str, body: &str) -> String {
    expected(status, "Connection: close\r\n", body)
}

fn every_route_answers_byte_exact(backend: BackendChoice) {
    let server = server(backend);
    let mut c = connect(server.local_addr());
    let cases = [
        (get("/"), hello()),
        (
            "HEAD / HTTP/1.1\r\nHost: t\r\n\r\n".to_owned(),
            hello().replace("Hello, world!", ""),
        ),
        (get("/greet/Alice"), expected("200 OK", "", "Hello, Alice!")),
        (
            get("/greet/Ren%C3%A9e?x=1"),
            expected("200 OK", "", "Hello, Renée!"),
        ),
        (get("/healthz"), expected("200 OK", "", "ok")),
        (get("/nope"), expected("404 Not Found", "", "Not Found")),
        (
            get("/greet/%00"),
            expected("400 Bad Request", "", "Bad Request"),
        ),
        (
            get(&format!("/greet/{}", "a".repeat(65))),
            expected("400 Bad Request", "", "Bad Request"),
        ),
        (
            "DELETE / HTTP/1.1\r\nHost: t\r\n\r\n".to_owned(),
            expected(
                "405 Method Not Allowed",
                "Allow: GET, HEAD, POST, OPTIONS\r\n",
                "Method Not Allowed",
            ),
        ),
        (
            "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello".to_owned(),
            expected("200 OK", "", "Hello, world!"),
        ),
        (
            "POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello".to_owned(),
            expected(
                "405 Method Not Allowed",
                "Allow: GET, HEAD, OPTIONS\r\n",
                "Method Not Allowed",
            ),
        ),
        (
            get("http://t/greet/Bo"),
            expected("200 OK", "", "Hello, Bo!"),
        ),
    ];
    for (request, want) in cases {
        c.write_all(request.as_bytes()).unwrap();
        let got = if request.starts_with("HEAD") {
            // HEAD answers carry a Content-Length but no body: read the head only.
            let mut head = Vec::new();
            let mut byte = [0];
            while !head.ends_with(b"\r\n\r\n") {
                std::io::Read::read_exact(&mut c, &mut byte).unwrap();
                head.push(byte[0]);
            }
            normalize(&head)
        } else {
            read_response(&mut c)
        };
        assert_eq!(got, want, "answer to {request:?}");
    }
}

fn bad_input_is_answered_then_closed(backend: BackendChoice) {
    let server = server(backend);
    let addr = server.local_addr();
    let big_head = format!(
        "GET / HTTP/1.1\r\nHost: t\r\nX: {}\r\n\r\n",
        "a".repeat(9000)
    );
    let long_line = format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(9000));
    let cases = [
        ("GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n".to_owned(), closed("400 Bad Request", "Bad Request")),
        ("GET / HTTP/1.1\r\n\r\n".to_owned(), closed("400 Bad Request", "Bad Request")),
        (big_head, closed("431 Request Header Fields Too Large", "Request Header Fields Too Large")),
        (long_line, closed("414 URI Too Long", "URI Too Long")),
        ("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 70000\r\n\r\n".to_owned() + &"x".repeat(70000), closed("413 Content Too Large", "Content Too Large")),
        ("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n".to_owned(), closed("400 Bad Request", "Bad Request")),
        ("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc".to_owned(), closed("400 Bad Request", "Bad Request")),
        ("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_owned(), closed("400 Bad Request", "Bad Request")),
        ("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_owned(), closed("505 HTTP Version Not Supported", "HTTP Version Not Supported")),
    ];
    for (request, want) in cases {
        assert_eq!(
            exchange(addr, request.as_bytes()),
            want,
            "answer to {:.60?}",
            request
        );
    }
}

fn connection_rules(backend: BackendChoice) {
    let server = server(backend);
    let addr = server.local_addr();
    assert_eq!(
        exchange(addr, b"GET / HTTP/1.0\r\n\r\n"),
        closed("200 OK", "Hello, world!")
    );
    let close = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    assert_eq!(
        exchange(addr, close.as_bytes()),
        closed("200 OK", "Hello, world!")
    );
    let mut c = connect(addr);
    c.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    assert_eq!(
        read_response(&mut c),
        expected("200 OK", "Connection: keep-alive\r\n", "Hello, world!")
    );
    c.write_all(GET.as_bytes()).unwrap();
    assert_eq!(read_response(&mut c), hello(), "the connection stayed open");
}

fn pipelined_16_and_1000_in_one_write(backend: BackendChoice) {
    let server = server(backend);
    for count in [16, 1000] {
        let mut c = connect(server.local_addr());
        let batch: String = (0..count).map(|i| get(&format!("/greet/n{i}"))).collect();
        c.write_all(batch.as_bytes()).unwrap();
        let want: String = (0..count)
            .map(|i| expected("200 OK", "", &format!("Hello, n{i}!")))
            .collect();
        assert_eq!(read_responses(&mut c, count), want);
    }
}

fn a_request_sent_one_byte_at_a_time(backend: BackendChoice) {
    let server = server(backend);
    let mut c = connect(server.local_addr());
    c.set_nodelay(true).unwrap();
    let request = format!("{}{GET}", get("/greet/slow"));
    for byte in request.as_bytes() {
        c.write_all(&[*byte]).unwrap();
        sleep(Duration::from_millis(1));
    }
    assert_eq!(
        read_responses(&mut c, 2),
        expected("200 OK", "", "Hello, slow!") + &hello()
    );
}

fn custom_greeting(backend: BackendChoice) {
    let server = server_with(backend, |c| c.proto.greeting = "Bonjour, le monde !".into());
    let mut c = connect(server.local_addr());
    c.write_all(GET.as_bytes()).unwrap();
    assert_eq!(
        read_response(&mut c),
        expected("200 OK", "", "Bonjour, le monde !")
    );
}

per_backend!(
    every_route_answers_byte_exact,
    bad_input_is_answered_then_closed,
    connection_rules,
    pipelined_16_and_1000_in_one_write,
    a_request_sent_one_byte_at_a_time,
    custom_greeting,
);
