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

/// Headless Chromium for the browser tests: `/usr/bin/chromium` or `RELAYBENCH_CHROMIUM`; `None` (skip) only with `RELAYBENCH_SKIP_BROWSER=1`, else a panic saying how to install it.
pub fn chromium() -> Option<PathBuf> {
    let path = PathBuf::from(
        std::env::var("RELAYBENCH_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
    );
    if path.exists() {
        return Some(path);
    }
    if std::env::var("RELAYBENCH_SKIP_BROWSER").as_deref() == Ok("1") {
        eprintln!(
            "skipping: {} not found and RELAYBENCH_SKIP_BROWSER=1",
            path.display()
        );
        return None;
    }
    panic!(
        "{} not found: install it with `apt-get install -y chromium` (Debian), point RELAYBENCH_CHROMIUM at a Chromium binary, or set RELAYBENCH_SKIP_BROWSER=1 to skip this test",
        path.display()
    );
}

/// The flags both browser tests start headless Chromium with: no GPU, no sandbox, no background
/// traffic, and a proxy nobody listens on, so that anything the page fetches from the network
/// (all but loopback, which bypasses proxies) fails loudly.
pub const HEADLESS_CHROMIUM: [&str; 10] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--proxy-server=127.0.0.1:9",
];
