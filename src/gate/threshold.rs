//! Thresholds as written in a scenario (`[[threshold]] check = "p99 < 800ms"`): the expression grammar, scopes, and their evaluation against finished runs.
//!
//! Grammar of `check`: `METRIC OP VALUE`.
//!
//! * METRIC — a statistic of a timing histogram: `p50`, `p75`, `p90`, `p95`, `p99`, `p999`,
//!   `p(99.9)`, `min`, `max`, `mean`, optionally of a named histogram: `p99(ttft)`,
//!   `p(99.9, itl)`, `mean(pool_wait)` (default `latency`); or a run figure: `timeout_rate`,
//!   `error_rate`, `success_rate`, `unfinished_rate`, `dropped_rate`, `late_rate` (fractions of
//!   arrivals), `goodput_ratio` (good requests — `ok` and within `[slo]` — as a fraction of
//!   arrivals), `rate(status=429)`, `rate(outcome=timeout_pool)`, `retries_per_request`,
//!   `rps`, `goodput` (good requests per second), `tokens_per_s`, `cost_per_1k`.
//! * OP — `<`, `<=`, `>`, `>=`.
//! * VALUE — a duration with a unit for timings (`800ms`, `2s`), a ratio for rates (`1%`,
//!   `0.01`), a plain number otherwise (`cost_per_1k` also takes `$0.40`).

use crate::{
    metrics::{results::ThresholdResult, ResultsFile, RunResult},
    units::{Dur, Ratio},
};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use std::{fmt, str::FromStr};

pub use crate::metrics::recorder::TIMING_HISTOGRAMS;

/// A statistic of one histogram.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stat {
    /// The given percentile (0 < p ≤ 100).
    Percentile(f64),
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Arithmetic mean.
    Mean,
}

/// What a threshold or a comparison measures.
#[derive(Clone, Debug, PartialEq)]
pub enum Metric {
    /// A statistic of a timing histogram, in milliseconds.
    Timing {
        /// Which statistic.
        stat: Stat,
        /// Histogram name (`latency`, `ttft`, ...).
        histogram: String,
    },
    /// Fraction of arrivals that timed out (any phase).
    TimeoutRate,
    /// Fraction of arrivals that ended in an error (unfinished ones excluded: see `UnfinishedRate`).
    ErrorRate,
    /// Fraction of arrivals that ended `ok` (unfinished ones count as failures).
    SuccessRate,
    /// Fraction of arrivals that never finished: cancelled at the end of the grace period, or dropped.
    UnfinishedRate,
    /// Fraction of arrivals dropped at the in-flight cap.
    DroppedRate,
    /// Fraction of arrivals the open-model dispatcher started more than 5 ms late.
    LateRate,
    /// Fraction of requests that ended with this outcome key (`status_429`, `timeout_pool`, ...).
    OutcomeRate(String),
    /// Retries per scheduled request.
    RetriesPerRequest,
    /// Requests per second over the measured window.
    Rps,
    /// Good requests (`ok` and within the scenario's `[slo]`) per second over the measured window.
    Goodput,
    /// Fraction of arrivals that were good (`ok` and within the scenario's `[slo]`).
    GoodputRatio,
    /// Output tokens per second over the measured window.
    TokensPerS,
    /// US dollars per 1,000 requests (needs the run's `cost_usd`).
    CostPer1k,
}

/// Comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A parsed `check` expression, e.g. `p99(ttft) < 800ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The text as the user wrote it (shown in every output).
    pub text: String,
    /// Left-hand side.
    pub metric: Metric,
    /// Operator.
    pub op: Op,
    /// Right-hand side in the metric's canonical unit (ms, fraction, or plain number).
    pub value: f64,
}

/// Which runs a threshold applies to; each run in scope is checked on its own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// Every run.
    #[default]
    All,
    /// Runs of one target (`target:NAME`).
    Target(String),
    /// Runs of one variant, on every target (`variant:NAME`).
    Variant(String),
    /// One run (`run:TARGET/VARIANT`).
    Run(String),
}

/// Minimum requests measured before `abort_on_fail` may stop a run.
pub const DEFAULT_MIN_SAMPLES: u64 = 200;

fn default_min_samples() -> u64 {
    DEFAULT_MIN_SAMPLES
}

