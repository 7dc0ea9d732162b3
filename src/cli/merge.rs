//! `relaybench merge`: read shard results files, merge them (see `shard::merge`), write one results file.

use super::{exit, fail};
use crate::{report, shard};
use std::path::{Path, PathBuf};

/// Merges `files` into `output`; returns the exit code (2 for any file that does not belong).
pub fn merge_files(files: &[PathBuf], output: &Path) -> u8 {
    let mut inputs = Vec::new();
    for file in files {
        match report::json::read(file) {
            Ok(r) => inputs.push((file.display().to_string(), r)),
            Err(e) => return fail(exit::USAGE, format!("{e}; cannot merge a corrupted file")),
        }
    }
    let merged = match shard::merge(&inputs) {
        Ok(m) => m,
        Err(e) => return fail(exit::USAGE, e),
    };
    for w in &merged.warnings {
        eprintln!("warning: {w}");
    }
    if !merged.missing.is_empty() {
        let count = merged.results.shard.as_ref().map(|s| s.count).unwrap_or(0);
        eprintln!(
            "warning: missing shard(s) {:?} of {count}: merged what was given; the totals cover only part of the load (marked `missing_shards` in {})",
            merged.missing,
            output.display()
        );
    }
    if let Err(e) = report::json::write(&merged.results, output) {
        return fail(
            exit::USAGE,
            format!("{}: cannot write: {e}", output.display()),
        );
    }
    print!("{}", report::terminal::summary_table(&merged.results));
    println!(
        "\nmerged {} shard file(s) into {}",
        inputs.len(),
        output.display()
    );
    exit::OK
}
