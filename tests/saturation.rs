//! Saturation stop: with `stop_on_saturation`, a run against an upstream that cannot keep up ends early through the usual stop path (grace, ledger, report), marked with the reason; a run the upstream can serve goes its full length.
//!
//! The embedded mock serves 8 requests at once, 100 ms each: 80 req/s.

mod util;
use relaybench::metrics::{RunResult, SaturationReason};
use util::run_first;

/// Load tests here run one at a time: they share two cores with the rest of the suite.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run(scenario: &str) -> RunResult {
    let _one_at_a_time = SERIAL.lock().await;
    run_first(scenario).await
}

fn open_at(rate: u32, duration: &str) -> String {
    format!(
        r#"
[[target]]
name = "m"
[target.mock]
latency = "100ms"
[target.mock.capacity]
max_concurrent = 8
max_queue = 100000
[workload]
model = "constant"
rate = {rate}
threads = 1
warmup = "1s"
duration = "{duration}"
grace = "1s"
stop_on_saturation = true
"#
    )
}

fn assert_balanced(r: &RunResult) {
    assert_eq!(r.ledger_error, None, "{:?}", r.ledger);
    let m = &r.ledger.measured;
    let outcomes: u64 = r.outcomes.values().sum();
    assert_eq!(m.arrivals, outcomes + m.dropped + m.refused_by_guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_run_beyond_capacity_stops_early_with_rate_below_target() {
    let r = run(&open_at(200, "20s")).await;
    let s = r
        .saturated
        .as_ref()
        .expect("200 req/s against 80 is saturated");
    assert_eq!(s.reason, SaturationReason::RateBelowTarget, "{s:?}");
    assert!(
        (2.0..=6.0).contains(&s.at_s),
        "found within a few seconds of the warm-up: {s:?}"
    );
    assert!(s.detail.contains("of the target"), "{}", s.detail);
    // Stopped through the grace period (1 s), long before the 20 s it was planned for.
    assert!(r.measured_seconds < 10.0, "{}", r.measured_seconds);
    assert!(
        r.measured_seconds >= s.at_s,
        "{} vs {}",
        r.measured_seconds,
        s.at_s
    );
    assert_balanced(&r);
    // What was still queued at the stop ended cancelled and counted, nothing lost.
    assert!(r.count("cancelled") > 0, "{:?}", r.outcomes);
    assert!(r.arrivals < 200 * 10, "{}", r.arrivals);
    eprintln!(
        "saturated at {:.1} s, measured {:.2} s of 20 s: {}",
        s.at_s, r.measured_seconds, s.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_run_within_capacity_runs_its_full_length() {
    let r = run(&open_at(40, "5s")).await;
    assert_eq!(r.saturated, None);
    assert!(r.measured_seconds >= 4.9, "{}", r.measured_seconds);
    assert_balanced(&r);
    assert_eq!(r.count("cancelled"), 0, "{:?}", r.outcomes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_failing_everything_is_all_failing_in_both_models() {
    for workload in [
        "model = \"constant\"\nrate = 50",
        "model = \"closed\"\nusers = 2\nthink_time = \"20ms\"",
    ] {
        let r = run(&format!(
            r#"
[[target]]
name = "m"
[target.mock]
latency = "1ms"
errors = {{ "503" = 1.0 }}
[workload]
{workload}
threads = 1
warmup = "1s"
duration = "20s"
grace = "1s"
stop_on_saturation = true
[client.retry]
max_retries = 0
"#
        ))
        .await;
        let s = r.saturated.as_ref().expect("every request fails");
        assert_eq!(s.reason, SaturationReason::AllFailing, "{workload}: {s:?}");
        assert!(s.detail.contains("none ok"), "{}", s.detail);
        assert!(
            r.measured_seconds < 10.0,
            "{workload}: {}",
            r.measured_seconds
        );
        assert_eq!(r.count("ok"), 0);
        assert_balanced(&r);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_switch_a_saturated_run_goes_on() {
    let r = run(&open_at(200, "3s").replace("stop_on_saturation = true", "")).await;
    assert_eq!(r.saturated, None);
    assert!(r.measured_seconds >= 2.9, "{}", r.measured_seconds);
}

#[test]
fn every_output_says_the_run_was_saturated() {
    let s = util::Session::new();
    let file = s.write(
        "failing.toml",
        r#"
name = "failing"
[[target]]
name = "m"
[target.mock]
latency = "1ms"
errors = { "503" = 1.0 }
[workload]
model = "constant"
rate = 50
threads = 1
warmup = "1s"
duration = "20s"
grace = "1s"
stop_on_saturation = true
[client.retry]
max_retries = 0
"#,
    );
    let out = s.relaybench(&["run", file.to_str().unwrap(), "--out", "out"]);
    let all = util::text(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "a saturated run is a finding: {all}"
    );
    let note = "m/default: saturated — stopped";
    assert!(String::from_utf8_lossy(&out.stdout).contains(note), "{all}");
    let summary = std::fs::read_to_string(s.path("out/summary.md")).unwrap();
    assert!(
        summary.contains("saturated — stopped") && summary.contains("(all\\_failing)"),
        "{summary}"
    );
    let html = std::fs::read_to_string(s.path("out/report.html")).unwrap();
    assert!(html.contains("saturated — stopped") && html.contains("(all_failing)"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("out/results.json")).unwrap())
            .unwrap();
    assert_eq!(json["runs"][0]["saturated"]["reason"], "all_failing");
    assert!(json["runs"][0]["saturated"]["at_s"].as_f64().unwrap() >= 3.0);
}
