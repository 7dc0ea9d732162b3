//! The official `openai` Python SDK against the in-process mock: chat, streamed chat with usage,
//! embeddings, and an injected 429 whose retry-after the SDK must honour.
//! Fails (does not skip) when `import openai` fails, unless RELAYBENCH_SKIP_PYTHON=1.

mod util;
use std::time::Duration;
use util::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_openai_python_sdk_works_against_the_mock() {
    if std::env::var("RELAYBENCH_SKIP_PYTHON").as_deref() == Ok("1") {
        eprintln!("RELAYBENCH_SKIP_PYTHON=1: skipping the openai SDK check");
        return;
    }
    let probe = tokio::process::Command::new("python3")
        .args(["-c", "import openai"])
        .output()
        .await;
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "the openai Python SDK is not importable: run `pip install openai` (or set RELAYBENCH_SKIP_PYTHON=1).\n{}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => panic!("python3 is not runnable ({e}): install Python 3 and `pip install openai`, or set RELAYBENCH_SKIP_PYTHON=1"),
    }

    let mock = start(seeded()).await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/openai_sdk_check.py");
    let child = tokio::process::Command::new("python3")
        .arg(script)
        .arg(mock.base_url())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), child)
        .await
        .expect("SDK check finishes within 60 s")
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "SDK check failed\nstdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert!(found["retry_delay_s"].as_f64().unwrap() >= 1.4, "{found}");

    // The other side agrees: exactly one 429 was injected and the retry arrived after it.
    let s = mock.stats();
    assert_eq!(s.faults_injected.get("error_429"), Some(&1), "{s:?}");
    assert_eq!(
        s.requests_by_route["/v1/chat/completions"], 4,
        "chat, stream, 429, retry: {s:?}"
    );
    assert_eq!(s.requests_by_route["/v1/embeddings"], 1);
    mock.shutdown().await;
}
