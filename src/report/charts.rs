//! Charts drawn with plotters, once for the HTML (SVG, inline) and once as PNG files, from the same drawing code.
//!
//! Text uses the bundled DejaVu Sans (the `dejavu` crate, registered for plotters' `ab_glyph`)
//! so PNGs render the same on a bare CI machine with no system fonts.

use super::model::breaker_open_periods;
use crate::metrics::{ResultsFile, RunResult};
use hdrhistogram::Histogram;
use plotters::{
    coord::{ranged1d::ValueFormatter, Shift},
    prelude::*,
    style::{register_font, FontStyle},
};
use std::{path::Path, sync::Once};

pub(super) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Width of every chart in pixels.
pub const WIDTH: u32 = 960;

/// Which chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Latency by percentile, all runs on one log-percentile axis.
    LatencySpectrum,
    /// `[report] baseline`: latency and TTFT each relay run adds, by percentile.
    RelayOverhead,
    /// p50 and p99 latency per second.
    LatencyOverTime,
    /// The target's own metrics (`metrics_url`), on the latency chart's time axis.
    TargetMetrics,
    /// Finished and ok requests per second.
    ThroughputOverTime,
    /// Share of each outcome, stacked per run.
    Outcomes,
    /// Pool counters per run.
    Pool,
    /// Time to first token by percentile.
    TtftSpectrum,
    /// Inter-token latency by percentile.
    ItlSpectrum,
    /// A search's probes: the knob on x, the objective's figures on y.
    Capacity,
}

impl Kind {
    /// File stem of the PNG and HTML anchor.
    pub fn id(self) -> &'static str {
        match self {
            Kind::LatencySpectrum => "latency-percentiles",
            Kind::RelayOverhead => "relay-overhead",
            Kind::LatencyOverTime => "latency-over-time",
            Kind::TargetMetrics => "target-metrics",
            Kind::ThroughputOverTime => "throughput-over-time",
            Kind::Outcomes => "outcomes",
            Kind::Pool => "pool",
            Kind::TtftSpectrum => "ttft-percentiles",
            Kind::ItlSpectrum => "itl-percentiles",
            Kind::Capacity => "capacity",
        }
    }

    /// Heading shown above the chart.
    pub fn title(self) -> &'static str {
        match self {
            Kind::LatencySpectrum => "Latency by percentile",
            Kind::RelayOverhead => "Added latency by percentile",
            Kind::LatencyOverTime => "Latency over time",
            Kind::TargetMetrics => "The target's own metrics",
            Kind::ThroughputOverTime => "Throughput over time",
            Kind::Outcomes => "How requests ended",
            Kind::Pool => "Connection pool",
            Kind::TtftSpectrum => "Time to first token by percentile",
            Kind::ItlSpectrum => "Inter-token latency by percentile",
            Kind::Capacity => "Capacity: every probe of the search",
        }
    }

    /// One sentence on how to read it.
    pub fn caption(self) -> &'static str {
        match self {
            Kind::LatencySpectrum => "Latency from each request's intended start, by percentile (log scale: each step right adds a nine). Lower is better; a line that shoots up on the right is a tail problem.",
            Kind::RelayOverhead => "What each relay run adds to the baseline run of its variant at every percentile: latency (solid) and time to first token (light). Differences of percentiles, not percentiles of per-request differences.",
            Kind::LatencyOverTime => "p99 (solid) and p50 (light) latency of the requests that finished in each second. Shaded bands: circuit breaker open.",
            Kind::TargetMetrics => "Series scraped once a second from the target's metrics_url, on the latency chart's time axis: counters as a rate per second, gauges as they are.",
            Kind::ThroughputOverTime => "Requests finished per second (solid) and of those ok (light). Shaded bands: circuit breaker open.",
            Kind::Outcomes => "Share of requests by how they ended. Anything but green is a failure the user saw.",
            Kind::Pool => "Connections opened, most open at once, most requests waiting for a slot, and failed dials. Many waiting with few open means the pool is the bottleneck.",
            Kind::TtftSpectrum => "Time to the first content token of streamed responses, by percentile.",
            Kind::ItlSpectrum => "Gap between consecutive tokens of streamed responses, by percentile.",
            Kind::Capacity => "Each probe at its knob value: filled dots met the objective, crosses did not; red lines are the objective's limits, the dashed line the answer.",
        }
    }
}

