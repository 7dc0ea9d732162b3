//! `--trace FILE`: one JSON line per logical request — under a 30 % fault mix with retries the lines' outcomes equal results.json's, and their latencies reproduce the histogram's percentiles; a `.zst` trace decodes.

mod util;

use serde_json::Value;
use std::{collections::BTreeMap, io::Read, process::Output};
use util::{text, Session};

/// An open-model run against the embedded mock with a 30 % fault mix (statuses, resets,
/// truncated bodies, hangs) and fast retries; a warm-up whose lines are marked.
const FAULTY: &str = r#"
[[target]]
name = "m"
[target.mock]
seed = 42
latency = "5ms"
errors = { "429" = 0.05, "500" = 0.05, "502" = 0.04, "503" = 0.04, "504" = 0.04 }
[target.mock.faults]
reset = 0.03
truncate = 0.03
hang = 0.02
[workload]
model = "poisson"
rate = 200
warmup = "500ms"
duration = "2s"
grace = "5s"
[client.timeouts]
read = "300ms"
[client.retry]
max_retries = 2
respect_retry_after = false
multiplier = "1ms"
min_backoff = "1ms"
max_backoff = "5ms"
"#;

fn lines(bytes: &[u8]) -> Vec<Value> {
    std::str::from_utf8(bytes)
        .expect("trace is UTF-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect()
}

fn count_by_outcome<'a>(lines: impl Iterator<Item = &'a Value>) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for l in lines {
        *counts
            .entry(l["outcome"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    counts
}

fn as_counts(v: &Value) -> BTreeMap<String, u64> {
    v.as_object()
        .unwrap()
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect()
}

/// The value at percentile `p` as HDR histograms define it: the smallest value with at least
/// `p` % of the values at or below it.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank - 1]
}

/// Writes `scenario` and runs it with `--trace trace` into `out/`, quietly.
fn run_traced(s: &Session, scenario: &str, trace: &str) -> Output {
    let scenario = s.write("scenario.toml", scenario);
    s.relaybench(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        "out",
        "-q",
        "--trace",
        trace,
    ])
}

/// The run's results.json.
fn results(s: &Session) -> Value {
    serde_json::from_slice(&std::fs::read(s.path("out/results.json")).unwrap()).unwrap()
}

#[test]
fn a_faulty_run_has_one_line_per_outcome_and_its_latencies_reproduce_the_histogram() {
    let s = Session::new();
    let out = run_traced(&s, FAULTY, "trace.jsonl");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "the run completes: {}",
        text(&out)
    );
    let results = results(&s);
    let run = &results["runs"][0];
    let trace = lines(&std::fs::read(s.path("trace.jsonl")).unwrap());

    let measured: Vec<&Value> = trace.iter().filter(|l| l["warmup"] == false).collect();
    let outcomes = as_counts(&run["outcomes"]);
    assert!(
        outcomes.len() >= 4 && outcomes.get("ok").is_some_and(|n| *n > 100),
        "the fault mix shows: {outcomes:?}"
    );
    assert_eq!(
        count_by_outcome(measured.iter().copied()),
        outcomes,
        "one line per outcome, of the same kind"
    );
    assert_eq!(
        count_by_outcome(trace.iter().filter(|l| l["warmup"] == true)),
        as_counts(&run["warmup_outcomes"]),
        "warm-up requests have their lines too, marked"
    );
    assert_eq!(run["trace"]["dropped"], 0);
    assert_eq!(run["trace"]["lines"].as_u64(), Some(trace.len() as u64));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!("({} lines", trace.len())),
        "the terminal says how many lines: {}",
        text(&out)
    );

    // Retried requests list every attempt with its backoff; the last attempt has none.
    let retried = measured
        .iter()
        .find(|l| l["attempts"].as_array().unwrap().len() > 1)
        .expect("some request was retried");
    let attempts = retried["attempts"].as_array().unwrap();
    assert!(attempts[0]["backoff_ms"].as_f64().unwrap() >= 1.0);
    assert!(attempts.last().unwrap().get("backoff_ms").is_none());
    let ok = measured.iter().find(|l| l["outcome"] == "ok").unwrap();
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["run"], 0);
    assert_eq!(ok["target"], "m");
    assert!(ok["conn_id"].is_u64() && ok["reused"].is_boolean());
    let order = ["intended_ms", "send_ms", "first_byte_ms", "end_ms"].map(|k| ok[k].as_f64());
    assert!(
        order.windows(2).all(|w| w[0].unwrap() <= w[1].unwrap()),
        "intended ≤ send ≤ first byte ≤ end: {ok}"
    );

    // Latency of every timed request (cancelled ones are counted, not timed).
    let mut latencies: Vec<f64> = measured
        .iter()
        .filter(|l| l["outcome"] != "cancelled")
        .map(|l| l["latency_ms"].as_f64().unwrap())
        .collect();
    latencies.sort_by(f64::total_cmp);
    let summary = &run["histograms"]["latency"]["summary"];
    assert_eq!(summary["count"].as_u64(), Some(latencies.len() as u64));
    for (p, key) in [(50.0, "p50"), (99.0, "p99")] {
        let from_lines = percentile(&latencies, p);
        let from_histogram = summary[key].as_f64().unwrap();
        assert!(
            (from_lines - from_histogram).abs() <= from_histogram * 0.01 + 0.001,
            "{key}: lines {from_lines} ms, histogram {from_histogram} ms"
        );
    }
}

