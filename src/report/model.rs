//! What every report says, computed once from a `ResultsFile`: the comparison tables (with the best cell per column) and the verdict.
//!
//! HTML, Markdown and the terminal only lay these out, so the numbers — and their rounding —
//! are the same in every output, and a re-render from results.json gives the same tables.

use crate::metrics::{ResultsFile, RunResult, ThresholdResult};

/// Shown where a run has no value for a metric (not streaming, no price, ...).
pub const ABSENT: &str = "–";

/// Which direction of a column is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Better {
    /// Smaller values win (latency, error rates, cost).
    Lower,
    /// Larger values win (throughput, tokens/s).
    Higher,
    /// No best: a count for context.
    Neither,
}

/// How a column's numbers are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Milliseconds, about three significant digits.
    Millis,
    /// A percentage with two decimals (value already ×100).
    Percent,
    /// A whole number.
    Count,
    /// One decimal.
    OneDecimal,
    /// Two decimals.
    TwoDecimals,
    /// US dollars with three decimals.
    Dollars,
}

impl Format {
    /// The value as text.
    pub fn text(self, v: f64) -> String {
        match self {
            Format::Millis if v.abs() < 10.0 => format!("{v:.2}"),
            Format::Millis if v.abs() < 100.0 => format!("{v:.1}"),
            Format::Millis => format!("{v:.0}"),
            Format::Percent | Format::TwoDecimals => format!("{v:.2}"),
            Format::Count => format!("{v:.0}"),
            Format::OneDecimal => format!("{v:.1}"),
            Format::Dollars => format!("{v:.3}"),
        }
    }
}

/// One column of a comparison table.
#[derive(Clone, Debug)]
pub struct Column {
    /// Header text.
    pub header: String,
    /// A longer explanation (HTML `title`, Markdown footnote).
    pub help: String,
    /// Which direction wins.
    pub better: Better,
    /// Number format.
    pub format: Format,
    /// One value per run; `None` when the run has no such metric.
    pub values: Vec<Option<f64>>,
}

impl Column {
    /// The cell text for run `row` (`–` when absent).
    pub fn text(&self, row: usize) -> String {
        match self.values.get(row).copied().flatten() {
            Some(v) => self.format.text(v),
            None => ABSENT.to_string(),
        }
    }

    /// True when run `row` holds the best value of this column. Compared as displayed, so
    /// equal-looking cells are all marked; nothing is marked when every run shows the same value.
    pub fn is_best(&self, row: usize) -> bool {
        if self.better == Better::Neither {
            return false;
        }
        let shown: Vec<Option<f64>> = (0..self.values.len())
            .map(|i| self.values[i].map(|v| self.format.text(v).parse::<f64>().unwrap_or(v)))
            .collect();
        let present: Vec<f64> = shown.iter().flatten().copied().collect();
        if present.len() < 2 {
            return false;
        }
        let best = match self.better {
            Better::Lower => present.iter().copied().fold(f64::INFINITY, f64::min),
            _ => present.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        };
        if present.iter().all(|v| *v == best) {
            return false;
        }
        shown[row] == Some(best)
    }
}

/// A table: one row per run, one column per metric.
#[derive(Clone, Debug)]
pub struct Table {
    /// Run names, one per row.
    pub rows: Vec<String>,
    /// The metric columns (the run name column is implicit).
    pub columns: Vec<Column>,
}

fn col(
    header: &str,
    help: &str,
    better: Better,
    format: Format,
    runs: &[RunResult],
    f: impl Fn(&RunResult) -> Option<f64>,
) -> Column {
    Column {
        header: header.into(),
        help: help.into(),
        better,
        format,
        values: runs.iter().map(f).collect(),
    }
}

fn hist(run: &RunResult, name: &str, pick: fn(&crate::metrics::Summary) -> f64) -> Option<f64> {
    run.summary(name).filter(|s| s.count > 0).map(pick)
}

