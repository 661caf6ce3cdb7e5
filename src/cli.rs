//! The command line: flags (each also a `GREETER_*` variable) turned into a [`Config`].

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};
use greeter::proto::{ProtoConfig, Protocol};
use greeter::{
    AccessLogConfig, AccessLogFormat, AccessLogTarget, BackendChoice, Config, LogFormat, Metrics,
    UringConfig,
};

/// What `GREETER_ACCESS_LOG` may hold besides a path: the words people write for yes and
/// no (the flags' own variables take these too, and `y`/`n`/`t`/`f`).
const BOOLISH: [(&str, bool); 8] = [
    ("1", true),
    ("true", true),
    ("yes", true),
    ("on", true),
    ("0", false),
    ("false", false),
    ("no", false),
    ("off", false),
];
#[derive(Debug, Parser)]
#[command(
    name = "greeter",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("GREETER_COMMIT"), ")"),
    about = "A greeting server on io_uring, with a tokio fallback",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve (the default when no command is given).
    Serve(ServeArgs),
    /// Generate HTTP/1.1 (or raw) load against a server and report throughput and latency.
    Load(LoadArgs),
    /// One GET for a health check: exit 0 on a 2xx answer, 1 (with the reason) otherwise.
    Probe(ProbeArgs),
    /// Write the man page or a shell's completions to standard output (for packagers).
    #[command(hide = true)]
    Generate(GenerateArgs),
}

/// What `greeter generate` writes.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    #[command(subcommand)]
    pub what: Generated,
}

/// The man page, or completions for a shell.
#[derive(Debug, Subcommand)]
pub enum Generated {
    /// greeter(1), in roff.
    Man,
    /// Completions for `shell`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// `http://host:port/path`, e.g. http://127.0.0.1:8080/healthz.
    pub url: String,
    /// How long the whole exchange may take.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// `http://host:port/path`, or `tcp://host:port` for the raw greet-and-close protocol.
    pub url: String,
    /// Connections kept open (or reopened, with --close).
    #[arg(short = 'c', long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub connections: u32,
    /// How long to run.
    #[arg(short = 'd', long, value_parser = humantime::parse_duration, default_value = "10s")]
    pub duration: Duration,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub pipeline: u32,
    /// A new connection per request (`Connection: close`).
    #[arg(long)]
    pub close: bool,
    /// Requests per connection: the last says `Connection: close` and a new connection
    /// follows (HttpArena's "limited-conn" profile is 10).
    #[arg(long, value_name = "N", conflicts_with = "close", value_parser = clap::value_parser!(u32).range(1..))]
    pub requests_per_connection: Option<u32>,
    /// Requests per second over all connections, on a fixed schedule; latency is measured
    /// from each request's intended send time (coordinated omission corrected, like wrk2).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub rate: Option<u64>,
    /// Threads, each with its own share of the connections.
    #[arg(short = 't', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub threads: u32,
    /// A request unanswered this long is an error.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub timeout: Duration,
    /// The status every response must have.
    #[arg(long, default_value_t = 200)]
    pub expect_status: u16,
    /// The body every response must have [default: the first body received].
    #[arg(long)]
    pub expect_body: Option<String>,
    /// Do not compare bodies (for a page that changes, such as /metrics).
    #[arg(long, conflicts_with = "expect_body")]
    pub any_body: bool,
    /// I/O engine: io_uring where available (auto), or forced.
    #[arg(long, value_enum, default_value = "auto")]
    pub engine: greeter::load::Engine,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<std::path::PathBuf>,
    /// The request method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// A body to send with each request (e.g. `name=Alice` with a form --content-type).
    #[arg(long)]
    pub body: Option<String>,
    /// The body's media type [default: text/plain; charset=utf-8].
    #[arg(long, requires = "body")]
    pub content_type: Option<String>,
    /// Send the body with the chunked transfer coding instead of Content-Length.
    #[arg(long, requires = "body")]
    pub chunked: bool,
}

