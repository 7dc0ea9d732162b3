//! The verdict every report opens with: thresholds, the best run by the scenario's goal, and per run what limited it — causes computed from the figures, never guessed.
//!
//! A run is judged on its arrivals: requests that never finished (cancelled at the end of the
//! grace period, dropped at the in-flight cap) are failures, so a run that left a quarter of
//! its arrivals unfinished cannot be best. What held a run back is named from its own numbers:
//! the generator (start lag), the in-flight cap (drops, queueing), the pool (waits for a
//! connection, requests still waiting for one at the stop), or the upstream (service time).

use super::model::{hist, Better, Format, ABSENT, ERROR_SLACK_POINTS};
use crate::metrics::{recorder::LATE_AFTER, ResultsFile, RunResult, ThresholdResult};

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
    /// Findings per run: what limited it (computed causes), dominant failure, breaker, ledger.
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
    /// Fewest failures: errors plus arrivals that never finished.
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
            Goal::Errors => (
                "failure rate (errors and unfinished requests)",
                Better::Lower,
                Format::Percent,
                "%",
            ),
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
            Goal::Errors => Some(failure_percent(r)),
        }
    }
}

/// Failures in percent of arrivals: everything that did not end `ok`, unfinished requests included.
fn failure_percent(r: &RunResult) -> f64 {
    100.0 - r.success_rate() * 100.0
}

/// Builds the verdict.
pub fn verdict(results: &ResultsFile) -> Verdict {
    use Span::*;
    let mut headline = Vec::new();
    let failed = results.thresholds.iter().filter(|t| !t.passed).count();
    let passed = (!results.thresholds.is_empty()).then_some(failed == 0);
    headline.push(match passed {
        // A search's probes are judged against its objective, which the search section states.
        None if !results.search.is_empty() => vec![Plain(
            "The search judged each probe against its objective (above); no thresholds configured."
                .into(),
        )],
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
    // Probes of one knob are not rivals: "best by p99" would name the lightest load.
    if results.search.is_empty() {
        if let Some(line) = best_line(results) {
            headline.push(line);
        }
    }
    let max_in_flight = results
        .scenario
        .resolved
        .get("workload")
        .and_then(|w| w.get("max_in_flight"))
        .and_then(|v| v.as_u64());
    Verdict {
        passed,
        headline,
        notes: results
            .runs
            .iter()
            .flat_map(|r| notes(r, max_in_flight))
            .collect(),
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
                ": {} req/s, p99 {} ms, {}% success ({}% errors, {}% unfinished).",
                Format::OneDecimal.text(r.rps),
                hist(r, "latency", |s| s.p99).map_or(ABSENT.into(), |v| Format::Millis.text(v)),
                Format::Percent.text(r.success_rate() * 100.0),
                Format::Percent.text(r.error_rate() * 100.0),
                Format::Percent.text(r.unfinished_rate() * 100.0),
            )),
        ]);
    }
    let mut goal = Goal::of(results);
    if runs.iter().all(|r| goal.value(r).is_none()) {
        goal = Goal::P99;
    }
    let (what, better, format, unit) = goal.describe();
    let least_failures = runs
        .iter()
        .map(failure_percent)
        .fold(f64::INFINITY, f64::min);
    let considered = |r: &RunResult| {
        goal == Goal::Errors || failure_percent(r) <= least_failures + ERROR_SLACK_POINTS
    };
    let mut ranked: Vec<(&RunResult, f64)> = runs
        .iter()
        .filter(|r| considered(r))
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
        .filter(|r| !considered(r))
        .map(|r| {
            format!(
                "{} ({}% success: {}% errors, {}% unfinished)",
                r.name,
                Format::Percent.text(r.success_rate() * 100.0),
                Format::Percent.text(r.error_rate() * 100.0),
                Format::Percent.text(r.unfinished_rate() * 100.0)
            )
        })
        .collect();
    if !excluded.is_empty() {
        line.push(Plain(format!(
            " Not considered, more than {ERROR_SLACK_POINTS} point(s) more failures (errors or unfinished requests) than the best: {}.",
            excluded.join(", ")
        )));
    }
    Some(line)
}

/// A share of a run's arrivals as "N (x %)".
fn share(run: &RunResult, n: u64) -> String {
    format!("{n} ({}%)", Format::Percent.text(run.fraction(n) * 100.0))
}

/// A latency percentile of a histogram as text with its unit, or `–`.
fn ms(run: &RunResult, histogram: &str, pick: fn(&crate::metrics::Summary) -> f64) -> String {
    hist(run, histogram, pick).map_or(ABSENT.into(), |v| format!("{} ms", Format::Millis.text(v)))
}