/// The main comparison: throughput, latency percentiles, failure rates, pool and streaming figures, cost.
pub fn comparison(results: &ResultsFile) -> Table {
    use Better::*;
    use Format::*;
    let runs = &results.runs;
    let per_request = |r: &RunResult, n: f64| (r.scheduled > 0).then(|| n / r.scheduled as f64);
    let columns = vec![
        col(
            "requests",
            "logical requests measured (after warm-up)",
            Neither,
            Count,
            runs,
            |r| Some(r.scheduled as f64),
        ),
        col(
            "req/s",
            "requests finished per second, all outcomes",
            Higher,
            OneDecimal,
            runs,
            |r| Some(r.rps),
        ),
        col(
            "p50 ms",
            "median latency from the intended start",
            Lower,
            Millis,
            runs,
            |r| hist(r, "latency", |s| s.p50),
        ),
        col(
            "p90 ms",
            "90th percentile latency",
            Lower,
            Millis,
            runs,
            |r| hist(r, "latency", |s| s.p90),
        ),
        col(
            "p99 ms",
            "99th percentile latency",
            Lower,
            Millis,
            runs,
            |r| hist(r, "latency", |s| s.p99),
        ),
        col(
            "p99.9 ms",
            "99.9th percentile latency",
            Lower,
            Millis,
            runs,
            |r| hist(r, "latency", |s| s.p999),
        ),
        col("max ms", "slowest request", Lower, Millis, runs, |r| {
            hist(r, "latency", |s| s.max)
        }),
        col(
            "timeouts %",
            "requests that timed out, any phase (see the breakdown below)",
            Lower,
            Percent,
            runs,
            |r| (r.scheduled > 0).then(|| r.timeout_rate() * 100.0),
        ),
        col(
            "errors %",
            "requests that did not end ok (timeouts included, cancelled excluded)",
            Lower,
            Percent,
            runs,
            |r| (r.scheduled > 0).then(|| r.error_rate() * 100.0),
        ),
        col(
            "retries/req",
            "retries per logical request",
            Lower,
            TwoDecimals,
            runs,
            |r| per_request(r, r.retries.values().sum::<u64>() as f64),
        ),
        col(
            "conns opened",
            "connections the pool opened (each paid a handshake)",
            Lower,
            Count,
            runs,
            |r| Some(r.pool.opened as f64),
        ),
        col(
            "pool wait p99 ms",
            "99th percentile wait for a connection slot",
            Lower,
            Millis,
            runs,
            |r| hist(r, "pool_wait", |s| s.p99),
        ),
        col(
            "TTFT p50 ms",
            "median time to the first content token (streaming)",
            Lower,
            Millis,
            runs,
            |r| hist(r, "ttft", |s| s.p50),
        ),
        col(
            "TTFT p99 ms",
            "99th percentile time to first token (streaming)",
            Lower,
            Millis,
            runs,
            |r| hist(r, "ttft", |s| s.p99),
        ),
        col(
            "ITL p99 ms",
            "99th percentile inter-token latency (streaming)",
            Lower,
            Millis,
            runs,
            |r| hist(r, "itl", |s| s.p99),
        ),
        col(
            "tokens/s p50",
            "median output tokens per second per request (streaming)",
            Higher,
            OneDecimal,
            runs,
            |r| hist(r, crate::metrics::recorder::TOKENS_PER_S, |s| s.p50),
        ),
        col(
            "$ / 1k req",
            "cost per 1,000 requests in USD",
            Lower,
            Dollars,
            runs,
            |r| r.cost_usd.and_then(|c| per_request(r, c * 1000.0)),
        ),
    ];
    Table {
        rows: runs.iter().map(|r| r.name.clone()).collect(),
        columns,
    }
}

/// Every non-ok outcome seen in any run, as a percentage of requests: timeouts by phase first, then errors by kind.
pub fn breakdown(results: &ResultsFile) -> Table {
    let mut keys: Vec<&str> = results
        .runs
        .iter()
        .flat_map(|r| r.outcomes.keys().map(String::as_str))
        .filter(|k| *k != "ok")
        .collect();
    keys.sort_by_key(|k| (!k.starts_with("timeout_"), *k));
    keys.dedup();
    let columns = keys
        .iter()
        .map(|key| Column {
            header: format!("{key} %"),
            help: describe_outcome(key),
            better: if *key == "cancelled" {
                Better::Neither
            } else {
                Better::Lower
            },
            format: Format::Percent,
            values: results
                .runs
                .iter()
                .map(|r| {
                    (r.scheduled > 0).then(|| r.count(key) as f64 * 100.0 / r.scheduled as f64)
                })
                .collect(),
        })
        .collect();
    Table {
        rows: results.runs.iter().map(|r| r.name.clone()).collect(),
        columns,
    }
}

