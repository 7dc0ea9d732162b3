//! The command line: argument parsing, dispatch to the stages, terminal output and exit codes.

mod progress;

use crate::{
    load::Stop,
    report,
    runner::{self, RunError},
    scenario::{self, Plan},
};
use clap::{Parser, Subcommand};
use std::{path::PathBuf, process::ExitCode};

/// Exit codes, documented in README.
pub mod exit {
    /// Everything passed.
    pub const OK: u8 = 0;
    /// A threshold or baseline comparison failed.
    pub const FAILED: u8 = 1;
    /// Usage or configuration error (bad scenario, missing key, unreadable file).
    pub const USAGE: u8 = 2;
    /// The run could not measure anything (target unreachable, every request failed before a response).
    pub const NOT_MEASURED: u8 = 3;
    /// Interrupted by Ctrl-C (partial results were written).
    pub const INTERRUPTED: u8 = 130;
}

/// relaybench: load-test and benchmark HTTP APIs behind connection pools.
#[derive(Parser, Debug)]
#[command(name = "relaybench", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a scenario file and write results.json, report.html and charts.
    Run {
        /// The scenario (TOML).
        scenario: PathBuf,
        /// Output folder (default: reports/<scenario>/<timestamp>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// No live progress.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Parse and check a scenario, print the plan, run nothing.
    Validate {
        /// The scenario (TOML).
        scenario: PathBuf,
    },
    /// Re-render every output from one or more results.json files.
    Report {
        /// Results files; several are shown side by side.
        #[arg(required = true)]
        results: Vec<PathBuf>,
        /// Output folder.
        #[arg(long, default_value = "reports/rendered")]
        out: PathBuf,
    },
}

/// Entry point used by `main.rs`.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RELAYBENCH_LOG"))
        .with_writer(std::io::stderr)
        .try_init();
    ExitCode::from(match cli.command {
        Command::Run {
            scenario,
            out,
            quiet,
        } => run(scenario, out, quiet),
        Command::Validate { scenario } => validate(scenario),
        Command::Report { results, out } => rerender(results, out),
    })
}

fn fail(code: u8, message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    code
}

fn validate(path: PathBuf) -> u8 {
    let scenario = match scenario::load(&path) {
        Ok(s) => s,
        Err(e) => return fail(exit::USAGE, e),
    };
    let plan = Plan::new(scenario.name_or(&stem(&path)), &scenario);
    println!("scenario `{}`: {} run(s)", plan.name, plan.runs.len());
    for run in &plan.runs {
        println!(
            "  {}/{}  {}",
            run.target.name,
            run.variant,
            scenario.workload.describe()
        );
    }
    exit::OK
}

fn run(path: PathBuf, out: Option<PathBuf>, quiet: bool) -> u8 {
    let scenario = match scenario::load(&path) {
        Ok(s) => s,
        Err(e) => return fail(exit::USAGE, e),
    };
    if let Err(e) = runner::preflight(&scenario) {
        return fail(exit::USAGE, e);
    }
    let name = scenario.name_or(&stem(&path));
    let plan = Plan::new(name.clone(), &scenario);
    let out = out.unwrap_or_else(|| PathBuf::from("reports").join(&name).join(timestamp()));
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
        let mut progress = progress::Progress::new(quiet);
        let results = runner::execute(&scenario, &path, &plan, &stop, |run, p| {
            progress.update(run, p)
        })
        .await;
        interrupt.abort();
        results
    });
    let results = match results {
        Ok(r) => r,
        Err(e @ RunError::MissingKey { .. }) => return fail(exit::USAGE, e),
        Err(e) => return fail(exit::NOT_MEASURED, e),
    };
    let written = match report::write_all(&results, &out) {
        Ok(w) => w,
        Err(e) => return fail(exit::USAGE, e),
    };
    print!("{}", report::terminal::summary_table(&results));
    println!(
        "\nwrote {}, {}, {}",
        written.results.display(),
        written.html.display(),
        written
            .pngs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
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

fn rerender(files: Vec<PathBuf>, out: PathBuf) -> u8 {
    let mut merged: Option<crate::metrics::ResultsFile> = None;
    for file in &files {
        let results = match report::json::read(file) {
            Ok(r) => r,
            Err(e) => return fail(exit::USAGE, e),
        };
        match &mut merged {
            None => merged = Some(results),
            Some(m) => merge_into(m, results, file),
        }
    }
    let Some(results) = merged else {
        return fail(exit::USAGE, "no results files given");
    };
    match report::write_all(&results, &out) {
        Ok(w) => {
            print!("{}", report::terminal::summary_table(&results));
            println!(
                "\nwrote {}, {} and {} chart(s), {} .hlog file(s) in {}",
                w.html.display(),
                w.summary.display(),
                w.pngs.len(),
                w.hlogs.len(),
                out.display()
            );
            exit::OK
        }
        Err(e) => fail(exit::USAGE, e),
    }
}

/// Adds the runs of another results file for a side-by-side report; a run name already taken gets the file's name appended so rows stay distinguishable.
fn merge_into(
    merged: &mut crate::metrics::ResultsFile,
    other: crate::metrics::ResultsFile,
    file: &std::path::Path,
) {
    for mut run in other.runs {
        if merged.runs.iter().any(|r| r.name == run.name) {
            run.name = format!("{} [{}]", run.name, file.display());
        }
        merged.runs.push(run);
    }
    merged.thresholds.extend(other.thresholds);
    merged.interrupted |= other.interrupted;
}

fn stem(path: &std::path::Path) -> String {
    path.file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("scenario")
        .to_string()
}

fn timestamp() -> String {
    let fmt = time::macros::format_description!("[year][month][day]-[hour][minute][second]");
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_else(|_| "run".into())
}
