//! Baseline comparison: per run and metric, the change between two results files and whether it is a regression — beyond the tolerance *and* significant given the samples.

use super::{
    blocks::{self, BlockStat, Blocks},
    stats::{self, Cdf, Interval},
    threshold::{Metric, Stat},
};
use crate::metrics::{ResultsFile, RunResult};

/// Default relative tolerance: 2-core shared runners routinely move p99 by 20–30 % between
/// two runs of the same build, so the default only flags changes well beyond that.
pub const DEFAULT_TOLERANCE: f64 = 0.35;

/// Default smallest absolute timing change that can count (ms): below it, scheduler jitter dominates.
pub const DEFAULT_MIN_CHANGE_MS: f64 = 1.0;

/// Default smallest absolute rate change that can count (percentage points as a fraction).
pub const DEFAULT_MIN_RATE_CHANGE: f64 = 0.005;

/// Metrics compared when `--metrics` is not given.
pub const DEFAULT_METRICS: &str = "p50,p90,p99,error_rate,timeout_rate,unfinished_rate";

/// How to compare.
#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// Relative change (fraction) a metric must exceed to count.
    pub tolerance: f64,
    /// Absolute timing change (ms) a metric must exceed to count.
    pub min_change_ms: f64,
    /// Absolute rate change (fraction) a rate must exceed to count.
    pub min_rate_change: f64,
    /// Metrics to compare.
    pub metrics: Vec<Metric>,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            tolerance: DEFAULT_TOLERANCE,
            min_change_ms: DEFAULT_MIN_CHANGE_MS,
            min_rate_change: DEFAULT_MIN_RATE_CHANGE,
            metrics: parse_metrics(DEFAULT_METRICS).expect("default metrics parse"),
        }
    }
}

/// Parses a comma-separated metric list (`p50,p99(ttft),error_rate`), respecting parentheses.
pub fn parse_metrics(list: &str) -> Result<Vec<Metric>, String> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut item = String::new();
    for c in list.chars().chain(std::iter::once(',')) {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                if !item.trim().is_empty() {
                    out.push(item.trim().parse()?);
                }
                item.clear();
                continue;
            }
            _ => {}
        }
        item.push(c);
    }
    if out.is_empty() {
        return Err("no metric given; e.g. --metrics p50,p99,error_rate".into());
    }
    Ok(out)
}

/// What a compared metric did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Worse beyond the tolerance, and significant: fails the gate.
    Regression,
    /// Worse beyond the tolerance, but within the noise of the samples: a warning.
    Noisy,
    /// Better beyond the tolerance, and significant.
    Improvement,
    /// Within the tolerance.
    Unchanged,
    /// One side did not record the metric.
    Missing,
}

impl Change {
    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Change::Regression => "REGRESSION",
            Change::Noisy => "worse (not significant)",
            Change::Improvement => "improved",
            Change::Unchanged => "ok",
            Change::Missing => "missing",
        }
    }
}

/// One metric of one run, compared.
#[derive(Clone, Debug)]
pub struct Compared {
    /// Run name (`target/variant`).
    pub run: String,
    /// The metric.
    pub metric: Metric,
    /// Baseline value.
    pub baseline: Option<f64>,
    /// Current value.
    pub current: Option<f64>,
    /// Confidence interval of current − baseline, when the metric has a significance test.
    pub interval: Option<Interval>,
    /// The verdict.
    pub change: Change,
}

impl Compared {
    /// Relative change (current / baseline − 1), when defined.
    pub fn relative(&self) -> Option<f64> {
        match (self.baseline, self.current) {
            (Some(b), Some(c)) if b != 0.0 => Some(c / b - 1.0),
            _ => None,
        }
    }

    /// e.g. `p(99) 21.3ms → 43.1ms (+102%, 99% CI of the difference [+19.8ms, +23.0ms])`.
    pub fn describe(&self) -> String {
        let m = &self.metric;
        let v = |x: Option<f64>| x.map(|x| m.format(x)).unwrap_or_else(|| "—".into());
        let mut s = format!("{} {} → {}", m.name(), v(self.baseline), v(self.current));
        if let Some(r) = self.relative() {
            s.push_str(&format!(" ({:+.1}%", r * 100.0));
            if let Some(ci) = self.interval {
                s.push_str(&format!(
                    ", 99% CI of the difference [{}, {}]",
                    signed(m, ci.low),
                    signed(m, ci.high)
                ));
            }
            s.push(')');
        }
        s
    }
}

