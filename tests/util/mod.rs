//! Shared test helpers: run the `relaybench` binary in a temporary folder like a user would, and write scenario files.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

/// A temporary working folder for one test.
pub struct Session {
    /// The folder (deleted on drop).
    pub dir: tempfile::TempDir,
}

impl Session {
    /// A fresh folder.
    pub fn new() -> Session {
        Session {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Path inside the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a file into the folder and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("write test file");
        p
    }

    /// Runs `relaybench ARGS` with the folder as working directory.
    pub fn relaybench(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run relaybench")
    }

    /// The command, for tests that need to control the process (signals, env).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_relaybench"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("RELAYBENCH_LOG");
        cmd
    }
}

/// The repository root (for shipped scenarios).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// stdout + stderr as text, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `text` (a scenario) in-process through `runner::execute` and returns its first run.
pub async fn run_first(text: &str) -> relaybench::metrics::RunResult {
    let path = Path::new("inline.toml");
    let s = relaybench::scenario::parse(path, text).expect("scenario parses");
    let plan = relaybench::scenario::Plan::new("inline".into(), &s);
    let stop = relaybench::load::Stop::new();
    let mut results = relaybench::runner::execute(&s, path, &plan, &stop, None, |_, _| {})
        .await
        .unwrap();
    results.runs.remove(0)
}
