//! Judging one probe against the objective: pass or fail on the run's figures, and whether that verdict is within noise of a limit (then the probe is repeated).
//!
//! A check is *within noise* when its metric's 99 % confidence interval contains the limit:
//! latency percentiles and means from the block bootstrap over the run's per-second
//! histograms (`gate::blocks`) when the run has enough seconds, else the per-request
//! bootstrap (`gate::stats`); rates from the proportion's interval. Other metrics (rps,
//! tokens/s, cost) are taken as measured. The probe is within noise only when a noisy check
//! could flip the verdict: a check failing clearly already settles a failure.

use crate::{
    gate::{
        blocks::{block_interval, BlockStat, Blocks},
        stats::{proportion_interval, quantile_interval, Cdf, Interval},
        threshold::{Check, Metric, Stat},
    },
    metrics::RunResult,
};

use super::strategy::Observation;

/// One check on one run: the verdict and whether it is within noise.
#[derive(Clone, Debug, PartialEq)]
pub struct Judged {
    /// The figure (canonical unit), `None` when the run did not record it (a failure).
    pub observed: Option<f64>,
    /// Whether the check held.
    pub passed: bool,
    /// Whether the metric's interval contains the limit.
    pub within_noise: bool,
}

/// Judges every check of the objective on `run` and folds them into one observation.
pub fn judge(objective: &[Check], run: &RunResult) -> (Observation, Vec<Judged>) {
    let judged: Vec<Judged> = objective.iter().map(|c| judge_one(c, run)).collect();
    let passed = judged.iter().all(|j| j.passed);
    let clear_fail = judged.iter().any(|j| !j.passed && !j.within_noise);
    let within_noise = !clear_fail && judged.iter().any(|j| j.within_noise);
    (
        Observation {
            passed,
            within_noise,
        },
        judged,
    )
}

fn judge_one(check: &Check, run: &RunResult) -> Judged {
    let observed = check.metric.observe(run);
    let Some(value) = observed else {
        return Judged {
            observed,
            passed: false,
            within_noise: false,
        };
    };
    let within_noise = interval(&check.metric, run, value)
        .is_some_and(|i| i.low <= check.value && check.value <= i.high);
    Judged {
        observed,
        passed: check.op.holds(value, check.value),
        within_noise,
    }
}

/// The metric's confidence interval on this run (canonical unit), where there is a model of its noise.
fn interval(metric: &Metric, run: &RunResult, value: f64) -> Option<Interval> {
    match metric {
        Metric::Timing { stat, histogram } => {
            let block_stat = match stat {
                Stat::Percentile(p) => BlockStat::Quantile(p / 100.0),
                Stat::Mean => BlockStat::Mean,
                // An extreme is one request: no interval says more than the value itself.
                Stat::Min | Stat::Max => return None,
            };
            let us = value * 1000.0;
            // Series points hold the latency histogram only.
            let blocks = (histogram == "latency")
                .then(|| Blocks::of(&run.series))
                .flatten();
            let i = match (blocks, block_stat) {
                (Some(b), s) => block_interval(&b, s, us),
                (None, BlockStat::Quantile(q)) => {
                    let h = run.histograms.get(histogram)?.histogram().ok()?;
                    quantile_interval(&Cdf::new(&h)?, q)?
                }
                (None, BlockStat::Mean) => return None,
            };
            Some(Interval {
                low: i.low / 1000.0,
                high: i.high / 1000.0,
            })
        }
        m if m.is_rate() => {
            let n = run.offered();
            proportion_interval((value * n as f64).round() as u64, n)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_at_the_observed_value_is_noise_and_a_distant_one_is_not() {
        let results = crate::report::fixture::comparison();
        let run = &results.runs[0];
        let check = |text: String| text.parse::<Check>().unwrap();
        let p99 = check("p99 < 1ms".into()).metric.observe(run).unwrap();
        let far = check(format!("p99 < {}ms", p99 * 10.0));
        let (obs, judged) = judge(&[far], run);
        assert!(obs.passed && !obs.within_noise, "{judged:?}");
        let at = check(format!("p99 < {p99}ms"));
        let (obs, judged) = judge(std::slice::from_ref(&at), run);
        assert!(!obs.passed && obs.within_noise, "{judged:?}");
        // A clear failure elsewhere settles the probe: no repeat would change it.
        let hopeless = check(format!("p99 < {}ms", p99 / 10.0));
        let (obs, _) = judge(&[at, hopeless], run);
        assert!(!obs.passed && !obs.within_noise);
    }

    #[test]
    fn zero_errors_is_clear_and_one_in_two_hundred_is_not() {
        let z = proportion_interval(0, 200).unwrap();
        assert!(z.high < 0.01);
        let one = proportion_interval(1, 200).unwrap();
        assert!(one.low < 0.01 && 0.01 < one.high);
    }
}
