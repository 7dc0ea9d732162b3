//! `relaybench search`: flags that override the `[search]` table, the search itself, its outputs and exit code.

use super::{exit, fail};
use crate::{
    live,
    load::Stop,
    metrics::results::StopReason,
    report,
    scenario::Scenario,
    search::{self, describe, SearchEvent},
};
use std::path::{Path, PathBuf};

/// Flags that override `[search]` keys (each becomes `--set search.KEY=VALUE`).
#[derive(clap::Args, Debug, Default)]
pub struct SearchArgs {
    /// What to turn: rate, users, or a numeric [client] key (max_connections, timeouts.pool, ...).
    #[arg(long)]
    pub knob: Option<String>,
    /// Low and high end: `10,2000`, or durations `100ms,5s`.
    #[arg(long, value_name = "LO,HI")]
    pub range: Option<String>,
    /// `max` (capacity) or `min` (sizing).
    #[arg(long)]
    pub goal: Option<String>,
    /// A check every probe must pass (repeatable; replaces the table's list): --objective "p99 < 800ms".
    #[arg(long)]
    pub objective: Vec<String>,
    /// Measured time per probe, after the warm-up.
    #[arg(long)]
    pub step: Option<String>,
    /// Wall time for the whole search.
    #[arg(long)]
    pub budget: Option<String>,
    /// Continuous knobs: stop at this relative bracket width ("3%").
    #[arg(long)]
    pub resolution: Option<String>,
    /// Extra probes of a value within noise of a limit.
    #[arg(long)]
    pub repeats: Option<u32>,
}

impl SearchArgs {
    /// The flags as `--set` overrides, after the user's own `--set`s.
    pub fn as_sets(&self) -> Vec<String> {
        let quote = |t: &str| format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\""));
        let mut sets = Vec::new();
        let mut put = |key: &str, value: String| sets.push(format!("search.{key}={value}"));
        if let Some(k) = &self.knob {
            put("knob", quote(k));
        }
        if let Some(r) = &self.range {
            let ends: Vec<String> = r
                .split(',')
                .map(|e| {
                    let e = e.trim();
                    if e.parse::<f64>().is_ok() {
                        e.to_string()
                    } else {
                        quote(e)
                    }
                })
                .collect();
            put("range", format!("[{}]", ends.join(", ")));
        }
        if let Some(g) = &self.goal {
            put("goal", quote(g));
        }
        if !self.objective.is_empty() {
            let list: Vec<String> = self.objective.iter().map(|o| quote(o)).collect();
            put("objective", format!("[{}]", list.join(", ")));
        }
        for (key, v) in [
            ("step", &self.step),
            ("budget", &self.budget),
            ("resolution", &self.resolution),
        ] {
            if let Some(v) = v {
                put(key, quote(v));
            }
        }
        if let Some(n) = self.repeats {
            put("repeats", n.to_string());
        }
        sets
    }
}

/// Prints the search plan (`search --validate`).
pub fn validate(s: &Scenario, source: &Path) -> u8 {
    if s.search.is_none() {
        return fail(exit::USAGE, no_table(source));
    }
    print!("{}", describe::plan(s));
    exit::OK
}

fn no_table(source: &Path) -> String {
    format!(
        "{}: no [search] table; add one (see docs/search.md) or give --knob, --range and --objective",
        source.display()
    )
}

