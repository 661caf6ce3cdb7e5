//! Operating the binary: JSON log lines with structured fields, no colour codes where
//! stderr is not a terminal, `--metrics-listen` and `--no-metrics` from the command line, and
//! an access log whose writer cannot keep up (the workers keep serving; drops are counted),
//! and one whose writes fail (said once, counted, serving goes on).

mod support;

use std::io::Write;
use std::process::Stdio;

use greeter::BackendChoice;
use support::child::{Greeter, child_args, command};
use support::*;

fn json_logs_carry_the_start_up_fields(backend: BackendChoice) {
    let args = child_args(backend, &["--log-format", "json"]);
    let mut g = Greeter::start(&args, &[]);
    let line = g.wait_for_line("greeter serving");
    let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON object per line");
    assert_eq!(event["level"], "INFO", "{line}");
    assert_eq!(event["workers"], 1, "{line}");
    assert_eq!(event["backend"], backend_name(backend), "{line}");
    assert!(event["ring_flags"].is_string(), "{line}");
    let addr: std::net::SocketAddr = event["address"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        exchange(addr, b"GET /healthz HTTP/1.0\r\n\r\n"),
        expected("200 OK", "Connection: close\r\n", "ok")
    );
    g.signal("TERM");
    assert_eq!(g.wait().code(), Some(0));
    g.wait_for_line("stopped");
    for line in &g.log {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    }
}

fn text_logs_have_no_colour_codes_off_a_terminal(backend: BackendChoice) {
    let args = child_args(backend, &[]);
    let mut cmd = command(&args, &[]);
    cmd.env_remove("NO_COLOR"); // only the terminal check may keep colours out
    let mut g = Greeter::spawn_with(cmd, |mut c| c.spawn());
    g.wait_for_line("greeter serving");
    g.signal("TERM");
    g.wait();
    g.wait_for_line("stopped");
    assert!(g.log.iter().all(|l| !l.contains('\u{1b}')), "{:#?}", g.log);
}

fn metrics_flags_on_the_command_line(backend: BackendChoice) {
    let args = child_args(backend, &["--metrics-listen", "127.0.0.1:0"]);
    let mut g = Greeter::start(&args, &[]);
    let line = g.wait_for_line("greeter serving");
    let admin = line
        .split("metrics on http://")
        .nth(1)
        .expect("names the metrics address");
    let admin: std::net::SocketAddr = admin.split('/').next().unwrap().parse().unwrap();
    let answer = exchange(admin, b"GET /metrics HTTP/1.0\r\n\r\n");
    assert!(
        answer.contains("\r\n\r\n# HELP greeter_requests_total "),
        "{answer:.200}"
    );
    let main = support::child::address_in(&line);
    assert!(exchange(main, b"GET /metrics HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 404 "));
    let args = child_args(backend, &["--no-metrics"]);
    let mut g = Greeter::start(&args, &[]);
    let addr = g.address();
    assert!(exchange(addr, b"GET /metrics HTTP/1.0\r\n\r\n").starts_with("HTTP/1.1 404 "));
}

/// Standard output is a pipe nobody reads: once its buffer fills, the access log's writer
/// blocks, its queue fills, and lines are dropped, while every request is answered.
fn an_access_log_that_cannot_keep_up_drops_lines_not_requests(backend: BackendChoice) {
    let args = child_args(backend, &["--access-log"]);
    let mut cmd = command(&args, &[]);
    cmd.stdout(Stdio::piped()); // never read
    let mut g = Greeter::spawn_with(cmd, |mut c| c.spawn());
    let addr = g.address();
    let clients: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = connect(addr);
                c.write_all(GET.repeat(1000).as_bytes()).unwrap();
                count_responses(read_responses(&mut c, 1000).as_bytes())
            })
        })
        .collect();
    let answered: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    assert_eq!(answered, 20_000, "every request answered");
    let metrics = exchange(addr, b"GET /metrics HTTP/1.0\r\n\r\n");
    let dropped: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("greeter_access_log_dropped_total{reason=\"behind\"} "))
        .and_then(|v| v.parse().ok())
        .expect("the drop counter");
    println!("{backend:?}: {dropped} of 20000 access log lines dropped");
    assert!(dropped > 0, "a writer that cannot keep up drops lines");
}

/// Standard output is a pipe whose reader is gone: every write fails (`EPIPE`). The
/// writer says so once, counts the lines, and the server answers everything.
fn an_access_log_whose_writes_fail_is_said_once_and_counted(backend: BackendChoice) {
    let args = child_args(backend, &["--access-log"]);
    let mut cmd = command(&args, &[]);
    cmd.stdout(Stdio::piped());
    let mut g = Greeter::spawn_with(cmd, |mut c| c.spawn());
    drop(g.take_stdout()); // the reader goes: writes fail with EPIPE
    let addr = g.address();
    for round in 0..3 {
        let mut c = connect(addr);
        c.write_all(GET.repeat(10).as_bytes()).unwrap();
        assert_eq!(
            read_responses(&mut c, 10),
            hello().repeat(10),
            "round {round}"
        );
        std::thread::sleep(std::time::Duration::from_millis(150)); // a batch per round
    }
    g.wait_for_line("cannot write the access log");
    let metrics = exchange(addr, b"GET /metrics HTTP/1.0\r\n\r\n");
    let lost: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("greeter_access_log_dropped_total{reason=\"write_error\"} "))
        .and_then(|v| v.parse().ok())
        .expect("the write-error counter");
    assert!(
        lost >= 20,
        "lines lost to failed writes are counted: {lost}"
    );
    let said = g.drain_log();
    assert!(
        !said
            .iter()
            .any(|l| l.contains("cannot write the access log")),
        "said once per episode, not per batch: {said:#?}"
    );
}

per_backend!(
    json_logs_carry_the_start_up_fields,
    text_logs_have_no_colour_codes_off_a_terminal,
    metrics_flags_on_the_command_line,
    an_access_log_that_cannot_keep_up_drops_lines_not_requests,
    an_access_log_whose_writes_fail_is_said_once_and_counted,
);
