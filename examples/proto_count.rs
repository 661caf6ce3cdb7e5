//! `valgrind --tool=callgrind target/release/examples/proto_count N`: feeds N batches of
//! 16 pipelined GETs (wrk's request) through one connection's flow, as a backend does,
//! and nothing else: the protocol core's instructions per request, counted rather than
//! timed, so two builds compare exactly on a noisy machine. Run it with two values of N;
//! the difference over 16 × the difference in N is the cost of one request.

use std::time::{Instant, SystemTime};

use greeter::proto::{Flow, Greeter, Output, ProtoConfig};

const GET: &[u8] =
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8888\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n";

fn main() {
    let batches: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let greeter = Greeter::new(ProtoConfig::default(), SystemTime::now());
    let input = GET.repeat(16);
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
