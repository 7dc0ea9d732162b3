//! The statistics behind noise-aware comparison: Student's t (exact quantiles from `statrs`), Welch's interval, proportions, and the per-request bootstrap of a percentile used where a run has no blocks.
//!
//! Latency percentiles and means are normally judged by the block bootstrap of
//! [`super::blocks`]; this module holds what it and the other metrics build on.
//!
//! **Per-request bootstrap (the fallback).** Resampling n values with replacement from a
//! histogram and taking the k-th smallest (k = ⌈q·n⌉) is the same as evaluating the
//! histogram's inverse CDF at the k-th smallest of n uniforms, which is Beta(k, n+1−k)-
//! distributed, so a replicate costs one Beta draw and one binary search. It treats requests
//! as independent, so it is too sure of itself when noise comes in bursts; `compare` uses it
//! only for runs too short for blocks (and for histograms other than latency), widened by a
//! batch-means interval over the per-second percentiles, and says so in a note.

use hdrhistogram::Histogram;
use rand::{rngs::SmallRng, SeedableRng};
use rand_distr::{Beta, Distribution};
use statrs::distribution::{ContinuousCDF, Normal, StudentsT};

/// Bootstrap replicates per compared percentile.
pub const REPLICATES: usize = 2000;

/// Fixed seed: the same two files always give the same verdict.
pub const SEED: u64 = 0x6A7E_5EED;

/// Two-sided confidence level of every interval.
pub const CONFIDENCE: f64 = 0.99;

/// A histogram as a cumulative table for fast inverse-CDF look-ups.
pub struct Cdf {
    /// (highest equivalent value, cumulative count) per recorded bucket, ascending.
    steps: Vec<(u64, u64)>,
    /// Total count.
    n: u64,
}

impl Cdf {
    /// Builds the table; `None` for an empty histogram.
    pub fn new(h: &Histogram<u64>) -> Option<Cdf> {
        let mut steps = Vec::new();
        let mut total = 0;
        for v in h.iter_recorded() {
            total += v.count_at_value();
            steps.push((h.highest_equivalent(v.value_iterated_to()), total));
        }
        (total > 0).then_some(Cdf { steps, n: total })
    }

    /// Samples recorded.
    pub fn len(&self) -> u64 {
        self.n
    }

    /// Whether nothing was recorded (never true for a built table).
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The value below which a fraction `u` of samples lie.
    pub fn inverse(&self, u: f64) -> u64 {
        let rank = ((u * self.n as f64).ceil() as u64).clamp(1, self.n);
        let i = self.steps.partition_point(|(_, cum)| *cum < rank);
        self.steps[i.min(self.steps.len() - 1)].0
    }

    /// One bootstrap replicate of the `q` quantile (see the module doc).
    fn replicate(&self, beta: &Beta<f64>, rng: &mut SmallRng) -> u64 {
        self.inverse(beta.sample(rng))
    }

    /// Beta(k, n+1−k) for the `q` quantile; `None` when n is too small to parameterize it.
    fn order_statistic(&self, q: f64) -> Option<Beta<f64>> {
        let k = ((q * self.n as f64).ceil()).clamp(1.0, self.n as f64);
        Beta::new(k, self.n as f64 + 1.0 - k).ok()
    }
}

/// A confidence interval for `current − baseline`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Interval {
    /// Lower bound.
    pub low: f64,
    /// Upper bound.
    pub high: f64,
}

impl Interval {
    /// Whether zero lies outside the interval (the change is significant).
    pub fn excludes_zero(&self) -> bool {
        self.low > 0.0 || self.high < 0.0
    }
}

/// Bootstrap CI of the difference of the `q` quantiles (current − baseline), in the histograms' unit.
pub fn quantile_difference(baseline: &Cdf, current: &Cdf, q: f64) -> Option<Interval> {
    let (bb, bc) = (baseline.order_statistic(q)?, current.order_statistic(q)?);
    let mut rng = SmallRng::seed_from_u64(SEED);
    let mut diffs: Vec<f64> = (0..REPLICATES)
        .map(|_| current.replicate(&bc, &mut rng) as f64 - baseline.replicate(&bb, &mut rng) as f64)
        .collect();
    diffs.sort_by(f64::total_cmp);
    let tail = (1.0 - CONFIDENCE) / 2.0;
    let at = |p: f64| diffs[((p * REPLICATES as f64) as usize).min(REPLICATES - 1)];
    Some(Interval {
        low: at(tail),
        high: at(1.0 - tail),
    })
}

