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

#[test]
fn ctrl_c_writes_partial_results_and_exits_130() {
    let s = Session::new();
    let scenario = s.write(
        "long.toml",
        "[[target]]\nname = \"m\"\n[target.mock]\nlatency = \"5ms\"\n[workload]\nusers = 4\nduration = \"60s\"\n",
    );
    let mut child = s
        .command(&["run", scenario.to_str().unwrap(), "--out", "out", "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    // SIGINT to this child only, by pid, as a terminal's Ctrl-C would.
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let code = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("relaybench did not stop within 30 s of SIGINT");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    assert_eq!(code, Some(130), "{}", text(&out));
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path("out/results.json")).unwrap()).unwrap();
    assert_eq!(results["interrupted"], true);
    let run = &results["runs"][0];
    let scheduled = run["scheduled"].as_u64().unwrap();
    let sum: u64 = run["outcomes"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert!(scheduled > 50, "two seconds of load were kept");
    assert_eq!(scheduled, sum, "nothing measured is lost");
}

#[test]
fn quick_engine_hyper_speaks_http_1_1_through_hyper_and_says_so_in_the_results() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime
        .block_on(mock_upstream::MockServer::start(
            "127.0.0.1:0".parse().unwrap(),
            mock_upstream::MockConfig::default(),
        ))
        .unwrap();
    let s = Session::new();
    let url = format!("{}/healthz", mock.base_url());
    let out = s.relaybench(&[
        "quick",
        &url,
        "-n",
        "200",
        "-c",
        "4",
        "--engine",
        "hyper",
        "--slo-latency",
        "10s",
        "--out",
        "q",
        "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("q/results.json")).unwrap()).unwrap();
    let run = &results["runs"][0];
    assert_eq!(run["settings"]["engine"], "hyper");
    assert_eq!(run["outcomes"]["ok"], 200, "{}", run["outcomes"]);
    assert_eq!(run["slo"]["latency"], "10s");
    assert_eq!(
        run["good"], 200,
        "every request well within --slo-latency 10s"
    );
    assert_eq!(mock.stats().requests_total, 200);
    let wrong = s.relaybench(&["quick", &url, "--engine", "curl"]);
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong));
    assert!(
        text(&wrong).contains("use \"relaybench\" or \"hyper\""),
        "{}",
        text(&wrong)
    );
    runtime.block_on(mock.shutdown());
}

#[test]
fn quick_warmup_is_counted_apart_and_precedes_the_measured_duration() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let mock = runtime
        .block_on(mock_upstream::MockServer::start(
            "127.0.0.1:0".parse().unwrap(),
            mock_upstream::MockConfig::default(),
        ))
        .unwrap();
    let s = Session::new();
    let url = format!("{}/healthz", mock.base_url());
    let started = std::time::Instant::now();
    let out = s.relaybench(&[
        "quick", &url, "-q", "100", "-z", "2s", "--warmup", "1s", "--out", "q", "--quiet",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(s.path("q/results.json")).unwrap()).unwrap();
    let run = &results["runs"][0];
    let sum = |v: &serde_json::Value| {
        v.as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>()
    };
    let (warm, measured) = (sum(&run["warmup_outcomes"]), sum(&run["outcomes"]));
    assert!(
        (95..=105).contains(&warm),
        "1 s of warm-up at 100/s: {warm}"
    );
    assert!(
        (195..=205).contains(&measured),
        "2 s measured at 100/s: {measured}"
    );
    assert_eq!(
        mock.stats().requests_total,
        warm + measured,
        "every request sent is counted once"
    );
    assert!(
        started.elapsed().as_secs_f64() >= 3.0,
        "warm-up comes before the 2 s"
    );
    runtime.block_on(mock.shutdown());
}
