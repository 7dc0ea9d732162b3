//! Outputs rendered from a `ResultsFile`: results.json, report.html, PNG charts and the terminal table.

pub mod charts;
pub mod html;
pub mod json;
pub mod terminal;

use crate::metrics::ResultsFile;
use std::path::{Path, PathBuf};

/// The files one report consists of.
#[derive(Debug, Clone)]
pub struct Written {
    /// results.json
    pub results: PathBuf,
    /// report.html
    pub html: PathBuf,
    /// PNG charts.
    pub pngs: Vec<PathBuf>,
}

/// Writes every output for `results` into `dir` (created if needed).
pub fn write_all(results: &ResultsFile, dir: &Path) -> Result<Written, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("{}: cannot create the output folder: {e}", dir.display()))?;
    let results_path = dir.join("results.json");
    json::write(results, &results_path).map_err(|e| format!("{}: {e}", results_path.display()))?;
    let svg = charts::spectrum_svg(results)?;
    let html_path = dir.join("report.html");
    write_atomic(&html_path, html::render(results, &svg).as_bytes())
        .map_err(|e| format!("{}: {e}", html_path.display()))?;
    let png = dir.join("latency-percentiles.png");
    charts::spectrum_png(results, &png)?;
    Ok(Written {
        results: results_path,
        html: html_path,
        pngs: vec![png],
    })
}

/// Writes a file through a temporary name and a rename, so no reader ever sees it half-written.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!(
        "{}.partial",
        path.extension().and_then(|e| e.to_str()).unwrap_or("tmp")
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
