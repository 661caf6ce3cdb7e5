//! Under systemd (or any supervisor speaking its protocol): socket activation through
//! `systemd-socket-activate`, `READY=1`/`STOPPING=1` on a `NOTIFY_SOCKET` the test listens
//! on, restarts under load on a socket the test holds that refuse nothing, and the clear
//! errors for descriptors greeter cannot serve on.
#![cfg(target_os = "linux")]

mod support;

use std::net::{SocketAddr, TcpListener};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use command_fds::{CommandFdExt, FdMapping};
use greeter::BackendChoice;
use support::child::{Greeter, command, through_shell};
use support::*;

/// `greeter ARGS` started as a supervisor starts it: `fd` as descriptor 3, `LISTEN_FDS=1`,
/// and `LISTEN_PID` its own (the shell's, kept through `exec`).
fn activated(fd: OwnedFd, args: &[&str], env: &[(&str, &str)]) -> Greeter {
    let mut cmd = through_shell(
        command(args, env),
        "export LISTEN_PID=$$; exec \"$0\" \"$@\"",
    );
    cmd.env("LISTEN_FDS", "1").env("LISTEN_FDNAMES", "web");
    let mapping = FdMapping {
        parent_fd: fd,
        child_fd: 3,
    };
    cmd.fd_mappings(vec![mapping]).unwrap();
    Greeter::spawn_with(cmd, |mut c| c.spawn())
}

fn held_listener() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

fn dup(listener: &TcpListener) -> OwnedFd {
    listener.try_clone().unwrap().into()
}

/// Datagrams on a notify socket, as systemd reads them.
fn next_notice(socket: &UnixDatagram) -> String {
    let mut buf = [0u8; 512];
    let n = socket
        .recv(&mut buf)
        .expect("a notification within the wait");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn socket_activated_serves_and_notifies(backend: BackendChoice) {
    let Ok(activate) = which("systemd-socket-activate") else {
        // CI installs it first (ci/systemd.sh) and sets GREETER_REQUIRE_TOOLS.
        let why = "systemd-socket-activate is not installed (Debian: apt-get install systemd)";
        assert!(std::env::var_os("GREETER_REQUIRE_TOOLS").is_none(), "{why}");
        return eprintln!("skipped: {why}");
    };
    let dir = scratch(&format!("notify-{}", backend_flag(backend)));
    let notify_path = dir.join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(WAIT)).unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = Command::new(activate);
    cmd.arg(format!("--listen=127.0.0.1:{port}"))
        .arg("--fdname=web")
        .arg(format!("--setenv=NOTIFY_SOCKET={}", notify_path.display()))
        .args(["--setenv=NO_COLOR=1", env!("CARGO_BIN_EXE_greeter")])
        .args(["--backend", backend_flag(backend), "--workers", "2"])
        .arg("--sandbox"); // as the shipped unit runs it: notices still reach systemd
    cmd.stderr(Stdio::piped()).stdout(Stdio::null());
    let mut g = Greeter::spawn_with(cmd, |mut c| c.spawn());
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // systemd-socket-activate starts greeter on the first connection.
    eventually("systemd-socket-activate listens", || {
        std::net::TcpStream::connect(addr).is_ok()
    });
    let close = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let answer = exchange(addr, close.as_bytes());
    assert_eq!(
        answer,
        expected("200 OK", "Connection: close\r\n", "Hello, world!")
    );
    assert_eq!(next_notice(&notify), "READY=1\n");
    let line = g.wait_for_line("greeter serving");
    assert!(
        line.contains("on inherited socket(s) LISTEN_FDNAMES=web"),
        "{line}"
    );
    g.signal("TERM");
    assert_eq!(next_notice(&notify), "STOPPING=1\n");
    assert_eq!(g.wait().code(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}

fn which(tool: &str) -> Result<PathBuf, ()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/bin".into()])
        .map(|dir| dir.join(tool))
        .find(|p| p.is_file())
        .ok_or(())
}

/// Without `NOTIFY_SOCKET` nothing is sent and nothing fails: greeter serves and stops.
fn no_notify_socket_is_no_error(backend: BackendChoice) {
    let (listener, addr) = held_listener();
    let args = ["--backend", backend_flag(backend), "--workers", "1"];
    let mut g = activated(dup(&listener), &args, &[]);
    assert_eq!(g.address(), addr, "greeter serves the inherited socket");
    assert_eq!(
        exchange(addr, b"GET /healthz HTTP/1.0\r\n\r\n"),
        expected("200 OK", "Connection: close\r\n", "ok")
    );
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
    assert!(
        !g.log.iter().any(|l| l.contains("NOTIFY_SOCKET")),
        "{:#?}",
        g.log
    );
}

/// The workers share the inherited socket; `/metrics` counts each one's accepts, and
/// every connection is counted once.
fn workers_share_the_inherited_socket(backend: BackendChoice) {
    let (listener, addr) = held_listener();
    let args = ["--backend", backend_flag(backend), "--workers", "2"];
    let mut g = activated(dup(&listener), &args, &[]);
    g.address();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                (0..50).for_each(|_| drop(exchange(addr, b"GET / HTTP/1.0\r\n\r\n")))
            })
        })
        .collect();
    clients.into_iter().for_each(|c| c.join().unwrap());
    let text = exchange(addr, b"GET /metrics HTTP/1.0\r\n\r\n");
    let per_worker: Vec<u64> = (0..2)
        .map(|w| {
            sample(
                &text,
                &format!("greeter_connections_accepted_total{{worker=\"{w}\"}}"),
            )
        })
        .collect();
    eprintln!("accepted per worker: {per_worker:?}");
    assert_eq!(
        per_worker.iter().sum::<u64>(),
        201,
        "200 greetings and this scrape"
    );
    // A multishot accept on a shared socket would take every connection for one worker.
    assert!(
        per_worker.iter().all(|&n| n >= 20),
        "each worker takes turns: {per_worker:?}"
    );
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
}

