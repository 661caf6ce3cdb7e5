//! Results: medians and spreads per server and workload, written as `results.json`,
//! `results.md` (also printed) and SVG charts, with the machine they were measured on.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::servers::ServerSpec;
use crate::wrk::WrkCheck;
use crate::{Entry, Memory, Settings};

mod charts;
mod tables;

/// Which servers ran, which could not, and each greeter backend's floor.
pub struct Servers<'a> {
    pub specs: &'a [ServerSpec],
    /// Peers that could not run here, and why.
    pub skipped: &'a [(String, String)],
    /// `(greeter backend, its floor)`.
    pub floors: &'a [(String, String)],
}

/// A server as the results describe it.
#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    pub name: String,
    pub model: &'static str,
    pub note: Option<String>,
}

/// One server under one workload, over its rounds.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub server: String,
    pub workload: String,
    pub rounds: usize,
    pub requests_per_sec: f64,
    pub requests_per_sec_min: f64,
    pub requests_per_sec_max: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    /// Server CPU seconds per million requests, which is also µs per request.
    pub cpu_us_per_request: f64,
    pub cpu_us_per_request_min: f64,
    pub cpu_us_per_request_max: f64,
    pub errors: u64,
}

#[derive(Debug, Clone, Serialize)]
struct Machine {
    cpu: String,
    cores: usize,
    kernel: String,
    rustc: String,
    date: String,
}

/// A greeter backend against its floor under one workload: the median over rounds of the
/// per-round ratio of server CPU per request (paired: both measured in the same round).
#[derive(Debug, Clone, Serialize)]
pub struct FloorRatio {
    pub server: String,
    pub floor: String,
    pub workload: String,
    pub cpu_ratio: f64,
    pub per_round: Vec<f64>,
}

#[derive(Serialize)]
struct Results<'a> {
    machine: Machine,
    server_cpus: &'a str,
    load_threads: usize,
    rounds: u32,
    duration_s: f64,
    servers: Vec<ServerInfo>,
    skipped: &'a [(String, String)],
    summaries: Vec<Summary>,
    floor_ratios: Vec<FloorRatio>,
    memory: &'a [Memory],
    wrk_cross_check: &'a [WrkCheck],
    samples: &'a [Entry],
}

pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn summarize(e: &Entry) -> Summary {
    let of = |f: &dyn Fn(&crate::workloads::Sample) -> f64| {
        median(&mut e.samples.iter().map(f).collect::<Vec<_>>())
    };
    let rps: Vec<f64> = e.samples.iter().map(|s| s.requests_per_sec).collect();
    let cpu: Vec<f64> = e.samples.iter().map(|s| s.cpu_s_per_million).collect();
    Summary {
        server: e.server.clone(),
        workload: e.workload.clone(),
        rounds: e.samples.len(),
        requests_per_sec: of(&|s| s.requests_per_sec),
        requests_per_sec_min: rps.iter().copied().fold(f64::INFINITY, f64::min),
        requests_per_sec_max: rps.iter().copied().fold(0.0, f64::max),
        p50_us: of(&|s| s.latency_us.p50 as f64),
        p99_us: of(&|s| s.latency_us.p99 as f64),
        p999_us: of(&|s| s.latency_us.p999 as f64),
        cpu_us_per_request: of(&|s| s.cpu_s_per_million),
        cpu_us_per_request_min: cpu.iter().copied().fold(f64::INFINITY, f64::min),
        cpu_us_per_request_max: cpu.iter().copied().fold(0.0, f64::max),
        errors: e.samples.iter().map(|s| s.errors).sum(),
    }
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned());
    // Counted from cpuinfo: this process is pinned, so its own parallelism says 1.
    let cores = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count()
        .max(1);
    let rustc = std::process::Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    Machine {
        cpu: cpu.unwrap_or_else(|| "unknown".into()),
        cores,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned(),
        rustc: rustc.unwrap_or_else(|_| "unknown".into()),
        date: humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string(),
    }
}

/// Each greeter backend against its floor, per workload both ran.
fn floor_ratios(entries: &[Entry], floors: &[(String, String)]) -> Vec<FloorRatio> {
    let mut ratios = Vec::new();
    for (server, floor) in floors {
        for e in entries.iter().filter(|e| &e.server == server) {
            let Some(f) = entries
                .iter()
                .find(|f| &f.server == floor && f.workload == e.workload)
            else {
                continue;
            };
            let per_round: Vec<f64> = e
                .samples
                .iter()
                .zip(&f.samples)
                .map(|(a, b)| a.cpu_s_per_million / b.cpu_s_per_million)
                .collect();
            ratios.push(FloorRatio {
                server: server.clone(),
                floor: floor.clone(),
                workload: e.workload.clone(),
                cpu_ratio: median(&mut per_round.clone()),
                per_round,
            });
        }
    }
    ratios
}