/// What limited a run, computed from its figures: each a sentence about one part of the path.
pub fn causes(run: &RunResult, max_in_flight: Option<u64>) -> Vec<String> {
    let mut out = Vec::new();
    let cap = max_in_flight.map_or("the in-flight cap".into(), |c| {
        format!("the in-flight cap of {c}")
    });
    // The generator: its own lateness is in the numbers, so it comes first.
    if run.target_rps.is_some() && run.late_rate() >= 0.01 {
        out.push(format!(
            "the generator fell behind its schedule: {} arrivals started more than {} ms late (start lag p99 {}) — it is short of CPU; give it more cores or threads, or lower the rate",
            share(run, run.late),
            LATE_AFTER.as_millis(),
            ms(run, "start_lag", |s| s.p99),
        ));
    }
    // The in-flight cap: arrivals held back by the generator's own limit.
    if run.dropped > 0 {
        out.push(format!(
            "{} arrivals were dropped at {cap}: the upstream could not keep up (service p99 {}); raise `max_in_flight` or `-c`, or queue them (`on_overload = \"queue\"`)",
            share(run, run.dropped),
            ms(run, "service", |s| s.p99),
        ));
    }
    let queued = run.ledger.measured.queued;
    if queued > 0 && run.fraction(queued) >= 0.01 {
        out.push(format!(
            "{} arrivals waited for a slot at {cap} (queue wait p99 {}): their latency includes the wait; raise `max_in_flight` or `-c` if the upstream can take more",
            share(run, queued),
            ms(run, "queue_wait", |s| s.p99),
        ));
    }
    // The pool: requests that waited for a connection, or were still waiting at the stop.
    let pool_timeouts = run.count("timeout_pool");
    let waiting_at_stop = run.ledger.waiting_for_pool_at_stop;
    let pool_p99 = hist(run, "pool_wait", |s| s.p99).unwrap_or(0.0);
    let latency_p99 = hist(run, "latency", |s| s.p99).unwrap_or(0.0);
    if pool_timeouts > 0
        || waiting_at_stop > 0
        || (latency_p99 > 0.0 && pool_p99 >= 0.25 * latency_p99)
    {
        let mut text = format!(
            "the pool was the bottleneck: capped at {} connections, up to {} requests waited for a slot (pool wait p99 {} of latency p99 {})",
            run.settings.max_connections,
            run.pool.peak_waiting,
            ms(run, "pool_wait", |s| s.p99),
            ms(run, "latency", |s| s.p99),
        );
        if pool_timeouts > 0 {
            text.push_str(&format!(
                "; {} timed out waiting (timeout_pool)",
                share(run, pool_timeouts)
            ));
        }
        if waiting_at_stop > 0 {
            text.push_str(&format!(
                "; {waiting_at_stop} were still waiting for a connection when the grace period ended"
            ));
        }
        out.push(text);
    }
    let cancelled = run.count("cancelled");
    if cancelled > 0 {
        let in_pool = waiting_at_stop.min(cancelled);
        out.push(format!(
            "{} arrivals had not finished when the grace period ended and were cancelled{}: they count as failures of the run",
            share(run, cancelled),
            if in_pool > 0 {
                format!(" ({in_pool} of them still queued for a connection, not at the upstream)")
            } else {
                String::new()
            },
        ));
    }
    // The upstream: slow answers, when nothing on our side explains a missed rate.
    if let Some(target) = run.target_rps {
        if run.rps < target * 0.95 && out.is_empty() {
            out.push(format!(
                "{} req/s finished of {} scheduled: the upstream answered slower than the arrivals came (service p99 {}, time to first byte p99 {})",
                Format::OneDecimal.text(run.rps),
                Format::OneDecimal.text(target),
                ms(run, "service", |s| s.p99),
                ms(run, "ttfb", |s| s.p99),
            ));
        }
    }
    out
}

