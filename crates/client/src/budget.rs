//! The retry budget: retries may be at most `ratio` of requests over a sliding window, plus `min_per_sec` always allowed (Finagle/tower `TpsBudget` semantics).
//!
//! Over the last `window`, a retry is allowed while
//! `retries < min_per_sec × window_secs + ratio × requests`. The window is kept as ten
//! buckets, so memory is constant and old traffic ages out in steps of `window / 10`.
//! Written here rather than taken from tower because tower's budget is tied to its `Policy`
//! trait and we also want to count refusals for reports.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// Buckets the window is split into.
const BUCKETS: usize = 10;

/// A shared retry budget.
#[derive(Debug)]
pub struct RetryBudget {
    /// Fraction of requests that may be retried.
    ratio: f64,
    /// Retries allowed per second regardless of traffic.
    min_per_sec: u32,
    /// Length of one bucket.
    slot: Duration,
    /// The buckets and the clock origin.
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    /// When bucket index 0 of epoch 0 began.
    origin: Instant,
    /// Per bucket: (absolute slot number, requests, retries).
    buckets: [(u64, u64, u64); BUCKETS],
}

impl RetryBudget {
    /// A budget allowing `ratio` retries per request over `window`, plus `min_per_sec`.
    pub fn new(ratio: f64, min_per_sec: u32, window: Duration) -> RetryBudget {
        let window = window.max(Duration::from_millis(10));
        RetryBudget {
            ratio: ratio.clamp(0.0, 1.0),
            min_per_sec,
            slot: window / BUCKETS as u32,
            state: Mutex::new(Window {
                origin: Instant::now(),
                buckets: [(0, 0, 0); BUCKETS],
            }),
        }
    }

    /// Counts one logical request (a deposit) that started at `now`.
    pub fn deposit_at(&self, now: Instant) {
        let mut w = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let slot = self.current(&mut w, now);
        w.buckets[slot].1 += 1;
    }

    /// Asks to retry once at `now`; true (and the retry is counted) when the budget allows it.
    pub fn withdraw_at(&self, now: Instant) -> bool {
        let mut w = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let slot = self.current(&mut w, now);
        let (requests, retries) = w
            .buckets
            .iter()
            .fold((0, 0), |(q, r), b| (q + b.1, r + b.2));
        let window_secs = (self.slot * BUCKETS as u32).as_secs_f64();
        let allowed = self.min_per_sec as f64 * window_secs + self.ratio * requests as f64;
        if (retries as f64) < allowed.floor().max(0.0) {
            w.buckets[slot].2 += 1;
            true
        } else {
            false
        }
    }

    /// The bucket index for `now`, clearing buckets that fell out of the window.
    fn current(&self, w: &mut Window, now: Instant) -> usize {
        let abs = (now.saturating_duration_since(w.origin).as_nanos() / self.slot.as_nanos().max(1))
            as u64;
        let oldest = abs.saturating_sub(BUCKETS as u64 - 1);
        for b in w.buckets.iter_mut() {
            if b.0 < oldest || b.0 > abs {
                *b = (0, 0, 0);
            }
        }
        let index = (abs % BUCKETS as u64) as usize;
        if w.buckets[index].0 != abs {
            w.buckets[index] = (abs, 0, 0);
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_are_capped_by_ratio_plus_minimum() {
        // 20% of requests, 1 retry/s over a 10 s window => 10 + 0.2 × requests.
        let budget = RetryBudget::new(0.2, 1, Duration::from_secs(10));
        let t0 = Instant::now();
        for _ in 0..100 {
            budget.deposit_at(t0);
        }
        let granted = (0..1000).filter(|_| budget.withdraw_at(t0)).count();
        assert_eq!(granted, 30);
    }

    #[test]
    fn old_traffic_ages_out_of_the_window() {
        let budget = RetryBudget::new(0.5, 0, Duration::from_secs(1));
        let t0 = Instant::now();
        for _ in 0..10 {
            budget.deposit_at(t0);
        }
        assert_eq!((0..100).filter(|_| budget.withdraw_at(t0)).count(), 5);
        // A window later, the deposits and withdrawals are gone: no requests, no retries.
        let later = t0 + Duration::from_millis(1500);
        assert!(!budget.withdraw_at(later));
        for _ in 0..4 {
            budget.deposit_at(later);
        }
        assert_eq!((0..100).filter(|_| budget.withdraw_at(later)).count(), 2);
    }

    #[test]
    fn zero_ratio_with_minimum_still_allows_a_trickle() {
        let budget = RetryBudget::new(0.0, 2, Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!((0..100).filter(|_| budget.withdraw_at(t0)).count(), 2);
    }
}
