//! Test support: servers on 127.0.0.1:0 for a given backend, clients with timeouts, and
//! byte-exact response helpers. Every test body takes the backend as a parameter;
//! [`per_backend!`] generates one `#[test]` per backend compiled in.
#![allow(dead_code)]

pub mod child;
pub mod mix;
#[cfg(target_os = "linux")]
pub mod seccomp;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use greeter::{BackendChoice, Config, ServerHandle};

/// Generous bound for any single network wait in a test.
pub const WAIT: Duration = Duration::from_secs(10);

/// Generates `mod uring`, `mod uring_unrestricted` (the same on rings that are not
/// restricted, to show restrictions change nothing served), `mod tokio` and (with its
/// feature) `mod tokio_uring`, each with one test per listed body.
#[macro_export]
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        #[cfg(uring)]
        mod uring {
            $( #[test] fn $name() { $crate::support::run(greeter::BackendChoice::Uring, super::$name) } )*
        }
        #[cfg(uring)]
        mod uring_unrestricted {
            $( #[test] fn $name() { $crate::support::run_unrestricted(super::$name) } )*
        }
        #[cfg(feature = "tokio")]
        mod tokio {
            $( #[test] fn $name() { $crate::support::run(greeter::BackendChoice::Tokio, super::$name) } )*
        }
        #[cfg(tokio_uring)]
        mod tokio_uring {
            $( #[test] fn $name() { $crate::support::run(greeter::BackendChoice::TokioUring, super::$name) } )*
        }
    };
}

/// A fresh directory for one test's files (`greeter-NAME-PID-N` in the temporary
/// directory: N apart, so tests on backends with the same flag never share one).
pub fn scratch(name: &str) -> std::path::PathBuf {
    static TAKEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = TAKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("greeter-{name}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The `--backend` value that picks `backend`.
pub fn backend_flag(backend: BackendChoice) -> &'static str {
    match backend {
        BackendChoice::Auto => "auto",
        BackendChoice::Uring => "uring",
        BackendChoice::Tokio => "tokio",
        BackendChoice::TokioUring => "tokio-uring",
    }
}

/// How the start-up line and `greeter_build_info` name `backend`.
pub fn backend_name(backend: BackendChoice) -> &'static str {
    match backend {
        BackendChoice::Uring => "io_uring",
        BackendChoice::TokioUring => "tokio-uring",
        _ => "tokio",
    }
}

/// Runs `body` for `backend`, or prints why it is skipped (io_uring missing here).
pub fn run(backend: BackendChoice, body: fn(BackendChoice)) {
    match greeter::resolve(backend, "--backend") {
        Ok(_) => body(backend),
        Err(why) => eprintln!("skipped: {why}"),
    }
}

thread_local! {
    /// This test's io_uring servers run on rings that are not restricted.
    static UNRESTRICTED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `body` on io_uring with restrictions off (`--uring-features off-restrict`).
pub fn run_unrestricted(body: fn(BackendChoice)) {
    UNRESTRICTED.set(true);
    run(BackendChoice::Uring, body);
}

/// Whether this test's io_uring servers are to run unrestricted.
pub fn unrestricted() -> bool {
    UNRESTRICTED.get()
}

/// A server on an ephemeral loopback port with two workers, tweaked by `f`.
pub fn server_with(backend: BackendChoice, f: impl FnOnce(&mut Config)) -> ServerHandle {
    // Tests hold thousands of sockets; CI shells often start with a soft limit of 1024.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let mut config = Config::default();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.backend = backend;
    config.workers = std::num::NonZeroUsize::new(2);
    config.uring.features.restrict = !unrestricted();
    // Every in-process server runs sandboxed (only its own threads are confined).
    #[cfg(target_os = "linux")]
    {
        config.sandbox = greeter::Sandbox::Enforce;
    }
    f(&mut config);
    greeter::start(config).expect("server starts")
}

pub fn server(backend: BackendChoice) -> ServerHandle {
    server_with(backend, |_| {})
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.set_write_timeout(Some(WAIT)).unwrap();
    stream
}

/// Sends `raw` on a fresh connection and reads until the server closes it.
pub fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
    let mut stream = connect(addr);
    stream.write_all(raw).unwrap();
    read_to_close(&mut stream)
}

/// Reads until end of stream (a reset after the data counts as the end too).
pub fn read_to_close(stream: &mut TcpStream) -> String {
    let mut all = Vec::new();
    let mut buf = [0; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => panic!("read failed after {} bytes: {e}", all.len()),
        }
    }
    normalize(&all)
}

/// Reads exactly one response (framed by Content-Length), normalized.
pub fn read_response(stream: &mut TcpStream) -> String {
    read_responses(stream, 1)
}

/// Reads exactly `count` responses, normalized and concatenated.
pub fn read_responses(stream: &mut TcpStream, count: usize) -> String {
    let mut raw = Vec::new();
    let mut buf = [0; 65536];
    let mut complete = 0;
    while complete < count {
        let n = match stream.read(&mut buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            n => n.expect("read a response"),
        };
        assert!(
            n > 0,
            "server closed after {complete} of {count} responses: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.extend_from_slice(&buf[..n]);
        complete = count_responses(&raw);
    }
    assert_eq!(complete, count, "more responses than requests");
    normalize(&raw)
}

/// How many complete responses `raw` holds (HEAD answers are not framed here).
pub fn count_responses(raw: &[u8]) -> usize {
    let mut at = 0;
    let mut count = 0;
    while let Some(end) = find(&raw[at..], b"\r\n\r\n") {
        let head = std::str::from_utf8(&raw[at..at + end]).expect("ASCII head");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map_or(0, |v| v.parse().unwrap());
        if raw.len() < at + end + 4 + length {
            break;
        }
        at += end + 4 + length;
        count += 1;
    }
    count
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Replaces each `Date:` value (checked to be a valid IMF-fixdate) with `<date>`.
pub fn normalize(raw: &[u8]) -> String {
    let text = String::from_utf8(raw.to_vec()).expect("UTF-8 response");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("\r\nDate: ") {
        let value = &rest[i + 8..i + 8 + 29];
        httpdate::parse_http_date(value).unwrap_or_else(|_| panic!("bad Date header {value:?}"));
        out.push_str(&rest[..i + 8]);
        out.push_str("<date>");
        rest = &rest[i + 8 + 29..];
    }
    out.push_str(rest);
    out
}

/// The response greeter must send, with the Date normalized.
pub fn expected(status: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nServer: greeter\r\nDate: <date>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
}

pub fn hello() -> String {
    expected("200 OK", "", "Hello, world!")
}

pub const GET: &str = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";

/// Polls `f` every 10 ms until it holds or `WAIT` passes.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < WAIT, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
