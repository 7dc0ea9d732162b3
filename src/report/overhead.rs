//! The relay-overhead section (`[report] baseline`): the added-latency table and chart, and the recorded-headers table.

use super::charts::{self, ChartData};
use super::model::{Better, Column, Format, Table};
use crate::metrics::{overhead::PERCENTILES, ResultsFile};
use plotters::{coord::Shift, prelude::*};

/// The relay-overhead table: one row per paired run (`relay/v − direct/v`), added latency per
/// percentile, then added TTFT when any pair streamed. `None` without `[report] baseline`.
pub fn table(results: &ResultsFile) -> Option<Table> {
    let o = results.relay_overhead.as_ref()?;
    if o.pairs.is_empty() {
        return None;
    }
    let mut columns = Vec::new();
    for (label, _) in PERCENTILES {
        columns.push(column(
            format!("+{label} ms"),
            format!("latency {label} of the relay run minus {label} of the baseline run"),
            o.pairs
                .iter()
                .map(|p| p.latency_ms.get(label).copied())
                .collect(),
        ));
    }
    if o.pairs.iter().any(|p| p.ttft_ms.is_some()) {
        for (label, _) in PERCENTILES {
            columns.push(column(
                format!("TTFT +{label} ms"),
                format!("time to first token {label} of the relay run minus that of the baseline run (streaming)"),
                o.pairs
                    .iter()
                    .map(|p| p.ttft_ms.as_ref().and_then(|t| t.get(label).copied()))
                    .collect(),
            ));
        }
    }
    Some(Table {
        rows: o
            .pairs
            .iter()
            .map(|p| format!("{} − {}", p.run, p.baseline_run))
            .collect(),
        columns,
    })
}

fn column(header: String, help: String, values: Vec<Option<f64>>) -> Column {
    Column {
        header,
        help,
        better: Better::Neither,
        format: Format::Millis,
        values,
        eligible: Vec::new(),
    }
}

/// Lines to print under the overhead table: the caveat and runs that had no partner.
pub fn notes(results: &ResultsFile) -> Vec<String> {
    let Some(o) = &results.relay_overhead else {
        return Vec::new();
    };
    let mut notes = vec![format!("Baseline `{}`. These are {}.", o.baseline, o.note)];
    if o.pairs.is_empty() {
        notes.push(format!(
            "No run of another target had a run of `{}` with the same variant to compare with.",
            o.baseline
        ));
    }
    for run in &o.unpaired {
        notes.push(format!(
            "{run}: no `{}` run of its variant, not compared.",
            o.baseline
        ));
    }
    notes
}

/// Recorded numeric headers: one row per run and header (`run · name`), count and percentiles
/// in ms. `None` when no run recorded a numeric value.
pub fn headers_table(results: &ResultsFile) -> Option<Table> {
    let mut rows = Vec::new();
    let mut summaries = Vec::new();
    for run in &results.runs {
        for (name, h) in &run.headers {
            if let Some(numeric) = &h.numeric {
                rows.push(format!("{} · {name}", run.name));
                summaries.push(numeric.summary.clone());
            }
        }
    }
    if rows.is_empty() {
        return None;
    }
    type Pick = fn(&crate::metrics::Summary) -> f64;
    let figures: [(&str, &str, Format, Pick); 5] = [
        (
            "count",
            "responses that carried a numeric value",
            Format::Count,
            |s| s.count as f64,
        ),
        ("p50", "median value (read as ms)", Format::Millis, |s| {
            s.p50
        }),
        ("p90", "90th percentile value", Format::Millis, |s| s.p90),
        ("p99", "99th percentile value", Format::Millis, |s| s.p99),
        ("max", "largest value", Format::Millis, |s| s.max),
    ];
    let columns = figures
        .iter()
        .map(|(header, help, format, pick)| Column {
            header: header.to_string(),
            help: help.to_string(),
            better: Better::Neither,
            format: *format,
            values: summaries.iter().map(|s| Some(pick(s))).collect(),
            eligible: Vec::new(),
        })
        .collect();
    Some(Table { rows, columns })
}

/// One line per run and text header: how many text values came and the last few.
pub fn header_texts(results: &ResultsFile) -> Vec<String> {
    let mut lines = Vec::new();
    for run in &results.runs {
        for (name, h) in &run.headers {
            if h.text_count > 0 {
                lines.push(format!(
                    "{} · {name}: {} text value(s), last: {}",
                    run.name,
                    h.text_count,
                    h.last_text.join(", ")
                ));
            }
        }
    }
    lines
}

/// Whether the report has an overhead chart to draw (a pair whose runs have histograms).
pub fn has_chart(results: &ResultsFile) -> bool {
    results
        .relay_overhead
        .as_ref()
        .is_some_and(|o| !o.pairs.is_empty())
}

/// One line of the overhead chart: its pair's index (colour), light (TTFT) or not, label, points.
type Line = (usize, bool, String, Vec<(f64, f64)>);

/// Added latency (solid) and added TTFT (light) by percentile, one colour per pair: the
/// relay run's percentile minus the baseline run's, read from both runs' full histograms.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &ChartData,
) -> Result<(), String> {
    let e = |err: DrawingAreaErrorKind<DB::ErrorType>| format!("drawing a chart: {err}");
    let results = data.results;
    let index = |name: &str| results.runs.iter().position(|r| r.name == name);
    let mut lines: Vec<Line> = Vec::new();
    let pairs = results.relay_overhead.iter().flat_map(|o| &o.pairs);
    for (n, pair) in pairs.enumerate() {
        let (Some(relay), Some(base)) = (index(&pair.run), index(&pair.baseline_run)) else {
            continue;
        };
        for (hist, light) in [("latency", false), ("ttft", true)] {
            let (Some(a), Some(b)) = (data.histogram(relay, hist), data.histogram(base, hist))
            else {
                continue;
            };
            let (pa, pb) = (
                charts::spectrum_points(a, 1000.0),
                charts::spectrum_points(b, 1000.0),
            );
            let points = pa
                .iter()
                .zip(&pb)
                .map(|((x, ya), (_, yb))| (*x, ya - yb))
                .collect();
            let what = if light { "TTFT" } else { "latency" };
            lines.push((
                n,
                light,
                format!("{} {what}", charts::short(&pair.run)),
                points,
            ));
        }
    }
    let max_x = lines
        .iter()
        .flat_map(|(.., p)| p.iter().map(|(x, _)| *x))
        .fold(1.0, f64::max);
    let ys = lines.iter().flat_map(|(.., p)| p.iter().map(|(_, y)| *y));
    let (lo, hi) = ys.fold((0f64, 1f64), |(lo, hi), y| (lo.min(y), hi.max(y)));
    let pad = (hi - lo) * 0.08;
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..max_x, (lo - pad)..(hi + pad))
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels((max_x.ceil() as usize + 1).min(8))
        .x_label_formatter(&|x| charts::percentile_label(*x))
        .y_label_formatter(&|y| format!("{y:.1}"))
        .x_desc("percentile")
        .y_desc("added by the relay (ms)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    chart
        .draw_series(LineSeries::new(
            [(0.0, 0.0), (max_x, 0.0)],
            BLACK.mix(0.4).stroke_width(1),
        ))
        .map_err(e)?;
    for (n, light, label, points) in lines {
        let color = charts::PALETTE[(n + 1) % charts::PALETTE.len()];
        let style = if light {
            color.mix(0.45).stroke_width(2)
        } else {
            color.stroke_width(2)
        };
        chart
            .draw_series(LineSeries::new(points, style))
            .map_err(e)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], style));
    }
    charts::legend(&mut chart)
}
