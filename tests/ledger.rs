//! The ledger against the upstream's own count: arrivals counted where they are born balance the recorder's outcomes plus drops, and every attempt the generator reports is one the mock received — under a 30 % fault mix with retries, in both load models, with the in-flight cap biting, and when the run is interrupted.

use mock_upstream::{MockConfig, MockHandle, MockServer};
use relaybench::{
    load::Stop,
    metrics::RunResult,
    runner,
    scenario::{self, Plan},
};
use std::{path::Path, time::Duration};

/// Load tests here run one at a time: they share two cores with the rest of the suite.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn mock(toml_text: &str) -> MockHandle {
    let config: MockConfig = toml::from_str(toml_text).expect("mock profile parses");
    MockServer::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("mock starts")
}

/// Runs `scenario` (which names the mock's URL) to its end, or interrupts it after `interrupt`.
async fn run(text: &str, interrupt: Option<Duration>) -> relaybench::metrics::ResultsFile {
    let _one_at_a_time = SERIAL.lock().await;
    let s = scenario::parse(Path::new("ledger.toml"), text).expect("scenario parses");
    let plan = Plan::new("ledger".into(), &s);
    let stop = Stop::new();
    if let Some(after) = interrupt {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            stop.interrupt();
        });
    }
    runner::execute(&s, Path::new("ledger.toml"), &plan, &stop, None, |_, _| {})
        .await
        .expect("run executes")
}

/// The mock's 30 % fault mix: statuses, resets, truncated bodies and hangs.
const FAULTS: &str = r#"
seed = 42
latency = "5ms"
errors = { "429" = 0.05, "500" = 0.05, "502" = 0.04, "503" = 0.04, "504" = 0.04 }
[faults]
reset = 0.03
truncate = 0.03
hang = 0.02
"#;