/// Per-request bootstrap CI of one histogram's `q` quantile (the fallback where a run has too few blocks).
pub fn quantile_interval(cdf: &Cdf, q: f64) -> Option<Interval> {
    let beta = cdf.order_statistic(q)?;
    let mut rng = SmallRng::seed_from_u64(SEED);
    let mut reps: Vec<f64> = (0..REPLICATES)
        .map(|_| cdf.replicate(&beta, &mut rng) as f64)
        .collect();
    reps.sort_by(f64::total_cmp);
    let tail = (1.0 - CONFIDENCE) / 2.0;
    let at = |p: f64| reps[((p * REPLICATES as f64) as usize).min(REPLICATES - 1)];
    Some(Interval {
        low: at(tail),
        high: at(1.0 - tail),
    })
}

/// The two-sided `CONFIDENCE` quantile of Student's t with `df` degrees of freedom (the normal's for huge or infinite `df`), exact from `statrs`.
pub fn t_quantile(df: f64) -> f64 {
    let p = 1.0 - (1.0 - CONFIDENCE) / 2.0;
    let normal = || {
        Normal::new(0.0, 1.0)
            .map(|n| n.inverse_cdf(p))
            .unwrap_or(2.5758)
    };
    if !df.is_finite() || df > 1e7 {
        return normal();
    }
    // Fewer than one degree of freedom only arises from degenerate inputs; one is the most cautious real value.
    StudentsT::new(0.0, 1.0, df.max(1.0))
        .map(|t| t.inverse_cdf(p))
        .unwrap_or_else(|_| normal())
}

/// Normal-approximation CI of a difference of means, from each side's mean, standard deviation and count.
pub fn mean_difference(
    (m1, s1, n1): (f64, f64, f64),
    (m2, s2, n2): (f64, f64, f64),
) -> Option<Interval> {
    if n1 < 2.0 || n2 < 2.0 {
        return None;
    }
    let se = (s1 * s1 / n1 + s2 * s2 / n2).sqrt();
    let z = t_quantile(f64::INFINITY);
    let d = m2 - m1;
    Some(Interval {
        low: d - z * se,
        high: d + z * se,
    })
}

/// Welch's CI of a difference of means (Student's t, Welch–Satterthwaite degrees of freedom).
pub fn welch_difference(
    (m1, s1, n1): (f64, f64, f64),
    (m2, s2, n2): (f64, f64, f64),
) -> Option<Interval> {
    if n1 < 2.0 || n2 < 2.0 {
        return None;
    }
    let (v1, v2) = (s1 * s1 / n1, s2 * s2 / n2);
    Some(t_interval(m2 - m1, (v1, n1 - 1.0), (v2, n2 - 1.0)))
}

/// `d ± t·se` for a difference whose two sides have variance estimates `v` on `df` degrees of
/// freedom each; the interval's degrees of freedom are Welch–Satterthwaite's.
pub fn t_interval(d: f64, (v1, df1): (f64, f64), (v2, df2): (f64, f64)) -> Interval {
    let se = (v1 + v2).sqrt();
    let df = if se == 0.0 {
        f64::INFINITY
    } else {
        (v1 + v2).powi(2) / (v1 * v1 / df1.max(1.0) + v2 * v2 / df2.max(1.0))
    };
    let t = t_quantile(df);
    Interval {
        low: d - t * se,
        high: d + t * se,
    }
}

impl Interval {
    /// The wider of two intervals (covering both).
    pub fn union(self, other: Interval) -> Interval {
        Interval {
            low: self.low.min(other.low),
            high: self.high.max(other.high),
        }
    }
}

