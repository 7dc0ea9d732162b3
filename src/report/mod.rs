//! Outputs rendered from a `ResultsFile`: results.json, report.html, PNG charts, summary.md, one `.hlog` per run, and the terminal table.
//!
//! * [`model`]: the comparison tables every output shows (computed once).
//! * [`verdict`]: the verdict — thresholds, the best run, and what limited each run (computed causes).
//! * [`html`], [`markdown`], [`terminal`]: lay the model out.
//! * [`overhead`]: the relay's added latency against `[report] baseline`, recorded headers.
//! * [`charts`]: plotters charts, inline SVG for the HTML and PNG files; [`capacity`]: a search's chart.
//! * [`hlog`]: HdrHistogram interval logs.
//! * [`json`]: results.json reading (with located errors) and writing.
//! * `fixture`: synthetic results for tests and benchmarks (only with `cfg(test)` or the
//!   `fixtures` feature, which the crate's own tests and benches turn on).

pub mod capacity;
pub mod charts;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixture;
pub mod hlog;
pub mod html;
pub mod json;
pub mod markdown;
pub mod model;
pub mod overhead;
pub mod target_metrics;
pub mod terminal;
pub mod verdict;

use crate::metrics::ResultsFile;
use std::path::{Path, PathBuf};

/// Why a report could not be written. Nothing in the output folder changes when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A file or folder could not be created or moved into place.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The results could not be rendered (e.g. a histogram that does not decode).
    #[error("cannot render the report: {0}")]
    Render(String),
}

/// The files one report consists of.
#[derive(Debug, Clone)]
pub struct Written {
    /// results.json
    pub results: PathBuf,
    /// report.html
    pub html: PathBuf,
    /// summary.md
    pub summary: PathBuf,
    /// PNG charts, one per chart in the HTML.
    pub pngs: Vec<PathBuf>,
    /// One HdrHistogram interval log per run.
    pub hlogs: Vec<PathBuf>,
}

/// Writes every output for `results` into `dir` (created if needed).
///
/// Everything is rendered into a staging folder inside `dir` first and moved into place only
/// when all of it succeeded, so a failure never leaves a half-written report. The outputs are
/// rendered from results.json *as written* (serialized, then parsed back), so a later
/// `relaybench report results.json` sees exactly the same numbers and renders the same tables.
pub fn write_all(results: &ResultsFile, dir: &Path) -> Result<Written, ReportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ReportError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let text = json::to_text(results);
    let results =
        json::parse(&text).map_err(|e| ReportError::Render(format!("results.json{e}")))?;
    let staging = dir.join(format!(".relaybench-partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    let staged = render_into(&results, &text, &staging);
    let names = match staged {
        Ok(names) => names,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(e);
        }
    };
    for name in &names {
        let target = dir.join(name);
        std::fs::rename(staging.join(name), &target).map_err(io(&target))?;
    }
    let _ = std::fs::remove_dir_all(&staging);
    let path = |n: &str| dir.join(n);
    Ok(Written {
        results: path("results.json"),
        html: path("report.html"),
        summary: path("summary.md"),
        pngs: names
            .iter()
            .filter(|n| n.ends_with(".png"))
            .map(|n| path(n))
            .collect(),
        hlogs: names
            .iter()
            .filter(|n| n.ends_with(".hlog"))
            .map(|n| path(n))
            .collect(),
    })
}

/// Renders every file into `staging`; returns their names, results.json first and report.html last.
fn render_into(
    results: &ResultsFile,
    json_text: &str,
    staging: &Path,
) -> Result<Vec<String>, ReportError> {
    let put = |name: &str, bytes: &[u8]| {
        let path = staging.join(name);
        std::fs::write(&path, bytes).map_err(|source| ReportError::Io { path, source })
    };
    let mut names = vec!["results.json".to_string()];
    put("results.json", json_text.as_bytes())?;
    let data = charts::ChartData::new(results).map_err(ReportError::Render)?;
    let mut blocks = Vec::new();
    for kind in charts::kinds(&data) {
        let svg = charts::svg(kind, &data).map_err(ReportError::Render)?;
        let png = format!("{}.png", kind.id());
        charts::png(kind, &data, &staging.join(&png)).map_err(ReportError::Render)?;
        names.push(png);
        blocks.push(html::ChartBlock { kind, svg });
    }
    let mut used = std::collections::BTreeSet::new();
    for run in &results.runs {
        let bytes = hlog::render(results, run).map_err(ReportError::Render)?;
        // Runs merged from several files may share a name: keep every log.
        let base = hlog::file_name(run);
        let mut name = base.clone();
        let mut n = 2;
        while !used.insert(name.clone()) {
            name = base.replace(".hlog", &format!("-{n}.hlog"));
            n += 1;
        }
        put(&name, &bytes)?;
        names.push(name);
    }
    put("summary.md", markdown::render(results).as_bytes())?;
    names.push("summary.md".into());
    put("report.html", html::render(results, &blocks).as_bytes())?;
    names.push("report.html".into());
    Ok(names)
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
