//! The official `openai` Python SDK against the in-process mock: chat, streamed chat with usage,
//! embeddings, the Responses API plain and streamed (with reasoning), typed errors, and an
//! injected 429 whose retry-after the SDK must honour.
//! Fails (does not skip) when `import openai` fails, unless RELAYBENCH_SKIP_PYTHON=1.

mod util;
use util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_python_sdk_works_against_the_mock() {
    let mock = start(seeded()).await;
    let Some(found) = python_check(&mock, "openai", "openai_sdk_check.py").await else {
        return;
    };
    assert!(found["retry_delay_s"].as_f64().unwrap() >= 1.4, "{found}");
    assert_eq!(found["responses_stream_deltas"], 9, "{found}");
    assert_eq!(found["typed_errors"], true, "{found}");

    // The other side agrees: exactly one 429 was injected and the retry arrived after it.
    let s = mock.stats();
    assert_eq!(s.faults_injected.get("error_429"), Some(&1), "{s:?}");
    assert_eq!(s.faults_injected.get("error_400"), Some(&1), "{s:?}");
    assert_eq!(s.faults_injected.get("stream_error"), Some(&2), "{s:?}");
    assert_eq!(
        s.requests_by_route["/v1/chat/completions"], 5,
        "chat, stream, stream error, 429, retry: {s:?}"
    );
    assert_eq!(
        s.requests_by_route["/v1/responses"], 4,
        "plain, stream, 400, stream error: {s:?}"
    );
    assert_eq!(s.requests_by_route["/v1/embeddings"], 1);
    mock.shutdown().await;
}