/// The checks every test makes: the ledger balances (measured and warm-up), and the mock received
/// exactly the attempts the run reports.
fn assert_balanced(r: &RunResult, mock: &MockHandle) {
    assert_eq!(r.ledger_error, None, "{:?}", r.ledger);
    let outcomes: u64 = r.outcomes.values().sum();
    let m = &r.ledger.measured;
    assert!(m.arrivals > 0, "{:?}", r.ledger);
    assert_eq!(
        m.arrivals,
        outcomes + m.dropped + m.refused_by_guard,
        "arrivals = Σ outcomes + dropped + refused: {:?} {:?}",
        r.ledger,
        r.outcomes
    );
    let w = &r.ledger.warmup;
    let warmup_outcomes: u64 = r.warmup_outcomes.values().sum();
    assert_eq!(w.arrivals, warmup_outcomes + w.dropped + w.refused_by_guard);
    assert_eq!(r.arrivals, m.arrivals);
    assert_eq!(
        mock.stats().requests_total,
        r.attempts + r.warmup_attempts,
        "every attempt reported is one the mock received, and no other: {:?}",
        r.outcomes
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_users_under_faults_with_retries_balance_against_the_mock() {
    let mock = mock(FAULTS).await;
    let results = run(
        &format!(
            r#"
[[target]]
name = "m"
url = "{}"
[workload]
model = "closed"
users = 8
threads = 2
warmup = "1s"
duration = "3s"
grace = "10s"
[client.timeouts]
read = "300ms"
[client.retry]
max_retries = 2
multiplier = "1ms"
min_backoff = "1ms"
max_backoff = "5ms"
"#,
            mock.base_url()
        ),
        None,
    )
    .await;
    let r = &results.runs[0];
    assert_balanced(r, &mock);
    let retries: u64 = r.retries.values().sum();
    assert!(
        retries > 20,
        "the fault mix made retries: {:?} {:?}",
        r.retries,
        r.outcomes
    );
    assert_eq!(
        r.attempts - retries,
        r.scheduled,
        "one first try per measured request"
    );
    assert!(r.warmup_attempts > 0, "warm-up attempts are counted too");
    assert_eq!(
        r.count("cancelled"),
        0,
        "grace was long enough for every retry"
    );
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_arrivals_under_faults_balance_against_the_mock() {
    let mock = mock(FAULTS).await;
    let results = run(
        &format!(
            r#"
[[target]]
name = "m"
url = "{}"
[workload]
model = "poisson"
rate = 150
threads = 2
warmup = "500ms"
duration = "3s"
grace = "10s"
[client.timeouts]
read = "300ms"
[client.retry]
max_retries = 1
multiplier = "1ms"
min_backoff = "1ms"
max_backoff = "5ms"
"#,
            mock.base_url()
        ),
        None,
    )
    .await;
    let r = &results.runs[0];
    assert_balanced(r, &mock);
    assert!(
        r.outcomes.len() > 5,
        "the fault mix showed in the outcomes: {:?}",
        r.outcomes
    );
    mock.shutdown().await;
}

/// 200 arrivals per second against an upstream that takes 100 ms, through at most 5 requests in
/// flight: the cap bites from the first second.
fn capped(url: &str, on_overload: &str) -> String {
    format!(
        r#"
[[target]]
name = "m"
url = "{url}"
[workload]
model = "constant"
rate = 200
threads = 2
duration = "2s"
grace = "1s"
max_in_flight = 5
on_overload = "{on_overload}"
[client.retry]
max_retries = 0
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_beyond_the_in_flight_cap_are_dropped_only_when_asked_and_always_counted() {
    let mock = mock("latency = \"100ms\"").await;
    let results = run(&capped(&mock.base_url(), "drop"), None).await;
    let r = &results.runs[0];
    assert_balanced(r, &mock);
    assert_eq!(
        r.arrivals, 400,
        "2 s at 200 req/s, counted at the dispatcher"
    );
    assert!(
        r.dropped > 300,
        "5 in flight at 100 ms each carry ~50 req/s of the 200: {} dropped",
        r.dropped
    );
    assert_eq!(r.dropped, r.ledger.measured.dropped);
    assert!(
        mock.stats().concurrent_requests_peak <= 5,
        "the cap is exact: the mock never saw more than 5 at once ({})",
        mock.stats().concurrent_requests_peak
    );
    assert!(
        r.unfinished_rate() > 0.75,
        "dropped arrivals are unfinished"
    );
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arrivals_beyond_the_in_flight_cap_queue_by_default_and_keep_their_intended_start() {
    let mock = mock("latency = \"100ms\"").await;
    let results = run(&capped(&mock.base_url(), "queue"), None).await;
    let r = &results.runs[0];
    assert_balanced(r, &mock);
    assert_eq!(r.arrivals, 400);
    assert_eq!(r.dropped, 0, "nothing is dropped by default");
    assert!(
        r.ledger.measured.queued > 300,
        "most arrivals waited for a slot: {:?}",
        r.ledger
    );
    assert!(
        mock.stats().concurrent_requests_peak <= 5,
        "queued arrivals still respect the cap ({})",
        mock.stats().concurrent_requests_peak
    );
    // The queue drains at ~50 req/s during the 1 s grace: what is left is cancelled, and counted.
    let cancelled = r.count("cancelled");
    assert!(cancelled > 0, "{:?}", r.outcomes);
    assert_eq!(r.count("ok") + cancelled, r.arrivals);
    let queue_wait = r.summary("queue_wait").expect("queue waits were recorded");
    let latency = r.summary("latency").unwrap();
    assert!(
        latency.max >= queue_wait.max,
        "latency from the intended start includes the wait: {latency:?} vs {queue_wait:?}"
    );
    assert!(
        latency.p99 > 1000.0,
        "a growing queue shows in p99: {latency:?}"
    );
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_balances_with_what_was_in_flight_cancelled() {
    let mock = mock("latency = \"1500ms\"").await;
    let results = run(
        &format!(
            r#"
[[target]]
name = "m"
url = "{}"
[workload]
model = "constant"
rate = 40
threads = 2
duration = "30s"
grace = "200ms"
"#,
            mock.base_url()
        ),
        Some(Duration::from_millis(2500)),
    )
    .await;
    assert!(results.interrupted);
    let r = &results.runs[0];
    assert_balanced(r, &mock);
    assert!(
        (90..=110).contains(&r.arrivals),
        "2.5 s at 40 req/s: {}",
        r.arrivals
    );
    assert!(r.count("ok") > 20, "{:?}", r.outcomes);
    let cancelled = r.count("cancelled");
    assert!(
        cancelled > 40,
        "1.5 s of arrivals were in flight: {:?}",
        r.outcomes
    );
    // What was in flight when the grace period ended is what got cancelled (a request may
    // still finish in the instant between the count and the cancellation).
    let at_stop = r.ledger.in_flight_at_stop;
    assert!(
        cancelled <= at_stop && at_stop <= cancelled + 2,
        "{cancelled} cancelled, {at_stop} in flight at the stop"
    );
    mock.shutdown().await;
}

/// `max_requests` against an upstream that answers 503 to everything, with retries on.
fn guarded(url: &str, workload: &str) -> String {
    format!(
        r#"
[[target]]
name = "m"
url = "{url}"
max_requests = 50
[workload]
{workload}
threads = 2
warmup = "50ms"
duration = "5s"
[client.retry]
max_retries = 3
respect_retry_after = false
multiplier = "30ms"
min_backoff = "30ms"
max_backoff = "30ms"
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_requests_caps_the_calls_the_upstream_receives_retries_and_warmup_included() {
    for workload in [
        "model = \"closed\"\nusers = 4",
        "model = \"constant\"\nrate = 100",
    ] {
        let mock = mock("latency = \"20ms\"\nerrors = { \"503\" = 1.0 }").await;
        let results = run(&guarded(&mock.base_url(), workload), None).await;
        let r = &results.runs[0];
        let received = mock.stats().requests_total;
        assert!(
            received <= 50,
            "{workload}: the upstream received {received} calls for max_requests = 50"
        );
        assert_eq!(
            received, 50,
            "{workload}: the cap was reached, not undershot"
        );
        assert_balanced(r, &mock);
        let spend = r.spend.expect("a guarded run reports its spend");
        assert_eq!(spend.attempts, 50, "{workload}: {spend:?}");
        let why = r.stopped_early.as_deref().unwrap_or_default();
        assert!(why.contains("max_requests = 50"), "{workload}: {why}");
        assert!(
            r.retries.values().sum::<u64>() > 0,
            "{workload}: retries happened"
        );
        mock.shutdown().await;
    }
}
