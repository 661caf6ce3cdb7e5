//! Faults a server on the open internet meets, survived on every backend: descriptor
//! exhaustion, slowloris, reset bursts, clients that never read, the connection limit,
//! receive-buffer and completion-queue pressure. Bounded loops; measured figures are
//! printed (run with `--nocapture` to see them).

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use greeter::BackendChoice;
use support::child::{Greeter, child_args, command};
use support::*;

/// A connection that has sent one request and read its answer.
fn answered(addr: SocketAddr) -> TcpStream {
    let mut c = connect(addr);
    c.write_all(GET.as_bytes()).unwrap();
    assert_eq!(read_response(&mut c), hello());
    c
}

/// Whether the peer has closed `c` within `wait` (end of stream or reset).
fn closed_within(c: &mut TcpStream, wait: Duration) -> bool {
    c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let deadline = Instant::now() + wait;
    let mut buf = [0u8; 65536];
    while Instant::now() < deadline {
        match c.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(_) => return true,
        }
    }
    false
}

fn descriptor_exhaustion_pauses_accepting_without_spinning(backend: BackendChoice) {
    let args = child_args(backend, &["--max-connections", "1000"]);
    let mut server = Greeter::spawn_with(command(&args, &[]), |c| {
        support::child::with_nofile(c, 64).spawn()
    });
    let addr = server.address();
    let clients: Vec<TcpStream> = (0..90).map(|_| connect(addr)).collect();
    let mut served = Vec::new();
    let mut waiting = Vec::new();
    for (i, mut c) in clients.into_iter().enumerate() {
        if let Err(e) = c.write_all(GET.as_bytes()) {
            thread::sleep(Duration::from_millis(300)); // for the server's last words
            panic!("client {i}: {e}; server log: {:#?}", server.drain_log());
        }
        c.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut buf = [0u8; 512];
        match c.read(&mut buf) {
            Ok(n) if n > 0 => served.push(c),
            _ => waiting.push(c),
        }
    }
    println!(
        "{backend:?}: {} clients served, {} waiting for a descriptor",
        served.len(),
        waiting.len()
    );
    assert!(
        !served.is_empty() && !waiting.is_empty(),
        "64 descriptors cannot hold 90 connections"
    );
    server.drain_log();
    let cpu_before = server.cpu_seconds();
    thread::sleep(Duration::from_secs(3));
    let cpu = server.cpu_seconds() - cpu_before;
    let warnings = server
        .drain_log()
        .iter()
        .filter(|l| l.contains("accept failed"))
        .count();
    println!(
        "{backend:?}: {cpu:.3} s of CPU and {warnings} log lines over 3 s without descriptors"
    );
    assert!(
        cpu < 0.3,
        "no spinning while descriptors are exhausted: {cpu} s"
    );
    assert!(
        (2..=4).contains(&warnings),
        "logged about once a second, not per attempt: {warnings} lines"
    );
    served[0].write_all(GET.as_bytes()).unwrap();
    served[0].set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(
        read_response(&mut served[0]),
        hello(),
        "open connections are still served"
    );
    served.drain(1..21).for_each(drop);
    let freed = Instant::now();
    let mut next = waiting.remove(0);
    next.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    assert_eq!(
        read_response(&mut next),
        hello(),
        "accepting resumes once descriptors free up"
    );
    println!(
        "{backend:?}: a waiting client was served {:?} after descriptors were freed",
        freed.elapsed()
    );
}

fn slowloris_is_cut_at_the_header_deadline(backend: BackendChoice) {
    let deadline = Duration::from_secs(1);
    let server = server_with(backend, |c| c.proto.timeouts.header = deadline);
    let addr = server.local_addr();
    let start = Instant::now();
    let attacker = thread::spawn(move || {
        let mut slow: Vec<TcpStream> = (0..200).map(|_| connect(addr)).collect();
        let request = format!(
            "GET / HTTP/1.1\r\nHost: t\r\nX-Slow: {}\r\n\r\n",
            "a".repeat(100)
        );
        for byte in request.bytes().take(16) {
            for c in &mut slow {
                let _ = c.write_all(&[byte]);
            }
            thread::sleep(Duration::from_millis(100));
        }
        slow
    });
    let mut normal = connect(addr);
    let mut answered = 0;
    while start.elapsed() < Duration::from_millis(1500) {
        normal.write_all(GET.as_bytes()).unwrap();
        assert_eq!(
            read_response(&mut normal),
            hello(),
            "served during the attack"
        );
        answered += 1;
        thread::sleep(Duration::from_millis(20));
    }
    let mut slow = attacker.join().unwrap();
    let still_open = slow
        .iter_mut()
        .map(|c| closed_within(c, Duration::from_millis(300)))
        .filter(|closed| !closed)
        .count();
    println!(
        "{backend:?}: {answered} normal requests answered during the attack; {still_open} of 200 slow clients open at {:?}",
        start.elapsed()
    );
    assert_eq!(
        still_open, 0,
        "trickling bytes must not extend the header deadline"
    );
}

fn a_burst_of_resets_mid_response_spares_everyone_else(backend: BackendChoice) {
    let body = "r".repeat(64 * 1024);
    let server = server_with(backend, |c| c.proto.greeting = body.clone());
    let addr = server.local_addr();
    let mut steady = connect(addr);
    let mut burst: Vec<TcpStream> = (0..1000).map(|_| connect(addr)).collect();
    burst
        .iter_mut()
        .for_each(|c| c.write_all(GET.as_bytes()).unwrap());
    for c in &mut burst {
        let mut first = [0u8; 1];
        c.read_exact(&mut first).unwrap(); // its answer is on the way
    }
    for c in burst {
        socket2::SockRef::from(&c)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
    }
    steady.write_all(GET.as_bytes()).unwrap();
    assert_eq!(read_response(&mut steady), expected("200 OK", "", &body));
    eventually("the reset connections are released", || {
        server.stats().open == 1
    });
}

