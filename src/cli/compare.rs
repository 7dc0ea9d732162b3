//! `relaybench compare` and the comparison flags shared with `run --baseline`.

use super::{exit, fail};
use crate::{
    gate::{self, compare::CompareOptions, CiEnv, GateReport},
    report,
    units::{Dur, Ratio},
};
use std::path::Path;

/// Flags that tune a baseline comparison.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CompareArgs {
    /// Relative change a metric must exceed to count as a regression, e.g. `35%` or `0.35` [default: 35%].
    #[arg(long, value_name = "RATIO")]
    tolerance: Option<String>,
    /// Metrics to compare, comma-separated, in threshold syntax [default: p50,p90,p99,error_rate,timeout_rate,unfinished_rate].
    #[arg(long, value_name = "LIST")]
    metrics: Option<String>,
    /// Smallest absolute timing change that can count, e.g. `1ms` [default: 1ms].
    #[arg(long, value_name = "DURATION")]
    min_change: Option<String>,
}

impl CompareArgs {
    /// The options these flags describe.
    pub fn options(&self) -> Result<CompareOptions, String> {
        let mut o = CompareOptions::default();
        if let Some(t) = &self.tolerance {
            o.tolerance = Ratio::parse_relative(t).map_err(|e| format!("--tolerance: {e}"))?;
        }
        if let Some(m) = &self.metrics {
            o.metrics = gate::compare::parse_metrics(m).map_err(|e| format!("--metrics: {e}"))?;
        }
        if let Some(d) = &self.min_change {
            o.min_change_ms = d
                .parse::<Dur>()
                .map_err(|e| format!("--min-change: {e}"))?
                .0
                .as_secs_f64()
                * 1000.0;
        }
        Ok(o)
    }
}

/// Runs `relaybench compare` and returns the exit code.
pub fn run(baseline: &Path, current: &Path, args: &CompareArgs, junit: Option<&Path>) -> u8 {
    let opts = match args.options() {
        Ok(o) => o,
        Err(e) => return fail(exit::USAGE, e),
    };
    let (b, c) = match (report::json::read(baseline), report::json::read(current)) {
        (Ok(b), Ok(c)) => (b, c),
        (Err(e), _) | (_, Err(e)) => return fail(exit::USAGE, e),
    };
    let comparison = match gate::compare(&b, &c, &opts) {
        Ok(c) => c,
        Err(e) => return fail(exit::USAGE, e),
    };
    let report = GateReport {
        thresholds: Vec::new(),
        comparison: Some(comparison),
    };
    print!("{}", gate::ci::terminal(&report));
    if let Some(path) = junit {
        if let Err(e) = gate::ci::write_junit(&report, path) {
            return fail(exit::USAGE, format!("{}: {e}", path.display()));
        }
    }
    if let Err(e) = CiEnv::from_env().publish(&report, &c.scenario.name) {
        eprintln!("warning: cannot write the GitHub step summary: {e}");
    }
    if report.passed() {
        exit::OK
    } else {
        exit::FAILED
    }
}
