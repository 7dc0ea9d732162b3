//! A relay's overhead (`[report] baseline`): each run's percentiles minus those of the baseline target's run of the same variant.
//!
//! The figures are differences of percentiles, not percentiles of per-request differences:
//! the two runs send different requests at different times, so no request has a partner to
//! subtract. "p99 +25 ms" says the relay's 99th percentile is 25 ms above the direct one.

use super::{histogram::Summary, RunResult};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Reads one percentile from a summary.
pub type Pick = fn(&Summary) -> f64;

/// The percentiles compared, as results.json names them, with how to read each from a summary.
pub const PERCENTILES: [(&str, Pick); 6] = [
    ("p50", |s| s.p50),
    ("p75", |s| s.p75),
    ("p90", |s| s.p90),
    ("p95", |s| s.p95),
    ("p99", |s| s.p99),
    ("p99.9", |s| s.p999),
];

/// What the difference of two percentiles means, written beside the figures.
pub const CAVEAT: &str = "differences of percentiles (relay p99 − direct p99), not percentiles of per-request differences: the runs are measured apart, so the relay's own cost per request is not known, only how the distributions moved";

/// The `relay_overhead` section of results.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayOverhead {
    /// The target named by `[report] baseline` (reaches the upstream without the relay).
    pub baseline: String,
    /// One entry per run of another target that has a baseline run of the same variant.
    pub pairs: Vec<OverheadPair>,
    /// Runs of other targets with no baseline run of their variant to compare with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unpaired: Vec<String>,
    /// How to read the figures (see [`CAVEAT`]).
    pub note: String,
}

/// One relay run against the baseline run it was paired with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverheadPair {
    /// The relay's run (`target/variant`).
    pub run: String,
    /// The baseline's run of the same variant.
    pub baseline_run: String,
    /// The variant both runs share.
    pub variant: String,
    /// Added latency in ms per percentile (`p50`, `p75`, `p90`, `p95`, `p99`, `p99.9`):
    /// the relay run's percentile minus the baseline run's. Negative: the relay run was faster.
    pub latency_ms: BTreeMap<String, f64>,
    /// Added time to first token in ms per percentile, when both runs streamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<BTreeMap<String, f64>>,
}

/// Pairs every run of another target with the baseline target's run of the same variant (its
/// first, when a plan repeats it) and subtracts their percentiles.
pub fn compute(baseline: &str, runs: &[RunResult]) -> RelayOverhead {
    let mut pairs = Vec::new();
    let mut unpaired = Vec::new();
    for run in runs.iter().filter(|r| r.target != baseline) {
        let partner = runs
            .iter()
            .find(|b| b.target == baseline && b.variant == run.variant);
        let added = |name: &str, b: &RunResult| {
            let (mine, theirs) = (nonempty(run, name)?, nonempty(b, name)?);
            Some(
                PERCENTILES
                    .iter()
                    .map(|(label, pick)| (label.to_string(), pick(mine) - pick(theirs)))
                    .collect::<BTreeMap<_, _>>(),
            )
        };
        match partner.and_then(|b| Some((b, added("latency", b)?))) {
            Some((b, latency_ms)) => pairs.push(OverheadPair {
                run: run.name.clone(),
                baseline_run: b.name.clone(),
                variant: run.variant.clone(),
                latency_ms,
                ttft_ms: added("ttft", b),
            }),
            None => unpaired.push(run.name.clone()),
        }
    }
    RelayOverhead {
        baseline: baseline.to_string(),
        pairs,
        unpaired,
        note: CAVEAT.to_string(),
    }
}

fn nonempty<'a>(run: &'a RunResult, name: &str) -> Option<&'a Summary> {
    run.summary(name).filter(|s| s.count > 0)
}

/// The `[report] baseline` of a resolved scenario (as results.json keeps it), if any.
pub fn baseline_of(resolved: &serde_json::Value) -> Option<&str> {
    resolved.get("report")?.get("baseline")?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn pairs_by_variant_and_subtracts_each_percentile() {
        let mut results = fixture::comparison();
        let runs = &mut results.runs;
        runs.truncate(3);
        runs[0].target = "direct".into();
        runs[1].target = "relay".into();
        runs[2].target = "relay".into();
        runs[0].variant = "a".into();
        runs[1].variant = "a".into();
        runs[2].variant = "b".into();
        let o = compute("direct", runs);
        assert_eq!(o.pairs.len(), 1);
        assert_eq!(
            o.unpaired,
            vec![runs[2].name.clone()],
            "no direct run of variant b"
        );
        let p = &o.pairs[0];
        assert_eq!(
            (p.run.as_str(), p.baseline_run.as_str()),
            (runs[1].name.as_str(), runs[0].name.as_str())
        );
        let want =
            runs[1].summary("latency").unwrap().p99 - runs[0].summary("latency").unwrap().p99;
        assert_eq!(p.latency_ms["p99"], want);
        assert_eq!(p.latency_ms.len(), PERCENTILES.len());
        assert!(o
            .note
            .contains("not percentiles of per-request differences"));
    }
}
