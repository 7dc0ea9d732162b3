//! The run's time series: workers fill one-second `SecondBucket`s, the `SeriesCollector` folds them into the written `SeriesPoint`s in memory that stays flat however long the run.
//!
//! **Folding.** A worker hands over its bucket of second `s` when its first request of a
//! later second finishes. The collector keeps a bucket per *open* second only; once the run's
//! clock (the latest second seen in a bucket or a gauge sample) is [`FOLD_LAG`] seconds past
//! `s`, second `s` is folded into the point that covers it and its histogram is freed. The
//! collector does not know how many workers exist, so it cannot wait for "every worker has
//! moved past": a worker with sparse traffic can hold a bucket far longer than the lag. Such a
//! late bucket is still counted exactly, because every point keeps its latency histogram:
//! the bucket is added to it and the point's percentiles are recomputed.
//!
//! **Downsampling.** Points all cover the same span, taken from a ladder where each step
//! divides the next (1 s, 2 s, 10 s, 20 s, 1 min, 2 min, 10 min, 20 min, 1 h, 2 h, then
//! doubling). When closing a point would exceed [`POINT_LIMIT`], consecutive points are merged
//! into the next step — exactly, since histograms add. So a run ends with the finest step
//! whose points fit the limit (1 s up to 33 min, 10 s up to 5.5 h, 1 min for a 24 h soak:
//! 1,440 points), and only the open seconds and the one point being filled hold a dense
//! histogram; closed points hold their encoded histogram (a few hundred bytes).
//!
//! **What a point keeps.** Counts by outcome class, p50/p90/p99/max of latency, the gauges
//! sampled at the end of its span, the number of clamped values, and the span's latency as a
//! lossless HdrHistogram (V2 + DEFLATE, base64; µs, 2 significant digits): the baseline
//! comparison resamples these per-span histograms as blocks (see `gate::stats`), and shard
//! merges add them.

use super::histogram::{decode, encode, MAX_TRACKABLE_US};
use crate::client::Outcome;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most points a series holds: a 24 h run at 1 min per point stays within it (a few MB of results.json).
pub const POINT_LIMIT: usize = 2_000;

/// Seconds after which an open second is folded into its point, whether or not every worker has reported it.
pub const FOLD_LAG: u64 = 3;

/// Significant digits of the series histograms: enough for a chart and a block bootstrap, small enough to keep one per point.
pub const SERIES_DIGITS: u8 = 2;

/// Spans a point can cover (seconds); each divides the next so that merging points is exact. Beyond the last, spans double.
const SPANS: [u64; 10] = [1, 2, 10, 20, 60, 120, 600, 1_200, 3_600, 7_200];

/// The step after `span` on the ladder.
fn next_span(span: u64) -> u64 {
    SPANS
        .iter()
        .copied()
        .find(|s| *s > span)
        .unwrap_or(span.saturating_mul(2))
}

/// An empty latency histogram as the series keeps it.
pub fn new_series_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKABLE_US, SERIES_DIGITS)
        .expect("static histogram bounds are valid")
}

/// Requests that finished within one second of a run, on one worker.
pub struct SecondBucket {
    /// Seconds since the run started.
    pub second: u64,
    /// Finished requests.
    pub completed: u64,
    /// Of which `ok`.
    pub ok: u64,
    /// Of which good: `ok` and within the scenario's `[slo]`.
    pub good: u64,
    /// Of which timeouts (any phase).
    pub timeouts: u64,
    /// Of which other errors.
    pub errors: u64,
    /// Latencies above the histogram's range (1 h), recorded as 1 h.
    pub clamped: u64,
    /// Warm-up requests that finished in this second (in no statistic; the saturation watch counts them).
    pub warmup_completed: u64,
    /// Of which `ok`.
    pub warmup_ok: u64,
    /// Latency (µs), [`SERIES_DIGITS`] significant digits.
    pub latency: Histogram<u64>,
    /// Every measured outcome of the second, cancelled ones included, for the live dashboard (`live`);
    /// its first insertion of a kind allocates, once per second and kind, never per request.
    pub outcomes: BTreeMap<Outcome, u64>,
    /// Attempts of the measured requests (first tries + retries).
    pub attempts: u64,
    /// Of which retries.
    pub retries: u64,
    /// TTFT of the streams answered in this second (µs); created by the second's first stream.
    pub ttft: Option<Histogram<u64>>,
}

