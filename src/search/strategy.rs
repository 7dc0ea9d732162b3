//! The search policy, apart from any I/O: which value to probe next given the probes so far, when the answer is known, and what it is.
//!
//! **Monotonicity.** The search assumes the objective holds on one side of a single knee:
//! for `goal = "max"` everything below the answer meets it and everything above does not
//! (more load, worse latency); for `goal = "min"` the mirror (a bigger pool, fewer timeouts).
//! It probes the *easy* end of the range first (lowest value for `max`, highest for `min`):
//! if that fails, the hard end is probed once too — a pass there means the knob does not act
//! monotonically, which is reported (`non_monotone` notes) rather than hidden. Then it
//! bisects between the last value that met the objective and the first that did not. A dip
//! between two probes is invisible to any bisection; the report shows every probe so a
//! reader can see how the figures moved.
//!
//! **Midpoints.** Geometric (√(a·b)) while the bracket spans a decade or more, so a range
//! like 10..2000 req/s is narrowed by ratios first; arithmetic after. Integer knobs probe
//! integers and stop when the bracket is one apart; continuous knobs stop when its width is
//! at most `resolution` of the passing end.
//!
//! **Noise.** A probe whose figures are within noise of a limit (see `search::noise`) is
//! repeated up to `max_repeats` times; the value is decided by the majority of the
//! repeats that were clear of noise, else of all of them (a tie counts as not meeting the
//! objective: the search never claims more than it saw).

pub use crate::metrics::results::StopReason;
pub use crate::scenario::search::Goal;

/// The parameters of one search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Params {
    /// The range, low end first.
    pub range: (f64, f64),
    /// Which end the answer is sought at.
    pub goal: Goal,
    /// Probe integers only (counts).
    pub integer: bool,
    /// Continuous knobs: stop when the bracket is at most this fraction of the passing end.
    pub resolution: f64,
    /// Extra probes of a value whose first probe was within noise of a limit.
    pub max_repeats: u32,
}

/// What one probe showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    /// Every objective held on the run's figures.
    pub passed: bool,
    /// Some objective's confidence interval straddles its limit: the verdict could be noise.
    pub within_noise: bool,
}

/// What to do next.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Next {
    /// Run a probe at this value.
    Probe(f64),
    /// The search is over.
    Done(StopReason),
}

/// A value whose verdict is settled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Decided {
    /// The knob value.
    pub value: f64,
    /// Whether it met the objective.
    pub passed: bool,
}

/// The search's state: every observation so far and the bracket they imply.
#[derive(Clone, Debug)]
pub struct Search {
    params: Params,
    /// Observations at the value being probed (repeats gather here until it is decided).
    pending: Option<(f64, Vec<Observation>)>,
    /// Settled values in the order they were decided.
    decided: Vec<Decided>,
    /// Closest value known to meet the objective.
    pass: Option<f64>,
    /// Closest value known not to meet it.
    fail: Option<f64>,
    /// Set once the search is over.
    stopped: Option<StopReason>,
    /// Pairs that contradict monotonicity, as (passed at, failed at).
    non_monotone: Vec<(f64, f64)>,
}

impl Search {
    /// A new search; `params.range` must be ordered and finite (checked by the scenario parser).
    pub fn new(params: Params) -> Search {
        Search {
            params,
            pending: None,
            decided: Vec::new(),
            pass: None,
            fail: None,
            stopped: None,
            non_monotone: Vec::new(),
        }
    }

    /// The end of the range expected to meet the objective, and the other one.
    fn ends(&self) -> (f64, f64) {
        let (lo, hi) = self.params.range;
        match self.params.goal {
            Goal::Max => (lo, hi),
            Goal::Min => (hi, lo),
        }
    }

    /// What to probe next, or why the search is over.
    pub fn next_step(&mut self) -> Next {
        if let Some(reason) = self.stopped {
            return Next::Done(reason);
        }
        if let Some((value, _)) = &self.pending {
            return Next::Probe(*value);
        }
        let (easy, hard) = self.ends();
        let reason = match (self.pass, self.fail) {
            (None, None) => return Next::Probe(easy),
            // The easy end failed: one look at the hard end tells all-fail from non-monotone.
            (None, Some(_)) if !self.was_decided(hard) => return Next::Probe(hard),
            (None, Some(_)) if self.non_monotone.is_empty() => StopReason::RangeAllFail,
            (None, Some(_)) => StopReason::NonMonotone,
            (Some(_), None) if !self.was_decided(hard) => return Next::Probe(hard),
            (Some(_), None) => StopReason::RangeAllPass,
            (Some(pass), Some(fail)) => match self.midpoint(pass, fail) {
                Some(m) => return Next::Probe(m),
                None => StopReason::Converged,
            },
        };
        self.stopped = Some(reason);
        Next::Done(reason)
    }

    fn was_decided(&self, value: f64) -> bool {
        self.decided.iter().any(|d| d.value == value)
    }

