//! Render benchmark: every output (results.json, report.html with inline SVG, 7 PNGs, summary.md, 12 .hlog) for a 12-run report, and `compare` of two 12-run files (block bootstrap). Prints the times; the targets are under 1 s (not asserted).
//!
//! `cargo bench --bench report`

use relaybench::{
    gate::{compare, CompareOptions},
    report::{self, fixture},
};
use std::time::{Duration, Instant};

fn main() {
    // 12 runs of 20,000 requests each: realistic histogram sizes, 30 s of series per run.
    let results = fixture::many(12, 20_000);
    let dir = tempfile::tempdir().expect("temp dir");
    // One warm-up render (font registration, page cache), then the measured ones.
    report::write_all(&results, dir.path()).expect("render");
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            report::write_all(&results, dir.path()).expect("render");
            t.elapsed()
        })
        .collect();
    times.sort();
    let html = std::fs::metadata(dir.path().join("report.html")).map_or(0, |m| m.len());
    let median = times[times.len() / 2];
    println!(
        "report render, 12 runs: median {:.0} ms (min {:.0} ms, max {:.0} ms) over {} renders; report.html {} KiB; target < 1000 ms: {}",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        times.len(),
        html / 1024,
        if median < Duration::from_secs(1) { "met" } else { "NOT met" }
    );
    // The gate: 12 runs against 12, default metrics (p50, p90, p99 by block bootstrap, rates).
    let opts = CompareOptions::default();
    let t = Instant::now();
    let c = compare(&results, &results, &opts).expect("comparable");
    let took = t.elapsed();
    println!(
        "compare, 12 runs × {} metrics: {:.0} ms; target < 1000 ms: {}",
        opts.metrics.len(),
        took.as_secs_f64() * 1e3,
        if took < Duration::from_secs(1) {
            "met"
        } else {
            "NOT met"
        }
    );
    assert!(c.passed());
}
