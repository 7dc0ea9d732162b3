//! End-to-end through every stage against mock-upstream on loopback: counts agree on both sides, latency is right, the pool cap holds.

use mock_upstream::{MockConfig, MockServer};
use relaybench::{
    load::Stop,
    runner,
    scenario::{self, Plan, Scenario},
};
use std::path::Path;

fn scenario(text: &str) -> Scenario {
    scenario::parse(Path::new("test.toml"), text).expect("test scenario parses")
}

fn url_scenario(url: &str, users: usize, max_connections: usize, duration: &str) -> Scenario {
    scenario(&format!(
        r#"
name = "t"
[[target]]
name = "m"
url = "{url}"
[workload]
users = {users}
duration = "{duration}"
grace = "5s"
threads = 2
[client]
max_connections = {max_connections}
"#
    ))
}

fn mock_config(toml_text: &str) -> MockConfig {
    toml::from_str(toml_text).expect("mock profile parses")
}

/// Load tests in this file run one at a time: they measure latency on a 2-core machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run(s: &Scenario) -> relaybench::metrics::ResultsFile {
    let _one_at_a_time = SERIAL.lock().await;
    let plan = Plan::new("t".into(), s);
    runner::execute(
        s,
        Path::new("test.toml"),
        &plan,
        &Stop::new(),
        None,
        |_, _| {},
    )
    .await
    .expect("run executes")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_count_equals_recorded_outcomes_and_latency_is_measured() {
    let mock = MockServer::start(
        "127.0.0.1:0".parse().unwrap(),
        mock_config("latency = \"20ms\""),
    )
    .await
    .unwrap();
    let s = url_scenario(&mock.base_url(), 8, 8, "3s");
    let results = run(&s).await;
    let r = &results.runs[0];
    let recorded: u64 = r.outcomes.values().sum();
    let answered = mock.stats().requests_total;
    mock.shutdown().await;
    assert_eq!(r.scheduled, recorded, "scheduled = sum of outcomes");
    assert_eq!(
        answered, recorded,
        "the mock answered exactly what was recorded: {:?}",
        r.outcomes
    );
    assert_eq!(r.count("ok"), recorded, "all ok: {:?}", r.outcomes);
    assert!(
        recorded > 100,
        "8 users × 3 s at 20 ms should give ~1200 requests, got {recorded}"
    );
    let p50 = r.summary("latency").unwrap().p50;
    assert!(
        (20.0..30.0).contains(&p50),
        "p50 {p50} ms with 20 ms injected latency"
    );
    assert!(
        r.tokens.output > 0,
        "usage tokens were read from the responses"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_cap_holds_with_more_users_than_connections() {
    let mock = MockServer::start(
        "127.0.0.1:0".parse().unwrap(),
        mock_config("latency = \"10ms\""),
    )
    .await
    .unwrap();
    let s = url_scenario(&mock.base_url(), 32, 4, "2s");
    let results = run(&s).await;
    let stats = mock.stats();
    mock.shutdown().await;
    let r = &results.runs[0];
    assert!(
        stats.connections_peak <= 4,
        "mock saw {} connections at once with max_connections = 4",
        stats.connections_peak
    );
    assert!(
        r.pool.peak_open <= 4,
        "client opened {} at once",
        r.pool.peak_open
    );
    assert!(
        r.pool.peak_waiting > 0,
        "with 32 users on 4 connections, requests must queue for a slot"
    );
    assert_eq!(stats.requests_total, r.outcomes.values().sum::<u64>());
    let pool_wait = r.summary("pool_wait").unwrap();
    assert!(
        pool_wait.p50 > 5.0,
        "queued requests wait for a slot (p50 pool wait {} ms)",
        pool_wait.p50
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hyper_engine_runs_through_the_same_pool_and_reuses_its_connections() {
    let mock = MockServer::start(
        "127.0.0.1:0".parse().unwrap(),
        mock_config("latency = \"5ms\""),
    )
    .await
    .unwrap();
    let s = scenario(&format!(
        r#"
name = "t"
[[target]]
name = "m"
url = "{}"
[workload]
users = 8
duration = "2s"
grace = "5s"
threads = 2
[client]
max_connections = 4
engine = "hyper"
"#,
        mock.base_url()
    ));
    let results = run(&s).await;
    let stats = mock.stats();
    mock.shutdown().await;
    let r = &results.runs[0];
    assert_eq!(r.count("ok"), r.scheduled, "{:?}", r.outcomes);
    assert_eq!(
        stats.requests_total, r.scheduled,
        "the mock answered each once"
    );
    assert!(r.scheduled > 100, "8 users × 2 s at 5 ms: {}", r.scheduled);
    assert!(
        stats.connections_accepted <= 4,
        "{} requests on at most 4 kept-alive connections, not {}",
        r.scheduled,
        stats.connections_accepted
    );
    assert!(r.tokens.output > 0, "usage read from hyper's bodies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quickstart_runs_through_the_library_api_on_the_embedded_mock() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/quickstart.toml");
    let mut s = scenario::load(&path).expect("quickstart parses");
    // Shortened so the suite stays quick; everything else as shipped.
    s.workload.duration = Some("3s".parse().unwrap());
    s.workload.warmup = "500ms".parse().unwrap();
    let results = run(&s).await;
    let r = &results.runs[0];
    assert_eq!(r.count("ok"), r.scheduled, "{:?}", r.outcomes);
    assert!(r.scheduled > 300);
    assert!(
        r.warmup_outcomes.get("ok").copied().unwrap_or(0) > 0,
        "warm-up requests counted apart"
    );
    let p50 = r.summary("latency").unwrap().p50;
    assert!((20.0..30.0).contains(&p50), "p50 {p50}");
    assert_eq!(
        r.series.iter().map(|p| p.completed).sum::<u64>(),
        r.scheduled,
        "series covers every measured request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_target_ends_as_connect_errors_not_a_crash() {
    // Bind then drop a listener to get a loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = url_scenario(&format!("http://127.0.0.1:{port}"), 2, 2, "1s");
    let results = run(&s).await;
    let r = &results.runs[0];
    assert!(r.scheduled > 0);
    assert_eq!(r.count("ok"), 0);
    assert_eq!(r.count("connect_error"), r.scheduled, "{:?}", r.outcomes);
}
