//! The one-second time series: workers fill `SecondBucket`s, the `SeriesCollector` merges them into `SeriesPoint`s.

use crate::client::Outcome;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Requests that finished within one second of a run, on one worker.
pub struct SecondBucket {
    /// Seconds since the run started.
    pub second: u64,
    /// Finished requests.
    pub completed: u64,
    /// Of which `ok`.
    pub ok: u64,
    /// Of which timeouts (any phase).
    pub timeouts: u64,
    /// Of which other errors.
    pub errors: u64,
    /// Latency (µs), 2 significant digits: enough for a chart, small enough to keep one per second.
    pub latency: Histogram<u32>,
}

impl SecondBucket {
    /// An empty bucket for `second`.
    pub fn new(second: u64) -> SecondBucket {
        SecondBucket {
            second,
            completed: 0,
            ok: 0,
            timeouts: 0,
            errors: 0,
            latency: Histogram::new_with_bounds(1, super::histogram::MAX_TRACKABLE_US, 2)
                .expect("static histogram bounds are valid"),
        }
    }

    /// Counts one finished request.
    pub fn add(&mut self, outcome: Outcome, latency_us: u64) {
        self.completed += 1;
        match outcome {
            Outcome::Ok => self.ok += 1,
            o if o.is_timeout() => self.timeouts += 1,
            o if o.is_error() => self.errors += 1,
            _ => {}
        }
        super::histogram::record_clamped(&mut self.latency, latency_us);
    }

    fn merge(&mut self, other: &SecondBucket) {
        self.completed += other.completed;
        self.ok += other.ok;
        self.timeouts += other.timeouts;
        self.errors += other.errors;
        let _ = self.latency.add(&other.latency);
    }
}

/// One point of the series as written to results.json.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Seconds since the run started (the bucket covers `[t, t+1)`).
    pub t: u64,
    /// Requests finished in this second.
    pub completed: u64,
    /// Of which `ok`.
    pub ok: u64,
    /// Of which timeouts.
    pub timeouts: u64,
    /// Of which other errors.
    pub errors: u64,
    /// Latency percentiles of requests finished in this second (ms).
    pub p50_ms: f64,
    /// 90th percentile (ms).
    pub p90_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
    /// Maximum (ms).
    pub max_ms: f64,
    /// Requests in flight, sampled at the end of the second.
    pub in_flight: u64,
    /// Open connections, sampled at the end of the second.
    pub open_connections: u64,
}

/// Merges buckets from every worker and the sampled gauges into the run's series.
#[derive(Default)]
pub struct SeriesCollector {
    buckets: BTreeMap<u64, SecondBucket>,
    gauges: BTreeMap<u64, (u64, u64)>,
}

impl SeriesCollector {
    /// Adds one worker's bucket.
    pub fn add(&mut self, bucket: SecondBucket) {
        match self.buckets.get_mut(&bucket.second) {
            Some(existing) => existing.merge(&bucket),
            None => {
                self.buckets.insert(bucket.second, bucket);
            }
        }
    }

    /// Records the in-flight and open-connection gauges sampled at the end of `second`.
    pub fn sample(&mut self, second: u64, in_flight: u64, open_connections: u64) {
        self.gauges.insert(second, (in_flight, open_connections));
    }

    /// The latest complete point, for live progress.
    pub fn latest_before(&self, second: u64) -> Option<SeriesPoint> {
        let (t, _) = self.buckets.range(..second).next_back()?;
        Some(self.point(*t))
    }

    fn point(&self, t: u64) -> SeriesPoint {
        let (in_flight, open_connections) = self.gauges.get(&t).copied().unwrap_or_default();
        let mut p = SeriesPoint {
            t,
            in_flight,
            open_connections,
            ..Default::default()
        };
        if let Some(b) = self.buckets.get(&t) {
            let ms = |q: f64| b.latency.value_at_quantile(q) as f64 / 1000.0;
            p.completed = b.completed;
            p.ok = b.ok;
            p.timeouts = b.timeouts;
            p.errors = b.errors;
            if !b.latency.is_empty() {
                p.p50_ms = ms(0.5);
                p.p90_ms = ms(0.9);
                p.p99_ms = ms(0.99);
                p.max_ms = b.latency.max() as f64 / 1000.0;
            }
        }
        p
    }

    /// Every second from 0 to the last one seen, gaps filled with zero points.
    pub fn finish(&self) -> Vec<SeriesPoint> {
        let last = self.buckets.keys().chain(self.gauges.keys()).max().copied();
        match last {
            None => Vec::new(),
            Some(last) => (0..=last).map(|t| self.point(t)).collect(),
        }
    }
}
