//! The summary printed at the end of a run: a few columns of the comparison model (best value per column marked with `*`), then the verdict's notes on what limited each run.

use super::model;
use crate::metrics::ResultsFile;
use std::fmt::Write;

/// Columns of the comparison that fit a terminal (a column no run has a value for is left out,
/// so `dropped` and `late %` show for open models only).
const SHOWN: [&str; 14] = [
    "requests",
    "req/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "success %",
    "goodput/s",
    "goodput %",
    "errors %",
    "timeouts %",
    "unfinished %",
    "dropped",
    "late %",
];

/// The table as text.
pub fn summary_table(results: &ResultsFile) -> String {
    let mut out = String::new();
    for r in &results.search {
        let _ = writeln!(
            out,
            "{}: {}",
            r.target,
            crate::search::describe::sentence(r)
        );
        for note in &r.notes {
            let _ = writeln!(out, "  note: {note}");
        }
    }
    if !out.is_empty() {
        out.push('\n');
    }
    out + &table_and_notes(results)
}

/// `columns` of a table as aligned text, one row per run; `marks` puts `*` on each column's best.
fn text_table(runs: &[String], columns: &[&model::Column], marks: bool) -> String {
    let mut headers = vec!["run".to_string()];
    headers.extend(columns.iter().map(|c| c.header.clone()));
    let rows: Vec<Vec<String>> = runs
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let mut row = vec![name.clone()];
            row.extend(columns.iter().map(|c| {
                let mark = if marks && c.is_best(i) { "*" } else { "" };
                format!("{mark}{}", c.text(i))
            }));
            row
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
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
    line(&mut out, &headers);
    line(
        &mut out,
        &widths.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
    );
    for r in &rows {
        line(&mut out, r);
    }
    out
}

fn table_and_notes(results: &ResultsFile) -> String {
    let full = model::comparison(results);
    let columns: Vec<&model::Column> = SHOWN
        .iter()
        .filter_map(|h| full.columns.iter().find(|c| c.header == *h))
        .filter(|c| c.values.iter().any(Option::is_some))
        .collect();
    let mut out = text_table(&full.rows, &columns, true);
    if results.runs.len() > 1 {
        out.push_str("(* best in column)\n");
    }
    if results.interrupted {
        out.push_str("(interrupted: partial results)\n");
    }
    if let Some(overhead) = super::overhead::table(results) {
        let keep = [
            "+p50 ms",
            "+p90 ms",
            "+p99 ms",
            "+p99.9 ms",
            "TTFT +p50 ms",
            "TTFT +p99 ms",
        ];
        let columns: Vec<&model::Column> = overhead
            .columns
            .iter()
            .filter(|c| keep.contains(&c.header.as_str()))
            .collect();
        out.push_str(
            "\nrelay overhead (relay − baseline, ms; differences of percentiles, not percentiles of differences):\n",
        );
        out.push_str(&text_table(&overhead.rows, &columns, false));
    }
    if let Some(o) = results.relay_overhead.as_ref() {
        for run in &o.unpaired {
            let _ = writeln!(
                out,
                "({run}: no `{}` run of its variant to compare with)",
                o.baseline
            );
        }
    }
    if let Some(headers) = super::overhead::headers_table(results) {
        out.push_str("\nrecorded headers (numeric values, ms):\n");
        let columns: Vec<&model::Column> = headers.columns.iter().collect();
        out.push_str(&text_table(&headers.rows, &columns, false));
    }
    for line in super::overhead::header_texts(results) {
        let _ = writeln!(out, "{line}");
    }
    if let Some(audit) = model::usage_audit(results) {
        // Only the columns that carry the finding: medians and shares off.
        let keep = [
            "prompt diff p50 %",
            "completion audited",
            "completion diff p50 %",
            "completion diff p99 %",
            "completion off >5 %",
        ];
        let columns: Vec<&model::Column> = audit
            .columns
            .iter()
            .filter(|c| keep.contains(&c.header.as_str()))
            .collect();
        out.push_str("\nusage audit (reported vs counted tokens):\n");
        out.push_str(&text_table(&audit.rows, &columns, false));
    }
    // What limited each run (and any spend guard, ledger or internal error), as in the report.
    let notes = model::verdict(results).notes;
    if !notes.is_empty() {
        out.push('\n');
        for line in notes {
            let text: String = line
                .iter()
                .map(|span| match span {
                    model::Span::Plain(t) | model::Span::Strong(t) => t.as_str(),
                })
                .collect();
            let _ = writeln!(out, "- {text}");
        }
    }
    out
}