/// Writes every output into a new timestamped directory under `out`.
pub fn write(
    out: &Path,
    s: &Settings,
    entries: &[Entry],
    memory: &[Memory],
    wrk: &[WrkCheck],
    servers: &Servers<'_>,
) -> std::io::Result<PathBuf> {
    let machine = machine();
    let dir = out.join(machine.date.replace(':', "-"));
    std::fs::create_dir_all(&dir)?;
    let results = Results {
        machine,
        server_cpus: &s.server_cpus,
        load_threads: s.threads,
        rounds: s.rounds,
        duration_s: s.duration.as_secs_f64(),
        servers: infos(servers.specs, entries),
        skipped: servers.skipped,
        summaries: entries.iter().map(summarize).collect(),
        floor_ratios: floor_ratios(entries, servers.floors),
        memory,
        wrk_cross_check: wrk,
        samples: entries,
    };
    let json = serde_json::to_string_pretty(&results)? + "\n";
    std::fs::write(dir.join("results.json"), json)?;
    let markdown = markdown(&results);
    std::fs::write(dir.join("results.md"), &markdown)?;
    println!("{markdown}");
    let r = &results;
    charts::draw(&dir, &r.servers, &r.summaries, memory, &r.floor_ratios)
        .map_err(std::io::Error::other)?;
    Ok(dir)
}

/// The servers that were measured, as the results describe them, in their order.
fn infos(specs: &[ServerSpec], entries: &[Entry]) -> Vec<ServerInfo> {
    let measured = |spec: &&ServerSpec| entries.iter().any(|e| e.server == spec.name);
    let info = |spec: &ServerSpec| ServerInfo {
        name: spec.name.clone(),
        model: spec.model,
        note: spec.note.clone(),
    };
    specs.iter().filter(measured).map(info).collect()
}

fn markdown(r: &Results<'_>) -> String {
    let mut md = header(r);
    tables::servers(&mut md, &r.servers, r.skipped);
    tables::matrices(&mut md, &r.servers, &r.summaries);
    tables::versus_epoll(&mut md, &r.servers, &r.summaries);
    memory_table(&mut md, r);
    floor_table(&mut md, &r.floor_ratios);
    idle_latency_table(&mut md, &r.summaries);
    wrk_table(&mut md, r.wrk_cross_check);
    md
}

/// The title and how the figures were measured.
fn header(r: &Results<'_>) -> String {
    let m = &r.machine;
    format!(
        "# greeter comparison, {}\n\nMachine: {}, {} cores, Linux {}, {}. Servers pinned to cores `{}`; load from `greeter load` (its io_uring engine where available, {} thread(s)) on the other core(s). {} interleaved rounds of {:.1} s per measurement; medians, with the requests/s range over rounds. Server CPU is user + system time from `/proc/PID/stat` over the measurement, per request.\n",
        m.date,
        m.cpu,
        m.cores,
        m.kernel,
        m.rustc,
        r.server_cpus,
        r.load_threads,
        r.rounds,
        r.duration_s
    )
}

/// Each greeter backend over its floor, per workload (lower is better; 1.00 is the floor).
fn floor_table(md: &mut String, ratios: &[FloorRatio]) {
    if ratios.is_empty() {
        return;
    }
    md.push_str("\n## greeter / its floor: server CPU per request, median of per-round paired ratios\n\n| workload | greeter | floor | ratio | rounds |\n|---|---|---|---:|---|\n");
    for r in ratios {
        let rounds: Vec<String> = r.per_round.iter().map(|x| format!("{x:.2}")).collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.2} | {} |",
            r.workload,
            r.server,
            r.floor,
            r.cpu_ratio,
            rounds.join(" ")
        );
    }
}

/// The active clients' p99 latency without and with the idle connections held open.
fn idle_latency_table(md: &mut String, summaries: &[Summary]) {
    let idle: Vec<&Summary> = summaries
        .iter()
        .filter(|s| s.workload == "64 active + idle")
        .collect();
    if idle.is_empty() {
        return;
    }
    md.push_str("\n## 64 active connections: p99 latency without and with the idle ones\n\n| server | keep-alive 64 p99 | 64 active + idle p99 | server CPU µs/request without | with |\n|---|---:|---:|---:|---:|\n");
    for with in idle {
        let without = summaries
            .iter()
            .find(|s| s.server == with.server && s.workload == "keep-alive 64");
        if let Some(without) = without {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {:.2} | {:.2} |",
                with.server,
                us(without.p99_us),
                us(with.p99_us),
                without.cpu_us_per_request,
                with.cpu_us_per_request
            );
        }
    }
}

fn memory_table(md: &mut String, r: &Results<'_>) {
    md.push_str("\n## Memory\n\n| server | peak RSS | server memory per idle keep-alive connection |\n|---|---:|---:|\n");
    for m in r.memory {
        let idle = m
            .idle_bytes_per_connection
            .map_or("–".into(), |b| format!("{b:.0} B"));
        let _ = writeln!(
            md,
            "| {} | {:.1} MiB | {idle} |",
            m.server,
            m.peak_rss_bytes as f64 / 1048576.0
        );
    }
}

fn wrk_table(md: &mut String, wrk: &[WrkCheck]) {
    if wrk.is_empty() {
        return;
    }
    md.push_str("\n## Load generator cross-check (keep-alive 64, medians)\n\n| server | greeter load requests/s | wrk requests/s | server CPU µs/request under greeter load | under wrk |\n|---|---:|---:|---:|---:|\n");
    for c in wrk {
        let m = |v: &[f64]| median(&mut v.to_vec());
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.0} | {:.2} | {:.2} |",
            c.server,
            m(&c.greeter_load_rps),
            m(&c.wrk_rps),
            m(&c.greeter_load_cpu_s_per_million),
            m(&c.wrk_cpu_s_per_million)
        );
    }
}

pub(crate) fn us(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} ms", v / 1000.0)
    } else {
        format!("{v:.0} µs")
    }
}