fn sample(exposition: &str, series: &str) -> u64 {
    let line = exposition.lines().find(|l| l.starts_with(series));
    let value = line.and_then(|l| l.rsplit(' ').next()?.parse().ok());
    value.unwrap_or_else(|| panic!("no {series} in\n{exposition}"))
}

/// What `greeter load` reported, from its JSON.
struct Loaded {
    requests: u64,
    errors: u64,
    retries: u64,
}

fn start_load(addr: SocketAddr, close: bool, json: &std::path::Path) -> std::process::Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_greeter"));
    cmd.args(["load", &format!("http://{addr}/"), "--duration", "10s"])
        .args(["--connections", "16", "--threads", "1", "--timeout", "5s"])
        .arg("--json")
        .arg(json)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if close {
        cmd.arg("--close");
    }
    cmd.spawn().unwrap()
}

fn finish_load(mut load: std::process::Child, json: &std::path::Path) -> Loaded {
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = load.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "greeter load did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "greeter load failed: {status}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
    let count = |key: &str| {
        report[key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key} in {report}"))
    };
    Loaded {
        requests: count("requests"),
        errors: count("error_total"),
        retries: count("retries"),
    }
}

/// Five restarts (stop, then start, as systemd restarts a unit) while `greeter load` runs
/// for 10 s on the socket the test holds: nothing is refused, nothing is an error.
fn restart_under_load(backend: BackendChoice, close: bool) {
    let (listener, addr) = held_listener();
    let args = ["--backend", backend_flag(backend), "--workers", "2"];
    let dir = scratch(&format!("restart-{}-{close}", backend_flag(backend)));
    let json = dir.join("load.json");
    let mut server = activated(dup(&listener), &args, &[]);
    server.address();
    let load = start_load(addr, close, &json);
    for _ in 0..5 {
        std::thread::sleep(Duration::from_millis(1500));
        server.signal("TERM");
        assert_eq!(server.wait().code(), Some(0), "{:#?}", server.log);
        server = activated(dup(&listener), &args, &[]);
        assert_eq!(server.address(), addr);
    }
    let loaded = finish_load(load, &json);
    let mode = if close {
        "connection per request"
    } else {
        "keep-alive"
    };
    eprintln!(
        "{} {mode}: {} requests, {} retries, {} errors over 5 restarts",
        backend_flag(backend),
        loaded.requests,
        loaded.retries,
        loaded.errors
    );
    assert_eq!(loaded.errors, 0, "{mode}: errors across restarts");
    assert!(
        loaded.requests > 1000,
        "{mode}: the load ran ({} requests)",
        loaded.requests
    );
    server.signal("TERM");
    assert_eq!(server.wait().code(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}

fn restarts_under_keep_alive_load_lose_nothing(backend: BackendChoice) {
    restart_under_load(backend, false);
}

fn restarts_under_connection_per_request_load_lose_nothing(backend: BackendChoice) {
    restart_under_load(backend, true);
}

/// Runs greeter with `fd` (if any) as descriptor 3 under `env`; the error line it exits
/// with (code 1).
fn refused(backend: BackendChoice, fd: Option<OwnedFd>, env: &[(&str, &str)]) -> String {
    let args = [
        "--backend",
        backend_flag(backend),
        "--listen",
        "127.0.0.1:0",
    ];
    let script = match fd {
        Some(_) => "export LISTEN_PID=$$; exec \"$0\" \"$@\"",
        None => "export LISTEN_PID=$$; exec \"$0\" \"$@\" 3<&-",
    };
    let mut cmd = through_shell(command(&args, env), script);
    if let Some(fd) = fd {
        let mapping = FdMapping {
            parent_fd: fd,
            child_fd: 3,
        };
        cmd.fd_mappings(vec![mapping]).unwrap();
    }
    let mut g = Greeter::spawn_with(cmd, |mut c| c.spawn());
    let line = g.wait_for_line("greeter: error:");
    assert_eq!(g.wait().code(), Some(1), "{:#?}", g.log);
    line
}

fn descriptors_greeter_cannot_serve_on_are_named(backend: BackendChoice) {
    let one = [("LISTEN_FDS", "1")];
    let prefix =
        "greeter: error: LISTEN_FDS=1 passes descriptor 3, which greeter cannot serve on: ";
    let closed = refused(backend, None, &one);
    assert_eq!(
        closed,
        format!("{prefix}fd 3 is not a socket (a listening TCP socket is needed)")
    );
    let file: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
    let not_socket = refused(backend, Some(file), &one);
    assert_eq!(not_socket, closed, "a file is no socket either");
    let udp: OwnedFd = std::net::UdpSocket::bind("127.0.0.1:0").unwrap().into();
    let udp = refused(backend, Some(udp), &one);
    assert_eq!(
        udp,
        format!("{prefix}fd 3 is not a valid tcp socket (a listening TCP socket is needed)")
    );
    let unlistening =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    unlistening
        .bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    let unlistening = refused(backend, Some(unlistening.into()), &one);
    assert_eq!(
        unlistening,
        format!("{prefix}it is a TCP socket but not listening")
    );
    let (listener, _) = held_listener();
    let nonsense = refused(backend, Some(dup(&listener)), &[("LISTEN_FDS", "one")]);
    let want = "greeter: error: LISTEN_FDS=`one` names no socket: it should count the listening sockets passed from descriptor 3 on (1 to 64)";
    assert_eq!(nonsense, want);
}

/// `LISTEN_PID` of another process: the descriptors are not ours; greeter binds --listen.
fn descriptors_for_another_process_are_ignored(backend: BackendChoice) {
    let (listener, held) = held_listener();
    let args = [
        "--backend",
        backend_flag(backend),
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "1",
    ];
    let env = [("LISTEN_FDS", "1"), ("LISTEN_PID", "1")];
    let mut cmd = command(&args, &env);
    let mapping = FdMapping {
        parent_fd: dup(&listener),
        child_fd: 3,
    };
    cmd.fd_mappings(vec![mapping]).unwrap();
    let mut g = Greeter::spawn_with(cmd, |mut c| c.spawn());
    let addr = g.address();
    assert_ne!(addr, held, "its own listener, not the one passed");
    let ignored = "LISTEN_FDS is for process 1, not this one";
    assert!(g.log.iter().any(|l| l.contains(ignored)), "{:#?}", g.log);
    assert_eq!(
        exchange(addr, GET_CLOSE.as_bytes()),
        expected("200 OK", "Connection: close\r\n", "Hello, world!")
    );
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
}

const GET_CLOSE: &str = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

/// `greeter` under `WatchdogSec=1s`, as systemd starts it: a notify socket the test
/// reads and `WATCHDOG_USEC`; `fault` is `GREETER_TEST_FAULT` (a worker to stall), if any.
fn watched(backend: BackendChoice, name: &str, fault: Option<&str>) -> (Greeter, UnixDatagram) {
    let dir = scratch(&format!("watchdog-{name}-{}", backend_flag(backend)));
    let notify_path = dir.join("notify");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(WAIT)).unwrap();
    let socket = notify_path.to_str().unwrap().to_owned();
    let mut env = vec![
        ("NOTIFY_SOCKET", socket.as_str()),
        ("WATCHDOG_USEC", "1000000"),
    ];
    env.extend(fault.map(|f| ("GREETER_TEST_FAULT", f)));
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--backend",
        backend_flag(backend),
    ];
    let mut g = Greeter::start(&args, &env);
    g.wait_for_line("systemd's watchdog: WATCHDOG=1 every 500ms");
    assert_eq!(next_notice(&notify), "READY=1\n");
    (g, notify)
}

