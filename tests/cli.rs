//! The `greeter` binary: start-up line, flags and `GREETER_*` variables, signals, exit codes.

mod support;

use std::io::Write;
use std::process::Command;
use std::time::Duration;

use support::child::{Greeter, address_in};
use support::*;

#[test]
fn serves_logs_the_start_line_and_stops_on_sigint() {
    let mut g = Greeter::start(&["--listen", "127.0.0.1:0", "--workers", "1"], &[]);
    let line = g.wait_for_line("greeter serving");
    assert!(line.contains("1 worker(s)"), "{line}");
    assert!(
        line.contains(" on io_uring (") || line.contains(" on tokio ("),
        "names the backend: {line}"
    );
    let addr = address_in(&line);
    assert_eq!(
        exchange(addr, b"GET / HTTP/1.0\r\n\r\n"),
        expected("200 OK", "Connection: close\r\n", "Hello, world!")
    );
    g.signal("INT");
    assert_eq!(g.wait().code(), Some(0));
    g.wait_for_line("stopped");
}

#[test]
fn flags_come_from_the_environment_too() {
    let env = [
        ("GREETER_LISTEN", "127.0.0.1:0"),
        ("GREETER_MESSAGE", "Hi there"),
        ("GREETER_PROTOCOL", "raw"),
        ("GREETER_WORKERS", "1"),
    ];
    let mut g = Greeter::start(&[], &env);
    let addr = g.address();
    assert_eq!(exchange(addr, b"hi"), "Hi there\n");
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
}

#[test]
fn a_port_in_use_exits_1_with_a_clear_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().to_string();
    let mut g = Greeter::start(&["--listen", &port], &[]);
    assert_eq!(g.wait().code(), Some(1));
    let line = g.wait_for_line("error");
    assert!(
        line.contains(&port) && line.contains("already in use"),
        "{line}"
    );
}

#[test]
fn bad_flag_values_are_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_greeter"))
        .args(["--header-timeout", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--header-timeout"));
    let out = Command::new(env!("CARGO_BIN_EXE_greeter"))
        .args(["--recv-buffers", "100"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("power of two"));
}

#[test]
fn a_second_signal_stops_at_once() {
    let mut g = Greeter::start(
        &[
            "--listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--shutdown-timeout",
            "60s",
        ],
        &[],
    );
    let addr = g.address();
    let mut busy = connect(addr);
    busy.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap(); // mid-request: draining waits for it
    std::thread::sleep(Duration::from_millis(100));
    g.signal("INT");
    g.wait_for_line("shutting down");
    g.signal("INT");
    assert_eq!(g.wait().code(), Some(130));
}
