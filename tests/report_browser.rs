//! report.html opened from disk in headless Chromium with the network disabled: no console errors, every chart and table row in the DOM, a screenshot saved under target/test-artifacts/.
//!
//! Needs Debian's `chromium` (/usr/bin/chromium, or `RELAYBENCH_CHROMIUM`); without it the test
//! fails with a message saying how to install it, unless `RELAYBENCH_SKIP_BROWSER=1`.

mod util;

use relaybench::report::{self, charts, fixture};
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Runs headless Chromium on `page` with the network disabled; returns (stdout, stderr).
fn run_chromium(bin: &Path, page: &Path, extra: &[String]) -> (String, String) {
    let profile = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (logs.path().join("stdout"), logs.path().join("stderr"));
    let mut child = Command::new(bin)
        .args(util::HEADLESS_CHROMIUM)
        .args([
            // No name resolves either.
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        // Files, not pipes: the dumped DOM is larger than a pipe buffer and nobody reads until exit.
        .stdout(Stdio::from(std::fs::File::create(&out_path).unwrap()))
        .stderr(Stdio::from(std::fs::File::create(&err_path).unwrap()))
        .spawn()
        .expect("chromium starts");
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("chromium did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let read = |p: &Path| String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
    (read(&out_path), read(&err_path))
}

/// Console messages Chromium logged for the page (errors, failed loads, uncaught exceptions).
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| {
            l.contains(":CONSOLE")
                || l.contains("Uncaught")
                || l.contains("Failed to load resource")
        })
        .collect()
}

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/report-browser");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn report_renders_offline_without_console_errors() {
    let Some(bin) = util::chromium() else { return };
    let dir = out_dir();
    let results = fixture::comparison();
    let w = report::write_all(&results, &dir).unwrap();
    let expected_charts = charts::kinds(&charts::ChartData::new(&results).unwrap()).len();

    let (dom, stderr) = run_chromium(&bin, &w.html, &["--dump-dom".into()]);
    let errors = console_lines(&stderr);
    assert!(
        errors.is_empty(),
        "console output from report.html:\n{}",
        errors.join("\n")
    );
    assert!(
        dom.contains("<h1>relaybench — pool-matrix</h1>"),
        "DOM not dumped:\n{stderr}"
    );
    assert_eq!(
        dom.matches("<svg").count(),
        expected_charts,
        "SVG charts in the DOM"
    );
    let comparison = &dom[dom
        .find("<table id=\"comparison\"")
        .expect("comparison table")..];
    let comparison = &comparison[..comparison.find("</table>").unwrap()];
    assert_eq!(
        comparison.matches("<tr class=\"run\">").count(),
        results.runs.len()
    );

    let shot = dir.join("report-screenshot.png");
    let (_, stderr) = run_chromium(
        &bin,
        &w.html,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000".into(),
        ],
    );
    let bytes = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}):\n{stderr}"));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    eprintln!("screenshot: {}", shot.display());
}

/// The detector above must see what it is meant to catch: a page that fetches and throws does produce console errors.
#[test]
fn console_error_detection_works() {
    let Some(bin) = util::chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("bad.html");
    std::fs::write(
        &page,
        "<!doctype html><html><body><img src=\"http://example.invalid/x.png\"><script>undefinedFunction()</script></body></html>",
    )
    .unwrap();
    let (_, stderr) = run_chromium(&bin, &page, &["--dump-dom".into()]);
    let errors = console_lines(&stderr);
    assert!(
        errors.iter().any(|l| l.contains("undefinedFunction")),
        "an uncaught exception was not detected; chromium said:\n{stderr}"
    );
}
