//! `GET /_mock/metrics`: after a faulty streaming run, the mock's OpenMetrics text parses with Python's `prometheus_client` (an independent parser) and its counters equal `/_mock/stats`.

use mock_upstream::{MockConfig, MockServer};
use relaybench::{
    load::Stop,
    runner,
    scenario::{self, Plan},
};
use serde_json::Value;
use std::{collections::BTreeMap, path::Path, process::Stdio, time::Duration};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Parses stdin with prometheus_client's OpenMetrics parser; prints {sample name: [[labels, value]]}.
const PARSE: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = {}
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.setdefault(s.name, []).append([s.labels, s.value])
print(json.dumps(out))
"#;

/// Samples by name: each with its labels and value.
type Parsed = BTreeMap<String, Vec<(BTreeMap<String, String>, f64)>>;

/// One GET over a fresh connection; the body as text.
async fn get(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut raw))
        .await
        .expect("the mock answers")
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    (head.to_string(), body.to_string())
}

fn parse(text: &str) -> Parsed {
    let mut child = std::process::Command::new("python3")
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test.sh installs prometheus_client)");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client parses the exposition:\n{}\n---\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Parsed = serde_json::from_slice(&out.stdout).unwrap();
    v
}

/// The value of sample `name` whose labels include `label = value` (or the only one).
fn value(m: &Parsed, name: &str, label: Option<(&str, &str)>) -> f64 {
    let samples = m.get(name).unwrap_or_else(|| panic!("{name} exposed"));
    samples
        .iter()
        .find(|(labels, _)| label.is_none_or(|(k, v)| labels.get(k).map(String::as_str) == Some(v)))
        .unwrap_or_else(|| panic!("{name} {label:?} exposed: {samples:?}"))
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_metrics_parse_and_equal_its_stats_after_a_faulty_streaming_run() {
    let config: MockConfig = toml::from_str(
        r#"
seed = 5
output_tokens = 8
errors = { "503" = 0.1, "429" = 0.05 }
[stream]
ttft = "5ms"
inter_token = "1ms"
[faults]
reset = 0.05
"#,
    )
    .unwrap();
    let mock = MockServer::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .unwrap();
    let text = format!(
        r#"
[[target]]
name = "m"
url = "{}"
[workload]
users = 4
requests = 150
[[workload.mix]]
kind = "chat"
stream = true
max_tokens = 8
[client.retry]
max_retries = 1
respect_retry_after = false
multiplier = "1ms"
min_backoff = "1ms"
max_backoff = "2ms"
"#,
        mock.base_url()
    );
    let s = scenario::parse(Path::new("m.toml"), &text).unwrap();
    let plan = Plan::new("m".into(), &s);
    let results = runner::execute(
        &s,
        Path::new("m.toml"),
        &plan,
        &Stop::new(),
        None,
        |_, _| {},
    )
    .await
    .unwrap();
    let run = &results.runs[0];

    let (head, body) = get(mock.addr(), "/_mock/metrics").await;
    assert!(
        head.contains("application/openmetrics-text; version=1.0.0"),
        "{head}"
    );
    // Read after the scrape, without a request: the scrape's own request and connection are
    // in both, its 200 only here (statuses are counted when the head is produced).
    let stats = mock.stats();
    let m = parse(&body);

    for (route, n) in &stats.requests_by_route {
        assert_eq!(
            value(&m, "mock_requests_total", Some(("route", route))),
            *n as f64,
            "{route}"
        );
    }
    assert_eq!(
        stats.requests_by_route["/v1/chat/completions"],
        run.attempts
    );
    for (status, n) in &stats.responses_by_status {
        let scrape_reply = u64::from(*status == 200);
        assert_eq!(
            value(
                &m,
                "mock_responses_total",
                Some(("status", &status.to_string()))
            ),
            (n - scrape_reply) as f64,
            "status {status}"
        );
    }
    assert!(stats.faults_injected.len() >= 3, "{stats:?}");
    for (kind, n) in &stats.faults_injected {
        assert_eq!(
            value(&m, "mock_faults_injected_total", Some(("kind", kind))),
            *n as f64,
            "{kind}"
        );
    }
    assert_eq!(
        value(&m, "mock_faults_injected_total", Some(("kind", "hang"))),
        0.0,
        "every fault kind is exposed, zero or not"
    );
    assert_eq!(
        value(&m, "mock_connections_accepted_total", None),
        stats.connections_accepted as f64
    );
    assert_eq!(
        value(&m, "mock_connections_open", None),
        1.0,
        "the scrape's own"
    );
    assert!(stats.tokens_streamed > 500, "{stats:?}");
    assert_eq!(
        value(&m, "mock_tokens_streamed_total", None),
        stats.tokens_streamed as f64
    );
    assert_eq!(
        value(&m, "mock_lateness_seconds_count", Some(("kind", "later"))),
        stats.lateness.later.count as f64
    );
    assert_eq!(
        value(&m, "mock_lateness_seconds_bucket", Some(("le", "+Inf"))),
        stats.lateness.first.count as f64
    );
    let json: Value = serde_json::from_str(&get(mock.addr(), "/_mock/stats").await.1).unwrap();
    assert_eq!(json["tokens_streamed"], stats.tokens_streamed);
    mock.shutdown().await;
}