fn clients_that_never_read_stay_bounded_and_are_closed(backend: BackendChoice) {
    let mut server = Greeter::start(&child_args(backend, &["--idle-timeout", "1s"]), &[]);
    let addr = server.address();
    drop(answered(addr));
    thread::sleep(Duration::from_millis(200));
    let before = server.rss();
    let batch = GET.repeat(2000);
    let mut hogs: Vec<TcpStream> = (0..100).map(|_| connect(addr)).collect();
    for c in &mut hogs {
        c.set_write_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let _ = c.write_all(batch.as_bytes()); // until the server stops reading
    }
    let peak = (0..10)
        .map(|_| {
            thread::sleep(Duration::from_millis(50));
            server.rss()
        })
        .max()
        .unwrap();
    let growth = peak.saturating_sub(before);
    println!(
        "{backend:?}: 100 clients pipelining without reading grew the server by {} KiB",
        growth / 1024
    );
    assert!(
        growth < 32 << 20,
        "memory stays bounded: grew {growth} bytes"
    );
    let open = hogs
        .iter_mut()
        .map(|c| closed_within(c, Duration::from_secs(5)))
        .filter(|closed| !closed)
        .count();
    assert_eq!(open, 0, "stalled readers are closed at the idle timeout");
}

/// After a large answer a keep-alive connection goes idle; it must not keep the answer's
/// buffer (300 of them would hold 18 MB).
fn idle_connections_hold_no_output_buffer(backend: BackendChoice) {
    let greeting = "x".repeat(60_000);
    let args = child_args(backend, &["--message", &greeting]);
    let mut server = Greeter::start(&args, &[]);
    let addr = server.address();
    let want = expected("200 OK", "", &greeting);
    let fetch = || {
        let mut c = connect(addr);
        c.write_all(GET.as_bytes()).unwrap();
        assert_eq!(read_response(&mut c), want);
        c
    };
    let mut idle = vec![fetch()];
    thread::sleep(Duration::from_millis(200));
    let before = server.rss();
    idle.extend((0..300).map(|_| fetch()));
    thread::sleep(Duration::from_millis(200));
    let growth = server.rss().saturating_sub(before);
    println!(
        "{backend:?}: 300 idle connections after 60 KB answers grew the server by {} KiB",
        growth / 1024
    );
    assert!(
        growth < 4 << 20,
        "idle connections hold their answers: {growth} bytes"
    );
}

fn the_connection_limit_sheds_idle_connections_then_pauses(backend: BackendChoice) {
    let server = server_with(backend, |c| {
        c.workers = std::num::NonZeroUsize::new(1);
        c.max_connections = std::num::NonZeroUsize::new(8);
    });
    let addr = server.local_addr();
    let mut idle: Vec<TcpStream> = (0..8).map(|_| answered(addr)).collect();
    drop(answered(addr)); // the ninth: idle keep-alive connections make room
    let shed = idle
        .iter_mut()
        .map(|c| closed_within(c, Duration::from_secs(2)))
        .filter(|closed| *closed)
        .count();
    assert!(shed >= 1, "idle keep-alive connections are closed first");
    drop(idle);
    eventually("the shed connections are released", || {
        server.stats().open == 0
    });
    let mut busy: Vec<TcpStream> = (0..8).map(|_| connect(addr)).collect();
    busy.iter_mut()
        .for_each(|c| c.write_all(b"GET / HTTP/1.1\r\n").unwrap()); // mid-request
    eventually("all eight are accepted", || server.stats().open == 8);
    let mut ninth = connect(addr);
    ninth.write_all(GET.as_bytes()).unwrap();
    ninth
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut buf = [0u8; 64];
    assert!(
        ninth.read(&mut buf).is_err(),
        "at the limit with nobody idle, accepting pauses"
    );
    drop(busy.pop());
    ninth.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(
        read_response(&mut ninth),
        hello(),
        "accepting resumes below the limit"
    );
}

fn buffer_ring_and_completion_queue_pressure(backend: BackendChoice) {
    let server = server_with(backend, |c| {
        c.workers = std::num::NonZeroUsize::new(1);
        c.uring.recv_buffers = 4;
        c.uring.recv_buffer_size = 1024;
        c.uring.sq_entries = 8; // a completion queue of 32 for a burst of 200
    });
    let addr = server.local_addr();
    let mut conns: Vec<TcpStream> = (0..200).map(|_| connect(addr)).collect();
    let batch = GET.repeat(50);
    conns
        .iter_mut()
        .for_each(|c| c.write_all(batch.as_bytes()).unwrap());
    let answered: usize = conns
        .iter_mut()
        .map(|c| count_responses(read_responses(c, 50).as_bytes()))
        .sum();
    assert_eq!(answered, 200 * 50, "every request answered");
    if backend == BackendChoice::Uring {
        println!(
            "uring: {} receives re-armed after running out of buffers",
            server.stats().recv_enobufs
        );
        assert!(server.stats().recv_enobufs > 0);
    }
}

per_backend!(
    descriptor_exhaustion_pauses_accepting_without_spinning,
    slowloris_is_cut_at_the_header_deadline,
    a_burst_of_resets_mid_response_spares_everyone_else,
    clients_that_never_read_stay_bounded_and_are_closed,
    idle_connections_hold_no_output_buffer,
    the_connection_limit_sheds_idle_connections_then_pauses,
    buffer_ring_and_completion_queue_pressure,
);
