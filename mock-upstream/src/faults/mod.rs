//! Fault machinery: what a request's fate is (`plan`), which profile applies now (`schedule`),
//! token buckets (`rate_limit`) and the concurrency gate (`capacity`).

pub(crate) mod capacity;
pub(crate) mod plan;
pub(crate) mod rate_limit;
pub(crate) mod schedule;

/// Sleeps for `d`, without touching the timer when `d` is zero (the healthy hot path).
/// Precise to tens of microseconds (tokio's timer alone overshoots by up to 1 ms), so an
/// injected latency is the latency a client measures.
pub(crate) async fn pause(d: std::time::Duration) {
    if !d.is_zero() {
        precise_sleep::sleep(d).await;
    }
}