#[test]
fn a_zst_trace_decodes_to_the_same_lines() {
    let s = Session::new();
    let out = run_traced(
        &s,
        "[[target]]\nname = \"m\"\n[target.mock]\n[workload]\nusers = 2\nrequests = 50\n",
        "trace.jsonl.zst",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let mut decoded = Vec::new();
    zstd::Decoder::new(std::fs::File::open(s.path("trace.jsonl.zst")).unwrap())
        .unwrap()
        .read_to_end(&mut decoded)
        .unwrap();
    let trace = lines(&decoded);
    assert_eq!(trace.len(), 50);
    assert!(trace.iter().all(|l| l["outcome"] == "ok"));
    // Two users keep two pooled connections busy: the lines name them and say they were reused.
    let conns: std::collections::BTreeSet<u64> = trace
        .iter()
        .map(|l| l["conn_id"].as_u64().unwrap())
        .collect();
    assert!(conns.len() <= 2, "{conns:?}");
    let reused = trace.iter().filter(|l| l["reused"] == true).count();
    assert_eq!(
        reused,
        50 - conns.len(),
        "every request but each connection's first"
    );
}

#[test]
fn every_run_of_a_plan_writes_into_one_file_with_its_run_number() {
    let s = Session::new();
    let out = run_traced(&s, "[[target]]\nname = \"m\"\n[target.mock]\n[workload]\nusers = 2\nrequests = 30\n[matrix]\nmax_connections = [1, 2]\n", "trace.jsonl");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let results = results(&s);
    let trace = lines(&std::fs::read(s.path("trace.jsonl")).unwrap());
    let runs = results["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2);
    for (i, run) in runs.iter().enumerate() {
        let mine: Vec<&Value> = trace.iter().filter(|l| l["run"] == i).collect();
        assert_eq!(mine.len(), 30, "run {i}");
        assert!(
            mine.iter().all(|l| l["variant"] == run["variant"]),
            "run {i}"
        );
        assert_eq!(run["trace"]["lines"], 30);
    }
    assert_ne!(runs[0]["variant"], runs[1]["variant"]);
}

#[test]
fn a_trace_file_that_cannot_be_created_is_a_usage_error_before_any_load() {
    let s = Session::new();
    let out = run_traced(
        &s,
        "[[target]]\nname = \"m\"\n[target.mock]\n[workload]\nusers = 1\nrequests = 5\n",
        "no/such/dir/trace.jsonl",
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--trace"));
    assert!(!s.path("out/results.json").exists());
}
