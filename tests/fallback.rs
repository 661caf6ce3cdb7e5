//! The backend choice for real: the `greeter` binary runs in a child process under a
//! seccomp filter that makes the io_uring system calls fail with EPERM, exactly as
//! Docker's default profile does. Needs the io_uring backend built (Linux, not portable).
#![cfg(uring)]

mod support;

use support::child::{Greeter, command};
use support::seccomp::spawn_without_io_uring;
use support::*;

fn blocked(args: &[&str]) -> Greeter {
    Greeter::spawn_with(command(args, &[]), spawn_without_io_uring)
}

#[cfg(feature = "tokio")]
#[test]
fn auto_serves_on_tokio_and_names_the_cause() {
    let mut g = blocked(&["--listen", "127.0.0.1:0", "--workers", "1"]);
    let warning = g.wait_for_line("serving on the tokio backend instead");
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.contains("EPERM") && warning.contains("seccomp"),
        "{warning}"
    );
    assert!(
        warning.contains("kernel.io_uring_disabled = "),
        "shows the sysctl: {warning}"
    );
    let line = g.wait_for_line("greeter serving");
    assert!(line.contains(" on tokio ("), "{line}");
    let answer = exchange(support::child::address_in(&line), b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(
        answer,
        expected("200 OK", "Connection: close\r\n", "Hello, world!")
    );
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
}

#[test]
fn forcing_uring_fails_with_the_reason_and_a_hint() {
    let mut g = blocked(&["--listen", "127.0.0.1:0", "--backend", "uring"]);
    assert_eq!(g.wait().code(), Some(1));
    let error = g.wait_for_line("error");
    assert!(
        error.contains("io_uring is unavailable") && error.contains("EPERM"),
        "{error}"
    );
    assert!(
        error.contains("--security-opt seccomp=unconfined"),
        "hint: {error}"
    );
}

#[test]
fn the_load_generator_names_its_own_flag_in_the_hint() {
    let mut load = command(
        &[
            "load",
            "http://127.0.0.1:1/",
            "--engine",
            "uring",
            "-d",
            "1s",
        ],
        &[],
    );
    load.stdout(std::process::Stdio::piped());
    let out = spawn_without_io_uring(load)
        .unwrap()
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("io_uring is unavailable"), "{error}");
    if cfg!(feature = "tokio") {
        assert!(error.contains("or use --engine tokio"), "{error}");
    }
    assert!(
        !error.contains("--backend"),
        "greeter load has no --backend: {error}"
    );
}

#[cfg(not(feature = "tokio"))]
#[test]
fn without_tokio_auto_fails_instead_of_falling_back() {
    let mut g = blocked(&["--listen", "127.0.0.1:0"]);
    assert_eq!(g.wait().code(), Some(1));
    let error = g.wait_for_line("error");
    assert!(error.contains("tokio"), "{error}");
}

#[test]
fn forcing_tokio_never_touches_io_uring() {
    if cfg!(not(feature = "tokio")) {
        return eprintln!("skipped: the tokio backend is not built in");
    }
    let mut g = blocked(&[
        "--listen",
        "127.0.0.1:0",
        "--backend",
        "tokio",
        "--workers",
        "1",
    ]);
    let addr = g.address();
    assert!(
        g.log.iter().all(|l| !l.contains("WARN")),
        "no fallback warning: {:#?}",
        g.log
    );
    assert_eq!(
        exchange(addr, b"GET /healthz HTTP/1.0\r\n\r\n"),
        expected("200 OK", "Connection: close\r\n", "ok")
    );
}
