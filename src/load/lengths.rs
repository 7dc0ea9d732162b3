//! Token-length distributions (`input_tokens`, `output_tokens`): their scenario form, their checks and sampling.

use rand::Rng;
use rand_distr::{Distribution, LogNormal, Normal};
use serde::{Deserialize, Serialize};

/// Default lower bound of a sampled length: a request has at least one token.
const MIN_LENGTH: u32 = 1;

/// Default upper bound of a normal or lognormal length.
const MAX_LENGTH: u32 = 131_072;

/// Draws before a truncated distribution gives up and clamps (only when the bounds cut off
/// nearly all of it).
const REDRAWS: usize = 64;

/// A distribution of token counts, an inline table tagged by `dist`: `{ dist = "fixed", value = 256 }`,
/// `{ dist = "uniform", min = 64, max = 512 }` (inclusive), `{ dist = "normal", mean = 512, stdev = 128,
/// min = 16, max = 4096 }` (rounded; draws outside `min`..`max`, default 1..131072, are drawn again),
/// `{ dist = "lognormal", mean = 300, stdev = 200 }` (`mean` and `stdev` of the lengths themselves:
/// σ² = ln(1 + stdev²/mean²), μ = ln(mean) − σ²/2; bounds as for normal) or
/// `{ dist = "empirical", values = [128, 512, 2048], weights = [5, 3, 1] }` (weights optional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "dist", rename_all = "snake_case", deny_unknown_fields)]
pub enum LengthSpec {
    /// Always `value` tokens.
    Fixed {
        /// The length.
        value: u32,
    },
    /// Uniform over `min..=max`.
    Uniform {
        /// Smallest length.
        min: u32,
        /// Largest length.
        max: u32,
    },
    /// Normal with `mean` and `stdev`, rounded, redrawn outside `min..=max` (a truncated normal).
    Normal {
        /// Mean length.
        mean: f64,
        /// Standard deviation (≥ 0).
        stdev: f64,
        /// Smallest length (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<u32>,
        /// Largest length (default 131072).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<u32>,
    },
    /// Lognormal whose lengths have this `mean` and `stdev` (not the log's: μ and σ are derived
    /// as σ² = ln(1 + stdev²/mean²), μ = ln(mean) − σ²/2), rounded, redrawn outside `min..=max`.
    Lognormal {
        /// Mean length (> 0).
        mean: f64,
        /// Standard deviation of the lengths (≥ 0).
        stdev: f64,
        /// Smallest length (default 1).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min: Option<u32>,
        /// Largest length (default 131072).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max: Option<u32>,
    },
    /// One of `values`, picked with `weights` (default: equally likely).
    Empirical {
        /// The lengths.
        values: Vec<u32>,
        /// Relative weights, one per value.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        weights: Vec<f64>,
    },
}

impl LengthSpec {
    /// What is wrong with the spec, if anything: (field, message).
    pub fn problem(&self) -> Option<(&'static str, String)> {
        let bounds = |min: Option<u32>, max: Option<u32>| {
            let (lo, hi) = (min.unwrap_or(MIN_LENGTH), max.unwrap_or(MAX_LENGTH));
            if lo == 0 {
                Some(("min", "`min` must be at least 1 token".to_string()))
            } else if lo > hi {
                Some(("min", format!("`min` ({lo}) is above `max` ({hi})")))
            } else {
                None
            }
        };
        let moments = |mean: f64, stdev: f64, positive: bool| {
            if !stdev.is_finite() || stdev < 0.0 {
                Some(("stdev", format!("`stdev` must be ≥ 0, not {stdev}")))
            } else if !mean.is_finite() || mean < 0.0 || (positive && mean == 0.0) {
                let want = if positive { "> 0" } else { "≥ 0" };
                Some(("mean", format!("`mean` must be {want}, not {mean}")))
            } else {
                None
            }
        };
        match self {
            LengthSpec::Fixed { value: 0 } => {
                Some(("value", "`value` must be at least 1 token".into()))
            }
            LengthSpec::Fixed { .. } => None,
            LengthSpec::Uniform { min, max } => bounds(Some(*min), Some(*max)),
            LengthSpec::Normal {
                mean,
                stdev,
                min,
                max,
            } => moments(*mean, *stdev, false).or_else(|| bounds(*min, *max)),
            LengthSpec::Lognormal {
                mean,
                stdev,
                min,
                max,
            } => moments(*mean, *stdev, true).or_else(|| bounds(*min, *max)),
            LengthSpec::Empirical { values, weights } => {
                if values.is_empty() {
                    Some(("values", "`values` needs at least one length".into()))
                } else if values.contains(&0) {
                    Some(("values", "every length must be at least 1 token".into()))
                } else if !weights.is_empty() && weights.len() != values.len() {
                    Some((
                        "weights",
                        format!(
                            "{} weights for {} values: give one weight per value",
                            weights.len(),
                            values.len()
                        ),
                    ))
                } else if weights.iter().any(|w| !w.is_finite() || *w < 0.0)
                    || (!weights.is_empty() && weights.iter().sum::<f64>() <= 0.0)
                {
                    Some(("weights", "weights must be ≥ 0 and not all 0".to_string()))
                } else {
                    None
                }
            }
        }
    }

