//! `relaybench run` (and the execution half of `quick`): run a plan, write every output, pick the exit code.

use super::{exit, fail, progress};
use crate::{
    gate::{self, live::AbortWatch, CiEnv, CompareOptions, GateReport},
    live,
    load::{Stop, StopStage},
    metrics::ResultsFile,
    report,
    runner::{self, RunError, RunEvent},
    scenario::{Plan, Scenario},
    trace::TraceSink,
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
    /// Baseline comparison and saving.
    pub gate: GateOptions,
    /// Run only this shard's share of the load (`--shard I/N`).
    pub shard: Option<crate::shard::ShardSpec>,
    /// Start load at this wall-clock time (`--start-at`), already checked to be near.
    pub start_at: Option<std::time::SystemTime>,
    /// `--ui`: live dashboard and `/metrics`.
    pub ui: super::ui::UiArgs,
    /// Write one JSON line per request here (`--trace`).
    pub trace: Option<PathBuf>,
}

/// What the gate does after the run besides the scenario's thresholds.
#[derive(Debug, Default)]
pub struct GateOptions {
    /// Compare with this results.json.
    pub baseline: Option<PathBuf>,
    /// Write the results here as a future baseline.
    pub save_baseline: Option<PathBuf>,
    /// How to compare.
    pub compare: CompareOptions,
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
    // Read the baseline first: a bad --baseline is a usage error, before any load is sent.
    let baseline = match &opts.gate.baseline {
        None => None,
        Some(path) => match report::json::read(path) {
            Ok(b) => Some(b),
            Err(e) => return fail(exit::USAGE, format!("--baseline {e}")),
        },
    };
    let out = opts
        .out
        .unwrap_or_else(|| PathBuf::from("reports").join(name).join(timestamp()));
    // Bound before any load is sent: a busy address is a usage error, not a lost run.
    let listener = match opts.ui.ui.map(live::bind).transpose() {
        Ok(l) => l,
        Err(e) => return fail(exit::USAGE, e),
    };
    // Created before any load: a trace file that cannot be written is a usage error.
    let trace = match opts.trace.as_deref().map(TraceSink::create).transpose() {
        Ok(t) => t,
        Err(e) => return fail(exit::USAGE, e),
    };
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
    let ui = match listener.map(|l| start_ui(&runtime, l, scenario, &plan)) {
        None => None,
        Some(Ok(ui)) => Some(ui),
        Some(Err(e)) => return fail(exit::USAGE, e),
    };
    let stop = Stop::new();
    let mut watch = AbortWatch::new(&scenario.thresholds, scenario.workload.warmup.0);
    let mut aborted: Option<gate::live::Abort> = None;
    let results = runtime.block_on(async {
        let interrupt = {
            let stop = stop.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!(
                        "\ninterrupted: finishing in-flight requests (Ctrl-C again to cancel them now), then writing partial results"
                    );
                    stop.interrupt();
                }
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("\ninterrupted again: cancelling in-flight requests now (they are counted as cancelled)");
                    stop.hurry();
                }
            })
        };
        let mut progress = progress::Progress::new(opts.quiet, &plan);
        let results = runner::execute(scenario, opts.source, &plan, &stop, trace.as_ref(), |run, event| {
            if let Some(ui) = &ui {
                ui.observe(run, &event);
            }
            let RunEvent::Progress(p) = event else { return };
            progress.update(run, p);
            if aborted.is_none() && watch.is_active() {
                if let Some(a) = watch.observe(&run.target.name, &run.variant, p) {
                    eprintln!(
                        "\nabort_on_fail: threshold `{}` is failing on {} ({}); stopping",
                        scenario.thresholds[a.index].check, a.run, a.reason
                    );
                    // Draining (not interrupt): the runner starts no further run, in-flight requests finish.
                    stop.advance(StopStage::Draining);
                    aborted = Some(a);
                }
            }
        })
        .await;
        progress.finish();
        interrupt.abort();
        results
    });
    let trace_path = trace.as_ref().map(|t| t.path().to_path_buf());
    // Closed before anything else: the writer drains its queue, so every line is on disk.
    let trace_stats = trace.map(TraceSink::finish);
    let mut results = match results {
        Ok(r) => r,
        Err(e @ RunError::MissingKey { .. }) => {
            return fail(exit::USAGE, format!("{}: {e}", opts.source.display()))
        }
        Err(e) => return fail(exit::NOT_MEASURED, e),
    };
    match trace_stats {
        None => {}
        Some(Ok(stats)) => {
            for (run, stats) in results.runs.iter_mut().zip(stats) {
                run.trace = Some(stats);
            }
        }
        Some(Err(e)) => eprintln!("warning: {e}"),
    }
    if let (Some(spec), Some(share)) = (opts.shard, &share) {
        crate::shard::label(&mut results, whole, share, spec);
    }
    let (gate_report, unusable_baseline) = judge(
        scenario,
        &mut results,
        baseline.as_ref(),
        &opts.gate.compare,
        aborted.as_ref(),
    );
    // A baseline that matches no run is a usage error, but what was measured is still written.
    let code = finish(
        &results,
        &out,
        &gate_report,
        opts.gate.save_baseline.as_deref(),
        trace_path.as_deref(),
    );
    let code = match unusable_baseline {
        Some(e) if code == exit::OK || code == exit::FAILED => fail(exit::USAGE, e),
        _ => code,
    };
    if let Some(ui) = ui {
        // Ctrl-C already said "stop": an interrupted run exits with its partial report.
        serve_report(&runtime, &ui, &out, opts.ui.ui_exit || results.interrupted);
    }
    code
}