/// CI of a difference of proportions (current − baseline): `x` events out of `n` trials each side.
///
/// Uses the unpooled standard error with one pseudo-event added per side (Agresti–Caffo), so
/// that zero events on both sides still gives a usable, non-degenerate interval.
pub fn proportion_difference((x1, n1): (u64, u64), (x2, n2): (u64, u64)) -> Option<Interval> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let p = |x: u64, n: u64| (x as f64 + 1.0) / (n as f64 + 2.0);
    let (p1, p2) = (p(x1, n1), p(x2, n2));
    let se = (p1 * (1.0 - p1) / (n1 as f64 + 2.0) + p2 * (1.0 - p2) / (n2 as f64 + 2.0)).sqrt();
    let d = p2 - p1;
    let z = t_quantile(f64::INFINITY);
    Some(Interval {
        low: d - z * se,
        high: d + z * se,
    })
}

/// Wald CI of one proportion, `x` events out of `n`. Unlike [`proportion_difference`] it adds no
/// pseudo-events: zero events is a clear zero here, because a single run can never show a
/// rate below about 1/n and repeating it would not either (the search uses it to decide
/// whether a probe is worth repeating).
pub fn proportion_interval(x: u64, n: u64) -> Option<Interval> {
    if n == 0 {
        return None;
    }
    let p = x as f64 / n as f64;
    let se = (p * (1.0 - p) / n as f64).sqrt();
    let z = t_quantile(f64::INFINITY);
    Some(Interval {
        low: p - z * se,
        high: p + z * se,
    })
}

/// Mean, standard deviation and count of a sample.
pub fn moments(values: &[f64]) -> (f64, f64, f64) {
    let n = values.len() as f64;
    if n == 0.0 {
        return (0.0, 0.0, 0.0);
    }
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt(), n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::{new_histogram, record_clamped};

    fn hist(values: impl IntoIterator<Item = u64>) -> Histogram<u64> {
        let mut h = new_histogram();
        for v in values {
            record_clamped(&mut h, v);
        }
        h
    }

    #[test]
    fn inverse_cdf_matches_hdr_quantiles() {
        let h = hist((1..=10_000).map(|i| i * 7));
        let cdf = Cdf::new(&h).unwrap();
        for q in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(cdf.inverse(q), h.value_at_quantile(q), "q = {q}");
        }
    }

    #[test]
    fn identical_samples_give_an_interval_around_zero() {
        let h = hist((0..5_000).map(|i| 20_000 + (i * 37) % 3_000));
        let cdf = Cdf::new(&h).unwrap();
        let ci = quantile_difference(&cdf, &cdf, 0.99).unwrap();
        assert!(!ci.excludes_zero(), "{ci:?}");
        assert_eq!(Some(ci), quantile_difference(&cdf, &cdf, 0.99), "seeded");
    }

    #[test]
    fn doubled_latency_is_significant() {
        let base = hist((0..2_000).map(|i| 10_000 + (i * 37) % 2_000));
        let slow = hist((0..2_000).map(|i| 20_000 + (i * 37) % 4_000));
        let (b, c) = (Cdf::new(&base).unwrap(), Cdf::new(&slow).unwrap());
        let ci = quantile_difference(&b, &c, 0.5).unwrap();
        assert!(ci.low > 5_000.0, "{ci:?}");
    }

    #[test]
    fn t_quantiles_are_exact_for_any_degrees_of_freedom() {
        // Two-sided 99 %: t(0.995) from published tables, and the normal's 2.5758 in the limit.
        for (df, t) in [
            (1.0, 63.657),
            (5.0, 4.032),
            (30.0, 2.750),
            (31.0, 2.744),
            (60.0, 2.660),
            (120.0, 2.617),
        ] {
            assert!(
                (t_quantile(df) - t).abs() < 5e-4,
                "df {df}: {}",
                t_quantile(df)
            );
        }
        assert!((t_quantile(f64::INFINITY) - 2.5758).abs() < 1e-4);
        // Between tabulated values it moves smoothly (the old table jumped from t to z at 30).
        assert!(t_quantile(30.5) < t_quantile(30.0) && t_quantile(30.5) > t_quantile(31.0));
    }

    #[test]
    fn proportions() {
        assert!(!proportion_difference((0, 1000), (0, 1000))
            .unwrap()
            .excludes_zero());
        assert!(!proportion_difference((10, 1000), (14, 1000))
            .unwrap()
            .excludes_zero());
        assert!(proportion_difference((10, 1000), (100, 1000))
            .unwrap()
            .excludes_zero());
    }
}
