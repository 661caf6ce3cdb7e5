//! The load generator behind `greeter load`: HTTP/1.1 (or raw) load over many
//! connections, driven from io_uring on Linux (so the client costs less CPU than the
//! server it measures) or from tokio elsewhere. Every response is validated; latency goes
//! into HDR histograms.

mod client;
mod report;
mod request;
mod schedule;
#[cfg(feature = "tokio")]
mod tokio;
#[cfg(uring)]
mod uring;
mod validate;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use client::Plan;
use report::Stats;
pub use report::{Errors, Percentiles, Report, ReportHeader};
pub use request::RequestSpec;
use validate::Expect;

use crate::choice::{self, Backend, BackendChoice};

/// The I/O that drives the load's connections: the load generator's own choice, apart
/// from the server's backends (which it never needs to know).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
#[non_exhaustive]
pub enum Engine {
    /// greeter's io_uring driver where the kernel allows it, else tokio.
    #[default]
    Auto,
    /// greeter's io_uring driver, or an error saying why it cannot run.
    Uring,
    /// tokio: epoll on Linux, kqueue on macOS.
    Tokio,
}

/// One thread's share of the load, run by an engine.
type Run = fn(Job) -> std::io::Result<Stats>;

/// The engine `engine` resolves to here, and its name.
fn resolve(engine: Engine) -> Result<(Run, Backend), String> {
    let choice = match engine {
        Engine::Auto => BackendChoice::Auto,
        Engine::Uring => BackendChoice::Uring,
        Engine::Tokio => BackendChoice::Tokio,
    };
    let backend = choice::resolve(choice, "--engine")
        .map_err(|e| e.to_string())?
        .backend;
    #[allow(unreachable_patterns)] // a server backend with no engine of its own
    let run: Run = match backend {
        #[cfg(uring)]
        Backend::Uring => uring::run,
        #[cfg(feature = "tokio")]
        Backend::Tokio => tokio::run,
        other => return Err(format!("greeter load has no {other} engine")),
    };
    Ok((run, backend))
}

/// What a load run does. Built from its default, then changed field by field.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoadConfig {
    /// `http://host:port/path`, or `tcp://host:port` for the raw protocol.
    pub url: String,
    /// Connections kept open (or reopened, with `close`).
    pub connections: usize,
    /// How long to run.
    pub duration: Duration,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// A new connection per request.
    pub close: bool,
    /// Requests per connection before the server is asked to close it (the last one
    /// says `Connection: close`) and a new one is opened: HttpArena's "limited-conn".
    pub requests_per_connection: Option<usize>,
    /// Requests per second over all connections (latency from the intended send time).
    pub rate: Option<u64>,
    /// Threads, each driving its share of the connections.
    pub threads: usize,
    /// A request unanswered this long counts as a timeout.
    pub timeout: Duration,
    /// The status every response must have.
    pub expect_status: u16,
    /// The body every response must carry; by default the first one seen.
    pub expect_body: Option<String>,
    /// Bodies are not compared at all (a page that changes between requests).
    pub any_body: bool,
    /// The I/O that drives the connections.
    pub engine: Engine,
    /// The method and body of each request.
    pub request: RequestSpec,
}

impl Default for LoadConfig {
    fn default() -> Self {
        LoadConfig {
            url: "http://127.0.0.1:8888/".into(),
            connections: 64,
            duration: Duration::from_secs(10),
            pipeline: 1,
            close: false,
            requests_per_connection: None,
            rate: None,
            threads: 1,
            timeout: Duration::from_secs(2),
            expect_status: 200,
            expect_body: None,
            any_body: false,
            engine: Engine::Auto,
            request: RequestSpec::default(),
        }
    }
}

/// Where the load (or `greeter probe`'s one request) goes: a URL taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Target {
    /// The address the host resolved to.
    pub addr: SocketAddr,
    /// The `Host` header: the URL's host and port as written.
    pub host: String,
    /// The path (and query) to request; `/` when the URL has none.
    pub path: String,
    /// `tcp://`: the raw greet-and-close protocol, not HTTP.
    pub raw: bool,
}

/// Parses `http://host[:port][/path]` or `tcp://host:port`, resolving the host.
pub fn parse_target(url: &str) -> Result<Target, String> {
    let (raw, rest) = match url.split_once("://") {
        Some(("http", rest)) => (false, rest),
        Some(("tcp", rest)) => (true, rest),
        _ => {
            return Err(format!(
                "`{url}`: expected http://host[:port]/path or tcp://host:port"
            ));
        }
    };
    let (host, path) = rest
        .find('/')
        .map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
    let with_port = if host
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
    {
        host.to_owned()
    } else {
        format!("{host}:80")
    };
    let addr = with_port
        .to_socket_addrs()
        .map_err(|e| format!("`{host}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{host}` has no address"))?;
    Ok(Target {
        addr,
        host: host.to_owned(),
        path: path.to_owned(),
        raw,
    })
}

/// What one engine thread runs.
struct Job {
    plan: Arc<Plan>,
    addr: SocketAddr,
    /// Index of this thread's first connection, and how many it drives.
    first: usize,
    count: usize,
    start: Instant,
    end: Instant,
    expect: Expect,
    /// Successful responses so far, for a progress display.
    progress: Arc<AtomicU64>,
}

