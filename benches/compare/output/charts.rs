//! SVG charts of the summaries: requests/s and server CPU per request, one panel per
//! workload with a bar per server, and memory per idle connection.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::prelude::*;

use super::{FloorRatio, Summary};
use crate::Memory;

/// The chart of greeter's ratios to its floors.
pub const FLOOR_CHART: &str = "ratio-to-floor.svg";

type Error = Box<dyn std::error::Error>;
/// A panel: its caption and one `(server, value)` bar per server.
type Panel = (String, Vec<(String, f64)>);

pub fn draw(
    dir: &Path,
    summaries: &[Summary],
    memory: &[Memory],
    ratios: &[FloorRatio],
) -> Result<(), String> {
    let servers = unique(summaries.iter().map(|s| s.server.clone()));
    for (file, title, panels) in charts(summaries, memory, ratios) {
        if panels.iter().any(|(_, bars)| !bars.is_empty()) {
            grid(&dir.join(file), title, &panels, &servers).map_err(|e| format!("{file}: {e}"))?;
        }
    }
    Ok(())
}

/// Every chart: its file, title and panels.
fn charts(
    summaries: &[Summary],
    memory: &[Memory],
    ratios: &[FloorRatio],
) -> [(&'static str, &'static str, Vec<Panel>); 4] {
    let of = |value: fn(&Summary) -> f64| {
        panels(
            summaries
                .iter()
                .map(|s| (s.workload.clone(), s.server.clone(), value(s))),
        )
    };
    let idle = memory
        .iter()
        .filter_map(|m| m.idle_bytes_per_connection.map(|b| (m.server.clone(), b)))
        .collect();
    let floors = ratios
        .iter()
        .map(|r| (r.workload.clone(), r.server.clone(), r.cpu_ratio));
    let [rps, cpu, memory, floor] = TITLES;
    [
        (rps.0, rps.1, of(|s| s.requests_per_sec)),
        (cpu.0, cpu.1, of(|s| s.cpu_us_per_request)),
        (memory.0, memory.1, vec![("".into(), idle)]),
        (floor.0, floor.1, panels(floors)),
    ]
}

/// Each chart's file and title.
const TITLES: [(&str, &str); 4] = [
    (
        "requests-per-second.svg",
        "Requests per second (higher is better)",
    ),
    (
        "cpu-per-request.svg",
        "Server CPU µs per request (lower is better)",
    ),
    (
        "memory-per-idle-connection.svg",
        "Server memory per idle keep-alive connection, bytes (lower is better)",
    ),
    (
        FLOOR_CHART,
        "greeter's server CPU per request over its floor's (1.00 = the floor)",
    ),
];

/// `(workload, server, value)` rows as one panel per workload, a bar per server.
fn panels(rows: impl Iterator<Item = (String, String, f64)>) -> Vec<Panel> {
    let mut panels: Vec<Panel> = Vec::new();
    for (workload, server, value) in rows {
        match panels.iter_mut().find(|(w, _)| *w == workload) {
            Some((_, bars)) => bars.push((server, value)),
            None => panels.push((workload, vec![(server, value)])),
        }
    }
    panels
}

fn unique(names: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = Vec::new();
    names.for_each(|n| {
        if !seen.contains(&n) {
            seen.push(n)
        }
    });
    seen
}

/// Panels two to a row under one title.
fn grid(path: &Path, title: &str, panels: &[Panel], servers: &[String]) -> Result<(), Error> {
    let columns = panels.len().min(2);
    let rows = panels.len().div_ceil(columns);
    let panel_height = 70 + 30 * servers.len() as u32;
    let root = SVGBackend::new(path, (1100, 50 + rows as u32 * panel_height)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    for (area, panel) in root.split_evenly((rows, columns)).iter().zip(panels) {
        bars(area, panel, servers)?;
    }
    root.present()?;
    Ok(())
}

type Chart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, SegmentedCoord<RangedCoordusize>>>;

/// One horizontal bar per server, coloured the same in every panel.
fn bars(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    (caption, data): &Panel,
    servers: &[String],
) -> Result<(), Error> {
    let mut chart = axes(area, caption, data)?;
    // First server on top: row i is drawn at segment len-1-i.
    let at = |i: usize| data.len() - 1 - i;
    chart.draw_series(data.iter().enumerate().map(|(i, (server, value))| {
        let color = Palette99::pick(servers.iter().position(|s| s == server).unwrap_or(0));
        let corners = [
            (0.0, SegmentValue::Exact(at(i))),
            (*value, SegmentValue::Exact(at(i) + 1)),
        ];
        let mut bar = Rectangle::new(corners, color.filled());
        bar.set_margin(3, 3, 0, 0);
        bar
    }))?;
    let text = |(i, (_, value)): (usize, &(String, f64))| {
        let at = (*value, SegmentValue::CenterOf(at(i)));
        Text::new(format!(" {}", short(*value)), at, ("sans-serif", 13))
    };
    chart.draw_series(data.iter().enumerate().map(text))?;
    Ok(())
}

/// The panel's axes, with a server name beside each bar's row.
fn axes<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    caption: &str,
    data: &[(String, f64)],
) -> Result<Chart<'a, 'b>, Error> {
    let max = data.iter().map(|d| d.1).fold(0.0, f64::max).max(1e-9) * 1.25;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(130)
        .build_cartesian_2d(0.0..max, (0..data.len()).into_segmented())?;
    let label = |v: &SegmentValue<usize>| match v {
        SegmentValue::CenterOf(i) => {
            let row = data.get(data.len().wrapping_sub(i + 1));
            row.map_or(String::new(), |d| d.0.clone())
        }
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(data.len())
        .y_label_formatter(&label)
        .x_labels(5)
        .x_label_formatter(&|v| short(*v))
        .draw()?;
    Ok(chart)
}

fn short(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e4 => format!("{:.0}k", v / 1e3),
        v if v >= 100.0 => format!("{v:.0}"),
        v => format!("{v:.2}"),
    }
}