impl SecondBucket {
    /// An empty bucket for `second`.
    pub fn new(second: u64) -> SecondBucket {
        SecondBucket {
            second,
            completed: 0,
            ok: 0,
            good: 0,
            timeouts: 0,
            errors: 0,
            clamped: 0,
            warmup_completed: 0,
            warmup_ok: 0,
            latency: new_series_histogram(),
            outcomes: BTreeMap::new(),
            attempts: 0,
            retries: 0,
            ttft: None,
        }
    }

    /// Counts one measured request's outcome and attempts (every one, cancelled included).
    pub fn note(&mut self, outcome: Outcome, attempts: u64, retries: u64) {
        *self.outcomes.entry(outcome).or_default() += 1;
        self.attempts += attempts;
        self.retries += retries;
    }

    /// Records one stream's TTFT (µs).
    pub fn note_ttft(&mut self, ttft_us: u64) {
        let h = self.ttft.get_or_insert_with(new_series_histogram);
        let _ = super::histogram::record_clamped(h, ttft_us);
    }

    /// Counts one finished request; `good` when it met the SLO.
    pub fn add(&mut self, outcome: Outcome, latency_us: u64, good: bool) {
        self.completed += 1;
        self.good += u64::from(good);
        match outcome {
            Outcome::Ok => self.ok += 1,
            o if o.is_timeout() => self.timeouts += 1,
            o if o.is_error() => self.errors += 1,
            _ => {}
        }
        if super::histogram::record_clamped(&mut self.latency, latency_us) {
            self.clamped += 1;
        }
    }

    fn merge(&mut self, other: &SecondBucket) {
        self.completed += other.completed;
        self.ok += other.ok;
        self.good += other.good;
        self.timeouts += other.timeouts;
        self.errors += other.errors;
        self.clamped += other.clamped;
        self.warmup_completed += other.warmup_completed;
        self.warmup_ok += other.warmup_ok;
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
        for (outcome, n) in &other.outcomes {
            *self.outcomes.entry(*outcome).or_default() += n;
        }
        self.attempts += other.attempts;
        self.retries += other.retries;
        if let Some(t) = &other.ttft {
            let _ = self.ttft.get_or_insert_with(new_series_histogram).add(t);
        }
    }
}

fn one_second() -> u64 {
    1
}

