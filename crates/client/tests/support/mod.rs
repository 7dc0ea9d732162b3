//! Shared helpers for the client acceptance tests: mock-upstream in-process on port 0, scripted upstreams (`scripted` for HTTP/1.1, `h2server` for HTTP/2), request specs, settings.
#![allow(dead_code)]

pub mod h2server;
pub mod scripted;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method};
use mock_upstream::{MockConfig, MockHandle, MockServer};
use relaybench_client::units::Dur;
use relaybench_client::{BodyKind, Client, ClientSettings, Origin, RequestSpec};
use std::time::Duration;

/// Starts the mock on 127.0.0.1, port 0.
pub async fn mock(config: MockConfig) -> MockHandle {
    let config = MockConfig {
        seed: Some(7),
        ..config
    };
    MockServer::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("mock starts")
}

/// A client for the mock.
pub fn client(mock: &MockHandle, settings: ClientSettings) -> Client {
    Client::new(Origin::parse(&mock.base_url()).unwrap(), settings).expect("client builds")
}

/// Settings for tests: no retries, breaker off, short timeouts (each test turns on what it checks).
pub fn quiet() -> ClientSettings {
    let mut s = ClientSettings::default();
    s.retry.max_retries = 0;
    s.breaker.enabled = false;
    s.timeouts.connect = Dur::secs(5);
    s.timeouts.read = Dur::secs(5);
    s.timeouts.pool = Dur::secs(5);
    s
}

/// A tiny backoff so retry tests do not sleep for seconds.
pub fn fast_backoff(s: &mut ClientSettings) {
    s.retry.multiplier = Dur::ms(1);
    s.retry.min_backoff = Dur::ms(1);
    s.retry.max_backoff = Dur::ms(5);
}

/// The smallest valid answer to [`chat`] (a 200 with anything less is `bad_response`).
pub const CHAT_ANSWER: &[u8] =
    br#"{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}"#;

/// A non-streaming chat completion.
pub fn chat() -> RequestSpec {
    spec(
        r#"{"model":"mock-1","messages":[{"role":"user","content":"hi"}],"max_tokens":8}"#,
        BodyKind::Json,
    )
}

/// A streaming chat completion of `tokens` tokens, with `usage` at the end when asked.
pub fn chat_stream(tokens: u32, usage: bool) -> RequestSpec {
    spec(
        &format!(
            r#"{{"model":"mock-1","messages":[{{"role":"user","content":"hi"}}],"max_tokens":{tokens},"stream":true,"stream_options":{{"include_usage":{usage}}}}}"#
        ),
        BodyKind::Sse,
    )
}

fn spec(body: &str, kind: BodyKind) -> RequestSpec {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    RequestSpec {
        method: Method::POST,
        path: "/v1/chat/completions".into(),
        headers,
        body: Bytes::from(body.to_string()),
        body_kind: kind,
        expect: None,
        keep_text: false,
        record_headers: None,
    }
}

/// Polls `f` for up to 3 s.
pub async fn eventually(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..300 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}
