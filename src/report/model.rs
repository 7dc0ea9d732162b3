//! What every report says, computed once from a `ResultsFile`: the comparison tables (with the best cell per column); the verdict is in `verdict`.
//!
//! HTML, Markdown and the terminal only lay these out, so the numbers — and their rounding —
//! are the same in every output, and a re-render from results.json gives the same tables.

pub use super::verdict::{breaker_open_periods, verdict, Goal, Line, Span, Verdict};
use crate::metrics::{ResultsFile, RunResult};

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
    /// Runs that may be marked best in this column (all when empty): a run that left many
    /// arrivals unfinished cannot be best on errors or timeouts, which only count finished ones.
    pub eligible: Vec<bool>,
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
        let may_win = |i: usize| self.eligible.get(i).copied().unwrap_or(true);
        let shown: Vec<Option<f64>> = (0..self.values.len())
            .map(|i| {
                self.values[i]
                    .filter(|_| may_win(i))
                    .map(|v| self.format.text(v).parse::<f64>().unwrap_or(v))
            })
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
        eligible: Vec::new(),
    }
}

/// Runs whose failure share is more than this many points above the lowest are not "best", however fast.
pub(crate) const ERROR_SLACK_POINTS: f64 = 1.0;

/// Runs whose unfinished share (cancelled at the end, dropped) is within [`ERROR_SLACK_POINTS`]
/// of the lowest: only these can be best on figures that count finished requests only.
fn finished_enough(runs: &[RunResult]) -> Vec<bool> {
    let least = runs
        .iter()
        .map(|r| r.unfinished_rate() * 100.0)
        .fold(f64::INFINITY, f64::min);
    runs.iter()
        .map(|r| r.unfinished_rate() * 100.0 <= least + ERROR_SLACK_POINTS)
        .collect()
}

/// Whether a run's answers reasoned (reasoning tokens, or a reasoning time measured).
pub fn has_reasoning(r: &RunResult) -> bool {
    r.tokens.reasoning > 0 || r.histograms.contains_key("reasoning_time")
}

/// Time to first answer token and reasoning columns, only when a run reasoned (kept out of
/// reports of runs that did not, where they would repeat TTFT).
fn reasoning_columns(runs: &[RunResult]) -> Vec<Column> {
    use Better::*;
    use Format::*;
    if !runs.iter().any(has_reasoning) {
        return Vec::new();
    }
    vec![
        col(
            "TTFAT p50 ms",
            "median time to first answer token: the first token after the reasoning (streaming)",
            Lower,
            Millis,
            runs,
            |r| hist(r, "ttfat", |s| s.p50),
        ),
        col(
            "TTFAT p99 ms",
            "99th percentile time to first answer token (streaming)",
            Lower,
            Millis,
            runs,
            |r| hist(r, "ttfat", |s| s.p99),
        ),
        col(
            "reasoning p50 ms",
            "median reasoning time: first reasoning token to first answer token (streaming)",
            Lower,
            Millis,
            runs,
            |r| hist(r, "reasoning_time", |s| s.p50),
        ),
        col(
            "reasoning tok/req",
            "reasoning tokens per answer that carried tokens",
            Neither,
            OneDecimal,
            runs,
            |r| {
                let answers = r.tokens.from_usage + r.tokens.counted + r.tokens.tokenizer;
                (answers > 0).then(|| r.tokens.reasoning as f64 / answers as f64)
            },
        ),
    ]
}

