//! Connection handling against real servers on every backend: many concurrent clients,
//! resets, timeouts, the raw protocol, graceful shutdown and receive-buffer exhaustion.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use greeter::BackendChoice;
use greeter::proto::Protocol;
use support::child::{Greeter, child_args};
use support::*;

fn thousand_keep_alive_connections_ten_requests_each(backend: BackendChoice) {
    let server = server(backend);
    let addr = server.local_addr();
    let workers: Vec<_> = (0..8)
        .map(|_| {
            thread::spawn(move || {
                let mut conns: Vec<TcpStream> = (0..125).map(|_| connect(addr)).collect();
                for _ in 0..10 {
                    conns
                        .iter_mut()
                        .for_each(|c| c.write_all(GET.as_bytes()).unwrap());
                    conns
                        .iter_mut()
                        .for_each(|c| assert_eq!(read_response(c), hello()));
                }
                conns.len() * 10
            })
        })
        .collect();
    let answered: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    assert_eq!(answered, 10_000);
}

/// Closes with SO_LINGER 0: the server sees a reset, not an orderly end.
fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

fn resets_mid_request_and_mid_response_spare_other_clients(backend: BackendChoice) {
    let server = server_with(backend, |c| c.proto.greeting = "x".repeat(16 * 1024));
    let addr = server.local_addr();
    let mut steady = connect(addr);
    let want = expected("200 OK", "", &"x".repeat(16 * 1024));
    for round in 0..50 {
        let mut partial = connect(addr);
        partial.write_all(b"GET / HTTP/1.1\r\nHos").unwrap();
        reset(partial);
        let mut greedy = connect(addr);
        greedy.write_all(GET.repeat(64).as_bytes()).unwrap();
        let mut first = [0; 1];
        greedy.read_exact(&mut first).unwrap();
        reset(greedy); // mid-response: about 1 MiB is on its way
        steady.write_all(GET.as_bytes()).unwrap();
        assert_eq!(read_response(&mut steady), want, "round {round}");
    }
    assert_eq!(
        exchange(addr, b"GET /healthz HTTP/1.0\r\n\r\n"),
        expected("200 OK", "Connection: close\r\n", "ok")
    );
}

fn raw_protocol_greets_and_closes(backend: BackendChoice) {
    let server = server_with(backend, |c| c.proto.protocol = Protocol::Raw);
    let addr = server.local_addr();
    assert_eq!(exchange(addr, b"hi"), "Hello, world!\n");
    let mut silent_writer = connect(addr);
    silent_writer.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(
        read_to_close(&mut silent_writer),
        "Hello, world!\n",
        "end of stream is greeted too"
    );
}

fn silent_clients_are_closed_at_the_header_timeout(backend: BackendChoice) {
    let timeout = Duration::from_millis(300);
    for protocol in [Protocol::Http, Protocol::Raw] {
        let server = server_with(backend, |c| {
            c.proto.timeouts.header = timeout;
            c.proto.protocol = protocol;
        });
        let start = Instant::now();
        let mut silent = connect(server.local_addr());
        assert_eq!(
            read_to_close(&mut silent),
            "",
            "{protocol:?}: closed without a word"
        );
        assert!(
            start.elapsed() >= timeout,
            "{protocol:?}: closed before the deadline"
        );
    }
    let server = server_with(backend, |c| c.proto.timeouts.header = timeout);
    let mut trickle = connect(server.local_addr());
    trickle.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    assert_eq!(
        read_to_close(&mut trickle),
        expected(
            "408 Request Timeout",
            "Connection: close\r\n",
            "Request Timeout"
        )
    );
}

fn idle_keep_alive_connections_are_closed(backend: BackendChoice) {
    let server = server_with(backend, |c| {
        c.proto.timeouts.idle = Duration::from_millis(300)
    });
    let mut c = connect(server.local_addr());
    c.write_all(GET.as_bytes()).unwrap();
    assert_eq!(read_response(&mut c), hello());
    let start = Instant::now();
    assert_eq!(read_to_close(&mut c), "");
    assert!(start.elapsed() >= Duration::from_millis(250));
}

fn busy_connections_outlive_the_idle_timeout(backend: BackendChoice) {
    let server = server_with(backend, |c| {
        c.proto.timeouts.idle = Duration::from_millis(200);
        c.proto.greeting = "z".repeat(4096);
    });
    let mut c = connect(server.local_addr());
    let start = Instant::now();
    let want = expected("200 OK", "", &"z".repeat(4096)).repeat(32);
    while start.elapsed() < Duration::from_millis(800) {
        c.write_all(GET.repeat(32).as_bytes()).unwrap();
        assert_eq!(read_responses(&mut c, 32), want);
    }
}

