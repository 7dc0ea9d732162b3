//! `[report] baseline` and `record_headers`: a mock standing in for a relay that adds 25 ms shows +25 ms at p50 and p99; a relay's numeric header becomes a histogram, its ids text; an unknown baseline is a located error.

mod util;
use util::{text, Session};

/// `direct` answers after 10 ms, `relay` after 35 ms and sends a timing header; both stream.
/// An open model: both runs send at the same rate, so they load this machine alike.
const SCENARIO: &str = r#"
name = "overhead"

[[target]]
name = "direct"
[target.mock]
seed = 1
latency = "10ms"
output_tokens = 4

[[target]]
name = "relay"
[target.mock]
seed = 2
latency = "35ms"
output_tokens = 4
response_headers = { "x-overhead-ms" = "3" }

[workload]
model = "constant"
rate = 400
duration = "2s"
warmup = "300ms"

[[workload.mix]]
kind = "chat"
stream = true
max_tokens = 4

[report]
baseline = "direct"
record_headers = ["X-Overhead-Ms", "x-request-id"]
"#;

/// The added latency and TTFT at p50 and p99 that are not 25 ± 2 ms (p99: ± `p99_slack`).
fn off(pair: &serde_json::Value, p99_slack: f64) -> Vec<String> {
    let mut off = Vec::new();
    for figure in ["latency_ms", "ttft_ms"] {
        for (p, slack) in [("p50", 2.0), ("p99", p99_slack)] {
            let added = pair[figure][p].as_f64().unwrap_or(f64::NAN);
            if added.is_nan() || (added - 25.0).abs() > slack {
                off.push(format!(
                    "{figure} {p}: +{added:.2} ms (allowed 25 ± {slack:.1})"
                ));
            }
        }
    }
    off
}

/// How late the busier of the two mocks sent its replies and first tokens, p99 in ms (what
/// the mock measured of itself: its timers woke late on a machine short of CPU).
fn mock_lateness_p99(results: &serde_json::Value) -> f64 {
    results["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["mock_lateness"]["first"]["p99_ms"].as_f64())
        .fold(0.0, f64::max)
}

#[test]
fn a_relay_adding_25ms_shows_25ms_at_p50_and_p99_and_its_headers_are_recorded() {
    let s = Session::new();
    let file = s.write("overhead.toml", SCENARIO);
    // The two runs are measured one after the other, so a stretch of a busy machine (the mock's
    // or the generator's: a debug build on 2 shared cores; a local run beside compilers moved
    // one run's p50 by 4 ms) lands in one run and not the other. p99 rests on a handful of
    // requests per run and moves with one hiccup. So a run off at p50 (25 ± 2 ms) or p99 is tried
    // again, at most three times: a relaybench that mis-times the added latency is off every
    // time. On the last try, if the mock reported itself late (lateness p99 above 2 ms, when the
    // report warns), p99 may be off by that lateness too.
    let mut tries = Vec::new();
    let (out, results) = loop {
        let out = s.relaybench(&["run", file.to_str().unwrap(), "--out", "out"]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let results: serde_json::Value =
            serde_json::from_slice(&std::fs::read(s.path("out/results.json")).unwrap()).unwrap();
        let pair = &results["relay_overhead"]["pairs"][0];
        let lateness = mock_lateness_p99(&results);
        let quiet = lateness <= 2.0;
        let last = tries.len() == 2;
        let slack = if quiet || !last { 2.0 } else { 2.0 + lateness };
        let problems = off(pair, slack);
        if problems.is_empty() {
            break (out, results);
        }
        tries.push(format!(
            "{problems:?} (mock lateness p99 {lateness:.1} ms): {pair}"
        ));
        assert!(
            !last,
            "added latency not 25 ± 2 ms in 3 runs:\n{}",
            tries.join("\n")
        );
    };
    let overhead = &results["relay_overhead"];
    assert_eq!(overhead["baseline"], "direct");
    let pairs = overhead["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 1, "{overhead}");
    let pair = &pairs[0];
    assert_eq!(pair["run"], "relay/default");
    assert_eq!(pair["baseline_run"], "direct/default");
    assert!(overhead["note"]
        .as_str()
        .unwrap()
        .contains("not percentiles of per-request differences"));

    let runs = results["runs"].as_array().unwrap();
    let relay = runs.iter().find(|r| r["target"] == "relay").unwrap();
    let direct = runs.iter().find(|r| r["target"] == "direct").unwrap();
    let timing = &relay["headers"]["x-overhead-ms"]["numeric"];
    assert_eq!(timing["unit"], "ms");
    assert_eq!(
        timing["summary"]["count"], relay["scheduled"],
        "every measured response carried it"
    );
    for p in ["p50", "p99", "max"] {
        let v = timing["summary"][p].as_f64().unwrap();
        assert!((v - 3.0).abs() < 0.01, "{p} = {v}");
    }
    assert!(timing["hdr"].as_str().is_some_and(|h| !h.is_empty()));
    let ids = &relay["headers"]["x-request-id"];
    assert!(ids.get("numeric").is_none(), "request ids are text");
    assert_eq!(ids["text_count"], relay["scheduled"]);
    let last = ids["last_text"].as_array().unwrap();
    assert_eq!(last.len(), 5);
    assert!(last.iter().all(|v| v.as_str().unwrap().starts_with("req_")));
    assert!(
        direct["headers"].get("x-overhead-ms").is_none(),
        "the direct upstream sends no such header: {}",
        direct["headers"]
    );

    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("relay overhead"), "{stdout}");
    assert!(
        stdout.contains("relay/default − direct/default"),
        "{stdout}"
    );
    assert!(stdout.contains("relay/default · x-overhead-ms"), "{stdout}");
    let md = std::fs::read_to_string(s.path("out/summary.md")).unwrap();
    assert!(md.contains("## Relay overhead"), "{md}");
    assert!(md.contains("| +p99 ms |"), "{md}");
    assert!(md.contains("## Recorded response headers"), "{md}");
    let html = std::fs::read_to_string(s.path("out/report.html")).unwrap();
    assert!(html.contains("id=\"relay-overhead-table\""));
    assert!(html.contains("id=\"chart-relay-overhead\""));
    assert!(html.contains("id=\"recorded-headers-table\""));
    let png = std::fs::read(s.path("out/relay-overhead.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the chart is also a PNG");

    // A re-render from results.json shows the same section.
    let again = s.relaybench(&["report", "out/results.json", "--out", "again"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let md2 = std::fs::read_to_string(s.path("again/summary.md")).unwrap();
    assert_eq!(md, md2);
}

#[test]
fn an_unknown_baseline_is_a_located_error() {
    let s = Session::new();
    let file = s.write(
        "bad.toml",
        &SCENARIO.replace("baseline = \"direct\"", "baseline = \"drect\""),
    );
    let out = s.relaybench(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    let line = SCENARIO
        .lines()
        .position(|l| l.starts_with("baseline"))
        .unwrap()
        + 1;
    assert!(err.contains(&format!("bad.toml:{line}")), "{err}");
    assert!(err.contains("report.baseline"), "{err}");
    assert!(
        err.contains("`direct`") && err.contains("`relay`"),
        "names the targets: {err}"
    );
}

#[test]
fn an_invalid_header_name_is_a_located_error() {
    let s = Session::new();
    let file = s.write(
        "bad.toml",
        &SCENARIO.replace("\"X-Overhead-Ms\"", "\"x overhead\""),
    );
    let out = s.relaybench(&["validate", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("report.record_headers"), "{err}");
    assert!(
        err.contains("`x overhead` is not a valid HTTP header name"),
        "{err}"
    );
}
