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

/// With JSON logs, a refused command line is one JSON object naming the problem, and the
/// exit code is still 2 (a usage error), whether JSON is asked by flag or variable.
#[test]
fn usage_errors_are_json_when_logs_are() {
    type Run<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)]);
    let runs: [Run; 2] = [
        (&["--log-format", "json", "--workers", "many"], &[]),
        (&["--workers=many"], &[("GREETER_LOG_FORMAT", "json")]),
    ];
    for (args, env) in runs {
        let out = Command::new(env!("CARGO_BIN_EXE_greeter"))
            .args(args)
            .envs(env.iter().copied())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {stderr}");
        let event: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(event["level"], "ERROR", "{stderr}");
        assert_eq!(event["exit_code"], 2, "{stderr}");
        let message = event["message"].as_str().unwrap();
        assert!(
            message.contains("--workers") && message.contains("many"),
            "{message}"
        );
    }
}

/// A start-up failure with JSON logs: one JSON object, exit code 1.
#[test]
fn start_up_errors_are_json_when_logs_are() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().to_string();
    let mut g = Greeter::start(&["--listen", &port, "--log-format", "json"], &[]);
    assert_eq!(g.wait().code(), Some(1));
    let line = g.wait_for_line("already in use");
    let event: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(event["level"], "ERROR", "{line}");
    assert_eq!(event["exit_code"], 1, "{line}");
    assert!(event["message"].as_str().unwrap().contains(&port), "{line}");
}

/// Boolean variables take the words people write: 1/true/yes/on and 0/false/no/off.
#[test]
fn boolean_variables_take_the_usual_words() {
    for (word, metrics_served) in [("yes", false), ("on", false), ("1", false), ("off", true)] {
        let env = [
            ("GREETER_LISTEN", "127.0.0.1:0"),
            ("GREETER_WORKERS", "1"),
            ("GREETER_NO_METRICS", word),
        ];
        let mut g = Greeter::start(&[], &env);
        let answer = exchange(g.address(), b"GET /metrics HTTP/1.0\r\n\r\n");
        let served = answer.starts_with("HTTP/1.1 200 OK\r\n");
        assert_eq!(
            served, metrics_served,
            "GREETER_NO_METRICS={word}: {answer:.60}"
        );
    }
    let out = Command::new(env!("CARGO_BIN_EXE_greeter"))
        .env("GREETER_NO_METRICS", "maybe")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("maybe") && stderr.contains("--no-metrics"),
        "{stderr}"
    );
}

/// `SIGHUP` and `SIGUSR1` reopen the access log, and never stop the server, even when
/// no access log is kept (a stray `kill -HUP` must not take a server down).
#[test]
fn hup_and_usr1_never_stop_the_server() {
    let mut g = Greeter::start(&["--listen", "127.0.0.1:0", "--workers", "1"], &[]);
    let addr = g.address();
    for signal in ["HUP", "USR1", "HUP"] {
        g.signal(signal);
        g.wait_for_line("no access log is kept");
        assert_eq!(
            exchange(addr, b"GET / HTTP/1.0\r\n\r\n"),
            expected("200 OK", "Connection: close\r\n", "Hello, world!"),
            "after SIG{signal}"
        );
    }
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
}

/// `--version` names the commit built (what `git rev-parse` says in a checkout).
#[test]
fn version_names_the_commit() {
    let out = Command::new(env!("CARGO_BIN_EXE_greeter"))
        .arg("--version")
        .output()
        .unwrap();
    let version = String::from_utf8(out.stdout).unwrap();
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map_or_else(
            || "unknown".to_owned(),
            |o| String::from_utf8(o.stdout).unwrap(),
        );
    let want = format!(
        "greeter {} (commit {})\n",
        env!("CARGO_PKG_VERSION"),
        head.trim()
    );
    assert_eq!(version, want);
}

/// The man page and completions come from the command line's own definition.
#[test]
fn man_page_and_completions_are_generated() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_greeter"))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let man = run(&["generate", "man"]);
    assert!(man.contains(".TH greeter 1"), "{man:.300}");
    assert!(
        man.contains("proxy\\-protocol") && man.contains("GREETER_ACCESS_LOG"),
        "{man:.300}"
    );
    let bash = run(&["generate", "completions", "bash"]);
    assert!(bash.contains("complete -F _greeter") && bash.contains("--access-log-format"));
    let zsh = run(&["generate", "completions", "zsh"]);
    assert!(zsh.starts_with("#compdef greeter"), "{zsh:.100}");
    let help = run(&["--help"]);
    assert!(
        !help.contains("generate"),
        "a packagers' command stays out of --help: {help}"
    );
}

/// Standard error a closed pipe (the log reader gone): logging fails quietly, and SIGTERM
/// still drains and stops the server (before, the signal thread panicked on its log line
/// and the server never stopped).
#[test]
fn sigterm_stops_a_server_whose_log_pipe_is_closed() {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_greeter"))
        .args(["--listen", "127.0.0.1:0", "--workers", "1"])
        .env("NO_COLOR", "1")
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("greeter serving") {
        line.clear(); // a fallback warning may come first
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no start-up line");
    }
    let addr = address_in(&line);
    drop(stderr); // the reader goes: every later log write fails with EPIPE
    assert_eq!(
        exchange(addr, b"GET / HTTP/1.0\r\n\r\n"),
        expected("200 OK", "Connection: close\r\n", "Hello, world!")
    );
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("SIGTERM did not stop a server whose log pipe is closed");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
}