/// One `[[threshold]]` table of a scenario.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSpec {
    /// The expression, e.g. `"p99 < 800ms"`, `"timeout_rate < 1%"`.
    pub check: Check,
    /// `all` (default), `target:NAME`, `variant:NAME` or `run:TARGET/VARIANT`.
    #[serde(default)]
    pub scope: Scope,
    /// Stop the run early once this threshold fails on the live figures (see `gate::live`).
    #[serde(default)]
    pub abort_on_fail: bool,
    /// Requests that must have finished before `abort_on_fail` may stop a run.
    #[serde(default = "default_min_samples")]
    pub min_samples: u64,
}

impl Metric {
    /// The metric as written in expressions (canonical form).
    pub fn name(&self) -> String {
        match self {
            Metric::Timing { stat, histogram } => {
                let s = match stat {
                    Stat::Percentile(p) => format!("p({p})"),
                    Stat::Min => "min".into(),
                    Stat::Max => "max".into(),
                    Stat::Mean => "mean".into(),
                };
                if histogram == "latency" {
                    s
                } else if let Some(inner) = s.strip_prefix("p(").and_then(|r| r.strip_suffix(')')) {
                    format!("p({inner}, {histogram})")
                } else {
                    format!("{s}({histogram})")
                }
            }
            Metric::TimeoutRate => "timeout_rate".into(),
            Metric::ErrorRate => "error_rate".into(),
            Metric::SuccessRate => "success_rate".into(),
            Metric::UnfinishedRate => "unfinished_rate".into(),
            Metric::DroppedRate => "dropped_rate".into(),
            Metric::LateRate => "late_rate".into(),
            Metric::OutcomeRate(key) => match key.strip_prefix("status_") {
                Some(code) => format!("rate(status={code})"),
                None => format!("rate(outcome={key})"),
            },
            Metric::RetriesPerRequest => "retries_per_request".into(),
            Metric::Rps => "rps".into(),
            Metric::Goodput => "goodput".into(),
            Metric::GoodputRatio => "goodput_ratio".into(),
            Metric::TokensPerS => crate::metrics::recorder::TOKENS_PER_S.into(),
            Metric::CostPer1k => "cost_per_1k".into(),
        }
    }

    /// Whether a larger value is worse (latency, error rates, cost) or better (rps, tokens/s).
    pub fn higher_is_worse(&self) -> bool {
        !matches!(
            self,
            Metric::Rps
                | Metric::Goodput
                | Metric::GoodputRatio
                | Metric::TokensPerS
                | Metric::SuccessRate
        )
    }

    /// Whether the value is a fraction of requests.
    pub fn is_rate(&self) -> bool {
        matches!(
            self,
            Metric::TimeoutRate
                | Metric::ErrorRate
                | Metric::SuccessRate
                | Metric::GoodputRatio
                | Metric::UnfinishedRate
                | Metric::DroppedRate
                | Metric::LateRate
                | Metric::OutcomeRate(_)
        )
    }

    /// Formats a value of this metric with its unit.
    pub fn format(&self, v: f64) -> String {
        match self {
            Metric::Timing { .. } => format_ms(v),
            m if m.is_rate() => format!("{}%", round_sig(v * 100.0)),
            Metric::Rps | Metric::Goodput => format!("{} req/s", round_sig(v)),
            Metric::TokensPerS => format!("{} tokens/s", round_sig(v)),
            Metric::CostPer1k => format!("${}", round_sig(v)),
            _ => round_sig(v),
        }
    }

