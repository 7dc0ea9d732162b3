//! The search loop: for each target, ask the strategy for a value, run the probe through `runner`, judge it, record it — within the time budget and the spend guard, until Ctrl-C.
//!
//! **Budget.** `budget` is the wall time of the whole command. Targets are searched one after
//! the other; each gets the time left divided by the targets left (a target that finishes
//! early passes its rest on). A probe starts only if its longest possible length (warm-up +
//! step + grace + the pause between runs) fits in its target's share, so the search ends
//! within its budget.
//!
//! **Spend guard.** A target's `max_requests` / `max_cost_usd` count over its whole search:
//! each probe runs with what is left of them, and the search stops when they are used up.

use super::{
    noise,
    probe::{probe_length, probe_run},
    strategy::{Next, Observation, Params, Search},
};
use crate::{
    load::{Progress, Stop, StopStage},
    metrics::{
        results::{SearchProbe, SearchResult, StopReason},
        ResultsFile, RunResult,
    },
    runner::{self, RunError},
    scenario::{
        search::{format_value, Knob, SearchSpec},
        PlannedRun, Scenario, Target,
    },
};
use std::{
    path::Path,
    time::{Duration, Instant},
};

/// What the search reports as it goes (for the terminal).
pub enum SearchEvent<'a> {
    /// A target's search begins.
    Target(&'a str),
    /// One second of a probe's run (for live displays).
    Progress {
        /// The probe's run.
        planned: &'a PlannedRun,
        /// Its live figures.
        progress: &'a Progress,
        /// The probe's open-model rate, if any.
        target_rps: Option<f64>,
    },
    /// A probe finished: its value, run and verdict.
    Probe {
        /// The probe's planned run.
        planned: &'a PlannedRun,
        /// The knob value shown with its unit.
        value: String,
        /// The run.
        run: &'a RunResult,
        /// Its verdict.
        probe: &'a SearchProbe,
    },
}

/// Searches every target of `scenario` (checked, with a `[search]` table) and gathers one results file.
pub async fn search(
    scenario: &Scenario,
    source: &Path,
    name: &str,
    stop: &Stop,
    mut on_event: impl FnMut(SearchEvent),
) -> Result<ResultsFile, RunError> {
    runner::preflight(scenario)?;
    let spec = scenario
        .search
        .as_ref()
        .expect("checked by the caller: the scenario has [search]");
    let knob = spec.knob(scenario).map_err(|e| RunError::Target {
        target: scenario.targets[0].name.clone(),
        error: format!("`{}`: {}", e.key, e.message),
    })?;
    let started_at = runner::now_rfc3339();
    let start = Instant::now();
    let mut runs = Vec::new();
    let mut found = Vec::new();
    for (i, target) in scenario.targets.iter().enumerate() {
        let left = spec.budget.0.saturating_sub(start.elapsed());
        let share = left / (scenario.targets.len() - i) as u32;
        on_event(SearchEvent::Target(&target.name));
        let job = Job {
            scenario,
            spec,
            knob: &knob,
            target,
        };
        let result = search_target(&job, share, stop, &mut runs, &mut on_event).await?;
        found.push(result);
    }
    let mut results = runner::results_file(
        scenario,
        source,
        name,
        started_at,
        stop.was_interrupted(),
        runs,
    );
    results.search = found;
    Ok(results)
}

/// Everything one target's search needs to keep between probes.
struct Spent {
    /// Attempts sent so far (warm-up included).
    attempts: u64,
    /// USD spent so far (warm-up included).
    cost_usd: f64,
}

/// What is searched: one target of the scenario, by the knob of its `[search]`.
struct Job<'a> {
    /// The whole scenario (probes are copies of it).
    scenario: &'a Scenario,
    /// Its `[search]` table.
    spec: &'a SearchSpec,
    /// The knob, checked and resolved.
    knob: &'a Knob,
    /// The target searched.
    target: &'a Target,
}