/// The charts a results file has data for, in report order.
pub fn kinds(data: &ChartData) -> Vec<Kind> {
    let mut k = Vec::new();
    if !data.results.search.is_empty() {
        k.push(Kind::Capacity);
    }
    k.push(Kind::LatencySpectrum);
    if super::overhead::has_chart(data.results) {
        k.push(Kind::RelayOverhead);
    }
    k.push(Kind::LatencyOverTime);
    if super::target_metrics::any(data.results) {
        k.push(Kind::TargetMetrics);
    }
    k.extend([Kind::ThroughputOverTime, Kind::Outcomes, Kind::Pool]);
    if data.any("ttft") {
        k.push(Kind::TtftSpectrum);
    }
    if data.any("itl") {
        k.push(Kind::ItlSpectrum);
    }
    k
}

/// Histograms decoded once for all charts.
pub struct ChartData<'a> {
    /// The results being drawn.
    pub results: &'a ResultsFile,
    /// Per run: decoded histograms by name (absent when not recorded).
    decoded: Vec<std::collections::BTreeMap<String, Histogram<u64>>>,
}

impl<'a> ChartData<'a> {
    /// Decodes every run's histograms; a histogram that does not decode is an error naming the run.
    pub fn new(results: &'a ResultsFile) -> Result<ChartData<'a>, String> {
        let mut decoded = Vec::new();
        for run in &results.runs {
            let mut map = std::collections::BTreeMap::new();
            for (name, stored) in &run.histograms {
                let h = stored
                    .histogram()
                    .map_err(|e| format!("run `{}`, histogram `{name}`: {e}", run.name))?;
                map.insert(name.clone(), h);
            }
            decoded.push(map);
        }
        Ok(ChartData { results, decoded })
    }

    /// Run `run`'s histogram `name`, when recorded and not empty.
    pub fn histogram(&self, run: usize, name: &str) -> Option<&Histogram<u64>> {
        self.decoded.get(run)?.get(name).filter(|h| !h.is_empty())
    }

    fn any(&self, name: &str) -> bool {
        self.decoded
            .iter()
            .any(|m| m.get(name).is_some_and(|h| !h.is_empty()))
    }
}

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TTF shipped by the crate; failure would only mean no text.
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Pixel size of a chart: bar charts grow with the number of runs.
pub fn size(kind: Kind, runs: usize) -> (u32, u32) {
    match kind {
        Kind::Outcomes | Kind::Pool => (WIDTH, 110 + 44 * runs.max(1) as u32),
        Kind::Capacity => (WIDTH, super::capacity::HEIGHT),
        _ => (WIDTH, 440),
    }
}

/// The chart as an SVG document (for inlining in HTML).
pub fn svg(kind: Kind, data: &ChartData) -> Result<String, String> {
    fonts();
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, size(kind, data.results.runs.len()))
            .into_drawing_area();
        draw(kind, area, data)?;
    }
    Ok(svg)
}

/// The chart as a PNG file at `path`.
pub fn png(kind: Kind, data: &ChartData, path: &Path) -> Result<(), String> {
    fonts();
    let area = BitMapBackend::new(path, size(kind, data.results.runs.len())).into_drawing_area();
    draw(kind, area, data)
}

type Err = String;

fn e<E: std::error::Error + Send + Sync>(err: DrawingAreaErrorKind<E>) -> Err {
    format!("drawing a chart: {err}")
}

fn draw<DB: DrawingBackend>(
    kind: Kind,
    area: DrawingArea<DB, Shift>,
    data: &ChartData,
) -> Result<(), Err> {
    area.fill(&WHITE).map_err(e)?;
    match kind {
        Kind::LatencySpectrum => {
            spectrum(&area, data, "latency", "latency (ms, log scale)", 1000.0)?
        }
        Kind::TtftSpectrum => spectrum(
            &area,
            data,
            "ttft",
            "time to first token (ms, log scale)",
            1000.0,
        )?,
        Kind::ItlSpectrum => spectrum(
            &area,
            data,
            "itl",
            "inter-token latency (ms, log scale)",
            1000.0,
        )?,
        Kind::RelayOverhead => super::overhead::draw(&area, data)?,
        Kind::LatencyOverTime => latency_over_time(&area, data.results)?,
        Kind::TargetMetrics => {
            super::target_metrics::draw(&area, data.results, time_extent(data.results), &PALETTE)?
        }
        Kind::ThroughputOverTime => throughput_over_time(&area, data.results)?,
        Kind::Outcomes => outcomes(&area, data.results)?,
        Kind::Pool => pool(&area, data.results)?,
        Kind::Capacity => super::capacity::draw(&area, data.results, &PALETTE)?,
    }
    area.present().map_err(e)
}

