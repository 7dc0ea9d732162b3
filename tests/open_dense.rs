//! The open model at rates far above the timer's resolution: every scheduled arrival is sent exactly once (the ledger and the mock's own count agree), and none before its time.

use mock_upstream::{MockConfig, MockServer};
use relaybench::{
    load::Stop,
    runner,
    scenario::{self, Plan},
    trace::TraceSink,
};
use serde_json::Value;
use std::path::Path;

/// 20,000 req/s for 0.5 s through one generator thread: 50 µs between arrivals, below the
/// dispatcher's sleeping threshold, so arrivals go out in batches between yields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dense_schedule_sends_every_arrival_once_and_none_early() {
    let config: MockConfig = toml::from_str("").expect("the default mock profile");
    let mock = MockServer::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("mock starts");
    let text = format!(
        r#"
[[target]]
name = "m"
url = "{}"
[workload]
model = "constant"
rate = 20000
duration = "500ms"
threads = 1
grace = "30s"
[client]
max_connections = 64
"#,
        mock.base_url()
    );
    let dir = tempfile::tempdir().unwrap();
    let trace_path = dir.path().join("trace.jsonl");
    let s = scenario::parse(Path::new("dense.toml"), &text).expect("scenario parses");
    let plan = Plan::new("dense".into(), &s);
    let sink = TraceSink::create(&trace_path).unwrap();
    let results = runner::execute(
        &s,
        Path::new("dense.toml"),
        &plan,
        &Stop::new(),
        Some(&sink),
        |_, _| {},
    )
    .await
    .expect("run executes");
    sink.finish().expect("the trace is written");
    let r = &results.runs[0];

    // The whole schedule, exactly once, whatever the machine's speed: arrivals already due when
    // the duration ends still belong to the run.
    assert_eq!(r.ledger_error, None, "{:?}", r.ledger);
    assert_eq!(r.ledger.measured.arrivals, 10_000, "{:?}", r.ledger);
    assert_eq!(r.ledger.measured.dropped, 0, "{:?}", r.ledger);
    let outcomes: u64 = r.outcomes.values().sum();
    assert_eq!(
        outcomes, 10_000,
        "one outcome per arrival: {:?}",
        r.outcomes
    );
    assert_eq!(r.count("ok"), 10_000, "{:?}", r.outcomes);
    assert_eq!(
        mock.stats().requests_total,
        r.attempts,
        "the mock received exactly what relaybench says it sent"
    );
    assert_eq!(r.attempts, 10_000);

    // No request left before its intended start (trace offsets are truncated to whole µs from
    // one origin, which keeps their order).
    let trace = std::fs::read_to_string(&trace_path).unwrap();
    let lines: Vec<Value> = trace
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10_000, "one trace line per request");
    let early: Vec<&Value> = lines
        .iter()
        .filter(|l| l["send_ms"].as_f64().unwrap() < l["intended_ms"].as_f64().unwrap())
        .collect();
    assert!(
        early.is_empty(),
        "{} sent before their time, e.g. {}",
        early.len(),
        early[0]
    );
    mock.shutdown().await;
}
