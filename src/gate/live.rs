//! `abort_on_fail`: watches the generator's one-second series while a run is going and says when a threshold is failing on enough data to stop early.
//!
//! The generator reports one `SeriesPoint` per second (counts by ok/timeout/error and the
//! second's p50/p90/p99/max latency), not the full histograms, so only what can be judged
//! from those points can abort:
//!
//! * `error_rate`, `timeout_rate` with `<`/`<=`: the cumulative rate over the finished
//!   requests since warm-up (like k6, "failing now", once `min_samples` requests finished).
//! * `pN`, `p(N)`, `max` of `latency` with `<`/`<=`: a *lower bound* on how many requests were
//!   slower than the limit (a second whose p99 is above the limit had at least 1 % of its
//!   requests above it, p90 → 10 %, p50 → 50 %, max → one). The run aborts when that lower
//!   bound alone already exceeds the percentile's allowance, so a run whose true percentile
//!   passes is never aborted.
//!
//! Everything else (other histograms, `rate(status=...)`, rps, tokens/s, cost, `>` limits) is
//! only checked at the end; the scenario check refuses `abort_on_fail` on those.

use super::threshold::{Metric, Op, Stat, ThresholdSpec};
use crate::load::Progress;

/// Whether `spec` can be judged live (see the module doc).
pub fn supports_abort(spec: &ThresholdSpec) -> bool {
    let upper = matches!(spec.check.op, Op::Lt | Op::Le);
    let metric = match &spec.check.metric {
        Metric::ErrorRate | Metric::TimeoutRate => true,
        Metric::Timing { stat, histogram } => {
            histogram == "latency" && matches!(stat, Stat::Percentile(_) | Stat::Max)
        }
        _ => false,
    };
    upper && metric
}

/// A decision to stop.
#[derive(Clone, Debug, PartialEq)]
pub struct Abort {
    /// Index of the threshold in the scenario.
    pub index: usize,
    /// Run that was stopped.
    pub run: String,
    /// What was seen, for people.
    pub reason: String,
}

/// Cumulative live figures of the current run.
#[derive(Default)]
struct Tally {
    run: String,
    last_t: Option<u64>,
    completed: u64,
    timeouts: u64,
    errors: u64,
    /// Per threshold: requests known to be above its limit (a lower bound).
    above: Vec<f64>,
}

/// Watches progress reports of successive runs against the `abort_on_fail` thresholds.
pub struct AbortWatch {
    specs: Vec<(usize, ThresholdSpec)>,
    warmup_secs: u64,
    tally: Tally,
}

impl AbortWatch {
    /// Watches the `abort_on_fail` thresholds of `specs`; seconds before `warmup` are ignored.
    pub fn new(specs: &[ThresholdSpec], warmup: std::time::Duration) -> AbortWatch {
        AbortWatch {
            specs: specs
                .iter()
                .enumerate()
                .filter(|(_, s)| s.abort_on_fail && supports_abort(s))
                .map(|(i, s)| (i, s.clone()))
                .collect(),
            // A second that straddles the end of warm-up is left out too.
            warmup_secs: warmup.as_secs_f64().ceil() as u64,
            tally: Tally::default(),
        }
    }

    /// Whether anything is watched at all.
    pub fn is_active(&self) -> bool {
        !self.specs.is_empty()
    }

