//! SVG charts of the summaries: requests/s and server CPU per request, one panel per
//! profile with a bar per server (coloured by I/O model, io_uring first, greeter first in
//! each) and the range over rounds as whiskers; memory per idle connection; and greeter
//! over its floors, with 1.00 marked.

use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::{RangedCoordf64, RangedCoordusize};
use plotters::prelude::*;

use super::{FloorRatio, ServerInfo, Summary};
use crate::Memory;

/// The chart of greeter's ratios to its floors.
pub const FLOOR_CHART: &str = "ratio-to-floor.svg";

type Error = Box<dyn std::error::Error>;
/// One bar: the server, its value, and the range over rounds if there is one.
type Bar = (String, f64, Option<(f64, f64)>);
/// A panel: its caption and a bar per server.
type Panel = (String, Vec<Bar>);
/// A summary's value and its range over rounds.
type Measured = (f64, Option<(f64, f64)>);

pub fn draw(
    dir: &Path,
    servers: &[ServerInfo],
    summaries: &[Summary],
    memory: &[Memory],
    ratios: &[FloorRatio],
) -> Result<(), String> {
    for (file, title, mut panels) in charts(summaries, memory, ratios) {
        for (_, bars) in &mut panels {
            let rank = |name: &str| {
                servers
                    .iter()
                    .position(|s| s.name == name)
                    .unwrap_or(usize::MAX)
            };
            bars.sort_by_key(|b| rank(&b.0));
        }
        if panels.iter().any(|(_, bars)| !bars.is_empty()) {
            let mark = (file == FLOOR_CHART).then_some(1.0);
            grid(&dir.join(file), title, &panels, servers, mark)
                .map_err(|e| format!("{file}: {e}"))?;
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
    let [rps, cpu, idle, floor] = TITLES;
    let rps_of = |s: &Summary| {
        let range = (s.requests_per_sec_min, s.requests_per_sec_max);
        (s.requests_per_sec, Some(range))
    };
    let cpu_of = |s: &Summary| {
        let range = (s.cpu_us_per_request_min, s.cpu_us_per_request_max);
        (s.cpu_us_per_request, Some(range))
    };
    [
        (rps.0, rps.1, per_profile(summaries, rps_of)),
        (cpu.0, cpu.1, per_profile(summaries, cpu_of)),
        (idle.0, idle.1, idle_panel(memory)),
        (floor.0, floor.1, floor_panels(ratios)),
    ]
}

/// A panel per profile, a bar per server: `value` of each summary.
fn per_profile(summaries: &[Summary], value: fn(&Summary) -> Measured) -> Vec<Panel> {
    panels(summaries.iter().map(|s| {
        let (v, range) = value(s);
        (s.workload.clone(), (s.server.clone(), v, range))
    }))
}

fn idle_panel(memory: &[Memory]) -> Vec<Panel> {
    let bar = |m: &Memory| Some((m.server.clone(), m.idle_bytes_per_connection?, None));
    let bars = memory.iter().filter_map(bar).collect();
    vec![("idle keep-alive connections".into(), bars)]
}

/// greeter over its floor per profile, the range over rounds as whiskers.
fn floor_panels(ratios: &[FloorRatio]) -> Vec<Panel> {
    panels(ratios.iter().map(|r| {
        let lo = r.per_round.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = r.per_round.iter().copied().fold(0.0, f64::max);
        let bar = (r.server.clone(), r.cpu_ratio, Some((lo, hi)));
        (r.workload.clone(), bar)
    }))
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

/// `(profile, bar)` rows as one panel per profile.
fn panels(rows: impl Iterator<Item = (String, Bar)>) -> Vec<Panel> {
    let mut panels: Vec<Panel> = Vec::new();
    for (workload, bar) in rows {
        match panels.iter_mut().find(|(w, _)| *w == workload) {
            Some((_, bars)) => bars.push(bar),
            None => panels.push((workload, vec![bar])),
        }
    }
    panels
}

/// Panels two to a row under one title, a legend of the I/O models under it.
fn grid(
    path: &Path,
    title: &str,
    panels: &[Panel],
    servers: &[ServerInfo],
    mark: Option<f64>,
) -> Result<(), Error> {
    let columns = panels.len().min(2);
    let rows = panels.len().div_ceil(columns);
    let most = panels.iter().map(|p| p.1.len()).max().unwrap_or(1) as u32;
    let panel_height = 70 + 24 * most;
    let root = SVGBackend::new(path, (1100, 70 + rows as u32 * panel_height)).into_drawing_area();
    root.fill(&WHITE)?;
    let root = root.titled(title, ("sans-serif", 22))?;
    let (legend, root) = root.split_vertically(22);
    for (i, (model, color)) in MODELS.iter().enumerate() {
        let x = 20 + 190 * i as i32;
        legend.draw(&Rectangle::new([(x, 4), (x + 14, 18)], color.filled()))?;
        legend.draw(&Text::new(
            format!("{model} (greeter darker)"),
            (x + 20, 4),
            ("sans-serif", 13),
        ))?;
    }
    for (area, panel) in root.split_evenly((rows, columns)).iter().zip(panels) {
        bars(area, panel, servers, mark)?;
    }
    root.present()?;
    Ok(())
}

/// Each I/O model's colour.
const MODELS: [(&str, RGBColor); 3] = [
    ("io_uring", RGBColor(52, 101, 164)),
    ("epoll", RGBColor(230, 140, 40)),
    ("other", RGBColor(140, 140, 140)),
];

/// A bar's colour: its server's I/O model, darker for greeter's own.
fn color_of(server: &str, servers: &[ServerInfo]) -> RGBColor {
    let model = servers
        .iter()
        .find(|s| s.name == server)
        .map_or("other", |s| s.model);
    let RGBColor(r, g, b) = MODELS
        .iter()
        .find(|m| m.0 == model)
        .map_or(MODELS[2].1, |m| m.1);
    match server.starts_with("greeter") {
        true => RGBColor(r / 2, g / 2, b / 2),
        false => RGBColor(r, g, b),
    }
}

type Chart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, SegmentedCoord<RangedCoordusize>>>;

/// One horizontal bar per server, its range over rounds as a whisker, `mark` (1.00 on a
/// ratio chart) as a vertical line.
fn bars(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    (caption, data): &Panel,
    servers: &[ServerInfo],
    mark: Option<f64>,
) -> Result<(), Error> {
    let mut chart = axes(area, caption, data)?;
    // First server on top: row i is drawn at segment len-1-i.
    let at = |i: usize| data.len() - 1 - i;
    chart.draw_series(data.iter().enumerate().map(|(i, (server, value, _))| {
        let corners = [
            (0.0, SegmentValue::Exact(at(i))),
            (*value, SegmentValue::Exact(at(i) + 1)),
        ];
        let mut bar = Rectangle::new(corners, color_of(server, servers).filled());
        bar.set_margin(3, 3, 0, 0);
        bar
    }))?;
    whiskers(&mut chart, data, mark)?;
    let text = |(i, (_, value, range)): (usize, &Bar)| {
        let end = range.map_or(*value, |r| r.1.max(*value));
        Text::new(
            format!(" {}", short(*value)),
            (end, SegmentValue::CenterOf(at(i))),
            ("sans-serif", 12),
        )
    };
    chart.draw_series(data.iter().enumerate().map(text))?;
    Ok(())
}

/// Each bar's range over rounds as a line across its end, and `mark` as a vertical line.
fn whiskers(chart: &mut Chart<'_, '_>, data: &[Bar], mark: Option<f64>) -> Result<(), Error> {
    let at = |i: usize| data.len() - 1 - i;
    for (i, (_, _, range)) in data.iter().enumerate() {
        if let Some((lo, hi)) = range {
            let y = SegmentValue::CenterOf(at(i));
            let line = PathElement::new([(*lo, y.clone()), (*hi, y)], BLACK.stroke_width(2));
            chart.draw_series(std::iter::once(line))?;
        }
    }
    if let Some(x) = mark {
        let line = [(x, SegmentValue::Exact(0)), (x, SegmentValue::Last)];
        chart.draw_series(std::iter::once(PathElement::new(line, RED.stroke_width(1))))?;
    }
    Ok(())
}

/// The panel's axes, with a server name beside each bar's row (one row per bar: the
/// segments run 0..=len-1).
fn axes<'a, 'b>(
    area: &'a DrawingArea<SVGBackend<'b>, Shift>,
    caption: &str,
    data: &[Bar],
) -> Result<Chart<'a, 'b>, Error> {
    let top = |b: &Bar| b.2.map_or(b.1, |r| r.1.max(b.1));
    let max = data.iter().map(top).fold(0.0, f64::max).max(1e-9) * 1.3;
    let rows = data.len().max(1);
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(150)
        .build_cartesian_2d(0.0..max, (0..rows - 1).into_segmented())?;
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
        .y_labels(rows)
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