impl Job {
    /// Nanoseconds since the run started.
    fn now_ns(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }
}

/// Runs the load; `progress` counts successful responses as they come.
pub fn run(config: &LoadConfig, progress: Arc<AtomicU64>) -> Result<Report, String> {
    let target = parse_target(&config.url)?;
    let plan = Arc::new(plan(config, &target)?);
    let (run, engine) = resolve(config.engine)?;
    let jobs = jobs(config, &plan, target.addr, &progress);
    let threads = jobs.len();
    let total = run_threads(run, jobs)?;
    let header = ReportHeader {
        target: config.url.clone(),
        engine: engine.to_string(),
        connections: config.connections,
        threads,
        pipeline: plan.pipeline,
        close: plan.one_shot,
        requests_per_connection: plan.per_connection,
        rate: config.rate,
    };
    // Responses count only until `end`, so the run lasted exactly the configured time.
    Ok(Report::new(header, &total, config.duration))
}

/// The connections split into one job per thread, all starting and ending together.
fn jobs(
    config: &LoadConfig,
    plan: &Arc<Plan>,
    addr: SocketAddr,
    progress: &Arc<AtomicU64>,
) -> Vec<Job> {
    let threads = config.threads.clamp(1, config.connections);
    let expect = Expect {
        status: config.expect_status,
        body: config.expect_body.as_ref().map(|b| b.as_bytes().to_vec()),
        any_body: config.any_body,
    };
    let start = Instant::now();
    let share = |t: usize| t * config.connections / threads;
    (0..threads)
        .map(|t| Job {
            plan: Arc::clone(plan),
            addr,
            first: share(t),
            count: share(t + 1) - share(t),
            start,
            end: start + config.duration,
            expect: expect.clone(),
            progress: Arc::clone(progress),
        })
        .collect()
}

/// Runs each job on its own thread; their measurements merged.
fn run_threads(run: Run, jobs: Vec<Job>) -> Result<Stats, String> {
    let handles: Vec<_> = jobs
        .into_iter()
        .enumerate()
        .map(|(t, job)| {
            std::thread::Builder::new()
                .name(format!("greeter-load-{t}"))
                .spawn(move || run(job).map_err(|e| format!("load engine failed: {e}")))
        })
        .collect::<Result<_, _>>()
        .map_err(|e| format!("cannot start a load thread: {e}"))?;
    let mut total = Stats::default();
    for handle in handles {
        let stats = handle
            .join()
            .map_err(|_| "a load thread panicked".to_owned())??;
        total.merge(&stats);
    }
    Ok(total)
}

fn plan(config: &LoadConfig, target: &Target) -> Result<Plan, String> {
    if config.connections == 0 || config.pipeline == 0 {
        return Err("connections and pipeline depth must be at least 1".into());
    }
    if (config.close || target.raw) && config.pipeline > 1 {
        return Err("--pipeline needs keep-alive connections (not --close, not tcp://)".into());
    }
    if target.raw && config.request != RequestSpec::default() {
        return Err("tcp:// sends a raw greeting request: no --method or --body".into());
    }
    if config.requests_per_connection.is_some() && (config.close || target.raw) {
        return Err(
            "--requests-per-connection needs keep-alive connections (not --close, not tcp://)"
                .into(),
        );
    }
    if config.requests_per_connection == Some(0) {
        return Err("--requests-per-connection must be at least 1".into());
    }
    let request = match target.raw {
        true => b"hi\n".to_vec(),
        false => (config.request).encode(&target.host, &target.path, config.close)?,
    };
    let last_request = match target.raw {
        true => request.clone(),
        false => (config.request).encode(&target.host, &target.path, true)?,
    };
    Ok(Plan {
        request,
        pipeline: config.pipeline,
        one_shot: config.close || target.raw,
        per_connection: config.requests_per_connection,
        last_request,
        raw: target.raw,
        rate: config.rate,
        connections: config.connections,
        timeout_ns: config.timeout.as_nanos() as u64,
        retry: !target.raw && config.request.idempotent(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = parse_target("http://127.0.0.1:8080/greet/x").unwrap();
        assert_eq!(
            (t.addr.port(), t.host.as_str(), t.path.as_str(), t.raw),
            (8080, "127.0.0.1:8080", "/greet/x", false)
        );
        let t = parse_target("http://127.0.0.1").unwrap();
        assert_eq!((t.addr.port(), t.path.as_str()), (80, "/"));
        assert!(parse_target("tcp://127.0.0.1:9").unwrap().raw);
        assert!(
            parse_target("ftp://x/")
                .unwrap_err()
                .contains("expected http://")
        );
    }

    #[test]
    fn plans_refuse_contradictions() {
        let target = parse_target("http://127.0.0.1:1/").unwrap();
        let bad = LoadConfig {
            close: true,
            pipeline: 4,
            ..LoadConfig::default()
        };
        assert!(plan(&bad, &target).unwrap_err().contains("--pipeline"));
        let good = plan(
            &LoadConfig {
                close: true,
                ..LoadConfig::default()
            },
            &target,
        )
        .unwrap();
        assert!(
            String::from_utf8(good.request)
                .unwrap()
                .contains("Connection: close\r\n")
        );
    }
}
