//! The target-metrics chart: the series scraped from each run's `metrics_url`, on the same time axis as the latency chart above it (counters as a rate per second, gauges as they are).

use crate::{metrics::ResultsFile, scrape::ScrapedSeries};
use plotters::{coord::Shift, prelude::*};

type Err = String;

fn e<E: std::error::Error + Send + Sync>(err: DrawingAreaErrorKind<E>) -> Err {
    format!("drawing the target-metrics chart: {err}")
}

/// Lines drawn at most; the rest are in results.json.
const MAX_LINES: usize = 12;

/// Whether any run has scraped series to draw.
pub fn any(results: &ResultsFile) -> bool {
    results.runs.iter().any(|r| {
        r.target_metrics
            .as_ref()
            .is_some_and(|m| m.series.iter().any(drawn))
    })
}

/// A counter's rate is taken over at least this many seconds: the last scrape, right after
/// the one before it, would otherwise give a rate over a few milliseconds.
const MIN_RATE_SPAN_S: f64 = 0.5;

/// The points of one line: a counter's rate since the previous point at least
/// [`MIN_RATE_SPAN_S`] earlier (at the later one; a reset — a drop — starts again without a
/// point), or a gauge's values.
pub fn line_points(s: &ScrapedSeries) -> Vec<(f64, f64)> {
    if !s.is_counter() {
        return s.points.iter().map(|[t, v]| (*t, *v)).collect();
    }
    let mut out = Vec::new();
    let Some(mut anchor) = s.points.first().copied() else {
        return out;
    };
    for &[t, v] in &s.points[1..] {
        let [t0, v0] = anchor;
        if v < v0 {
            anchor = [t, v];
        } else if t - t0 >= MIN_RATE_SPAN_S {
            out.push((t, (v - v0) / (t - t0)));
            anchor = [t, v];
        }
    }
    out
}

/// Series worth a line: a series that stayed 0 all run (an unused route) only crowds the legend.
fn drawn(s: &ScrapedSeries) -> bool {
    s.points.iter().any(|[_, v]| *v != 0.0)
}

/// A legend label: run, then the series as Prometheus writes it. Upstream text: plotters
/// escapes what it writes into the SVG, and `<`, `>` and `&` are replaced all the same, so
/// nothing in a label can act as markup whatever the backend does.
fn label(run: &str, s: &ScrapedSeries, runs: usize) -> String {
    let mut text = s.key();
    if s.is_counter() {
        text.push_str(" /s");
    }
    if runs > 1 {
        text = format!("{run}: {text}");
    }
    let clean: String = text
        .chars()
        .map(|c| if "<>&".contains(c) { '\u{b7}' } else { c })
        .collect();
    if clean.chars().count() > 70 {
        format!("{}…", clean.chars().take(69).collect::<String>())
    } else {
        clean
    }
}

/// Draws every run's series (up to [`MAX_LINES`]) from 0 to `x_end` seconds.
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    results: &ResultsFile,
    x_end: f64,
    palette: &[RGBColor],
) -> Result<(), Err> {
    let lines: Vec<(String, Vec<(f64, f64)>)> = results
        .runs
        .iter()
        .flat_map(|r| {
            let runs = results.runs.len();
            r.target_metrics
                .iter()
                .flat_map(|m| m.series.iter())
                .filter(|s| drawn(s))
                .map(move |s| (label(&r.name, s, runs), line_points(s)))
        })
        .take(MAX_LINES)
        .collect();
    let hi = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, v)| *v))
        .fold(1.0, f64::max)
        * 1.08;
    let mut chart = ChartBuilder::on(area)
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_end, 0f64..hi)
        .map_err(e)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the run started")
        .y_desc("target's value (counters: per second)")
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(e)?;
    for (i, (name, points)) in lines.into_iter().enumerate() {
        let color = palette[i % palette.len()];
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(e)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.88))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(name: &str, points: &[[f64; 2]]) -> ScrapedSeries {
        ScrapedSeries {
            name: name.into(),
            labels: Default::default(),
            points: points.to_vec(),
        }
    }

    #[test]
    fn counters_become_rates_and_gauges_stay() {
        let pts = [[0.0, 10.0], [1.0, 30.0], [2.0, 5.0], [3.0, 9.0], [3.1, 9.5]];
        assert_eq!(
            line_points(&series("relay_requests_total", &pts)),
            [(1.0, 20.0), (3.0, 4.0)],
            "the reset (30 → 5) gives no point; 0.1 s is too short for a rate"
        );
        assert_eq!(line_points(&series("relay_queue_depth", &pts)).len(), 5);
        assert!(!drawn(&series("unused_total", &[[0.0, 0.0], [1.0, 0.0]])));
        assert!(drawn(&series("queue", &[[0.0, 0.0], [1.0, 2.0]])));
    }

    #[test]
    fn labels_from_upstream_cannot_carry_markup() {
        let mut s = series("x_total", &[]);
        s.labels.insert("route".into(), "<script>&\"".into());
        let l = label("run", &s, 2);
        assert!(!l.contains('<') && !l.contains('&'), "{l}");
        assert!(l.starts_with("run: x_total{route=\""), "{l}");
    }
}
