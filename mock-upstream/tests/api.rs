//! The OpenAI API surface over loopback: shapes, errors, request ids, determinism.

mod util;
use mock_upstream::{Latency, MockConfig};
use std::time::{Duration, Instant};
use util::*;

#[tokio::test]
async fn chat_completion_has_openai_shape_and_usage() {
    let mock = start(seeded()).await;
    let mut c = Conn::open(mock.addr()).await;
    let r = c.post("/v1/chat/completions", CHAT).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r
        .header("x-request-id")
        .is_some_and(|v| v.starts_with("req_")));
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let j = r.json();
    assert_eq!(j["object"], "chat.completion");
    assert_eq!(j["model"], "gpt-4o-mini");
    assert_eq!(j["choices"][0]["message"]["role"], "assistant");
    assert!(!j["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .is_empty());
    assert_eq!(j["choices"][0]["finish_reason"], "stop");
    let u = &j["usage"];
    assert_eq!(u["completion_tokens"], 16);
    assert_eq!(
        u["total_tokens"].as_u64().unwrap(),
        u["prompt_tokens"].as_u64().unwrap() + 16
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn fixed_latency_delays_every_reply() {
    let mock = start(MockConfig {
        latency: Latency::fixed_ms(150),
        ..seeded()
    })
    .await;
    let mut c = Conn::open(mock.addr()).await;
    for _ in 0..3 {
        let t = Instant::now();
        assert_eq!(c.post("/v1/chat/completions", CHAT).await.status, 200);
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(150), "{took:?}");
        assert!(took < Duration::from_secs(3), "{took:?}");
    }
    mock.shutdown().await;
}