fn signed(m: &Metric, v: f64) -> String {
    let text = m.format(v.abs());
    if v < 0.0 {
        format!("-{text}")
    } else {
        format!("+{text}")
    }
}

/// Everything one comparison found.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Tolerance used (fraction).
    pub tolerance: f64,
    /// One row per run × metric, runs in the current file's order.
    pub rows: Vec<Compared>,
    /// Things the reader should know (runs only on one side, different hosts, ...).
    pub notes: Vec<String>,
}

impl Comparison {
    /// Rows that fail the gate.
    pub fn regressions(&self) -> impl Iterator<Item = &Compared> {
        self.rows.iter().filter(|r| r.change == Change::Regression)
    }

    /// Whether nothing regressed.
    pub fn passed(&self) -> bool {
        self.regressions().next().is_none()
    }
}

/// Compares every run present in both files (matched by name).
pub fn compare(
    baseline: &ResultsFile,
    current: &ResultsFile,
    opts: &CompareOptions,
) -> Result<Comparison, String> {
    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for run in &current.runs {
        match baseline.runs.iter().find(|b| b.name == run.name) {
            Some(base) => {
                let pair = Pair::new(base, run, opts);
                if let Some(note) = pair.fallback_note() {
                    notes.push(note);
                }
                for metric in &opts.metrics {
                    rows.push(compare_metric(&pair, metric, opts));
                }
            }
            None => notes.push(format!("run `{}` is not in the baseline", run.name)),
        }
    }
    for base in &baseline.runs {
        if !current.runs.iter().any(|r| r.name == base.name) {
            notes.push(format!(
                "baseline run `{}` was not run this time",
                base.name
            ));
        }
    }
    if rows.is_empty() {
        return Err(format!(
            "no run in common between the baseline ({}) and the current results ({}); run names must match",
            names(baseline),
            names(current)
        ));
    }
    if baseline.host.cpus != current.host.cpus {
        notes.push(format!(
            "the baseline was measured on {} CPU(s), this run on {}: timings may differ for that reason alone",
            baseline.host.cpus, current.host.cpus
        ));
    }
    Ok(Comparison {
        tolerance: opts.tolerance,
        rows,
        notes,
    })
}

fn names(r: &ResultsFile) -> String {
    let n: Vec<&str> = r.runs.iter().map(|r| r.name.as_str()).collect();
    if n.is_empty() {
        "no runs".into()
    } else {
        n.join(", ")
    }
}

/// One run in both files, with its latency blocks when both sides have enough (see [`blocks`]).
struct Pair<'a> {
    /// The baseline's run.
    base: &'a RunResult,
    /// The current run.
    cur: &'a RunResult,
    /// Latency blocks of (baseline, current); `None` when a side has fewer than [`blocks::MIN_BLOCKS`].
    blocks: Option<(Blocks, Blocks)>,
    /// Whether a latency statistic is compared at all (blocks are only built then).
    wants_latency: bool,
}

impl<'a> Pair<'a> {
    fn new(base: &'a RunResult, cur: &'a RunResult, opts: &CompareOptions) -> Pair<'a> {
        let wants_latency = opts.metrics.iter().any(is_block_metric);
        let blocks = wants_latency
            .then(|| Some((Blocks::of(&base.series)?, Blocks::of(&cur.series)?)))
            .flatten();
        Pair {
            base,
            cur,
            blocks,
            wants_latency,
        }
    }

    /// Says so when latency is judged without blocks (too few seconds, or an older file).
    fn fallback_note(&self) -> Option<String> {
        (self.wants_latency && self.blocks.is_none()).then(|| {
            format!(
                "run `{}`: fewer than {} seconds with requests (or a results file without per-second histograms) on one side: latency is judged by resampling single requests, which does not see bursts of noise; run longer for a block bootstrap",
                self.cur.name,
                blocks::MIN_BLOCKS
            )
        })
    }
}

/// Whether `m` is judged by the block bootstrap when blocks exist: latency percentiles and mean.
fn is_block_metric(m: &Metric) -> bool {
    matches!(m, Metric::Timing { stat: Stat::Percentile(_) | Stat::Mean, histogram } if histogram == "latency")
}