/// What explains a run's figures: a ledger that does not balance, what limited it, its dominant failure, breaker openings.
fn notes(run: &RunResult, max_in_flight: Option<u64>) -> Vec<Line> {
    use Span::*;
    let mut out = Vec::new();
    if let Some(problem) = &run.ledger_error {
        out.push(vec![
            Strong(run.name.clone()),
            Strong(format!(
                ": relaybench bug — the ledger does not balance ({problem}); every figure of this run is suspect. Please report it."
            )),
        ]);
    }
    for cause in causes(run, max_in_flight) {
        out.push(vec![Strong(run.name.clone()), Plain(format!(": {cause}."))]);
    }
    let worst = run
        .outcomes
        .iter()
        .filter(|(k, _)| *k != "ok" && *k != "cancelled" && *k != "timeout_pool")
        .max_by_key(|(k, v)| (**v, std::cmp::Reverse((*k).clone())));
    if let Some((key, count)) = worst {
        if run.fraction(*count) >= 0.01 {
            out.push(vec![
                Strong(run.name.clone()),
                Plain(format!(
                    ": {} of arrivals {} ({key}).",
                    share(run, *count),
                    super::model::describe_outcome(key)
                )),
            ]);
        }
    }
    if let Some(panics) = run.outcomes.get("internal_error").filter(|n| **n > 0) {
        let sample = run
            .error_samples
            .get("internal_error")
            .map_or(String::new(), |s| format!(" First: {s}"));
        out.push(vec![
            Strong(run.name.clone()),
            Strong(format!(
                ": {panics} request(s) failed inside relaybench (a panic, counted as internal_error, never lost). Please report it.{sample}"
            )),
        ]);
    }
    if let Some(line) = clamped_note(run) {
        out.push(line);
    }
    if let Some(line) = mock_lateness_note(run) {
        out.push(line);
    }
    out.extend(usage_audit_notes(run));
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
    if let (Some(spend), Some(_)) = (&run.spend, run.cost_usd) {
        let estimated = match spend.estimated_attempts {
            0 => String::new(),
            n => format!(
                ", {n} of them priced at their worst case (what they used is unknown: timed out, reset or cancelled mid-answer)"
            ),
        };
        let priced = match run.token_source.as_deref() {
            Some("usage") => ", priced from the upstream's reported usage".to_string(),
            Some(source) => format!(
                ", priced from usage where reported, else from the tokens seen streamed (token counts: {source})"
            ),
            None => String::new(),
        };
        out.push(vec![
            Strong(run.name.clone()),
            Plain(format!(
                ": spent ${:.4} on {} attempts sent (measured ${:.4}, warm-up ${:.4}){estimated}{priced}.",
                spend.cost_usd + spend.warmup_cost_usd,
                spend.attempts,
                spend.cost_usd,
                spend.warmup_cost_usd,
            )),
        ]);
    }
    if let Some(why) = &run.stopped_early {
        out.push(vec![
            Strong(run.name.clone()),
            Strong(format!(": stopped early by a spend guard — {why}.")),
        ]);
    }
    if let Some(slo) = &run.slo {
        out.push(vec![
            Strong(run.name.clone()),
            Plain(format!(
                ": {} of arrivals were good (ok and within the SLO: {}), {} good req/s.",
                share(run, run.good_count()),
                slo.describe(),
                Format::OneDecimal.text(run.goodput_rate()),
            )),
        ]);
    }
    if let Some(s) = &run.saturated {
        out.push(vec![
            Strong(run.name.clone()),
            Strong(format!(
                ": saturated — stopped {} s into the measured phase ({}): {}.",
                Format::OneDecimal.text(s.at_s),
                s.reason.key(),
                s.detail
            )),
        ]);
    }
    out
}

/// The usage audit's finding for a run whose median reported count differs from relaybench's
/// own by more than 5 % (prompt or completion): over-reporting is billing more than was sent
/// (or a different model), under-reporting a different tokenizer at least.
fn usage_audit_notes(run: &RunResult) -> Vec<Line> {
    let Some(audit) = &run.usage_audit else {
        return Vec::new();
    };
    let approximate = if audit.exact {
        String::new()
    } else {
        format!(
            " (relaybench's count uses {} as an approximation of this model's tokenizer: set the target's `tokenizer` if you know it)",
            audit.tokenizer
        )
    };
    [("completion", &audit.completion), ("prompt", &audit.prompt)]
        .into_iter()
        .filter(|(_, d)| d.audited > 0 && d.p50.abs() > crate::metrics::audit::OFF_BY)
        .map(|(side, d)| {
            let (share, way, advice) = if d.p50 > 0.0 {
                (d.p50, "more", "check billing / model substitution")
            } else {
                (-d.p50, "fewer", "a different tokenizer or model family answered?")
            };
            vec![
                Span::Strong(run.name.clone()),
                Span::Strong(format!(
                    ": upstream reports {:.0} % {way} {side} tokens than relaybench counted",
                    share * 100.0
                )),
                Span::Plain(format!(
                    " (median of {} requests; {:.0} % of them off by more than 5 %): {advice}{approximate}.",
                    d.audited,
                    d.share_off * 100.0
                )),
            ]
        })
        .collect()
}

