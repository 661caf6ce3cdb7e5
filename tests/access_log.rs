//! The access log as an operator meets it: a file that logrotate moves and `SIGUSR1` or
//! `SIGHUP` reopens (neither stops the server), nginx's `combined` format byte for byte
//! with hostile header values escaped, JSON lines, and a dual-stack listener that logs an
//! IPv4 client as IPv4.

mod support;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;

use greeter::BackendChoice;
use support::child::{Greeter, child_args};
use support::*;

/// The lines of `path` once it holds `count` of them (the writer flushes per batch).
fn lines_of(path: &Path, count: usize) -> Vec<String> {
    let mut lines = Vec::new();
    eventually(&format!("{count} line(s) in {}", path.display()), || {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        lines = text.lines().map(str::to_owned).collect();
        lines.len() >= count
    });
    assert_eq!(lines.len(), count, "{lines:#?}");
    lines
}

/// One request on its own connection, answered in full.
fn ask(addr: SocketAddr, raw: &[u8]) -> String {
    let mut c = connect(addr);
    c.write_all(raw).unwrap();
    let mut answer = Vec::new();
    c.read_to_end(&mut answer).unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

const CLOSE: &[u8] = b"GET /greet/Ann HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

/// logrotate moves the file, then signals: the lines before go to the moved file, the
/// lines after to a new one at the configured path, and the server serves throughout.
fn a_moved_log_is_reopened_on_usr1_and_hup(backend: BackendChoice) {
    let dir = scratch(&format!("reopen-{}", backend_flag(backend)));
    let path = dir.join("access.log");
    let mut args = child_args(backend, &["--access-log", path.to_str().unwrap()]);
    if cfg!(target_os = "linux") {
        args.push("--sandbox"); // as the systemd unit runs it: reopening is allowed
    }
    let mut g = Greeter::start(&args, &[]);
    let addr = g.address();
    for (round, signal) in ["USR1", "HUP"].into_iter().enumerate() {
        assert!(ask(addr, CLOSE).starts_with("HTTP/1.1 200 OK\r\n"));
        assert_eq!(lines_of(&path, 1).len(), 1);
        let moved = dir.join(format!("access.log.{round}"));
        std::fs::rename(&path, &moved).unwrap();
        assert!(ask(addr, CLOSE).starts_with("HTTP/1.1 200 OK\r\n"));
        assert_eq!(
            lines_of(&moved, 2).len(),
            2,
            "still written to the moved file"
        );
        g.signal(signal);
        g.wait_for_line("reopened the access log");
        assert!(ask(addr, CLOSE).starts_with("HTTP/1.1 200 OK\r\n"));
        let fresh = lines_of(&path, 1);
        assert!(
            fresh[0].contains("\"GET /greet/Ann HTTP/1.1\" 200 "),
            "{fresh:?}"
        );
        std::fs::remove_file(&path).unwrap();
        std::fs::rename(&moved, dir.join(format!("old.{round}"))).unwrap();
        g.signal(signal); // a reopen onto a missing file creates it again
        g.wait_for_line("reopened the access log");
    }
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0), "HUP and USR1 never stopped it");
    let _ = std::fs::remove_dir_all(dir);
}

/// `$time_local` is the one field that moves: replaced by `TIME`.
fn without_time(line: &str) -> String {
    let (before, rest) = line.split_once(" [").unwrap();
    let (_, after) = rest.split_once("] ").unwrap();
    format!("{before} [TIME] {after}")
}

