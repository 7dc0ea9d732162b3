//! `[target] metrics_url` + `metrics`: the target's own series scraped once a second land in results.json (valid against its schema) and in report.html under the latency chart; a refused scrape is counted and shown, never fatal; bad settings are scenario errors (exit 2).

mod util;

use serde_json::Value;
use util::{text, Session};

fn results(s: &Session) -> Value {
    serde_json::from_slice(&std::fs::read(s.path("out/results.json")).unwrap()).unwrap()
}

fn schema_errors(doc: &Value) -> Vec<String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/results.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v = jsonschema::validator_for(&schema).unwrap();
    v.iter_errors(doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn a_run_scraping_the_embedded_mock_has_its_series_in_results_and_report() {
    let s = Session::new();
    let scenario = s.write(
        "scraped.toml",
        r#"
[[target]]
name = "m"
metrics_url = "mock"
metrics = ["mock_requests_total", "mock_connections_open", "mock_tokens_*"]
[target.mock]
latency = "5ms"
[workload]
model = "constant"
rate = 50
duration = "3s"
"#,
    );
    let out = s.relaybench(&["run", scenario.to_str().unwrap(), "--out", "out", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&s);
    assert_eq!(schema_errors(&r), Vec::<String>::new());
    let run = &r["runs"][0];
    let m = &run["target_metrics"];
    assert_eq!(m["failures"], 0, "{m}");
    assert!(
        m["scrapes"].as_u64().unwrap() >= 4,
        "every second and once at the end: {m}"
    );
    assert!(m["url"].as_str().unwrap().ends_with("/_mock/metrics"));
    let series = m["series"].as_array().unwrap();
    let chat = series
        .iter()
        .find(|s| {
            s["name"] == "mock_requests_total" && s["labels"]["route"] == "/v1/chat/completions"
        })
        .unwrap_or_else(|| panic!("the chat route's counter is kept: {m}"));
    let points = chat["points"].as_array().unwrap();
    assert!(points.len() >= 4, "{chat}");
    let times: Vec<f64> = points.iter().map(|p| p[0].as_f64().unwrap()).collect();
    assert!(
        times.windows(2).all(|w| w[1] > w[0]) && times[times.len() - 2] >= 2.0,
        "seconds since load started, one per scrape: {times:?}"
    );
    assert_eq!(
        points.last().unwrap()[1]
            .as_u64()
            .or(points.last().unwrap()[1].as_f64().map(|v| v as u64)),
        run["attempts"].as_u64(),
        "the last scrape (after the load) counts every attempt the run made"
    );
    assert!(series.iter().any(|s| s["name"] == "mock_connections_open"));
    assert!(series
        .iter()
        .any(|s| s["name"] == "mock_tokens_streamed_total"));
    assert!(
        !series
            .iter()
            .any(|s| s["name"] == "mock_faults_injected_total"),
        "only the selected series"
    );

    let html = std::fs::read_to_string(s.path("out/report.html")).unwrap();
    let latency = html.find("id=\"chart-latency-over-time\"").unwrap();
    let target = html
        .find("id=\"chart-target-metrics\"")
        .expect("the target's chart is in the report");
    assert!(target > latency, "under the latency chart");
    assert!(
        html.contains("route=&quot;/v1/chat/completions&quot;"),
        "series named, escaped"
    );
    assert!(s.path("out/target-metrics.png").exists());
}

#[test]
fn a_refused_scrape_is_counted_and_shown_and_the_run_completes() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = Session::new();
    let scenario = s.write(
        "refused.toml",
        &format!(
            r#"
[[target]]
name = "m"
metrics_url = "http://127.0.0.1:{port}/metrics"
metrics = ["relay_queue_depth"]
[target.mock]
[workload]
users = 2
duration = "2s"
"#
        ),
    );
    let out = s.relaybench(&["run", scenario.to_str().unwrap(), "--out", "out", "-q"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let r = results(&s);
    assert_eq!(schema_errors(&r), Vec::<String>::new());
    let run = &r["runs"][0];
    let m = &run["target_metrics"];
    assert!(m["scrapes"].as_u64().unwrap() >= 2, "{m}");
    assert_eq!(m["failures"], m["scrapes"], "{m}");
    assert!(m["last_error"].as_str().unwrap().contains("connect"), "{m}");
    assert!(
        run["outcomes"]["ok"].as_u64().unwrap() > 10,
        "the load ran normally"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&format!(
            "{} of {} scrapes of http://127.0.0.1:{port}/metrics failed",
            m["failures"], m["scrapes"]
        )),
        "the terminal says so: {}",
        text(&out)
    );
    let html = std::fs::read_to_string(s.path("out/report.html")).unwrap();
    assert!(
        html.contains("id=\"target-metrics-scrapes\""),
        "scrapes shown"
    );
    assert!(html.contains(&format!("<strong>{} failed</strong>", m["failures"])));
    assert!(
        !html.contains("id=\"chart-target-metrics\""),
        "no series, no chart"
    );
}

fn rejected(target_lines: &str, expect: &[&str]) {
    let s = Session::new();
    let file = s.write(
        "bad.toml",
        &format!("[[target]]\nname = \"t\"\n{target_lines}\n[workload]\nusers = 1\nrequests = 1\n"),
    );
    let out = s.relaybench(&["validate", file.to_str().unwrap()]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for e in expect.iter().chain(&["bad.toml"]) {
        assert!(stderr.contains(e), "expected `{e}` in: {all}");
    }
}

#[test]
fn bad_metrics_settings_are_scenario_errors() {
    let mock = "[target.mock]";
    rejected(
        &format!("metrics_url = \"relay:9090/metrics\"\nmetrics = [\"a\"]\n{mock}"),
        &["metrics_url", "http://"],
    );
    rejected(
        &format!("metrics_url = \"https://relay/metrics\"\nmetrics = [\"a\"]\n{mock}"),
        &["metrics_url", "http://"],
    );
    rejected(
        &format!("metrics = [\"a\"]\n{mock}"),
        &["metrics", "needs `metrics_url`"],
    );
    rejected(
        &format!("metrics_url = \"mock\"\n{mock}"),
        &["metrics", "the series to keep"],
    );
    rejected(
        &format!("metrics_url = \"mock\"\nmetrics = [\"a b\"]\n{mock}"),
        &["metrics", "`a b`"],
    );
    rejected(
        "url = \"http://127.0.0.1:1\"\nmetrics_url = \"mock\"\nmetrics = [\"a\"]",
        &["metrics_url", "[target.mock]"],
    );
    rejected(
        &format!("metrics_urls = \"mock\"\n{mock}"),
        &["metrics_urls"],
    );
}
