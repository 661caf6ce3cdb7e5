//! The io_uring engine against a canned responder, on a ring small enough that the kernel
//! ends multishot receives with data in hand (a full completion queue does that).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::*;
use crate::load::client::Plan;
use crate::load::validate::Expect;

const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";

/// A server that answers every request head it reads, on a thread per connection.
fn responder() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().map_while(Result::ok) {
            std::thread::spawn(move || answer_all(stream));
        }
    });
    addr
}

fn answer_all(mut stream: TcpStream) {
    let (mut buf, mut pending) = ([0u8; 4096], Vec::new());
    while let Ok(n) = stream.read(&mut buf) {
        if n == 0 {
            return;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            pending.drain(..end + 4);
            if stream.write_all(ANSWER).is_err() {
                return;
            }
        }
    }
}

fn job(
    addr: std::net::SocketAddr,
    connections: usize,
    run: Duration,
    progress: Arc<AtomicU64>,
) -> Job {
    let plan = Plan {
        request: b"GET / HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
        pipeline: 16,
        one_shot: false,
        per_connection: None,
        last_request: Vec::new(),
        raw: false,
        rate: None,
        connections,
        timeout_ns: 10_000_000_000,
        retry: false,
    };
    let start = Instant::now();
    Job {
        plan: Arc::new(plan),
        addr,
        first: 0,
        count: connections,
        start,
        end: start + run,
        expect: Expect {
            status: 200,
            body: None,
            any_body: false,
        },
        progress,
    }
}

#[test]
fn connections_keep_sending_when_the_kernel_ends_a_receive_with_data() {
    let Ok(ring) = Ring::new(2, Features::default()) else {
        return eprintln!("skipped: io_uring is unavailable here");
    };
    let progress = Arc::new(AtomicU64::new(0));
    let run = Duration::from_millis(1500);
    let job = job(responder(), 32, run, Arc::clone(&progress));
    let watcher = std::thread::spawn(move || {
        std::thread::sleep(run / 2);
        progress.load(Ordering::Relaxed)
    });
    let stats = run_on(ring, job).unwrap();
    let halfway = watcher.join().unwrap();
    eprintln!(
        "{} answers, {halfway} by half time, {} errors",
        stats.ok,
        stats.errors.total()
    );
    assert_eq!(stats.errors.total(), 0);
    assert!(
        stats.ok > halfway + halfway / 4,
        "answers kept coming in the second half: {halfway} by half time, {} in all",
        stats.ok
    );
}