/// x = log10(1 / (1 - q)): 0 is the median's left, 1 is 90%, 2 is 99%, ...
pub(super) fn spectrum_points(h: &Histogram<u64>, divisor: f64) -> Vec<(f64, f64)> {
    // Stop where the data runs out: beyond 1/n the percentile is just the max.
    let max_x = ((h.len().max(2)) as f64).log10().max(1.0);
    (0..=120)
        .map(|i| i as f64 / 20.0)
        .filter(|x| *x <= max_x + 0.05)
        .map(|x| {
            let q = 1.0 - 10f64.powf(-x);
            (x, h.value_at_quantile(q) as f64 / divisor)
        })
        .collect()
}

pub(super) fn short(name: &str) -> String {
    if name.chars().count() > 28 {
        format!("{}…", name.chars().take(27).collect::<String>())
    } else {
        name.to_string()
    }
}

fn spectrum<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    data: &ChartData,
    name: &str,
    y_desc: &str,
    divisor: f64,
) -> Result<(), Err> {
    let lines: Vec<(usize, Vec<(f64, f64)>)> = data
        .decoded
        .iter()
        .enumerate()
        .filter_map(|(i, m)| {
            m.get(name)
                .filter(|h| !h.is_empty())
                .map(|h| (i, spectrum_points(h, divisor)))
        })
        .collect();
    let max_x = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(x, _)| *x))
        .fold(1.0, f64::max);
    let (lo, hi) = log_bounds(lines.iter().flat_map(|(_, p)| p.iter().map(|(_, y)| *y)));
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..max_x, (lo..hi).log_scale())
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_labels((max_x.ceil() as usize + 1).min(8))
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| axis_ms(*y))
        .x_desc("percentile")
        .y_desc(y_desc)
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    for (i, points) in &lines {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|(x, y)| (*x, y.max(lo))),
                color.stroke_width(2),
            ))
            .map_err(e)?
            .label(short(&data.results.runs[*i].name))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
    }
    legend(&mut chart)
}

/// Bounds of a log axis around the positive values (latencies spread over decades once something times out).
fn log_bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| *v > 0.0)
        .fold((f64::INFINITY, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if hi <= 0.0 {
        return (0.1, 10.0);
    }
    let lo = 10f64.powf((lo * 0.9).log10().floor());
    (lo, (hi * 1.3).max(lo * 10.0))
}

/// Milliseconds on an axis: no trailing `.0`, decimals only below 10.
fn axis_ms(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub(super) fn legend<'a, DB: DrawingBackend + 'a, X: Ranged, Y: Ranged>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<X, Y>>,
) -> Result<(), Err> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.88))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(e)
}

pub(super) fn percentile_label(x: f64) -> String {
    let q = (1.0 - 10f64.powf(-x)) * 100.0;
    let digits = (x.round() as usize).saturating_sub(2);
    format!("{q:.digits$}%")
}

/// What one over-time chart plots: a strong and a light line per run.
struct TimeLines {
    /// Y axis title.
    y_desc: &'static str,
    /// (strong, light) values of one point.
    value: fn(&crate::metrics::SeriesPoint) -> (f64, f64),
}

fn time_extent(results: &ResultsFile) -> f64 {
    results
        .runs
        .iter()
        .flat_map(|r| r.series.last().map(|p| p.end() as f64))
        .fold(1.0, f64::max)
}

fn latency_over_time<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    results: &ResultsFile,
) -> Result<(), Err> {
    let lines = TimeLines {
        y_desc: "latency (ms, log scale)",
        value: |p| (p.p99_ms, p.p50_ms),
    };
    let (lo, hi) = log_bounds(
        results
            .runs
            .iter()
            .flat_map(|r| r.series.iter().flat_map(|p| [p.p99_ms, p.p50_ms])),
    );
    let chart = ChartBuilder::on(area)
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..time_extent(results), (lo..hi).log_scale())
        .map_err(e)?;
    over_time(chart, results, &lines, lo, hi)
}

