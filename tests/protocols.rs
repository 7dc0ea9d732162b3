//! The three APIs end to end against the real mock: Chat, Responses and Anthropic Messages runs, streamed and not, under faults with retries, balance their ledgers against the mock's own count per route; the usage audit reads ~0 % against an honest mock and catches one that over-reports by 20 %; an Anthropic key travels as `x-api-key` and appears in no output.

use mock_upstream::{MockConfig, MockHandle, MockServer};
use relaybench::{
    load::Stop,
    metrics::{ResultsFile, RunResult},
    runner,
    scenario::{self, Plan},
};
use std::path::Path;

/// Load tests here run one at a time: they share two cores with the rest of the suite.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const APIS: [(&str, &str); 3] = [
    ("openai-chat", "/v1/chat/completions"),
    ("openai-responses", "/v1/responses"),
    ("anthropic-messages", "/v1/messages"),
];

async fn mock(toml_text: &str) -> MockHandle {
    let config: MockConfig = toml::from_str(toml_text).expect("mock profile parses");
    MockServer::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("mock starts")
}

async fn run(text: &str) -> ResultsFile {
    let _one_at_a_time = SERIAL.lock().await;
    let s = scenario::parse(Path::new("protocols.toml"), text).expect("scenario parses");
    let plan = Plan::new("protocols".into(), &s);
    runner::execute(
        &s,
        Path::new("protocols.toml"),
        &plan,
        &Stop::new(),
        None,
        |_, _| {},
    )
    .await
    .expect("run executes")
}

/// One target per API, all on the mock at `url`, each with `extra` target keys.
fn targets(url: &str, extra: &str) -> String {
    APIS.iter()
        .map(|(api, _)| {
            format!("[[target]]\nname = \"{api}\"\nurl = \"{url}\"\napi = \"{api}\"\n{extra}\n")
        })
        .collect()
}

/// Streamed and whole answers, half and half, from a few closed-model users.
const WORKLOAD: &str = r#"
[workload]
model = "closed"
users = 4
threads = 2
duration = "1s"
grace = "5s"
[[workload.mix]]
kind = "chat"
stream = true
prompts = ["Count the tokens of this prompt, please."]
[[workload.mix]]
kind = "chat"
prompts = ["Count the tokens of this prompt, please."]
[client.timeouts]
read = "500ms"
[client.retry]
max_retries = 2
on_status = [429, 500, 529]
multiplier = "1ms"
min_backoff = "1ms"
max_backoff = "5ms"
"#;

/// 20 output tokens (16 answer + 4 reasoning), so a 20 % inflation reports exactly 24.
const MOCK_BASE: &str = r#"
seed = 16
latency = "1ms"
output_tokens = 16
reasoning = { tokens = 4 }
stream = { ttft = "3ms", inter_token = "1ms" }
"#;

fn by_route(mock: &MockHandle, path: &str) -> u64 {
    mock.stats()
        .requests_by_route
        .get(path)
        .copied()
        .unwrap_or(0)
}

