//! The summary table printed at the end of a run: one row per run, the best value per column marked.

use crate::metrics::{ResultsFile, RunResult};
use std::fmt::Write;

/// The table as text.
pub fn summary_table(results: &ResultsFile) -> String {
    let headers = [
        "run", "requests", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors", "timeouts",
    ];
    let rows: Vec<Vec<String>> = results.runs.iter().map(row).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, cells: &[String]| {
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i == 0 {
                let _ = write!(out, "{cell:<w$}");
            } else {
                let _ = write!(out, "  {cell:>w$}");
            }
        }
        out.push('\n');
    };
    line(&mut out, &headers.map(String::from));
    line(
        &mut out,
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    );
    for r in &rows {
        line(&mut out, r);
    }
    if results.interrupted {
        out.push_str("(interrupted: partial results)\n");
    }
    out
}

fn row(run: &RunResult) -> Vec<String> {
    let lat = run.summary("latency").cloned().unwrap_or_default();
    vec![
        run.name.clone(),
        run.scheduled.to_string(),
        format!("{:.1}", run.rps),
        format!("{:.2}", lat.p50),
        format!("{:.2}", lat.p90),
        format!("{:.2}", lat.p99),
        format!("{:.2}", lat.max),
        format!("{:.2}%", run.error_rate() * 100.0),
        format!("{:.2}%", run.timeout_rate() * 100.0),
    ]
}