fn compare_metric(pair: &Pair<'_>, metric: &Metric, o: &CompareOptions) -> Compared {
    let (base, cur) = (pair.base, pair.cur);
    let (b, c) = (metric.observe(base), metric.observe(cur));
    let mut row = Compared {
        run: cur.name.clone(),
        metric: metric.clone(),
        baseline: b,
        current: c,
        interval: None,
        change: Change::Missing,
    };
    let (Some(bv), Some(cv)) = (b, c) else {
        return row;
    };
    row.interval = interval(pair, metric, (bv, cv));
    let delta = cv - bv;
    let beyond = if metric.is_rate() {
        delta.abs() > (o.tolerance * bv).max(o.min_rate_change)
    } else {
        let floor = matches!(metric, Metric::Timing { .. }).then_some(o.min_change_ms);
        delta.abs() > o.tolerance * bv.abs() && floor.is_none_or(|f| delta.abs() > f)
    };
    // Metrics without a test (min, max, tokens/s, cost) are judged on the tolerance alone.
    let significant = row.interval.is_none_or(|ci| ci.excludes_zero());
    let worse = if metric.higher_is_worse() {
        delta > 0.0
    } else {
        delta < 0.0
    };
    row.change = match (beyond, significant, worse) {
        (false, _, _) => Change::Unchanged,
        (true, true, true) => Change::Regression,
        (true, false, true) => Change::Noisy,
        (true, true, false) => Change::Improvement,
        (true, false, false) => Change::Unchanged,
    };
    row
}

/// The significance interval for `metric`, in the metric's unit, when it has one; `observed` are the two sides' values.
fn interval(pair: &Pair<'_>, metric: &Metric, observed: (f64, f64)) -> Option<Interval> {
    let (base, cur) = (pair.base, pair.cur);
    match metric {
        Metric::Timing { stat, .. } if is_block_metric(metric) && pair.blocks.is_some() => {
            let (bb, cb) = pair.blocks.as_ref()?;
            let stat = match stat {
                Stat::Percentile(p) => BlockStat::Quantile(p / 100.0),
                _ => BlockStat::Mean,
            };
            // Observed values are in ms; the blocks hold µs.
            let ci =
                blocks::block_difference(bb, cb, stat, (observed.0 * 1000.0, observed.1 * 1000.0));
            Some(Interval {
                low: ci.low / 1000.0,
                high: ci.high / 1000.0,
            })
        }
        Metric::Timing { stat, histogram } => {
            let hb = base.histograms.get(histogram)?.histogram().ok()?;
            let hc = cur.histograms.get(histogram)?.histogram().ok()?;
            let ms = |ci: Interval| Interval {
                low: ci.low / 1000.0,
                high: ci.high / 1000.0,
            };
            match stat {
                Stat::Percentile(p) => {
                    let boot =
                        stats::quantile_difference(&Cdf::new(&hb)?, &Cdf::new(&hc)?, p / 100.0)
                            .map(ms)?;
                    Some(match batch_means(base, cur, histogram, *p) {
                        Some(batch) => boot.union(batch),
                        None => boot,
                    })
                }
                Stat::Mean => stats::mean_difference(
                    (hb.mean(), hb.stdev(), hb.len() as f64),
                    (hc.mean(), hc.stdev(), hc.len() as f64),
                )
                .map(ms),
                Stat::Min | Stat::Max => None,
            }
        }
        m if m.is_rate() => {
            // Rates are fractions of the arrivals (see `RunResult::offered`).
            let events =
                |r: &RunResult| (m.observe(r).unwrap_or(0.0) * r.offered() as f64).round() as u64;
            stats::proportion_difference(
                (events(base), base.offered()),
                (events(cur), cur.offered()),
            )
        }
        Metric::Rps | Metric::Goodput => {
            let per_second = |r: &RunResult| -> Vec<f64> {
                // A file from before goodput has no good counts: its ok ones were its good ones.
                let counted = |p: &crate::metrics::SeriesPoint| match metric {
                    Metric::Goodput if r.good.is_some() => p.good,
                    Metric::Goodput => p.ok,
                    _ => p.completed,
                };
                // The first and last seconds are partial; warm-up seconds are few and similar on both sides.
                let pts: Vec<f64> = r
                    .series
                    .iter()
                    .map(|p| counted(p) as f64 / p.span.max(1) as f64)
                    .collect();
                pts.get(1..pts.len().saturating_sub(1))
                    .unwrap_or(&[])
                    .to_vec()
            };
            stats::welch_difference(
                stats::moments(&per_second(base)),
                stats::moments(&per_second(cur)),
            )
        }
        _ => None,
    }
}

