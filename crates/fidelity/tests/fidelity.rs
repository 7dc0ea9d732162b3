//! The numbers are right: open-model latency matches the injected latency, and a stall shows in latency (from the schedule) but not in service time.
//!
//! These tests hold the generator to millisecond bounds, so they run against a release
//! build (`scripts/test.sh` runs `cargo test --release -p relaybench-fidelity`); in a debug
//! build the unoptimized hyper/tokio stack alone adds milliseconds at p99.

use std::path::Path;

/// Load tests in this file run one at a time: they measure latency on a 2-core machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run(text: &str) -> relaybench::metrics::RunResult {
    let _one_at_a_time = SERIAL.lock().await;
    let path = Path::new("inline.toml");
    let s = relaybench::scenario::parse(path, text).expect("scenario parses");
    let plan = relaybench::scenario::Plan::new("inline".into(), &s);
    let stop = relaybench::load::Stop::new();
    let mut results = relaybench::runner::execute(&s, path, &plan, &stop, None, |_, _| {})
        .await
        .unwrap();
    results.runs.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    debug_assertions,
    ignore = "millisecond bounds: run with --release (scripts/test.sh does)"
)]
async fn open_model_at_200_rps_reports_the_injected_50ms() {
    // A shared 2-core machine has bursts of scheduling noise that land in p99; one retry
    // separates noise (gone on the second try) from a real error (there both times).
    let mut failures = Vec::new();
    for _attempt in 0..2 {
        match measure_50ms().await {
            Ok(()) => return,
            Err(e) => failures.push(e),
        }
    }
    panic!("both attempts out of bounds: {failures:?}");
}