fn throughput_over_time<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    results: &ResultsFile,
) -> Result<(), Err> {
    let lines = TimeLines {
        y_desc: "requests / s",
        // A downsampled point holds `span` seconds: per second is its mean rate.
        value: |p| {
            let span = p.span.max(1) as f64;
            (p.completed as f64 / span, p.ok as f64 / span)
        },
    };
    let hi = results
        .runs
        .iter()
        .flat_map(|r| {
            r.series
                .iter()
                .map(|p| p.completed as f64 / p.span.max(1) as f64)
        })
        .fold(1.0, f64::max)
        * 1.08;
    let chart = ChartBuilder::on(area)
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..time_extent(results), 0f64..hi)
        .map_err(e)?;
    over_time(chart, results, &lines, 0.0, hi)
}

fn over_time<'a, DB, Y>(
    mut chart: ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>,
    results: &ResultsFile,
    lines: &TimeLines,
    lo: f64,
    hi: f64,
) -> Result<(), Err>
where
    DB: DrawingBackend + 'a,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc("seconds since the run started")
        .y_desc(lines.y_desc)
        .y_label_formatter(&|y| axis_ms(*y))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    let value = lines.value;
    for (i, run) in results.runs.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        let periods = breaker_open_periods(run);
        chart
            .draw_series(
                periods
                    .iter()
                    .map(|(a, b)| Rectangle::new([(*a, lo), (*b, hi)], color.mix(0.15).filled())),
            )
            .map_err(e)?;
        // A point sits at the middle of its span; empty spans are left out (0 has no place on a log axis).
        let points = |pick: fn((f64, f64)) -> f64| {
            run.series
                .iter()
                .filter(move |p| p.completed > 0)
                .map(move |p| {
                    (
                        p.t as f64 + p.span.max(1) as f64 / 2.0,
                        pick(value(p)).max(lo),
                    )
                })
        };
        chart
            .draw_series(LineSeries::new(
                points(|v| v.1),
                color.mix(0.45).stroke_width(1),
            ))
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new(points(|v| v.0), color.stroke_width(2)))
            .map_err(e)?
            .label(short(&run.name))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
    }
    legend(&mut chart)
}

/// A fixed colour per common outcome so the same failure looks the same in every report.
fn outcome_color(key: &str, index: usize) -> RGBColor {
    match key {
        "ok" => RGBColor(76, 175, 80),
        "timeout_pool" => RGBColor(255, 152, 0),
        "timeout_connect" => RGBColor(230, 81, 0),
        "timeout_read" => RGBColor(191, 54, 12),
        "timeout_write" => RGBColor(255, 193, 7),
        "timeout_deadline" => RGBColor(183, 28, 28),
        "circuit_open" => RGBColor(96, 125, 139),
        "budget_exhausted" => RGBColor(121, 85, 72),
        "cancelled" => RGBColor(189, 189, 189),
        "status_429" => RGBColor(156, 39, 176),
        k if k.starts_with("status_5") => RGBColor(211, 47, 47),
        k if k.starts_with("io_") => RGBColor(233, 30, 99),
        _ => PALETTE[index % PALETTE.len()],
    }
}

/// Bar chart row labels: row 0 is at the bottom, so the first run is the last label.
fn run_axis_labels(results: &ResultsFile) -> Vec<String> {
    results.runs.iter().rev().map(|r| short(&r.name)).collect()
}

