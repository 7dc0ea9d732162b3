//! The generator when things go wrong on its side of the wire: a request task that panics, a closed-model user whose requests never reach the upstream, a pool that cannot carry the load — each counted, bounded and named, never lost, spun on or blamed on the upstream.

mod util;
use mock_upstream::{MockConfig, MockServer};
use relaybench::report::verdict;
use util::run_first;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_panics_is_an_internal_error_and_the_run_goes_on() {
    // A quarter of the requests carry the test-only header that makes the request task panic.
    let r = run_first(
        r#"
[[target]]
name = "m"
[target.mock]
latency = "5ms"
[workload]
model = "closed"
users = 4
threads = 2
duration = "1500ms"
[[workload.mix]]
kind = "http"
method = "GET"
path = "/v1/models"
weight = 3
[[workload.mix]]
kind = "http"
method = "GET"
path = "/v1/models"
headers = { "x-relaybench-test-panic" = "boom" }
weight = 1
"#,
    )
    .await;
    let panics = r.count("internal_error");
    let ok = r.count("ok");
    assert!(panics > 10, "{:?}", r.outcomes);
    assert!(
        ok > 3 * panics / 2,
        "the users kept going after panics: {:?}",
        r.outcomes
    );
    assert_eq!(r.ledger_error, None, "{:?}", r.ledger);
    assert_eq!(r.arrivals, ok + panics, "{:?}", r.outcomes);
    let sample = &r.error_samples["internal_error"];
    assert!(sample.contains("injected by the test: boom"), "{sample}");
    assert_eq!(r.ledger.in_flight_at_stop, 0, "in-flight count settled");
    let notes = verdict::causes(&r, None);
    let mut file = relaybench::metrics::ResultsFile {
        runs: vec![r],
        ..serde_json::from_str(FILE).unwrap()
    };
    file.runs[0].name = "m/default".into();
    let text: String = verdict::verdict(&file)
        .notes
        .iter()
        .flatten()
        .map(|s| match s {
            verdict::Span::Plain(t) | verdict::Span::Strong(t) => t.clone(),
        })
        .collect();
    assert!(
        text.contains("failed inside relaybench"),
        "{text} {notes:?}"
    );
}

/// The parts of a results file the verdict does not read, for tests that build one around a run.
const FILE: &str = r#"{"schema_version":1,"tool":{"name":"relaybench","version":"0"},"host":{"cpus":2,"os":"linux","arch":"x86_64"},"scenario":{"name":"t","file":"","resolved":null},"started_at":"","interrupted":false,"runs":[]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_users_wait_while_the_circuit_is_open_instead_of_spinning() {
    let mock = MockServer::start(
        "127.0.0.1:0".parse().unwrap(),
        toml::from_str::<MockConfig>("errors = { \"503\" = 1.0 }").unwrap(),
    )
    .await
    .unwrap();
    let r = run_first(&format!(
        r#"
[[target]]
name = "m"
url = "{}"
[workload]
model = "closed"
users = 4
threads = 2
duration = "3s"
[client.retry]
max_retries = 0
[client.breaker]
enabled = true
failure_threshold = 5
recovery_timeout = "1s"
half_open_max_calls = 1
"#,
        mock.base_url()
    ))
    .await;
    let rejected = r.count("circuit_open");
    // Before: 4 users recorded millions of `circuit_open` in 3 s, a core spinning.
    assert!(rejected > 0, "the circuit opened: {:?}", r.outcomes);
    assert!(
        rejected < 400,
        "users waited for the breaker to admit again: {rejected} rejections in 3 s"
    );
    let sent = mock.stats().requests_total;
    assert!(
        sent < 40,
        "the open circuit shed the outage: the upstream saw {sent} requests"
    );
    assert_eq!(r.ledger_error, None);
    mock.shutdown().await;
}