/// Pool figures per run.
pub fn pool(results: &ResultsFile) -> Table {
    use Better::*;
    use Format::*;
    let runs = &results.runs;
    let columns = vec![
        col(
            "max conns",
            "the pool's cap (settings)",
            Neither,
            Count,
            runs,
            |r| Some(r.settings.max_connections as f64),
        ),
        col("opened", "connections opened", Lower, Count, runs, |r| {
            Some(r.pool.opened as f64)
        }),
        col(
            "reused",
            "checkouts served by an idle connection",
            Higher,
            Count,
            runs,
            |r| Some(r.pool.reused as f64),
        ),
        col(
            "peak open",
            "most connections open at once",
            Neither,
            Count,
            runs,
            |r| Some(r.pool.peak_open as f64),
        ),
        col(
            "peak waiting",
            "most requests waiting for a slot at once",
            Lower,
            Count,
            runs,
            |r| Some(r.pool.peak_waiting as f64),
        ),
        col(
            "connect failures",
            "dials that failed or timed out",
            Lower,
            Count,
            runs,
            |r| Some(r.pool.connect_failures as f64),
        ),
        col(
            "pool wait p50 ms",
            "median wait for a slot",
            Lower,
            Millis,
            runs,
            |r| hist(r, "pool_wait", |s| s.p50),
        ),
        col(
            "pool wait p99 ms",
            "99th percentile wait for a slot",
            Lower,
            Millis,
            runs,
            |r| hist(r, "pool_wait", |s| s.p99),
        ),
    ];
    Table {
        rows: runs.iter().map(|r| r.name.clone()).collect(),
        columns,
    }
}

/// What an outcome key means, in words.
pub fn describe_outcome(key: &str) -> String {
    let fixed = match key {
        "ok" => "succeeded",
        "timeout_pool" => "timed out waiting for a free connection in the pool",
        "timeout_connect" => "timed out connecting (TCP + TLS handshake)",
        "timeout_write" => "timed out sending the request",
        "timeout_read" => "timed out waiting for the next bytes of the response",
        "timeout_deadline" => "ran past the overall per-request deadline",
        "circuit_open" => "were rejected by the open circuit breaker (never sent)",
        "budget_exhausted" => "could not retry: the retry budget was spent",
        "cancelled" => "were still in flight at the end and were cancelled",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.into();
    }
    if let Some(code) = key.strip_prefix("status_") {
        return format!("got HTTP status {code}");
    }
    if let Some(kind) = key.strip_prefix("io_") {
        return format!("failed with an I/O or protocol error ({kind})");
    }
    if let Some(kind) = key.strip_prefix("connect_") {
        return format!("could not connect ({kind})");
    }
    format!("ended `{key}`")
}

/// A piece of verdict text: plain, or emphasised (a run name, a figure).
#[derive(Clone, Debug, PartialEq)]
pub enum Span {
    /// Plain text.
    Plain(String),
    /// Emphasised text.
    Strong(String),
}

/// One sentence of the verdict.
pub type Line = Vec<Span>;

/// The verdict: thresholds first, then the best run by the scenario's goal, then what explains the differences.
#[derive(Clone, Debug)]
pub struct Verdict {
    /// `Some(true)` all thresholds passed, `Some(false)` some failed, `None` none configured.
    pub passed: Option<bool>,
    /// The thresholds line and the best-run line.
    pub headline: Vec<Line>,
    /// Findings per run: dominant failure, breaker, lagging generator.
    pub notes: Vec<Line>,
    /// The thresholds as checked.
    pub thresholds: Vec<ThresholdResult>,
}

/// What "best" means for a scenario (`goal = "..."` in the scenario; p99 latency by default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Lowest p99 latency.
    P99,
    /// Highest throughput.
    Throughput,
    /// Lowest median time to first token.
    Ttft,
    /// Lowest cost per request.
    Cost,
    /// Lowest error rate.
    Errors,
}

