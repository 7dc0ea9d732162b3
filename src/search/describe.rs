//! Words for a search: the one-sentence answer every output leads with (from results.json alone, so `report` re-renders it), and the plan `search --validate` prints.

use super::{
    probe::probe_length,
    strategy::{worst_case_probes, Params},
};
use crate::{
    metrics::results::{SearchResult, StopReason},
    scenario::{
        search::{Goal, KnobKind},
        Scenario,
    },
};
use std::fmt::Write;

/// A knob value with its unit as recorded in results.json (`req/s`, `users`, `ms`, or none).
pub fn value_text(unit: &str, v: f64) -> String {
    let n = {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    match unit {
        "ms" => crate::gate::threshold::format_ms(v),
        "" => n,
        unit => format!("{n} {unit}"),
    }
}

/// The answer in one sentence, e.g. `max rate meeting p99 < 800ms: 76 req/s (between 76 and 79 req/s)`.
pub fn sentence(r: &SearchResult) -> String {
    let goal = match r.goal {
        Goal::Max => "max",
        Goal::Min => "min",
    };
    let objective = r.objective.join(" and ");
    let v = |x: f64| value_text(&r.unit, x);
    let head = format!("{goal} {} meeting {objective}", r.knob);
    let stopped = match r.stopped_because {
        StopReason::Converged | StopReason::RangeAllPass | StopReason::RangeAllFail => {
            String::new()
        }
        reason => format!("; stopped: {}", reason.name()),
    };
    match (r.found, r.interval) {
        (Some(found), [Some(lo), Some(hi)]) => {
            // The bounds share the answer's unit; durations keep theirs (`250ms`).
            let bound = |x: f64| match r.unit.as_str() {
                "ms" => v(x),
                _ => value_text("", x),
            };
            format!(
                "{head}: {} (between {} and {}{stopped})",
                v(found),
                bound(lo),
                bound(hi)
            )
        }
        (Some(found), _) if r.stopped_because == StopReason::RangeAllPass => {
            let edge = match r.goal {
                Goal::Max => "at least",
                Goal::Min => "at most",
            };
            format!("{head}: {edge} {} (the whole range met it)", v(found))
        }
        (Some(found), _) => format!(
            "{head}: {} so far (no failing value seen{stopped})",
            v(found)
        ),
        (None, _) if r.stopped_because == StopReason::NonMonotone => format!(
            "{head}: no answer — the objective failed at the easy end but held at the hard end (non-monotone)"
        ),
        (None, _) if r.stopped_because == StopReason::RangeAllFail => format!(
            "{head}: none in {}–{} (even {} failed)",
            v(r.range[0]),
            v(r.range[1]),
            v(match r.goal {
                Goal::Max => r.range[0],
                Goal::Min => r.range[1],
            })
        ),
        (None, _) => format!("{head}: not found{stopped}"),
    }
}

/// The plan of a search: knob, range, worst-case probes, time and spend.
pub fn plan(s: &Scenario) -> String {
    let mut out = String::new();
    let Some(spec) = &s.search else {
        return out;
    };
    let Ok(knob) = spec.knob(s) else {
        return out;
    };
    let params = Params {
        range: knob.range,
        goal: spec.goal,
        integer: knob.kind.integer(),
        resolution: spec.resolution.0,
        max_repeats: spec.repeats,
    };
    let probes = worst_case_probes(params);
    let length = probe_length(s, spec);
    let targets = s.targets.len();
    let v = |x: f64| value_text(knob.kind.unit(), x);
    let _ = writeln!(
        out,
        "search: {} {} in [{}, {}], objective: {}",
        match spec.goal {
            Goal::Max => "max",
            Goal::Min => "min",
        },
        knob.name,
        v(knob.range.0),
        v(knob.range.1),
        spec.objective
            .iter()
            .map(|c| c.text.as_str())
            .collect::<Vec<_>>()
            .join(" and ")
    );
    let _ = writeln!(
        out,
        "  each probe: warm-up {} + step {} (+ grace up to {}), at most {:.0}s",
        s.workload.warmup,
        spec.step,
        s.workload.grace,
        length.as_secs_f64()
    );
    let worst = length.as_secs_f64() * probes as f64;
    let _ = writeln!(
        out,
        "  worst case per target: {probes} probes (bisection to {}, each value probed up to {} times when within noise), {:.0}s",
        if knob.kind.integer() {
            "adjacent integers".to_string()
        } else {
            format!("{}% resolution", spec.resolution.0 * 100.0)
        },
        1 + spec.repeats,
        worst
    );
    let _ = writeln!(
        out,
        "  budget {} for {targets} target(s): worst case {:.0}s, so the search {}",
        spec.budget,
        worst * targets as f64,
        if worst * targets as f64 <= spec.budget.0.as_secs_f64() {
            "fits"
        } else {
            "may stop on its budget before it converges"
        }
    );
    let probes_fit = (spec.budget.0.as_secs_f64() / length.as_secs_f64()).floor() as usize;
    let most_probes = probes.min(probes_fit.max(1));
    let tries = 1 + u64::from(s.client.retry.max_retries);
    for t in &s.targets {
        let requests = match knob.kind {
            KnobKind::Rate => Some(
                (knob.range.1 * (s.workload.warmup.0 + spec.step.0).as_secs_f64()).ceil() as u64
                    * most_probes as u64,
            ),
            _ => s.workload.rate.filter(|_| s.workload.is_open()).map(|r| {
                (r * (s.workload.warmup.0 + spec.step.0).as_secs_f64()).ceil() as u64
                    * most_probes as u64
            }),
        };
        let mut line = format!("  spend on `{}`: ", t.name);
        match (requests, t.max_requests) {
            (Some(n), Some(max)) => {
                let _ = write!(
                    line,
                    "at most {} attempts (guard max_requests = {max} over the whole search)",
                    (n * tries).min(max)
                );
            }
            (Some(n), None) if tries == 1 => {
                let _ = write!(line, "at most {n} attempts (no retries)");
            }
            (Some(n), None) => {
                let _ = write!(
                    line,
                    "at most {} attempts ({n} requests, each tried up to {tries} times)",
                    n * tries
                );
            }
            (None, Some(max)) => {
                let _ = write!(
                    line,
                    "at most {max} attempts (guard max_requests over the whole search)"
                );
            }
            (None, None) => line
                .push_str("not bounded by the workload (closed model); set max_requests to cap it"),
        }
        if let Some(usd) = t.max_cost_usd {
            let _ = write!(
                line,
                ", at most ${usd} (max_cost_usd over the whole search)"
            );
        }
        let _ = writeln!(out, "{line}");
    }
    if !s.thresholds.is_empty() {
        let _ = writeln!(
            out,
            "  note: [[threshold]] tables are not evaluated by `search`; the objective judges each probe"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(
        goal: Goal,
        found: Option<f64>,
        interval: [Option<f64>; 2],
        why: StopReason,
    ) -> SearchResult {
        SearchResult {
            target: "relay".into(),
            knob: "rate".into(),
            unit: "req/s".into(),
            goal,
            objective: vec!["p99 < 800ms".into(), "error_rate < 1%".into()],
            range: [10.0, 2000.0],
            found,
            interval,
            stopped_because: why,
            probes: Vec::new(),
            notes: Vec::new(),
            elapsed_seconds: 1.0,
        }
    }

    #[test]
    fn one_sentence_for_every_ending() {
        let s = |g, f, i, w| sentence(&result(g, f, i, w));
        assert_eq!(
            s(
                Goal::Max,
                Some(76.0),
                [Some(76.0), Some(79.0)],
                StopReason::Converged
            ),
            "max rate meeting p99 < 800ms and error_rate < 1%: 76 req/s (between 76 and 79)"
        );
        assert!(s(
            Goal::Max,
            Some(76.0),
            [Some(76.0), Some(200.0)],
            StopReason::Budget
        )
        .ends_with("(between 76 and 200; stopped: budget)"));
        assert!(s(
            Goal::Max,
            Some(2000.0),
            [Some(2000.0), None],
            StopReason::RangeAllPass
        )
        .ends_with(": at least 2000 req/s (the whole range met it)"));
        assert!(s(
            Goal::Max,
            None,
            [None, Some(10.0)],
            StopReason::RangeAllFail
        )
        .ends_with(": none in 10 req/s–2000 req/s (even 10 req/s failed)"));
        assert!(
            s(Goal::Max, None, [None, Some(10.0)], StopReason::NonMonotone)
                .contains("non-monotone")
        );
        assert!(s(
            Goal::Max,
            Some(20.0),
            [Some(20.0), None],
            StopReason::Budget
        )
        .ends_with("20 req/s so far (no failing value seen; stopped: budget)"));
        let mut pool = result(
            Goal::Min,
            Some(45.0),
            [Some(44.0), Some(45.0)],
            StopReason::Converged,
        );
        pool.knob = "max_connections".into();
        pool.unit = String::new();
        assert_eq!(
            sentence(&pool),
            "min max_connections meeting p99 < 800ms and error_rate < 1%: 45 (between 44 and 45)"
        );
    }
}