fn reading_resumes_after_backpressure(backend: BackendChoice) {
    let server = server_with(backend, |c| c.proto.greeting = "b".repeat(8192));
    let want = expected("200 OK", "", &"b".repeat(8192));
    let mut c = slow_reader(server.local_addr());
    for round in 0..3 {
        // 64 answers of 8 KiB: far past the 64 KiB bound, so reading pauses and resumes.
        c.write_all(GET.repeat(64).as_bytes()).unwrap();
        thread::sleep(Duration::from_millis(50));
        assert_eq!(read_responses(&mut c, 64), want.repeat(64), "round {round}");
    }
}

fn half_close_gets_the_full_response(backend: BackendChoice) {
    let server = server(backend);
    let mut c = connect(server.local_addr());
    c.write_all(GET.repeat(3).as_bytes()).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(read_to_close(&mut c), hello().repeat(3));
}

/// A client with a tiny receive window, so responses stay queued in the server.
fn slow_reader(addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect_timeout(&addr.into(), WAIT).unwrap();
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream
}

fn graceful_shutdown_completes_an_in_flight_pipelined_batch(backend: BackendChoice) {
    let body = "y".repeat(8 * 1024);
    let server = server_with(backend, |c| {
        c.proto.greeting = body.clone();
        // Far beyond WAIT: the drain must end when the connections do, not at the deadline.
        c.shutdown_timeout = Duration::from_secs(60);
    });
    let addr = server.local_addr();
    let mut c = slow_reader(addr);
    c.write_all(GET.repeat(16).as_bytes()).unwrap();
    let mut first = [0; 1];
    c.read_exact(&mut first).unwrap(); // the batch is being answered
    let mut idle = connect(addr);
    idle.write_all(GET.as_bytes()).unwrap();
    assert_eq!(read_response(&mut idle), expected("200 OK", "", &body));
    let mut fresh = connect(addr);
    eventually("all three are accepted", || server.stats().accepted >= 3);
    let trigger = server.shutdown_trigger();
    let (joined, done) = std::sync::mpsc::channel();
    thread::spawn(move || joined.send(server.join()));
    trigger.shutdown();
    fresh.write_all(GET.as_bytes()).unwrap();
    assert_eq!(
        read_to_close(&mut fresh),
        expected("200 OK", "Connection: close\r\n", &body),
        "a connection yet to send its request is served, once"
    );
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    let mut all = first.to_vec();
    all.extend_from_slice(&rest);
    assert_eq!(
        normalize(&all),
        expected("200 OK", "", &body).repeat(16),
        "all 16 answers, then the close"
    );
    assert_eq!(
        read_to_close(&mut { idle }),
        "",
        "an idle connection is closed"
    );
    done.recv_timeout(WAIT)
        .expect("the server stops once its connections are done")
        .unwrap();
    assert!(TcpStream::connect(addr).is_err(), "no longer accepting");
}

fn draining_answers_503_on_healthz_and_closes(backend: BackendChoice) {
    let server = server(backend);
    let addr = server.local_addr();
    let mut c = connect(addr);
    c.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
        .unwrap();
    eventually("the request head is read", || server.stats().accepted >= 1);
    thread::sleep(Duration::from_millis(50));
    server.shutdown();
    eventually("the listener closes", || TcpStream::connect(addr).is_err());
    c.write_all(b"\r\n").unwrap();
    assert_eq!(
        read_to_close(&mut c),
        expected(
            "503 Service Unavailable",
            "Connection: close\r\n",
            "draining"
        )
    );
}

fn more_active_connections_than_receive_buffers(backend: BackendChoice) {
    let server = server_with(backend, |c| {
        c.uring.recv_buffers = 2;
        c.uring.recv_buffer_size = 1024;
        c.workers = std::num::NonZeroUsize::new(1);
    });
    let addr = server.local_addr();
    let batch = GET.repeat(100); // 2.7 KB: more than both buffers at once
    let mut conns: Vec<TcpStream> = (0..64).map(|_| connect(addr)).collect();
    for round in 0..3 {
        conns
            .iter_mut()
            .for_each(|c| c.write_all(batch.as_bytes()).unwrap());
        for c in &mut conns {
            assert_eq!(read_responses(c, 100), hello().repeat(100), "round {round}");
        }
    }
    if backend == BackendChoice::Uring {
        assert!(server.stats().recv_enobufs > 0, "the ENOBUFS path ran");
    }
}

