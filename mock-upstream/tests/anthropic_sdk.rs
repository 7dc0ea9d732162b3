//! The official `anthropic` Python SDK against the in-process mock's `/v1/messages`:
//! `messages.create` and `messages.stream` with and without thinking, typed exceptions for
//! injected 401/429/529 and an in-stream error.
//! Fails (does not skip) when `import anthropic` fails, unless RELAYBENCH_SKIP_PYTHON=1.

mod util;
use util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_anthropic_python_sdk_works_against_the_mock() {
    let mut config = seeded();
    config.require_key = Some("sk-mock".into());
    config.output_tokens = mock_upstream::TokenCount::Fixed(9);
    config.reasoning.tokens = mock_upstream::TokenCount::Fixed(6);
    let mock = start(config).await;
    let Some(found) = python_check(&mock, "anthropic", "anthropic_sdk_check.py").await else {
        return;
    };
    assert_eq!(found["thinking_output_tokens"], 15, "{found}");
    assert_eq!(found["typed_errors"], true, "{found}");
    assert_eq!(s_401(&mock), 1, "the wrong key was refused");

    let s = mock.stats();
    for key in ["error_429", "error_529", "error_401", "stream_error"] {
        assert_eq!(s.faults_injected.get(key), Some(&1), "{key}: {s:?}");
    }
    assert_eq!(
        s.requests_by_route["/v1/messages"], 9,
        "a wrong key, create and stream with and without thinking, 3 errors, 1 stream error: {s:?}"
    );
    mock.shutdown().await;
}

/// 401s: the wrong key's refusal (the injected 401 is counted as a fault, and also answers 401).
fn s_401(mock: &mock_upstream::MockHandle) -> u64 {
    let s = mock.stats();
    s.responses_by_status.get(&401).copied().unwrap_or(0)
        - s.faults_injected.get("error_401").copied().unwrap_or(0)
}