impl Goal {
    /// The goal named in the scenario, p99 latency when none (or an unknown one) is given.
    pub fn of(results: &ResultsFile) -> Goal {
        let resolved = &results.scenario.resolved;
        // `[report] goal` in the scenario; a top-level `goal` is still read, for older files.
        let goal = resolved
            .get("report")
            .and_then(|r| r.get("goal"))
            .or_else(|| resolved.get("goal"));
        match goal.and_then(|g| g.as_str()) {
            Some("throughput" | "rps") => Goal::Throughput,
            Some("ttft") => Goal::Ttft,
            Some("cost") => Goal::Cost,
            Some("errors" | "error_rate") => Goal::Errors,
            _ => Goal::P99,
        }
    }

    fn describe(self) -> (&'static str, Better, Format, &'static str) {
        match self {
            Goal::P99 => ("p99 latency", Better::Lower, Format::Millis, " ms"),
            Goal::Throughput => ("throughput", Better::Higher, Format::OneDecimal, " req/s"),
            Goal::Ttft => (
                "median time to first token",
                Better::Lower,
                Format::Millis,
                " ms",
            ),
            Goal::Cost => (
                "cost per 1,000 requests",
                Better::Lower,
                Format::Dollars,
                " USD",
            ),
            Goal::Errors => ("error rate", Better::Lower, Format::Percent, "%"),
        }
    }

    fn value(self, r: &RunResult) -> Option<f64> {
        match self {
            Goal::P99 => hist(r, "latency", |s| s.p99),
            Goal::Throughput => Some(r.rps),
            Goal::Ttft => hist(r, "ttft", |s| s.p50),
            Goal::Cost => r
                .cost_usd
                .filter(|_| r.scheduled > 0)
                .map(|c| c * 1000.0 / r.scheduled as f64),
            Goal::Errors => Some(r.error_rate() * 100.0),
        }
    }
}

/// Runs whose error rate is more than this many points above the lowest are not "best", however fast.
const ERROR_SLACK_POINTS: f64 = 1.0;

/// Builds the verdict.
pub fn verdict(results: &ResultsFile) -> Verdict {
    use Span::*;
    let mut headline = Vec::new();
    let failed = results.thresholds.iter().filter(|t| !t.passed).count();
    let passed = (!results.thresholds.is_empty()).then_some(failed == 0);
    headline.push(match passed {
        None => vec![Plain("No thresholds configured.".into())],
        Some(true) => vec![Strong(format!(
            "PASS: all {} thresholds held.",
            results.thresholds.len()
        ))],
        Some(false) => vec![Strong(format!(
            "FAIL: {failed} of {} thresholds failed.",
            results.thresholds.len()
        ))],
    });
    if let Some(line) = best_line(results) {
        headline.push(line);
    }
    Verdict {
        passed,
        headline,
        notes: results.runs.iter().flat_map(notes).collect(),
        thresholds: results.thresholds.clone(),
    }
}

fn best_line(results: &ResultsFile) -> Option<Line> {
    use Span::*;
    let runs = &results.runs;
    if runs.len() == 1 {
        let r = &runs[0];
        return Some(vec![
            Strong(r.name.clone()),
            Plain(format!(
                ": {} req/s, p99 {} ms, {}% errors.",
                Format::OneDecimal.text(r.rps),
                hist(r, "latency", |s| s.p99).map_or(ABSENT.into(), |v| Format::Millis.text(v)),
                Format::Percent.text(r.error_rate() * 100.0)
            )),
        ]);
    }
    let mut goal = Goal::of(results);
    if runs.iter().all(|r| goal.value(r).is_none()) {
        goal = Goal::P99;
    }
    let (what, better, format, unit) = goal.describe();
    let min_errors = runs
        .iter()
        .map(|r| r.error_rate() * 100.0)
        .fold(f64::INFINITY, f64::min);
    let mut ranked: Vec<(&RunResult, f64)> = runs
        .iter()
        .filter(|r| {
            goal == Goal::Errors || r.error_rate() * 100.0 <= min_errors + ERROR_SLACK_POINTS
        })
        .filter_map(|r| goal.value(r).map(|v| (r, v)))
        .collect();
    ranked.sort_by(|a, b| match better {
        Better::Higher => b.1.total_cmp(&a.1),
        _ => a.1.total_cmp(&b.1),
    });
    let (best, value) = *ranked.first()?;
    let mut line = vec![
        Plain(format!("Best by {what}: ")),
        Strong(best.name.clone()),
        Plain(format!(" at {}{unit}", format.text(value))),
    ];
    if let Some((next, next_value)) = ranked.get(1) {
        let ratio = match better {
            Better::Higher if *next_value > 0.0 => Some(value / next_value),
            Better::Lower if value > 0.0 => Some(next_value / value),
            _ => None,
        };
        let by = match ratio {
            Some(x) if x >= 1.995 => format!("{x:.1}× better than"),
            Some(x) => format!("{:.0}% better than", (x - 1.0) * 100.0),
            None => "ahead of".into(),
        };
        line.push(Plain(format!(", {by} the runner-up ")));
        line.push(Strong(next.name.clone()));
        line.push(Plain(format!(" ({}{unit})", format.text(*next_value))));
    }
    line.push(Plain(".".into()));
    let excluded: Vec<String> = runs
        .iter()
        .filter(|r| {
            goal != Goal::Errors && r.error_rate() * 100.0 > min_errors + ERROR_SLACK_POINTS
        })
        .map(|r| {
            format!(
                "{} ({}% errors)",
                r.name,
                Format::Percent.text(r.error_rate() * 100.0)
            )
        })
        .collect();
    if !excluded.is_empty() {
        line.push(Plain(format!(
            " Not considered, more than {ERROR_SLACK_POINTS} point(s) more errors than the best: {}.",
            excluded.join(", ")
        )));
    }
    Some(line)
}

