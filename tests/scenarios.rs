//! The shipped scenarios: each parses and validates as shipped; pool-sizing, run for real, shows the failure it is about.

mod util;
use util::{repo_root, text, Session};

#[test]
fn every_shipped_scenario_validates() {
    let s = Session::new();
    let dir = repo_root().join("scenarios");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        seen += 1;
        let out = s.relaybench(&["validate", path.to_str().unwrap()]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            path.display(),
            text(&out)
        );
        let head = std::fs::read_to_string(&path).unwrap();
        assert!(
            head.starts_with('#'),
            "{} opens with a comment block explaining what it shows",
            path.display()
        );
    }
    assert!(
        seen >= 4,
        "scenarios/ holds the shipped scenarios ({seen} found)"
    );
}

#[test]
fn real_provider_template_needs_its_key_to_run() {
    let s = Session::new();
    let path = repo_root().join("scenarios/real-provider.toml");
    let out = s
        .command(&["run", path.to_str().unwrap(), "--out", "out"])
        .env_remove("OPENAI_API_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OPENAI_API_KEY"));
    assert!(!s.path("out").exists());
}

#[test]
fn max_requests_guard_stops_the_run_exactly() {
    let s = Session::new();
    let file = s.write(
        "guard.toml",
        "[[target]]\nname = \"paid\"\nmax_requests = 37\n[target.mock]\nlatency = \"2ms\"\n[workload]\nusers = 4\nduration = \"20s\"\n",
    );
    let started = std::time::Instant::now();
    let out = s.relaybench(&["run", file.to_str().unwrap(), "--out", "out", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        started.elapsed().as_secs() < 15,
        "the guard ended the run early"
    );
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path("out/results.json")).unwrap()).unwrap();
    let run = &results["runs"][0];
    assert_eq!(run["scheduled"], 37);
    assert!(run["stopped_early"]
        .as_str()
        .unwrap()
        .contains("max_requests"));
}

#[test]
fn max_cost_guard_keeps_spend_under_the_limit() {
    let s = Session::new();
    // $1 per million output tokens, max_tokens 1000: each request reserves about $0.001,
    // so a $0.02 limit admits about 20 requests at a time and stops before exceeding it.
    let file = s.write(
        "cost.toml",
        r#"
[[target]]
name = "paid"
model = "priced"
max_cost_usd = 0.02
[target.mock]
models = ["priced"]
output_tokens = 100
[pricing]
priced = { input = 0.0, output = 1.0 }
[workload]
users = 2
duration = "20s"
[[workload.mix]]
kind = "chat"
max_tokens = 1000
"#,
    );
    let out = s.relaybench(&["run", file.to_str().unwrap(), "--out", "out", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path("out/results.json")).unwrap()).unwrap();
    let run = &results["runs"][0];
    let cost = run["cost_usd"].as_f64().unwrap();
    assert!(cost > 0.0 && cost <= 0.02, "spent ${cost}");
    assert!(run["stopped_early"]
        .as_str()
        .unwrap()
        .contains("max_cost_usd"));
    assert!(
        run["scheduled"].as_u64().unwrap() >= 20,
        "reservations settle to the real cost, so more than 20 requests fit"
    );
}

#[test]
fn pool_sizing_timeouts_fall_as_the_pool_grows() {
    let s = Session::new();
    let path = repo_root().join("scenarios/pool-sizing.toml");
    let out = s.relaybench(&["run", path.to_str().unwrap(), "--out", "out", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.path("out/results.json")).unwrap()).unwrap();
    let runs = results["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    let rate = |r: &serde_json::Value| {
        let outcomes = r["outcomes"].as_object().unwrap();
        let total: u64 = outcomes.values().map(|v| v.as_u64().unwrap()).sum();
        let timeouts: u64 = outcomes
            .iter()
            .filter(|(k, _)| k.starts_with("timeout_"))
            .map(|(_, v)| v.as_u64().unwrap())
            .sum();
        timeouts as f64 / total as f64
    };
    let rates: Vec<f64> = runs.iter().map(rate).collect();
    assert!(
        rates.windows(2).all(|w| w[0] >= w[1]),
        "timeout rate non-increasing from 10 to 100 connections: {rates:?}"
    );
    assert!(
        rates[0] > 0.05,
        "a 10-connection pool times out under this load: {rates:?}"
    );
    assert_eq!(rates[3], 0.0, "100 connections are enough: {rates:?}");
    let p99 = |r: &serde_json::Value| {
        r["histograms"]["latency"]["summary"]["p99"]
            .as_f64()
            .unwrap()
    };
    assert!(
        p99(&runs[0]) > 5.0 * p99(&runs[3]),
        "p99 falls as the pool grows"
    );
}