    /// Draws one length. The spec must have passed [`LengthSpec::problem`].
    pub fn sample<R: Rng>(&self, rng: &mut R) -> u32 {
        match self {
            LengthSpec::Fixed { value } => *value,
            LengthSpec::Uniform { min, max } => rng.gen_range(*min..=*max),
            LengthSpec::Normal {
                mean,
                stdev,
                min,
                max,
            } => {
                let normal = Normal::new(*mean, *stdev).unwrap_or(Normal::new(0.0, 0.0).unwrap());
                truncated(|r| normal.sample(r), *min, *max, rng)
            }
            LengthSpec::Lognormal {
                mean,
                stdev,
                min,
                max,
            } => {
                let (mu, sigma) = lognormal_parameters(*mean, *stdev);
                let lognormal =
                    LogNormal::new(mu, sigma).unwrap_or(LogNormal::new(0.0, 0.0).unwrap());
                truncated(|r| lognormal.sample(r), *min, *max, rng)
            }
            LengthSpec::Empirical { values, weights } => {
                if weights.is_empty() {
                    return values[rng.gen_range(0..values.len())];
                }
                let total: f64 = weights.iter().sum();
                let mut roll = rng.gen_range(0.0..total);
                for (value, weight) in values.iter().zip(weights) {
                    if roll < *weight {
                        return *value;
                    }
                    roll -= weight;
                }
                values[values.len() - 1]
            }
        }
    }
}

/// μ and σ of the underlying normal for lengths with this mean and standard deviation.
pub fn lognormal_parameters(mean: f64, stdev: f64) -> (f64, f64) {
    let variance = (1.0 + (stdev / mean).powi(2)).ln();
    (mean.ln() - variance / 2.0, variance.sqrt())
}