/// What explains a run's figures: its dominant failure, breaker openings, a generator that fell behind.
fn notes(run: &RunResult) -> Vec<Line> {
    use Span::*;
    let mut out = Vec::new();
    let worst = run
        .outcomes
        .iter()
        .filter(|(k, _)| *k != "ok" && *k != "cancelled")
        .max_by_key(|(k, v)| (**v, std::cmp::Reverse((*k).clone())));
    if let Some((key, count)) = worst {
        let share = *count as f64 * 100.0 / run.scheduled.max(1) as f64;
        if share >= 1.0 {
            let mut text = format!(
                ": {}% of requests {} ({key})",
                Format::Percent.text(share),
                describe_outcome(key)
            );
            if key == "timeout_pool" {
                text.push_str(&format!(
                    " — pool capped at {} connections, up to {} requests waited for a slot",
                    run.settings.max_connections, run.pool.peak_waiting
                ));
            }
            text.push('.');
            out.push(vec![Strong(run.name.clone()), Plain(text)]);
        }
    }
    let open_periods = breaker_open_periods(run);
    if !open_periods.is_empty() {
        let total: f64 = open_periods.iter().map(|(a, b)| b - a).sum();
        out.push(vec![
            Strong(run.name.clone()),
            Plain(format!(
                ": the circuit breaker opened {} time(s), {:.1} s open in total.",
                open_periods.len(),
                total
            )),
        ]);
    }
    if let Some(line) = clamped_note(run) {
        out.push(line);
    }
    if let Some(target) = run.target_rps {
        if run.rps < target * 0.95 {
            out.push(vec![
                Strong(run.name.clone()),
                Plain(format!(
                    ": the generator fell behind — {} req/s measured of {} scheduled.",
                    Format::OneDecimal.text(run.rps),
                    Format::OneDecimal.text(target)
                )),
            ]);
        }
    }
    out
}

/// "N values above 1 h were clamped", per histogram, when any were: their true value is unknown, so every figure above them is a lower bound.
fn clamped_note(run: &RunResult) -> Option<Line> {
    let clamped: Vec<String> = run
        .histograms
        .iter()
        .filter(|(_, h)| h.clamped > 0)
        .map(|(name, h)| format!("{name}: {}", h.clamped))
        .collect();
    if clamped.is_empty() {
        return None;
    }
    let total: u64 = run.histograms.values().map(|h| h.clamped).sum();
    Some(vec![
        Span::Strong(run.name.clone()),
        Span::Plain(format!(
            ": {total} values above 1 h were clamped to 1 h ({}); percentiles and max at that height are lower bounds.",
            clamped.join(", ")
        )),
    ])
}

/// Periods (seconds since the run started) during which the breaker was open; an open period still open at the end runs to the end of the measurement.
pub fn breaker_open_periods(run: &RunResult) -> Vec<(f64, f64)> {
    let mut periods = Vec::new();
    let mut opened: Option<f64> = None;
    for e in &run.breaker_events {
        let t = e.t_ms as f64 / 1000.0;
        match (e.state.as_str(), opened) {
            ("open", None) => opened = Some(t),
            ("open", Some(_)) => {}
            (_, Some(start)) => {
                periods.push((start, t));
                opened = None;
            }
            (_, None) => {}
        }
    }
    if let Some(start) = opened {
        let end = run
            .measured_seconds
            .max(run.series.last().map_or(0.0, |p| p.end() as f64))
            .max(start);
        periods.push((start, end));
    }
    periods
}

