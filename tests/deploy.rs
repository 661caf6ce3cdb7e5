//! What deployments rely on: `greeter probe` (a health check without curl) and its clear
//! failures, worker count following a cgroup CPU quota, and start-up errors that name the
//! operation a seccomp profile blocked.

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::thread;
use std::time::Instant;

use greeter::BackendChoice;
#[cfg(target_os = "linux")]
use support::child::{Greeter, child_args, command};
use support::*;

fn probe(url: &str, extra: &[&str]) -> Output {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_greeter"))
        .args(["probe", url])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        started.elapsed() < WAIT,
        "probe returned within its timeout"
    );
    out
}

fn stderr_line(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim_end().to_owned()
}

/// A server that answers every connection with `answer`, then closes.
fn canned(answer: &'static [u8]) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut head = [0u8; 1024];
            let _ = conn.read(&mut head);
            let _ = conn.write_all(answer);
        }
    });
    addr
}

fn probe_passes_on_2xx(backend: BackendChoice) {
    let server = server(backend);
    let url = format!("http://{}/healthz", server.local_addr());
    let out = probe(&url, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_line(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200 OK\n");
}

fn probe_fails_while_draining(backend: BackendChoice) {
    let server = server(backend);
    let addr = server.local_addr();
    let mut busy = connect(addr);
    busy.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n").unwrap(); // keeps the drain going
    eventually("accepted", || server.stats().accepted >= 1);
    server.shutdown();
    // The listener is closed by now; the answer comes over the open connection.
    busy.write_all(b"\r\n").unwrap();
    let answer = read_to_close(&mut busy);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    let out = probe(&format!("http://{addr}/healthz"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let want = format!("greeter probe: http://{addr}/healthz: connection refused by {addr}");
    assert_eq!(stderr_line(&out), want);
}

#[test]
fn probe_says_why_it_failed() {
    let url = |addr: SocketAddr| format!("http://{addr}/healthz");
    let refused = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let out = probe(&url(refused), &[]);
    assert_eq!(out.status.code(), Some(1));
    let prefix = format!("greeter probe: {}: ", url(refused));
    assert_eq!(
        stderr_line(&out),
        format!("{prefix}connection refused by {refused}")
    );

    let silent = TcpListener::bind("127.0.0.1:0").unwrap(); // accepts nothing, says nothing
    let addr = silent.local_addr().unwrap();
    let out = probe(&url(addr), &["--timeout", "300ms"]);
    assert_eq!(out.status.code(), Some(1));
    let want = format!(
        "greeter probe: {}: timed out after 300ms trying to read the answer from {addr}",
        url(addr)
    );
    assert_eq!(stderr_line(&out), want);

    let unavailable =
        canned(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 8\r\n\r\ndraining");
    let out = probe(&url(unavailable), &[]);
    assert_eq!(out.status.code(), Some(1));
    let want = format!(
        "greeter probe: {}: status 503 Service Unavailable",
        url(unavailable)
    );
    assert_eq!(stderr_line(&out), want);

    let garbage = canned(b"SSH-2.0-OpenSSH_9.2\r\n\r\n");
    let out = probe(&url(garbage), &[]);
    assert_eq!(out.status.code(), Some(1));
    let want = format!(
        "greeter probe: {}: malformed answer: invalid HTTP version",
        url(garbage)
    );
    assert_eq!(stderr_line(&out), want);

    let out = probe("ftp://127.0.0.1/", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr_line(&out).contains("expected http://host[:port]/path"),
        "{}",
        stderr_line(&out)
    );
}

/// The worker count "one per available core" follows a cgroup CPU quota (v1 `cpu`
/// controller here, v2 `cpu.max` where that is mounted): 1 CPU of quota, 1 worker.
#[cfg(target_os = "linux")]
#[test]
fn workers_follow_the_cpu_quota() {
    let Some(group) = quota_group(1) else {
        let why = "cannot create a cgroup with a CPU quota here (needs root and a writable cpu controller)";
        assert!(std::env::var_os("GREETER_REQUIRE_TOOLS").is_none(), "{why}");
        return eprintln!("skipped: {why}");
    };
    let args = ["--listen", "127.0.0.1:0"];
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec \"$0\" \"$@\"",
        group.display()
    );
    let cmd = support::child::through_shell(command(&args, &[]), &script);
    let mut g = Greeter::spawn_with(cmd, |mut c| c.spawn());
    let line = g.wait_for_line("greeter serving");
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
    let _ = std::fs::remove_dir(&group);
    assert!(line.contains(", 1 worker(s),"), "{line}");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!("{cores} core(s) here; under a 1-CPU quota: {line}");
}

/// A cgroup with a quota of `cpus` CPUs (v2 if mounted, else the v1 `cpu` controller).
#[cfg(target_os = "linux")]
fn quota_group(cpus: u64) -> Option<std::path::PathBuf> {
    let name = format!("greeter-quota-{}", std::process::id());
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers");
    if v2.exists() {
        let dir = std::path::Path::new("/sys/fs/cgroup").join(&name);
        std::fs::create_dir(&dir).ok()?;
        std::fs::write(dir.join("cpu.max"), format!("{} 100000", cpus * 100_000)).ok()?;
        return Some(dir);
    }
    let dir = std::path::Path::new("/sys/fs/cgroup/cpu").join(&name);
    std::fs::create_dir(&dir).ok()?;
    std::fs::write(dir.join("cpu.cfs_period_us"), "100000").ok()?;
    std::fs::write(dir.join("cpu.cfs_quota_us"), (cpus * 100_000).to_string()).ok()?;
    Some(dir)
}

/// Under a seccomp filter that blocks a call greeter needs, the start fails with exit
/// code 1 and an error that names what could not be done.
#[cfg(target_os = "linux")]
#[test]
fn a_blocked_call_is_named_at_start() {
    let cases: [(BackendChoice, i64, &str); 3] = [
        (
            BackendChoice::Tokio,
            libc::SYS_epoll_create1,
            "cannot start a worker: creating the tokio runtime (epoll): Operation not permitted (os error 1)",
        ),
        (
            BackendChoice::Uring,
            libc::SYS_eventfd2,
            "cannot start a worker: creating its wake-up eventfd: Operation not permitted (os error 1)",
        ),
        (
            BackendChoice::Uring,
            libc::SYS_bind,
            "cannot listen on 127.0.0.1:0: Operation not permitted (os error 1)",
        ),
    ];
    for (backend, call, want) in cases {
        if backend == BackendChoice::Uring
            && greeter::resolve(BackendChoice::Uring, "--backend").is_err()
        {
            continue;
        }
        if backend == BackendChoice::Tokio && !cfg!(feature = "tokio") {
            continue; // io_uring only: `--backend tokio` is refused before any call
        }
        let args = child_args(backend, &[]);
        let spawn = |c| support::seccomp::spawn_with_blocked(c, &[call]);
        let mut g = Greeter::spawn_with(command(&args, &[]), spawn);
        let line = g.wait_for_line("greeter: error:");
        assert_eq!(g.wait().code(), Some(1), "{:#?}", g.log);
        assert_eq!(
            line,
            format!("greeter: error: {want}"),
            "{backend:?}, call {call}"
        );
    }
}

per_backend!(probe_passes_on_2xx, probe_fails_while_draining);
