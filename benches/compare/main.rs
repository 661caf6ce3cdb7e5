//! `cargo bench --bench compare`: greeter on each compiled backend against the floors
//! (minimal canned-answer servers on each I/O model) and peer servers, each in its own
//! process pinned to its own cores, every workload in interleaved rounds. Writes
//! `bench-results/<time>/results.json`, `results.md` and SVG charts.
//!
//! Options (after `--`): `--quick`, `--server-cpus 0`, `--load-cpus 1`, `--rounds 3`,
//! `--duration 5s`, `--idle 19000`, `--peer NAME='COMMAND {port}'`, `--only NAME,...`,
//! `--workloads NAME,...`, `--no-floors`, `--wrk` (cross-check the load generator against
//! wrk), `--out DIR`.

mod output;
mod peers;
mod servers;
mod specs;
mod workloads;
mod wrk;

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use serde::Serialize;

use servers::{Running, ServerSpec, clock_ticks};
use workloads::{Kind, Sample, Workload, measure};

#[derive(Debug, Parser)]
#[command(about = "Compare greeter with its floors and other servers, side by side")]
struct Args {
    /// A short run (CI): one round of 0.5 s per measurement, 1,000 idle connections, the
    /// Rust peers built without LTO. It shows everything still runs; its figures mean
    /// little.
    #[arg(long)]
    quick: bool,
    /// Cores the servers run on (taskset list).
    #[arg(long, default_value = "0")]
    server_cpus: String,
    /// Cores the load generator runs on.
    #[arg(long, default_value = "1")]
    load_cpus: String,
    /// Interleaved rounds [default: 3, or 1 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: Option<u32>,
    /// Length of one measurement [default: 5s, or 500ms with --quick].
    #[arg(long, value_parser = humantime::parse_duration)]
    duration: Option<Duration>,
    /// Idle connections for the idle workload and the memory figure [default: 19000,
    /// about the most a 20,000-descriptor limit allows, or 1000 with --quick].
    #[arg(long)]
    idle: Option<usize>,
    /// An extra HTTP server: NAME='COMMAND {port}' (run through `sh -c`).
    #[arg(long = "peer", value_parser = parse_peer)]
    peers: Vec<(String, String)>,
    /// Only these servers (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only these workloads (comma-separated names).
    #[arg(long, value_delimiter = ',')]
    workloads: Vec<String>,
    /// Leave out the floors (and their build).
    #[arg(long)]
    no_floors: bool,
    /// Leave out the peers (and their builds): greeter and the floors only.
    #[arg(long)]
    no_peers: bool,
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

pub struct Settings {
    duration: Duration,
    rounds: u32,
    threads: usize,
    server_cpus: String,
    scratch: PathBuf,
    ticks: f64,
    idle: usize,
}

impl Settings {
    fn from(args: &Args) -> Settings {
        let (duration, idle) = match args.quick {
            true => (Duration::from_millis(500), 1000),
            false => (Duration::from_secs(5), 19_000),
        };
        Settings {
            duration: args.duration.unwrap_or(duration),
            rounds: args.rounds.unwrap_or(if args.quick { 1 } else { 3 }),
            threads: cpu_count(&args.load_cpus),
            server_cpus: args.server_cpus.clone(),
            scratch: std::env::temp_dir().join(format!("greeter-compare-{}", std::process::id())),
            ticks: clock_ticks(),
            idle: args.idle.unwrap_or(idle),
        }
    }