    /// The value of this metric for one run; `None` when the run did not record it.
    pub fn observe(&self, run: &RunResult) -> Option<f64> {
        let per_request = |n: f64| (run.scheduled > 0).then(|| n / run.scheduled as f64);
        let of_arrivals = |rate: f64| (run.offered() > 0).then_some(rate);
        match self {
            Metric::Timing { stat, histogram } => {
                let h = run.histograms.get(histogram)?.histogram().ok()?;
                if h.is_empty() {
                    return None;
                }
                let us = match stat {
                    Stat::Percentile(p) => h.value_at_quantile(p / 100.0) as f64,
                    Stat::Min => h.min() as f64,
                    Stat::Max => h.max() as f64,
                    Stat::Mean => h.mean(),
                };
                Some(us / 1000.0)
            }
            Metric::TimeoutRate => of_arrivals(run.timeout_rate()),
            Metric::ErrorRate => of_arrivals(run.error_rate()),
            Metric::SuccessRate => of_arrivals(run.success_rate()),
            Metric::UnfinishedRate => of_arrivals(run.unfinished_rate()),
            Metric::DroppedRate => of_arrivals(run.dropped_rate()),
            // Lateness is the open-model dispatcher's; a closed model has no schedule to be late on.
            Metric::LateRate => run.target_rps.and(of_arrivals(run.late_rate())),
            Metric::OutcomeRate(key) => of_arrivals(run.fraction(run.count(key))),
            Metric::RetriesPerRequest => {
                per_request(run.attempts.saturating_sub(run.scheduled) as f64)
            }
            Metric::Rps => Some(run.rps),
            Metric::Goodput => Some(run.goodput_rate()),
            Metric::GoodputRatio => of_arrivals(run.goodput_fraction()),
            Metric::TokensPerS => (run.measured_seconds > 0.0)
                .then(|| run.tokens.output as f64 / run.measured_seconds),
            Metric::CostPer1k => per_request(run.cost_usd? * 1000.0),
        }
    }
}

/// Milliseconds with a sensible precision and unit.
pub fn format_ms(ms: f64) -> String {
    if ms.abs() >= 10_000.0 {
        format!("{}s", round_sig(ms / 1000.0))
    } else {
        format!("{}ms", round_sig(ms))
    }
}

