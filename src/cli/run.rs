//! `relaybench run` (and the execution half of `quick`): run a plan, write every output, pick the exit code.

use super::{exit, fail, progress};
use crate::{
    load::Stop,
    metrics::ResultsFile,
    report,
    runner::{self, RunError},
    scenario::{Plan, Scenario},
};
use std::path::{Path, PathBuf};

/// How a scenario is to be run.
pub struct RunOptions<'a> {
    /// Where the scenario came from (shown in errors and results).
    pub source: &'a Path,
    /// Output folder; default `reports/<name>/<timestamp>/`.
    pub out: Option<PathBuf>,
    /// No live progress.
    pub quiet: bool,
    /// Variant filter.
    pub only: &'a [String],
    /// Run only this shard's share of the load (`--shard I/N`).
    pub shard: Option<crate::shard::ShardSpec>,
    /// Start load at this wall-clock time (`--start-at`), already checked to be near.
    pub start_at: Option<std::time::SystemTime>,
}

/// Runs `scenario` and returns the process exit code.
pub fn run_scenario(scenario: &Scenario, name: &str, opts: RunOptions<'_>) -> u8 {
    if let Err(e) = runner::preflight(scenario) {
        return fail(exit::USAGE, format!("{}: {e}", opts.source.display()));
    }
    let whole = scenario;
    let share = match opts.shard.map(|spec| crate::shard::apply(whole, spec)) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => return fail(exit::USAGE, format!("{}: {e}", opts.source.display())),
    };
    let scenario = share.as_ref().unwrap_or(whole);
    let mut plan = Plan::new(name.to_string(), scenario);
    plan.only(opts.only);
    if plan.runs.is_empty() {
        return fail(
            exit::USAGE,
            format!("{}: --only matches no variant", opts.source.display()),
        );
    }
    let out = opts
        .out
        .unwrap_or_else(|| PathBuf::from("reports").join(name).join(timestamp()));
    if let Some(at) = opts.start_at {
        if !opts.quiet {
            eprintln!("waiting for --start-at before starting load");
        }
        crate::shard::wait_until(at);
    }
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
    let stop = Stop::new();
    let results = runtime.block_on(async {
        let interrupt = {
            let stop = stop.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!(
                        "\ninterrupted: finishing in-flight requests, then writing partial results"
                    );
                    stop.interrupt();
                }
            })
        };
        let mut progress = progress::Progress::new(opts.quiet, &plan);
        let results = runner::execute(scenario, opts.source, &plan, &stop, |run, p| {
            progress.update(run, p)
        })
        .await;
        progress.finish();
        interrupt.abort();
        results
    });
    let mut results = match results {
        Ok(r) => r,
        Err(e @ RunError::MissingKey { .. }) => {
            return fail(exit::USAGE, format!("{}: {e}", opts.source.display()))
        }
        Err(e) => return fail(exit::NOT_MEASURED, e),
    };
    if let (Some(spec), Some(share)) = (opts.shard, &share) {
        crate::shard::label(&mut results, whole, share, spec);
    }
    finish(&results, &out)
}

/// Writes the outputs, prints the table, and decides the exit code.
fn finish(results: &ResultsFile, out: &Path) -> u8 {
    let written = match report::write_all(results, out) {
        Ok(w) => w,
        Err(e) => return fail(exit::USAGE, e),
    };
    print!("{}", report::terminal::summary_table(results));
    println!(
        "\nreport: {}  (results: {})",
        written.html.display(),
        written.results.display()
    );
    if results.interrupted {
        return exit::INTERRUPTED;
    }
    let measured = results
        .runs
        .iter()
        .any(|r| r.count("ok") > 0 || r.outcomes.keys().any(|k| k.starts_with("status_")));
    if !measured {
        return fail(
            exit::NOT_MEASURED,
            "no request got a response from any target: nothing was measured",
        );
    }
    exit::OK
}

fn timestamp() -> String {
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_else(|_| "run".into())
}
