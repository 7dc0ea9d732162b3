//! The numbers are right: open-model latency matches the injected latency, and a stall shows in latency (from the schedule) but not in service time.

use relaybench::{
    load::Stop,
    runner,
    scenario::{self, Plan},
};
use std::path::Path;

/// Load tests in this file run one at a time: they measure latency on a 2-core machine.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run(text: &str) -> relaybench::metrics::RunResult {
    let _one_at_a_time = SERIAL.lock().await;
    let s = scenario::parse(Path::new("fidelity.toml"), text).expect("scenario parses");
    let plan = Plan::new("f".into(), &s);
    let mut results = runner::execute(
        &s,
        Path::new("fidelity.toml"),
        &plan,
        &Stop::new(),
        |_, _| {},
    )
    .await
    .unwrap();
    results.runs.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_model_at_200_rps_reports_the_injected_50ms() {
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
    let lat = r.summary("latency").unwrap();
    assert!((50.0..53.0).contains(&lat.p50), "p50 {} ms", lat.p50);
    assert!((50.0..53.0).contains(&lat.p99), "p99 {} ms", lat.p99);
    assert!(r.rps > 190.0 && r.rps < 205.0, "achieved {} req/s", r.rps);
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
