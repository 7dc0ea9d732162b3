//! The `relaybench run` command end to end: files written, summary printed, exit codes.

mod util;
use util::{repo_root, text, Session};

#[test]
fn run_writes_results_report_and_chart_and_prints_the_table() {
    let s = Session::new();
    let scenario = s.write(
        "short.toml",
        r#"
name = "short"
[[target]]
name = "mock"
[target.mock]
latency = "5ms"
[workload]
users = 4
duration = "2s"
"#,
    );
    let out = s.relaybench(&["run", scenario.to_str().unwrap(), "--out", "out", "--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for column in [
        "requests",
        "req/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "timeouts",
        "mock/default",
    ] {
        assert!(
            stdout.contains(column),
            "summary table has `{column}`: {stdout}"
        );
    }
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path("out/results.json")).unwrap()).unwrap();
    assert_eq!(results["schema_version"], 1);
    assert!(results["runs"][0]["scheduled"].as_u64().unwrap() > 100);
    let html = std::fs::read_to_string(s.path("out/report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("mock/default"));
    let png = std::fs::read(s.path("out/latency-percentiles.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn default_output_folder_is_reports_scenario_timestamp() {
    let s = Session::new();
    let scenario = s.write(
        "tiny.toml",
        "[[target]]\nname = \"m\"\n[target.mock]\n[workload]\nusers = 1\nrequests = 20\n",
    );
    let out = s.relaybench(&["run", scenario.to_str().unwrap(), "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let runs: Vec<_> = std::fs::read_dir(s.path("reports/tiny")).unwrap().collect();
    assert_eq!(runs.len(), 1);
    let dir = runs[0].as_ref().unwrap().path();
    assert!(dir.join("results.json").exists() && dir.join("report.html").exists());
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(
        results["runs"][0]["scheduled"], 20,
        "the request count bound is exact"
    );
}

#[test]
fn shipped_quickstart_validates() {
    let s = Session::new();
    let path = repo_root().join("scenarios/quickstart.toml");
    let out = s.relaybench(&["validate", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("mock/default"));
}

#[test]
fn unreachable_target_exits_3() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = Session::new();
    let scenario = s.write(
        "down.toml",
        &format!("[[target]]\nname = \"down\"\nurl = \"http://127.0.0.1:{port}\"\n[workload]\nusers = 1\nrequests = 5\n"),
    );
    let out = s.relaybench(&["run", scenario.to_str().unwrap(), "--out", "out", "-q"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing was measured"));
    assert!(
        s.path("out/results.json").exists(),
        "what was measured (connect errors) is still written"
    );
}
