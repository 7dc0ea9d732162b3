//! The capacity chart of a search: the knob on x; from the top, the objective's latency figure, its error-like rate, and the goodput ratio; the limits as lines, each probe as a point (filled: passed, cross: failed), the answer marked.

use crate::{
    gate::threshold::{Check, Metric},
    metrics::{results::SearchResult, ResultsFile},
};
use plotters::{coord::Shift, prelude::*};

type Err = String;

fn e<E: std::error::Error + Send + Sync>(err: DrawingAreaErrorKind<E>) -> Err {
    format!("drawing the capacity chart: {err}")
}

/// Height of the chart.
pub const HEIGHT: u32 = 900;

/// One panel: which metric it plots and the objective's limits on it.
struct Panel {
    metric: Metric,
    /// y axis title.
    title: String,
    /// Multiplier from the metric's canonical unit to the axis unit (ms stay ms; fractions become %).
    scale: f64,
    /// Limits of the objective's checks on this metric, in axis units, with their text.
    limits: Vec<(f64, String)>,
    /// Goodput and success: passing probes sit high, failing ones low.
    higher_is_better: bool,
}

fn legend_position(goal_min: bool, higher_is_better: bool) -> SeriesLabelPosition {
    match (goal_min, higher_is_better) {
        (false, false) => SeriesLabelPosition::UpperLeft,
        (true, false) => SeriesLabelPosition::UpperRight,
        (false, true) => SeriesLabelPosition::LowerLeft,
        (true, true) => SeriesLabelPosition::LowerRight,
    }
}

fn panels(searches: &[SearchResult]) -> [Panel; 3] {
    let checks: Vec<Check> = searches
        .iter()
        .flat_map(|s| s.objective.iter().filter_map(|o| o.parse::<Check>().ok()))
        .collect();
    let panel = |metric: Metric, timing: bool| {
        let scale = if timing { 1.0 } else { 100.0 };
        let limits = checks
            .iter()
            .filter(|c| c.metric == metric)
            .map(|c| (c.value * scale, c.text.clone()))
            .collect();
        let title = if timing {
            format!("{} (ms)", metric.name())
        } else {
            format!("{} (%)", metric.name())
        };
        let higher_is_better = matches!(metric, Metric::GoodputRatio | Metric::SuccessRate);
        Panel {
            metric,
            title,
            scale,
            limits,
            higher_is_better,
        }
    };
    let known = |name: &str| name.parse::<Metric>().expect("a known metric");
    let timing = checks
        .iter()
        .map(|c| c.metric.clone())
        .find(|m| matches!(m, Metric::Timing { .. }))
        .unwrap_or_else(|| known("p99"));
    // The middle panel: the objective's failure-like rate (error rate unless it names another);
    // the bottom one is always goodput, what the search is for.
    let goodput = known("goodput_ratio");
    let rate = checks
        .iter()
        .map(|c| c.metric.clone())
        .find(|m| m.is_rate() && *m != goodput)
        .unwrap_or_else(|| known("error_rate"));
    [
        panel(timing, true),
        panel(rate, false),
        panel(goodput, false),
    ]
}

/// Draws the chart for every search in `results` (one colour per target).
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    results: &ResultsFile,
    palette: &[RGBColor],
) -> Result<(), Err> {
    let searches = &results.search;
    let values = searches
        .iter()
        .flat_map(|s| s.probes.iter().map(|p| p.value));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (lo, hi) = if lo.is_finite() {
        let pad = ((hi - lo) * 0.06).max(hi.abs() * 0.02).max(0.5);
        ((lo - pad).max(0.0), hi + pad)
    } else {
        (0.0, 1.0)
    };
    let knob = searches
        .first()
        .map(|s| match s.unit.as_str() {
            "" => s.knob.clone(),
            unit => format!("{} ({unit})", s.knob),
        })
        .unwrap_or_default();
    let thirds = area.split_evenly((3, 1));
    for (panel, third) in panels(searches).iter().zip(thirds.iter()) {
        draw_panel(third, results, panel, (lo, hi), &knob, palette)?;
    }
    Ok(())
}

fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    results: &ResultsFile,
    panel: &Panel,
    (lo, hi): (f64, f64),
    knob: &str,
    palette: &[RGBColor],
) -> Result<(), Err> {
    let point = |run_index: usize| {
        results
            .runs
            .get(run_index)
            .and_then(|r| panel.metric.observe(r))
            .map(|v| v * panel.scale)
    };
    let top = results
        .search
        .iter()
        .flat_map(|s| s.probes.iter().filter_map(|p| point(p.run_index)))
        .chain(panel.limits.iter().map(|(l, _)| *l))
        .fold(0f64, f64::max);
    let top = if top > 0.0 { top * 1.15 } else { 1.0 };
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(70)
        .build_cartesian_2d(lo..hi, 0f64..top)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc(knob)
        .y_desc(panel.title.as_str())
        .x_label_formatter(&|v| trim(*v))
        .y_label_formatter(&|v| trim(*v))
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    for (limit, text) in &panel.limits {
        chart
            .draw_series(LineSeries::new(
                [(lo, *limit), (hi, *limit)],
                RGBColor(198, 40, 40).stroke_width(2),
            ))
            .map_err(e)?
            .label(format!("limit: {text}"))
            .legend(|(x, y)| {
                PathElement::new(
                    vec![(x, y), (x + 18, y)],
                    RGBColor(198, 40, 40).stroke_width(2),
                )
            });
    }
    for (i, s) in results.search.iter().enumerate() {
        let color = palette[i % palette.len()];
        if let Some(found) = s.found {
            chart
                .draw_series(DashedLineSeries::new(
                    [(found, 0.0), (found, top)],
                    6,
                    4,
                    color.stroke_width(2),
                ))
                .map_err(e)?;
        }
        let passed = s
            .probes
            .iter()
            .filter(|p| p.passed)
            .filter_map(|p| point(p.run_index).map(|y| (p.value, y)));
        chart
            .draw_series(passed.map(|(x, y)| Circle::new((x, y), 5, color.filled())))
            .map_err(e)?
            .label(format!("{}: passed (dashed: answer)", s.target))
            .legend(move |(x, y)| Circle::new((x + 9, y), 5, color.filled()));
        let failed = s
            .probes
            .iter()
            .filter(|p| !p.passed)
            .filter_map(|p| point(p.run_index).map(|y| (p.value, y)));
        chart
            .draw_series(failed.map(|(x, y)| Cross::new((x, y), 6, color.stroke_width(2))))
            .map_err(e)?
            .label(format!("{}: failed", s.target))
            .legend(move |(x, y)| Cross::new((x + 9, y), 6, color.stroke_width(2)));
    }
    // Failing probes sit on the hard side, high (or low, for goodput), passing ones on the easy
    // side: the legend goes where neither is.
    let goal_min = results
        .search
        .first()
        .is_some_and(|s| s.goal == crate::scenario::search::Goal::Min);
    chart
        .configure_series_labels()
        .position(legend_position(goal_min, panel.higher_is_better))
        .background_style(WHITE.mix(0.88))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(e)
}

/// An axis number without trailing zeros (`40`, `2.5`).
fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}
