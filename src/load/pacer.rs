//! Pacing for the open models: when each request is due, as offsets from the start, behind one trait.
//!
//! Arrivals are absolute offsets (not "sleep 1/rate after the last one"), so a late
//! dispatcher never shifts the schedule: latency is measured from these intended times.

use rand_distr::{Distribution, Exp};
use std::time::Duration;

/// A schedule of arrivals.
pub trait Pacer: Send {
    /// Offset of the next arrival from the start of load, or `None` when the schedule is over.
    fn next_arrival(&mut self, rng: &mut dyn rand::RngCore) -> Option<Duration>;
    /// The mean target rate (req/s) over the schedule, for reports.
    fn mean_rate(&self) -> f64;
}

/// One stage of a ramp: the rate moves linearly from the previous stage's rate to `rate` over `duration`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stage {
    /// Rate at the end of the stage (req/s).
    pub rate: f64,
    /// Length of the stage.
    pub duration: Duration,
}

/// Piecewise-linear rate (constant rate is one flat stage); arrivals evenly spaced or Poisson.
pub struct RatePacer {
    /// (start offset, end offset, rate at start, rate at end) per stage, seconds.
    segments: Vec<(f64, f64, f64, f64)>,
    /// Cumulative expected arrivals at each segment start.
    cumulative: Vec<f64>,
    /// Position of the next arrival in expected-arrival units.
    position: f64,
    poisson: bool,
    end: f64,
}

impl RatePacer {
    /// Constant rate for `duration` (or forever when `None`).
    pub fn constant(rate: f64, duration: Option<Duration>, poisson: bool) -> RatePacer {
        let d = duration.map(|d| d.as_secs_f64()).unwrap_or(f64::INFINITY);
        RatePacer::from_segments(vec![(0.0, d, rate, rate)], poisson)
    }

    /// Ramping stages starting from `start_rate`.
    pub fn stages(start_rate: f64, stages: &[Stage], poisson: bool) -> RatePacer {
        let mut segments = Vec::new();
        let (mut t, mut r) = (0.0, start_rate);
        for s in stages {
            let d = s.duration.as_secs_f64();
            segments.push((t, t + d, r, s.rate));
            t += d;
            r = s.rate;
        }
        RatePacer::from_segments(segments, poisson)
    }

    fn from_segments(segments: Vec<(f64, f64, f64, f64)>, poisson: bool) -> RatePacer {
        let mut cumulative = Vec::with_capacity(segments.len());
        let mut total = 0.0;
        for (a, b, r0, r1) in &segments {
            cumulative.push(total);
            if b.is_finite() {
                total += (b - a) * (r0 + r1) / 2.0;
            }
        }
        let end = segments.last().map(|s| s.1).unwrap_or(0.0);
        RatePacer {
            segments,
            cumulative,
            position: 0.0,
            poisson,
            end,
        }
    }

    /// The time at which the expected arrival count reaches `n` (inverse of the integrated rate).
    fn time_of(&self, n: f64) -> Option<f64> {
        for (i, (a, b, r0, r1)) in self.segments.iter().enumerate() {
            let before = self.cumulative[i];
            let d = b - a;
            let in_segment = if d.is_finite() {
                d * (r0 + r1) / 2.0
            } else {
                f64::INFINITY
            };
            if n > before + in_segment {
                continue;
            }
            let k = n - before;
            // Solve r0·x + (r1 − r0)/(2d)·x² = k for x in [0, d].
            let slope = if d.is_finite() && d > 0.0 {
                (r1 - r0) / d
            } else {
                0.0
            };
            let x = if slope.abs() < 1e-12 {
                if *r0 <= 0.0 {
                    continue;
                }
                k / r0
            } else {
                let disc = r0 * r0 + 2.0 * slope * k;
                (-r0 + disc.max(0.0).sqrt()) / slope
            };
            return Some(a + x.clamp(0.0, if d.is_finite() { d } else { f64::INFINITY }));
        }
        None
    }
}

impl Pacer for RatePacer {
    fn next_arrival(&mut self, rng: &mut dyn rand::RngCore) -> Option<Duration> {
        // Evenly spaced: arrival k is where the integrated rate reaches k. Poisson: unit-rate
        // exponential steps in that same "expected arrivals" space give a non-homogeneous
        // Poisson process that follows the stage rates.
        let n = if self.poisson {
            self.position += Exp::new(1.0).expect("rate 1 is valid").sample(rng);
            self.position
        } else {
            let n = self.position;
            self.position += 1.0;
            n
        };
        let t = self.time_of(n)?;
        if t >= self.end {
            return None;
        }
        Some(Duration::from_secs_f64(t))
    }

    fn mean_rate(&self) -> f64 {
        let total: f64 = self
            .segments
            .iter()
            .filter(|s| s.1.is_finite())
            .map(|(a, b, r0, r1)| (b - a) * (r0 + r1) / 2.0)
            .sum();
        if self.end.is_finite() && self.end > 0.0 {
            total / self.end
        } else {
            self.segments.first().map(|s| s.2).unwrap_or(0.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{rngs::SmallRng, SeedableRng};

    fn all(p: &mut dyn Pacer) -> Vec<f64> {
        let mut rng = SmallRng::seed_from_u64(1);
        std::iter::from_fn(|| p.next_arrival(&mut rng))
            .map(|d| d.as_secs_f64())
            .collect()
    }

    #[test]
    fn constant_rate_is_evenly_spaced_and_exact() {
        let times = all(&mut RatePacer::constant(
            100.0,
            Some(Duration::from_secs(2)),
            false,
        ));
        assert_eq!(times.len(), 200);
        assert!((times[1] - times[0] - 0.01).abs() < 1e-9);
        assert!(times[0] == 0.0 && *times.last().unwrap() < 2.0);
    }

    #[test]
    fn poisson_has_the_right_mean_rate() {
        let times = all(&mut RatePacer::constant(
            1000.0,
            Some(Duration::from_secs(10)),
            true,
        ));
        let n = times.len() as f64;
        assert!(
            (n - 10_000.0).abs() < 400.0,
            "{n} arrivals, expected about 10000"
        );
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn ramp_integrates_the_rate() {
        // 0 → 100 req/s over 10 s then 100 for 5 s: 500 + 500 arrivals.
        let stages = [
            Stage {
                rate: 100.0,
                duration: Duration::from_secs(10),
            },
            Stage {
                rate: 100.0,
                duration: Duration::from_secs(5),
            },
        ];
        let mut pacer = RatePacer::stages(0.0, &stages, false);
        assert!((pacer.mean_rate() - 1000.0 / 15.0).abs() < 1e-9);
        let times = all(&mut pacer);
        assert!((times.len() as i64 - 1000).abs() <= 1, "{}", times.len());
        let first_half = times.iter().filter(|t| **t < 5.0).count();
        assert!(
            (first_half as i64 - 125).abs() <= 2,
            "ramp 0→50 over 5 s gives 125, got {first_half}"
        );
    }
}