/// Client settings that differ between runs, as `key = value` per run (dotted keys), so a matrix shows what was varied.
pub fn differing_settings(results: &ResultsFile) -> Vec<(String, Vec<String>)> {
    let flat: Vec<Vec<(String, String)>> = results
        .runs
        .iter()
        .map(|r| {
            let mut out = Vec::new();
            flatten(
                "",
                &serde_json::to_value(&r.settings).unwrap_or_default(),
                &mut out,
            );
            out
        })
        .collect();
    let mut keys: Vec<String> = flat.iter().flatten().map(|(k, _)| k.clone()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter_map(|k| {
            let values: Vec<String> = flat
                .iter()
                .map(|f| {
                    f.iter()
                        .find(|(fk, _)| *fk == k)
                        .map_or(ABSENT.to_string(), |(_, v)| v.clone())
                })
                .collect();
            values
                .iter()
                .any(|v| *v != values[0])
                .then_some((k, values))
        })
        .collect()
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        serde_json::Value::String(s) => out.push((prefix.into(), s.clone())),
        other => out.push((prefix.into(), other.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn best_cell_and_absent_values() {
        let c = Column {
            header: "p99".into(),
            help: String::new(),
            better: Better::Lower,
            format: Format::Millis,
            values: vec![Some(12.04), None, Some(12.01), Some(40.0)],
        };
        // 12.04 and 12.01 both show as 12.0: both are best.
        assert!(c.is_best(0) && c.is_best(2) && !c.is_best(3));
        assert_eq!(c.text(1), ABSENT);
        let same = Column {
            values: vec![Some(1.0), Some(1.0)],
            ..c
        };
        assert!(!same.is_best(0), "no best when all are equal");
    }

    #[test]
    fn verdict_picks_the_fast_run_without_errors() {
        let results = fixture::comparison();
        let v = verdict(&results);
        let text: String = v.headline[1]
            .iter()
            .map(|s| match s {
                Span::Plain(t) | Span::Strong(t) => t.as_str(),
            })
            .collect();
        assert!(
            text.starts_with("Best by p99 latency: mock/pool-100"),
            "{text}"
        );
        assert!(
            text.contains("mock/pool-10 (2"),
            "starved pool excluded: {text}"
        );
        assert_eq!(v.passed, None);
        assert!(v.notes.iter().any(|l| l
            .iter()
            .any(|s| matches!(s, Span::Plain(t) if t.contains("timeout_pool")))));
    }

    fn text(line: &Line) -> String {
        line.iter()
            .map(|s| match s {
                Span::Plain(t) | Span::Strong(t) => t.as_str(),
            })
            .collect()
    }

    #[test]
    fn clamped_values_are_told() {
        let mut results = fixture::comparison();
        assert!(verdict(&results)
            .notes
            .iter()
            .all(|l| !text(l).contains("clamped")));
        let run = &mut results.runs[0];
        run.histograms.get_mut("latency").unwrap().clamped = 3;
        run.histograms.get_mut("service").unwrap().clamped = 1;
        let v = verdict(&results);
        let line = v
            .notes
            .iter()
            .map(text)
            .find(|l| l.contains("clamped"))
            .expect("a note on clamped values");
        assert!(
            line.contains("4 values above 1 h were clamped to 1 h (latency: 3, service: 1)"),
            "{line}"
        );
    }

    #[test]
    fn breaker_periods_close_at_the_end() {
        let mut run = fixture::comparison().runs.remove(2);
        assert_eq!(breaker_open_periods(&run), vec![(10.0, 15.0)]);
        run.breaker_events.truncate(1);
        assert_eq!(breaker_open_periods(&run), vec![(10.0, 30.0)]);
    }

    #[test]
    fn settings_diff_shows_only_what_varies() {
        let d = differing_settings(&fixture::comparison());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "max_connections");
        assert_eq!(d[0].1, vec!["10", "100", "50", "20"]);
    }
}
