//! A worker that fails stops the whole server loudly, on every backend: its cause logged
//! at ERROR, `/healthz` answering `503` on every other worker, and a non-zero exit, so a
//! supervisor restarts it. The fault is injected (`ServerHandle::inject_fault`, or
//! `GREETER_TEST_FAULT` in a debug build of the binary).

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;

use greeter::BackendChoice;
use support::child::{Greeter, child_args};
use support::*;

/// What a connection got for the rest of its request: an answer, or a close.
fn answer_or_close(c: &mut TcpStream) -> Option<String> {
    let mut raw = Vec::new();
    match c.read_to_end(&mut raw) {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
        Err(e) => panic!("read: {e}"),
    }
    (!raw.is_empty()).then(|| normalize(&raw))
}

/// Connections each serving worker accepted so far.
fn accepted_by(server: &greeter::ServerHandle) -> Vec<u64> {
    let metrics = server.metrics();
    let counts = metrics
        .lines()
        .filter(|l| l.starts_with("greeter_connections_accepted_total{worker=\""))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse().ok());
    counts.collect()
}

fn a_failed_worker_drains_the_others_and_join_reports_it(backend: BackendChoice) {
    let server = server(backend); // two workers
    let addr = server.local_addr();
    // Connections on both workers, each in the middle of a `/healthz` request. Workers
    // sharing one listener (where SO_REUSEPORT does not balance) take turns unevenly: open
    // more until each has some.
    let mut conns: Vec<TcpStream> = Vec::new();
    while conns.len() < 400 && (conns.len() < 24 || accepted_by(&server).contains(&0)) {
        let mut c = connect(addr);
        c.write_all(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")
            .unwrap();
        conns.push(c);
        eventually("the connection is accepted", || {
            server.stats().accepted == conns.len() as u64
        });
    }
    server.inject_fault(0);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let (mut unhealthy, mut dropped) = (0, 0);
    for c in &mut conns {
        let _ = c.write_all(b"\r\n");
        match answer_or_close(c) {
            Some(answer) => {
                assert_eq!(
                    answer,
                    expected(
                        "503 Service Unavailable",
                        "Connection: close\r\n",
                        "draining"
                    )
                );
                unhealthy += 1;
            }
            None => dropped += 1,
        }
    }
    println!("{backend:?}: {unhealthy} answered 503, {dropped} dropped with the failed worker");
    assert!(unhealthy > 0, "the other worker reports itself unhealthy");
    assert!(dropped > 0, "the failed worker's connections went with it");
    let err = server.join().expect_err("join reports the failure");
    assert!(err.to_string().contains("fault injected"), "{err}");
}

fn the_binary_logs_the_failure_at_error_and_exits_non_zero(backend: BackendChoice) {
    if !cfg!(debug_assertions) {
        return eprintln!("skipped: GREETER_TEST_FAULT exists only in debug builds");
    }
    let args = child_args(backend, &[]);
    let mut greeter = Greeter::start(&args, &[("GREETER_TEST_FAULT", "0")]);
    let line = greeter.wait_for_line("failed");
    assert!(line.contains("ERROR"), "{line}");
    assert!(
        line.contains("fault injected") && line.contains("stopping the server"),
        "{line}"
    );
    let status = greeter.wait();
    assert_eq!(status.code(), Some(1), "{:#?}", greeter.log);
}

per_backend!(
    a_failed_worker_drains_the_others_and_join_reports_it,
    the_binary_logs_the_failure_at_error_and_exits_non_zero,
);