fn outcomes<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    results: &ResultsFile,
) -> Result<(), Err> {
    let mut keys: Vec<&str> = results
        .runs
        .iter()
        .flat_map(|r| r.outcomes.keys().map(String::as_str))
        .collect();
    // ok first, then timeouts, then the rest, so the failures line up at the right.
    keys.sort_by_key(|k| (*k != "ok", !k.starts_with("timeout_"), *k));
    keys.dedup();
    let (plot, side) = area.split_horizontally(WIDTH - 200);
    let n = results.runs.len();
    let labels = run_axis_labels(results);
    let mut chart = ChartBuilder::on(&plot)
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(210)
        .build_cartesian_2d(0f64..100f64, (0..n).into_segmented())
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE.mix(0.0))
        .y_labels(n)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .x_desc("% of requests")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(e)?;
    let mut legend_rows = Vec::new();
    for (ki, key) in keys.iter().enumerate() {
        let color = outcome_color(key, ki);
        let mut bars = Vec::new();
        for (i, run) in results.runs.iter().enumerate() {
            if run.scheduled == 0 {
                continue;
            }
            let before: u64 = keys[..ki].iter().map(|k| run.count(k)).sum();
            let x0 = before as f64 * 100.0 / run.scheduled as f64;
            let x1 = (before + run.count(key)) as f64 * 100.0 / run.scheduled as f64;
            if x1 > x0 {
                let row = n - 1 - i;
                let mut r = Rectangle::new(
                    [
                        (x0, SegmentValue::Exact(row + 1)),
                        (x1, SegmentValue::Exact(row)),
                    ],
                    color.filled(),
                );
                r.set_margin(6, 6, 0, 0);
                bars.push(r);
            }
        }
        chart.draw_series(bars).map_err(e)?;
        legend_rows.push((key.to_string(), color));
    }
    side_legend(&side, &legend_rows)
}

/// A legend drawn beside the plot (bar charts have no free corner for one).
fn side_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &[(String, RGBColor)],
) -> Result<(), Err> {
    for (i, (label, color)) in rows.iter().enumerate() {
        let y = 20 + i as i32 * 22;
        area.draw(&Rectangle::new([(4, y), (18, y + 14)], color.filled()))
            .map_err(e)?;
        area.draw(&Text::new(short(label), (24, y), ("sans-serif", 14)))
            .map_err(e)?;
    }
    Ok(())
}

/// One bar of the pool chart: label, value of a run, colour.
type PoolBar = (&'static str, fn(&RunResult) -> u64, RGBColor);

fn pool<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    results: &ResultsFile,
) -> Result<(), Err> {
    let metrics: [PoolBar; 4] = [
        ("opened", |r| r.pool.opened, PALETTE[0]),
        ("peak open", |r| r.pool.peak_open, PALETTE[2]),
        ("peak waiting", |r| r.pool.peak_waiting, PALETTE[1]),
        ("connect failures", |r| r.pool.connect_failures, PALETTE[3]),
    ];
    let max_x = results
        .runs
        .iter()
        .flat_map(|r| metrics.iter().map(move |(_, f, _)| f(r)))
        .max()
        .unwrap_or(1)
        .max(1) as f64
        * 1.1;
    let (plot, side) = area.split_horizontally(WIDTH - 200);
    // Each run gets five rows: four bars and a gap; the run's name labels the middle one.
    const PER_RUN: usize = 5;
    let n = results.runs.len();
    let labels = run_axis_labels(results);
    let mut chart = ChartBuilder::on(&plot)
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(210)
        .build_cartesian_2d(0f64..max_x, (0..n * PER_RUN).into_segmented())
        .map_err(e)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE.mix(0.0))
        .y_labels(n * PER_RUN)
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(j) if j % PER_RUN == 2 => {
                labels.get(j / PER_RUN).cloned().unwrap_or_default()
            }
            _ => String::new(),
        })
        .x_desc("count")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(e)?;
    for (mi, (_, value, color)) in metrics.iter().enumerate() {
        let bars = results.runs.iter().enumerate().map(|(i, run)| {
            // Row 0 is at the bottom: the first run's block is the highest, its first metric on top.
            let j = (n - 1 - i) * PER_RUN + (PER_RUN - 1 - mi);
            let mut r = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(j)),
                    (value(run) as f64, SegmentValue::Exact(j + 1)),
                ],
                color.filled(),
            );
            r.set_margin(1, 1, 0, 0);
            r
        });
        chart.draw_series(bars).map_err(e)?;
    }
    let rows: Vec<(String, RGBColor)> = metrics
        .iter()
        .map(|(l, _, c)| (l.to_string(), *c))
        .collect();
    side_legend(&side, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_axis_labels() {
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(3.0), "99.9%");
    }

    #[test]
    fn streaming_charts_only_with_streaming_data() {
        let mut results = crate::report::fixture::comparison();
        assert_eq!(kinds(&ChartData::new(&results).unwrap()).len(), 7);
        results.runs.retain(|r| r.variant == "pool-20-plain");
        assert_eq!(kinds(&ChartData::new(&results).unwrap()).len(), 5);
    }
}
