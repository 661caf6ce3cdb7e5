//! `valgrind --tool=callgrind target/release/examples/proto_count N`: feeds N batches of
//! 16 pipelined GETs (wrk's request) through one connection's flow, as a backend does,
//! and nothing else: the protocol core's instructions per request, counted rather than
//! timed, so two builds compare exactly on a noisy machine. Run it with two values of N;
//! the difference over 16 × the difference in N is the cost of one request. With
//! `browser` after N, the request is a browser's (twelve fields, long names among them).

use std::time::{Instant, SystemTime};

use greeter::proto::{Flow, Greeter, Output, ProtoConfig};

const GET: &[u8] =
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8888\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";

/// A browser's navigation request, as Firefox sends it.
const BROWSER: &[u8] = b"GET / HTTP/1.1\r\nHost: greeter.example:8080\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n\
Connection: keep-alive\r\nUpgrade-Insecure-Requests: 1\r\nSec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\nSec-Fetch-Site: none\r\nSec-Fetch-User: ?1\r\nPriority: u=0, i\r\n\r\n";

fn main() {
    let batches: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let greeter = Greeter::new(ProtoConfig::default(), SystemTime::now());
    let request = match std::env::args().nth(2).as_deref() {
        Some("browser") => BROWSER,
        _ => GET,
    };
    let input = request.repeat(16);
    let now = Instant::now();
    let mut flow = Flow::new(&greeter, now);
    let mut out = Vec::with_capacity(64 * 1024);
    let mut answered = 0;
    for _ in 0..batches {
        out.clear();
        let mut output = Output::bytes(&mut out);
        let _ = flow.handle_input(&greeter, std::hint::black_box(&input), &mut output, now);
        let _ = flow.handle_flushed(&greeter, &mut output, now);
        answered += out.len();
    }
    println!("{answered} bytes answered");
}
