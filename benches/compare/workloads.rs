//! The workloads and one measurement of one server under one of them: the load comes from
//! greeter's own load generator (the library), the server's CPU time and memory from /proc.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use greeter::BackendChoice;
use greeter::load::Percentiles;
use greeter::load::{LoadConfig, run};
use serde::Serialize;

use crate::servers::Running;

#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    pub name: &'static str,
    pub connections: usize,
    pub pipeline: usize,
    pub close: bool,
    pub raw: bool,
    /// Idle keep-alive connections held open during the measurement.
    pub idle: usize,
}

/// Every workload, in the order they run; `idle` is the idle-connection count to hold.
pub fn all(idle: usize) -> Vec<Workload> {
    let w = |name, connections, pipeline, close, raw, idle| Workload {
        name,
        connections,
        pipeline,
        close,
        raw,
        idle,
    };
    vec![
        w("keep-alive 64", 64, 1, false, false, 0),
        w("keep-alive 256", 256, 1, false, false, 0),
        w("pipelined 16", 64, 16, false, false, 0),
        w("connection per request", 64, 1, true, false, 0),
        w("64 active + idle", 64, 1, false, false, idle),
        w("raw greet-and-close", 64, 1, true, true, 0),
    ]
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub requests_per_sec: f64,
    pub requests: u64,
    pub errors: u64,
    pub latency_us: Percentiles,
    /// Server CPU seconds (user + system) per million requests.
    pub cpu_s_per_million: f64,
}

/// Runs `workload` against `server` for `duration` with `threads` load threads.
pub fn measure(
    server: &Running,
    workload: &Workload,
    duration: Duration,
    threads: usize,
) -> Result<Sample, String> {
    let idle = hold_idle(server, workload.idle)?;
    let cpu_before = server.cpu_seconds();
    let scheme = if workload.raw { "tcp" } else { "http" };
    let config = LoadConfig {
        url: format!("{scheme}://{}/", server.addr),
        connections: workload.connections,
        duration,
        pipeline: workload.pipeline,
        close: workload.close,
        threads,
        engine: BackendChoice::Auto,
        ..LoadConfig::default()
    };
    let report = run(&config, Arc::new(AtomicU64::new(0)))?;
    let cpu = server.cpu_seconds() - cpu_before;
    drop(idle);
    Ok(Sample {
        requests_per_sec: report.requests_per_sec,
        requests: report.requests,
        errors: report.error_total,
        latency_us: report.latency_us,
        cpu_s_per_million: cpu / report.requests.max(1) as f64 * 1e6,
    })
}

/// Server resident memory per idle keep-alive connection: `count` connections, each
/// answered once, opened on a server that has only been warmed up.
pub fn idle_memory(server: &Running, count: usize) -> Result<f64, String> {
    std::thread::sleep(Duration::from_millis(300));
    let before = server.memory().0;
    let idle = hold_idle(server, count)?;
    std::thread::sleep(Duration::from_millis(300));
    let after = server.memory().0;
    drop(idle);
    Ok(after.saturating_sub(before) as f64 / count.max(1) as f64)
}

/// Opens `count` keep-alive connections, each answered once, and keeps them open.
fn hold_idle(server: &Running, count: usize) -> Result<Vec<TcpStream>, String> {
    let request = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n";
    let mut connections = Vec::with_capacity(count);
    let mut buf = [0u8; 1024];
    for i in 0..count {
        let mut c =
            TcpStream::connect(server.addr).map_err(|e| format!("idle connection {i}: {e}"))?;
        c.set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(|e| e.to_string())?;
        c.write_all(request)
            .and_then(|()| c.read(&mut buf))
            .map_err(|e| format!("idle connection {i}: {e}"))?;
        connections.push(c);
    }
    Ok(connections)
}