/// Four significant digits at most, no trailing zeros.
fn round_sig(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let digits = (4 - 1 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

impl FromStr for Metric {
    type Err = String;
    fn from_str(text: &str) -> Result<Metric, String> {
        let t = text.trim();
        let simple = match t {
            "timeout_rate" => Some(Metric::TimeoutRate),
            "error_rate" => Some(Metric::ErrorRate),
            "success_rate" => Some(Metric::SuccessRate),
            "unfinished_rate" => Some(Metric::UnfinishedRate),
            "dropped_rate" => Some(Metric::DroppedRate),
            "late_rate" => Some(Metric::LateRate),
            "retries_per_request" => Some(Metric::RetriesPerRequest),
            "rps" => Some(Metric::Rps),
            "goodput" => Some(Metric::Goodput),
            "goodput_ratio" => Some(Metric::GoodputRatio),
            crate::metrics::recorder::TOKENS_PER_S => Some(Metric::TokensPerS),
            "cost_per_1k" => Some(Metric::CostPer1k),
            _ => None,
        };
        if let Some(m) = simple {
            return Ok(m);
        }
        if let Some(arg) = t.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            return rate_metric(arg);
        }
        // Split `name(args)`; `p(99.9, ttft)` carries the histogram as a second argument.
        let (head, args) = match t.split_once('(') {
            Some((h, rest)) => {
                let inner = rest.strip_suffix(')').ok_or_else(|| {
                    format!("`{t}`: unbalanced parentheses; expected e.g. `p99(ttft)`")
                })?;
                (h.trim(), Some(inner.trim()))
            }
            None => (t, None),
        };
        let (stat, histogram) = match (head, args) {
            ("p", Some(args)) => {
                let (p, h) = match args.split_once(',') {
                    Some((p, h)) => (p.trim(), h.trim()),
                    None => (args, "latency"),
                };
                let p: f64 = p.parse().map_err(|_| {
                    format!("`{t}`: `{p}` is not a percentile; expected e.g. `p(99.9)`")
                })?;
                (Stat::Percentile(p), h)
            }
            (head, args) => {
                let stat = match head {
                    "min" => Stat::Min,
                    "max" => Stat::Max,
                    "mean" | "avg" => Stat::Mean,
                    "p999" => Stat::Percentile(99.9),
                    p if p.starts_with('p')
                        && p[1..].chars().all(|c| c.is_ascii_digit())
                        && p.len() > 1 =>
                    {
                        Stat::Percentile(p[1..].parse::<f64>().map_err(|e| e.to_string())?)
                    }
                    _ => return Err(unknown_metric(t)),
                };
                (stat, args.unwrap_or("latency"))
            }
        };
        if let Stat::Percentile(p) = stat {
            if !(p > 0.0 && p <= 100.0) {
                return Err(format!("`{t}`: a percentile must be in (0, 100]"));
            }
        }
        if !TIMING_HISTOGRAMS.contains(&histogram) {
            return Err(format!(
                "`{t}`: unknown histogram `{histogram}`; expected one of {}",
                TIMING_HISTOGRAMS.join(", ")
            ));
        }
        Ok(Metric::Timing {
            stat,
            histogram: histogram.to_string(),
        })
    }
}

fn rate_metric(arg: &str) -> Result<Metric, String> {
    let (k, v) = arg.split_once('=').ok_or_else(|| {
        format!("`rate({arg})`: expected `rate(status=429)` or `rate(outcome=timeout_pool)`")
    })?;
    let v = v.trim();
    match k.trim() {
        "status" => {
            let code: u16 = v
                .parse()
                .ok()
                .filter(|c| (100..=599).contains(c))
                .ok_or_else(|| format!("`rate({arg})`: `{v}` is not an HTTP status code"))?;
            Ok(Metric::OutcomeRate(format!("status_{code}")))
        }
        "outcome" => {
            if crate::metrics::Outcome::from_key(v).is_none() {
                return Err(format!(
                    "`rate({arg})`: `{v}` is not an outcome key (e.g. ok, status_503, timeout_pool, connect_error, io_reset, circuit_open)"
                ));
            }
            Ok(Metric::OutcomeRate(v.to_string()))
        }
        other => Err(format!(
            "`rate({arg})`: unknown selector `{other}`; use `status=` or `outcome=`"
        )),
    }
}

fn unknown_metric(t: &str) -> String {
    format!(
        "unknown metric `{t}`; expected p50, p90, p99, p(99.9), min, max, mean (optionally of a histogram: p99(ttft)), timeout_rate, error_rate, success_rate, goodput_ratio, unfinished_rate, dropped_rate, late_rate, rate(status=429), retries_per_request, rps, goodput, tokens_per_s or cost_per_1k"
    )
}

impl Op {
    /// Whether `observed OP limit` holds.
    pub fn holds(self, observed: f64, limit: f64) -> bool {
        match self {
            Op::Lt => observed < limit,
            Op::Le => observed <= limit,
            Op::Gt => observed > limit,
            Op::Ge => observed >= limit,
        }
    }
}

impl FromStr for Check {
    type Err = String;
    fn from_str(text: &str) -> Result<Check, String> {
        let t = text.trim();
        let (at, op, len) = ["<=", ">=", "<", ">"]
            .iter()
            .filter_map(|sym| t.find(sym).map(|at| (at, *sym)))
            .min_by_key(|(at, sym)| (*at, usize::MAX - sym.len()))
            .map(|(at, sym)| {
                let op = match sym {
                    "<=" => Op::Le,
                    ">=" => Op::Ge,
                    "<" => Op::Lt,
                    _ => Op::Gt,
                };
                (at, op, sym.len())
            })
            .ok_or_else(|| {
                format!("`{t}` has no operator; expected `METRIC OP VALUE`, e.g. \"p99 < 800ms\"")
            })?;
        let metric: Metric = t[..at].parse()?;
        let value = parse_value(&metric, t[at + len..].trim())?;
        Ok(Check {
            text: t.to_string(),
            metric,
            op,
            value,
        })
    }
}

/// Parses the right-hand side in the metric's unit.
fn parse_value(metric: &Metric, v: &str) -> Result<f64, String> {
    if v.is_empty() {
        return Err("missing value after the operator".into());
    }
    match metric {
        Metric::Timing { .. } => {
            if let Some(ms) = v
                .strip_suffix("ms")
                .and_then(|n| n.trim().parse::<f64>().ok())
            {
                // humantime does not take fractions ("1.5ms"); accept them for milliseconds.
                return finite(ms);
            }
            let d: Dur = v.parse()?;
            Ok(d.0.as_secs_f64() * 1000.0)
        }
        m if m.is_rate() => Ok(v.parse::<Ratio>()?.0),
        Metric::CostPer1k => finite_number(v.strip_prefix('$').unwrap_or(v)),
        _ => finite_number(v),
    }
}

fn finite_number(v: &str) -> Result<f64, String> {
    v.parse::<f64>()
        .map_err(|_| format!("`{v}` is not a number"))
        .and_then(finite)
}

fn finite(v: f64) -> Result<f64, String> {
    if v.is_finite() && v >= 0.0 {
        Ok(v)
    } else {
        Err(format!(
            "{v} is not a usable limit (must be a finite number ≥ 0)"
        ))
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Check {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Check {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(de::Error::custom)
    }
}

// Editors see `check` and `scope` as strings: the full grammar lives in `FromStr`, the schema
// catches the shape (an operator in `check`, a known kind in `scope`).
impl schemars::JsonSchema for Check {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Check".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "`METRIC OP VALUE`: METRIC is p50..p999, p(99.9), min, max, mean (optionally of a histogram: p99(ttft)), timeout_rate, error_rate, success_rate, goodput_ratio, unfinished_rate, dropped_rate, late_rate, rate(status=429), rate(outcome=timeout_pool), retries_per_request, rps, goodput, tokens_per_s or cost_per_1k; OP is <, <=, > or >=; VALUE is a duration for timings, a ratio for rates, else a number.",
            "type": "string",
            "pattern": r"^.+(<|>|<=|>=).+$",
            "examples": ["p99 < 800ms", "timeout_rate < 1%", "p99(ttft) <= 300ms"]
        })
    }
}

