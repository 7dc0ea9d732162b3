//! Running totals for live displays (`--ui`, `/metrics`): folded from the one-second buckets the workers already hand over, never touched by a request.

use super::series::{new_series_histogram, SecondBucket};
use crate::client::Outcome;
use hdrhistogram::Histogram;
use std::collections::BTreeMap;

/// Seconds the "recent" percentiles cover.
pub const WINDOW_SECONDS: u64 = 5;

/// What the run measured so far, as of the last bucket received.
#[derive(Clone, Debug)]
pub struct LiveTotals {
    /// Measured outcomes so far (cancelled included).
    pub outcomes: BTreeMap<Outcome, u64>,
    /// Attempts (first tries + retries).
    pub attempts: u64,
    /// Of which retries.
    pub retries: u64,
    /// Latency of every timed request so far (µs, 2 significant digits).
    pub latency: Histogram<u64>,
    /// TTFT of every stream so far (µs).
    pub ttft: Histogram<u64>,
    /// The last [`WINDOW_SECONDS`] seconds by second: (latency, TTFT).
    recent: BTreeMap<u64, (Histogram<u64>, Histogram<u64>)>,
}

impl Default for LiveTotals {
    fn default() -> Self {
        LiveTotals {
            outcomes: BTreeMap::new(),
            attempts: 0,
            retries: 0,
            latency: new_series_histogram(),
            ttft: new_series_histogram(),
            recent: BTreeMap::new(),
        }
    }
}

/// Percentiles of one histogram (ms); zeros when it is empty.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct Quantiles {
    /// Values recorded.
    pub count: u64,
    /// Median (ms).
    pub p50_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
}

impl Quantiles {
    /// The percentiles of `h`.
    pub fn of(h: &Histogram<u64>) -> Quantiles {
        if h.is_empty() {
            return Quantiles::default();
        }
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Quantiles {
            count: h.len(),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
        }
    }
}

impl LiveTotals {
    /// Timed requests so far (every outcome but `cancelled`).
    pub fn completed(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(o, _)| **o != Outcome::Cancelled)
            .map(|(_, n)| n)
            .sum()
    }

    /// Adds one worker's bucket (called once per worker and second, before the series collector takes it).
    pub fn add(&mut self, b: &SecondBucket) {
        for (outcome, n) in &b.outcomes {
            *self.outcomes.entry(*outcome).or_default() += n;
        }
        self.attempts += b.attempts;
        self.retries += b.retries;
        // Same bounds on every side, so adding cannot fail.
        let _ = self.latency.add(&b.latency);
        if let Some(t) = &b.ttft {
            let _ = self.ttft.add(t);
        }
        let newest = self
            .recent
            .keys()
            .next_back()
            .map_or(b.second, |n| b.second.max(*n));
        if b.second + WINDOW_SECONDS <= newest {
            // Too late for the window; it is in the totals above.
            return;
        }
        let (lat, ttft) = self
            .recent
            .entry(b.second)
            .or_insert_with(|| (new_series_histogram(), new_series_histogram()));
        let _ = lat.add(&b.latency);
        if let Some(t) = &b.ttft {
            let _ = ttft.add(t);
        }
        self.recent
            .retain(|second, _| second + WINDOW_SECONDS > newest);
    }

    /// Latency and TTFT percentiles over the last [`WINDOW_SECONDS`] seconds that have data.
    pub fn recent(&self) -> (Quantiles, Quantiles) {
        let mut lat = new_series_histogram();
        let mut ttft = new_series_histogram();
        for (l, t) in self.recent.values() {
            let _ = lat.add(l);
            let _ = ttft.add(t);
        }
        (Quantiles::of(&lat), Quantiles::of(&ttft))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(second: u64, latencies_ms: &[u64]) -> SecondBucket {
        let mut b = SecondBucket::new(second);
        for ms in latencies_ms {
            b.note(Outcome::Ok, 2, 1);
            b.add(Outcome::Ok, ms * 1000, true);
            b.note_ttft(ms * 100);
        }
        b
    }

    #[test]
    fn totals_add_every_bucket_and_the_window_keeps_the_last_seconds() {
        let mut t = LiveTotals::default();
        t.add(&bucket(0, &[1_000; 10]));
        for s in 1..=WINDOW_SECONDS {
            t.add(&bucket(s, &[10; 10]));
        }
        // A late bucket of second 0 counts in the totals, not in the window.
        t.add(&bucket(0, &[1_000]));
        assert_eq!(t.outcomes[&Outcome::Ok], 10 * (WINDOW_SECONDS + 1) + 1);
        assert_eq!(t.attempts, 2 * t.completed());
        assert_eq!(t.retries, t.completed());
        assert_eq!(t.ttft.len(), t.completed());
        let (lat, ttft) = t.recent();
        assert_eq!(lat.count, 10 * WINDOW_SECONDS);
        assert!((lat.p99_ms - 10.0).abs() < 0.2, "{lat:?}");
        assert!((ttft.p50_ms - 1.0).abs() < 0.02, "{ttft:?}");
        let all = Quantiles::of(&t.latency);
        assert!(
            all.p99_ms > 900.0,
            "the slow second is in the run's p99: {all:?}"
        );
    }
}
