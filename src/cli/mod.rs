//! The command line: argument parsing, dispatch to the stages, terminal output and exit codes.

mod compare;
mod merge;
mod progress;
mod quick;
mod run;
mod search;
mod ui;
mod validate;

use crate::{
    report,
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
        /// Override a scenario value: --set workload.users=64 --set client.max_connections=20.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Run only these variants (`NAME` or `TARGET/NAME`; repeatable).
        #[arg(long)]
        only: Vec<String>,
        /// No live progress.
        #[arg(long, short)]
        quiet: bool,
        /// Compare with this results.json and fail (exit 1) on a regression.
        #[arg(long, value_name = "FILE")]
        baseline: Option<PathBuf>,
        /// Also write this run's results.json here, to use later as `--baseline`.
        #[arg(long, value_name = "FILE")]
        save_baseline: Option<PathBuf>,
        #[command(flatten)]
        compare: compare::CompareArgs,
        /// Generate only shard I of N (0-based): its exact share of users, requests and arrivals.
        #[arg(long, value_name = "I/N")]
        shard: Option<crate::shard::ShardSpec>,
        /// Wait until this wall-clock time (RFC 3339) before starting, so all shards start together.
        #[arg(long, value_name = "RFC3339")]
        start_at: Option<String>,
        #[command(flatten)]
        ui: ui::UiArgs,
        /// Write one JSON line per request to FILE (zstd-compressed when it ends in `.zst`).
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
    },
    /// Compare two results files; exit 1 when a metric regressed beyond the tolerance and the noise.
    Compare {
        /// The reference results.json.
        baseline: PathBuf,
        /// The results.json to judge.
        current: PathBuf,
        #[command(flatten)]
        compare: compare::CompareArgs,
        /// Write a junit.xml with one test case per run × metric.
        #[arg(long, value_name = "FILE")]
        junit: Option<PathBuf>,
    },
    /// Find the largest (or smallest) value of one knob that meets an objective: `[search]` in the scenario, or these flags.
    Search {
        /// The scenario (TOML).
        scenario: PathBuf,
        /// Output folder (default: reports/<scenario>/search-<timestamp>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Override a scenario value, as with `run`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
        /// Print the plan (knob, range, worst-case probes, time and spend) and run nothing.
        #[arg(long)]
        validate: bool,
        /// No progress lines.
        #[arg(long, short)]
        quiet: bool,
        #[command(flatten)]
        search: search::SearchArgs,
        #[command(flatten)]
        ui: ui::UiArgs,
    },
    /// Merge the results of `run --shard I/N` shards into one results file.
    Merge {
        /// Shard results files (`results.json` of each shard).
        #[arg(required = true)]
        shards: Vec<PathBuf>,
        /// Where to write the merged results.
        #[arg(short = 'o', long = "output", default_value = "merged.json")]
        output: PathBuf,
    },
    /// Ad-hoc load on one URL with oha-style flags; same outputs as `run`.
    Quick {
        #[command(flatten)]
        args: quick::QuickArgs,
        /// Output folder (default: reports/quick/<timestamp>/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// No live progress.
        #[arg(long)]
        quiet: bool,
        #[command(flatten)]
        ui: ui::UiArgs,
        /// Write one JSON line per request to FILE (zstd-compressed when it ends in `.zst`).
        #[arg(long, value_name = "FILE")]
        trace: Option<PathBuf>,
    },
    /// Parse and check a scenario, print the plan, run nothing.
    Validate {
        /// The scenario (TOML).
        scenario: PathBuf,
        /// Override a scenario value, as with `run`.
        #[arg(long = "set", value_name = "KEY=VALUE")]
        sets: Vec<String>,
    },
    /// Print the JSON Schema of scenario files (for editors), or the Markdown reference generated from it.
    Schema {
        /// Print docs/scenario-reference.md (every key with type, default and meaning) instead.
        #[arg(long)]
        markdown: bool,
        /// JSON Schema dialect.
        #[arg(long, value_enum, default_value = "2020-12")]
        draft: scenario::schema::Draft,
    },
    /// Run mock-upstream standalone, with the same flags as the `mock-upstream` binary; stop with Ctrl-C.
    Mock {
        // Boxed: the mock has many flags and would bloat every other variant.
        #[command(flatten)]
        args: Box<mock_upstream::cli::MockArgs>,
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
    // The mock installs its own log subscriber (its `--log` flag), so it goes before ours.
    if let Command::Mock { args } = cli.command {
        return ExitCode::from(mock_upstream::cli::run(*args));
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RELAYBENCH_LOG"))
        .with_writer(std::io::stderr)
        .try_init();
    ExitCode::from(match cli.command {
        Command::Run {
            scenario,
            out,
            sets,
            only,
            quiet,
            baseline,
            save_baseline,
            compare,
            shard,
            start_at,
            ui,
            trace,
        } => {
            let start_at = match start_at
                .map(|t| crate::shard::parse_start_at(&t, std::time::SystemTime::now()))
                .transpose()
            {
                Ok(at) => at,
                Err(e) => return ExitCode::from(fail(exit::USAGE, e)),
            };
            match (load(&scenario, &sets), compare.options()) {
                (Err(code), _) => code,
                (_, Err(e)) => fail(exit::USAGE, e),
                (Ok(s), Ok(compare)) => run::run_scenario(
                    &s,
                    &s.name_or(&stem(&scenario)),
                    run::RunOptions {
                        source: &scenario,
                        out,
                        quiet,
                        only: &only,
                        gate: run::GateOptions {
                            baseline,
                            save_baseline,
                            compare,
                        },
                        shard,
                        start_at,
                        ui,
                        trace,
                    },
                ),
            }
        }
        Command::Search {
            scenario,
            out,
            mut sets,
            validate,
            quiet,
            search,
            ui,
        } => {
            sets.extend(search.as_sets());
            match load(&scenario, &sets) {
                Err(code) => code,
                Ok(s) if validate => search::validate(&s, &scenario),
                Ok(s) => search::run(&s, &s.name_or(&stem(&scenario)), &scenario, out, quiet, ui),
            }
        }
        Command::Compare {
            baseline,
            current,
            compare,
            junit,
        } => compare::run(&baseline, &current, &compare, junit.as_deref()),
        Command::Merge { shards, output } => merge::merge_files(&shards, &output),
        Command::Quick {
            args,
            out,
            quiet,
            ui,
            trace,
        } => match quick::scenario(&args) {
            Err(e) => fail(exit::USAGE, e),
            Ok(s) => run::run_scenario(
                &s,
                "quick",
                run::RunOptions {
                    source: std::path::Path::new(&args.url),
                    out,
                    quiet,
                    only: &[],
                    gate: run::GateOptions::default(),
                    shard: None,
                    start_at: None,
                    ui,
                    trace,
                },
            ),
        },
        Command::Validate { scenario, sets } => match load(&scenario, &sets) {
            Err(code) => code,
            Ok(s) => {
                let plan = Plan::new(s.name_or(&stem(&scenario)), &s);
                print!("{}", validate::describe_plan(&s, &plan));
                print!("{}", crate::search::describe::plan(&s));
                exit::OK
            }
        },
        Command::Report { results, out } => rerender(results, out),
        Command::Schema { markdown, draft } => {
            if markdown {
                print!("{}", scenario::schema::markdown());
            } else {
                let schema = scenario::schema::json_schema(draft);
                println!(
                    "{}",
                    serde_json::to_string_pretty(&schema).expect("a JSON value")
                );
            }
            exit::OK
        }
        Command::Mock { .. } => unreachable!("handled before logging is set up"),
    })
}

/// Loads a scenario with `--set` overrides; on error prints it and returns exit code 2.
fn load(path: &std::path::Path, sets: &[String]) -> Result<scenario::Scenario, u8> {
    scenario::load_with(path, sets).map_err(|e| fail(exit::USAGE, e))
}

fn fail(code: u8, message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    code
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
    let offset = merged.runs.len();
    merged.search.extend(other.search.into_iter().map(|mut s| {
        s.probes.iter_mut().for_each(|p| p.run_index += offset);
        s
    }));
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

/// Whether any request of any run got an answer (ok or an HTTP status): without one there is nothing to report on.
pub(crate) fn anything_measured(results: &crate::metrics::ResultsFile) -> bool {
    results
        .runs
        .iter()
        .any(|r| r.count("ok") > 0 || r.outcomes.keys().any(|k| k.starts_with("status_")))
}
