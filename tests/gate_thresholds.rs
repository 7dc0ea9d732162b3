//! Thresholds end to end: exit codes 0/1/2, junit.xml and results.json content, GitHub outputs, abort_on_fail.

mod util;
use util::{text, Session};

/// A 2-second run against the embedded mock (10 ms latency) with the given threshold tables.
fn scenario(thresholds: &str) -> String {
    format!(
        r#"name = "gate"
[[target]]
name = "mock"
[target.mock]
latency = "10ms"
[workload]
users = 4
duration = "2s"
{thresholds}"#
    )
}

fn json(s: &Session, path: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(s.path(path)).unwrap()).unwrap()
}

#[test]
fn passing_thresholds_exit_0_with_passing_junit_cases() {
    let s = Session::new();
    let file = s.write(
        "pass.toml",
        &scenario(
            r#"
[[threshold]]
check = "p99 < 5s"
[[threshold]]
check = "error_rate < 1%"
scope = "target:mock"
[[threshold]]
check = "p(50, service) >= 1ms"
[[threshold]]
check = "rps > 10"
"#,
        ),
    );
    let out = s.relaybench(&["run", file.to_str().unwrap(), "--out", "out", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let junit = std::fs::read_to_string(s.path("out/junit.xml")).unwrap();
    assert!(
        junit.contains(r#"name="relaybench.thresholds" tests="4" failures="0""#),
        "{junit}"
    );
    assert!(junit.contains("p99 &lt; 5s [mock/default]"), "{junit}");
    assert!(!junit.contains("<failure"), "{junit}");
    let results = json(&s, "out/results.json");
    let t = results["thresholds"].as_array().unwrap();
    assert_eq!(t.len(), 4);
    assert!(t
        .iter()
        .all(|t| t["passed"] == true && t["scope"] == "mock/default"));
    assert_eq!(t[1]["expression"], "error_rate < 1%");
    assert!(String::from_utf8_lossy(&out.stdout).contains("gate: PASS"));
}

#[test]
fn a_failing_threshold_exits_1_and_lands_in_junit_results_and_github_outputs() {
    let s = Session::new();
    let file = s.write(
        "fail.toml",
        &scenario(
            r#"
[[threshold]]
check = "p99 < 5s"
[[threshold]]
check = "p50 < 1ms"
"#,
        ),
    );
    let summary = s.path("step-summary.md");
    std::fs::write(&summary, "earlier step\n").unwrap();
    let out = s
        .command(&["run", file.to_str().unwrap(), "--out", "out", "-q"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_STEP_SUMMARY", &summary)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let junit = std::fs::read_to_string(s.path("out/junit.xml")).unwrap();
    assert!(
        junit.contains(r#"tests="2" failures="1""#),
        "one of two cases fails: {junit}"
    );
    let failure = junit.split("<failure").nth(1).expect("a <failure> element");
    assert!(
        failure.contains("p50 &lt; 1ms") && failure.contains("observed"),
        "{junit}"
    );
    let results = json(&s, "out/results.json");
    assert_eq!(results["thresholds"][0]["passed"], true);
    assert_eq!(results["thresholds"][1]["passed"], false);
    let observed = results["thresholds"][1]["observed"].as_str().unwrap();
    let ms: f64 = observed.trim_end_matches("ms").parse().unwrap();
    assert!(
        ms >= 10.0,
        "the mock's 10 ms latency is observed: {observed}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "::error title=relaybench gate::threshold `p50 < 1ms` failed on mock/default"
        ),
        "{stdout}"
    );
    let md = std::fs::read_to_string(&summary).unwrap();
    assert!(md.starts_with("earlier step\n"), "appended, not replaced");
    assert!(
        md.contains("FAIL") && md.contains("| `p50 < 1ms` | mock/default |"),
        "{md}"
    );
}

#[test]
fn bad_thresholds_exit_2_naming_file_line_and_key() {
    let s = Session::new();
    let file = s.write(
        "bad.toml",
        &scenario("\n[[threshold]]\ncheck = \"p99 < 800\"\n"),
    );
    let out = s.relaybench(&["run", file.to_str().unwrap(), "--out", "out", "-q"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:11") && err.contains("threshold.check") && err.contains("no unit"),
        "{err}"
    );
    assert!(!s.path("out").exists(), "nothing is run or written");

    let file = s.write(
        "scope.toml",
        &scenario("\n[[threshold]]\ncheck = \"p99 < 1s\"\n\n[[threshold]]\ncheck = \"rps > 1\"\nscope = \"target:nope\"\n"),
    );
    let out = s.relaybench(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("scope.toml:15") && err.contains("threshold[1].scope") && err.contains("nope"),
        "{err}"
    );

    let file = s.write(
        "abort.toml",
        &scenario("\n[[threshold]]\ncheck = \"rps > 1\"\nabort_on_fail = true\n"),
    );
    let out = s.relaybench(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("threshold[0].abort_on_fail"));
}

#[test]
fn abort_on_fail_stops_the_run_early_and_fails() {
    let s = Session::new();
    // Every request gets a 500; a 60 s run must stop after the first second with enough samples.
    let file = s.write(
        "abort.toml",
        r#"
[[target]]
name = "mock"
[target.mock]
latency = "2ms"
errors = { "500" = 1.0 }
[workload]
users = 4
duration = "60s"
grace = "1s"
[client.retry]
max_retries = 0
[client.breaker]
enabled = false
[[threshold]]
check = "error_rate < 10%"
abort_on_fail = true
min_samples = 50
"#,
    );
    let out = s.relaybench(&["run", file.to_str().unwrap(), "--out", "out", "-q"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("abort_on_fail"));
    let results = json(&s, "out/results.json");
    let measured = results["runs"][0]["measured_seconds"].as_f64().unwrap();
    assert!(measured < 30.0, "stopped long before 60 s: {measured}");
    assert_eq!(results["interrupted"], false, "an abort is not a Ctrl-C");
    let t = &results["thresholds"][0];
    assert_eq!(t["passed"], false);
    assert!(
        t["observed"].as_str().unwrap().contains("run aborted"),
        "{t}"
    );
}

#[test]
fn shipped_ci_gate_scenario_and_committed_baseline_are_usable() {
    let s = Session::new();
    let root = util::repo_root();
    let scenario = root.join("scenarios/ci-gate.toml");
    let out = s.relaybench(&["validate", scenario.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let baseline = root.join("reports/baseline/ci-gate.json");
    let b = baseline.to_str().unwrap();
    let out = s.relaybench(&[
        "compare",
        b,
        b,
        "--metrics",
        "p50,p90,p99,error_rate,timeout_rate,rps",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}