fn is_one_second(span: &u64) -> bool {
    *span == 1
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One point of the series as written to results.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesPoint {
    /// Seconds since the run started; the point covers `[t, t + span)`.
    pub t: u64,
    /// Seconds the point covers: 1 unless a long run was downsampled (files without it are 1 s series).
    #[serde(default = "one_second", skip_serializing_if = "is_one_second")]
    pub span: u64,
    /// Requests finished in this span.
    pub completed: u64,
    /// Of which `ok`.
    pub ok: u64,
    /// Of which good: `ok` and within the scenario's `[slo]` (every `ok` one without an SLO; 0 in files written before it existed).
    #[serde(default)]
    pub good: u64,
    /// Of which timeouts.
    pub timeouts: u64,
    /// Of which other errors.
    pub errors: u64,
    /// Latency percentiles of requests finished in this span (ms).
    pub p50_ms: f64,
    /// 90th percentile (ms).
    pub p90_ms: f64,
    /// 99th percentile (ms).
    pub p99_ms: f64,
    /// Maximum (ms).
    pub max_ms: f64,
    /// Requests in flight, sampled at the end of the span.
    pub in_flight: u64,
    /// Open connections, sampled at the end of the span.
    pub open_connections: u64,
    /// Latencies above 1 h in this span, recorded as 1 h.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub clamped: u64,
    /// The span's latency histogram (µs, 2 significant digits), HdrHistogram V2 + DEFLATE, base64; absent when nothing finished (and in older files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdr: Option<String>,
}

impl Default for SeriesPoint {
    fn default() -> Self {
        SeriesPoint {
            t: 0,
            span: 1,
            completed: 0,
            ok: 0,
            good: 0,
            timeouts: 0,
            errors: 0,
            p50_ms: 0.0,
            p90_ms: 0.0,
            p99_ms: 0.0,
            max_ms: 0.0,
            in_flight: 0,
            open_connections: 0,
            clamped: 0,
            hdr: None,
        }
    }
}

impl SeriesPoint {
    /// An empty point covering `[t, t + span)`.
    pub fn empty(t: u64, span: u64) -> SeriesPoint {
        SeriesPoint {
            t,
            span,
            ..SeriesPoint::default()
        }
    }

    /// The end of the span (exclusive), in seconds since the run started.
    pub fn end(&self) -> u64 {
        self.t + self.span.max(1)
    }

    /// Adds `bucket`'s counts (not its histogram).
    fn add_counts(&mut self, b: &SecondBucket) {
        self.completed += b.completed;
        self.ok += b.ok;
        self.good += b.good;
        self.timeouts += b.timeouts;
        self.errors += b.errors;
        self.clamped += b.clamped;
    }

    /// Adds a later point of the same run: counts add, the gauges become the later point's.
    pub fn add_counts_of(&mut self, later: &SeriesPoint) {
        self.completed += later.completed;
        self.ok += later.ok;
        self.good += later.good;
        self.timeouts += later.timeouts;
        self.errors += later.errors;
        self.clamped += later.clamped;
        self.in_flight = later.in_flight;
        self.open_connections = later.open_connections;
    }

    /// Sets the percentiles from `h` and, when `encode_it`, its lossless encoding.
    pub fn set_latency(&mut self, h: &Histogram<u64>, encode_it: bool) {
        if h.is_empty() {
            (self.p50_ms, self.p90_ms, self.p99_ms, self.max_ms) = (0.0, 0.0, 0.0, 0.0);
            self.hdr = None;
            return;
        }
        let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        self.p50_ms = ms(0.5);
        self.p90_ms = ms(0.9);
        self.p99_ms = ms(0.99);
        self.max_ms = h.max() as f64 / 1000.0;
        self.hdr = encode_it.then(|| encode(h));
    }

    /// The span's latency histogram, when the point carries one.
    pub fn latency(&self) -> Option<Result<Histogram<u64>, String>> {
        self.hdr.as_deref().map(decode)
    }
}

/// The point being filled: its counts and a dense histogram until it closes.
struct Filling {
    /// Counts, gauges and span of the point.
    point: SeriesPoint,
    /// Its latency so far.
    latency: Histogram<u64>,
}

impl Filling {
    fn new(t: u64, span: u64) -> Filling {
        Filling {
            point: SeriesPoint::empty(t, span),
            latency: new_series_histogram(),
        }
    }

    fn add(&mut self, b: &SecondBucket) {
        self.point.add_counts(b);
        let _ = self.latency.add(&b.latency);
    }

    /// The finished point, histogram encoded.
    fn close(mut self) -> SeriesPoint {
        self.point.set_latency(&self.latency, true);
        self.point
    }
}

/// Merges buckets from every worker and the sampled gauges into the run's series, in bounded memory (see the module doc).
pub struct SeriesCollector {
    /// Buckets of seconds not folded yet, merged across workers.
    open: BTreeMap<u64, SecondBucket>,
    /// Gauges (in flight, open connections) sampled for seconds not folded yet.
    gauges: BTreeMap<u64, (u64, u64)>,
    /// Every second before this one has been folded.
    folded_until: u64,
    /// The latest second seen in a bucket or a sample.
    clock: Option<u64>,
    /// Closed points, contiguous from t = 0, each `span` long.
    points: Vec<SeriesPoint>,
    /// The point after the closed ones.
    filling: Filling,
    /// Seconds per point.
    span: u64,
    /// Most points the series may hold.
    limit: usize,
}

impl Default for SeriesCollector {
    fn default() -> Self {
        SeriesCollector::with_limit(POINT_LIMIT)
    }
}

impl SeriesCollector {
    /// A collector that keeps at most `limit` points (at least 2).
    pub fn with_limit(limit: usize) -> SeriesCollector {
        SeriesCollector {
            open: BTreeMap::new(),
            gauges: BTreeMap::new(),
            folded_until: 0,
            clock: None,
            points: Vec::new(),
            filling: Filling::new(0, 1),
            span: 1,
            limit: limit.max(2),
        }
    }

    /// Adds one worker's bucket.
    pub fn add(&mut self, bucket: SecondBucket) {
        let second = bucket.second;
        if second < self.folded_until {
            self.add_late(bucket);
        } else {
            match self.open.get_mut(&second) {
                Some(existing) => existing.merge(&bucket),
                None => {
                    self.open.insert(second, bucket);
                }
            }
        }
        self.advance(second);
    }

    /// Records the in-flight and open-connection gauges sampled at the end of `second`.
    pub fn sample(&mut self, second: u64, in_flight: u64, open_connections: u64) {
        if second < self.folded_until {
            if let Some(p) = self.point_mut(second) {
                (p.in_flight, p.open_connections) = (in_flight, open_connections);
            }
        } else {
            self.gauges.insert(second, (in_flight, open_connections));
        }
        self.advance(second);
    }

    /// The latest one-second point before `second` that is still open, for live progress.
    pub fn latest_before(&self, second: u64) -> Option<SeriesPoint> {
        let (t, b) = self.open.range(..second).next_back()?;
        let mut p = SeriesPoint::empty(*t, 1);
        p.add_counts(b);
        p.set_latency(&b.latency, false);
        if let Some((in_flight, open)) = self.gauges.get(t) {
            (p.in_flight, p.open_connections) = (*in_flight, *open);
        }
        Some(p)
    }

    /// Every span from 0 to the last second seen, gaps filled with zero points.
    pub fn finish(mut self) -> Vec<SeriesPoint> {
        let Some(last) = self.clock else {
            return Vec::new();
        };
        while self.folded_until <= last {
            self.fold_next();
        }
        let filling = std::mem::replace(&mut self.filling, Filling::new(0, 1));
        self.points.push(filling.close());
        self.points
    }

    /// Seconds per point right now.
    pub fn span(&self) -> u64 {
        self.span
    }

    /// Dense histograms held right now: open seconds and the point being filled.
    pub fn live_histograms(&self) -> usize {
        self.open.len() + 1
    }

    /// Closed points held right now.
    pub fn closed_points(&self) -> usize {
        self.points.len()
    }

    fn advance(&mut self, second: u64) {
        let clock = self.clock.map_or(second, |c| c.max(second));
        self.clock = Some(clock);
        while self.folded_until + FOLD_LAG <= clock {
            self.fold_next();
        }
    }

    /// Folds second `folded_until` (with or without data) into its point.
    fn fold_next(&mut self) {
        let s = self.folded_until;
        while s >= self.filling.point.end() {
            self.close_filling();
        }
        if let Some(bucket) = self.open.remove(&s) {
            self.filling.add(&bucket);
        }
        if let Some((in_flight, open)) = self.gauges.remove(&s) {
            let p = &mut self.filling.point;
            (p.in_flight, p.open_connections) = (in_flight, open);
        }
        self.folded_until = s + 1;
    }

    /// A bucket for a second already folded: added to the point that covers it.
    fn add_late(&mut self, bucket: SecondBucket) {
        if bucket.second >= self.filling.point.t {
            self.filling.add(&bucket);
            return;
        }
        let Some(p) = self.point_mut(bucket.second) else {
            return;
        };
        p.add_counts(&bucket);
        let mut h = p
            .latency()
            .and_then(Result::ok)
            .unwrap_or_else(new_series_histogram);
        let _ = h.add(&bucket.latency);
        p.set_latency(&h, true);
    }

    /// The closed point covering `second`.
    fn point_mut(&mut self, second: u64) -> Option<&mut SeriesPoint> {
        if second >= self.filling.point.t {
            return Some(&mut self.filling.point);
        }
        self.points.get_mut((second / self.span) as usize)
    }

    fn close_filling(&mut self) {
        let next = Filling::new(self.filling.point.end(), self.span);
        let done = std::mem::replace(&mut self.filling, next);
        self.points.push(done.close());
        while self.points.len() + 1 > self.limit {
            self.coarsen();
        }
    }

    /// Moves to the next span of the ladder, merging consecutive points exactly.
    fn coarsen(&mut self) {
        let span = next_span(self.span);
        let filling_start = self.filling.point.t / span * span;
        let mut merged: Vec<SeriesPoint> = Vec::with_capacity(self.points.len() / 2 + 1);
        let mut group: Option<(SeriesPoint, Histogram<u64>)> = None;
        let mut into_filling = Vec::new();
        for p in std::mem::take(&mut self.points) {
            if p.t >= filling_start {
                into_filling.push(p);
                continue;
            }
            let start = p.t / span * span;
            if group.as_ref().is_some_and(|(g, _)| g.t != start) {
                let (mut g, h) = group.take().expect("checked above");
                g.set_latency(&h, true);
                merged.push(g);
            }
            let (g, h) = group
                .get_or_insert_with(|| (SeriesPoint::empty(start, span), new_series_histogram()));
            add_point(g, h, &p);
        }
        if let Some((mut g, h)) = group {
            g.set_latency(&h, true);
            merged.push(g);
        }
        // Called right after a point closed, so the point being filled is still empty; the
        // closed points that share its new span join it instead.
        debug_assert_eq!(self.filling.point.completed, 0);
        self.filling = Filling::new(filling_start, span);
        for p in &into_filling {
            add_point(&mut self.filling.point, &mut self.filling.latency, p);
        }
        self.points = merged;
        self.span = span;
    }
}

/// Adds point `p` (counts, gauges and histogram) into an accumulating point and its histogram.
fn add_point(into: &mut SeriesPoint, h: &mut Histogram<u64>, p: &SeriesPoint) {
    into.add_counts_of(p);
    if let Some(Ok(ph)) = p.latency() {
        let _ = h.add(&ph);
    }
}

#[cfg(test)]
mod tests;