/// A client's quotes, backslashes and non-ASCII bytes are escaped as nginx escapes them,
/// so no header value can end a field early or forge a line; a refused head is `"-"`.
fn combined_escapes_what_clients_send(backend: BackendChoice) {
    let dir = scratch(&format!("escape-{}", backend_flag(backend)));
    let path = dir.join("access.log");
    let args = child_args(backend, &["--access-log", path.to_str().unwrap()]);
    let mut g = Greeter::start(&args, &[]);
    let addr = g.address();
    let hostile = "GET /greet/%22x?q=\\ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\
        User-Agent: ev\"il\" 200 0 \"-\" \"forged é\r\nReferer: http://r/\\\r\n\r\n";
    assert!(ask(addr, hostile.as_bytes()).starts_with("HTTP/1.1 200 OK\r\n"));
    assert!(ask(addr, b"NOT A REQUEST\r\n\r\n").starts_with("HTTP/1.1 400 Bad Request\r\n"));
    let lines: Vec<String> = lines_of(&path, 2).iter().map(|l| without_time(l)).collect();
    assert_eq!(
        lines,
        [
            "127.0.0.1 - - [TIME] \"GET /greet/%22x?q=\\x5C HTTP/1.1\" 200 10 \
             \"http://r/\\x5C\" \"ev\\x22il\\x22 200 0 \\x22-\\x22 \\x22forged \\xC3\\xA9\"",
            "127.0.0.1 - - [TIME] \"-\" 400 11 \"-\" \"-\"",
        ]
    );
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}

/// `--access-log-format json`: one object per line, with the peer, the request, the answer
/// and its duration; strings carry what the client sent, JSON-escaped.
fn json_lines_carry_every_field(backend: BackendChoice) {
    let dir = scratch(&format!("json-{}", backend_flag(backend)));
    let path = dir.join("access.log");
    let extra = [
        "--access-log",
        path.to_str().unwrap(),
        "--access-log-format",
        "json",
    ];
    let mut g = Greeter::start(&child_args(backend, &extra), &[]);
    let addr = g.address();
    let raw = b"POST /greet HTTP/1.1\r\nHost: h\r\nUser-Agent: a\"b\r\n\
        X-Forwarded-For: 10.0.0.1\r\nX-Forwarded-For: 10.0.0.2\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\
        Connection: close\r\n\r\nBob";
    let answer = ask(addr, raw);
    assert!(answer.ends_with("\r\n\r\nHello, Bob!"), "{answer}");
    let line = &lines_of(&path, 1)[0];
    let event: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(event["remote_addr"], "127.0.0.1", "{line}");
    assert!(event["remote_port"].as_u64().unwrap() > 0, "{line}");
    for (field, value) in [
        ("method", "POST"),
        ("target", "/greet"),
        ("protocol", "HTTP/1.1"),
        ("host", "h"),
        ("user_agent", "a\"b"),
        ("forwarded_for", "10.0.0.1, 10.0.0.2"),
    ] {
        assert_eq!(event[field], value, "{field}: {line}");
    }
    assert_eq!(event["status"], 200, "{line}");
    assert_eq!(event["body_bytes"], 11, "{line}");
    assert_eq!(
        event["bytes"].as_u64().unwrap() as usize,
        answer.len(),
        "{line}"
    );
    assert!(event["duration_us"].is_u64(), "{line}");
    assert!(event["referer"].is_null(), "{line}");
    assert!(event["time"].as_str().unwrap().ends_with('Z'), "{line}");
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}

/// `--listen [::]:PORT` takes IPv4 clients too (`IPV6_V6ONLY` off), logged as IPv4.
fn a_dual_stack_listener_logs_ipv4_clients_as_ipv4(backend: BackendChoice) {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        return eprintln!("skipped: this host has no IPv6 loopback");
    }
    let dir = scratch(&format!("dual-{}", backend_flag(backend)));
    let path = dir.join("access.log");
    let mut args = child_args(backend, &["--access-log", path.to_str().unwrap()]);
    args[1] = "[::]:0";
    let mut g = Greeter::start(&args, &[]);
    let port = g.address().port();
    for client in ["127.0.0.1", "::1"] {
        let addr = SocketAddr::new(client.parse().unwrap(), port);
        assert!(
            ask(addr, CLOSE).starts_with("HTTP/1.1 200 OK\r\n"),
            "{client}"
        );
    }
    let lines = lines_of(&path, 2);
    assert!(lines[0].starts_with("127.0.0.1 - - ["), "{lines:?}");
    assert!(lines[1].starts_with("::1 - - ["), "{lines:?}");
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
    let _ = std::fs::remove_dir_all(dir);
}

per_backend!(
    a_moved_log_is_reopened_on_usr1_and_hup,
    combined_escapes_what_clients_send,
    json_lines_carry_every_field,
    a_dual_stack_listener_logs_ipv4_clients_as_ipv4,
);
