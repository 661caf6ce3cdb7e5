//! SVG charts of the summaries: requests/s and server CPU per request, one panel per
//! workload with a bar per server, and memory per idle connection.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::Summary;
use crate::Memory;

type Error = Box<dyn std::error::Error>;
/// A panel: its caption and one `(server, value)` bar per server.
type Panel = (String, Vec<(String, f64)>);

pub fn draw(dir: &Path, summaries: &[Summary], memory: &[Memory]) -> Result<(), String> {
    let servers = unique(summaries.iter().map(|s| s.server.clone()));
    let panels_of = |value: fn(&Summary) -> f64| -> Vec<Panel> {
        unique(summaries.iter().map(|s| s.workload.clone()))
            .into_iter()
            .map(|w| {
                let bars = summaries
                    .iter()
                    .filter(|s| s.workload == w)
                    .map(|s| (s.server.clone(), value(s)))
                    .collect();
                (w, bars)
            })
            .collect()
    };
    let idle: Vec<(String, f64)> = memory
        .iter()
        .filter_map(|m| m.idle_bytes_per_connection.map(|b| (m.server.clone(), b)))
        .collect();
    let charts = [
        (
            "requests-per-second.svg",
            "Requests per second (higher is better)",
            panels_of(|s| s.requests_per_sec),
        ),
        (
            "cpu-per-request.svg",
            "Server CPU µs per request (lower is better)",
            panels_of(|s| s.cpu_us_per_request),
        ),
        (
            "memory-per-idle-connection.svg",
            "Server memory per idle keep-alive connection, bytes (lower is better)",
            vec![("".into(), idle)],
        ),
    ];
    for (file, title, panels) in charts {
        if panels.iter().any(|(_, bars)| !bars.is_empty()) {
            grid(&dir.join(file), title, &panels, &servers).map_err(|e| format!("{file}: {e}"))?;
        }
    }
    Ok(())
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

/// One horizontal bar per server, coloured the same in every panel.
fn bars(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    (caption, data): &Panel,
    servers: &[String],
) -> Result<(), Error> {
    let max = data.iter().map(|d| d.1).fold(0.0, f64::max).max(1e-9) * 1.25;
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 16))
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(130)
        .build_cartesian_2d(0.0..max, (0..data.len()).into_segmented())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(data.len())
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => data
                .get(data.len().wrapping_sub(i + 1))
                .map_or(String::new(), |d| d.0.clone()),
            _ => String::new(),
        })
        .x_labels(5)
        .x_label_formatter(&|v| short(*v))
        .draw()?;
    // First server on top: row i is drawn at segment len-1-i.
    let at = |i: usize| data.len() - 1 - i;
    chart.draw_series(data.iter().enumerate().map(|(i, (server, value))| {
        let color = Palette99::pick(servers.iter().position(|s| s == server).unwrap_or(0));
        let mut bar = Rectangle::new(
            [
                (0.0, SegmentValue::Exact(at(i))),
                (*value, SegmentValue::Exact(at(i) + 1)),
            ],
            color.filled(),
        );
        bar.set_margin(3, 3, 0, 0);
        bar
    }))?;
    chart.draw_series(data.iter().enumerate().map(|(i, (_, value))| {
        Text::new(
            format!(" {}", short(*value)),
            (*value, SegmentValue::CenterOf(at(i))),
            ("sans-serif", 13),
        )
    }))?;
    Ok(())
}

fn short(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.2}M", v / 1e6),
        v if v >= 1e4 => format!("{:.0}k", v / 1e3),
        v if v >= 100.0 => format!("{v:.0}"),
        v => format!("{v:.2}"),
    }
}
