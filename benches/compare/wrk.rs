//! Cross-checks greeter's load generator against wrk on the same server and workload
//! (keep-alive, 64 connections), measured back to back in each round.

use std::process::Command;
use std::time::Duration;

use serde::Serialize;

use crate::Settings;
use crate::servers::{Running, ServerSpec, on_path};
use crate::workloads::{self, measure};

#[derive(Debug, Clone, Serialize)]
pub struct WrkCheck {
    pub server: String,
    pub greeter_load_rps: Vec<f64>,
    pub wrk_rps: Vec<f64>,
    /// Server CPU seconds per million requests under each generator.
    pub greeter_load_cpu_s_per_million: Vec<f64>,
    pub wrk_cpu_s_per_million: Vec<f64>,
}

pub fn cross_check(specs: &[ServerSpec], s: &Settings) -> Vec<WrkCheck> {
    if !on_path("wrk") {
        eprintln!("skipped: wrk cross-check: wrk is not on PATH (apt-get install wrk)");
        return Vec::new();
    }
    let mut checks = Vec::new();
    for spec in specs {
        let Some(server) = s.start(spec, false) else {
            continue;
        };
        let check = check_one(&server, s);
        eprintln!(
            "wrk check: {:<16} greeter load {:?} req/s, wrk {:?} req/s",
            spec.name, check.greeter_load_rps, check.wrk_rps
        );
        checks.push(check);
        server.stop();
    }
    checks
}

/// Keep-alive 64 under greeter load, then under wrk, in each round.
fn check_one(server: &Running, s: &Settings) -> WrkCheck {
    // wrk counts whole seconds.
    let duration = Duration::from_secs(s.duration.as_secs().max(1));
    let keep_alive = workloads::all(0).remove(0);
    let _ = measure(server, &keep_alive, duration, s.threads);
    let mut check = WrkCheck {
        server: server.name.clone(),
        greeter_load_rps: vec![],
        wrk_rps: vec![],
        greeter_load_cpu_s_per_million: vec![],
        wrk_cpu_s_per_million: vec![],
    };
    for _ in 0..s.rounds {
        if let Ok(sample) = measure(server, &keep_alive, duration, s.threads) {
            check.greeter_load_rps.push(sample.requests_per_sec);
            check
                .greeter_load_cpu_s_per_million
                .push(sample.cpu_s_per_million);
        }
        let before = server.cpu_seconds();
        if let Some((rps, requests)) = run_wrk(&server.addr.to_string(), s.threads, duration) {
            check.wrk_rps.push(rps);
            let cpu = (server.cpu_seconds() - before) / requests.max(1.0) * 1e6;
            check.wrk_cpu_s_per_million.push(cpu);
        }
    }
    check
}

/// Requests/s and requests from one wrk run; `None` if wrk failed or saw errors.
fn run_wrk(addr: &str, threads: usize, duration: Duration) -> Option<(f64, f64)> {
    let args = [
        format!("-t{threads}"),
        "-c64".into(),
        format!("-d{}s", duration.as_secs()),
        format!("http://{addr}/"),
    ];
    let out = Command::new("wrk").args(&args).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx") || text.contains("Socket errors") {
        eprintln!("wrk reported errors: {text}");
        return None;
    }
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some((rps, requests))
}