/// The usage audit, one row per run (– for a run without one): the relative difference
/// between the tokens the upstream reported and those relaybench counted, per side.
pub fn usage_audit(results: &ResultsFile) -> Option<Table> {
    use Better::*;
    use Format::*;
    let runs = &results.runs;
    if runs.iter().all(|r| r.usage_audit.is_none()) {
        return None;
    }
    type Side = fn(&crate::metrics::audit::UsageAudit) -> &crate::metrics::audit::DiffDistribution;
    let sides: [(&str, Side); 2] = [("prompt", |a| &a.prompt), ("completion", |a| &a.completion)];
    let mut columns = Vec::new();
    for (name, side) in sides {
        fn side_of(r: &RunResult, side: Side) -> Option<&crate::metrics::audit::DiffDistribution> {
            r.usage_audit.as_ref().map(side).filter(|d| d.audited > 0)
        }
        columns.push(col(
            &format!("{name} audited"),
            &format!("requests whose {name} tokens were both reported (`usage`) and counted"),
            Neither,
            Count,
            runs,
            move |r| side_of(r, side).map(|d| d.audited as f64),
        ));
        for (label, pick) in [
            (
                "p50",
                (|d| d.p50) as fn(&crate::metrics::audit::DiffDistribution) -> f64,
            ),
            ("p99", |d| d.p99),
            ("mean", |d| d.mean),
        ] {
            columns.push(col(
                &format!("{name} diff {label} %"),
                &format!("{label} of (reported − counted) / counted over the audited requests, % (+20 = the upstream reported 20 % more than relaybench counted)"),
                Neither,
                Percent,
                runs,
                move |r| side_of(r, side).map(|d| pick(d) * 100.0),
            ));
        }
        columns.push(col(
            &format!("{name} off >5 %"),
            &format!("share of audited requests whose {name} count was off by more than 5 % either way, %"),
            Lower,
            Percent,
            runs,
            move |r| side_of(r, side).map(|d| d.share_off * 100.0),
        ));
    }
    Some(Table {
        rows: runs.iter().map(|r| r.name.clone()).collect(),
        columns,
    })
}

/// Requested against received token lengths (`input_tokens`, `output_tokens`), one row per
/// run (– for a run without generated requests); `None` when no run has them.
pub fn token_lengths(results: &ResultsFile) -> Option<Table> {
    use crate::metrics::{lengths::TokenLengths, StoredHistogram};
    use Better::*;
    use Format::*;
    let runs = &results.runs;
    if runs.iter().all(|r| r.token_lengths.is_none()) {
        return None;
    }
    type Pick = fn(&TokenLengths) -> Option<&StoredHistogram>;
    let sides: [(&str, &str, Pick); 3] = [
        (
            "input asked",
            "tokens of the user message asked for (`input_tokens`, prefix included)",
            |l| l.requested_input.as_ref(),
        ),
        (
            "output asked",
            "output tokens asked for (`output_tokens`, sent as `max_tokens`)",
            |l| l.requested_output.as_ref(),
        ),
        (
            "output received",
            "output tokens of the `ok` answers",
            |l| l.received_output.as_ref(),
        ),
    ];
    let mut columns = Vec::new();
    for (name, help, pick) in sides {
        type Stat = fn(&crate::metrics::Summary) -> f64;
        let stats: [(&str, Stat); 2] = [("p50", |s| s.p50), ("p99", |s| s.p99)];
        for (label, stat) in stats {
            columns.push(col(
                &format!("{name} {label}"),
                &format!("{label} of the {help}"),
                Neither,
                Count,
                runs,
                move |r| {
                    let h = r.token_lengths.as_ref().and_then(pick)?;
                    (h.summary.count > 0).then(|| stat(&h.summary))
                },
            ));
        }
    }
    columns.push(col(
        "received / asked %",
        "mean output tokens received over mean output tokens asked, %: below 100 the upstream stopped early (pass `extra_body = { ignore_eos = true }` where it is honoured)",
        Neither,
        Percent,
        runs,
        |r| {
            let l = r.token_lengths.as_ref()?;
            let (asked, got) = (l.requested_output.as_ref()?, l.received_output.as_ref()?);
            (asked.summary.mean > 0.0).then(|| got.summary.mean / asked.summary.mean * 100.0)
        },
    ));
    Some(Table {
        rows: runs.iter().map(|r| r.name.clone()).collect(),
        columns,
    })
}

/// TTFT per shared-prefix group (`prefix_groups`), one row per run: p50 and p99 per group;
/// `None` when no run has groups.
pub fn ttft_by_prefix_group(results: &ResultsFile) -> Option<Table> {
    use Better::*;
    use Format::*;
    let runs = &results.runs;
    let groups = runs.iter().map(|r| r.ttft_by_prefix_group.len()).max()?;
    if groups == 0 {
        return None;
    }
    let mut columns = Vec::new();
    for g in 0..groups {
        type Stat = fn(&crate::metrics::Summary) -> f64;
        let stats: [(&str, Stat); 2] = [("p50", |s| s.p50), ("p99", |s| s.p99)];
        for (label, stat) in stats {
            columns.push(col(
                &format!("group {g} TTFT {label}"),
                &format!("{label} time to first token of the requests that start with shared prefix {g}, ms"),
                Lower,
                Millis,
                runs,
                move |r| {
                    let h = r.ttft_by_prefix_group.get(g)?;
                    (h.summary.count > 0).then(|| stat(&h.summary))
                },
            ));
        }
    }
    Some(Table {
        rows: runs.iter().map(|r| r.name.clone()).collect(),
        columns,
    })
}

