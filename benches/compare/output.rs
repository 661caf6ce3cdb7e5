//! Results: medians and spreads per server and workload, written as `results.json`,
//! `results.md` (also printed) and SVG charts, with the machine they were measured on.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::wrk::WrkCheck;
use crate::{Entry, Memory, Settings};

mod charts;

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

#[derive(Serialize)]
struct Results<'a> {
    machine: Machine,
    server_cpus: &'a str,
    load_threads: usize,
    rounds: u32,
    duration_s: f64,
    summaries: Vec<Summary>,
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

/// Writes every output into a new timestamped directory under `out`.
pub fn write(
    out: &Path,
    s: &Settings,
    entries: &[Entry],
    memory: &[Memory],
    wrk: &[WrkCheck],
) -> std::io::Result<PathBuf> {
    let machine = machine();
    let dir = out.join(machine.date.replace(':', "-"));
    std::fs::create_dir_all(&dir)?;
    let summaries: Vec<Summary> = entries.iter().map(summarize).collect();
    let results = Results {
        machine,
        server_cpus: &s.server_cpus,
        load_threads: s.threads,
        rounds: s.rounds,
        duration_s: s.duration.as_secs_f64(),
        summaries,
        memory,
        wrk_cross_check: wrk,
        samples: entries,
    };
    std::fs::write(
        dir.join("results.json"),
        serde_json::to_string_pretty(&results)? + "\n",
    )?;
    let markdown = markdown(&results);
    std::fs::write(dir.join("results.md"), &markdown)?;
    println!("{markdown}");
    charts::draw(&dir, &results.summaries, memory).map_err(std::io::Error::other)?;
    Ok(dir)
}

fn markdown(r: &Results<'_>) -> String {
    let m = &r.machine;
    let mut md = format!(
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
    );
    let mut workloads: Vec<&str> = r.summaries.iter().map(|s| s.workload.as_str()).collect();
    workloads.dedup();
    for w in &workloads {
        let _ = write!(
            md,
            "\n## {w}\n\n| server | requests/s | range | p50 | p99 | p99.9 | server CPU µs/request | errors |\n|---|---:|---:|---:|---:|---:|---:|---:|\n"
        );
        for s in r.summaries.iter().filter(|s| s.workload == *w) {
            let _ = writeln!(
                md,
                "| {} | {:.0} | {:.0}–{:.0} | {} | {} | {} | {:.2} | {} |",
                s.server,
                s.requests_per_sec,
                s.requests_per_sec_min,
                s.requests_per_sec_max,
                us(s.p50_us),
                us(s.p99_us),
                us(s.p999_us),
                s.cpu_us_per_request,
                s.errors
            );
        }
    }
    memory_table(&mut md, r);
    ratios(&mut md, &r.summaries);
    wrk_table(&mut md, r.wrk_cross_check);
    md
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

fn ratios(md: &mut String, summaries: &[Summary]) {
    md.push_str("\n## io_uring / epoll (greeter on each backend)\n\n| workload | requests/s ratio | CPU per request ratio |\n|---|---:|---:|\n");
    for u in summaries.iter().filter(|s| s.server == "greeter io_uring") {
        if let Some(t) = summaries
            .iter()
            .find(|t| t.server == "greeter tokio" && t.workload == u.workload)
        {
            let _ = writeln!(
                md,
                "| {} | {:.2} | {:.2} |",
                u.workload,
                u.requests_per_sec / t.requests_per_sec,
                u.cpu_us_per_request / t.cpu_us_per_request
            );
        }
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

fn us(v: f64) -> String {
    if v >= 1000.0 {
        format!("{:.2} ms", v / 1000.0)
    } else {
        format!("{v:.0} µs")
    }
}
