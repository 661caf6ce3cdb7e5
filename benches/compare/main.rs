//! `cargo bench --bench compare`: greeter on each compiled backend against peer servers,
//! each in its own process pinned to its own cores, every workload in interleaved rounds.
//! Writes `bench-results/<time>/results.json`, `results.md` and SVG charts.
//!
//! Options (after `--`): `--quick`, `--server-cpus 0`, `--load-cpus 1`, `--rounds 3`,
//! `--duration 5s`, `--idle 10000`, `--peer NAME='COMMAND {port}'`, `--only NAME,...`,
//! `--wrk` (cross-check the load generator against wrk), `--out DIR`.

mod output;
mod servers;
mod workloads;
mod wrk;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Serialize;

use servers::{Running, ServerSpec, clock_ticks, on_path};
use workloads::{Sample, Workload, measure};

#[derive(Debug, Parser)]
#[command(about = "Compare greeter with other servers, side by side")]
struct Args {
    /// A short run (CI): 0.5 s per measurement, 1,000 idle connections.
    #[arg(long)]
    quick: bool,
    /// Cores the servers run on (taskset list).
    #[arg(long, default_value = "0")]
    server_cpus: String,
    /// Cores the load generator runs on.
    #[arg(long, default_value = "1")]
    load_cpus: String,
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// Length of one measurement [default: 5s, or 500ms with --quick].
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Idle connections for the idle workload [default: 10000, or 1000 with --quick].
    #[arg(long)]
    idle: Option<usize>,
    /// An extra HTTP server: NAME='COMMAND {port}' (run through `sh -c`).
    #[arg(long = "peer", value_parser = parse_peer)]
    peers: Vec<(String, String)>,
    /// Only these servers (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Also measure keep-alive 64 with wrk, to cross-check the load generator.
    #[arg(long)]
    wrk: bool,
    #[arg(long, default_value = "bench-results")]
    out: PathBuf,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

fn parse_peer(s: &str) -> Result<(String, String), String> {
    let (name, command) = s.split_once('=').ok_or("expected NAME='COMMAND {port}'")?;
    if !command.contains("{port}") {
        return Err(format!("the command for {name} must contain {{port}}"));
    }
    Ok((name.to_owned(), command.to_owned()))
}

/// All measurements of one server under one workload.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub server: String,
    pub workload: String,
    pub samples: Vec<Sample>,
}

/// What a server's memory came to.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub server: String,
    /// High-water mark over the HTTP workloads.
    pub peak_rss_bytes: u64,
    /// Measured on a freshly started, warmed-up server.
    pub idle_bytes_per_connection: Option<f64>,
}

struct Settings {
    duration: Duration,
    rounds: u32,
    threads: usize,
    server_cpus: String,
    scratch: PathBuf,
    ticks: f64,
}

impl Settings {
    /// Starts `spec` on the server cores, or says why it is skipped.
    fn start(&self, spec: &ServerSpec, raw: bool) -> Option<Running> {
        spec.start(&self.server_cpus, raw, &self.scratch, self.ticks)
            .map_err(|e| eprintln!("skipped: {}: {e}", spec.name))
            .ok()
    }
}

fn main() {
    let args = Args::parse();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    pin_self(&args.load_cpus);
    let settings = Settings {
        duration: args.duration.unwrap_or(if args.quick {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(5)
        }),
        rounds: args.rounds,
        threads: cpu_count(&args.load_cpus),
        server_cpus: args.server_cpus.clone(),
        scratch: std::env::temp_dir().join(format!("greeter-compare-{}", std::process::id())),
        ticks: clock_ticks(),
    };
    let idle = args.idle.unwrap_or(if args.quick { 1000 } else { 10_000 });
    let specs = server_specs(&args);
    let all = workloads::all(idle);
    let (http, raw): (Vec<Workload>, Vec<Workload>) = all.into_iter().partition(|w| !w.raw);
    let idle_memory = measure_idle_memory(&specs, &settings, idle);
    let (mut entries, mut memory) = phase(&specs, false, &http, &settings);
    for m in &mut memory {
        m.idle_bytes_per_connection = idle_memory
            .iter()
            .find(|(name, _)| *name == m.server)
            .map(|(_, b)| *b);
    }
    let raw_specs: Vec<ServerSpec> = specs.iter().filter(|s| s.raw.is_some()).cloned().collect();
    specs
        .iter()
        .filter(|s| s.raw.is_none())
        .for_each(|s| eprintln!("skipped: {} has no raw greet-and-close mode", s.name));
    entries.extend(phase(&raw_specs, true, &raw, &settings).0);
    let wrk = if args.wrk {
        wrk::cross_check(&specs, &settings)
    } else {
        Vec::new()
    };
    let _ = std::fs::remove_dir_all(&settings.scratch);
    match output::write(&args.out, &settings, &entries, &memory, &wrk) {
        Ok(dir) => eprintln!("results in {}", dir.display()),
        Err(e) => eprintln!("cannot write results: {e}"),
    }
}