impl LoadArgs {
    pub fn to_config(&self) -> greeter::load::LoadConfig {
        let mut c = greeter::load::LoadConfig::default();
        c.url = self.url.clone();
        c.connections = self.connections as usize;
        c.duration = self.duration;
        c.pipeline = self.pipeline as usize;
        c.close = self.close;
        c.requests_per_connection = self.requests_per_connection.map(|n| n as usize);
        c.rate = self.rate;
        c.threads = self.threads as usize;
        c.timeout = self.timeout;
        c.expect_status = self.expect_status;
        c.expect_body = self.expect_body.clone();
        c.any_body = self.any_body;
        c.engine = self.engine;
        c.request.method = self.method.clone();
        c.request.body = self.body.clone();
        c.request.content_type = self.content_type.clone();
        c.request.chunked = self.chunked;
        c
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProtocolArg {
    Http,
    Raw,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "GREETER_LISTEN", default_value = "127.0.0.1:8888")]
    listen: SocketAddr,
    /// I/O backend: io_uring where available (auto), or forced.
    #[arg(long, env = "GREETER_BACKEND", value_enum, default_value = "auto")]
    backend: BackendChoice,
    /// Worker threads [default: one per available core].
    #[arg(long, env = "GREETER_WORKERS")]
    workers: Option<NonZeroUsize>,
    /// HTTP/1.1, or raw TCP: read once, write the greeting, close.
    #[arg(long, env = "GREETER_PROTOCOL", value_enum, default_value = "http")]
    protocol: ProtocolArg,
    /// The greeting `GET /` answers and the raw protocol writes.
    #[arg(long, env = "GREETER_MESSAGE", default_value = "Hello, world!")]
    message: String,
    /// Deadline for a whole request head, from its first byte or from accept.
    #[arg(long, env = "GREETER_HEADER_TIMEOUT", value_parser = humantime::parse_duration, default_value = "10s")]
    header_timeout: Duration,
    /// Keep-alive connections idle between requests (and stalled writes) are closed after this.
    #[arg(long, env = "GREETER_IDLE_TIMEOUT", value_parser = humantime::parse_duration, default_value = "60s")]
    idle_timeout: Duration,
    /// Graceful shutdown deadline; then remaining connections are closed.
    #[arg(long, env = "GREETER_SHUTDOWN_TIMEOUT", value_parser = humantime::parse_duration, default_value = "10s")]
    shutdown_timeout: Duration,
    /// Open connections per worker [default: from RLIMIT_NOFILE].
    #[arg(long, env = "GREETER_MAX_CONNECTIONS")]
    max_connections: Option<NonZeroUsize>,
    /// Longest request head in bytes (431 above; 414 if the request line alone is longer).
    #[arg(long, env = "GREETER_MAX_HEADER_BYTES", default_value_t = 8192, value_parser = clap::value_parser!(u32).range(64..))]
    max_header_bytes: u32,
    /// Longest request body read and discarded, in bytes (413 above).
    #[arg(long, env = "GREETER_MAX_BODY_BYTES", default_value_t = 65536)]
    max_body_bytes: u64,
    /// Output bytes a connection may have pending before its input waits (backpressure).
    #[arg(long, env = "GREETER_MAX_PENDING_OUTPUT", default_value_t = 65536, value_parser = clap::value_parser!(u32).range(1..))]
    max_pending_output: u32,
    /// io_uring: receive buffers per worker (a power of two).
    #[arg(long, env = "GREETER_RECV_BUFFERS", default_value_t = 512, value_parser = power_of_two)]
    recv_buffers: u16,
    /// io_uring: bytes per receive buffer.
    #[arg(long, env = "GREETER_RECV_BUFFER_SIZE", default_value_t = 2048, value_parser = clap::value_parser!(u32).range(64..=1_048_576))]
    recv_buffer_size: u32,
    /// io_uring: submission queue entries (the completion queue gets 4x).
    #[arg(long, env = "GREETER_SQ_ENTRIES", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(8..=32768))]
    sq_entries: u32,
    /// io_uring: newer kernel features, comma-separated: `ring-fd`, `no-sqarray`, `direct`,
    /// `bundle` and `restrict` (both on by default), `min-wait=US`; `off-NAME` turns one off
    /// (`off-bundle`; `off-restrict` only to measure what the opcode allowlist costs).
    #[arg(long, env = "GREETER_URING_FEATURES", default_value = "")]
    uring_features: greeter::UringFeatures,
    /// Serve /metrics on this address instead of the main one (an admin port).
    #[arg(long, env = "GREETER_METRICS_LISTEN", conflicts_with = "no_metrics")]
    metrics_listen: Option<SocketAddr>,
    /// Serve no /metrics at all.
    #[arg(long, env = "GREETER_NO_METRICS", value_parser = BoolishValueParser::new())]
    no_metrics: bool,
    /// Log lines as text (coloured only on a terminal) or as JSON objects.
    #[arg(long, env = "GREETER_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Write an access log line per request: to standard output (`-`, or the flag alone)
    /// or appended to a file (reopened on SIGUSR1 or SIGHUP, for logrotate). In the
    /// variable, `1`/`true`/`yes`/`on` also mean standard output and `0`/`false`/`no`/`off`
    /// none.
    #[arg(long, env = "GREETER_ACCESS_LOG", value_name = "PATH", num_args = 0..=1, default_missing_value = "-")]
    access_log: Option<String>,
    /// The access log's format: nginx's `combined`, or `json` (every field) [default:
    /// `json` with --log-format json, else `combined`].
    #[arg(long, env = "GREETER_ACCESS_LOG_FORMAT", value_enum)]
    access_log_format: Option<greeter::AccessLogFormat>,
    /// Every connection to the traffic listener begins with a PROXY protocol header
    /// (HAProxy's version 1 or 2, as a load balancer sends it): the access log names the
    /// client it carries; a connection without one is closed unanswered. Never on the
    /// admin listener (--metrics-listen).
    #[arg(long, env = "GREETER_PROXY_PROTOCOL", value_parser = BoolishValueParser::new())]
    proxy_protocol: bool,
    /// Once serving, confine every thread with greeter's own seccomp filter: no new
    /// io_uring, no execve, no new threads, no network sockets (Linux). `log` allows and
    /// logs to the kernel audit log what `enforce` would refuse.
    #[arg(long, env = "GREETER_SANDBOX", value_enum, num_args = 0..=1, default_missing_value = "enforce", default_value = "off")]
    sandbox: greeter::Sandbox,
}