fn closed_connections_release_everything(backend: BackendChoice) {
    let server = server(backend);
    let addr = server.local_addr();
    let close = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    for _ in 0..200 {
        assert_eq!(
            exchange(addr, close.as_bytes()),
            expected("200 OK", "Connection: close\r\n", "Hello, world!")
        );
    }
    for _ in 0..50 {
        let mut c = connect(addr);
        c.write_all(GET.as_bytes()).unwrap();
        assert_eq!(read_response(&mut c), hello());
    } // the client closes first
    eventually("every connection is released", || server.stats().open == 0);
    assert_eq!(server.stats().accepted, 250);
}

fn port_in_use_is_a_clear_error(backend: BackendChoice) {
    let first = server(backend);
    let mut config = greeter::Config::default();
    config.listen = first.local_addr();
    config.backend = backend;
    let err = greeter::start(config)
        .err()
        .expect("a second server on the port fails");
    assert!(err.to_string().contains("already in use"), "{err}");
}

/// A client that stops reading while the server drains: its write stalls, and it is cut
/// at its own deadline (the idle timeout), not kept until the drain deadline.
fn a_stalled_writer_is_cut_at_its_deadline_while_draining(backend: BackendChoice) {
    let server = server_with(backend, |c| {
        c.proto.greeting = "z".repeat(64 * 1024);
        c.proto.timeouts.idle = Duration::from_millis(500);
        c.shutdown_timeout = Duration::from_secs(600); // far beyond the wait below
    });
    let addr = server.local_addr();
    let mut stalled = slow_reader(addr);
    stalled.write_all(GET.repeat(64).as_bytes()).unwrap();
    let mut first = [0; 1];
    stalled.read_exact(&mut first).unwrap(); // the answers are on their way; no more reads
    let trigger = server.shutdown_trigger();
    let (joined, done) = std::sync::mpsc::channel();
    thread::spawn(move || joined.send(server.join()));
    trigger.shutdown();
    let ended = done.recv_timeout(Duration::from_secs(20));
    assert!(
        matches!(ended, Ok(Ok(()))),
        "the stalled writer must be cut at its deadline, not at the drain's: {ended:?}"
    );
}

/// At the drain deadline, connections still busy are told it passed, whatever they are
/// doing: a response the client stopped reading (a write in flight) and a request half
/// sent (a read in flight) both end then, their clients see the end, and the worker drops
/// no task with an operation still running (it would say so: on tokio-uring, freeing its
/// runtime then could free memory the kernel still writes).
fn busy_connections_end_at_the_drain_deadline(backend: BackendChoice) {
    let greeting = "z".repeat(64 * 1024);
    let extra = [
        ["--message", greeting.as_str()],
        ["--shutdown-timeout", "300ms"],
    ];
    let mut server = Greeter::start(&child_args(backend, extra.as_flattened()), &[]);
    let addr = server.address();
    let mut stalled = slow_reader(addr);
    stalled.write_all(GET.repeat(64).as_bytes()).unwrap();
    let mut first = [0; 1];
    stalled.read_exact(&mut first).unwrap(); // the answers are on their way; no more reads
    let mut half_sent = connect(addr);
    half_sent
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    thread::sleep(Duration::from_millis(100)); // both are busy when the shutdown begins
    server.signal("TERM");
    assert!(server.wait().success(), "a clean exit");
    for (who, mut client) in [
        ("the stalled reader", stalled),
        ("the half request", half_sent),
    ] {
        assert!(
            reaches_the_end(&mut client),
            "{who} sees its connection end"
        );
    }
    server.drain_log();
    let dropped: Vec<_> = server
        .log()
        .iter()
        .filter(|l| l.contains("did not end"))
        .collect();
    assert!(dropped.is_empty(), "{dropped:#?}");
}

/// Reads (and discards) until the end of the stream or a reset; `false` on a timeout.
fn reaches_the_end(stream: &mut TcpStream) -> bool {
    let mut sink = [0; 64 * 1024];
    loop {
        match stream.read(&mut sink) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) => return !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        }
    }
}

per_backend!(
    busy_connections_end_at_the_drain_deadline,
    a_stalled_writer_is_cut_at_its_deadline_while_draining,
    thousand_keep_alive_connections_ten_requests_each,
    resets_mid_request_and_mid_response_spare_other_clients,
    raw_protocol_greets_and_closes,
    silent_clients_are_closed_at_the_header_timeout,
    idle_keep_alive_connections_are_closed,
    busy_connections_outlive_the_idle_timeout,
    half_close_gets_the_full_response,
    reading_resumes_after_backpressure,
    graceful_shutdown_completes_an_in_flight_pipelined_batch,
    draining_answers_503_on_healthz_and_closes,
    more_active_connections_than_receive_buffers,
    closed_connections_release_everything,
    port_in_use_is_a_clear_error,
);
