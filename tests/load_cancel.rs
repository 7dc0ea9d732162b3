//! The end of the grace period: requests still in flight are cancelled, counted as `cancelled`, and the run ends on time — in both load models.

mod util;
use std::time::Instant;
use util::run_first;

/// Every request takes 10 s; the run lasts 1 s plus 300 ms of grace.
const SLOW: &str = r#"
[[target]]
name = "m"
[target.mock]
latency = "10s"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_users_in_flight_at_the_end_of_grace_are_cancelled() {
    let started = Instant::now();
    let r = run_first(&format!(
        "{SLOW}[workload]\nmodel = \"closed\"\nusers = 6\nthreads = 2\nduration = \"1s\"\ngrace = \"300ms\"\n"
    ))
    .await;
    assert_eq!(r.outcomes.get("cancelled"), Some(&6), "{:?}", r.outcomes);
    assert_eq!(r.scheduled, 6);
    assert!(
        started.elapsed().as_secs_f64() < 6.0,
        "cancelling ends the run long before the 10 s responses: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_arrivals_in_flight_at_the_end_of_grace_are_cancelled() {
    let started = Instant::now();
    let r = run_first(&format!(
        "{SLOW}[workload]\nmodel = \"constant\"\nrate = 20\nthreads = 2\nduration = \"1s\"\ngrace = \"300ms\"\n"
    ))
    .await;
    let cancelled = r.outcomes.get("cancelled").copied().unwrap_or(0);
    assert_eq!(
        cancelled, r.scheduled,
        "every arrival was still waiting: {:?}",
        r.outcomes
    );
    assert!(
        (18..=21).contains(&cancelled),
        "20 arrivals in 1 s: {cancelled}"
    );
    assert!(
        started.elapsed().as_secs_f64() < 6.0,
        "{:?}",
        started.elapsed()
    );
}
