//! Bad scenarios end with exit code 2 and an error naming the file, line and key — never a panic, never a report.

mod util;
use util::{text, Session};

const GOOD: &str = r#"
name = "t"
[[target]]
name = "m"
[target.mock]
latency = "1ms"
[workload]
users = 1
duration = "1s"
"#;

fn assert_rejected(scenario: &str, expect: &[&str]) {
    let s = Session::new();
    let file = s.write("bad.toml", scenario);
    let out = s.relaybench(&["run", file.to_str().unwrap(), "--out", "out"]);
    let all = text(&out);
    assert_eq!(out.status.code(), Some(2), "{all}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml"), "names the file: {all}");
    for e in expect {
        assert!(stderr.contains(e), "expected `{e}` in: {all}");
    }
    assert!(!stderr.contains("panicked"), "{all}");
    assert!(
        !s.path("out").exists(),
        "no report written for a bad scenario"
    );
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let bad = GOOD.replace("users = 1", "usres = 1");
    assert_rejected(
        &bad,
        &["bad.toml:8:", "workload.usres", "unknown field `usres`"],
    );
}

#[test]
fn malformed_duration_names_the_key_and_the_expected_form() {
    let bad = GOOD.replace("duration = \"1s\"", "duration = \"10 parsecs\"");
    assert_rejected(
        &bad,
        &["bad.toml:9:", "workload.duration", "not a duration"],
    );
}

#[test]
fn duration_without_unit_is_rejected() {
    let bad = GOOD.replace("duration = \"1s\"", "duration = 10");
    assert_rejected(&bad, &["workload.duration", "no unit"]);
}

#[test]
fn bad_url_is_rejected() {
    let bad = GOOD.replace(
        "[target.mock]\nlatency = \"1ms\"",
        "url = \"ftp://example\"",
    );
    assert_rejected(&bad, &["url", "scheme"]);
}

#[test]
fn missing_api_key_variable_is_named() {
    let bad = GOOD.replace(
        "[target.mock]\nlatency = \"1ms\"",
        "url = \"http://127.0.0.1:9\"\napi_key_env = \"RELAYBENCH_TEST_NO_SUCH_KEY\"",
    );
    assert_rejected(&bad, &["RELAYBENCH_TEST_NO_SUCH_KEY"]);
}

#[test]
fn unknown_mock_key_is_located() {
    let bad = GOOD.replace("latency = \"1ms\"", "latency = \"1ms\"\nlatencyy = \"2ms\"");
    assert_rejected(&bad, &["bad.toml:7:", "latencyy"]);
}

#[test]
fn missing_file_is_a_usage_error() {
    let s = Session::new();
    let out = s.relaybench(&["run", "nope.toml"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nope.toml"));
}

#[test]
fn unknown_slo_key_names_file_line_and_key() {
    let bad = format!("{GOOD}[slo]\nlatency = \"800ms\"\nttfb = \"100ms\"\n");
    assert_rejected(&bad, &["bad.toml:12:", "slo.ttfb", "unknown field `ttfb`"]);
}

#[test]
fn slo_limit_without_unit_and_short_saturation_window_are_rejected() {
    let bad = format!("{GOOD}[slo]\nlatency = 800\n");
    assert_rejected(&bad, &["slo.latency", "no unit"]);
    let bad = GOOD.replace(
        "duration = \"1s\"",
        "duration = \"1s\"\nstop_on_saturation = true\nsaturation_window = \"1s\"",
    );
    assert_rejected(
        &bad,
        &["bad.toml:11:", "workload.saturation_window", "at least"],
    );
}