/// Batch-means interval for a latency percentile from the per-second series: part of the
/// fallback for runs without blocks.
///
/// The per-request bootstrap treats requests as independent; on a shared machine they are
/// not. Each second's percentile, compared with Welch's t, sees some of that burst noise, so
/// the fallback uses the wider of the two intervals.
fn batch_means(base: &RunResult, cur: &RunResult, histogram: &str, p: f64) -> Option<Interval> {
    if histogram != "latency" {
        return None;
    }
    let pick = |pt: &crate::metrics::SeriesPoint| match p {
        50.0 => Some(pt.p50_ms),
        90.0 => Some(pt.p90_ms),
        99.0 => Some(pt.p99_ms),
        _ => None,
    };
    let values = |r: &RunResult| -> Option<Vec<f64>> {
        // First and last seconds are partial; a second with few requests says little about p99.
        let n = r.series.len();
        r.series
            .iter()
            .enumerate()
            .filter(|(i, pt)| *i > 0 && *i + 1 < n && pt.completed >= 20)
            .map(|(_, pt)| pick(pt))
            .collect()
    };
    stats::welch_difference(
        stats::moments(&values(base)?),
        stats::moments(&values(cur)?),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_judged_by_blocks_and_a_note_says_when_it_cannot_be() {
        let results = crate::report::fixture::comparison();
        let opts = CompareOptions::default();
        let c = compare(&results, &results, &opts).unwrap();
        assert!(c.notes.is_empty(), "{:?}", c.notes);
        assert!(c.passed());
        let p99 = c.rows.iter().find(|r| r.metric.name() == "p(99)").unwrap();
        let ci = p99.interval.unwrap();
        assert!(ci.low < 0.0 && ci.high > 0.0, "{ci:?}");
        // A file from before series points kept histograms: the per-request fallback, noted.
        let mut old = results.clone();
        for p in old.runs.iter_mut().flat_map(|r| r.series.iter_mut()) {
            p.hdr = None;
        }
        let c = compare(&old, &results, &opts).unwrap();
        assert_eq!(c.notes.len(), results.runs.len(), "{:?}", c.notes);
        assert!(
            c.notes[0].contains("resampling single requests"),
            "{}",
            c.notes[0]
        );
        assert!(c.passed());
    }

    #[test]
    fn goodput_regresses_when_fewer_requests_meet_the_slo() {
        let base = crate::report::fixture::comparison();
        let opts = CompareOptions {
            metrics: parse_metrics("goodput,goodput_ratio").unwrap(),
            ..CompareOptions::default()
        };
        let same = compare(&base, &base, &opts).unwrap();
        assert!(same.passed());
        assert!(same.rows.iter().any(|r| r.metric.name() == "goodput"));
        // Half the requests stop meeting the SLO, every second alike.
        let mut cur = base.clone();
        for run in &mut cur.runs {
            run.good = Some(run.count("ok") / 2);
            for p in &mut run.series {
                p.good = p.ok / 2;
            }
        }
        let worse = compare(&base, &cur, &opts).unwrap();
        assert!(!worse.passed());
        for name in ["goodput", "goodput_ratio"] {
            let row = worse.rows.iter().find(|r| r.metric.name() == name).unwrap();
            assert_eq!(row.change, Change::Regression, "{name}: {row:?}");
        }
    }

    #[test]
    fn metric_lists_split_outside_parentheses() {
        let m = parse_metrics("p50, p(99.9, ttft),rate(status=429) ,rps").unwrap();
        let names: Vec<String> = m.iter().map(|m| m.name()).collect();
        assert_eq!(names, ["p(50)", "p(99.9, ttft)", "rate(status=429)", "rps"]);
        assert!(parse_metrics(" , ").is_err());
        assert!(parse_metrics("p50,latency").is_err());
    }
}
