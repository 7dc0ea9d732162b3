//! The embedded mock tells on itself: a run against it carries `mock_lateness` (how far behind
//! its own schedule it sent replies and tokens) into results.json, and a mock that fell more
//! than 2 ms behind (p99) gets a note in the terminal table, summary.md and report.html, also
//! when `relaybench report` re-renders the file.
//!
//! The mock runs on the test's runtime: `#[tokio::test]` is a current-thread runtime, so the
//! mock has one thread while the load generator has threads of its own — the overloaded case
//! is hundreds of streams with a token every 200 µs, far beyond what one thread can send.

mod util;
use relaybench::{metrics::ResultsFile, report, report::verdict::MOCK_LATE_P99_MS};
use std::path::Path;

/// These runs time things: one at a time, even when the test harness runs tests in parallel.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn execute(text: &str) -> ResultsFile {
    let _one_at_a_time = SERIAL.lock().await;
    let path = Path::new("inline.toml");
    let s = relaybench::scenario::parse(path, text).expect("scenario parses");
    let plan = relaybench::scenario::Plan::new("inline".into(), &s);
    let stop = relaybench::load::Stop::new();
    relaybench::runner::execute(&s, path, &plan, &stop, None, |_, _| {})
        .await
        .unwrap()
}

const WARNING: &str = "the mock fell";

fn warned(text: &str) -> bool {
    text.contains(WARNING)
}

#[tokio::test]
async fn an_overloaded_embedded_mock_is_warned_about_everywhere() {
    let results = execute(
        r#"
[[target]]
name = "m"
[target.mock]
seed = 3
output_tokens = 200
[target.mock.stream]
ttft = "1ms"
inter_token = "200us"
[workload]
users = 200
threads = 1
duration = "2s"
grace = "2s"
[client]
max_connections = 200
[[workload.mix]]
kind = "chat"
stream = true
"#,
    )
    .await;
    let run = &results.runs[0];
    let lateness = run
        .mock_lateness
        .expect("an embedded mock's lateness is carried");
    eprintln!("overloaded mock lateness: {lateness:?}");
    assert!(
        lateness.first.count > 0 && lateness.later.count > 0,
        "{lateness:?}"
    );
    let (p99, _) = lateness.worst_p99();
    assert!(
        p99 > MOCK_LATE_P99_MS,
        "one thread for 200 streams × 5,000 tokens/s: {lateness:?}"
    );

    let dir = tempfile::tempdir().unwrap();
    let written = report::write_all(&results, dir.path()).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&written.results).unwrap()).unwrap();
    assert_eq!(
        json["runs"][0]["mock_lateness"]["later"]["count"],
        lateness.later.count
    );
    let summary = std::fs::read_to_string(&written.summary).unwrap();
    assert!(warned(&summary), "{summary}");
    assert!(warned(&std::fs::read_to_string(&written.html).unwrap()));
    assert!(warned(&report::terminal::summary_table(&results)));

    // Re-rendered from results.json alone, the note is still there.
    let again = dir.path().join("again");
    let out = util::Session::new().relaybench(&[
        "report",
        written.results.to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", util::text(&out));
    assert!(
        warned(&String::from_utf8_lossy(&out.stdout)),
        "{}",
        util::text(&out)
    );
    assert!(warned(
        &std::fs::read_to_string(again.join("summary.md")).unwrap()
    ));
}

#[tokio::test]
async fn a_light_run_carries_exact_counts_and_warns_only_past_the_threshold() {
    const REQUESTS: u64 = 200;
    const TOKENS: u64 = 5;
    let results = execute(&format!(
        r#"
[[target]]
name = "m"
[target.mock]
seed = 3
latency = "1ms"
output_tokens = {TOKENS}
[target.mock.stream]
ttft = "2ms"
inter_token = "2ms"
[workload]
users = 4
threads = 1
requests = {REQUESTS}
[[workload.mix]]
kind = "chat"
stream = true
"#
    ))
    .await;
    let run = &results.runs[0];
    assert_eq!(run.count("ok"), REQUESTS, "{:?}", run.outcomes);
    assert_eq!(run.attempts + run.warmup_attempts, REQUESTS);
    let lateness = run
        .mock_lateness
        .expect("an embedded mock's lateness is carried");
    eprintln!("light mock lateness: {lateness:?}");
    // One first token per stream, every later token: the mock counts what it sent.
    assert_eq!(lateness.first.count, REQUESTS);
    assert_eq!(lateness.later.count, REQUESTS * (TOKENS - 1));
    // Wall-clock bounds stay loose: on a busy 2-core machine a debug build's mock is at times
    // a few ms late, so "no warning" is checked as "warned exactly when p99 > 2 ms" (the
    // threshold itself is unit-tested in report::verdict).
    let (p99, _) = lateness.worst_p99();
    assert!(
        p99 < 20.0,
        "a lightly loaded mock keeps close to its schedule: {lateness:?}"
    );
    let notes = report::terminal::summary_table(&results);
    assert_eq!(
        warned(&notes),
        p99 > MOCK_LATE_P99_MS,
        "{lateness:?}\n{notes}"
    );
    assert_eq!(
        warned(&report::markdown::render(&results)),
        p99 > MOCK_LATE_P99_MS
    );
}