/// Conversation turns (`turns`): one row per run and turn index with its requests, `ok`
/// answers, latency and TTFT p50/p99 (ms), so TTFT growing with the history shows down the
/// table; `None` when no run had conversations.
pub fn by_turn(results: &ResultsFile) -> Option<Table> {
    use Better::*;
    use Format::*;
    let rows: Vec<(&RunResult, &crate::metrics::lengths::TurnStats)> = results
        .runs
        .iter()
        .flat_map(|r| r.by_turn.iter().map(move |t| (r, t)))
        .collect();
    if rows.is_empty() {
        return None;
    }
    type Stat = fn(&crate::metrics::lengths::TurnStats) -> Option<f64>;
    let stats: [(&str, &str, Format, Stat); 6] = [
        (
            "requests",
            "requests of this turn that finished (every outcome but cancelled)",
            Count,
            |t| Some(t.count as f64),
        ),
        ("ok", "of them, ok", Count, |t| Some(t.ok as f64)),
        (
            "latency p50",
            "p50 latency of this turn's requests, ms",
            Millis,
            |t| (t.latency.summary.count > 0).then_some(t.latency.summary.p50),
        ),
        (
            "latency p99",
            "p99 latency of this turn's requests, ms",
            Millis,
            |t| (t.latency.summary.count > 0).then_some(t.latency.summary.p99),
        ),
        (
            "TTFT p50",
            "p50 time to first token of this turn's streamed ok answers, ms",
            Millis,
            |t| (t.ttft.summary.count > 0).then_some(t.ttft.summary.p50),
        ),
        (
            "TTFT p99",
            "p99 time to first token of this turn's streamed ok answers, ms",
            Millis,
            |t| (t.ttft.summary.count > 0).then_some(t.ttft.summary.p99),
        ),
    ];
    let columns = stats
        .into_iter()
        .map(|(header, help, format, stat)| Column {
            header: header.into(),
            help: help.into(),
            better: Neither,
            format,
            values: rows.iter().map(|(_, t)| stat(t)).collect(),
            eligible: Vec::new(),
        })
        .collect();
    Some(Table {
        rows: rows
            .iter()
            .map(|(r, t)| format!("{} · turn {}", r.name, t.turn))
            .collect(),
        columns,
    })
}

/// One line per run with conversations: its sessions completed and ended early.
pub fn sessions(results: &ResultsFile) -> Vec<String> {
    results
        .runs
        .iter()
        .filter_map(|r| {
            let s = r.sessions?;
            Some(format!(
                "{}: {} sessions completed, {} ended early (a turn not ok, the run's end or its request bound)",
                r.name, s.completed, s.ended_early
            ))
        })
        .collect()
}

/// One line per audited run: the tokenizer relaybench counted with (exact or approximate) and
/// where the run's token counts came from.
pub fn usage_audit_sources(results: &ResultsFile) -> Vec<String> {
    results
        .runs
        .iter()
        .filter_map(|r| {
            let a = r.usage_audit.as_ref()?;
            let exact = if a.exact { "exact" } else { "an approximation" };
            let source = r.token_source.as_deref().unwrap_or("none");
            Some(format!(
                "{}: counted with {} ({exact}); token counts from {source}",
                r.name, a.tokenizer
            ))
        })
        .collect()
}