/// Runs the search and returns the exit code: 0 when an answer was found, 1 when no value met
/// the objective, 2 on bad input, 3 when nothing was measured, 130 on Ctrl-C.
pub fn run(
    s: &Scenario,
    name: &str,
    source: &Path,
    out: Option<PathBuf>,
    quiet: bool,
    ui_args: super::ui::UiArgs,
) -> u8 {
    if s.search.is_none() {
        return fail(exit::USAGE, no_table(source));
    }
    if let Err(e) = crate::runner::preflight(s) {
        return fail(exit::USAGE, format!("{}: {e}", source.display()));
    }
    let out = out.unwrap_or_else(|| {
        PathBuf::from("reports")
            .join(name)
            .join(format!("search-{}", super::run::timestamp()))
    });
    let listener = match ui_args.ui.map(live::bind).transpose() {
        Ok(l) => l,
        Err(e) => return fail(exit::USAGE, e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                exit::NOT_MEASURED,
                format!("cannot start the async runtime: {e}"),
            )
        }
    };
    if !quiet {
        eprint!("{}", describe::plan(s));
    }
    let ui = match listener.map(|l| {
        // Probes are planned one by one; the board counts them as they come.
        let board = live::Board::new(name, 0);
        super::run::launch_ui(&runtime, l, board, None)
    }) {
        None => None,
        Some(Ok(ui)) => Some(ui),
        Some(Err(e)) => return fail(exit::USAGE, e),
    };
    let stop = Stop::new();
    let results = runtime.block_on(async {
        let interrupt = {
            let stop = stop.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("\ninterrupted: finishing the current probe's in-flight requests (Ctrl-C again to cancel them), then writing what the search found");
                    stop.interrupt();
                }
                if tokio::signal::ctrl_c().await.is_ok() {
                    stop.hurry();
                }
            })
        };
        let results = search::search(s, source, name, &stop, |event| {
            if let Some(ui) = &ui {
                show(ui, &event);
            }
            if !quiet {
                progress(event);
            }
        })
        .await;
        interrupt.abort();
        results
    });
    let results = match results {
        Ok(r) => r,
        Err(e @ crate::runner::RunError::MissingKey { .. }) => {
            return fail(exit::USAGE, format!("{}: {e}", source.display()))
        }
        Err(e) => return fail(exit::NOT_MEASURED, e),
    };
    let written = match report::write_all(&results, &out) {
        Ok(w) => w,
        Err(e) => return fail(exit::USAGE, e),
    };
    print!("{}", report::terminal::summary_table(&results));
    println!(
        "\nreport: {}  (results: {})",
        written.html.display(),
        written.results.display()
    );
    let code = verdict(&results);
    if let Some(ui) = ui {
        // Ctrl-C already said "stop": an interrupted search exits with its partial report.
        super::run::serve_report(&runtime, &ui, &out, ui_args.ui_exit || results.interrupted);
    }
    code
}

/// The exit code of a finished search.
fn verdict(results: &crate::metrics::ResultsFile) -> u8 {
    if results.interrupted {
        return exit::INTERRUPTED;
    }
    if !super::anything_measured(results) {
        return fail(
            exit::NOT_MEASURED,
            "no request got a response from any target: nothing was measured",
        );
    }
    let all_found = results
        .search
        .iter()
        .all(|r| r.found.is_some() && r.stopped_because != StopReason::NonMonotone);
    if all_found {
        exit::OK
    } else {
        exit::FAILED
    }
}

/// A search event on the live dashboard.
fn show(ui: &live::Ui, event: &SearchEvent) {
    match event {
        SearchEvent::Target(_) => {}
        SearchEvent::Progress {
            planned,
            progress,
            target_rps,
        } => ui.progress(planned, progress, *target_rps),
        SearchEvent::Probe {
            planned,
            value,
            run,
            probe,
        } => ui.probe(
            planned,
            run,
            live::ProbeView {
                target: run.target.clone(),
                value: value.clone(),
                passed: probe.passed,
                rps: run.rps,
                p99_ms: run.summary("latency").map_or(0.0, |s| s.p99),
                error_rate: run.error_rate(),
            },
        ),
    }
}

fn progress(event: SearchEvent) {
    match event {
        SearchEvent::Target(name) => eprintln!("searching `{name}`"),
        SearchEvent::Progress { .. } => {}
        SearchEvent::Probe {
            value, run, probe, ..
        } => {
            let p99 = run
                .summary("latency")
                .map(|s| crate::gate::threshold::format_ms(s.p99))
                .unwrap_or_else(|| "–".into());
            eprintln!(
                "  probe {value}: p99 {p99}, errors {:.2}% → {}{}",
                run.error_rate() * 100.0,
                if probe.passed { "pass" } else { "fail" },
                match (probe.saturated, probe.within_noise) {
                    (Some(reason), _) => format!(" (saturated: {})", reason.key()),
                    (None, true) => " (within noise of a limit)".into(),
                    (None, false) => String::new(),
                }
            );
        }
    }
}
