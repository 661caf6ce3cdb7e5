//! `greeter load` against real greeter servers on every backend, each load engine matching
//! the server's backend: the JSON report counts requests and no errors, and bad answers
//! are counted as errors. No test asserts a speed.

mod support;

use std::process::Command;

use greeter::BackendChoice;
use greeter::proto::Protocol;
use support::*;

/// Runs `greeter load` with `args` and returns its JSON report.
fn load(backend: BackendChoice, url: &str, args: &[&str]) -> serde_json::Value {
    let dir = std::env::temp_dir().join(format!(
        "greeter-load-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let json = dir.join("report.json");
    // The load generator has engines for io_uring and tokio; tokio-uring is measured
    // with the io_uring one.
    let engine = match backend {
        BackendChoice::Tokio => "tokio",
        _ => "uring",
    };
    let out = Command::new(env!("CARGO_BIN_EXE_greeter"))
        .args([
            "load",
            url,
            "--engine",
            engine,
            "--json",
            json.to_str().unwrap(),
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "greeter load failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Requests/sec:"), "a wrk-like summary: {text}");
    serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap()
}

fn requests_and_errors(report: &serde_json::Value) -> (u64, u64) {
    (
        report["requests"].as_u64().unwrap(),
        report["error_total"].as_u64().unwrap(),
    )
}

fn keep_alive_pipelined_and_close(backend: BackendChoice) {
    let server = server(backend);
    let url = format!("http://{}/", server.local_addr());
    for args in [
        &["-d", "1s", "-c", "8"][..],
        &["-d", "1s", "-c", "8", "--pipeline", "16"],
        &["-d", "500ms", "-c", "4", "--close"],
        &["-d", "500ms", "-c", "4", "--rate", "2000"],
    ] {
        let report = load(backend, &url, args);
        let (requests, errors) = requests_and_errors(&report);
        assert!(requests > 0, "{args:?}: {report}");
        assert_eq!(errors, 0, "{args:?}: {report}");
        assert!(
            report["latency_us"]["p50"].as_u64().unwrap() > 0,
            "{report}"
        );
    }
    let greet = format!("http://{}/greet/Load", server.local_addr());
    let report = load(
        backend,
        &greet,
        &["-d", "300ms", "-c", "2", "--expect-body", "Hello, Load!"],
    );
    assert_eq!(requests_and_errors(&report).1, 0, "{report}");
}

fn post_bodies_plain_and_chunked(backend: BackendChoice) {
    let server = server(backend);
    let url = format!("http://{}/greet", server.local_addr());
    let form = "application/x-www-form-urlencoded";
    for extra in [&[][..], &["--chunked"], &["--pipeline", "8"]] {
        let args = [
            &[
                "-d",
                "300ms",
                "-c",
                "2",
                "--method",
                "POST",
                "--body",
                "name=Load",
            ][..],
            &["--content-type", form, "--expect-body", "Hello, Load!"],
            extra,
        ]
        .concat();
        let report = load(backend, &url, &args);
        let (requests, errors) = requests_and_errors(&report);
        assert!(requests > 0 && errors == 0, "{extra:?}: {report}");
    }
}

fn raw_protocol_load(backend: BackendChoice) {
    let server = server_with(backend, |c| c.proto.protocol = Protocol::Raw);
    let url = format!("tcp://{}", server.local_addr());
    let report = load(
        backend,
        &url,
        &["-d", "500ms", "-c", "4", "--expect-body", "Hello, world!\n"],
    );
    let (requests, errors) = requests_and_errors(&report);
    assert!(requests > 0 && errors == 0, "{report}");
}

fn wrong_answers_are_counted_as_errors(backend: BackendChoice) {
    let server = server(backend);
    let url = format!("http://{}/", server.local_addr());
    let report = load(
        backend,
        &url,
        &["-d", "300ms", "-c", "2", "--expect-body", "Goodbye"],
    );
    assert_eq!(report["requests"], 0, "{report}");
    assert!(report["errors"]["body"].as_u64().unwrap() > 0, "{report}");
    let missing = format!("http://{}/nope", server.local_addr());
    let report = load(backend, &missing, &["-d", "300ms", "-c", "2"]);
    assert!(report["errors"]["status"].as_u64().unwrap() > 0, "{report}");
}

per_backend!(
    keep_alive_pipelined_and_close,
    post_bodies_plain_and_chunked,
    raw_protocol_load,
    wrong_answers_are_counted_as_errors
);
