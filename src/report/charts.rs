//! Charts drawn with plotters, once for the HTML (SVG, inline) and once as PNG files, from the same code.
//!
//! Text uses the bundled DejaVu Sans (the `dejavu` crate) so PNGs render the same on a bare CI machine.

use crate::metrics::ResultsFile;
use plotters::{
    coord::Shift,
    prelude::*,
    style::{register_font, FontStyle},
};
use std::{path::Path, sync::Once};

const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// Chart size in pixels.
pub const SIZE: (u32, u32) = (900, 480);

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The bytes are a valid TTF shipped by the crate; failure would only mean no text.
        let _ = register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular());
        let _ = register_font("sans-serif", FontStyle::Bold, dejavu::sans::bold());
    });
}

/// One line of the percentile spectrum: (x = log10(1/(1-q)), latency ms).
fn spectrum(results: &ResultsFile) -> Vec<(String, Vec<(f64, f64)>)> {
    results
        .runs
        .iter()
        .filter_map(|run| {
            let h = run.histograms.get("latency")?.histogram().ok()?;
            let mut points = Vec::new();
            for i in 0..=120 {
                // Up to 99.9999%: 6 nines, 20 steps per decade.
                let x = i as f64 / 20.0;
                let q = 1.0 - 10f64.powf(-x);
                points.push((x, h.value_at_quantile(q) as f64 / 1000.0));
            }
            let max_x = (1.0 / (1.0 - (h.len() as f64 - 1.0) / h.len() as f64))
                .log10()
                .max(1.0);
            points.retain(|(x, _)| *x <= max_x + 0.05);
            Some((run.name.clone(), points))
        })
        .collect()
}

fn draw_spectrum<DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    results: &ResultsFile,
) -> Result<(), String> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    area.fill(&WHITE).map_err(err)?;
    let lines = spectrum(results);
    let max_x = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(x, _)| *x))
        .fold(1.0, f64::max);
    let max_y = lines
        .iter()
        .flat_map(|(_, p)| p.iter().map(|(_, y)| *y))
        .fold(1.0, f64::max)
        * 1.1;
    let mut chart = ChartBuilder::on(&area)
        .caption(
            "Latency by percentile (from intended start)",
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..max_x, 0f64..max_y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_labels((max_x.ceil() as usize + 1).min(8))
        .x_label_formatter(&|x| percentile_label(*x))
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    for (i, (name, points)) in lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 13))
        .draw()
        .map_err(err)?;
    area.present().map_err(err)
}

fn percentile_label(x: f64) -> String {
    let q = (1.0 - 10f64.powf(-x)) * 100.0;
    let digits = (x.round() as usize).saturating_sub(2);
    format!("{q:.digits$}%")
}

/// The latency percentile spectrum as an SVG document (for inlining in HTML).
pub fn spectrum_svg(results: &ResultsFile) -> Result<String, String> {
    fonts();
    let mut svg = String::new();
    draw_spectrum(
        SVGBackend::with_string(&mut svg, SIZE).into_drawing_area(),
        results,
    )?;
    Ok(svg)
}

/// The latency percentile spectrum as a PNG file.
pub fn spectrum_png(results: &ResultsFile, path: &Path) -> Result<(), String> {
    fonts();
    // The image encoder picks the format from the extension, so the temporary name keeps `.png`.
    let tmp = path.with_extension("partial.png");
    draw_spectrum(BitMapBackend::new(&tmp, SIZE).into_drawing_area(), results)?;
    std::fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}
