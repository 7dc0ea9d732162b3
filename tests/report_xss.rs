//! Upstream text and user-chosen names never become markup: every dynamic string in report.html and summary.md is escaped.

use relaybench::{
    metrics::ThresholdResult,
    report::{self, fixture},
};

const SCRIPT: &str = "<script>alert(1)</script>";

#[test]
fn upstream_error_body_and_names_are_escaped() {
    let mut results = fixture::comparison();
    results.scenario.name = format!("scn {SCRIPT}");
    results.runs[0]
        .error_samples
        .insert("timeout_pool".into(), format!("{{\"error\":\"{SCRIPT}\"}}"));
    results.runs[2].name = "mock/<img src=x onerror=alert(2)>".into();
    results.runs[1].outcomes.insert("io_<b>reset</b>".into(), 1);
    results.runs[1].scheduled += 1;
    results.thresholds.push(ThresholdResult {
        expression: format!("p99 < 1s {SCRIPT}"),
        scope: "all\"><svg onload=alert(3)>".into(),
        observed: "x".into(),
        passed: false,
    });
    let tmp = tempfile::tempdir().unwrap();
    let w = report::write_all(&results, tmp.path()).unwrap();
    let html = std::fs::read_to_string(&w.html).unwrap();
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "raw <script> in report.html");
    assert!(!lower.contains("<img"), "raw <img> in report.html");
    assert!(!lower.contains("<b>reset"), "raw <b> from an outcome key");
    assert!(!lower.contains("<svg onload"), "attribute breakout");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the error body is shown, escaped"
    );
    assert!(html.contains("mock/&lt;img src=x onerror=alert(2)&gt;"));
    // Inline SVG legends carry run names too: plotters escapes them.
    let svgs: Vec<&str> = html.split("<svg").skip(1).collect();
    assert!(svgs.iter().any(|s| s.contains("&lt;img src=x")));
    let md = std::fs::read_to_string(&w.summary).unwrap();
    assert!(!md.to_lowercase().contains("<script") && !md.to_lowercase().contains("<img"));
    assert!(md.contains("&lt;script&gt;"));
}

#[test]
fn scraped_target_metrics_are_escaped() {
    use relaybench::scrape::{ScrapedSeries, TargetMetrics};
    let mut results = fixture::comparison();
    results.runs[0].target_metrics = Some(TargetMetrics {
        url: format!("http://relay:9090/m?{SCRIPT}"),
        scrapes: 3,
        failures: 1,
        last_error: Some(format!("status 500 {SCRIPT}")),
        series_dropped: 0,
        series: vec![ScrapedSeries {
            name: "relay_queue_depth".into(),
            labels: [(
                "pool".to_string(),
                format!("\"><img src=x onerror=alert(4)>{SCRIPT}"),
            )]
            .into(),
            points: vec![[0.0, 1.0], [1.0, 3.0], [2.0, 2.0]],
        }],
    });
    let tmp = tempfile::tempdir().unwrap();
    let w = report::write_all(&results, tmp.path()).unwrap();
    let html = std::fs::read_to_string(&w.html).unwrap();
    assert!(
        html.contains("id=\"chart-target-metrics\""),
        "the chart is drawn"
    );
    let lower = html.to_lowercase();
    assert!(!lower.contains("<script"), "raw <script> in report.html");
    assert!(!lower.contains("<img"), "raw <img> from a label value");
    assert!(
        html.contains("status 500 &lt;script&gt;"),
        "the error shown, escaped"
    );
}

#[test]
fn recorded_header_values_and_overhead_run_names_are_escaped() {
    use relaybench::metrics::{headers, overhead};
    let mut results = fixture::comparison();
    results.runs.truncate(2);
    results.runs[0].target = "direct".into();
    results.runs[1].variant = results.runs[0].variant.clone();
    results.runs[1].name = "relay/<img src=x onerror=alert(4)>".into();
    let mut ids = headers::HeaderTally::new(http::HeaderName::from_static("x-request-id"));
    ids.note(&http::HeaderValue::from_str(SCRIPT).unwrap());
    results.runs[1].headers = headers::stored(&[ids]);
    results.relay_overhead = Some(overhead::compute("direct", &results.runs));
    let tmp = tempfile::tempdir().unwrap();
    let w = report::write_all(&results, tmp.path()).unwrap();
    let html = std::fs::read_to_string(&w.html).unwrap();
    let lower = html.to_lowercase();
    assert!(
        !lower.contains("<script") && !lower.contains("<img"),
        "raw markup in report.html"
    );
    assert!(html.contains("id=\"relay-overhead-table\""));
    assert!(html.contains("x-request-id: 1 text value(s), last: &lt;script&gt;"));
    let md = std::fs::read_to_string(&w.summary).unwrap();
    assert!(!md.to_lowercase().contains("<script") && !md.to_lowercase().contains("<img"));
}