/// A draw of `draw`, rounded, redrawn until it falls in `min..=max` (then clamped, should the
/// bounds hold almost none of the distribution).
fn truncated<R: Rng>(
    mut draw: impl FnMut(&mut R) -> f64,
    min: Option<u32>,
    max: Option<u32>,
    rng: &mut R,
) -> u32 {
    let (lo, hi) = (min.unwrap_or(MIN_LENGTH), max.unwrap_or(MAX_LENGTH));
    let mut value = 0.0;
    for _ in 0..REDRAWS {
        value = draw(rng).round();
        if value >= f64::from(lo) && value <= f64::from(hi) {
            return value as u32;
        }
    }
    value.clamp(f64::from(lo), f64::from(hi)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, SeedableRng};
    use statrs::distribution::{ContinuousCDF, LogNormal as LogNormalCdf, Normal as NormalCdf};

    fn draws(spec: &LengthSpec, n: usize) -> Vec<u32> {
        let mut rng = SmallRng::seed_from_u64(42);
        let mut v: Vec<u32> = (0..n).map(|_| spec.sample(&mut rng)).collect();
        v.sort_unstable();
        v
    }

    /// The Kolmogorov–Smirnov distance between sorted integer draws and a continuous CDF,
    /// each draw standing for the interval it was rounded from.
    fn ks(sorted: &[u32], cdf: impl Fn(f64) -> f64) -> f64 {
        let n = sorted.len() as f64;
        let mut d: f64 = 0.0;
        for (i, x) in sorted.iter().enumerate() {
            let f = cdf(f64::from(*x) + 0.5);
            d = d.max((f - (i + 1) as f64 / n).abs());
            let below = cdf(f64::from(*x) - 0.5);
            d = d.max((below - i as f64 / n).abs());
        }
        d
    }

    /// The KS critical value at α = 0.001 for `n` draws; the seed is fixed, so the test
    /// cannot flake, and a wrong parametrisation lands far beyond it.
    fn critical(n: usize) -> f64 {
        1.95 / (n as f64).sqrt()
    }

    #[test]
    fn normal_and_lognormal_lengths_follow_their_distribution() {
        let n = 4000;
        let normal = LengthSpec::Normal {
            mean: 512.0,
            stdev: 128.0,
            min: None,
            max: None,
        };
        let cdf = NormalCdf::new(512.0, 128.0).unwrap();
        let d = ks(&draws(&normal, n), |x| cdf.cdf(x));
        assert!(d < critical(n), "normal: KS distance {d}");
        let shifted = NormalCdf::new(540.0, 128.0).unwrap();
        assert!(
            ks(&draws(&normal, n), |x| shifted.cdf(x)) > critical(n),
            "the test tells a 5 % shift of the mean apart"
        );

        let lognormal = LengthSpec::Lognormal {
            mean: 300.0,
            stdev: 200.0,
            min: None,
            max: None,
        };
        let (mu, sigma) = lognormal_parameters(300.0, 200.0);
        let cdf = LogNormalCdf::new(mu, sigma).unwrap();
        let sample = draws(&lognormal, n);
        let d = ks(&sample, |x| cdf.cdf(x.max(1e-9)));
        assert!(d < critical(n), "lognormal: KS distance {d}");
        let mean = sample.iter().map(|x| f64::from(*x)).sum::<f64>() / n as f64;
        assert!(
            (mean - 300.0).abs() < 15.0,
            "the lengths' mean is `mean`: {mean}"
        );
    }

    #[test]
    fn bounds_hold_and_simple_forms_draw_what_they_say() {
        let truncated = LengthSpec::Normal {
            mean: 512.0,
            stdev: 512.0,
            min: Some(16),
            max: Some(1024),
        };
        let v = draws(&truncated, 2000);
        assert!(v[0] >= 16 && v[v.len() - 1] <= 1024);
        assert_eq!(draws(&LengthSpec::Fixed { value: 7 }, 50), vec![7; 50]);
        let uniform = draws(&LengthSpec::Uniform { min: 10, max: 20 }, 2000);
        assert_eq!((uniform[0], uniform[uniform.len() - 1]), (10, 20));
        let quarter = uniform.iter().filter(|x| **x <= 12).count();
        assert!((450..650).contains(&quarter), "3 of 11 values: {quarter}");
        let empirical = LengthSpec::Empirical {
            values: vec![100, 200],
            weights: vec![3.0, 1.0],
        };
        let v = draws(&empirical, 4000);
        let small = v.iter().filter(|x| **x == 100).count();
        assert!(
            (2850..3150).contains(&small),
            "weights 3:1 → {small} of 4000"
        );
        assert!(v.iter().all(|x| *x == 100 || *x == 200));
    }

    #[test]
    fn bad_specs_name_their_field() {
        let bad = [
            (LengthSpec::Uniform { min: 9, max: 3 }, "min"),
            (
                LengthSpec::Normal {
                    mean: 10.0,
                    stdev: -1.0,
                    min: None,
                    max: None,
                },
                "stdev",
            ),
            (
                LengthSpec::Lognormal {
                    mean: 0.0,
                    stdev: 1.0,
                    min: None,
                    max: None,
                },
                "mean",
            ),
            (LengthSpec::Fixed { value: 0 }, "value"),
            (
                LengthSpec::Empirical {
                    values: vec![1, 2],
                    weights: vec![1.0],
                },
                "weights",
            ),
            (
                LengthSpec::Empirical {
                    values: vec![],
                    weights: vec![],
                },
                "values",
            ),
        ];
        for (spec, field) in bad {
            assert_eq!(spec.problem().map(|p| p.0), Some(field), "{spec:?}");
        }
    }
}