impl schemars::JsonSchema for Scope {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Scope".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Which runs a threshold applies to: `all`, `target:NAME`, `variant:NAME` or `run:TARGET/VARIANT`.",
            "type": "string",
            "pattern": r"^\s*(all|(target|variant|run)\s*:\s*\S.*)\s*$",
            "examples": ["all", "target:mock", "variant:pool-50", "run:mock/pool-50"]
        })
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(text: &str) -> Result<Scope, String> {
        let t = text.trim();
        if t == "all" {
            return Ok(Scope::All);
        }
        let (kind, name) = t.split_once(':').ok_or_else(|| {
            format!("`{t}`: expected `all`, `target:NAME`, `variant:NAME` or `run:TARGET/VARIANT`")
        })?;
        let name = name.trim().to_string();
        if name.is_empty() {
            return Err(format!("`{t}`: the name after `:` is empty"));
        }
        match kind.trim() {
            "target" => Ok(Scope::Target(name)),
            "variant" => Ok(Scope::Variant(name)),
            "run" => Ok(Scope::Run(name)),
            k => Err(format!(
                "`{t}`: unknown scope kind `{k}`; expected `target:`, `variant:` or `run:`"
            )),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => f.write_str("all"),
            Scope::Target(n) => write!(f, "target:{n}"),
            Scope::Variant(n) => write!(f, "variant:{n}"),
            Scope::Run(n) => write!(f, "run:{n}"),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(de::Error::custom)
    }
}

impl Scope {
    /// Whether a run (by target, variant) is in scope.
    pub fn matches(&self, target: &str, variant: &str) -> bool {
        match self {
            Scope::All => true,
            Scope::Target(t) => t == target,
            Scope::Variant(v) => v == variant,
            Scope::Run(r) => *r == format!("{target}/{variant}"),
        }
    }
}

/// One threshold checked on one run, with the number behind the verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Index of the threshold in the scenario.
    pub index: usize,
    /// The threshold's expression.
    pub check: Check,
    /// The run it was checked on.
    pub run: String,
    /// Observed value (canonical unit); `None` when the run did not record the metric.
    pub observed: Option<f64>,
    /// Whether it held. A metric with no data fails: a gate must not pass on silence.
    pub passed: bool,
    /// Why it failed early, when `abort_on_fail` stopped the run.
    pub aborted: Option<String>,
}

impl Verdict {
    /// The observed value as shown to people.
    pub fn observed_text(&self) -> String {
        let base = match self.observed {
            Some(v) => self.check.metric.format(v),
            None => "no data".into(),
        };
        match &self.aborted {
            Some(why) => format!("{base} (run aborted: {why})"),
            None => base,
        }
    }