    /// Takes one progress report of run `target/variant`; returns the abort decision, if any.
    pub fn observe(&mut self, target: &str, variant: &str, p: &Progress) -> Option<Abort> {
        let run = format!("{target}/{variant}");
        if self.tally.run != run {
            self.tally = Tally {
                run: run.clone(),
                above: vec![0.0; self.specs.len()],
                ..Tally::default()
            };
        }
        let point = p.last.as_ref()?;
        if self.tally.last_t.is_some_and(|t| point.t <= t) || point.t < self.warmup_secs {
            return None;
        }
        self.tally.last_t = Some(point.t);
        let t = &mut self.tally;
        t.completed += point.completed;
        t.timeouts += point.timeouts;
        t.errors += point.errors;
        for (k, (_, spec)) in self.specs.iter().enumerate() {
            let limit = spec.check.value;
            let over = |v: f64| match spec.check.op {
                Op::Le => v > limit,
                _ => v >= limit,
            };
            let n = point.completed as f64;
            let bound = [
                (point.p50_ms, 0.5),
                (point.p90_ms, 0.1),
                (point.p99_ms, 0.01),
            ]
            .iter()
            .filter(|(v, _)| over(*v))
            .map(|(_, share)| (share * n).floor())
            .fold(
                if over(point.max_ms) && n > 0.0 {
                    1.0
                } else {
                    0.0
                },
                f64::max,
            );
            t.above[k] += bound;
        }
        for (k, (index, spec)) in self.specs.iter().enumerate() {
            if t.completed < spec.min_samples.max(1) {
                continue;
            }
            let n = t.completed as f64;
            let failing = match &spec.check.metric {
                Metric::ErrorRate => {
                    let r = (t.errors + t.timeouts) as f64 / n;
                    (!spec.check.op.holds(r, spec.check.value)).then(|| {
                        format!(
                            "error rate {:.2}% after {} requests",
                            r * 100.0,
                            t.completed
                        )
                    })
                }
                Metric::TimeoutRate => {
                    let r = t.timeouts as f64 / n;
                    (!spec.check.op.holds(r, spec.check.value)).then(|| {
                        format!(
                            "timeout rate {:.2}% after {} requests",
                            r * 100.0,
                            t.completed
                        )
                    })
                }
                Metric::Timing { stat, .. } => {
                    let allowance = match stat {
                        Stat::Percentile(p) => n * (1.0 - p / 100.0),
                        _ => 0.0,
                    };
                    (t.above[k] > allowance).then(|| {
                        format!(
                            "at least {} of {} requests slower than {}ms",
                            t.above[k], t.completed, spec.check.value
                        )
                    })
                }
                _ => None,
            };
            if let Some(reason) = failing {
                return Some(Abort {
                    index: *index,
                    run,
                    reason,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SeriesPoint;

    fn spec(check: &str) -> ThresholdSpec {
        ThresholdSpec {
            check: check.parse().unwrap(),
            scope: Default::default(),
            abort_on_fail: true,
            min_samples: 100,
        }
    }

    fn progress(t: u64, completed: u64, errors: u64, p99_ms: f64) -> Progress {
        Progress {
            last: Some(SeriesPoint {
                t,
                completed,
                errors,
                p50_ms: 10.0,
                p90_ms: 12.0,
                p99_ms,
                max_ms: p99_ms * 2.0,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn aborts_on_error_rate_only_after_min_samples() {
        let mut w = AbortWatch::new(&[spec("error_rate < 5%")], std::time::Duration::ZERO);
        assert_eq!(w.observe("m", "d", &progress(0, 50, 50, 20.0)), None);
        // The same second reported twice is counted once.
        assert_eq!(w.observe("m", "d", &progress(0, 50, 50, 20.0)), None);
        let a = w.observe("m", "d", &progress(1, 60, 0, 20.0)).unwrap();
        assert_eq!((a.index, a.run.as_str()), (0, "m/d"));
        assert!(a.reason.contains("45.45%"), "{}", a.reason);
    }

    #[test]
    fn percentile_abort_needs_proof_and_skips_warmup() {
        let mut w = AbortWatch::new(&[spec("p99 < 100ms")], std::time::Duration::from_secs(1));
        assert_eq!(
            w.observe("m", "d", &progress(0, 1000, 0, 500.0)),
            None,
            "warm-up"
        );
        // p99 above the limit in every second proves ≥ 1 % slow: not > 1 %, no abort.
        assert_eq!(w.observe("m", "d", &progress(1, 1000, 0, 500.0)), None);
        // p50 (10ms) above a 9ms limit proves half the requests slow: more than p90 allows.
        let mut w = AbortWatch::new(&[spec("p90 < 9ms")], std::time::Duration::ZERO);
        assert!(w.observe("m", "d", &progress(0, 1000, 0, 20.0)).is_some());
        assert!(!supports_abort(&spec("rps > 10")));
        assert!(!supports_abort(&spec("p99(ttft) < 1s")));
    }
}