/// Goodput columns, when any run was measured against an `[slo]`: without one they would
/// repeat the `ok` requests per second and `success %` (which they equal), so they are left out.
fn goodput_columns(runs: &[RunResult]) -> Vec<Column> {
    use Better::*;
    use Format::*;
    if runs.iter().all(|r| r.slo.is_none()) {
        return Vec::new();
    }
    vec![
        col(
            "goodput/s",
            "good requests per second: ended ok and met every limit of the scenario's [slo] that applied to them",
            Higher,
            OneDecimal,
            runs,
            |r| r.slo.map(|_| r.goodput_rate()),
        ),
        col(
            "goodput %",
            "arrivals that were good (ok and within the [slo]); requests that never finished count as not good",
            Higher,
            Percent,
            runs,
            |r| r.slo.and_then(|_| percent(r, r.goodput_fraction())),
        ),
    ]
}

/// A percentage of the run's arrivals, absent when it had none.
fn percent(r: &RunResult, rate: f64) -> Option<f64> {
    (r.offered() > 0).then_some(rate * 100.0)
}

pub(crate) fn hist(
    run: &RunResult,
    name: &str,
    pick: fn(&crate::metrics::Summary) -> f64,
) -> Option<f64> {
    run.summary(name).filter(|s| s.count > 0).map(pick)
}

/// The main comparison: throughput, latency percentiles, failure rates, pool and streaming figures, cost.
pub fn comparison(results: &ResultsFile) -> Table {
    use Better::*;
    use Format::*;
    let runs = &results.runs;
    let per_request = |r: &RunResult, n: f64| (r.scheduled > 0).then(|| n / r.scheduled as f64);
    let eligible = finished_enough(runs);
    let mut columns = vec![
        col(
            "requests",
            "arrivals measured (after warm-up): every request the load model asked for, counted where it was born",
            Neither,
            Count,
            runs,
            |r| Some(r.offered() as f64),
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
            "success %",
            "arrivals that ended ok; requests that never finished count as failures",
            Higher,
            Percent,
            runs,
            |r| percent(r, r.success_rate()),
        ),
        // Goodput columns follow; inserted here when a run has an SLO (see `goodput_columns`).
        Column {
            eligible: eligible.clone(),
            ..col(
                "timeouts %",
                "arrivals that timed out, any phase (see the breakdown below)",
                Lower,
                Percent,
                runs,
                |r| percent(r, r.timeout_rate()),
            )
        },
        Column {
            eligible,
            ..col(
                "errors %",
                "arrivals that ended in an error, timeouts included (unfinished ones are their own column)",
                Lower,
                Percent,
                runs,
                |r| percent(r, r.error_rate()),
            )
        },
        col(
            "unfinished %",
            "arrivals that never finished: cancelled when the grace period ended, or dropped at the in-flight cap",
            Lower,
            Percent,
            runs,
            |r| percent(r, r.unfinished_rate()),
        ),
        col(
            "dropped",
            "open model: arrivals never sent because the in-flight cap was reached",
            Lower,
            Count,
            runs,
            |r| r.target_rps.map(|_| r.dropped as f64),
        ),
        col(
            "late %",
            "open model: arrivals the generator started more than 5 ms behind schedule (its own lateness)",
            Lower,
            Percent,
            runs,
            |r| r.target_rps.and_then(|_| percent(r, r.late_rate())),
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
            "median time to the first token of any kind, reasoning included (streaming)",
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
    let after_success = columns
        .iter()
        .position(|c| c.header == "success %")
        .map_or(columns.len(), |i| i + 1);
    let after_ttft = columns
        .iter()
        .position(|c| c.header == "TTFT p99 ms")
        .map_or(columns.len(), |i| i + 1);
    columns.splice(after_ttft..after_ttft, reasoning_columns(runs));
    columns.splice(after_success..after_success, goodput_columns(runs));
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
            eligible: Vec::new(),
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
                .map(|r| percent(r, r.fraction(r.count(key))))
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
        "bad_response" => "got a success status with a body that is not a valid answer",
        "internal_error" => "failed inside relaybench itself (a bug: please report it)",
        "io_goaway" => "were not processed: the HTTP/2 server sent GOAWAY",
        "io_refused_stream" => "were refused by the HTTP/2 server (REFUSED_STREAM)",
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
            eligible: Vec::new(),
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
    fn settings_diff_shows_only_what_varies() {
        let d = differing_settings(&fixture::comparison());
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].0, "max_connections");
        assert_eq!(d[0].1, vec!["10", "100", "50", "20"]);
    }
}