/// The notices that arrive within `span`.
fn notices_within(notify: &UnixDatagram, span: Duration) -> Vec<String> {
    let until = Instant::now() + span;
    let mut notices = Vec::new();
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        notify
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = [0u8; 512];
        match notify.recv(&mut buf) {
            Ok(n) => notices.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(_) => break,
        }
    }
    notices
}

/// A notice already queued on a non-blocking socket, if any.
fn next_queued(notify: &UnixDatagram) -> Option<String> {
    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// While every worker turns, systemd's watchdog is told so, every half period.
fn the_watchdog_is_fed_while_every_worker_turns(backend: BackendChoice) {
    let (mut g, notify) = watched(backend, "fed", None);
    let notices = notices_within(&notify, Duration::from_secs(4));
    let fed = notices.iter().filter(|n| *n == "WATCHDOG=1\n").count();
    assert!((5..=9).contains(&fed), "about 8 pings in 4 s: {notices:?}");
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
}

/// A worker whose loop stops turning (stuck in a call, say) starves the watchdog, so
/// systemd restarts greeter; the log names the worker.
fn a_stuck_worker_starves_the_watchdog(backend: BackendChoice) {
    let (mut g, notify) = watched(backend, "starved", Some("stall:1"));
    let line = g.wait_for_line("took no tick");
    assert!(
        line.contains("ERROR") && line.contains("worker(s) 1 "),
        "{line}"
    );
    notify.set_nonblocking(true).unwrap();
    let before: Vec<_> = std::iter::from_fn(|| next_queued(&notify)).collect();
    // Noticed within two windows of ticks (4 s: the first may hold ticks from before
    // the stall), a ping every 500 ms until then; a loaded machine adds a little.
    assert!(
        before.len() <= 10,
        "at most two windows' pings before: {before:?}"
    );
    notify.set_nonblocking(false).unwrap();
    let after = notices_within(&notify, Duration::from_secs(3));
    assert!(!after.contains(&"WATCHDOG=1\n".to_owned()), "{after:?}");
    g.signal("KILL");
    g.wait();
}

per_backend!(
    the_watchdog_is_fed_while_every_worker_turns,
    a_stuck_worker_starves_the_watchdog,
    socket_activated_serves_and_notifies,
    no_notify_socket_is_no_error,
    workers_share_the_inherited_socket,
    restarts_under_keep_alive_load_lose_nothing,
    restarts_under_connection_per_request_load_lose_nothing,
    descriptors_greeter_cannot_serve_on_are_named,
    descriptors_for_another_process_are_ignored,
);
