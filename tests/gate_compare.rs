//! Baseline comparison end to end: a file against itself, two runs of one scenario, a run with 2× latency, and bad inputs.

mod util;
use util::{text, Session};

fn scenario(latency: &str) -> String {
    format!(
        r#"name = "cmp"
[[target]]
name = "mock"
[target.mock]
latency = "{latency}"
[workload]
users = 8
duration = "3s"
warmup = "1s"
grace = "2s"
"#
    )
}

/// One test, sequential on purpose: runs in parallel would add the very noise under test.
#[test]
fn same_scenario_passes_and_doubled_latency_regresses() {
    let s = Session::new();
    let base = s.write("base.toml", &scenario("20ms"));
    let out = s.relaybench(&[
        "run",
        base.to_str().unwrap(),
        "--out",
        "b",
        "-q",
        "--save-baseline",
        "baseline/cmp.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(s.path("baseline/cmp.json").exists());
    assert!(!s.path("b/junit.xml").exists(), "no gate, no junit");

    // A baseline compared with itself is never a regression.
    let out = s.relaybench(&[
        "compare",
        "baseline/cmp.json",
        "baseline/cmp.json",
        "--metrics",
        "p50,p90,p99,p(99.9),mean,max,error_rate,timeout_rate,rps",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        !stdout.contains("REGRESSION") && stdout.contains("gate: PASS"),
        "{stdout}"
    );
    assert_eq!(
        stdout.matches("+0.0%").count(),
        7,
        "every timing and rps unchanged: {stdout}"
    );

    // A second run of the same scenario, at the default tolerance, does not flag the first.
    let out = s.relaybench(&[
        "run",
        base.to_str().unwrap(),
        "--out",
        "again",
        "-q",
        "--baseline",
        "baseline/cmp.json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let junit = std::fs::read_to_string(s.path("again/junit.xml")).unwrap();
    assert!(
        junit.contains(r#"name="relaybench.baseline" tests="6" failures="0""#),
        "{junit}"
    );

    // Twice the upstream latency is a regression, found by the median.
    let slow = s.write("slow.toml", &scenario("40ms"));
    let out = s.relaybench(&[
        "run",
        slow.to_str().unwrap(),
        "--out",
        "slow",
        "-q",
        "--baseline",
        "baseline/cmp.json",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let junit = std::fs::read_to_string(s.path("slow/junit.xml")).unwrap();
    let p50 = junit
        .split("<testcase")
        .find(|c| c.contains("name=\"p(50) [mock/default]\""))
        .expect("a p50 test case");
    assert!(
        p50.contains("<failure") && p50.contains("regression"),
        "{junit}"
    );

    // The standalone command agrees, and writes junit where asked.
    let out = s.relaybench(&[
        "compare",
        "baseline/cmp.json",
        "slow/results.json",
        "--junit",
        "cmp.xml",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("REGRESSION  mock/default  p(50)"));
    assert!(std::fs::read_to_string(s.path("cmp.xml"))
        .unwrap()
        .contains("<failure"));

    // With a tolerance well wider than the change (2× plus loopback overhead), the same data passes.
    let out = s.relaybench(&[
        "compare",
        "baseline/cmp.json",
        "slow/results.json",
        "--tolerance",
        "300%",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
}

#[test]
fn unusable_inputs_exit_2() {
    let s = Session::new();
    let out = s.relaybench(&["compare", "missing.json", "missing.json"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.json"));

    let file = s.write("x.toml", &scenario("1ms"));
    let out = s.relaybench(&[
        "run",
        file.to_str().unwrap(),
        "--baseline",
        "missing.json",
        "--out",
        "o",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        !s.path("o").exists(),
        "a bad --baseline stops before any load"
    );

    // A baseline with no run in common: exit 2, but what was measured is still written.
    let tiny = |name: &str| {
        format!(
            "[[target]]\nname = \"{name}\"\n[target.mock]\n[workload]\nusers = 1\nrequests = 20\n"
        )
    };
    let a = s.write("a.toml", &tiny("a"));
    let out = s.relaybench(&["run", a.to_str().unwrap(), "--out", "ra", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let b = s.write("b.toml", &tiny("b"));
    let out = s.relaybench(&[
        "run",
        b.to_str().unwrap(),
        "--out",
        "rb",
        "-q",
        "--baseline",
        "ra/results.json",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no run in common"));
    assert!(s.path("rb/results.json").exists());

    for flag in [["--tolerance", "lots"], ["--metrics", "p99,latency"]] {
        let out = s.relaybench(&["compare", "a.json", "b.json", flag[0], flag[1]]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains(flag[0]));
    }
}