    /// The next value between `pass` and `fail`, or `None` when the bracket is narrow enough.
    fn midpoint(&self, pass: f64, fail: f64) -> Option<f64> {
        let (a, b) = (pass.min(fail), pass.max(fail));
        if self.params.integer {
            if b - a <= 1.0 {
                return None;
            }
        } else if b - a <= self.params.resolution * pass.abs().max(f64::MIN_POSITIVE) {
            return None;
        }
        let m = if a > 0.0 && b / a >= 10.0 {
            (a * b).sqrt()
        } else {
            (a + b) / 2.0
        };
        let m = if self.params.integer {
            m.round().clamp(a + 1.0, b - 1.0)
        } else {
            round_sig(m, 3).clamp(a, b)
        };
        // Rounding must not land on a bound (that value is already decided).
        (m > a && m < b).then_some(m).or_else(|| {
            let mid = (a + b) / 2.0;
            (mid > a && mid < b).then_some(mid)
        })
    }

    /// Records what the probe at `value` (the one `next` asked for) showed.
    pub fn record(&mut self, value: f64, obs: Observation) {
        let observations = match &mut self.pending {
            Some((v, list)) if *v == value => list,
            _ => {
                self.pending = Some((value, Vec::new()));
                &mut self.pending.as_mut().expect("just set").1
            }
        };
        observations.push(obs);
        let repeats_left = observations.len() <= self.params.max_repeats as usize;
        if obs.within_noise && repeats_left {
            return;
        }
        let passed = majority(observations);
        self.pending = None;
        self.decide(value, passed);
    }

    fn decide(&mut self, value: f64, passed: bool) {
        // Closer to the hard end means "more": a pass there after a fail nearer the easy end contradicts monotonicity.
        let harder = |a: f64, b: f64| match self.params.goal {
            Goal::Max => a > b,
            Goal::Min => a < b,
        };
        for d in &self.decided {
            if passed && !d.passed && harder(value, d.value) {
                self.non_monotone.push((value, d.value));
            } else if !passed && d.passed && harder(d.value, value) {
                self.non_monotone.push((d.value, value));
            }
        }
        self.decided.push(Decided { value, passed });
        if passed {
            if self.pass.is_none_or(|p| harder(value, p))
                && self.fail.is_none_or(|f| harder(f, value))
            {
                self.pass = Some(value);
            }
        } else if self.fail.is_none_or(|f| harder(f, value))
            && self.pass.is_none_or(|p| harder(value, p))
        {
            self.fail = Some(value);
        }
    }

    /// Ends the search from outside (budget, Ctrl-C, spend guard); a pending value stays undecided.
    pub fn stop(&mut self, reason: StopReason) {
        if self.stopped.is_none() {
            self.stopped = Some(reason);
        }
    }

    /// The answer: the value closest to the hard end known to meet the objective.
    pub fn found(&self) -> Option<f64> {
        self.pass
    }

    /// The bracket as `[low, high]` in knob order: for `max`, low met the objective and high did
    /// not; for `min`, high met it and low did not. `None` where no probe settled that side.
    pub fn interval(&self) -> [Option<f64>; 2] {
        match self.params.goal {
            Goal::Max => [self.pass, self.fail],
            Goal::Min => [self.fail, self.pass],
        }
    }

    /// Every settled value, in order.
    pub fn decided(&self) -> &[Decided] {
        &self.decided
    }

    /// Observations contradicting monotonicity, as (passed at, failed at).
    pub fn non_monotone(&self) -> &[(f64, f64)] {
        &self.non_monotone
    }

    /// Why the search ended, once it has.
    pub fn stopped(&self) -> Option<StopReason> {
        self.stopped
    }
}

/// The verdict of several observations of one value (see the module doc).
fn majority(observations: &[Observation]) -> bool {
    let clear: Vec<&Observation> = observations.iter().filter(|o| !o.within_noise).collect();
    let pool: Vec<&Observation> = if clear.is_empty() {
        observations.iter().collect()
    } else {
        clear
    };
    let passes = pool.iter().filter(|o| o.passed).count();
    passes * 2 > pool.len()
}

/// `v` rounded to `digits` significant digits (probe values read well in reports).
fn round_sig(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(digits - 1 - v.abs().log10().floor() as i32);
    (v * scale).round() / scale
}

/// Most probes a search can take: endpoint probes plus bisection steps, each repeated at most `1 + max_repeats` times.
pub fn worst_case_probes(params: Params) -> usize {
    // The longest bisection is whichever way the knee lies; try both extremes of the oracle.
    let steps = [true, false]
        .into_iter()
        .map(|midpoints_pass| {
            let mut s = Search::new(Params {
                max_repeats: 0,
                ..params
            });
            let mut n = 0;
            let (easy, _) = s.ends();
            while let Next::Probe(v) = s.next_step() {
                n += 1;
                let passed = if v == easy {
                    true
                } else if v == s.ends().1 {
                    false
                } else {
                    midpoints_pass
                };
                s.record(
                    v,
                    Observation {
                        passed,
                        within_noise: false,
                    },
                );
                if n > 10_000 {
                    break;
                }
            }
            n
        })
        .max()
        .unwrap_or(0);
    steps * (1 + params.max_repeats as usize)
}

/// Drives a search to its end with a synchronous probe function (for tests and planning).
pub fn run(params: Params, mut probe: impl FnMut(f64) -> Observation) -> Search {
    let mut s = Search::new(params);
    while let Next::Probe(v) = s.next_step() {
        let obs = probe(v);
        s.record(v, obs);
    }
    s
}

#[cfg(test)]
mod tests;
