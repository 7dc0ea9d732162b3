//! HDR histograms as relaybench keeps them (µs, 3 significant digits) and their lossless text form (V2 compressed, base64).

use base64::Engine;
use hdrhistogram::{
    serialization::{Deserializer, Serializer, V2DeflateSerializer},
    Histogram,
};
use serde::{Deserialize, Serialize};

/// Highest value tracked: one hour in microseconds. Larger values are recorded as one hour,
/// and counted (`StoredHistogram::clamped`) so that a report can say so.
pub const MAX_TRACKABLE_US: u64 = 3_600_000_000;

/// A fresh histogram of microseconds, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_TRACKABLE_US, 3).expect("static histogram bounds are valid")
}

/// Records `value` (µs), clamped into the trackable range so nothing is ever dropped.
/// Returns true when the value was above the range (the caller counts it).
pub fn record_clamped<T: hdrhistogram::Counter>(h: &mut Histogram<T>, value: u64) -> bool {
    let v = value.clamp(1, MAX_TRACKABLE_US);
    // Cannot fail: the value is within bounds and counts are u64.
    let _ = h.record(v);
    value > MAX_TRACKABLE_US
}

/// Serializes with HdrHistogram's V2 + DEFLATE format, base64-encoded, as every HdrHistogram implementation reads it.
pub fn encode(h: &Histogram<u64>) -> String {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut bytes)
        .expect("serializing into memory cannot fail");
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Reads what [`encode`] wrote.
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("histogram is not base64: {e}"))?;
    Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("histogram is not a valid HdrHistogram V2 blob: {e:?}"))
}

/// The figures people read, in milliseconds (or the histogram's own unit divided by 1000).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Values recorded.
    pub count: u64,
    /// Smallest value.
    pub min: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Standard deviation.
    pub stdev: f64,
    /// Median.
    pub p50: f64,
    /// 75th percentile.
    pub p75: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest value.
    pub max: f64,
}

impl Summary {
    /// Summarizes a µs histogram in milliseconds.
    pub fn of_micros(h: &Histogram<u64>) -> Summary {
        Summary::scaled(h, 1000.0)
    }

    /// Summarizes a histogram, dividing every value by `divisor`.
    pub fn scaled(h: &Histogram<u64>, divisor: f64) -> Summary {
        if h.is_empty() {
            return Summary::default();
        }
        let q = |p: f64| h.value_at_quantile(p) as f64 / divisor;
        Summary {
            count: h.len(),
            min: h.min() as f64 / divisor,
            mean: h.mean() / divisor,
            stdev: h.stdev() / divisor,
            p50: q(0.50),
            p75: q(0.75),
            p90: q(0.90),
            p95: q(0.95),
            p99: q(0.99),
            p999: q(0.999),
            max: h.max() as f64 / divisor,
        }
    }
}

/// A histogram as stored in results.json: its summary for people and its lossless encoding for tools.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredHistogram {
    /// Unit of the summary figures (`ms`, or `tokens/s`).
    pub unit: String,
    /// Percentiles and moments.
    pub summary: Summary,
    /// HdrHistogram V2 compressed, base64; values in µs (or milli-tokens/s for rates).
    pub hdr: String,
    /// Values above the trackable range (1 h) that were recorded as 1 h (0 in files written before it was counted).
    #[serde(default)]
    pub clamped: u64,
}

impl StoredHistogram {
    /// Stores a µs histogram with a millisecond summary.
    pub fn micros(h: &Histogram<u64>) -> StoredHistogram {
        StoredHistogram {
            unit: "ms".into(),
            summary: Summary::of_micros(h),
            hdr: encode(h),
            clamped: 0,
        }
    }

    /// Stores the run histogram called `name`: timings in µs read as ms, the tokens/s rate
    /// (recorded in milli-tokens/s) read as tokens/s — both are the raw value / 1000.
    pub fn named(name: &str, h: &Histogram<u64>) -> StoredHistogram {
        let mut stored = StoredHistogram::micros(h);
        if name == super::recorder::TOKENS_PER_S {
            stored.unit = "tokens/s".into();
        }
        stored
    }

    /// Decodes the lossless histogram.
    pub fn histogram(&self) -> Result<Histogram<u64>, String> {
        decode(&self.hdr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_is_lossless() {
        let mut h = new_histogram();
        let mut clamped = 0;
        for v in [1, 20_000, 20_500, 21_000, 5_000_000, MAX_TRACKABLE_US * 2] {
            clamped += u64::from(record_clamped(&mut h, v));
        }
        assert_eq!(clamped, 1, "only the value above 1 h is counted as clamped");
        assert_eq!(h.max(), h.highest_equivalent(MAX_TRACKABLE_US));
        let back = decode(&encode(&h)).unwrap();
        assert_eq!(back, h);
        assert_eq!(back.max(), h.max());
        assert!(decode("not base64 !").is_err());
        assert!(decode("AAAA").is_err());
    }
}