/// Starts every server, warms each up, runs the workloads in interleaved rounds.
fn phase(
    specs: &[ServerSpec],
    raw: bool,
    workloads: &[Workload],
    s: &Settings,
) -> (Vec<Entry>, Vec<Memory>) {
    let running: Vec<Running> = specs.iter().filter_map(|spec| s.start(spec, raw)).collect();
    for server in &running {
        let warm = Workload {
            idle: 0,
            connections: 256,
            ..workloads[0].clone()
        };
        if let Err(e) = measure(
            server,
            &warm,
            s.duration.max(Duration::from_millis(500)),
            s.threads,
        ) {
            eprintln!("warm-up of {} failed: {e}", server.name);
        }
    }
    let mut entries: Vec<Entry> = Vec::new();
    for round in 1..=s.rounds {
        for workload in workloads {
            for server in &running {
                let sample = measure(server, workload, s.duration, s.threads)
                    .unwrap_or_else(|e| panic!("{} / {}: {e}", server.name, workload.name));
                eprintln!(
                    "round {round}: {:<24} {:<14} {:>12.0} req/s {:>8.3} CPU s/M req",
                    workload.name, server.name, sample.requests_per_sec, sample.cpu_s_per_million
                );
                entry(&mut entries, &server.name, workload.name)
                    .samples
                    .push(sample);
            }
        }
    }
    let memory = running
        .iter()
        .map(|r| Memory {
            server: r.name.clone(),
            peak_rss_bytes: r.memory().1,
            idle_bytes_per_connection: None,
        })
        .collect();
    running.into_iter().for_each(Running::stop);
    (entries, memory)
}

/// Each server on its own, fresh and warmed up: memory per idle keep-alive connection.
fn measure_idle_memory(specs: &[ServerSpec], s: &Settings, idle: usize) -> Vec<(String, f64)> {
    let warm = workloads::all(0).remove(0);
    let mut found = Vec::new();
    for spec in specs {
        let Some(server) = s.start(spec, false) else {
            continue;
        };
        let measured = measure(
            &server,
            &warm,
            s.duration.max(Duration::from_millis(500)),
            s.threads,
        )
        .and_then(|_| workloads::idle_memory(&server, idle));
        match measured {
            Ok(bytes) => {
                eprintln!(
                    "idle memory: {:<16} {bytes:.0} B per idle connection ({idle} connections)",
                    spec.name
                );
                found.push((spec.name.clone(), bytes));
            }
            Err(e) => eprintln!("idle memory of {} not measured: {e}", spec.name),
        }
        server.stop();
    }
    found
}

fn entry<'a>(entries: &'a mut Vec<Entry>, server: &str, workload: &str) -> &'a mut Entry {
    if let Some(i) = entries
        .iter()
        .position(|e| e.server == server && e.workload == workload)
    {
        return &mut entries[i];
    }
    entries.push(Entry {
        server: server.to_owned(),
        workload: workload.to_owned(),
        samples: Vec::new(),
    });
    entries.last_mut().expect("just pushed")
}

/// greeter on each compiled backend, then the shipped peers that can run here, then `--peer`s.
fn server_specs(args: &Args) -> Vec<ServerSpec> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let workers = cpu_count(&args.server_cpus).to_string();
    let mut specs = Vec::new();
    for (name, backend) in [("greeter io_uring", "uring"), ("greeter tokio", "tokio")] {
        let choice = if backend == "uring" {
            greeter::BackendChoice::Uring
        } else {
            greeter::BackendChoice::Tokio
        };
        if let Err(why) = greeter::resolve(choice, "--backend") {
            eprintln!("skipped: {name}: {why}");
            continue;
        }
        let http: Vec<String> = [
            env!("CARGO_BIN_EXE_greeter"),
            "--backend",
            backend,
            "--workers",
            &workers,
            "--listen",
            "127.0.0.1:{port}",
        ]
        .map(String::from)
        .to_vec();
        let raw = [http.clone(), vec!["--protocol".into(), "raw".into()]].concat();
        specs.push(ServerSpec {
            name: name.into(),
            http,
            raw: Some(raw),
            config: None,
        });
    }
    if on_path("python3") {
        let script = root
            .join("benches/peers/asyncio_server.py")
            .to_string_lossy()
            .into_owned();
        let http = vec![
            "python3".to_owned(),
            script,
            "--port".into(),
            "{port}".into(),
        ];
        let raw = [http.clone(), vec!["--raw".into()]].concat();
        specs.push(ServerSpec {
            name: "asyncio".into(),
            http,
            raw: Some(raw),
            config: None,
        });
    } else {
        eprintln!("skipped: asyncio peer: python3 is not on PATH");
    }
    if on_path("nginx") {
        let http = [
            "nginx",
            "-p",
            "{dir}",
            "-c",
            "{dir}/nginx.conf",
            "-e",
            "stderr",
        ]
        .map(String::from)
        .to_vec();
        specs.push(ServerSpec {
            name: "nginx".into(),
            http,
            raw: None,
            config: Some(root.join("benches/peers/nginx.conf")),
        });
    } else {
        eprintln!("skipped: nginx peer: nginx is not on PATH (apt-get install nginx)");
    }
    for (name, command) in &args.peers {
        let http = vec!["sh".to_owned(), "-c".into(), format!("exec {command}")];
        specs.push(ServerSpec {
            name: name.clone(),
            http,
            raw: None,
            config: None,
        });
    }
    specs.retain(|s| args.only.is_empty() || args.only.contains(&s.name));
    specs
}

/// Pins this process (and the load threads it will start) to `cpus`.
fn pin_self(cpus: &str) {
    let pid = std::process::id().to_string();
    let ok = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid])
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("warning: cannot pin the load generator to cores {cpus}");
    }
}

/// How many cores a taskset list such as `0`, `0-3` or `0,2` names.
fn cpu_count(list: &str) -> usize {
    let count: usize = list
        .split(',')
        .map(|part| match part.split_once('-') {
            Some((a, b)) => {
                b.trim()
                    .parse::<usize>()
                    .unwrap_or(0)
                    .saturating_sub(a.trim().parse().unwrap_or(0))
                    + 1
            }
            None => 1,
        })
        .sum();
    count.max(1)
}
