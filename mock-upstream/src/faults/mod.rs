//! Fault machinery: what a request's fate is (`plan`), which profile applies now (`schedule`),
//! token buckets (`rate_limit`) and the concurrency gate (`capacity`).

pub(crate) mod capacity;
pub(crate) mod plan;
pub(crate) mod rate_limit;
pub(crate) mod schedule;

/// Sleeps for `d`, without touching the timer when `d` is zero (the healthy hot path).
pub(crate) async fn pause(d: std::time::Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}
