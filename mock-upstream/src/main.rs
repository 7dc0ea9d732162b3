//! The `mock-upstream` binary: a thin wrapper over [`mock_upstream::cli`], which `relaybench mock` shares.

use clap::Parser;
use mock_upstream::cli::MockArgs;
use std::process::ExitCode;

/// OpenAI-compatible HTTP server with faults you can dial in. Flags override the profile.
#[derive(Parser, Debug)]
#[command(name = "mock-upstream", version, about)]
struct Cli {
    #[command(flatten)]
    args: MockArgs,
}

fn main() -> ExitCode {
    ExitCode::from(mock_upstream::cli::run(Cli::parse().args))
}