    /// Starts `spec` on the server cores, or says why it is skipped.
    fn start(&self, spec: &ServerSpec, raw: bool) -> Option<Running> {
        spec.start(&self.server_cpus, raw, &self.scratch, self.ticks)
            .map_err(|e| eprintln!("skipped: {}: {e}", spec.name))
            .ok()
    }
}

fn main() {
    let args = Args::parse();
    servers::stop_servers_on_signal();
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    pin_self(&args.load_cpus);
    let s = Settings::from(&args);
    let (specs, skipped) = servers_chosen(&args);
    let mut all = workloads::all(s.idle);
    all.retain(|w| args.workloads.is_empty() || args.workloads.iter().any(|n| n == w.name));
    let (raw, http): (Vec<Workload>, Vec<Workload>) =
        all.into_iter().partition(|w| w.kind == Kind::Raw);
    let idle_memory = measure_idle_memory(&specs, &s);
    let (mut entries, mut memory) = phase(&specs, false, &http, &s);
    for m in &mut memory {
        m.idle_bytes_per_connection = idle_memory
            .iter()
            .find(|(n, _)| *n == m.server)
            .map(|(_, b)| *b);
    }
    entries.extend(phase(&specs, true, &raw, &s).0);
    let wrk = match args.wrk {
        true => wrk::cross_check(&specs, &s),
        false => Vec::new(),
    };
    let _ = std::fs::remove_dir_all(&s.scratch);
    report(&args, &s, &specs, &skipped, (&entries, &memory, &wrk));
}

/// The servers `args` asks for, and the peers that cannot run here (with why).
fn servers_chosen(args: &Args) -> (Vec<ServerSpec>, Vec<(String, String)>) {
    let choice = specs::Choice {
        workers: cpu_count(&args.server_cpus),
        floors: !args.no_floors,
        peers: !args.no_peers,
        quick: args.quick,
        extra: &args.peers,
    };
    let mut skipped = Vec::new();
    let mut specs = specs::all(&choice, &mut skipped);
    specs.retain(|spec| args.only.is_empty() || args.only.contains(&spec.name));
    (specs, skipped)
}

/// Writes the results, and says where.
fn report(
    args: &Args,
    s: &Settings,
    specs: &[ServerSpec],
    skipped: &[(String, String)],
    (entries, memory, wrk): (&[Entry], &[Memory], &[wrk::WrkCheck]),
) {
    let floors: Vec<(String, String)> = specs
        .iter()
        .filter_map(|x| Some((x.name.clone(), x.floor?.to_owned())))
        .collect();
    let servers = output::Servers {
        specs,
        skipped,
        floors: &floors,
    };
    match output::write(&args.out, s, entries, memory, wrk, &servers) {
        Ok(dir) => eprintln!("results in {}", dir.display()),
        Err(e) => eprintln!("cannot write results: {e}"),
    }
}

/// Starts every server that serves one of `workloads`, warms each up, and runs the
/// workloads in interleaved rounds (all servers once, then again).
fn phase(
    specs: &[ServerSpec],
    raw: bool,
    workloads: &[Workload],
    s: &Settings,
) -> (Vec<Entry>, Vec<Memory>) {
    let wanted = |spec: &&ServerSpec| workloads.iter().any(|w| spec.serves(w.kind));
    let running: Vec<(&ServerSpec, Running)> = specs
        .iter()
        .filter(wanted)
        .filter_map(|spec| Some((spec, s.start(spec, raw)?)))
        .collect();
    running
        .iter()
        .for_each(|(_, server)| warm_up(server, workloads, s));
    let mut entries: Vec<Entry> = Vec::new();
    for round in 1..=s.rounds {
        for workload in workloads {
            for (_, server) in running
                .iter()
                .filter(|(spec, _)| spec.serves(workload.kind))
            {
                let sample = measure(server, workload, s.duration, s.threads)
                    .unwrap_or_else(|e| panic!("{} / {}: {e}", server.name, workload.name));
                eprintln!(
                    "round {round}: {:<24} {:<16} {:>12.0} req/s {:>8.3} CPU s/M req",
                    workload.name, server.name, sample.requests_per_sec, sample.cpu_s_per_million
                );
                entry(&mut entries, &server.name, workload.name)
                    .samples
                    .push(sample);
            }
        }
    }
    let memory = running.iter().map(|(_, r)| memory_of(r)).collect();
    running.into_iter().for_each(|(_, r)| r.stop());
    (entries, memory)
}

fn memory_of(server: &Running) -> Memory {
    Memory {
        server: server.name.clone(),
        peak_rss_bytes: server.memory().1,
        idle_bytes_per_connection: None,
    }
}

/// A first run of the phase's first workload, unmeasured, with many connections.
fn warm_up(server: &Running, workloads: &[Workload], s: &Settings) {
    let Some(first) = workloads.first() else {
        return;
    };
    let warm = Workload {
        idle: 0,
        connections: 256,
        kind: if first.kind == Kind::Raw {
            Kind::Raw
        } else {
            Kind::Get
        },
        ..first.clone()
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

/// Each server on its own, fresh and warmed up: memory per idle keep-alive connection.
fn measure_idle_memory(specs: &[ServerSpec], s: &Settings) -> Vec<(String, f64)> {
    let warm = workloads::all(0).remove(0);
    let mut found = Vec::new();
    for spec in specs {
        let Some(server) = s.start(spec, false) else {
            continue;
        };
        let duration = s.duration.max(Duration::from_millis(500));
        let measured = measure(&server, &warm, duration, s.threads)
            .and_then(|_| workloads::idle_memory(&server, s.idle));
        match measured {
            Ok(bytes) => {
                eprintln!(
                    "idle memory: {:<16} {bytes:.0} B per idle connection ({} connections)",
                    spec.name, s.idle
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
    let range = |part: &str| match part.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (
                a.trim().parse().unwrap_or(0),
                b.trim().parse::<usize>().unwrap_or(0),
            );
            b.saturating_sub(a) + 1
        }
        None => 1,
    };
    list.split(',').map(range).sum::<usize>().max(1)
}