fn assert_balanced(r: &RunResult) {
    assert_eq!(r.ledger_error, None, "{:?}", r.ledger);
    let m = &r.ledger.measured;
    let outcomes: u64 = r.outcomes.values().sum();
    assert!(m.arrivals > 0);
    assert_eq!(m.arrivals, outcomes + m.dropped + m.refused_by_guard);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_api_balances_against_the_mock_under_faults_with_retries() {
    let mock = mock(&format!(
        "{MOCK_BASE}retry_after = \"5ms\"\nerrors = {{ \"429\" = 0.03, \"500\" = 0.03, \"529\" = 0.03 }}\n[faults]\nreset = 0.02\nstream_error = 0.15\n"
    ))
    .await;
    let results = run(&format!("{}{WORKLOAD}", targets(&mock.base_url(), ""))).await;
    assert_eq!(results.runs.len(), 3);
    for (r, (api, path)) in results.runs.iter().zip(APIS) {
        assert_balanced(r);
        assert_eq!(r.api.as_deref(), Some(api));
        assert_eq!(
            by_route(&mock, path),
            r.attempts + r.warmup_attempts,
            "{api}: every attempt reported is one the mock received on {path}: {:?}",
            r.outcomes
        );
        let retries: u64 = r.retries.values().sum();
        assert!(
            retries > 0,
            "{api}: the faults made retries: {:?}",
            r.outcomes
        );
        assert!(
            r.count("ok") * 10 > r.scheduled * 7,
            "{api}: most requests succeed: {:?}",
            r.outcomes
        );
        assert!(
            r.count("bad_response") > 0,
            "{api}: in-stream errors are bad responses: {:?}",
            r.outcomes
        );
        // Reasoning measured, in every protocol's own shape.
        assert!(r.tokens.reasoning > 0, "{api}: {:?}", r.tokens);
        for h in ["ttft", "ttfat", "reasoning_time", "itl"] {
            assert!(r.histograms.contains_key(h), "{api}: {h}");
        }
        assert!(
            r.histograms["ttfat"].summary.p50 > r.histograms["ttft"].summary.p50,
            "{api}: the answer comes after the reasoning"
        );
        // Honest mock: the audit reads 0 on both sides.
        let audit = r.usage_audit.as_ref().expect("audit on by default");
        assert_eq!(audit.tokenizer, "o200k_base");
        for (side, d) in [("prompt", &audit.prompt), ("completion", &audit.completion)] {
            assert!(d.audited > 0, "{api} {side}");
            assert_eq!(
                (d.p50, d.p99, d.share_off),
                (0.0, 0.0, 0.0),
                "{api} {side}: reported {} vs counted {}",
                d.reported,
                d.counted
            );
        }
        assert_eq!(r.token_source.as_deref(), Some("usage"));
    }
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_audit_catches_a_mock_that_over_reports_by_20_percent() {
    let mock = mock(&format!("{MOCK_BASE}usage_inflation = 0.2\n")).await;
    let results = run(&format!("{}{WORKLOAD}", targets(&mock.base_url(), ""))).await;
    let notes: Vec<String> = relaybench::report::model::verdict(&results)
        .notes
        .iter()
        .map(|line| {
            line.iter()
                .map(|span| match span {
                    relaybench::report::model::Span::Plain(t)
                    | relaybench::report::model::Span::Strong(t) => t.as_str(),
                })
                .collect()
        })
        .collect();
    for r in &results.runs {
        let audit = r.usage_audit.as_ref().expect("audit");
        let c = &audit.completion;
        assert!(c.audited > 0);
        assert!(
            (c.mean - 0.2).abs() < 0.01 && (c.p50 - 0.2).abs() < 0.01,
            "{}: completion reads +20 %: mean {} p50 {}",
            r.name,
            c.mean,
            c.p50
        );
        assert_eq!(c.share_off, 1.0, "{}: every request off", r.name);
        // The prompt is inflated too (rounded to whole tokens).
        let p = &audit.prompt;
        let tolerance = 1.0 / (p.counted as f64 / p.audited as f64);
        assert!((p.p50 - 0.2).abs() <= tolerance, "{}: {}", r.name, p.p50);
        assert!(
            notes.iter().any(|n| n.starts_with(&r.name)
                && n.contains(
                    "upstream reports 20 % more completion tokens than relaybench counted"
                )
                && n.contains("check billing / model substitution")),
            "{}: the verdict says it: {notes:?}",
            r.name
        );
    }
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anthropic_key_goes_in_x_api_key_and_never_into_results() {
    const KEY: &str = "sk-ant-test-0123456789abcdef";
    let var = "RELAYBENCH_TEST_ANTHROPIC_KEY";
    std::env::set_var(var, KEY);
    let mock = mock(&format!("{MOCK_BASE}require_key = \"{KEY}\"\nmodels = [\"claude-sonnet-4\"]\nerrors = {{ \"401\" = 0.1 }}\n")).await;
    let text = format!(
        "[[target]]\nname = \"claude\"\nurl = \"{}\"\napi = \"anthropic-messages\"\napi_key_env = \"{var}\"\nmodel = \"claude-sonnet-4\"\n{WORKLOAD}",
        mock.base_url()
    );
    let results = run(&text).await;
    let r = &results.runs[0];
    assert!(r.count("ok") > 0, "the mock took the key: {:?}", r.outcomes);
    assert!(r.count("status_401") > 0, "{:?}", r.outcomes);
    let json = serde_json::to_string(&results).unwrap();
    assert!(!json.contains(KEY) && !json.contains("0123456789abcdef"));
    let summary = relaybench::report::terminal::summary_table(&results);
    assert!(!summary.contains(KEY));
    // Claude has no public tokenizer: counted with o200k_base, marked as an approximation.
    let audit = r.usage_audit.as_ref().unwrap();
    assert!(!audit.exact);
    mock.shutdown().await;
}
