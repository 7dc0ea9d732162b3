//! report.html, PNGs, summary.md and .hlog files rendered from a synthetic results file: what is in them and what is not.

use relaybench::report::{self, fixture};
use std::path::Path;

fn artifacts(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-artifacts")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn section<'a>(html: &'a str, start: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start} missing"));
    let rest = &html[from..];
    &rest[..rest.find("</table>").expect("table closes") + 8]
}

#[test]
fn writes_every_output_and_nothing_half_done() {
    let dir = artifacts("report-render");
    let w = report::write_all(&fixture::comparison(), &dir).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "itl-percentiles.png",
            "latency-over-time.png",
            "latency-percentiles.png",
            "mock_pool-10.hlog",
            "mock_pool-100.hlog",
            "mock_pool-20-plain.hlog",
            "mock_pool-50-flaky.hlog",
            "outcomes.png",
            "pool.png",
            "report.html",
            "results.json",
            "summary.md",
            "throughput-over-time.png",
            "ttft-percentiles.png",
        ],
        "no staging folder or .partial file may remain"
    );
    assert_eq!(w.pngs.len(), 7);
    for png in &w.pngs {
        let bytes = std::fs::read(png).unwrap();
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", png.display());
        assert!(bytes.len() > 10_000, "{} looks empty", png.display());
    }
}

#[test]
fn html_is_self_contained_with_every_section() {
    let dir = artifacts("report-sections");
    let w = report::write_all(&fixture::comparison(), &dir).unwrap();
    let html = std::fs::read_to_string(&w.html).unwrap();
    assert_eq!(html.matches("<svg").count(), 7, "one inline SVG per chart");
    for id in [
        "verdict",
        "comparison",
        "breakdown",
        "pool",
        "settings",
        "upstream",
    ] {
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "section {id} missing"
        );
    }
    // Nothing the browser would fetch: no scripts, stylesheets, images, fonts or imports.
    let lower = html.to_lowercase();
    for bad in [
        "<script",
        "<link",
        "<img",
        "@import",
        "url(",
        "src=",
        "@font-face",
    ] {
        assert!(!lower.contains(bad), "report.html contains {bad}");
    }
    // The only absolute URL is the SVG namespace, which browsers never fetch.
    assert_eq!(
        lower.matches("http:").count() + lower.matches("https:").count(),
        lower.matches("http://www.w3.org/2000/svg").count()
    );
    let comparison = section(&html, "<table id=\"comparison\"");
    assert_eq!(comparison.matches("<tr class=\"run\">").count(), 4);
    for header in [
        "req/s",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "timeouts %",
        "errors %",
        "retries/req",
        "conns opened",
        "pool wait p99 ms",
        "TTFT p50 ms",
        "ITL p99 ms",
        "tokens/s p50",
        "$ / 1k req",
    ] {
        assert!(
            comparison.contains(&format!(">{header}</th>")),
            "column {header}"
        );
    }
    // The non-streaming, unpriced, closed-model run shows – for TTFT, ITL, tokens/s and cost,
    // and for the open model's dropped and late columns.
    let plain_row = comparison
        .split("<tr class=\"run\">")
        .find(|r| r.contains("mock/pool-20-plain"))
        .unwrap();
    assert_eq!(plain_row.matches("<td>–</td>").count(), 7, "{plain_row}");
    // Best p99 is the healthy pool: its row has the most highlighted cells.
    let best_row = comparison
        .split("<tr class=\"run\">")
        .max_by_key(|r| r.matches("class=\"best\"").count())
        .unwrap();
    assert!(best_row.contains("mock/pool-100"), "{best_row}");
    let breakdown = section(&html, "<table id=\"breakdown\"");
    assert!(breakdown.contains(">timeout_pool %</th>") && breakdown.contains(">status_503 %</th>"));
    assert!(html.contains("Best by p99 latency: <strong>mock/pool-100</strong>"));
}

#[test]
fn breaker_open_periods_are_shaded() {
    let with = fixture::comparison();
    let mut without = with.clone();
    for run in &mut without.runs {
        run.breaker_events.clear();
    }
    let rects = |r: &relaybench::metrics::ResultsFile| {
        let data = report::charts::ChartData::new(r).unwrap();
        report::charts::svg(report::charts::Kind::LatencyOverTime, &data)
            .unwrap()
            .matches("<rect")
            .count()
    };
    assert_eq!(rects(&with), rects(&without) + 1, "one shaded open period");
}

#[test]
fn thresholds_drive_the_verdict() {
    use relaybench::metrics::ThresholdResult;
    let mut results = fixture::comparison();
    results.thresholds = vec![
        ThresholdResult {
            expression: "p99 < 500ms".into(),
            scope: "all".into(),
            observed: "13.2 s".into(),
            passed: false,
        },
        ThresholdResult {
            expression: "errors < 1%".into(),
            scope: "mock/pool-100".into(),
            observed: "0.00%".into(),
            passed: true,
        },
    ];
    let dir = artifacts("report-thresholds");
    let w = report::write_all(&results, &dir).unwrap();
    let html = std::fs::read_to_string(&w.html).unwrap();
    assert!(html.contains("class=\"verdict fail\""));
    assert!(html.contains("FAIL: 1 of 2 thresholds failed."));
    assert!(html.contains("<td>p99 &lt; 500ms</td>"));
    let md = std::fs::read_to_string(&w.summary).unwrap();
    assert!(md.contains("**FAIL: 1 of 2 thresholds failed.**"));
    assert!(md.contains("| p99 &lt; 500ms | all | 13.2 s | **FAIL** |"));
}

#[test]
fn summary_md_has_verdict_and_tables() {
    let dir = artifacts("report-md");
    let w = report::write_all(&fixture::comparison(), &dir).unwrap();
    let md = std::fs::read_to_string(&w.summary).unwrap();
    assert!(md.contains("## Verdict"));
    assert!(md.contains("Best by p99 latency: **mock/pool-100**"));
    let header = md
        .lines()
        .find(|l| l.starts_with("| run | requests | req/s |"))
        .expect("comparison header");
    let columns = header.matches('|').count() - 1;
    let rows: Vec<&str> = md.lines().filter(|l| l.starts_with("| mock/")).collect();
    assert_eq!(rows.len(), 12, "4 runs × 3 tables");
    assert_eq!(
        rows[0].matches('|').count() - 1,
        columns,
        "rows as wide as the header"
    );
    assert!(md.contains("timeout\\_pool %"));
}
