//! The gate: thresholds from the scenario, baseline comparison, and the CI outputs (exit code, junit.xml, GitHub summary and annotations) they feed.
//!
//! * [`threshold`]: the `[[threshold]]` expression grammar (`p99 < 800ms`), scopes, evaluation.
//! * [`compare`]: `relaybench compare` / `run --baseline`: per run and metric, a regression only
//!   when the change exceeds the tolerance *and* its 99 % confidence interval excludes zero.
//! * [`blocks`]: the block bootstrap of latency percentiles and means over the series' per-second histograms.
//! * [`stats`]: Student's t, Welch, proportions, and the per-request bootstrap used where there are no blocks.
//! * [`live`]: `abort_on_fail`, judged on the one-second series while a run is going.
//! * [`ci`]: junit.xml, the Markdown summary, `::error`/`::warning` lines.

pub mod blocks;
pub mod ci;
pub mod compare;
pub mod live;
pub mod stats;
pub mod threshold;

pub use ci::{CiEnv, GateReport};
pub use compare::{compare, CompareOptions, Comparison};
pub use threshold::{Check, Metric, Scope, ThresholdSpec, Verdict};

use crate::scenario::Scenario;

/// A threshold that does not fit the scenario it is in.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{key}`: {message}")]
pub struct ThresholdError {
    /// Dotted key, e.g. `threshold[1].scope`.
    pub key: String,
    /// 1-based line of that key, when it can be found.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Checks that each threshold's scope names an existing target/variant/run and that `abort_on_fail` is only set where it can be judged live.
pub fn check_thresholds(s: &Scenario, source: &str) -> Result<(), ThresholdError> {
    let variants: Vec<String> = crate::scenario::plan::variants(s)
        .map(|v| v.into_iter().map(|(name, _)| name).collect())
        .unwrap_or_default();
    for (i, spec) in s.thresholds.iter().enumerate() {
        let fail = |field: &str, message: String| ThresholdError {
            key: format!("threshold[{i}].{field}"),
            line: key_line(source, i, field),
            message,
        };
        let known = |name: &str| match &spec.scope {
            threshold::Scope::Target(_) => s.targets.iter().any(|t| t.name == name),
            threshold::Scope::Variant(_) => variants.iter().any(|v| v == name),
            _ => s
                .targets
                .iter()
                .any(|t| variants.iter().any(|v| format!("{}/{v}", t.name) == name)),
        };
        let missing = match &spec.scope {
            threshold::Scope::All => None,
            threshold::Scope::Target(n)
            | threshold::Scope::Variant(n)
            | threshold::Scope::Run(n) => (!known(n)).then_some(n),
        };
        if let Some(name) = missing {
            return Err(fail(
                "scope",
                format!(
                    "`{}` names `{name}`, which is not in this scenario",
                    spec.scope
                ),
            ));
        }
        if spec.abort_on_fail && !live::supports_abort(spec) {
            return Err(fail(
                "abort_on_fail",
                format!(
                    "`{}` cannot be judged while the run is going; abort_on_fail works with `error_rate`/`timeout_rate` and latency percentiles or `max` with `<`/`<=`",
                    spec.check
                ),
            ));
        }
    }
    Ok(())
}

/// Line of `field` inside the `i`-th `[[threshold]]` table (or of the table header).
fn key_line(source: &str, i: usize, field: &str) -> Option<usize> {
    let lines: Vec<&str> = source.lines().collect();
    let header = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.trim() == "[[threshold]]")
        .nth(i)?
        .0;
    let end = lines[header + 1..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |p| header + 1 + p);
    let at = (header + 1..end).find(|&n| {
        let t = lines[n].trim_start();
        t.strip_prefix(field)
            .is_some_and(|r| r.trim_start().starts_with('='))
    });
    Some(at.unwrap_or(header) + 1)
}

/// Evaluates the thresholds of a finished run and marks the one that aborted it, if any.
pub fn evaluate(
    specs: &[ThresholdSpec],
    results: &crate::metrics::ResultsFile,
    abort: Option<&live::Abort>,
) -> Vec<Verdict> {
    let mut verdicts = threshold::evaluate(specs, results);
    if let Some(a) = abort {
        // The final figures may look better than the live ones that stopped the run (the
        // drain adds requests); the run was still cut short by this threshold, so it fails.
        if let Some(v) = verdicts
            .iter_mut()
            .find(|v| v.index == a.index && v.run == a.run)
        {
            v.passed = false;
            v.aborted = Some(a.reason.clone());
        }
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_keys_inside_the_right_table() {
        let src = "[[threshold]]\ncheck = \"p99 < 1s\"\n\n[[threshold]]\ncheck = \"rps > 1\"\nscope = \"target:x\"\n[workload]\nscope = 1\n";
        assert_eq!(key_line(src, 1, "scope"), Some(6));
        assert_eq!(
            key_line(src, 0, "scope"),
            Some(1),
            "falls back to the header"
        );
        assert_eq!(key_line(src, 2, "scope"), None);
    }
}
