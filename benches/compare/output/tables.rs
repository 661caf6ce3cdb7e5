//! The Markdown matrices: one per measure, a row per server (io_uring ones first, greeter
//! first in each group) and a column per profile; the servers and why any are missing;
//! and io_uring against epoll in ratios.

use std::fmt::Write as _;

use super::{ServerInfo, Summary, us};

/// Which servers ran, on what, and those that could not run here.
pub fn servers(md: &mut String, servers: &[ServerInfo], skipped: &[(String, String)]) {
    md.push_str("\n## Servers\n\n| server | I/O model | note |\n|---|---|---|\n");
    for s in servers {
        let note = s.note.as_deref().unwrap_or("");
        let _ = writeln!(md, "| {} | {} | {note} |", s.name, s.model);
    }
    for (name, why) in skipped {
        let _ = writeln!(md, "| {name} | – | **not run here**: {why} |");
    }
}

/// A measure: its title and how a summary shows in it.
struct Measure {
    title: &'static str,
    cell: fn(&Summary) -> String,
}

const MEASURES: [Measure; 3] = [
    Measure {
        title: "Requests per second (median; range over rounds below each)",
        cell: |s| {
            format!(
                "{}<br><sub>{}–{}</sub>",
                k(s.requests_per_sec),
                k(s.requests_per_sec_min),
                k(s.requests_per_sec_max)
            )
        },
    },
    Measure {
        title: "Server CPU µs per request (median; lower is better)",
        cell: |s| format!("{:.2}", s.cpu_us_per_request),
    },
    Measure {
        title: "p99 latency (median over rounds)",
        cell: |s| us(s.p99_us),
    },
];

/// One matrix per measure: server × profile.
pub fn matrices(md: &mut String, servers: &[ServerInfo], summaries: &[Summary]) {
    let profiles = profiles(summaries);
    for m in &MEASURES {
        let _ = write!(md, "\n## {}\n\n| server |", m.title);
        for p in &profiles {
            let _ = write!(md, " {p} |");
        }
        md.push_str("\n|---|");
        profiles.iter().for_each(|_| md.push_str("---:|"));
        md.push('\n');
        for server in servers {
            let _ = write!(md, "| {} |", server.name);
            for p in &profiles {
                let cell = find(summaries, &server.name, p).map_or("–".into(), m.cell);
                let _ = write!(md, " {cell} |");
            }
            md.push('\n');
        }
    }
}

/// greeter io_uring against greeter tokio, the epoll floor, and the best epoll peer (by
/// each measure), per profile: requests/s ratios (above 1: greeter io_uring does more)
/// and CPU per request ratios (below 1: it spends less).
pub fn versus_epoll(md: &mut String, servers: &[ServerInfo], summaries: &[Summary]) {
    md.push_str("\n## io_uring against epoll\n\ngreeter io_uring over each: requests/s (above 1.00, greeter io_uring serves more) and server CPU per request (below 1.00, it spends less). The best epoll peer is the one with the most requests/s, and separately the least CPU per request, in that profile.\n\n| profile | over greeter tokio: req/s | CPU | over floor epoll: req/s | CPU | best epoll peer by req/s | req/s | best epoll peer by CPU | CPU |\n|---|---:|---:|---:|---:|---|---:|---|---:|\n");
    let epoll_peers: Vec<&str> = servers
        .iter()
        .filter(|s| {
            s.model == "epoll" && !["greeter", "floor"].iter().any(|p| s.name.starts_with(p))
        })
        .map(|s| s.name.as_str())
        .collect();
    for p in profiles(summaries) {
        if let Some(g) = find(summaries, "greeter io_uring", p) {
            let row = versus_row(g, summaries, &epoll_peers);
            let _ = writeln!(md, "| {p} | {} |", row.join(" | "));
        }
    }
}

/// One profile's cells: over greeter tokio, over the epoll floor (req/s and CPU each),
/// then the fastest and the leanest epoll peer, each named, with the ratio.
fn versus_row(g: &Summary, summaries: &[Summary], peers: &[&str]) -> Vec<String> {
    let p = g.workload.as_str();
    let rps = |o: &Summary| format!("{:.2}", g.requests_per_sec / o.requests_per_sec);
    let cpu = |o: &Summary| format!("{:.2}", g.cpu_us_per_request / o.cpu_us_per_request);
    let mut cells = Vec::new();
    for other in ["greeter tokio", "floor epoll"] {
        let found = find(summaries, other, p);
        cells.push(found.map_or("–".into(), rps));
        cells.push(found.map_or("–".into(), cpu));
    }
    let peers: Vec<&Summary> = peers.iter().filter_map(|n| find(summaries, n, p)).collect();
    let fastest = peers
        .iter()
        .max_by(|a, b| a.requests_per_sec.total_cmp(&b.requests_per_sec));
    let leanest = peers
        .iter()
        .min_by(|a, b| a.cpu_us_per_request.total_cmp(&b.cpu_us_per_request));
    for (best, ratio) in [
        (fastest, &rps as &dyn Fn(&Summary) -> String),
        (leanest, &cpu),
    ] {
        cells.push(best.map_or("–".into(), |s| s.server.clone()));
        cells.push(best.map_or("–".into(), |s| ratio(s)));
    }
    cells
}

/// The profiles in the order they ran.
pub fn profiles(summaries: &[Summary]) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for s in summaries {
        if !seen.contains(&s.workload.as_str()) {
            seen.push(&s.workload);
        }
    }
    seen
}

fn find<'a>(summaries: &'a [Summary], server: &str, profile: &str) -> Option<&'a Summary> {
    summaries
        .iter()
        .find(|s| s.server == server && s.workload == profile)
}

/// Requests per second, short: `325k`, `1.21M`.
fn k(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e3 => format!("{:.0}k", v / 1e3),
        v => format!("{v:.0}"),
    }
}