/// Starts the `--ui` server on `runtime` and says where it is.
pub(super) fn start_ui(
    runtime: &tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    scenario: &Scenario,
    plan: &Plan,
) -> Result<live::Ui, String> {
    let board = live::Board::new(&plan.name, plan.runs.len());
    launch_ui(runtime, listener, board, runner::open_rate(scenario))
}

/// Serves `board` on `listener` from `runtime` and prints the URL.
pub(super) fn launch_ui(
    runtime: &tokio::runtime::Runtime,
    listener: std::net::TcpListener,
    board: live::Board,
    rate: Option<f64>,
) -> Result<live::Ui, String> {
    let ui = runtime.block_on(async { live::Ui::start(listener, board, rate) })?;
    eprintln!(
        "live dashboard: {url}  (Prometheus: {url}metrics)",
        url = ui.url()
    );
    Ok(ui)
}

/// After the run: `/` serves the report (when it was written) until Ctrl-C, unless `--ui-exit`.
pub(super) fn serve_report(
    runtime: &tokio::runtime::Runtime,
    ui: &live::Ui,
    out: &Path,
    exit_now: bool,
) {
    if out.join("report.html").is_file() {
        ui.report_ready(out);
    }
    if exit_now {
        return;
    }
    eprintln!(
        "serving the report at {} until Ctrl-C (--ui-exit to exit instead)",
        ui.url()
    );
    runtime.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
}

/// Evaluates the thresholds (recording them in `results`) and the baseline comparison.
fn judge(
    scenario: &Scenario,
    results: &mut ResultsFile,
    baseline: Option<&ResultsFile>,
    compare: &CompareOptions,
    aborted: Option<&gate::live::Abort>,
) -> (GateReport, Option<String>) {
    let thresholds = gate::evaluate(&scenario.thresholds, results, aborted);
    results.thresholds = thresholds.iter().map(|v| v.to_result()).collect();
    let (comparison, error) = match baseline.map(|b| gate::compare(b, results, compare)) {
        None => (None, None),
        Some(Ok(c)) => (Some(c), None),
        Some(Err(e)) => (None, Some(format!("--baseline: {e}"))),
    };
    (
        GateReport {
            thresholds,
            comparison,
        },
        error,
    )
}

/// Writes the outputs, prints the table and the gate, and decides the exit code.
fn finish(
    results: &ResultsFile,
    out: &Path,
    gate_report: &GateReport,
    save_baseline: Option<&Path>,
    trace: Option<&Path>,
) -> u8 {
    let written = match report::write_all(results, out) {
        Ok(w) => w,
        Err(e) => return fail(exit::USAGE, e),
    };
    if !gate_report.is_empty() {
        let junit = out.join("junit.xml");
        if let Err(e) = gate::ci::write_junit(gate_report, &junit) {
            return fail(exit::USAGE, format!("{}: {e}", junit.display()));
        }
    }
    print!("{}", report::terminal::summary_table(results));
    if let Some(path) = trace {
        println!("{}", trace_summary(results, path));
    }
    for run in &results.runs {
        if let Some(m) = run.target_metrics.as_ref().filter(|m| m.failures > 0) {
            println!(
                "target metrics of {}: {} of {} scrapes of {} failed (last: {})",
                run.name,
                m.failures,
                m.scrapes,
                m.url,
                m.last_error.as_deref().unwrap_or("?")
            );
        }
    }
    println!(
        "\nreport: {}  (results: {})",
        written.html.display(),
        written.results.display()
    );
    print!("{}", gate::ci::terminal(gate_report));
    if !gate_report.is_empty() {
        if let Err(e) = CiEnv::from_env().publish(gate_report, &results.scenario.name) {
            eprintln!("warning: cannot write the GitHub step summary: {e}");
        }
    }
    if results.interrupted {
        return exit::INTERRUPTED;
    }
    if !super::anything_measured(results) {
        return fail(
            exit::NOT_MEASURED,
            "no request got a response from any target: nothing was measured",
        );
    }
    if let Some(path) = save_baseline {
        if let Err(e) = save(results, path) {
            return fail(
                exit::USAGE,
                format!("--save-baseline {}: {e}", path.display()),
            );
        }
        println!("baseline saved: {}", path.display());
    }
    if gate_report.passed() {
        exit::OK
    } else {
        exit::FAILED
    }
}

/// The terminal line about the trace file: lines written and, loudly, lines dropped.
fn trace_summary(results: &ResultsFile, path: &Path) -> String {
    let (lines, dropped) = results
        .runs
        .iter()
        .filter_map(|r| r.trace)
        .fold((0, 0), |(l, d), t| (l + t.lines, d + t.dropped));
    let mut line = format!("\ntrace: {} ({lines} lines", path.display());
    if dropped > 0 {
        line.push_str(&format!(
            "; {dropped} DROPPED: the writer could not keep up, see `trace.dropped` in results.json"
        ));
    }
    line.push(')');
    line
}

fn save(results: &ResultsFile, path: &Path) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    report::json::write(results, path)
}

pub(super) fn timestamp() -> String {
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_else(|_| "run".into())
}
