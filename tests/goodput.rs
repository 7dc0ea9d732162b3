//! Goodput: a request is good when it ended `ok` and met every `[slo]` limit that applies to it — checked against the embedded mock's own latency and streaming configuration, through the runner and through the binary (thresholds, every output).

mod util;
use relaybench::metrics::RunResult;
use util::{run_first, text, Session};

/// Load tests here run one at a time: they share two cores with the rest of the suite.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run(scenario: &str) -> RunResult {
    let _one_at_a_time = SERIAL.lock().await;
    run_first(scenario).await
}

/// Fraction of the run's latency histogram at or below `ms`.
fn latency_share_within(r: &RunResult, ms: u64) -> f64 {
    let h = r.histograms["latency"].histogram().unwrap();
    let within: u64 = h
        .iter_recorded()
        .filter(|v| h.highest_equivalent(v.value_iterated_to()) <= ms * 1000)
        .map(|v| v.count_at_value())
        .sum();
    within as f64 / h.len() as f64
}

fn assert_series_adds_up(r: &RunResult) {
    let in_series: u64 = r.series.iter().map(|p| p.good).sum();
    assert_eq!(
        in_series,
        r.good.unwrap(),
        "the per-second good counts add up"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latency_slo_counts_the_share_the_mock_made_fast_enough_and_never_a_failure() {
    // Mock delay uniform over 10–110 ms; the SLO holds 60 ms, so about half the requests
    // (less the client's own overhead) are good. A fifth fail with a 500, never retried.
    let r = run(r#"
[[target]]
name = "m"
[target.mock]
seed = 7
latency = { dist = "uniform", min = "10ms", max = "110ms" }
errors = { "500" = 0.2 }
[workload]
users = 8
threads = 1
duration = "3s"
[client.retry]
max_retries = 0
[slo]
latency = "60ms"
"#)
    .await;
    assert_eq!(r.ledger_error, None);
    let good = r.good.unwrap();
    let ok = r.count("ok");
    assert!(r.count("status_500") > 0 && ok > 200, "{:?}", r.outcomes);
    assert!(good < ok, "some ok requests were too slow: {good} of {ok}");
    // Among the ok ones, the share within 60 ms: what the mock's distribution allows ...
    let ok_good = good as f64 / ok as f64;
    assert!(
        (0.35..=0.56).contains(&ok_good),
        "(60 − 10) / (110 − 10) = 0.5 at most: {ok_good}"
    );
    // ... and the goodput ratio is measured against every arrival, failures included.
    assert!((r.goodput_ratio - good as f64 / r.offered() as f64).abs() < 1e-9);
    assert!(r.goodput_ratio < r.success_rate());
    assert!((r.goodput - good as f64 / r.measured_seconds).abs() < 1e-9);
    // Every ok request within 60 ms is good, a failed one never: the mock answers its injected
    // 500s at once, so the latency histogram's share within the limit is the good requests
    // plus every failure.
    let within = latency_share_within(&r, 60) * r.scheduled as f64;
    let failures = r.count("status_500") as f64;
    assert!(
        (within - good as f64 - failures).abs() <= (0.01 * r.scheduled as f64).max(2.0),
        "{within} within 60 ms ≈ {good} good + {failures} failures"
    );
    assert_eq!(r.slo.unwrap().latency.unwrap().0.as_millis(), 60);
    assert_series_adds_up(&r);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_slo_every_ok_request_is_good() {
    let r = run(r#"
[[target]]
name = "m"
[target.mock]
latency = "2ms"
errors = { "503" = 0.3 }
[workload]
users = 4
threads = 1
duration = "1s"
[client.retry]
max_retries = 0
"#)
    .await;
    assert_eq!(r.slo, None);
    assert_eq!(r.good, Some(r.count("ok")));
    assert!((r.goodput_ratio - r.success_rate()).abs() < 1e-12);
    assert_series_adds_up(&r);
}

/// Half the requests stream (TTFT 60 ms, a token every 10 ms), half do not.
fn streaming(slo: &str) -> String {
    format!(
        r#"
[[target]]
name = "m"
[target.mock]
latency = "1ms"
output_tokens = 8
[target.mock.stream]
ttft = "60ms"
inter_token = "10ms"
[workload]
users = 4
threads = 1
duration = "2s"
[[workload.mix]]
kind = "chat"
stream = true
max_tokens = 8
[[workload.mix]]
kind = "chat"
stream = false
max_tokens = 8
[slo]
{slo}
"#
    )
}

/// Streamed answers that were ok: each has a TTFT.
fn streamed_ok(r: &RunResult) -> u64 {
    r.histograms["ttft"].summary.count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_limits_judge_streamed_answers_and_leave_the_others_alone() {
    // TTFT 60 ms against a 20 ms limit: no streamed answer is good; the non-streamed ones are.
    let r = run(&streaming("ttft = \"20ms\"")).await;
    let (ok, streamed) = (r.count("ok"), streamed_ok(&r));
    assert!(
        streamed > 10 && ok > streamed + 10,
        "{ok} ok, {streamed} streamed"
    );
    assert_eq!(r.good, Some(ok - streamed));
    // A generous TTFT limit: all good.
    let r = run(&streaming("ttft = \"2s\"")).await;
    assert_eq!(r.good, Some(r.count("ok")));
    // Gaps of 10 ms against a 3 ms p99 limit: no streamed answer is good.
    let r = run(&streaming("itl_p99 = \"3ms\"")).await;
    assert_eq!(r.good, Some(r.count("ok") - streamed_ok(&r)));
    let r = run(&streaming("itl_p99 = \"500ms\"\ntpot = \"500ms\"")).await;
    assert_eq!(r.good, Some(r.count("ok")));
    let r = run(&streaming("tpot = \"3ms\"")).await;
    assert_eq!(r.good, Some(r.count("ok") - streamed_ok(&r)));
}

#[test]
fn goodput_thresholds_gate_the_run_and_every_output_shows_it() {
    let s = Session::new();
    let file = s.write(
        "goodput.toml",
        r#"
name = "goodput"
[[target]]
name = "m"
[target.mock]
seed = 3
latency = { dist = "uniform", min = "10ms", max = "110ms" }
[workload]
users = 8
threads = 1
duration = "2s"
[slo]
latency = "60ms"
[[threshold]]
check = "goodput_ratio > 20%"
[[threshold]]
check = "goodput_ratio > 90%"
[[threshold]]
check = "goodput > 1"
"#,
    );
    let out = s.relaybench(&["run", file.to_str().unwrap(), "--out", "out"]);
    let all = text(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the 90 % threshold fails: {all}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("goodput %") && stdout.contains("goodput/s"),
        "{all}"
    );
    assert!(stdout.contains("within the SLO: latency ≤ 60ms"), "{all}");
    let summary = std::fs::read_to_string(s.path("out/summary.md")).unwrap();
    assert!(summary.contains("| goodput % |"), "{summary}");
    assert!(
        summary.contains("| goodput\\_ratio &gt; 20% | m/default |"),
        "{summary}"
    );
    assert!(summary.contains("| **FAIL** |"), "{summary}");
    let html = std::fs::read_to_string(s.path("out/report.html")).unwrap();
    assert!(html.contains(">goodput %</th>"), "a goodput column");
    assert!(html.contains("latency ≤ 60ms"), "the SLO in the verdict");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("out/results.json")).unwrap())
            .unwrap();
    let run = &json["runs"][0];
    let ratio = run["goodput_ratio"].as_f64().unwrap();
    assert!((0.2..0.9).contains(&ratio), "{ratio}");
    assert!(run["goodput"].as_f64().unwrap() > 1.0);
    assert_eq!(run["slo"]["latency"], "60ms");
}