fn power_of_two(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(n) if n.is_power_of_two() && n <= 32768 => Ok(n),
        _ => Err(format!("`{s}` is not a power of two between 1 and 32768")),
    }
}

impl ServeArgs {
    pub fn into_config(self) -> Config {
        let mut c = Config::default();
        c.uring = self.uring_config();
        c.metrics = match (self.no_metrics, self.metrics_listen) {
            (true, _) => Metrics::Off,
            (false, Some(addr)) => Metrics::Listen(addr),
            (false, None) => Metrics::Here,
        };
        c.proto = self.proto_config();
        c.listen = self.listen;
        c.backend = self.backend;
        c.workers = self.workers;
        c.shutdown_timeout = self.shutdown_timeout;
        c.max_connections = self.max_connections;
        c.access_log = self.access_log();
        c.sandbox = self.sandbox;
        c
    }

    /// The access log asked for, if any: a path, `-` for standard output, or a boolean.
    fn access_log(&self) -> Option<AccessLogConfig> {
        let target = match self.access_log.as_deref()? {
            "-" => AccessLogTarget::Stdout,
            other => match BOOLISH
                .iter()
                .find(|(word, _)| other.eq_ignore_ascii_case(word))
            {
                Some((_, true)) => AccessLogTarget::Stdout,
                Some((_, false)) => return None,
                None => AccessLogTarget::File(other.into()),
            },
        };
        let format = self.access_log_format.unwrap_or(match self.log_format {
            LogFormat::Json => AccessLogFormat::Json,
            _ => AccessLogFormat::Combined,
        });
        Some(AccessLogConfig::new(format, target))
    }

    fn uring_config(&self) -> UringConfig {
        let mut u = UringConfig::default();
        u.sq_entries = self.sq_entries;
        u.recv_buffers = self.recv_buffers;
        u.recv_buffer_size = self.recv_buffer_size;
        u.features = self.uring_features;
        u
    }

    fn proto_config(&self) -> ProtoConfig {
        let mut p = ProtoConfig::default();
        p.protocol = match self.protocol {
            ProtocolArg::Http => Protocol::Http,
            ProtocolArg::Raw => Protocol::Raw,
        };
        p.greeting = self.message.clone();
        p.max_header_bytes = self.max_header_bytes as usize;
        p.max_body_bytes = self.max_body_bytes;
        p.max_pending_output = self.max_pending_output as usize;
        p.timeouts.header = self.header_timeout;
        p.timeouts.idle = self.idle_timeout;
        p.proxy_protocol = self.proxy_protocol;
        p
    }
}