async fn search_target(
    job: &Job<'_>,
    share: Duration,
    stop: &Stop,
    runs: &mut Vec<RunResult>,
    on_event: &mut impl FnMut(SearchEvent),
) -> Result<SearchResult, RunError> {
    let Job {
        scenario,
        spec,
        knob,
        target,
    } = *job;
    let began = Instant::now();
    let mut search = Search::new(Params {
        range: knob.range,
        goal: spec.goal,
        integer: knob.kind.integer(),
        resolution: spec.resolution.0,
        max_repeats: spec.repeats,
    });
    let mut probes: Vec<SearchProbe> = Vec::new();
    let mut notes = Vec::new();
    let mut spent = Spent {
        attempts: 0,
        cost_usd: 0.0,
    };
    let longest = probe_length(scenario, spec);
    while let Next::Probe(value) = search.next_step() {
        if stop.stage() != StopStage::Running {
            search.stop(StopReason::Interrupted);
            break;
        }
        if began.elapsed() + longest > share {
            search.stop(StopReason::Budget);
            break;
        }
        let Some(guarded) = guard_left(target, &spent) else {
            search.stop(StopReason::SpendGuard);
            break;
        };
        if !probes.is_empty() {
            tokio::time::sleep(runner::COOL_DOWN).await;
        }
        let repeat = probes.iter().filter(|p| p.value == value).count();
        let (probe_scenario, planned) = probe_run(scenario, spec, knob, &guarded, value, repeat)
            .map_err(|error| RunError::Target {
                target: target.name.clone(),
                error,
            })?;
        let rate = runner::open_rate(&probe_scenario);
        let run = runner::execute_forwarded(
            &probe_scenario,
            &planned,
            stop,
            runs.len() as u64,
            None,
            |p| {
                on_event(SearchEvent::Progress {
                    planned: &planned,
                    progress: p,
                    target_rps: rate,
                })
            },
        )
        .await?;
        spent.attempts += run.attempts + run.warmup_attempts;
        spent.cost_usd += run.spend.map_or(0.0, |s| s.cost_usd + s.warmup_cost_usd);
        let run_index = runs.len();
        runs.push(run);
        let run = &runs[run_index];
        // Cut short by Ctrl-C or the spend guard: kept in `runs`, but its figures are not a verdict.
        let cut = if stop.was_interrupted() {
            Some((StopReason::Interrupted, "interrupted"))
        } else if run.stopped_early.is_some() {
            Some((StopReason::SpendGuard, "cut short by the spend guard"))
        } else {
            None
        };
        if let Some((reason, why)) = cut {
            notes.push(format!(
                "the probe at {} was {why}; its run is kept but not judged",
                format_value(knob.kind, value)
            ));
            search.stop(reason);
            break;
        }
        let (mut obs, _) = noise::judge(&spec.objective, run);
        let saturated = run.saturated.as_ref().map(|s| s.reason);
        if saturated.is_some() {
            // The upstream could not keep up at this value: whatever the truncated figures say, it fails.
            obs = Observation {
                passed: false,
                within_noise: false,
            };
        }
        let probe = SearchProbe {
            value,
            passed: obs.passed,
            within_noise: obs.within_noise,
            run_index,
            saturated,
        };
        on_event(SearchEvent::Probe {
            planned: &planned,
            value: format_value(knob.kind, value),
            run,
            probe: &probe,
        });
        probes.push(probe);
        search.record(value, obs);
    }
    let stopped_because = match search.next_step() {
        Next::Done(reason) => reason,
        // Unreachable: every break above stops the search first.
        Next::Probe(_) => StopReason::Interrupted,
    };
    notes.extend(observations(&search, &probes, knob));
    Ok(SearchResult {
        target: target.name.clone(),
        knob: knob.name.clone(),
        unit: knob.kind.unit().into(),
        goal: spec.goal,
        objective: spec.objective.iter().map(|c| c.text.clone()).collect(),
        range: [knob.range.0, knob.range.1],
        found: search.found(),
        interval: search.interval(),
        stopped_because,
        probes,
        notes,
        elapsed_seconds: began.elapsed().as_secs_f64(),
    })
}

/// What the reader must know beyond the answer: non-monotone pairs, values decided by repeats.
fn observations(search: &Search, probes: &[SearchProbe], knob: &Knob) -> Vec<String> {
    let mut notes = Vec::new();
    let saturated: Vec<String> = probes
        .iter()
        .filter_map(|p| {
            p.saturated
                .map(|r| format!("{} ({})", format_value(knob.kind, p.value), r.key()))
        })
        .collect();
    if !saturated.is_empty() {
        notes.push(format!(
            "saturated, ended early and counted as failing: {}",
            saturated.join(", ")
        ));
    }
    for (passed, failed) in search.non_monotone() {
        notes.push(format!(
            "non-monotone: the objective held at {} but not at {}; the search assumes one knee, so treat the answer with care",
            format_value(knob.kind, *passed),
            format_value(knob.kind, *failed)
        ));
    }
    for d in search.decided() {
        let looks = probes.iter().filter(|p| p.value == d.value).count();
        if looks > 1 {
            notes.push(format!(
                "{} was within noise of a limit and probed {looks} times; decided {} by the repeats",
                format_value(knob.kind, d.value),
                if d.passed { "pass" } else { "fail" }
            ));
        }
    }
    notes
}

/// The target with its spend limits reduced to what the search has left; `None` when nothing is left.
fn guard_left(target: &Target, spent: &Spent) -> Option<Target> {
    let mut t = target.clone();
    if let Some(max) = target.max_requests {
        let left = max.saturating_sub(spent.attempts);
        if left == 0 {
            return None;
        }
        t.max_requests = Some(left);
    }
    if let Some(max) = target.max_cost_usd {
        let left = max - spent.cost_usd;
        if left <= 0.0 {
            return None;
        }
        t.max_cost_usd = Some(left);
    }
    Some(t)
}
