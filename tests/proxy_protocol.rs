//! `--proxy-protocol` behind a real HAProxy (Debian's, `send-proxy` and `send-proxy-v2`):
//! the access log names the client HAProxy saw, not HAProxy; a connection that goes
//! around it is closed unanswered, logged and counted; the admin listener takes no
//! header; and well-formed clients through HAProxy are all answered while hostile ones
//! (no header, a malformed one, one cut short) hammer the port beside them.
#![cfg(target_os = "linux")]

mod support;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use greeter::BackendChoice;
use support::child::{Greeter, child_args};
use support::*;

/// HAProxy, installed through `ci/tools.sh` if it is missing; `None` (the test skips)
/// only when that fails outside CI.
fn haproxy() -> Option<PathBuf> {
    let found = || {
        ["/usr/sbin/haproxy", "/usr/bin/haproxy"]
            .map(PathBuf::from)
            .into_iter()
            .find(|p| p.is_file())
    };
    if let Some(path) = found() {
        return Some(path);
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/ci/tools.sh");
    let installed = Command::new(script)
        .arg("haproxy")
        .status()
        .is_ok_and(|s| s.success());
    let why =
        "haproxy is missing and ci/tools.sh could not install it (Debian: apt-get install haproxy)";
    assert!(
        installed || std::env::var_os("GREETER_REQUIRE_TOOLS").is_none(),
        "{why}"
    );
    if !installed {
        eprintln!("skipped: {why}");
    }
    found()
}

/// A port free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// HAProxy in TCP mode in front of `server`: one frontend sending version 2 headers, one
/// sending version 1; killed on drop.
struct Balancer {
    child: Child,
    v2: SocketAddr,
    v1: SocketAddr,
}

impl Balancer {
    fn start(haproxy: &Path, dir: &Path, server: SocketAddr) -> Balancer {
        let (v2, v1) = (free_port(), free_port());
        let config = format!(
            "global\n  maxconn 4096\n\
             defaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n\
             frontend v2\n  bind 127.0.0.1:{v2}\n  default_backend greeter_v2\n\
             backend greeter_v2\n  server g {server} send-proxy-v2\n\
             frontend v1\n  bind 127.0.0.1:{v1}\n  default_backend greeter_v1\n\
             backend greeter_v1\n  server g {server} send-proxy\n"
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, config).unwrap();
        let child = Command::new(haproxy)
            .args(["-db", "-f"])
            .arg(&path)
            .stdout(Stdio::null())
            .spawn()
            .expect("haproxy runs");
        let balancer = Balancer {
            child,
            v2: SocketAddr::from(([127, 0, 0, 1], v2)),
            v1: SocketAddr::from(([127, 0, 0, 1], v1)),
        };
        eventually("haproxy listens", || {
            TcpStream::connect(balancer.v2).is_ok() && TcpStream::connect(balancer.v1).is_ok()
        });
        balancer
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const CLOSE: &[u8] = b"GET /greet/Ann HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

/// One request on a fresh connection to `addr`: the answer, and the client's own port.
fn ask(addr: SocketAddr, raw: &[u8]) -> (String, u16) {
    let mut c = connect(addr);
    let port = c.local_addr().unwrap().port();
    c.write_all(raw).unwrap();
    let mut answer = Vec::new();
    let _ = c.read_to_end(&mut answer); // a refused connection may end in a reset
    (String::from_utf8_lossy(&answer).into_owned(), port)
}

/// greeter with `--proxy-protocol`, a JSON access log in `dir`, and an admin listener.
fn proxied_greeter(backend: BackendChoice, dir: &Path) -> (Greeter, SocketAddr, SocketAddr) {
    let log = dir.join("access.log");
    let extra = [
        "--proxy-protocol",
        "--access-log",
        log.to_str().unwrap(),
        "--access-log-format",
        "json",
        "--metrics-listen",
        "127.0.0.1:0",
    ];
    let mut g = Greeter::start(&child_args(backend, &extra), &[]);
    let line = g.wait_for_line("greeter serving");
    assert!(
        line.contains("every connection begins with a PROXY protocol header"),
        "{line}"
    );
    let admin = line.split("metrics on http://").nth(1).unwrap();
    let admin: SocketAddr = admin.split('/').next().unwrap().parse().unwrap();
    (g, support::child::address_in(&line), admin)
}

fn refused(admin: SocketAddr, reason: &str) -> u64 {
    let text = exchange(admin, b"GET /metrics HTTP/1.0\r\n\r\n");
    let series = format!("greeter_proxy_protocol_refused_total{{reason=\"{reason}\"}} ");
    let value = text.lines().find_map(|l| l.strip_prefix(series.as_str()));
    value
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {series}in {text}"))
}

/// Through HAProxy (either version), the log names the client's own port, which only the
/// header carries; around it, the connection gets no answer, a WARN line and a count.
fn the_log_names_the_client_behind_haproxy(backend: BackendChoice) {
    let Some(haproxy) = haproxy() else { return };
    let dir = scratch(&format!("proxy-{}", backend_flag(backend)));
    let (mut g, addr, admin) = proxied_greeter(backend, &dir);
    let balancer = Balancer::start(&haproxy, &dir, addr);
    let mut ports = Vec::new();
    for front in [balancer.v2, balancer.v1] {
        let (answer, port) = ask(front, CLOSE);
        assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
        assert!(answer.ends_with("\r\n\r\nHello, Ann!"), "{answer}");
        ports.push(port);
    }
    let (answer, port) = ask(addr, CLOSE);
    assert_eq!(answer, "", "no header: closed unanswered");
    let warn = g.wait_for_line("closed a connection from");
    assert!(
        warn.contains("WARN") && warn.contains(&format!("127.0.0.1:{port}")),
        "{warn}"
    );
    assert!(warn.contains("no PROXY protocol header"), "{warn}");
    assert_eq!(refused(admin, "missing"), 1);
    let log = dir.join("access.log");
    let mut lines: Vec<String> = Vec::new();
    eventually("the greetings and the scrape in the access log", || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        lines = text.lines().map(str::to_owned).collect();
        lines.len() >= 3
    });
    let (scrapes, lines): (Vec<_>, Vec<_>) = lines.iter().partition(|l| l.contains("/metrics"));
    assert_eq!(scrapes.len(), 1, "{scrapes:#?}");
    assert_eq!(
        lines.len(),
        2,
        "the refused connection is not a request: {lines:#?}"
    );
    for (line, port) in lines.iter().zip(ports) {
        let event: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(event["remote_addr"], "127.0.0.1", "{line}");
        assert_eq!(
            event["remote_port"], port,
            "the client's port, not HAProxy's: {line}"
        );
        assert_eq!(event["target"], "/greet/Ann", "{line}");
    }
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
    drop(balancer);
    let _ = std::fs::remove_dir_all(dir);
}

/// What hostile clients send straight to the port: no header, a malformed one, one cut
/// short (then closed), and a partial one left open.
const HOSTILE: [&[u8]; 4] = [
    b"GET / HTTP/1.1\r\nHost: t\r\n\r\n",
    b"PROXY TCP4 300.1.2.3 10.0.0.1 1 2\r\nGET / HTTP/1.1\r\n\r\n",
    b"PROXY TCP4 192.0.2.7 10.0.0.",
    b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00",
];

/// Well-formed clients through HAProxy (keep-alive, pipelined, both versions), beside
/// hostile clients straight at the port, on a small ring: every well-formed request is
/// answered, byte for byte, and no hostile client gets a byte.
fn hostile_clients_beside_proxied_ones(backend: BackendChoice) {
    let Some(haproxy) = haproxy() else { return };
    let dir = scratch(&format!("proxy-mix-{}", backend_flag(backend)));
    let mut args = child_args(
        backend,
        &[
            "--proxy-protocol",
            "--sq-entries",
            "8",
            "--recv-buffers",
            "16",
        ],
    );
    args.extend(["--metrics-listen", "127.0.0.1:0", "--header-timeout", "2s"]);
    let mut g = Greeter::start(&args, &[]);
    let line = g.wait_for_line("greeter serving");
    let addr = support::child::address_in(&line);
    let balancer = Balancer::start(&haproxy, &dir, addr);
    let stop = Arc::new(AtomicBool::new(false));
    let hostile: Vec<_> = (0..HOSTILE.len())
        .map(|kind| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut sent = 0;
                while !stop.load(Ordering::Relaxed) {
                    let mut c = connect(addr);
                    c.write_all(HOSTILE[kind]).unwrap();
                    if kind == 2 {
                        c.shutdown(std::net::Shutdown::Write).unwrap();
                    }
                    c.set_read_timeout(Some(Duration::from_millis(300)))
                        .unwrap();
                    let mut got = Vec::new();
                    let _ = c.read_to_end(&mut got);
                    assert!(got.is_empty(), "hostile kind {kind} was answered: {got:?}");
                    sent += 1;
                }
                sent
            })
        })
        .collect();
    let polite: Vec<_> = [balancer.v2, balancer.v1, balancer.v2, balancer.v1]
        .into_iter()
        .map(|front| {
            std::thread::spawn(move || {
                for round in 0..50 {
                    let mut c = connect(front);
                    c.write_all(GET.repeat(5).as_bytes()).unwrap();
                    assert_eq!(
                        read_responses(&mut c, 5),
                        hello().repeat(5),
                        "round {round}"
                    );
                }
            })
        })
        .collect();
    polite
        .into_iter()
        .for_each(|p| p.join().expect("every polite request answered"));
    stop.store(true, Ordering::Relaxed);
    let sent: usize = hostile.into_iter().map(|h| h.join().unwrap()).sum();
    println!("{backend:?}: 1000 requests through haproxy beside {sent} hostile connections");
    assert!(sent >= HOSTILE.len(), "the hostile clients ran");
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
    drop(balancer);
    let _ = std::fs::remove_dir_all(dir);
}

per_backend!(
    the_log_names_the_client_behind_haproxy,
    hostile_clients_beside_proxied_ones,
);
