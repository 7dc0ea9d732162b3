//! `GET /_mock/metrics`: the server's counters and lateness histograms in the OpenMetrics text format, for Prometheus and the target-metrics scrape of relaybench.
//!
//! Written by hand rather than through a metrics crate: every figure already lives in `Stats`
//! (lock-free atomics on the hot path) and `Lateness`, and rendering the same snapshot that
//! `/_mock/stats` serves keeps the two endpoints equal by construction — a registry would
//! duplicate each counter. The format is small (OpenMetrics 1.0 text, counters, gauges and
//! one histogram family), and the tests parse it with an independent parser.

use crate::stats::{FaultKind, Route, StatsSnapshot};
use hdrhistogram::Histogram;
use std::fmt::Write;

/// The content type of the OpenMetrics text format.
pub(crate) const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the lateness buckets, in seconds (100 µs … 5 s).
const LATENESS_BOUNDS_S: [f64; 15] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// Renders `stats` and the lateness histograms (µs; first sends, later tokens) as one exposition.
pub(crate) fn render(
    stats: &StatsSnapshot,
    first: &Histogram<u64>,
    later: &Histogram<u64>,
) -> String {
    let mut out = String::with_capacity(4096);
    family(
        &mut out,
        "mock_requests",
        "counter",
        "Requests that reached a handler, by route.",
    );
    for route in Route::ALL {
        let n = stats
            .requests_by_route
            .get(route.name())
            .copied()
            .unwrap_or(0);
        sample(
            &mut out,
            "mock_requests_total",
            &[("route", route.name())],
            n,
        );
    }
    family(
        &mut out,
        "mock_responses",
        "counter",
        "Responses by status code (counted when the head is produced, before any body fault).",
    );
    for (status, n) in &stats.responses_by_status {
        sample(
            &mut out,
            "mock_responses_total",
            &[("status", &status.to_string())],
            *n,
        );
    }
    family(
        &mut out,
        "mock_faults_injected",
        "counter",
        "Faults injected, by kind.",
    );
    for kind in FaultKind::ALL {
        let n = stats.faults_injected.get(kind.name()).copied().unwrap_or(0);
        sample(
            &mut out,
            "mock_faults_injected_total",
            &[("kind", kind.name())],
            n,
        );
    }
    // Injected statuses (`error_<status>`): any of 400–599, so only those that happened.
    for (kind, n) in stats
        .faults_injected
        .iter()
        .filter(|(k, _)| k.starts_with("error_"))
    {
        sample(
            &mut out,
            "mock_faults_injected_total",
            &[("kind", kind)],
            *n,
        );
    }
    family(
        &mut out,
        "mock_connections_accepted",
        "counter",
        "TCP connections accepted.",
    );
    sample(
        &mut out,
        "mock_connections_accepted_total",
        &[],
        stats.connections_accepted,
    );
    family(
        &mut out,
        "mock_tokens_streamed",
        "counter",
        "Stream tokens handed to hyper for writing.",
    );
    sample(
        &mut out,
        "mock_tokens_streamed_total",
        &[],
        stats.tokens_streamed,
    );
    for (name, help, value) in [
        (
            "mock_connections_open",
            "TCP connections open now.",
            stats.connections_open,
        ),
        (
            "mock_connections_peak",
            "Most TCP connections open at once.",
            stats.connections_peak,
        ),
        (
            "mock_requests_in_flight",
            "Requests being handled now.",
            stats.requests_in_flight,
        ),
        (
            "mock_requests_in_flight_peak",
            "Most requests in flight at once.",
            stats.concurrent_requests_peak,
        ),
    ] {
        family(&mut out, name, "gauge", help);
        sample(&mut out, name, &[], value);
    }
    family(&mut out, "mock_lateness_seconds", "histogram", "How far behind its own schedule the mock handed timed sends to hyper: kind=first (whole replies, first stream tokens), kind=later (later stream tokens). 1 % resolution.");
    lateness(&mut out, "first", first);
    lateness(&mut out, "later", later);
    out.push_str("# EOF\n");
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(
        out,
        "# TYPE {name} {kind}\n# HELP {name} {}",
        escape_help(help)
    );
}

fn sample(out: &mut String, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
    out.push_str(name);
    if !labels.is_empty() {
        out.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{}\"", escape_label(v));
        }
        out.push('}');
    }
    let _ = writeln!(out, " {value}");
}

/// One kind's histogram: cumulative buckets, `+Inf`, count and sum (seconds).
fn lateness(out: &mut String, kind: &str, h: &Histogram<u64>) {
    for bound in LATENESS_BOUNDS_S {
        let us = (bound * 1e6) as u64;
        let n = h.count_between(0, us);
        let le = bound.to_string();
        sample(
            out,
            "mock_lateness_seconds_bucket",
            &[("kind", kind), ("le", &le)],
            n,
        );
    }
    sample(
        out,
        "mock_lateness_seconds_bucket",
        &[("kind", kind), ("le", "+Inf")],
        h.len(),
    );
    sample(
        out,
        "mock_lateness_seconds_count",
        &[("kind", kind)],
        h.len(),
    );
    let sum = h.mean() * h.len() as f64 / 1e6;
    sample(out, "mock_lateness_seconds_sum", &[("kind", kind)], sum);
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}