async fn measure_50ms() -> Result<(), String> {
    let r = run(r#"
[[target]]
name = "m"
[target.mock]
latency = "50ms"
[workload]
model = "constant"
rate = 200
duration = "5s"
warmup = "1s"
"#)
    .await;
    assert_eq!(r.count("ok"), r.scheduled, "{:?}", r.outcomes);
    assert_eq!(
        r.scheduled, 1000,
        "5 s at 200 req/s, warm-up excluded: exactly 1000 scheduled"
    );
    assert_eq!(r.target_rps, Some(200.0));
    assert!(r.rps > 190.0 && r.rps < 205.0, "achieved {} req/s", r.rps);
    // Compared from the server's side: what the upstream really took is the injected 50 ms
    // plus the mock's own lateness (it measures when each reply went out against when it was
    // due), and relaybench counts latency from the intended start, so its own start lag is in
    // the figure too, honestly. What is left is what the generator and the loopback add.
    // A fixed 50–53 ms band failed on an idle 2-core VM whose timer wakes alone are 1.6 ms
    // late at p99 (a plain 5 ms sleep in a loop): mock lateness p99 2.1 ms + start lag p99
    // 1.3 ms put latency p99 at 53.4 ms with nothing added by relaybench.
    let lat = r.summary("latency").unwrap();
    let lag = r.summary("start_lag").unwrap();
    let late = r
        .mock_lateness
        .expect("the in-process mock reports its lateness")
        .first;
    let seen = format!(
        "latency p50 {} / p99 {} ms; mock lateness p50 {} / p99 {} ms; start lag p50 {} / p99 {} ms",
        lat.p50, lat.p99, late.p50_ms, late.p99_ms, lag.p50, lag.p99
    );
    assert!(lat.p50 >= 50.0, "below the injected 50 ms: {seen}");
    assert!(
        lag.p99 < 5.0,
        "200 req/s is no load: the generator must keep its schedule: {seen}"
    );
    if lat.p50 - (50.0 + late.p50_ms + lag.p50) > 1.0 {
        return Err(format!("p50 adds over 1 ms to the upstream's: {seen}"));
    }
    if lat.p99 - (50.0 + late.p99_ms + lag.p99) > 1.5 {
        return Err(format!("p99 adds over 1.5 ms to the upstream's: {seen}"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stall_shows_in_latency_but_not_in_service_time() {
    // Two connections; from second 4 to 5 the upstream takes 1 s per request. Requests
    // scheduled during the stall queue for a connection: their latency (from the schedule)
    // must show it, their service time (from the actual send) must not.
    let r = run(r#"
[[target]]
name = "m"
[target.mock]
latency = "5ms"
[[target.mock.schedule]]
start = "4s"
end = "5s"
latency = "1s"
[workload]
model = "constant"
rate = 100
duration = "10s"
[client]
max_connections = 2
"#)
    .await;
    assert_eq!(r.count("ok"), r.scheduled, "{:?}", r.outcomes);
    let latency = r.summary("latency").unwrap();
    let service = r.summary("service").unwrap();
    assert!(
        latency.p99 >= 500.0,
        "p99 latency {} ms must reflect the 1 s stall",
        latency.p99
    );
    assert!(
        service.p99 < 100.0,
        "p99 service time {} ms must not (only the stalled sends were slow)",
        service.p99
    );
    let pool_wait = r.summary("pool_wait").unwrap();
    assert!(
        pool_wait.max >= 500.0,
        "the queue for a connection is where the time went ({} ms)",
        pool_wait.max
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    debug_assertions,
    ignore = "millisecond bounds: run with --release (scripts/test.sh does)"
)]
async fn stream_metrics_match_the_injected_timing() {
    let r = run(r#"
[[target]]
name = "m"
[target.mock]
output_tokens = 50
[target.mock.stream]
ttft = "200ms"
inter_token = "20ms"
[workload]
users = 4
requests = 24
[[workload.mix]]
kind = "chat"
stream = true
max_tokens = 100
"#)
    .await;
    assert_eq!(r.count("ok"), 24, "{:?}", r.outcomes);
    let ttft = r.summary("ttft").unwrap();
    let itl = r.summary("itl").unwrap();
    assert!(
        (200.0..210.0).contains(&ttft.p50),
        "TTFT p50 {} ms",
        ttft.p50
    );
    // The mock sets each token due one gap after the previous one was due (not sent), so a gap
    // reads 20 ms plus this send's lateness minus the previous one's: a little under 20 ms as
    // often as over (CI read p50 19.999 ms).
    assert!((19.5..22.0).contains(&itl.p50), "ITL p50 {} ms", itl.p50);
    assert_eq!(itl.count, 24 * 49, "every gap after the first token");
    assert_eq!(
        r.tokens.output,
        24 * 50,
        "exactly 50 output tokens per response"
    );
    assert_eq!(r.tokens.from_usage, 24, "counts came from the usage chunk");
    let tps = r.summary("tokens_per_s").unwrap();
    // 50 tokens over ~1.18 s.
    assert!(tps.p50 > 35.0 && tps.p50 < 50.0, "tokens/s p50 {}", tps.p50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    debug_assertions,
    ignore = "counts, not timing, but 20 s long: scripts/test.sh runs it in the release pass"
)]
async fn under_30_percent_faults_every_outcome_matches_what_the_mock_injected() {
    use mock_upstream::{MockConfig, MockServer};
    let mock_toml = r#"
seed = 42
latency = "5ms"
errors = { "429" = 0.05, "500" = 0.05, "502" = 0.04, "503" = 0.04, "504" = 0.04 }
[faults]
reset = 0.03
truncate = 0.03
hang = 0.02
"#;
    let config: MockConfig = toml::from_str(mock_toml).unwrap();
    let mock = MockServer::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let r = run(&format!(
        r#"
[[target]]
name = "m"
url = "{}"
[workload]
model = "constant"
rate = 100
duration = "20s"
[client]
max_connections = 200
[client.timeouts]
read = "500ms"
[client.retry]
max_retries = 0
[client.breaker]
enabled = false
"#,
        mock.base_url()
    ))
    .await;
    let stats = mock.stats();
    mock.shutdown().await;
    let sum: u64 = r.outcomes.values().sum();
    assert_eq!(r.scheduled, 2000, "20 s at 100 req/s");
    assert_eq!(sum, r.scheduled, "scheduled = Σ outcomes");
    assert_eq!(
        stats.requests_total, r.scheduled,
        "no retries: the mock saw each request once"
    );
    let injected = |k: &str| stats.faults_injected.get(k).copied().unwrap_or(0);
    for (fault, outcome) in [
        ("error_429", "status_429"),
        ("error_500", "status_500"),
        ("error_502", "status_502"),
        ("error_503", "status_503"),
        ("error_504", "status_504"),
        ("reset", "io_reset"),
        ("truncate", "io_truncated"),
        ("hang", "timeout_read"),
    ] {
        assert!(injected(fault) > 0, "the mock injected some {fault}");
        assert_eq!(
            r.count(outcome),
            injected(fault),
            "{outcome} vs injected {fault}: {:?} / {:?}",
            r.outcomes,
            stats.faults_injected
        );
    }
    let faults: u64 = [
        "error_429",
        "error_500",
        "error_502",
        "error_503",
        "error_504",
        "reset",
        "truncate",
        "hang",
    ]
    .iter()
    .map(|k| injected(k))
    .sum();
    assert_eq!(
        r.count("ok") + faults,
        r.scheduled,
        "everything else ended ok"
    );
}