/// p99 lateness (ms) of the embedded mock's timed sends above which a run's notes warn that its
/// timing figures include the mock's own lateness. Its median is a few hundred microseconds (a
/// release build sharing two cores with the generator); its p99 past 2 ms moves ITL and TTFT
/// percentiles by more than their usual millisecond of noise.
pub const MOCK_LATE_P99_MS: f64 = 2.0;

/// The warning for a run whose embedded mock fell behind its own schedule, naming the kind of
/// send (and so the figures) affected.
fn mock_lateness_note(run: &RunResult) -> Option<Line> {
    let l = run.mock_lateness.as_ref()?;
    let (p99, kind) = l.worst_p99();
    if p99 <= MOCK_LATE_P99_MS {
        return None;
    }
    let affected = match (
        l.first.p99_ms > MOCK_LATE_P99_MS,
        l.later.p99_ms > MOCK_LATE_P99_MS,
    ) {
        (true, true) => "TTFT, latency and inter-token (ITL, TPOT, tokens/s)",
        (true, false) => "TTFT and latency",
        _ => "inter-token (ITL, TPOT, tokens/s)",
    };
    let figure = if p99 >= 10.0 {
        format!("{p99:.0}")
    } else {
        format!("{p99:.1}")
    };
    Some(vec![
        Span::Strong(run.name.clone()),
        Span::Strong(format!(
            ": the mock fell {figure} ms behind its own schedule (p99 lateness of {kind}; warned above {MOCK_LATE_P99_MS} ms): the {affected} figures include that lateness, not only the delays the mock injects (it was short of CPU or its timers woke late); for figures true to the millisecond give the mock cores of its own (`relaybench mock --workers N` on another machine, as a URL target)."
        )),
    ])
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    #[test]
    fn verdict_picks_the_fast_run_without_errors() {
        let results = fixture::comparison();
        let v = verdict(&results);
        let text: String = text(&v.headline[1]);
        assert!(
            text.starts_with("Best by p99 latency: mock/pool-100"),
            "{text}"
        );
        assert!(
            text.contains("mock/pool-10 (77"),
            "starved pool excluded: {text}"
        );
        assert_eq!(v.passed, None);
        assert!(
            v.notes.iter().any(|l| l
                .iter()
                .any(|s| matches!(s, Span::Plain(t) if t.contains("timeout_pool")))),
            "{:#?}",
            v.notes
        );
    }

    /// Two runs as `scenarios/pool-sizing.toml` shows them: a small pool that left a quarter of
    /// its arrivals queued for a connection when the grace period ended, with nothing but `ok`
    /// among those that finished, and a larger pool that finished everything, slower.
    fn starved_and_healthy() -> ResultsFile {
        let mut results = fixture::comparison();
        results.runs.truncate(2);
        let starved = &mut results.runs[0];
        let arrivals = starved.scheduled;
        let cancelled = arrivals * 2765 / 10_000;
        starved.outcomes = [
            ("ok".to_string(), arrivals - cancelled),
            ("cancelled".to_string(), cancelled),
        ]
        .into_iter()
        .collect();
        starved.ledger.waiting_for_pool_at_stop = cancelled;
        starved.ledger.in_flight_at_stop = cancelled;
        starved.target_rps = Some(200.0);
        starved.rps = 133.3;
        results
    }

    #[test]
    fn a_run_that_left_arrivals_unfinished_is_not_best_and_the_pool_is_named() {
        let results = starved_and_healthy();
        let v = verdict(&results);
        let headline: String = text(&v.headline[1]);
        assert!(
            headline.contains("Best by p99 latency: mock/pool-100"),
            "{headline}"
        );
        assert!(
            headline.contains("Not considered") && headline.contains("27.65% unfinished"),
            "{headline}"
        );
        let errors = crate::report::model::comparison(&results)
            .columns
            .into_iter()
            .find(|c| c.header == "errors %")
            .unwrap();
        assert_eq!(
            errors.text(0),
            "0.00",
            "it had no errors among finished requests"
        );
        assert!(!errors.is_best(0), "but it cannot be best on errors");
        let notes: Vec<String> = v.notes.iter().map(text).collect();
        let starved: Vec<&String> = notes
            .iter()
            .filter(|n| n.starts_with("mock/pool-10:"))
            .collect();
        assert!(
            starved
                .iter()
                .any(|n| n.contains("the pool was the bottleneck")),
            "{notes:#?}"
        );
        assert!(
            starved.iter().any(
                |n| n.contains("were cancelled") && n.contains("still queued for a connection")
            ),
            "{notes:#?}"
        );
        assert!(
            !notes.iter().any(|n| n.contains("generator")),
            "the generator is not blamed: {notes:#?}"
        );
    }

    #[test]
    fn the_cause_of_a_missed_rate_is_computed_from_the_figures() {
        let mut run = fixture::comparison().runs.remove(1);
        run.target_rps = Some(100.0);
        run.rps = 60.0;
        let upstream = causes(&run, None);
        assert_eq!(upstream.len(), 1, "{upstream:?}");
        assert!(
            upstream[0].contains("the upstream answered slower"),
            "{upstream:?}"
        );
        run.dropped = run.scheduled / 10;
        run.arrivals = run.scheduled + run.dropped;
        let capped = causes(&run, Some(50));
        assert!(
            capped[0].contains("dropped at the in-flight cap of 50"),
            "{capped:?}"
        );
        assert!(!capped
            .iter()
            .any(|c| c.contains("upstream answered slower")));
        run.late = run.arrivals / 5;
        let late = causes(&run, Some(50));
        assert!(
            late[0].contains("the generator fell behind its schedule"),
            "{late:?}"
        );
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
    fn a_saturated_run_and_its_slo_are_told_in_the_notes() {
        use crate::metrics::{Saturation, SaturationReason, Slo};
        let mut results = fixture::comparison();
        let run = &mut results.runs[0];
        run.slo = Some(Slo {
            latency: Some(crate::units::Dur::ms(500)),
            ..Slo::default()
        });
        run.good = Some(run.count("ok") / 2);
        run.saturated = Some(Saturation {
            reason: SaturationReason::RateBelowTarget,
            at_s: 4.0,
            detail: "240 requests completed in 3 s (80.0 req/s) of 600 due".into(),
        });
        let name = run.name.clone();
        let notes: Vec<String> = verdict(&results).notes.iter().map(text).collect();
        let saturated = format!(
            "{name}: saturated — stopped 4.0 s into the measured phase (rate_below_target): 240 requests completed in 3 s (80.0 req/s) of 600 due."
        );
        assert!(notes.contains(&saturated), "{notes:#?}");
        assert!(
            notes.iter().any(|n| n.starts_with(&name)
                && n.contains("were good (ok and within the SLO: latency ≤ 500ms)")),
            "{notes:#?}"
        );
    }

    #[test]
    fn a_late_mock_is_told_and_an_on_time_one_is_not() {
        use mock_upstream::{LatenessStats, LatenessSummary};
        let stats = |p99_ms: f64| LatenessStats {
            count: 1000,
            p50_ms: p99_ms / 4.0,
            p99_ms,
            max_ms: p99_ms * 2.0,
        };
        let mut results = fixture::comparison();
        results.runs[0].mock_lateness = Some(LatenessSummary {
            first: stats(1.2),
            later: stats(130.4),
        });
        results.runs[1].mock_lateness = Some(LatenessSummary {
            first: stats(0.05),
            later: stats(MOCK_LATE_P99_MS),
        });
        let (late, on_time) = (results.runs[0].name.clone(), results.runs[1].name.clone());
        let notes: Vec<String> = verdict(&results).notes.iter().map(text).collect();
        let warned: Vec<&String> = notes
            .iter()
            .filter(|n| n.contains("the mock fell"))
            .collect();
        assert_eq!(warned.len(), 1, "{notes:#?}");
        assert!(
            warned[0].starts_with(&format!(
                "{late}: the mock fell 130 ms behind its own schedule (p99 lateness of later tokens; warned above 2 ms): the inter-token (ITL, TPOT, tokens/s) figures include"
            )),
            "{}",
            warned[0]
        );
        assert!(!warned[0].contains("TTFT"), "first sends were on time");
        assert!(!notes
            .iter()
            .any(|n| n.starts_with(&on_time) && n.contains("mock fell")));
        results.runs[0].mock_lateness = Some(LatenessSummary {
            first: stats(4.56),
            later: stats(3.0),
        });
        let notes: Vec<String> = verdict(&results).notes.iter().map(text).collect();
        let line = notes.iter().find(|n| n.contains("the mock fell")).unwrap();
        assert!(
            line.contains("fell 4.6 ms behind its own schedule (p99 lateness of first tokens and whole replies")
                && line.contains("the TTFT, latency and inter-token (ITL, TPOT, tokens/s) figures"),
            "{line}"
        );
    }
}