    /// The row for results.json.
    pub fn to_result(&self) -> ThresholdResult {
        ThresholdResult {
            expression: self.check.text.clone(),
            scope: self.run.clone(),
            observed: self.observed_text(),
            passed: self.passed,
        }
    }
}

/// Checks every threshold on every run in its scope.
pub fn evaluate(specs: &[ThresholdSpec], results: &ResultsFile) -> Vec<Verdict> {
    let mut out = Vec::new();
    for (index, spec) in specs.iter().enumerate() {
        for run in results
            .runs
            .iter()
            .filter(|r| spec.scope.matches(&r.target, &r.variant))
        {
            let observed = spec.check.metric.observe(run);
            out.push(Verdict {
                index,
                check: spec.check.clone(),
                run: run.name.clone(),
                observed,
                passed: observed.is_some_and(|v| spec.check.op.holds(v, spec.check.value)),
                aborted: None,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_forms() {
        let c: Check = "p99 < 800ms".parse().unwrap();
        assert_eq!(c.op, Op::Lt);
        assert_eq!(c.value, 800.0);
        assert_eq!(c.metric.name(), "p(99)");
        let c: Check = "p(99.9, ttft) <= 1.5s".parse().unwrap();
        assert_eq!(c.op, Op::Le);
        assert_eq!(c.value, 1500.0);
        assert_eq!(c.metric.name(), "p(99.9, ttft)");
        let c: Check = "mean(pool_wait)<2.5ms".parse().unwrap();
        assert_eq!(c.value, 2.5);
        let c: Check = "timeout_rate < 1%".parse().unwrap();
        assert!((c.value - 0.01).abs() < 1e-12);
        let c: Check = "rate(status=429) <= 0.05".parse().unwrap();
        assert_eq!(c.metric, Metric::OutcomeRate("status_429".into()));
        let c: Check = "rps >= 100".parse().unwrap();
        assert_eq!((c.metric, c.op, c.value), (Metric::Rps, Op::Ge, 100.0));
        let c: Check = "cost_per_1k < $0.40".parse().unwrap();
        assert_eq!(c.value, 0.40);
        let c: Check = "goodput_ratio > 95%".parse().unwrap();
        assert_eq!(c.metric, Metric::GoodputRatio);
        assert!((c.value - 0.95).abs() < 1e-12);
        assert!(!c.metric.higher_is_worse());
        assert_eq!(c.metric.format(0.5), "50%");
        let c: Check = "goodput >= 80".parse().unwrap();
        assert_eq!((c.metric.name(), c.value), ("goodput".to_string(), 80.0));
        assert_eq!(c.metric.format(80.0), "80 req/s");
    }

    #[test]
    fn goodput_is_measured_against_the_arrivals_like_every_rate() {
        let mut run = crate::report::fixture::comparison().runs.remove(0);
        run.arrivals = 200;
        run.ledger.measured.arrivals = 200;
        run.ledger.measured.refused_by_guard = 0;
        run.measured_seconds = 10.0;
        run.good = Some(150);
        assert_eq!(Metric::GoodputRatio.observe(&run), Some(0.75));
        assert_eq!(Metric::Goodput.observe(&run), Some(15.0));
        // A file from before goodput: the `ok` requests are the good ones.
        run.good = None;
        let ok = run.count("ok") as f64;
        assert_eq!(Metric::Goodput.observe(&run), Some(ok / 10.0));
    }

    #[test]
    fn rejects_bad_expressions_with_a_reason() {
        for (text, says) in [
            ("p99 800ms", "no operator"),
            ("p99 < 800", "no unit"),
            ("p99(ttfx) < 1s", "unknown histogram"),
            ("latency < 1s", "unknown metric"),
            ("p(120) < 1s", "(0, 100]"),
            ("timeout_rate < 150%", "outside"),
            ("rate(status=999) < 1%", "status code"),
            ("rps > fast", "not a number"),
            ("p99 <", "missing value"),
        ] {
            let e = text.parse::<Check>().unwrap_err();
            assert!(e.contains(says), "`{text}`: {e}");
        }
        assert!("target:".parse::<Scope>().is_err());
        assert!("pool:a".parse::<Scope>().is_err());
        assert_eq!(
            "variant:small".parse::<Scope>().unwrap(),
            Scope::Variant("small".into())
        );
    }
}
