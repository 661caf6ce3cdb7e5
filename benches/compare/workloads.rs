//! The workloads and one measurement of one server under one of them: the load comes from
//! greeter's own load generator (the library), the server's CPU time and memory from /proc.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use greeter::load::{LoadConfig, Percentiles, RequestSpec, run};
use serde::Serialize;

use crate::servers::Running;

/// What a workload asks of a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Kind {
    /// `GET /` over HTTP/1.1.
    Get,
    /// `POST /greet` with a form body holding the name.
    PostGreet,
    /// The raw greet-and-close protocol.
    Raw,
}

#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    pub name: &'static str,
    pub kind: Kind,
    pub connections: usize,
    pub pipeline: usize,
    pub close: bool,
    /// Idle keep-alive connections held open during the measurement.
    pub idle: usize,
    /// Requests per connection before a new one (HttpArena's "limited-conn").
    pub per_connection: Option<usize>,
}

/// Every workload, in the order they run; `idle` is the idle-connection count to hold.
pub fn all(idle: usize) -> Vec<Workload> {
    let w = |name, kind, connections, pipeline, close, idle| Workload {
        name,
        kind,
        connections,
        pipeline,
        close,
        idle,
        per_connection: None,
    };
    vec![
        w("keep-alive 64", Kind::Get, 64, 1, false, 0),
        w("keep-alive 256", Kind::Get, 256, 1, false, 0),
        w("keep-alive 512", Kind::Get, 512, 1, false, 0),
        w("keep-alive 4096", Kind::Get, 4096, 1, false, 0),
        Workload {
            per_connection: Some(10),
            ..w("limited-conn 512", Kind::Get, 512, 1, false, 0)
        },
        w("pipelined 16", Kind::Get, 64, 16, false, 0),
        w("connection per request", Kind::Get, 64, 1, true, 0),
        w("64 active + idle", Kind::Get, 64, 1, false, idle),
        w("POST /greet", Kind::PostGreet, 64, 1, false, 0),
        w("raw greet-and-close", Kind::Raw, 64, 1, true, 0),
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

/// The load generator's settings for `workload` against `server`.
fn load_config(server: &Running, w: &Workload, duration: Duration, threads: usize) -> LoadConfig {
    let (url, request) = match w.kind {
        Kind::Get => (format!("http://{}/", server.addr), RequestSpec::default()),
        Kind::Raw => (format!("tcp://{}", server.addr), RequestSpec::default()),
        Kind::PostGreet => (format!("http://{}/greet", server.addr), post_greet()),
    };
    let mut c = LoadConfig::default();
    c.url = url;
    c.connections = w.connections;
    c.duration = duration;
    c.pipeline = w.pipeline;
    c.close = w.close;
    c.requests_per_connection = w.per_connection;
    c.threads = threads;
    c.request = request;
    c
}

fn post_greet() -> RequestSpec {
    let mut r = RequestSpec::default();
    r.method = "POST".into();
    r.body = Some("name=bench".into());
    r.content_type = Some("application/x-www-form-urlencoded".into());
    r
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
    let config = load_config(server, workload, duration, threads);
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
